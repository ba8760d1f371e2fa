package pager

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// pagedVMO is the pager's state for one pager-backed VMO, and the VMO's
// vmo.Source. One mutex guards it all; there is no global lock on the fault
// path (the mapping table is read lock-free).
type pagedVMO struct {
	pager *Pager
	vmo   *vmo.VMO
	r     *faultReader
	trap  bool // ZX_VMO_TRAP_DIRTY: writes to clean pages post DIRTY requests
	async bool // dirtiness tracked by async write-protect + PAGEMAP_SCAN (not trap)

	mu       sync.Mutex
	table    *table
	tracker  tracker
	proxy    proxy
	mappings []*mapping
	window   uintptr // supply window: a registered mapping of the whole memfd, never touched
	winLen   uintptr
	winMap   *mapping // the window's entry in the fault reader's table
	detached bool     // zx_pager_detach_vmo, or the VMO was destroyed
	closed   bool     // the pager's last handle was closed
	modified bool     // ZX_PAGER_VMO_STATS_MODIFIED
	poisoned []poisonEntry
	// signalled: threads failed with a signal the Go runtime's handler
	// received, whose retry must fail again (sigbus.go).
	signalled []signalled

	clone *cloneLink // set for a copy-on-write clone (clone.go); pager is nil then
}

// mapping is the pager's view of one mapping of a pager VMO (vmo.Mapping.Priv).
type mapping struct {
	vm         *vmo.Mapping
	pv         *pagedVMO
	u          *uffd.UFFD // the userfaultfd the range is registered with
	start, end uintptr
	window     bool   // a supply window, not a user mapping
	minor      bool   // registered MINOR too (a detached async VMO, settle.go); guarded by pv.mu
	base       uint64 // byte offset of the mapped VMO in pv's VMO: a slice's offset, else 0
}

// off is the byte offset in pv's VMO of the mapping's first page.
func (m *mapping) off() uint64 { return m.base + m.vm.Offset }

// pageOf returns the VMO page behind a page-aligned address of m.
func (m *mapping) pageOf(addr uintptr) uint64 {
	return (m.off() + uint64(addr-m.start)) / zx.PageSize
}

// addrOf returns the address of VMO page pg in m, and whether m maps it.
func (m *mapping) addrOf(pg uint64) (uintptr, bool) {
	off := pg * zx.PageSize
	if off < m.off() || off >= m.off()+m.vm.Len {
		return 0, false
	}
	return m.start + uintptr(off-m.off()), true
}

// pageRange returns the part of VMO pages [off, end) that m maps, as addresses.
func (m *mapping) pageRange(off, end uint64) (uintptr, uintptr, bool) {
	first := m.off() / zx.PageSize
	last := (m.off() + m.vm.Len) / zx.PageSize
	off, end = max(off, first), min(end, last)
	if off >= end {
		return 0, 0, false
	}
	a, _ := m.addrOf(off)
	return a, a + uintptr(end-off)*pageSize, true
}

func (pv *pagedVMO) pages() uint64 { return pv.table.pages }

// ---- faults ----------------------------------------------------------------

// onFault handles a userfaultfd fault on page-aligned addr of mapping m.
func (pv *pagedVMO) onFault(m *mapping, addr uintptr, flags uffd.PagefaultFlags, tid uint32) {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	pg := m.pageOf(addr)
	if pg >= pv.pages() {
		// Beyond the VMO's end (a shrink raced the fault): the retry raises SIGBUS.
		_ = m.u.Wake(addr, pageSize)
		return
	}
	s := pv.table.get(pg)
	if flags&uffd.PagefaultFlagWP != 0 {
		pv.onWriteFault(m, addr, pg, s, tid)
		return
	}
	if flags&uffd.PagefaultFlagMinor != 0 {
		pv.onMinorFault(m, addr, pg, s, tid)
		return
	}
	if s.present() {
		if s.zero() {
			pv.materializeZero(pg)
		}
		if flags&uffd.PagefaultFlagWrite != 0 && pv.trap && !writable(s) {
			// A write to a page with no page yet (a zero marker or a
			// dirty zero range) of a TRAP_DIRTY VMO: it needs its DIRTY
			// request like a write-protect fault would.
			pv.onWriteFault(m, addr, pg, s, tid)
			return
		}
		_ = m.u.Wake(addr, pageSize)
		return
	}
	if pv.detached || pv.closed || len(pv.signalled) > 0 && pv.retriedAfterSignal(m, addr, tid) {
		pv.poison(m, addr, tid)
		return
	}
	r, created := pv.tracker.lookupOrCreate(kindRead, pg, pg+1)
	r.mapped = append(r.mapped, mappedWaiter{m: m, page: pg, addr: addr, tid: tid})
	if created {
		pv.proxy.send(r)
	}
}

