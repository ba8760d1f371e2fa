package pager

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// Dirty tracking (spec §3.8). Every mapping of a pager VMO is registered
// with write protection and protected whole, so the first write to a page
// through any mapping is a write-protect fault. For a page that is already
// Dirty the fault just lifts the protection. Otherwise the page must become
// Dirty first: at once for ordinary VMOs, through a ZX_PAGER_VMO_DIRTY
// request answered by ZX_PAGER_OP_DIRTY for ZX_VMO_TRAP_DIRTY ones.
// WRITEBACK_BEGIN protects every mapping again before the pages are reported
// AwaitingClean, so no write can slip past it.

// writable reports whether a write may land on a page in state s without
// dirtying it first: it is Dirty and backed by a real page (a dirty zero
// range still needs a page, and a DIRTY request when trapping).
func writable(s pageState) bool { return s.state() == stDirty && !s.zero() }

// onWriteFault handles a write-protect fault on page pg at addr of m.
func (pv *pagedVMO) onWriteFault(m *mapping, addr uintptr, pg uint64, s pageState, tid uint32) {
	switch {
	case !s.present():
		// Absent after all (decommitted under the fault): retry, and fault as missing.
		_ = m.u.Wake(addr, pageSize)
	case writable(s):
		_ = m.u.WriteProtect(addr, pageSize, 0)
	case !pv.trap:
		pv.setDirty(pg)
		pv.modified = true
		_ = m.u.WriteProtect(addr, pageSize, 0)
	case pv.detached || pv.closed || len(pv.signalled) > 0 && pv.retriedAfterSignal(m, addr, tid):
		pv.poison(m, addr, tid)
	default:
		r, created := pv.tracker.lookupOrCreate(kindDirty, pg, pg+1)
		r.mapped = append(r.mapped, mappedWaiter{m: m, page: pg, addr: addr, tid: tid})
		if created {
			pv.proxy.send(r)
		}
	}
}

// setDirty makes present page pg Dirty with a real page behind it.
func (pv *pagedVMO) setDirty(pg uint64) {
	if s := pv.table.get(pg); s.zero() {
		// A zero marker or zero range gets its real (zero) page now.
		_ = unix.Fallocate(pv.vmo.Fd(), 0, int64(pg*zx.PageSize), zx.PageSize)
	}
	pv.table.set(pg, stDirty)
}

// protect write-protects VMO pages [off, end) in every mapping (installing
// markers where no page is mapped). Protecting wakes nobody (the kernel
// refuses MODE_WP with MODE_DONTWAKE). A failure here would let writes slip
// past dirty tracking, so it is fatal.
func (pv *pagedVMO) protect(off, end uint64) {
	for _, m := range pv.mappings {
		if a, b, ok := m.pageRange(off, end); ok {
			if err := m.u.WriteProtect(a, b-a, uffd.WriteProtectModeWP); err != nil {
				panic(fmt.Sprintf("pager: write-protecting [%#x, %#x): %v", a, b, err))
			}
		}
	}
}

// punch frees the memfd pages of [off, end) and keeps every mapping
// write-protected there (freeing them unmaps them, and an unprotected entry
// would come back writable).
func (pv *pagedVMO) punch(off, end uint64) {
	_ = unix.Fallocate(pv.vmo.Fd(), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE,
		int64(off*zx.PageSize), int64((end-off)*zx.PageSize))
	pv.protect(off, end)
}

func (p *Pager) ownedRange(v *vmo.VMO, off, length uint64) (*pagedVMO, uint64, uint64, error) {
	pv, ok := p.owned(v)
	if !ok {
		return nil, 0, 0, zx.Errorf(zx.ErrInvalidArgs, "VMO %d was not created by pager %d", v.Koid(), p.koid)
	}
	pv.mu.Lock()
	if end := off + length; end < off || end > pv.pages()*zx.PageSize {
		size := pv.pages() * zx.PageSize
		pv.mu.Unlock()
		return nil, 0, 0, zx.Errorf(zx.ErrOutOfRange, "range [%#x, +%#x) beyond VMO size %#x", off, length, size)
	}
	return pv, off / zx.PageSize, (off + length + zx.PageSize - 1) / zx.PageSize, nil
}

