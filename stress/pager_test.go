package stress

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/pagerd/pagerd/syscalls"
	"github.com/pagerd/pagerd/zx"
)

// pagerState is one pager: its handle, its port and its VMOs by key.
type pagerState struct {
	idx    int
	h      zx.Handle
	port   zx.Handle
	closed bool // set (before the handle is closed) by closePager

	mu   sync.Mutex
	vmos map[uint64]*vmoState
}

func (pg *pagerState) lookup(key uint64) *vmoState {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return pg.vmos[key]
}

// failStatuses are the statuses ZX_PAGER_OP_FAIL accepts.
var failStatuses = []zx.Status{zx.ErrIO, zx.ErrIODataIntegrity, zx.ErrBadState, zx.ErrNoSpace, zx.ErrBufferTooSmall}

// request is a READ or DIRTY request a server has put aside to answer later.
type request struct {
	v      *vmoState
	cmd    uint16
	lo, hi int
}

// server is one goroutine answering a pager's port.
type server struct {
	r   *run
	pg  *pagerState
	rng *rand.Rand
	aux zx.Handle // plain VMO the supplies are staged in
	buf []byte
}

// serve waits on the port (each wait with a short deadline) until stop is
// closed, answering requests now or later, in random order.
func (s *server) serve(stop <-chan struct{}) {
	var later []request
	for {
		var pkt zx.PortPacket
		st := syscalls.PortWait(s.pg.port, zx.DeadlineAfter(zx.Duration(5*time.Millisecond)), &pkt)
		if st == zx.ErrTimedOut {
			// Idle: answer everything put aside, in random order.
			s.rng.Shuffle(len(later), func(i, j int) { later[i], later[j] = later[j], later[i] })
			for _, q := range later {
				s.answer(q)
			}
			later = later[:0]
			select {
			case <-stop:
				return
			default:
			}
			continue
		}
		if st != zx.ErrOk {
			s.r.errorf("pager %d: PortWait = %v", s.pg.idx, st)
			return
		}
		if pkt.Type != zx.PktTypePageRequest || pkt.Status != zx.ErrOk {
			s.r.errorf("pager %d: packet type %#x status %v, want a PAGE_REQUEST with ZX_OK", s.pg.idx, pkt.Type, pkt.Status)
			continue
		}
		req := pkt.PageRequest()
		v := s.pg.lookup(pkt.Key)
		if v == nil {
			s.r.errorf("pager %d: packet for unknown key %#x", s.pg.idx, pkt.Key)
			continue
		}
		if req.Command == zx.PagerVMOComplete {
			s.complete(v, req)
			continue
		}
		if req.Command != zx.PagerVMORead && req.Command != zx.PagerVMODirty ||
			req.Flags != 0 || req.Offset%ps != 0 || req.Length%ps != 0 || req.Length == 0 ||
			req.Offset+req.Length > uint64(v.max)*ps || req.Command == zx.PagerVMODirty && !v.trap {
			s.r.errorf("%v: bad request command %d flags %#x [%#x, +%#x)", v, req.Command, req.Flags, req.Offset, req.Length)
			continue
		}
		q := request{v: v, cmd: req.Command, lo: int(req.Offset / ps), hi: int((req.Offset + req.Length) / ps)}
		v.pagerLog("server %p: %s [%d, %d)", s, map[uint16]string{zx.PagerVMORead: "READ", zx.PagerVMODirty: "DIRTY"}[q.cmd], q.lo, q.hi)
		if q.cmd == zx.PagerVMORead {
			s.r.st.readPackets.Add(1)
		} else {
			s.r.st.dirtyPackets.Add(1)
		}
		v.mu.Lock()
		if v.detached {
			v.requests++
			s.r.st.lateRequests.Add(1)
		}
		v.mu.Unlock()
		// Put it aside sometimes, to answer requests out of order.
		if len(later) < 4 && s.rng.IntN(100) < 25 {
			later = append(later, q)
			v.pagerLog("server %p: put aside", s)
			continue
		}
		s.answer(q)
		if len(later) > 0 && s.rng.IntN(2) == 0 {
			i := s.rng.IntN(len(later))
			q := later[i]
			later = append(later[:i], later[i+1:]...)
			s.answer(q)
		}
	}
}

