package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagerd/pagerd/pager"
	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// auxMode is where a handler's supply_pages takes its data from.
type auxMode int

const (
	// auxSparse: the aux VMO (twice the pager VMO's size) was written once
	// in advance with page i's data at aux page 2i and holes in between, so
	// every supply copies committed data and the aux holds no run of data
	// longer than the request (see auxPrefill for why that matters).
	auxSparse auxMode = iota
	// auxWrite: the handler writes the requested range into the aux VMO
	// (zx_vmo_write) right before supplying it: a pager that produces each
	// page on request.
	auxWrite
	// auxPrefill: the aux VMO was written in full in advance (page i at
	// aux page i), the natural "fill once, supply page by page" pattern.
	// supply_pages then looks for the end of the aux data run with
	// lseek(SEEK_HOLE), which walks the memfd's page cache to the next hole
	// however far it is: its cost grows with the data left after the page.
	auxPrefill
)

// pagerSetup is this project's in-process runtime as a pager service uses
// it: one pager, one port, pager VMOs (key = index) mapped read/write in the
// root VMAR, one aux VMO per pager VMO, and handler goroutines that answer
// READ packets with supply_pages from the aux VMO (see auxMode).
type pagerSetup struct {
	p     *pager.Pager
	prt   *port.Port
	vmos  []*vmo.VMO
	auxes []*vmo.VMO
	addrs []uintptr
	size  uint64 // bytes per VMO
	mode  auxMode

	cancel   chan struct{}
	wg       sync.WaitGroup
	supplies atomic.Uint64
	dirties  atomic.Uint64 // DIRTY requests answered with OP_DIRTY
	mu       sync.Mutex
	err      error
}

// newPagerSetup creates nvmos pager VMOs of pages pages each and their aux
// VMOs, written in advance as mode says.
func newPagerSetup(nvmos, pages int, mode auxMode) (*pagerSetup, error) {
	return newPagerSetupOpts(nvmos, pages, mode, 0)
}

// newPagerSetupOpts is newPagerSetup with zx_pager_create_vmo options for
// every pager VMO (e.g. ZX_VMO_TRAP_DIRTY).
func newPagerSetupOpts(nvmos, pages int, mode auxMode, options uint32) (*pagerSetup, error) {
	p, err := pager.New()
	if err != nil {
		return nil, err
	}
	s := &pagerSetup{p: p, prt: port.New(), size: uint64(pages) * zx.PageSize, mode: mode, cancel: make(chan struct{})}
	auxSize := s.size
	if mode == auxSparse {
		auxSize *= 2
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*13 + 7)
	}
	for i := 0; i < nvmos; i++ {
		v, err := p.CreateVMO(options, s.prt, uint64(i), s.size)
		if err != nil {
			s.close()
			return nil, err
		}
		s.vmos = append(s.vmos, v)
		addr, err := vmo.Root().Map(zx.VMPermRead|zx.VMPermWrite, 0, v, 0, s.size)
		if err != nil {
			s.close()
			return nil, err
		}
		s.addrs = append(s.addrs, addr)
		aux, err := vmo.Create(auxSize, 0)
		if err != nil {
			s.close()
			return nil, err
		}
		s.auxes = append(s.auxes, aux)
		switch mode {
		case auxPrefill:
			for off := uint64(0); off < auxSize; off += uint64(len(buf)) {
				err = aux.Write(buf[:min(uint64(len(buf)), auxSize-off)], off)
				if err != nil {
					break
				}
			}
		case auxSparse:
			for off := uint64(0); off < auxSize && err == nil; off += 2 * zx.PageSize {
				err = aux.Write(buf[:zx.PageSize], off)
			}
		}
		if err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *pagerSetup) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *pagerSetup) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// serve starts n handler goroutines. Each waits on the port and answers a
// READ request with supply_pages of exactly the requested range, taking the
// data from the aux VMO as the setup's auxMode says, and a DIRTY request
// with zx_pager_op_range(ZX_PAGER_OP_DIRTY) of exactly its range.
func (s *pagerSetup) serve(n int) {
	for i := 0; i < n; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			var content []byte
			for {
				pkt, err := s.prt.Wait(zx.TimeInfinite, s.cancel)
				if err != nil {
					return // canceled
				}
				if pkt.Type != zx.PktTypePageRequest {
					continue
				}
				req := pkt.PageRequest()
				if pkt.Key >= uint64(len(s.vmos)) {
					continue
				}
				if req.Command == zx.PagerVMODirty {
					if err := s.p.OpDirty(s.vmos[pkt.Key], req.Offset, req.Length); err != nil {
						s.fail(fmt.Errorf("op_range(DIRTY) [%#x, +%#x): %w", req.Offset, req.Length, err))
						return
					}
					s.dirties.Add(1)
					continue
				}
				if req.Command != zx.PagerVMORead {
					continue
				}
				v, aux := s.vmos[pkt.Key], s.auxes[pkt.Key]
				switch s.mode {
				case auxWrite:
					if uint64(len(content)) < req.Length {
						content = make([]byte, req.Length)
						for i := range content {
							content[i] = byte(i*13 + 7)
						}
					}
					if err := aux.Write(content[:req.Length], req.Offset); err != nil {
						s.fail(fmt.Errorf("zx_vmo_write to aux: %w", err))
						return
					}
					err = s.p.SupplyPages(v, req.Offset, req.Length, aux, req.Offset)
				case auxPrefill:
					err = s.p.SupplyPages(v, req.Offset, req.Length, aux, req.Offset)
				case auxSparse:
					// Page by page: the aux pages are not adjacent.
					for off := req.Offset; off < req.Offset+req.Length && err == nil; off += zx.PageSize {
						err = s.p.SupplyPages(v, off, zx.PageSize, aux, 2*off)
					}
				}
				if err != nil {
					s.fail(fmt.Errorf("supply_pages [%#x, +%#x): %w", req.Offset, req.Length, err))
					return
				}
				s.supplies.Add(1)
			}
		}()
	}
}

