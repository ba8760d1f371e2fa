package pager

import (
	"golang.org/x/sys/unix"
	"slices"

	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

var _ vmo.Source = (*pagedVMO)(nil)

// writeBatchPages is how many absent pages zx_vmo_write requests at a time
// (Zircon's kMaxWriteWaitPages).
const writeBatchPages = 16

// ensure makes pages [from, to) present, requesting the maximal absent run
// starting at the first absent page and waiting, as zx_vmo_read and COMMIT
// do (spec §3.1). visit, if set, is called under the lock for each run of
// present pages as soon as it is known present (progressive copy-out);
// batch bounds a request's length (0: no bound). Called with pv.mu held.
func (pv *pagedVMO) ensure(from, to, batch uint64, visit func(from, to uint64) error) error {
	w := (*waiter)(nil)
	defer func() {
		if w != nil {
			pv.dropWaiter(w)
		}
	}()
	cur := from
	for cur < to {
		if to > pv.pages() {
			return zx.Errorf(zx.ErrOutOfRange, "pages [%d, %d) beyond VMO end (%d pages)", cur, to, pv.pages())
		}
		abs := pv.table.firstAbsent(cur, to)
		if visit != nil && abs > cur {
			if err := visit(cur, abs); err != nil {
				return err
			}
		}
		cur = abs
		if cur == to {
			return nil
		}
		if st := pv.usable(); st != zx.ErrOk {
			return zx.Errorf(st, "VMO %d is detached from its pager", pv.vmo.Koid())
		}
		runEnd := pv.table.absentRunEnd(cur, to)
		if batch > 0 {
			runEnd = min(runEnd, cur+batch)
		}
		if w == nil {
			w = newWaiter()
		}
		pv.request(w, kindRead, cur, runEnd)
		if st := pv.wait(w); st != zx.ErrOk {
			return zx.Errorf(st, "page %d of VMO %d failed", cur, pv.vmo.Koid())
		}
	}
	return nil
}

// Read is zx_vmo_read on a pager VMO.
func (pv *pagedVMO) Read(v *vmo.VMO, p []byte, off uint64) error {
	if len(p) == 0 {
		return nil
	}
	if pv.clone != nil {
		return pv.readClone(v, p, off)
	}
	end := off + uint64(len(p))
	pv.mu.Lock()
	defer pv.mu.Unlock()
	return pv.ensure(off/zx.PageSize, (end+zx.PageSize-1)/zx.PageSize, 0, func(a, b uint64) error {
		lo, hi := max(off, a*zx.PageSize), min(end, b*zx.PageSize)
		if lo >= hi {
			return nil
		}
		return preadFull(v.Fd(), p[lo-off:hi-off], lo)
	})
}

// Write is zx_vmo_write on a pager VMO (spec §1.10, §3.8). It works in
// batches of 16 pages: first a READ for the absent run (if any), then, on a
// ZX_VMO_TRAP_DIRTY VMO, a DIRTY request for each maximal run of present
// pages that are not yet Dirty; then the batch's pages are marked Dirty and
// the bytes written. Earlier batches stay written if a later one fails.
func (pv *pagedVMO) Write(v *vmo.VMO, p []byte, off uint64) error {
	if len(p) == 0 {
		return nil
	}
	end := off + uint64(len(p))
	pv.mu.Lock()
	defer pv.mu.Unlock()
	var w *waiter
	defer func() {
		if w != nil {
			pv.dropWaiter(w)
		}
	}()
	wait := func(k reqKind, pg, runEnd uint64) error {
		if st := pv.usable(); st != zx.ErrOk {
			return zx.Errorf(st, "VMO %d is detached from its pager", v.Koid())
		}
		if w == nil {
			w = newWaiter()
		}
		pv.request(w, k, pg, runEnd)
		if st := pv.wait(w); st != zx.ErrOk {
			return zx.Errorf(st, "page %d of VMO %d failed", pg, v.Koid())
		}
		return nil
	}
	for cur, last := off/zx.PageSize, (end+zx.PageSize-1)/zx.PageSize; cur < last; {
		if last > pv.pages() {
			return zx.Errorf(zx.ErrOutOfRange, "pages [%d, %d) beyond VMO end (%d pages)", cur, last, pv.pages())
		}
		batch := min(last, cur+writeBatchPages)
		if abs := pv.table.firstAbsent(cur, batch); abs < batch {
			if err := wait(kindRead, abs, pv.table.absentRunEnd(abs, batch)); err != nil {
				return err
			}
			continue
		}
		if pv.trap {
			if pg, runEnd := pv.needsDirty(cur, batch); pg < batch {
				if err := wait(kindDirty, pg, runEnd); err != nil {
					return err
				}
				continue
			}
		}
		for pg := cur; pg < batch; pg++ {
			if !writable(pv.table.get(pg)) {
				pv.setDirty(pg)
			}
		}
		pv.modified = true
		lo, hi := max(off, cur*zx.PageSize), min(end, batch*zx.PageSize)
		if err := pwriteFull(v.Fd(), p[lo-off:hi-off], lo); err != nil {
			return err
		}
		cur = batch
	}
	return nil
}

// needsDirty returns the first maximal run in [from, to) of present pages
// that must be dirtied before a write (clean, zero, AwaitingClean), or to.
// Runs stop at absent pages and at Dirty pages.
func (pv *pagedVMO) needsDirty(from, to uint64) (uint64, uint64) {
	pg := from
	for pg < to && writable(pv.table.get(pg)) {
		pg++
	}
	end := pg
	for end < to {
		s := pv.table.get(end)
		if !s.present() || writable(s) {
			break
		}
		end++
	}
	return pg, end
}

// OpRange runs COMMIT, ALWAYS_NEED and PREFETCH (make pages present,
// requesting them), ZERO on whole pages (a dirty zero range, no request) and
// DONT_NEED (a hint: nothing to do) on a pager VMO.
func (pv *pagedVMO) OpRange(v *vmo.VMO, op uint32, off, length uint64) error {
	from, to := off/zx.PageSize, (off+length+zx.PageSize-1)/zx.PageSize
	if pv.clone != nil && (op == zx.VMOOpAlwaysNeed || op == zx.VMOOpPrefetch) {
		return pv.prefetchClone(op, from, to)
	}
	pv.mu.Lock()
	defer pv.mu.Unlock()
	switch op {
	case zx.VMOOpCommit, zx.VMOOpAlwaysNeed, zx.VMOOpPrefetch:
		visit := func(a, b uint64) error {
			if op == zx.VMOOpCommit {
				pv.commitZeros(a, b)
				if pv.clone != nil {
					pv.ownCommitted(a, b)
				}
			}
			return nil
		}
		for {
			if err := pv.ensure(from, to, 0, visit); err != nil || op != zx.VMOOpCommit || !pv.trap {
				return err
			}
			// COMMIT of a dirty zero range (grown tail, OP_ZERO) of a
			// TRAP_DIRTY VMO dirties its pages: DIRTY request first
			// (spec §1.11 CommitExtendedTail, §3.8).
			pg, end := pv.zeroRunNeedingDirty(from, to)
			if pg == end {
				return nil
			}
			if err := pv.waitDirty(pg, end); err != nil {
				return err
			}
		}
	case zx.VMOOpZero:
		pv.zero(from, to)
		return nil
	case zx.VMOOpDontNeed:
		return nil
	}
	return zx.Errorf(zx.ErrNotSupported, "op %d on a pager VMO", op)
}

// commitZeros gives the zero pages in [a, b) real pages (COMMIT). Zero
// markers stay Clean and now count as committed. A page of a dirty zero
// range (Dirty or AwaitingClean) goes dirty-zero → Dirty (spec §1.11; a
// page committed after WRITEBACK_BEGIN must not be cleaned by its END,
// §1.5); on a TRAP_DIRTY VMO that needs a DIRTY request first, so those are
// left to OpRange.
func (pv *pagedVMO) commitZeros(a, b uint64) {
	for pg := a; pg < b; pg++ {
		s := pv.table.get(pg)
		switch {
		case !s.zero():
		case s.state() == stClean:
			_ = unix.Fallocate(pv.vmo.Fd(), 0, int64(pg*zx.PageSize), zx.PageSize)
			pv.table.set(pg, s&^flagZero)
		case !pv.trap:
			pv.setDirty(pg)
			pv.modified = true
		}
	}
}

// zeroRunNeedingDirty returns the first run in [from, to) of pages of a
// dirty zero range (Dirty or AwaitingClean, no page yet), or (to, to).
func (pv *pagedVMO) zeroRunNeedingDirty(from, to uint64) (uint64, uint64) {
	to = min(to, pv.pages())
	is := func(s pageState) bool {
		return s.zero() && (s.state() == stDirty || s.state() == stAwaitingClean)
	}
	pg := from
	for pg < to && !is(pv.table.get(pg)) {
		pg++
	}
	end := pg
	for end < to && is(pv.table.get(end)) {
		end++
	}
	if pg >= to {
		return to, to
	}
	return pg, end
}

// waitDirty posts (or joins) a DIRTY request for pages [pg, end) and waits
// for it to be resolved: OP_DIRTY, or a failure (OP_FAIL's status,
// BAD_STATE on detach). Called with pv.mu held.
func (pv *pagedVMO) waitDirty(pg, end uint64) error {
	if st := pv.usable(); st != zx.ErrOk {
		return zx.Errorf(st, "VMO %d is detached from its pager", pv.vmo.Koid())
	}
	w := newWaiter()
	pv.request(w, kindDirty, pg, end)
	st := pv.wait(w)
	pv.dropWaiter(w)
	if st != zx.ErrOk {
		return zx.Errorf(st, "DIRTY request for page %d of VMO %d failed", pg, pv.vmo.Koid())
	}
	return nil
}

// Resize is zx_vmo_set_size on a RESIZABLE pager VMO (spec §1.12, §3.9).
// Shrinking releases every waiter and request beyond the new end with
// OUT_OF_RANGE; growing adds a dirty zero tail that needs no READ.
func (pv *pagedVMO) Resize(v *vmo.VMO, newSize uint64) error {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	oldPages, newPages := pv.pages(), newSize/zx.PageSize
	if newPages == oldPages {
		return nil
	}
	if err := unix.Ftruncate(v.Fd(), int64(newSize)); err != nil {
		return zx.Errorf(zx.ErrNoMemory, "resizing memfd to %d: %v", newSize, err)
	}
	if pv.clone != nil {
		// A clone shows zeros from its old end on when it grows again.
		pv.clone.limit = min(pv.clone.limit, newPages)
		if newPages < oldPages {
			pv.truncateRequests(newPages)
		}
		pv.table.resize(newPages)
	} else if newPages < oldPages {
		pv.truncateRequests(newPages)
		pv.table.resize(newPages)
	} else {
		pv.table.resize(newPages)
		for pg := oldPages; pg < newPages; pg++ {
			pv.table.set(pg, stDirty|flagZero)
		}
	}
	pv.modified = true
	v.StoreSize(newSize)
	if err := pv.mapWindow(newSize); err != nil {
		return err
	}
	if newPages > oldPages {
		// A shrink drops the write-protect markers of the cut range from
		// every mapping (truncation zaps with ZAP_FLAG_DROP_MARKER), so
		// the grown tail is protected again: its first write must fault
		// (a DIRTY request with TRAP_DIRTY; tracked as written otherwise).
		pv.protect(oldPages, newPages)
	}
	// Faulters beyond the new end retry and take SIGBUS from the kernel.
	for _, m := range pv.mappings {
		if a, b, ok := m.pageRange(newPages, oldPages); ok {
			_ = m.u.Wake(a, b-a)
		}
	}
	return nil
}

// truncateRequests ends every request part beyond page n: waiters that need
// a page there fail with OUT_OF_RANGE; requests wholly beyond are dropped
// (their packets withdrawn if unread); straddling ones are cut.
func (pv *pagedVMO) truncateRequests(n uint64) {
	for k := reqKind(0); k < numKinds; k++ {
		pv.tracker.overlapping(k, n, ^uint64(0), func(r *request) {
			ws := r.waiters[:0]
			for _, w := range r.waiters {
				if w.need >= n {
					w.req = nil
					if w == r.primary {
						r.primary = nil
					}
					w.wake(zx.ErrOutOfRange)
				} else {
					ws = append(ws, w)
				}
			}
			clear(r.waiters[len(ws):])
			r.waiters = ws
			if r.off >= n {
				pv.complete(r, zx.ErrOutOfRange)
				return
			}
			r.pending -= min(r.pending, r.end-n)
			r.end = n
			if r.pending == 0 {
				pv.complete(r, zx.ErrOk)
			}
		})
	}
}

// CommittedBytes is ZX_INFO_VMO's committed_bytes: resident pages that are
// not zero markers.
func (pv *pagedVMO) CommittedBytes(v *vmo.VMO) uint64 {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	pv.collect(0, pv.pages(), false)
	return pv.table.committed * zx.PageSize
}

// Mapped registers a new mapping of the VMO with the process's userfaultfd.
func (pv *pagedVMO) Mapped(v *vmo.VMO, vm *vmo.Mapping) error { return pv.mapped(vm, 0) }

// mapped registers vm, a mapping of this VMO or of a slice of it that starts
// base bytes into it.
func (pv *pagedVMO) mapped(vm *vmo.Mapping, base uint64) error {
	m := &mapping{vm: vm, pv: pv, u: pv.r.u, start: vm.Addr, end: vm.Addr + uintptr(vm.Len), base: base}
	if pv.async {
		m.u = pv.r.ua
	}
	vm.Priv = m
	pv.r.addMapping(m)
	// MISSING: absent pages fault (READ). WP: every page of the mapping is
	// write-protected (on a memfd, empty page-table entries get a marker), so
	// the first write to each page faults and dirty tracking sees it.
	if _, err := m.u.Register(m.start, m.end-m.start, uffd.RegisterModeMissing|uffd.RegisterModeWP); err != nil {
		pv.r.removeMapping(m)
		return zx.Errorf(zx.ErrNoMemory, "registering mapping [%#x, %#x) with userfaultfd: %v", m.start, m.end, err)
	}
	if err := m.u.WriteProtect(m.start, m.end-m.start, uffd.WriteProtectModeWP); err != nil {
		_ = m.u.Unregister(m.start, m.end-m.start)
		pv.r.removeMapping(m)
		return zx.Errorf(zx.ErrNoMemory, "write-protecting mapping [%#x, %#x): %v", m.start, m.end, err)
	}
	pv.mu.Lock()
	pv.mappings = append(pv.mappings, m)
	pv.mu.Unlock()
	return nil
}

// Unmapping collects the writes made through [start, end) of a mapping
// before it is unmapped: with async write-protect that state is in the
// page tables and goes with them.
func (pv *pagedVMO) Unmapping(v *vmo.VMO, vm *vmo.Mapping, start, end uintptr) {
	m, ok := vm.Priv.(*mapping)
	if !ok || !pv.async {
		return
	}
	pv.mu.Lock()
	defer pv.mu.Unlock()
	pv.collectRange(m, start, end, false)
}

// Unmapped forgets a mapping that is gone and wakes its faulters (they
// retry and take SIGSEGV on the hole).
func (pv *pagedVMO) Unmapped(v *vmo.VMO, vm *vmo.Mapping) {
	m, ok := vm.Priv.(*mapping)
	if !ok {
		return
	}
	pv.r.removeMapping(m)
	pv.mu.Lock()
	defer pv.mu.Unlock()
	for i, x := range pv.mappings {
		if x == m {
			pv.mappings = append(pv.mappings[:i], pv.mappings[i+1:]...)
			break
		}
	}
	for k := reqKind(0); k < numKinds; k++ {
		for _, r := range pv.tracker.reqs[k] {
			r.mapped = slices.DeleteFunc(r.mapped, func(mw mappedWaiter) bool { return mw.m == m })
		}
	}
	// The range is unmapped already (and its addresses may be reused): drop
	// its poison entries without touching the address space.
	pv.poisoned = slices.DeleteFunc(pv.poisoned, func(e poisonEntry) bool { return e.m == m })
	pv.signalled = slices.DeleteFunc(pv.signalled, func(e signalled) bool { return e.m == m })
	_ = m.u.Wake(m.start, m.end-m.start)
}

// Destroyed is called when the VMO's last handle and mapping are gone: the
// pager gets its COMPLETE packet (unless it was detached already or the
// pager is closed) and the supply window goes.
func (pv *pagedVMO) Destroyed(v *vmo.VMO) {
	pv.mu.Lock()
	pv.detachLocked(true)
	pv.unmapWindow()
	pv.mu.Unlock()
	if pv.pager != nil {
		pv.pager.forget(pv)
	}
}

// Fail is zx_pager_op_range(ZX_PAGER_OP_FAIL) after the common checks:
// outstanding READ and DIRTY requests over [off, off+length) fail with st
// under the rule of spec §3.4. BAD_STATE after detach.
func (p *Pager) Fail(v *vmo.VMO, off, length uint64, st zx.Status) error {
	pv, ok := p.owned(v)
	if !ok {
		return zx.Errorf(zx.ErrInvalidArgs, "VMO %d was not created by pager %d", v.Koid(), p.koid)
	}
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if pv.detached || pv.closed {
		return zx.Errorf(zx.ErrBadState, "VMO %d is detached from its pager", v.Koid())
	}
	if end := off + length; end < off || end > pv.pages()*zx.PageSize {
		return zx.Errorf(zx.ErrOutOfRange, "fail [%#x, +%#x) beyond VMO size %#x", off, length, pv.pages()*zx.PageSize)
	}
	if length > 0 {
		pv.fail(off/zx.PageSize, (off+length)/zx.PageSize, st)
	}
	return nil
}

// Stats is zx_pager_query_vmo_stats after the checks: whether the VMO was
// modified (written, through a mapping or zx_vmo_write, resized, zeroed)
// since the last reset (ZX_PAGER_VMO_STATS_MODIFIED), clearing the flag
// when reset is set.
func (p *Pager) Stats(v *vmo.VMO, reset bool) (modified bool, err error) {
	pv, ok := p.owned(v)
	if !ok {
		return false, zx.Errorf(zx.ErrInvalidArgs, "VMO %d was not created by pager %d", v.Koid(), p.koid)
	}
	pv.mu.Lock()
	defer pv.mu.Unlock()
	pv.collect(0, pv.pages(), false)
	m := pv.modified
	if reset {
		pv.modified = false
	}
	return m, nil
}

func preadFull(fd int, p []byte, off uint64) error {
	for len(p) > 0 {
		n, err := unix.Pread(fd, p, int64(off))
		if err == unix.EINTR {
			continue
		}
		if err == unix.EFAULT {
			return zx.Errorf(zx.ErrInvalidArgs, "pread at %#x: the buffer is not writable memory", off)
		}
		if err != nil {
			return zx.Errorf(zx.ErrIO, "pread at %#x: %v", off, err)
		}
		if n == 0 {
			clear(p) // past the memfd's end: zeros
			return nil
		}
		p, off = p[n:], off+uint64(n)
	}
	return nil
}

func pwriteFull(fd int, p []byte, off uint64) error {
	for len(p) > 0 {
		n, err := unix.Pwrite(fd, p, int64(off))
		if err == unix.EINTR {
			continue
		}
		if err == unix.EFAULT {
			return zx.Errorf(zx.ErrInvalidArgs, "pwrite at %#x: the buffer is not readable memory", off)
		}
		if err != nil {
			return zx.Errorf(zx.ErrNoMemory, "pwrite at %#x: %v", off, err)
		}
		p, off = p[n:], off+uint64(n)
	}
	return nil
}