func (s *server) complete(v *vmoState, req zx.PacketPageRequest) {
	s.r.st.completes.Add(1)
	v.mu.Lock()
	v.completes++
	n, detaching, retired, want := v.completes, v.detaching, v.retired, v.completesWanted()
	v.mu.Unlock()
	switch {
	case req.Offset != 0 || req.Length != 0:
		s.r.errorf("%v: COMPLETE with range [%#x, +%#x), want [0, 0)", v, req.Offset, req.Length)
	case n > want:
		s.r.errorf("%v: COMPLETE packet number %d, want %d (pager closed: %v)", v, n, want, want == 0)
	case !detaching && !retired:
		s.r.errorf("%v: COMPLETE for a VMO neither detached nor closed", v)
	}
}

// answer answers one request, sometimes slowly.
func (s *server) answer(q request) {
	v := q.v
	v.mu.Lock()
	retired := v.retired
	v.mu.Unlock()
	if retired {
		return
	}
	if s.rng.IntN(100) < 3 {
		time.Sleep(time.Duration(s.rng.IntN(2000)) * time.Microsecond)
	}
	if q.cmd == zx.PagerVMODirty {
		s.answerDirty(q)
		return
	}
	lo, hi := q.lo, q.hi
	if s.rng.IntN(100) < s.r.cfg.failPct {
		// Fail part of the request. Failing its first page fails the
		// request and its waiters, so the rest may be left alone; a
		// failed later part only makes the request forget those pages
		// (spec §3.4), and the rest must still be supplied or the
		// waiters would wait for ever.
		fa := lo
		if s.rng.IntN(2) == 0 {
			fa = lo + s.rng.IntN(hi-lo)
		}
		fb := fa + 1 + s.rng.IntN(hi-fa)
		s.fail(v, fa, fb)
		if fa > lo || s.rng.IntN(2) == 0 {
			s.supplyRange(v, lo, fa, lo, fa)
			s.supplyRange(v, fb, hi, fb, hi)
		}
		return
	}
	// More than asked, sometimes: pages before and after the request.
	extra := false
	if s.rng.IntN(4) == 0 {
		lo = max(0, lo-s.rng.IntN(3))
		extra = true
	}
	if s.rng.IntN(3) == 0 {
		hi = min(v.max, hi+1+s.rng.IntN(8))
		extra = true
	}
	if extra {
		s.r.st.oversupplies.Add(1)
	}
	s.supplyRange(v, lo, hi, q.lo, q.hi)
}

// supplyRange supplies [lo, hi) in random pieces in random order; [rlo,
// rhi) is what was asked for. A piece that runs past the VMO's end (the
// extra pages of an over-supply) is OUT_OF_RANGE as a whole, so the part
// that was asked for is then supplied again on its own.
func (s *server) supplyRange(v *vmoState, lo, hi, rlo, rhi int) {
	if lo >= hi {
		return
	}
	cuts := []int{lo, hi}
	for n := s.rng.IntN(min(4, hi-lo)); n > 0; n-- {
		cuts = append(cuts, lo+1+s.rng.IntN(hi-lo))
	}
	slices.Sort(cuts)
	var pieces [][2]int
	for i := 0; i+1 < len(cuts); i++ {
		if cuts[i] < cuts[i+1] {
			pieces = append(pieces, [2]int{cuts[i], cuts[i+1]})
		}
	}
	if len(pieces) > 1 {
		s.r.st.splits.Add(1)
	}
	s.rng.Shuffle(len(pieces), func(i, j int) { pieces[i], pieces[j] = pieces[j], pieces[i] })
	for _, pc := range pieces {
		a, b := pc[0], pc[1]
		extra := a < rlo || b > rhi
		if s.supply(v, a, b, extra) == zx.ErrOutOfRange && extra {
			if a, b = max(a, rlo), min(b, rhi); a < b {
				s.supply(v, a, b, false)
			}
		}
	}
}

// supply supplies pages [lo, hi) with what the pager's store holds for them
// (version 0, or what was written back), staged in the aux VMO.
func (s *server) supply(v *vmoState, lo, hi int, extra bool) zx.Status {
	n := (hi - lo) * ps
	v.storeMu.RLock()
	defer v.storeMu.RUnlock()
	for p := lo; p < hi; p++ {
		pageContent(s.buf[(p-lo)*ps:], v.id, p, v.store[p])
	}
	if st := syscalls.VmoWrite(s.aux, s.buf[:n], 0); st != zx.ErrOk {
		s.r.errorf("pager %d: VmoWrite(aux, %d bytes) = %v", s.pg.idx, n, st)
		return st
	}
	v.mu.Lock()
	for p := lo; p < min(hi, v.max); p++ {
		v.pages[p].supplied = true
	}
	v.mu.Unlock()
	st := syscalls.PagerSupplyPages(s.pg.h, v.h, uint64(lo)*ps, uint64(n), s.aux, 0)
	v.pagerLog("server %p: supply [%d, %d) = %v", s, lo, hi, st)
	s.r.st.supplies.Add(1)
	if st == zx.ErrOk {
		s.r.st.suppliedPages.Add(int64(hi - lo))
		return st
	}
	s.r.st.supplyErrors.Add(1)
	if !(extra && st == zx.ErrOutOfRange) && !s.explained(v, st) {
		s.r.errorf("%v: PagerSupplyPages([%d, %d)) = %v", v, lo, hi, st)
	}
	if end, ok := s.clip(v, st, hi); ok && lo < end {
		// A shrink cut the range: the part still there may have waiters.
		return s.supply(v, lo, end, extra)
	}
	return st
}