// close stops the handlers and tears everything down.
func (s *pagerSetup) close() {
	select {
	case <-s.cancel:
	default:
		close(s.cancel)
	}
	s.wg.Wait()
	for i, v := range s.vmos {
		if i < len(s.addrs) {
			_ = vmo.Root().Unmap(s.addrs[i], s.size)
		}
		_ = s.p.Detach(v)
		v.OnZeroHandles()
	}
	for _, a := range s.auxes {
		a.OnZeroHandles()
	}
	s.p.Close()
}

// pagerFaultRow measures single-page fault round trips through the
// in-process runtime: `threads` C threads read one byte of each page of
// nvmos pager VMOs (a single VMO split between the threads, or one thread
// going round-robin over the VMOs), `handlers` goroutines answer the READ
// packets.
func pagerFaultRow(threads, nvmos, handlers int, mode auxMode) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		warmPer := e.cfg.Warmup / threads
		per := (e.cfg.N + threads - 1) / threads
		n := (per + warmPer) * threads
		perVMO := (n + nvmos - 1) / nvmos
		s, err := newPagerSetup(nvmos, perVMO, mode)
		if err != nil {
			return nil, err
		}
		defer s.close()
		var all []uintptr
		for i := 0; i < n; i++ {
			v := i % nvmos
			all = append(all, s.addrs[v]+uintptr((i/nvmos)*pageSize))
		}
		// The supplies allocate memfd pages; aux punches free as many.
		if err := warm(n * pageSize); err != nil {
			return nil, err
		}
		before := pager.FaultsHandled()
		s.serve(handlers)
		m, err := touch(touchSpec{addrs: split(all, threads), warm: warmPer}, e.cfg.Duration, s.check)
		if err == nil {
			err = s.check()
		}
		if err != nil {
			return nil, err
		}
		m.note("%d handler goroutine(s); %d supplies for %d uffd faults", handlers, s.supplies.Load(), pager.FaultsHandled()-before)
		return m, nil
	}
}

// vmoReadRow measures zx_vmo_read of one absent page: the reading goroutine
// blocks (without faulting) until a handler goroutine has supplied it.
func vmoReadRow(e *env) (*measurement, error) {
	n := e.cfg.N + e.cfg.Warmup
	s, err := newPagerSetup(1, n, auxSparse)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := warm(n * pageSize); err != nil {
		return nil, err
	}
	s.serve(1)
	v := s.vmos[0]
	buf := make([]byte, pageSize)
	m := &measurement{threads: 1}
	deadline := time.Now().Add(e.cfg.Duration)
	for i := 0; i < n; i++ {
		if i > e.cfg.Warmup && i%batchFaults == 0 && time.Now().After(deadline) {
			break
		}
		t0 := time.Now()
		if err := v.Read(buf, uint64(i*pageSize)); err != nil {
			return nil, fmt.Errorf("zx_vmo_read of page %d: %w", i, err)
		}
		ns := time.Since(t0).Nanoseconds()
		if i < e.cfg.Warmup {
			continue
		}
		m.samples = append(m.samples, ns)
		m.wallNs += ns
		m.faults++
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	m.bytes = m.faults * int64(pageSize)
	m.note("%d supplies", s.supplies.Load())
	return m, nil
}

// supplyRow measures one zx_pager_supply_pages of size bytes into a fresh
// pager VMO from a fully written aux VMO, with no faulter waiting: the bulk
// counterpart of uffd/copy-shmem-*. Each run gets a new VMO (its creation
// and the aux write are not timed).
func supplyRow(size int) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		p, err := pager.New()
		if err != nil {
			return nil, err
		}
		defer p.Close()
		aux, err := vmo.Create(uint64(size), 0)
		if err != nil {
			return nil, err
		}
		defer aux.OnZeroHandles()
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*13 + 7)
		}
		var cur *vmo.VMO
		drop := func() {
			if cur != nil {
				cur.OnZeroHandles()
				cur = nil
			}
		}
		defer drop()
		reset := func() error {
			drop()
			v, err := p.CreateVMO(0, port.New(), 0, uint64(size))
			if err != nil {
				return err
			}
			cur = v
			return aux.Write(data, 0)
		}
		return e.bulkLoop(size, reset, func() (int64, error) {
			t0 := time.Now()
			err := p.SupplyPages(cur, 0, uint64(size), aux, 0)
			return time.Since(t0).Nanoseconds(), err
		})
	}
}

// addrsOf returns the addresses of pages [0, n) of the mapping of VMO i.
func (s *pagerSetup) addrsOf(i, n int) []uintptr {
	a := make([]uintptr, n)
	for k := range a {
		a[k] = s.addrs[i] + uintptr(k*pageSize)
	}
	return a
}
