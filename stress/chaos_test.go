package stress

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pagerd/pagerd/syscalls"
	"github.com/pagerd/pagerd/zx"
)

// chaos shrinks, grows, detaches and retires VMOs at random until the run
// stops. It is the only goroutine that changes sizes and detaches, so those
// never race each other (they race the accesses and the pagers).
func (r *run) chaos(rng *rand.Rand) {
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(time.Duration(5+rng.IntN(45)) * time.Millisecond):
		}
		slot := rng.IntN(len(r.slots))
		v := r.slots[slot].Load()
		v.mu.Lock()
		detached, detachAt, size := v.detached, v.detachAt, v.size
		v.mu.Unlock()
		n := rng.IntN(100)
		switch {
		case detached && time.Since(time.Unix(0, detachAt)) > 300*time.Millisecond && n < 50:
			r.retire(v)
			r.newVMO(slot, rng)
		case detached && n < 20:
			r.writeback(v, rng) // still allowed after a detach (spec §3.3)
		case detached:
		case v.resizable && n < 30 && size > 1:
			r.shrink(v, 1+rng.IntN(size-1))
		case v.resizable && n < 60 && size < v.max:
			r.grow(v, size+1+rng.IntN(v.max-size))
		case n < 63:
			r.detach(v)
		case n < 75:
			r.retire(v) // a fresh VMO: a fresh set of faults
			r.newVMO(slot, rng)
		default:
			r.writeback(v, rng)
		}
	}
}

// shrink cuts v to size pages while accesses and requests are in flight.
func (r *run) shrink(v *vmoState, size int) {
	v.mu.Lock()
	old := v.size
	v.mu.Unlock()
	e := &event{kind: evShrink, lo: size, hi: old}
	v.logEvent(e)
	st := syscalls.VmoSetSize(v.h, uint64(size)*ps)
	v.pagerLog("chaos: shrink %d -> %d pages = %v", old, size, st)
	v.endEvent(e, func() {
		if st != zx.ErrOk {
			return
		}
		v.size = size
		for p := size; p < v.max; p++ {
			v.pages[p] = pageModel{tainted: v.pages[p].tainted || v.trap}
			v.note(p, "shrink %d->%d", old, size)
		}
	})
	if st != zx.ErrOk {
		r.errorf("%v: VmoSetSize(%d pages) from %d = %v", v, size, old, st)
		return
	}
	r.st.shrinks.Add(1)
}

// grow grows v to size pages: the new pages are a dirty zero tail. It
// holds their locks, so no access of them overlaps it.
func (r *run) grow(v *vmoState, size int) {
	v.mu.Lock()
	old := v.size
	v.mu.Unlock()
	v.lockRange(old, size, true)
	defer v.unlockRange(old, size, true)
	st := syscalls.VmoSetSize(v.h, uint64(size)*ps)
	v.pagerLog("chaos: grow %d -> %d pages = %v", old, size, st)
	if st != zx.ErrOk {
		r.errorf("%v: VmoSetSize(%d pages) from %d = %v", v, size, old, st)
		return
	}
	v.mu.Lock()
	v.size = size
	for p := old; p < size; p++ {
		v.pages[p] = pageModel{acc: []int64{zeroVer}, present: yes, dirty: yes, zeroTail: yes, tainted: v.pages[p].tainted}
		v.note(p, "grow %d->%d", old, size)
	}
	v.mu.Unlock()
	r.st.grows.Add(1)
}

// detach detaches v while accesses and requests are in flight: clean pages
// go, dirty pages stay.
func (r *run) detach(v *vmoState) {
	e := &event{kind: evDetach}
	v.mu.Lock()
	v.detaching = true
	v.mu.Unlock()
	v.logEvent(e)
	st := syscalls.PagerDetachVmo(v.pg.h, v.h)
	v.pagerLog("chaos: detach = %v", st)
	v.endEvent(e, func() {
		v.detached = true
		v.detachAt = time.Now().UnixNano()
		for p := range v.pages {
			v.note(p, "detach")
			switch v.pages[p].dirty {
			case no:
				v.pages[p].present = no
			case maybe:
				v.pages[p].present = maybe
			}
		}
	})
	if st != zx.ErrOk {
		r.errorf("%v: PagerDetachVmo = %v", v, st)
		return
	}
	r.st.detaches.Add(1)
}