// materializeZero gives a zero page (marker or zero range) a real zero page
// in the memfd so a mapping can map it; EEXIST means one is already there.
func (pv *pagedVMO) materializeZero(pg uint64) {
	_, _ = pv.r.u.Zeropage(pv.window+uintptr(pg)*pageSize, pageSize, uffd.ZeropageModeDontWake)
}

// ---- request completion ------------------------------------------------------

// resolve accounts pages [off, end) as supplied for READ requests (or
// dirtied, for DIRTY requests): PageSource::ResolveRequests plus early wake.
func (pv *pagedVMO) resolve(k reqKind, off, end uint64) {
	pv.tracker.overlapping(k, off, end, func(r *request) {
		lo, hi := max(off, r.off), min(end, r.end)
		// Early wake: every waiter whose next page just arrived runs again.
		for _, w := range r.waiters {
			if w.need >= lo && w.need < hi {
				w.wake(zx.ErrOk)
			}
		}
		if r.wake >= lo && r.wake < hi {
			r.wake = hi
		}
		ms := r.mapped[:0]
		for _, mw := range r.mapped {
			if mw.page < lo || mw.page >= hi {
				ms = append(ms, mw)
				continue
			}
			if k == kindDirty {
				// The writer may go on: its page is dirty now.
				pv.modified = true
				_ = mw.m.u.WriteProtect(mw.addr, pageSize, 0)
			} else {
				_ = mw.m.u.Wake(mw.addr, pageSize)
			}
		}
		clear(r.mapped[len(ms):])
		r.mapped = ms
		if n := hi - lo; n < r.pending {
			r.pending -= n
			return
		}
		pv.complete(r, zx.ErrOk)
	})
}

// complete finishes r with status st (CompleteRequestLocked): the packet is
// withdrawn if unread, explicit waiters get st, mapped waiters are woken to
// retry (st OK) or killed with SIGBUS (st a failure).
func (pv *pagedVMO) complete(r *request, st zx.Status) {
	pv.tracker.remove(r)
	pv.proxy.clear(r)
	for _, w := range r.waiters {
		w.req = nil
		w.wake(st)
	}
	if st == zx.ErrOk {
		for _, mw := range r.mapped {
			_ = mw.m.u.Wake(mw.addr, pageSize)
		}
	} else {
		pv.poisonWaiters(r.mapped)
	}
	pv.tracker.recycle(r)
}

// fail implements ZX_PAGER_OP_FAIL over pages [off, end) (spec §3.4): a
// request whose next needed page is in the range fails with st; otherwise
// only the waiters whose own next page is in the range fail, and the failed
// pages count as resolved, so the request completes when the rest is
// supplied and its waiters ask again for what is still missing.
func (pv *pagedVMO) fail(off, end uint64, st zx.Status) {
	for k := reqKind(0); k < numKinds; k++ {
		pv.tracker.overlapping(k, off, end, func(r *request) {
			if r.wake >= off && r.wake < end {
				pv.failRequest(r, off, end, st)
				return
			}
			ws := r.waiters[:0]
			for _, w := range r.waiters {
				if w.need >= off && w.need < end {
					w.req = nil
					if w == r.primary {
						r.primary = nil
					}
					w.wake(st)
				} else {
					ws = append(ws, w)
				}
			}
			clear(r.waiters[len(ws):])
			r.waiters = ws
			var failed []mappedWaiter
			ms := r.mapped[:0]
			for _, mw := range r.mapped {
				if mw.page >= off && mw.page < end {
					failed = append(failed, mw)
				} else {
					ms = append(ms, mw)
				}
			}
			clear(r.mapped[len(ms):])
			r.mapped = ms
			pv.poisonWaiters(failed)
			lo, hi := max(off, r.off), min(end, r.end)
			if n := hi - lo; n < r.pending {
				r.pending -= n
				return
			}
			pv.complete(r, zx.ErrOk)
		})
	}
}

