package pager

import (
	"errors"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// Copy-on-write clones of pager VMOs (zx_vmo_create_child with
// ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, spec §3.6).
//
// A clone is a VMO of its own: its own memfd, page-state table, request
// tracker, supply window and mappings, handled by the same code as a pager
// VMO (a pagedVMO with a cloneLink). What differs is where its absent pages
// come from: not from a pager through a port, but from its parent, read
// through the parent's own Read path (vmo.VMO.Read), which for a pager root
// requests the pages (READ packets with the root's key and root offsets)
// and waits without faulting, and for an intermediate clone reads through
// to its own parent. So:
//   - a mapped access to an absent clone page is a userfaultfd fault like
//     any other; the request tracker coalesces it, and instead of posting a
//     packet the proxy starts a fetch: the parent's bytes are read into a
//     buffer and copied into the clone's supply window with UFFDIO_COPY,
//     then the faulters are woken. A fetch that fails (the root was
//     detached, or its pager failed the pages) fails the faulters as a
//     pager failure does (SIGBUS) and zx_vmo_read/write/COMMIT with its status.
//   - zx_vmo_read of an absent clone page reads through the parent without
//     copying (the clone keeps seeing the parent until it copies the page,
//     and commits nothing).
//   - zx_vmo_write and COMMIT copy ("fork") the page first, then write.
//   - "At least on write" allows a clone to copy a page before it is
//     written, and this one does: the first mapped access, read or write,
//     copies the page. A copied page that was never written stays Clean
//     (dirtiness is tracked as for non-TRAP_DIRTY pager VMOs: async
//     write-protect and PAGEMAP_SCAN), and a Clean page is only a cache of
//     the parent's: it is dropped, to be fetched again, whenever the parent's
//     view changes under it: when the root is detached (the refetch then
//     fails: shared pages fail, forked ones stay) and when the parent shrinks.
//   - Pages from the clone's limit on read as zero and are never fetched:
//     the limit starts at the end of the parent's range and only goes down
//     (a parent shrink clips the clone for good; so does shrinking the clone).
//   - Writes to a clone never touch the root: no DIRTY request, no dirty
//     page and no modified flag there. The clone is not owned by the pager:
//     supply_pages, op_range, detach and the dirty and stats queries on it
//     are INVALID_ARGS. DECOMMIT is NOT_SUPPORTED (as on any pager VMO).
type cloneLink struct {
	parent *vmo.VMO
	offset uint64 // byte offset of the clone's page 0 in the parent
	// Guarded by the clone's pagedVMO.mu:
	limit uint64 // clone pages below limit show the parent; from limit on, zero
	gen   uint64 // bumped when Clean pages are dropped: a fetch begun earlier fetches again
}

var _ vmo.Cloner = (*pagedVMO)(nil)
var _ vmo.ParentResizeObserver = (*pagedVMO)(nil)

// Clone makes a copy-on-write clone of [offset, offset+size) of parent, a
// pager VMO or a clone of one (vmo.Cloner; package vmo has checked the
// options and range and links the clone to its parent).
func (pv *pagedVMO) Clone(parent *vmo.VMO, offset, size, contentSize uint64, resizable bool) (*vmo.VMO, error) {
	var opts uint32
	if resizable {
		opts = zx.VMOResizable
	}
	pages := size / zx.PageSize
	cv := &pagedVMO{r: pv.r, async: true}
	cv.table = newTable(pages)
	cv.clone = &cloneLink{parent: parent, offset: offset, limit: visiblePages(offset, parent.Size(), pages)}
	cv.proxy.fetch = cv.startFetch
	v, err := vmo.NewPagedContent(size, contentSize, opts, cv)
	if err != nil {
		return nil, err
	}
	cv.vmo = v
	if err := cv.mapWindow(size); err != nil {
		v.OnZeroHandles()
		return nil, err
	}
	return v, nil
}

// visiblePages is how many of a clone's pages (at most pages) lie inside a
// parent of parentSize bytes when the clone starts at offset.
func visiblePages(offset, parentSize, pages uint64) uint64 {
	if offset >= parentSize {
		return 0
	}
	return min(pages, (parentSize-offset)/zx.PageSize)
}

// ParentResized clips the clone's view of a parent that shrank
// (vmo.ParentResizeObserver): from the new end on, pages that were not
// written read as zero, even after the parent grows again.
func (pv *pagedVMO) ParentResized(child *vmo.VMO, parentSize uint64) {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	c := pv.clone
	if c == nil {
		return
	}
	if lim := visiblePages(c.offset, parentSize, pv.pages()); lim < c.limit {
		c.limit = lim
		pv.dropClean(lim, pv.pages())
	}
}

// dropClean forgets the Clean (copied, never written) pages of [from, to)
// of a clone, and the same range of its own clones: they are punched out of
// the memfd (which unmaps them everywhere) and fetched again on the next
// access. Pages written since they were copied stay. Called with pv.mu held.
func (pv *pagedVMO) dropClean(from, to uint64) {
	to = min(to, pv.pages())
	if from >= to {
		return
	}
	pv.collect(from, to, false) // pages written through mappings are Dirty, and stay
	for pg := from; pg < to; {
		if pv.table.get(pg).state() != stClean {
			pg++
			continue
		}
		end := pg
		for end < to && pv.table.get(end).state() == stClean {
			pv.table.set(end, stAbsent)
			end++
		}
		pv.punch(pg, end)
		pg = end
	}
	pv.clone.gen++
	pv.dropChildren(from, to)
}

// dropChildren drops the Clean pages of every clone of this VMO over the
// range they see of pages [from, to) of it, also of clones made of slices
// of it. Lock order: parent, then child.
func (pv *pagedVMO) dropChildren(from, to uint64) {
	if pv.vmo != nil {
		dropCloneChildren(pv.vmo, from, to)
	}
}

// dropCloneChildren drops the Clean pages over pages [from, to) of v in
// v's clones, and goes through v's slices to theirs.
func dropCloneChildren(v *vmo.VMO, from, to uint64) {
	for _, cv := range v.Children() {
		var first uint64 // cv's page 0 as a page of v
		switch s := cv.Source().(type) {
		case *pagedVMO:
			if s.clone == nil {
				continue
			}
			first = s.clone.offset / zx.PageSize
		case *sliceSource:
			first = (cv.Base() - v.Base()) / zx.PageSize
		default:
			continue
		}
		if to <= first {
			continue
		}
		lo, hi := max(from, first)-first, to-first
		switch s := cv.Source().(type) {
		case *pagedVMO:
			s.mu.Lock()
			s.dropClean(lo, hi)
			s.mu.Unlock()
		case *sliceSource:
			dropCloneChildren(cv, lo, hi)
		}
	}
}

// ownCommitted makes the copied pages of [a, b) the clone's own (COMMIT on
// a clone forks every page): they are kept, like written pages, when the
// parent's view changes. Called with pv.mu held.
func (pv *pagedVMO) ownCommitted(a, b uint64) {
	for pg := a; pg < b; pg++ {
		if pv.table.get(pg).state() == stClean {
			pv.setDirty(pg)
		}
	}
}

// readClone is zx_vmo_read on a clone: copied pages come from the clone's
// memfd, pages from the limit on are zero, the others are read through the
// parent (which may block on the root's pager) without being copied.
func (pv *pagedVMO) readClone(v *vmo.VMO, p []byte, off uint64) error {
	const present, parent, zero = 0, 1, 2
	c := pv.clone
	end := off + uint64(len(p))
	pv.mu.Lock()
	defer pv.mu.Unlock()
	class := func(pg uint64) int {
		switch {
		case pv.table.get(pg).present():
			return present
		case pg >= c.limit:
			return zero
		}
		return parent
	}
	for cur := off; cur < end; {
		pg := cur / zx.PageSize
		if pg >= pv.pages() {
			return zx.Errorf(zx.ErrOutOfRange, "read at %#x beyond clone %d of %d pages", cur, v.Koid(), pv.pages())
		}
		k := class(pg)
		runEnd := pg + 1
		for runEnd*zx.PageSize < end && runEnd < pv.pages() && class(runEnd) == k {
			runEnd++
		}
		hi := min(end, runEnd*zx.PageSize)
		dst := p[cur-off : hi-off]
		switch k {
		case present:
			if err := preadFull(v.Fd(), dst, cur); err != nil {
				return err
			}
		case zero:
			clear(dst)
		case parent:
			gen, limit := c.gen, c.limit
			pv.mu.Unlock()
			err := c.parent.Read(dst, c.offset+cur)
			pv.mu.Lock()
			if err != nil {
				if c.gen != gen || c.limit != limit || pv.clipToParent(err) {
					continue // the view changed meanwhile (a shrink, a detach): look again
				}
				return err
			}
		}
		cur = hi
	}
	return nil
}

// prefetchClone is ALWAYS_NEED or PREFETCH on a clone: the parent is asked
// for the pages the clone has not copied (below its limit); nothing is
// copied into the clone.
func (pv *pagedVMO) prefetchClone(op uint32, from, to uint64) error {
	c := pv.clone
	pv.mu.Lock()
	type run struct{ a, b uint64 }
	var runs []run
	for pg := from; pg < min(to, c.limit); {
		a := pv.table.firstAbsent(pg, min(to, c.limit))
		if a >= min(to, c.limit) {
			break
		}
		b := pv.table.absentRunEnd(a, min(to, c.limit))
		runs = append(runs, run{a, b})
		pg = b
	}
	pv.mu.Unlock()
	for _, r := range runs {
		err := c.parent.OpRange(op, c.offset+r.a*zx.PageSize, (r.b-r.a)*zx.PageSize, nil)
		if err != nil && zx.StatusOf(err) != zx.ErrOutOfRange {
			return err
		}
		// OUT_OF_RANGE: the parent shrank meanwhile, and the clone with it.
	}
	return nil
}

// fetchChunkPages is how many pages a fetch copies at a time.
const fetchChunkPages = 16

var fetchBufs = sync.Pool{New: func() any { return new([fetchChunkPages * zx.PageSize]byte) }}

// startFetch is the clone's proxy.send: it fetches pages [off, end) from
// the parent in a goroutine of its own (the parent's Read may block until
// the root's pager answers). Called with pv.mu held.
func (pv *pagedVMO) startFetch(off, end uint64) {
	go pv.fetch(off, end)
}

// fetch copies pages [off, end) of the clone's view of its parent into the
// clone (the absent ones), chunk by chunk, resolving the requests over each
// chunk as it lands (early wake). A longer run is first prefetched as a
// whole, so the root sees one request per absent run, as Zircon's clone
// commit makes. A failure of the parent fails the requests (spec §3.4).
func (pv *pagedVMO) fetch(off, end uint64) {
	c := pv.clone
	if end-off > fetchChunkPages {
		pv.mu.Lock()
		lim := min(end, c.limit)
		pv.mu.Unlock()
		if off < lim {
			_ = c.parent.OpRange(zx.VMOOpPrefetch, c.offset+off*zx.PageSize, (lim-off)*zx.PageSize, nil)
		}
	}
	buf := fetchBufs.Get().(*[fetchChunkPages * zx.PageSize]byte)
	defer fetchBufs.Put(buf)
	for cur := off; cur < end; {
		n := min(end-cur, fetchChunkPages)
		pv.mu.Lock()
		if pv.detached || pv.window == 0 || cur >= pv.pages() {
			pv.mu.Unlock()
			return
		}
		gen, limit := c.gen, c.limit
		pv.mu.Unlock()
		// Pages [cur, cur+inside) come from the parent, the rest are zero.
		inside := uint64(0)
		if cur < limit {
			inside = min(n, limit-cur)
		}
		var err error
		if inside > 0 {
			err = c.parent.Read(buf[:inside*zx.PageSize], c.offset+cur*zx.PageSize)
		}
		pv.mu.Lock()
		if c.gen != gen || c.limit != limit || pv.clipToParent(err) {
			pv.mu.Unlock()
			continue // the view changed while the parent was read: read again
		}
		if err != nil {
			pv.fail(cur, end, zx.StatusOf(err))
			pv.mu.Unlock()
			return
		}
		if !pv.detached && pv.window != 0 {
			last := min(cur+n, pv.pages())
			if err := pv.installFetched(cur, min(cur+inside, last), last, buf); err != nil {
				pv.fail(cur, end, zx.StatusOf(err))
				pv.mu.Unlock()
				return
			}
			pv.resolve(kindRead, cur, cur+n)
		}
		pv.mu.Unlock()
		cur += n
	}
}

// installFetched installs the absent pages of [from, to) from buf (whose
// first byte is page from) and zero pages over [to, end) through the supply
// window, as Clean pages. Called with pv.mu held.
func (pv *pagedVMO) installFetched(from, to, end uint64, buf *[fetchChunkPages * zx.PageSize]byte) error {
	for pg := from; pg < end; {
		if pv.table.get(pg).present() {
			pg++
			continue
		}
		data := pg < to
		lim := end
		if data {
			lim = to
		}
		runEnd := pv.table.absentRunEnd(pg, lim)
		var src uintptr
		if data {
			src = uintptr(unsafe.Pointer(&buf[(pg-from)*zx.PageSize]))
		}
		done, err := pv.fill(pg, runEnd-pg, data, src)
		runtime.KeepAlive(buf)
		st := stClean
		if !data {
			st |= flagZero
		}
		for i := uint64(0); i < done; i++ {
			pv.table.set(pg+i, st)
		}
		pg += done
		if err != nil {
			if isExist(err) {
				pv.table.set(pg, stClean) // present in the memfd after all
				pg++
				continue
			}
			return zx.Errorf(zx.ErrNoMemory, "installing clone page %d: %v", pg, err)
		}
	}
	return nil
}

// clipToParent handles a read of the parent that failed with OUT_OF_RANGE:
// the parent shrank and the clone has not heard yet. It clips the clone
// now and reports whether it did (the caller then looks again). Called with
// pv.mu held.
func (pv *pagedVMO) clipToParent(err error) bool {
	if err == nil || zx.StatusOf(err) != zx.ErrOutOfRange {
		return false
	}
	c := pv.clone
	lim := visiblePages(c.offset, c.parent.Size(), pv.pages())
	if lim >= c.limit {
		return false
	}
	c.limit = lim
	pv.dropClean(lim, pv.pages())
	return true
}

func isExist(err error) bool { return errors.Is(err, unix.EEXIST) }