// retire waits for the accesses of v to finish, unmaps and closes it; a
// COMPLETE packet must follow (checked at the end of the run).
func (r *run) retire(v *vmoState) {
	v.lockRange(0, v.max, true)
	defer v.unlockRange(0, v.max, true)
	v.mu.Lock()
	v.retired = true
	v.mu.Unlock()
	if st := syscalls.VmarUnmap(syscalls.VmarRootSelf(), v.addr, uint64(v.max)*ps); st != zx.ErrOk {
		r.errorf("%v: VmarUnmap = %v", v, st)
	}
	if st := syscalls.HandleClose(v.h); st != zx.ErrOk {
		r.errorf("%v: HandleClose = %v", v, st)
	}
	r.mu.Lock()
	r.retiredVMOs = append(r.retiredVMOs, v)
	r.mu.Unlock()
	r.st.retires.Add(1)
}

// newVMO creates a fresh pager VMO for slot and maps all of it (beyond
// the size of a RESIZABLE one too: accesses there fault).
func (r *run) newVMO(slot int, rng *rand.Rand) *vmoState {
	pg := r.pagers[slot%len(r.pagers)]
	opts := []uint32{0, zx.VMOTrapDirty, zx.VMOResizable, zx.VMOTrapDirty | zx.VMOResizable}[(slot+rng.IntN(2)*2)%4]
	max := 16 + rng.IntN(33)
	size := max
	if opts&zx.VMOResizable != 0 {
		size = 1 + rng.IntN(max)
	}
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.mu.Unlock()
	key := uint64(pg.idx)<<56 | uint64(id)
	v := newVMOState(slot, id, key, opts, max, size)
	v.pg = pg
	v.run = r
	h, st := syscalls.PagerCreateVmo(pg.h, opts, pg.port, key, uint64(size)*ps)
	if st != zx.ErrOk {
		r.errorf("PagerCreateVmo(options %#x, %d pages) = %v", opts, size, st)
		r.abort()
		return nil
	}
	v.h = h
	addr, st := syscalls.VmarMap(syscalls.VmarRootSelf(), zx.VMPermRead|zx.VMPermWrite, 0, h, 0, uint64(max)*ps)
	if st != zx.ErrOk {
		r.errorf("%v: VmarMap(%d pages) = %v", v, max, st)
		syscalls.HandleClose(h)
		r.abort()
		return nil
	}
	v.addr = addr
	pg.mu.Lock()
	pg.vmos[key] = v
	pg.mu.Unlock()
	r.slots[slot].Store(v)
	r.st.vmos.Add(1)
	return v
}