// OpDirty is zx_pager_op_range(ZX_PAGER_OP_DIRTY) after the common checks:
// every page of the range becomes Dirty (clean pages, zero markers, zero
// ranges and AwaitingClean pages alike) and DIRTY requests over it are
// resolved. NOT_SUPPORTED without ZX_VMO_TRAP_DIRTY; OUT_OF_RANGE; NOT_FOUND
// if any page is not supplied (nothing changes then); BAD_STATE after detach.
func (p *Pager) OpDirty(v *vmo.VMO, off, length uint64) error {
	if pv, ok := p.owned(v); ok && !pv.trap {
		return zx.Errorf(zx.ErrNotSupported, "VMO %d was not created with ZX_VMO_TRAP_DIRTY", v.Koid())
	}
	pv, from, to, err := p.ownedRange(v, off, length)
	if err != nil {
		return err
	}
	defer pv.mu.Unlock()
	if pv.detached || pv.closed {
		return zx.Errorf(zx.ErrBadState, "VMO %d is detached from its pager", v.Koid())
	}
	if abs := pv.table.firstAbsent(from, to); abs < to {
		return zx.Errorf(zx.ErrNotFound, "page %d of VMO %d is not supplied", abs, v.Koid())
	}
	for pg := from; pg < to; pg++ {
		if !writable(pv.table.get(pg)) {
			pv.setDirty(pg)
		}
	}
	pv.resolve(kindDirty, from, to)
	return nil
}

// WritebackBegin is ZX_PAGER_OP_WRITEBACK_BEGIN (zeroRange: data =
// ZX_VMO_DIRTY_RANGE_IS_ZERO): Dirty pages in the range become AwaitingClean,
// after every mapping of them has been write-protected again, so a write
// from now on moves the page back to Dirty (through a DIRTY request when
// trapping). Other pages are untouched. Works after detach.
func (p *Pager) WritebackBegin(v *vmo.VMO, off, length uint64, zeroRange bool) error {
	pv, from, to, err := p.ownedRange(v, off, length)
	if err != nil {
		return err
	}
	defer pv.mu.Unlock()
	if pv.async {
		// Collect and re-protect the written pages in one step: protecting
		// without collecting would forget writes not yet collected.
		pv.collect(from, to, true)
	} else {
		pv.protect(from, to)
	}
	for pg := from; pg < to; pg++ {
		if s := pv.table.get(pg); s.state() == stDirty {
			pv.table.set(pg, stAwaitingClean|s&flagZero)
		}
	}
	return nil
}

// WritebackEnd is ZX_PAGER_OP_WRITEBACK_END: AwaitingClean pages in the
// range become Clean (mappings stay protected); pages written since BEGIN
// are Dirty again and stay so. A zero range that is cleaned becomes a gap
// the pager must supply from now on. Works after detach.
func (p *Pager) WritebackEnd(v *vmo.VMO, off, length uint64) error {
	pv, from, to, err := p.ownedRange(v, off, length)
	if err != nil {
		return err
	}
	defer pv.mu.Unlock()
	pv.collect(from, to, false) // pages written since BEGIN are Dirty again
	for pg := from; pg < to; pg++ {
		s := pv.table.get(pg)
		if s.state() != stAwaitingClean {
			continue
		}
		if s.zero() {
			pv.table.set(pg, stAbsent)
			pv.punch(pg, pg+1)
			continue
		}
		pv.table.set(pg, stClean)
	}
	return nil
}