// clip returns, after a call on pages below hi failed with OUT_OF_RANGE, the
// VMO's current end in pages if it cut the range, so the caller can redo
// the part still in range (a shrink truncates requests, it does not end
// them).
func (s *server) clip(v *vmoState, st zx.Status, hi int) (int, bool) {
	if st != zx.ErrOutOfRange {
		return 0, false
	}
	size, gst := syscalls.VmoGetSize(v.h)
	if gst != zx.ErrOk || int(size/ps) >= hi {
		return 0, false
	}
	return int(size / ps), true
}

// explained reports whether a pager call on v may fail with st: a shrink
// (OUT_OF_RANGE), a detach (BAD_STATE), a closed handle (BAD_HANDLE).
func (s *server) explained(v *vmoState, st zx.Status) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch st {
	case zx.ErrOutOfRange:
		return v.resizable
	case zx.ErrBadState:
		return v.detaching
	case zx.ErrBadHandle:
		return v.retired || v.pagerClosed
	case zx.ErrNotFound:
		// OP_DIRTY of a page that is no longer there: cut by a shrink
		// (and maybe grown back as zeros) or dropped by a detach.
		return v.resizable || v.detaching
	}
	return false
}

// fail fails [lo, hi) with a random status, logged as an event first.
func (s *server) fail(v *vmoState, lo, hi int) {
	st := failStatuses[s.rng.IntN(len(failStatuses))]
	e := &event{kind: evFail, lo: lo, hi: hi, status: st}
	v.logEvent(e)
	got := syscalls.PagerOpRange(s.pg.h, zx.PagerOpFail, v.h, uint64(lo)*ps, uint64(hi-lo)*ps, uint64(int64(st)))
	v.pagerLog("server %p: FAIL [%d, %d) %v = %v", s, lo, hi, st, got)
	v.endEvent(e, nil)
	s.r.st.fails.Add(1)
	if got != zx.ErrOk && !s.explained(v, got) {
		s.r.errorf("%v: PagerOpRange(FAIL, [%d, %d), %v) = %v", v, lo, hi, st, got)
	}
	if end, ok := s.clip(v, got, hi); ok && lo < end {
		s.fail(v, lo, end)
	}
}

func (s *server) answerDirty(q request) {
	v := q.v
	if s.rng.IntN(100) < s.r.cfg.failPct {
		s.fail(v, q.lo, q.hi)
		return
	}
	e := &event{kind: evDirty, lo: q.lo, hi: q.hi}
	v.logEvent(e)
	st := syscalls.PagerOpRange(s.pg.h, zx.PagerOpDirty, v.h, uint64(q.lo)*ps, uint64(q.hi-q.lo)*ps, 0)
	v.pagerLog("server %p: OP_DIRTY [%d, %d) = %v", s, q.lo, q.hi, st)
	v.endEvent(e, func() {
		// The writer that asked may be gone (failed meanwhile): the
		// pages may now be dirty with nobody writing them.
		for p := q.lo; p < min(q.hi, v.size); p++ {
			if st == zx.ErrOk && v.pages[p].dirty == no {
				v.pages[p].dirty = maybe
			}
			if st == zx.ErrOk && v.pages[p].zeroTail == yes {
				v.pages[p].zeroTail = maybe
			}
			v.note(p, "OP_DIRTY %v", st)
		}
	})
	s.r.st.opDirty.Add(1)
	if st != zx.ErrOk && !s.explained(v, st) {
		s.r.errorf("%v: PagerOpRange(DIRTY, [%d, %d)) = %v", v, q.lo, q.hi, st)
	}
	if end, ok := s.clip(v, st, q.hi); ok && q.lo < end {
		s.answerDirty(request{v: v, cmd: q.cmd, lo: q.lo, hi: end})
	}
}