// writeback writes back the dirty pages of a random range of v as a pager
// would: it checks zx_pager_query_dirty_ranges against the model, then
// WRITEBACK_BEGIN, reads the pages (checking them), stores them, and
// WRITEBACK_END; afterwards nothing in the range may be dirty. It holds the
// range's page locks, so no access overlaps it (the pagers and the other
// ranges go on).
func (r *run) writeback(v *vmoState, rng *rand.Rand) {
	a := rng.IntN(v.max)
	b := a + 1 + rng.IntN(v.max-a)
	v.lockRange(a, b, true)
	defer v.unlockRange(a, b, true)
	w := v.begin(a, b, false)
	if w.retired || a >= w.size {
		return
	}
	b = min(b, w.size)
	for _, m := range w.pages[:b-a] {
		if len(m.acc) != 1 || m.tainted && v.run.cfg.tol.untrapped || m.racedDetach && v.run.cfg.tol.detachRace {
			r.st.writebackSkips.Add(1)
			return // an interrupted write left the page uncertain
		}
	}
	ranges, ok := r.queryDirty(v, w, a, b)
	if !ok {
		return
	}
	evs := w.events()
	for p := a; p < b; p++ {
		m := w.pages[p-a]
		rep, isZero := ranges.at(p)
		switch {
		case m.dirty == yes && !rep:
			r.errorf("%v: page %d is dirty but zx_pager_query_dirty_ranges%v does not report it %s", v, p, ranges, w.explain(p, evs))
		case m.dirty == no && rep && !dirtied(evs, p):
			r.errorf("%v: page %d is clean but zx_pager_query_dirty_ranges%v reports it %s", v, p, ranges, w.explain(p, evs))
		case isZero && m.acc[0] != zeroVer:
			got := make([]byte, ps)
			st := syscalls.VmoRead(v.h, got, uint64(p)*ps)
			r.errorf("%v: page %d holds version %d (zx_vmo_read: %v, %s) but zx_pager_query_dirty_ranges%v says it is zero %s%s",
				v, p, m.acc[0], st, describe(got), ranges, w.explain(p, evs), w.hint(p))
		}
	}
	buf := make([]byte, (b-a)*ps)
	var scr [ps]byte
	for _, dr := range ranges {
		lo, hi := int(dr.Offset/ps), int((dr.Offset+dr.Length)/ps)
		isZero := dr.Options&zx.VMODirtyRangeIsZero != 0
		data := uint64(0)
		if isZero && rng.IntN(2) == 0 {
			data = zx.VMODirtyRangeIsZero
		}
		if st := syscalls.PagerOpRange(v.pg.h, zx.PagerOpWritebackBegin, v.h, dr.Offset, dr.Length, data); st != zx.ErrOk {
			r.errorf("%v: WRITEBACK_BEGIN [%d, %d) data %d = %v", v, lo, hi, data, st)
			return
		}
		if !isZero {
			n := (hi - lo) * ps
			if st := syscalls.VmoRead(v.h, buf[:n], dr.Offset); st != zx.ErrOk {
				r.errorf("%v: zx_vmo_read of dirty pages [%d, %d) being written back = %v", v, lo, hi, st)
				return
			}
			for p := lo; p < hi; p++ {
				r.st.pagesChecked.Add(1)
				if m := w.pages[p-a]; !checkPage(buf[(p-lo)*ps:(p-lo+1)*ps], v.id, p, m.acc, &scr) {
					r.errorf("%v: write-back of page %d: content is %s; want version %v", v, p, describe(buf[(p-lo)*ps:]), m.acc)
				}
			}
		}
		// Sometimes write a page between BEGIN and END: BEGIN must have
		// protected it again (a TRAP_DIRTY write needs a DIRTY request),
		// and END must leave it dirty (spec §3.8, DirtyDuringWriteback).
		rewrote, rp, rver := false, -1, int64(0)
		if !isZero && !w.detached && rng.IntN(2) == 0 {
			rp = lo + rng.IntN(hi-lo)
			rewrote, rver = r.writeDuringWriteback(v, rp, rng)
		}
		v.storeMu.Lock()
		for p := lo; p < hi; p++ {
			v.store[p] = w.pages[p-a].acc[0]
			if isZero {
				v.store[p] = zeroVer
			}
		}
		st := syscalls.PagerOpRange(v.pg.h, zx.PagerOpWritebackEnd, v.h, dr.Offset, dr.Length, 0)
		v.storeMu.Unlock()
		if st != zx.ErrOk {
			r.errorf("%v: WRITEBACK_END [%d, %d) = %v", v, lo, hi, st)
			return
		}
		v.mu.Lock()
		for p := lo; p < hi; p++ {
			if p == rp {
				m := &v.pages[p]
				if rewrote {
					*m = pageModel{acc: []int64{rver}, present: yes, dirty: yes, poisoned: m.poisoned, tainted: m.tainted, racedDetach: m.racedDetach}
					v.note(p, "written v%d between WRITEBACK_BEGIN and END", rver)
				} else {
					m.dirty = maybe
					v.note(p, "write v%d between WRITEBACK_BEGIN and END failed", rver)
				}
				continue
			}
			m := &v.pages[p]
			m.dirty = no
			m.zeroTail = no
			v.note(p, "written back (zero %v, data %d)", isZero, data)
			if isZero {
				// A cleaned zero range is a gap the pager supplies (zeros,
				// from its store) from now on (spec §1.5).
				*m = pageModel{acc: []int64{zeroVer}, present: no, dirty: no, tainted: m.tainted}
			}
		}
		v.mu.Unlock()
		r.st.writtenBack.Add(int64(hi - lo))
	}
	r.st.writebacks.Add(1)
	// Nobody wrote the range meanwhile: nothing in it is dirty now, but
	// what a late OP_DIRTY dirtied.
	after, ok := r.queryDirty(v, w, a, b)
	if !ok {
		return
	}
	evs = w.events()
	v.mu.Lock()
	model := slices.Clone(v.pages[a:b])
	v.mu.Unlock()
	for p := a; p < b; p++ {
		rep, _ := after.at(p)
		switch m := model[p-a]; {
		case m.dirty == yes && !rep:
			r.errorf("%v: page %d, written between WRITEBACK_BEGIN and END, is clean after END: zx_pager_query_dirty_ranges%v (before: %v) %s",
				v, p, after, ranges, w.explain(p, evs))
		case m.dirty == no && rep && !dirtied(evs, p):
			r.errorf("%v: page %d still dirty after WRITEBACK_END: zx_pager_query_dirty_ranges%v (before: %v) %s", v, p, after, ranges, w.explain(p, evs))
		}
	}
}