// DirtyRanges is zx_pager_query_dirty_ranges after the checks: the maximal
// runs of Dirty and AwaitingClean pages in [off, off+length) (rounded out to
// pages), committed runs and zero runs (ZX_VMO_DIRTY_RANGE_IS_ZERO) as
// separate entries, in order. It writes at most len(out) entries and
// returns how many it wrote and, if count is set, how many there are in all.
func (p *Pager) DirtyRanges(v *vmo.VMO, off, length uint64, out []zx.VMODirtyRange, count bool) (actual, avail int, err error) {
	pv, from, to, err := p.ownedRange(v, off, length)
	if err != nil {
		return 0, 0, err
	}
	defer pv.mu.Unlock()
	pv.collect(from, to, false)
	emit := func(a, b uint64, zero bool) bool {
		if actual < len(out) {
			e := zx.VMODirtyRange{Offset: a * zx.PageSize, Length: (b - a) * zx.PageSize}
			if zero {
				e.Options = zx.VMODirtyRangeIsZero
			}
			out[actual] = e
			actual++
		}
		avail++
		return count || actual < len(out)
	}
	for pg := from; pg < to; {
		if pv.table.chunks[pg>>chunkShift] == nil {
			pg = (pg>>chunkShift + 1) << chunkShift
			continue
		}
		s := pv.table.get(pg)
		if st := s.state(); st != stDirty && st != stAwaitingClean {
			pg++
			continue
		}
		end := pg + 1
		for ; end < to; end++ {
			t := pv.table.get(end)
			if st := t.state(); (st != stDirty && st != stAwaitingClean) || t.zero() != s.zero() {
				break
			}
		}
		if !emit(pg, end, s.zero()) {
			break
		}
		pg = end
	}
	return actual, avail, nil
}

// zero is ZX_VMO_OP_ZERO on whole pages [from, to) of a pager VMO: every
// page becomes part of a dirty zero range with no request (zero markers are
// already zero and stay clean), committed pages are freed, and readers
// waiting for absent pages there are woken with zeros.
func (pv *pagedVMO) zero(from, to uint64) {
	for pg := from; pg < to; pg++ {
		if s := pv.table.get(pg); s.state() == stClean && s.zero() {
			continue
		}
		pv.table.set(pg, stDirty|flagZero)
	}
	pv.punch(from, to)
	pv.modified = true
	pv.resolve(kindRead, from, to)
}

// collect folds the writes made through the VMO's mappings into the
// page-state table, for VMOs whose dirtiness is tracked with async
// write-protect (the kernel lifts the protection on a write by itself, and
// PAGEMAP_SCAN reports the pages written since they were last protected).
// With rearm, the written pages are protected again in the same step. The
// written state lives in the page tables, so it is collected before any
// operation that reads dirtiness and before a mapping is removed.
func (pv *pagedVMO) collect(from, to uint64, rearm bool) {
	if !pv.async {
		return
	}
	for _, m := range pv.mappings {
		if a, b, ok := m.pageRange(from, to); ok {
			pv.collectRange(m, a, b, rearm)
		}
	}
}

// collectRange collects the written pages of [a, b) of mapping m.
func (pv *pagedVMO) collectRange(m *mapping, a, b uintptr, rearm bool) {
	var regions [64]uffd.PageRegion
	args := uffd.ScanArgs{Start: a, End: b, CategoryMask: uffd.PageIsWritten, ReturnMask: uffd.PageIsWritten}
	if rearm {
		args.Flags = uffd.ScanWPMatching
	}
	for args.Start < args.End {
		n, walkEnd, err := uffd.PagemapScan(pv.r.pagemap, &args, regions[:])
		if err != nil {
			// Losing track of written pages would lose data at writeback.
			panic(fmt.Sprintf("pager: PAGEMAP_SCAN of [%#x, %#x): %v", args.Start, args.End, err))
		}
		for _, rg := range regions[:n] {
			for addr := uintptr(rg.Start); addr < uintptr(rg.End); addr += pageSize {
				pg := m.pageOf(addr)
				if s := pv.table.get(pg); s.present() && !writable(s) {
					pv.setDirty(pg)
					pv.modified = true
				}
			}
		}
		// Fewer regions than room for them means the walk is complete (the
		// kernel's walk_end is not reliable for long result vectors).
		if n < len(regions) || walkEnd <= args.Start {
			return
		}
		args.Start = walkEnd
	}
}