// failRequest fails request r, whose next needed page is in the failed
// range [off, end): the request is gone, and each waiter whose own next
// page is in the range gets st (a mapped one is killed); the overlap
// waiters that need a page outside the range are woken to retry, and ask
// again for what they still need (spec §3.4: overlap waiters get their own
// failure status only if the failed range covers their next page).
func (pv *pagedVMO) failRequest(r *request, off, end uint64, st zx.Status) {
	pv.tracker.remove(r)
	pv.proxy.clear(r)
	for _, w := range r.waiters {
		w.req = nil
		if w == r.primary || w.need >= off && w.need < end {
			// The primary's next page is r.wake (its own need may be
			// stale after an early wake it has not yet acted on).
			w.wake(st)
		} else {
			w.wake(zx.ErrOk)
		}
	}
	failed := r.mapped[:0]
	for _, mw := range r.mapped {
		if mw.page >= off && mw.page < end {
			failed = append(failed, mw)
		} else {
			_ = mw.m.u.Wake(mw.addr, pageSize)
		}
	}
	pv.poisonWaiters(failed)
	pv.tracker.recycle(r)
}

// ---- explicit waits (zx_vmo_read / write / COMMIT) ---------------------------

// request makes w wait for page pg, asking for pages [pg, end) if no
// outstanding request covers pg. If w's current request still covers pg,
// it keeps waiting on it: no new packet (re-wait after an early wake).
func (pv *pagedVMO) request(w *waiter, k reqKind, pg, end uint64) {
	w.need = pg
	if r := w.req; r != nil && r.kind == k && r.off <= pg && pg < r.end {
		return
	}
	pv.dropWaiter(w)
	r, created := pv.tracker.lookupOrCreate(k, pg, end)
	r.waiters = append(r.waiters, w)
	w.req = r
	if created {
		r.primary = w
		pv.proxy.send(r)
	}
}

// dropWaiter detaches w from its request; a request nobody waits for any
// more is cancelled (PageSource::CancelRequest), its packet withdrawn if unread.
func (pv *pagedVMO) dropWaiter(w *waiter) {
	r := w.req
	if r == nil {
		return
	}
	w.req = nil
	if r.primary == w {
		r.primary = nil
	}
	for i, x := range r.waiters {
		if x == w {
			r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
			break
		}
	}
	if len(r.waiters) == 0 && len(r.mapped) == 0 {
		pv.tracker.remove(r)
		pv.proxy.clear(r)
		pv.tracker.recycle(r)
	}
}

// wait blocks (unlocked) until w is woken and returns its status. Callers
// hold pv.mu and get it back held.
func (pv *pagedVMO) wait(w *waiter) zx.Status {
	pv.mu.Unlock()
	<-w.ch
	pv.mu.Lock()
	return w.status
}

// usable returns the status a new request on this VMO would fail with, or OK.
func (pv *pagedVMO) usable() zx.Status {
	if pv.detached || pv.closed {
		return zx.ErrBadState
	}
	return zx.ErrOk
}

// ---- poison: failing a mapped access ------------------------------------------

// poisonEntry is a page of a mapping poisoned to fail one blocked access.
type poisonEntry struct {
	m    *mapping
	addr uintptr
	tid  uint32
}

