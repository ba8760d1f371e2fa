package bench

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/bench/internal/cbench"
	"github.com/pagerd/pagerd/uffd"
)

// goHandler is the minimal raw userfaultfd handler in Go: one goroutine
// blocks in ppoll(2) on the uffd and a stop eventfd, drains every queued
// message with read(2), and answers each page fault with one UFFDIO_COPY of
// one page (which wakes the faulter), or a write-protect fault with one
// UFFDIO_WRITEPROTECT that lifts the protection of the page (which wakes
// the writer). It never touches registered memory.
type goHandler struct {
	u    *uffd.UFFD
	src  uintptr // one populated page, not registered
	stop int     // eventfd
	done chan struct{}

	wpFaults atomic.Uint64 // write-protect faults among faults

	faults atomic.Uint64
	firstErr
}

func startGoHandler(u *uffd.UFFD, src uintptr) (*goHandler, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	h := &goHandler{u: u, src: src, stop: efd, done: make(chan struct{})}
	go h.loop()
	return h, nil
}

func (h *goHandler) loop() {
	defer close(h.done)
	var msgs [64]uffd.Msg
	ps := uintptr(pageSize)
	for {
		ur, stop, err := h.u.Wait(h.stop, -1)
		if err != nil {
			h.fail(err)
			return
		}
		if stop {
			return
		}
		if !ur {
			continue
		}
		for {
			n, err := h.u.Read(msgs[:])
			if err != nil {
				h.fail(err)
				return
			}
			if n == 0 {
				break
			}
			for i := 0; i < n; i++ {
				if msgs[i].Event() != uffd.EventPagefault {
					continue
				}
				flags, addr, _ := msgs[i].Pagefault()
				dst := uintptr(addr) &^ (ps - 1)
				if flags.Has(uffd.PagefaultFlagWP) {
					if err := h.u.WriteProtect(dst, ps, 0); err != nil {
						h.fail(fmt.Errorf("UFFDIO_WRITEPROTECT clear at %#x: %w", dst, err))
					}
					h.wpFaults.Add(1)
					h.faults.Add(1)
					continue
				}
				if _, err := h.u.Copy(dst, h.src, ps, 0); err != nil {
					if errors.Is(err, unix.EEXIST) {
						_ = h.u.Wake(dst, ps)
					} else {
						h.fail(err)
					}
				}
				h.faults.Add(1)
			}
		}
	}
}

// close stops the handler goroutine and waits for it.
func (h *goHandler) close() uint64 {
	var one = [8]byte{1}
	_, _ = unix.Write(h.stop, one[:])
	<-h.done
	unix.Close(h.stop)
	return h.faults.Load()
}

// handoffHandler is the raw handler split the way the pager's runtime is:
// a reader goroutine takes the fault messages off the uffd and hands each
// faulting page over a channel to a worker goroutine, which COPYs it. The
// reader blocks in ppoll(2) like the pager's fault reader, or (netpoll)
// parks in the Go netpoller (the uffd registered with epoll through
// os.File), which lets the worker run on the reader's thread. It measures
// what the goroutine hand-off alone costs, without any pager code.
type handoffHandler struct {
	u       *uffd.UFFD
	src     uintptr
	netpoll bool
	stop    int      // eventfd (ppoll variant)
	file    *os.File // a dup of the uffd in the netpoller (netpoll variant)
	ch      chan uintptr
	done    chan struct{} // reader finished
	wdone   chan struct{} // worker finished

	faults atomic.Uint64
	firstErr
}

func startHandoffHandler(u *uffd.UFFD, src uintptr, netpoll bool) (*handoffHandler, error) {
	h := &handoffHandler{u: u, src: src, netpoll: netpoll, ch: make(chan uintptr, 64),
		done: make(chan struct{}), wdone: make(chan struct{})}
	var rc interface {
		Read(func(fd uintptr) bool) error
	}
	if netpoll {
		fd, err := unix.Dup(u.Fd())
		if err != nil {
			return nil, err
		}
		unix.CloseOnExec(fd)
		h.file = os.NewFile(uintptr(fd), "uffd")
		c, err := h.file.SyscallConn()
		if err != nil {
			h.file.Close()
			return nil, err
		}
		rc = c
	} else {
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return nil, fmt.Errorf("eventfd: %w", err)
		}
		h.stop = efd
	}
	go h.worker()
	go func() {
		defer close(h.done)
		defer close(h.ch)
		var msgs [64]uffd.Msg
		// drain reads every queued message and hands the faults over; it
		// reports false on an error.
		drain := func() bool {
			for {
				n, err := h.u.Read(msgs[:])
				if err != nil {
					h.fail(err)
					return false
				}
				if n == 0 {
					return true
				}
				for i := 0; i < n; i++ {
					if msgs[i].Event() == uffd.EventPagefault {
						_, addr, _ := msgs[i].Pagefault()
						h.ch <- uintptr(addr) &^ uintptr(pageSize-1)
					}
				}
			}
		}
		if netpoll {
			for {
				ok := true
				err := rc.Read(func(uintptr) bool {
					ok = drain()
					return !ok // false: wait in the netpoller for more
				})
				if err != nil || !ok {
					return // the file was closed (stop), or a read failed
				}
			}
		}
		for {
			ur, stop, err := h.u.Wait(h.stop, -1)
			if err != nil {
				h.fail(err)
				return
			}
			if stop {
				return
			}
			if ur && !drain() {
				return
			}
		}
	}()
	return h, nil
}