// writeDuringWriteback writes a new version of page p (whose lock the
// caller holds) between WRITEBACK_BEGIN and END, through the mapping or
// zx_vmo_write, and checks that a TRAP_DIRTY write went through a DIRTY
// request. It reports whether the write happened, and its version.
func (r *run) writeDuringWriteback(v *vmoState, p int, rng *rand.Rand) (bool, int64) {
	w := v.begin(p, p+1, true)
	ver := w.vers[0]
	buf := make([]byte, ps)
	pageContent(buf, v.id, p, ver)
	var failed bool
	op := opVmoWrite
	if rng.IntN(2) == 0 {
		op = opMappedWrite
		res, err := r.chaosThread.Write(v.addr+uintptr(p*ps), buf).Wait(r.cfg.hang)
		if err != nil {
			r.errorf("%v: mapped write of page %d between WRITEBACK_BEGIN and END did not return: %v", v, p, err)
			return false, ver
		}
		failed = res.Faulted()
	} else {
		failed = syscalls.VmoWrite(v.h, buf, uint64(p)*ps) != zx.ErrOk
	}
	evs := w.events()
	r.st.writesDuringWriteback.Add(1)
	if failed {
		// Only a failed DIRTY request may fail it (the page is
		// AwaitingClean: a TRAP_DIRTY write needs one).
		failed := false
		for _, e := range evs {
			failed = failed || e.kind == evFail && e.lo <= p && p < e.hi
		}
		if !v.trap || !failed {
			r.errorf("%v: %v of page %d between WRITEBACK_BEGIN and END failed %s", v, op, p, w.explain(p, evs))
		}
		return false, ver
	}
	if v.trap && !dirtied(evs, p) {
		r.errorf("%v: %v of page %d between WRITEBACK_BEGIN and END succeeded without a DIRTY request %s%s", v, op, p, w.explain(p, evs), w.hint(p))
	}
	return true, ver
}

// dirtyRanges are the entries of zx_pager_query_dirty_ranges.
type dirtyRanges []zx.VMODirtyRange

// at reports whether page p is in a range, and whether that range is zero.
func (d dirtyRanges) at(p int) (dirty, zero bool) {
	off := uint64(p) * ps
	for _, e := range d {
		if e.Offset <= off && off < e.Offset+e.Length {
			return true, e.Options&zx.VMODirtyRangeIsZero != 0
		}
	}
	return false, false
}

func (d dirtyRanges) String() string {
	s := ""
	for _, e := range d {
		s += fmt.Sprintf(" [%d, %d)", e.Offset/ps, (e.Offset+e.Length)/ps)
		if e.Options&zx.VMODirtyRangeIsZero != 0 {
			s += "z"
		}
	}
	return s
}