// poison fails a thread blocked in a fault on addr. A fault taken in user
// mode is failed by a SIGBUS sent to that thread alone (killFault,
// sigbus.go). Otherwise UFFDIO_POISON installs a marker in that mapping's
// page table and wakes the thread, whose retried access raises SIGBUS (an
// access from inside the kernel gets EFAULT). The marker is temporary:
// failure is not sticky (spec §3.4), so it is cleared once the thread has
// run (see reaper), or before a supply of the page. That holds on a
// detached or closed VMO too: a later access that needs the pager fails
// again by itself, and pages that stay (dirty ones) must stay readable.
func (pv *pagedVMO) poison(m *mapping, addr uintptr, tid uint32) {
	if sent, goHandler := killFault(tid, addr); sent {
		// A user-mode fault: that thread alone takes SIGBUS (sigbus.go).
		if goHandler {
			pv.noteSignalled(m, addr, tid)
		}
		return
	}
	if pv.poisonedAt(m, addr) {
		// A marker is there already (another failed thread on this page):
		// poisoning again would zap it first, and in that gap the earlier
		// thread could map the page and write. Just wait for this thread too.
		pv.poisoned = append(pv.poisoned, poisonEntry{m: m, addr: addr, tid: tid})
		return
	}
	// POISON only fills empty entries: a writer blocked on a present page
	// has the page mapped (read-only), and a write-protect marker also makes
	// the entry non-empty. Zap the page from this mapping (it stays in the
	// memfd; zapping leaves a marker) and lift the protection (removing the
	// marker) first. Never unprotect a mapped page: the write would land.
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, addr, pageSize, unix.MADV_DONTNEED)
	_ = m.u.WriteProtect(addr, pageSize, uffd.WriteProtectModeDontWake)
	if _, err := m.u.Poison(addr, pageSize, 0); err != nil {
		// EEXIST: another thread mapped the page in the meantime. Protect it
		// again (tracking must hold) and let the thread retry its access.
		_ = m.u.WriteProtect(addr, pageSize, uffd.WriteProtectModeWP)
		_ = m.u.Wake(addr, pageSize)
		return
	}
	pv.poisoned = append(pv.poisoned, poisonEntry{m: m, addr: addr, tid: tid})
	theReaper.watch(pv)
}

// poisonWaiters fails a batch of mapped waiters. Several threads may wait
// on one page: each needs its own signal, or its own entry under the one
// marker (which stays until every failed thread has run; poison() sees the
// marker and only records the later ones).
func (pv *pagedVMO) poisonWaiters(ms []mappedWaiter) {
	for _, mw := range ms {
		pv.poison(mw.m, mw.addr, mw.tid)
	}
}

// poisonedAt reports whether a live poison entry holds a marker at addr of m.
func (pv *pagedVMO) poisonedAt(m *mapping, addr uintptr) bool {
	for _, e := range pv.poisoned {
		if e.m == m && e.addr == addr {
			return true
		}
	}
	return false
}

// clearPoison forgets the entries for which keep returns false and removes
// their markers, except where a kept entry (another failed thread that has
// not run yet) still needs the marker.
func (pv *pagedVMO) clearPoison(keep func(e *poisonEntry) bool) {
	var gone []poisonEntry
	es := pv.poisoned[:0]
	for _, e := range pv.poisoned {
		if keep(&e) {
			es = append(es, e)
		} else {
			gone = append(gone, e)
		}
	}
	clear(pv.poisoned[len(es):])
	pv.poisoned = es
	for i, e := range gone {
		if pv.poisonedAt(e.m, e.addr) {
			continue // still needed
		}
		done := false
		for _, prev := range gone[:i] {
			if prev.m == e.m && prev.addr == e.addr {
				done = true
				break
			}
		}
		if done {
			continue
		}
		// MADV_DONTNEED zaps the marker; the page is absent, so nothing else
		// changes but the write-protect marker, which is installed again.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, e.addr, pageSize, unix.MADV_DONTNEED)
		_ = e.m.u.WriteProtect(e.addr, pageSize, uffd.WriteProtectModeWP)
	}
}

// clearPoisonRange clears markers over VMO pages [off, end) (before a supply).
func (pv *pagedVMO) clearPoisonRange(off, end uint64) {
	if len(pv.poisoned) == 0 {
		return
	}
	pv.clearPoison(func(e *poisonEntry) bool {
		pg := e.m.pageOf(e.addr)
		return pg < off || pg >= end
	})
}