func (h *handoffHandler) worker() {
	defer close(h.wdone)
	ps := uintptr(pageSize)
	for dst := range h.ch {
		if _, err := h.u.Copy(dst, h.src, ps, 0); err != nil {
			if errors.Is(err, unix.EEXIST) {
				_ = h.u.Wake(dst, ps)
			} else {
				h.fail(err)
			}
		}
		h.faults.Add(1)
	}
}

func (h *handoffHandler) close() uint64 {
	if h.netpoll {
		h.file.Close() // wakes the reader out of the netpoller with an error
	} else {
		var one = [8]byte{1}
		_, _ = unix.Write(h.stop, one[:])
	}
	<-h.done
	<-h.wdone
	if !h.netpoll {
		unix.Close(h.stop)
	}
	return h.faults.Load()
}

// srcPage returns one populated page of 0xA5 bytes to copy from.
func srcPage() (region, error) {
	r, err := mmapAnon(pageSize)
	if err != nil {
		return region{}, err
	}
	r.fill(0xA5)
	return r, nil
}

// handlerKind selects the raw handler of a rawRow.
type handlerKind int

const (
	handlerGo               handlerKind = iota // goHandler
	handlerC                                   // a C thread (cbench.Handler)
	handlerGoHandoff                           // handoffHandler, reader in ppoll
	handlerGoNetpollHandoff                    // handoffHandler, reader in the netpoller
)

// rawRow measures a minimal raw userfaultfd handler in this process:
// MISSING + COPY of one page per fault, the faulting side `threads` C
// threads reading one byte of each page (pinned to faulterCPU unless it is
// -1), the handler as kind says (a C handler pinned to handlerCPU unless it
// is -1), on private anonymous memory or, with shmem, on a MAP_SHARED memfd
// mapping (MISSING_SHMEM), like pager VMOs.
func rawRow(kind handlerKind, shmem bool, threads, faulterCPU, handlerCPU int) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		warmPer := e.cfg.Warmup / threads
		per := (e.cfg.N + threads - 1) / threads
		n := (per + warmPer) * threads
		size := n * pageSize
		var r region
		var features uffd.Features
		if shmem {
			fd, err := newMemfd("pagerbench-raw", size)
			if err != nil {
				return nil, err
			}
			defer unix.Close(fd)
			if r, err = mmapShared(fd, size, unix.PROT_READ|unix.PROT_WRITE); err != nil {
				return nil, err
			}
			// Page tables in place, then the pages back to the allocator.
			if err := r.populate(); err != nil {
				r.unmap()
				return nil, err
			}
			if err := punch(fd, size); err != nil {
				r.unmap()
				return nil, err
			}
			features = uffd.FeatureMissingShmem
		} else {
			var err error
			if r, err = mmapAnon(size); err != nil {
				return nil, err
			}
			if err := r.prefault(); err != nil {
				r.unmap()
				return nil, err
			}
		}
		defer r.unmap()
		src, err := srcPage()
		if err != nil {
			return nil, err
		}
		defer src.unmap()
		u, err := uffd.New(features)
		if err != nil {
			return nil, err
		}
		defer u.Close()
		if _, err := u.Register(r.addr, uintptr(r.size), uffd.RegisterModeMissing); err != nil {
			return nil, err
		}
		if err := warm(size); err != nil {
			return nil, err
		}
		spec := touchSpec{addrs: split(r.pages(n), threads), warm: warmPer, pin: faulterCPU + 1}
		var m *measurement
		var served uint64
		switch kind {
		case handlerC:
			h, err := cbench.StartHandler(u.Fd(), src.addr, pageSize, handlerCPU)
			if err != nil {
				return nil, err
			}
			m, err = touch(spec, e.cfg.Duration, nil)
			var herrs uint64
			served, herrs = h.Stop()
			if err == nil && herrs > 0 {
				err = fmt.Errorf("C handler: %d ioctl errors", herrs)
			}
			if err != nil {
				return nil, err
			}
		case handlerGo:
			h, err := startGoHandler(u, src.addr)
			if err != nil {
				return nil, err
			}
			m, err = touch(spec, e.cfg.Duration, h.check)
			served = h.close()
			if err == nil {
				err = h.check()
			}
			if err != nil {
				return nil, err
			}
		case handlerGoHandoff, handlerGoNetpollHandoff:
			h, err := startHandoffHandler(u, src.addr, kind == handlerGoNetpollHandoff)
			if err != nil {
				return nil, err
			}
			m, err = touch(spec, e.cfg.Duration, h.check)
			served = h.close()
			if err == nil {
				err = h.check()
			}
			if err != nil {
				return nil, err
			}
		}
		if faulterCPU >= 0 || handlerCPU >= 0 {
			m.note("faulter pinned to CPU %d, handler to CPU %d", faulterCPU, handlerCPU)
		}
		m.note("handler served %d faults", served)
		return m, nil
	}
}

// firstErr keeps the first error a handler goroutine met, for the row to
// report; handlers embed it.
type firstErr struct {
	mu  sync.Mutex
	err error
}

// fail records err unless an earlier error is kept.
func (f *firstErr) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

// check returns the first error met, or nil.
func (f *firstErr) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