// queryDirty queries the dirty ranges of pages [a, b) of v and checks their
// form: sorted, page-aligned, inside [a, b), options 0 or IS_ZERO.
func (r *run) queryDirty(v *vmoState, w *window, a, b int) (dirtyRanges, bool) {
	out := make([]zx.VMODirtyRange, v.max+1)
	actual, avail, st := syscalls.PagerQueryDirtyRanges(v.pg.h, v.h, uint64(a)*ps, uint64(b-a)*ps, out, true)
	if st != zx.ErrOk || actual != avail {
		r.errorf("%v: zx_pager_query_dirty_ranges([%d, %d)) = %v, actual %d avail %d", v, a, b, st, actual, avail)
		return nil, false
	}
	d := dirtyRanges(out[:actual])
	end := uint64(a) * ps
	for _, e := range d {
		if e.Offset%ps != 0 || e.Length%ps != 0 || e.Length == 0 || e.Offset < end ||
			e.Offset+e.Length > uint64(b)*ps || e.Options&^zx.VMODirtyRangeIsZero != 0 {
			r.errorf("%v: zx_pager_query_dirty_ranges([%d, %d)) returned a bad entry %+v in%v", v, a, b, e, d)
			return nil, false
		}
		end = e.Offset + e.Length
	}
	return d, true
}

// closePager closes pg's last handle while its VMOs are mapped and nothing
// accesses them, then checks them (spec §3.3: like a detach, without
// COMPLETE packets; resident pages may stay readable): a dirty page reads
// what was written, a page never supplied fails with BAD_STATE through
// zx_vmo_read and SIGBUS through the mapping.
func (r *run) closePager(pg *pagerState) {
	var vs []*vmoState
	for s := range r.slots {
		if v := r.slots[s].Load(); v.pg == pg && !v.retired {
			vs = append(vs, v)
		}
	}
	for _, v := range vs {
		v.mu.Lock()
		v.pagerClosed = true
		v.mu.Unlock()
	}
	pg.closed = true
	if st := syscalls.HandleClose(pg.h); st != zx.ErrOk {
		r.errorf("pager %d: HandleClose = %v", pg.idx, st)
		return
	}
	r.mu.Lock()
	r.closedVMOs = vs
	r.mu.Unlock()
	buf := make([]byte, ps)
	var scr [ps]byte
	for _, v := range vs {
		w := v.begin(0, v.max, false)
		sigbusChecks := 0
		for p := 0; p < w.size; p++ {
			m := w.pages[p]
			st := syscalls.VmoRead(v.h, buf, uint64(p)*ps)
			r.st.closedPagerPages.Add(1)
			mayLose := m.racedDetach && r.cfg.tol.detachRace
			switch {
			case st == zx.ErrOk && !checkPage(buf, v.id, p, m.acc, &scr):
				r.errorf("%v, pager closed: page %d is %s; want versions %v %s", v, p, describe(buf), m.acc, w.explain(p, nil))
			case st == zx.ErrOk && !m.supplied && m.present == no && m.dirty == no:
				r.errorf("%v, pager closed: zx_vmo_read of never supplied page %d succeeded %s", v, p, w.explain(p, nil))
			case st != zx.ErrOk && st != zx.ErrBadState:
				r.errorf("%v, pager closed: zx_vmo_read of page %d = %v, want OK or BAD_STATE", v, p, st)
			case st != zx.ErrOk && m.dirty == yes && !mayLose:
				r.errorf("%v, pager closed: zx_vmo_read of dirty page %d = %v %s%s", v, p, st, w.explain(p, nil), w.hint(p))
			}
			if !m.supplied && m.present == no && m.dirty == no && sigbusChecks < 3 {
				sigbusChecks++
				res, err := r.chaosThread.Read(v.addr+uintptr(p*ps), 8).Wait(r.cfg.hang)
				if err != nil || !res.Sigbus {
					r.errorf("%v, pager closed: mapped read of absent page %d: %v sigbus=%v, want SIGBUS", v, p, err, res.Sigbus)
				}
			}
		}
	}
}
