package pager

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// SupplyPages is zx_pager_supply_pages after the alignment and handle checks
// (spec §1.4): the pages [auxOff, auxOff+length) of aux become pages
// [off, off+length) of v. Pages already present in v are never replaced;
// aux pages that are not committed become zero pages; the aux range is
// decommitted afterwards. Requests covering the range are resolved and their
// waiters woken.
func (p *Pager) SupplyPages(v *vmo.VMO, off, length uint64, aux *vmo.VMO, auxOff uint64) error {
	pv, ok := p.owned(v)
	if !ok {
		return zx.Errorf(zx.ErrInvalidArgs, "VMO %d was not created by pager %d", v.Koid(), p.koid)
	}
	if aux.Source() != nil {
		return zx.Errorf(zx.ErrNotSupported, "aux VMO %d is pager-backed", aux.Koid())
	}
	// Zircon takes the aux pages (checking the aux range) before it looks at
	// the pager VMO's range and state.
	if end := auxOff + length; end < auxOff || end > aux.Size() {
		return zx.Errorf(zx.ErrOutOfRange, "aux range [%#x, +%#x) beyond aux size %#x", auxOff, length, aux.Size())
	}
	if err := pv.supplyLocked(v, off, length, aux, auxOff); err != nil {
		return err
	}
	// The aux pages are moved, not shared: the aux range reads zero
	// afterwards. Done without the VMO's lock, so faults go on meanwhile.
	if length == 0 {
		return nil
	}
	return aux.Decommit(auxOff, length)
}

// supplyLocked installs the pages and resolves requests under the VMO's lock.
func (pv *pagedVMO) supplyLocked(v *vmo.VMO, off, length uint64, aux *vmo.VMO, auxOff uint64) error {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if end := off + length; end < off || end > pv.pages()*zx.PageSize {
		return zx.Errorf(zx.ErrOutOfRange, "supply [%#x, +%#x) beyond VMO size %#x", off, length, pv.pages()*zx.PageSize)
	}
	if length == 0 {
		return nil
	}
	if pv.detached || pv.closed {
		return zx.Errorf(zx.ErrBadState, "VMO %d is detached from its pager", v.Koid())
	}
	pg, n := off/zx.PageSize, length/zx.PageSize
	err := aux.WithInternalMapping(func(base uintptr, size uint64) error {
		if end := auxOff + length; end < auxOff || end > size {
			return zx.Errorf(zx.ErrOutOfRange, "aux range [%#x, +%#x) beyond aux size %#x", auxOff, length, size)
		}
		return pv.install(pg, n, base, auxOff)
	})
	if err != nil {
		return err
	}
	pv.clearPoisonRange(pg, pg+n)
	pv.resolve(kindRead, pg, pg+n)
	return nil
}

// install fills the absent pages of [pg, pg+n) from the aux memfd (mapped at
// auxBase in this process): committed aux runs with UFFDIO_COPY, holes with
// UFFDIO_ZEROPAGE (zero markers), into the supply window, without waking.
func (pv *pagedVMO) install(pg, n uint64, auxBase uintptr, auxOff uint64) error {
	end := pg + n
	for cur := pg; cur < end; {
		if pv.table.get(cur).present() {
			cur++
			continue
		}
		runEnd := pv.table.absentRunEnd(cur, end)
		for cur < runEnd {
			src := auxOff + (cur-pg)*zx.PageSize
			data, until := auxExtent(auxBase, src, auxOff+(runEnd-pg)*zx.PageSize)
			cnt := (until - src) / zx.PageSize
			done, err := pv.fill(cur, cnt, data, auxBase+uintptr(src))
			for i := uint64(0); i < done; i++ {
				st := stClean
				if !data {
					st |= flagZero
				}
				pv.table.set(cur+i, st)
			}
			cur += done
			if err != nil {
				if errors.Is(err, unix.EEXIST) {
					// A page is already in the memfd after all: it is present; never replace it.
					pv.table.set(cur, stClean)
					cur++
					continue
				}
				return zx.Errorf(zx.ErrNoMemory, "supplying page %d: %v", cur, err)
			}
		}
	}
	return nil
}

// fill copies (data) or zero-fills cnt pages at VMO page pg through the
// supply window, retrying on EAGAIN; it returns the pages done.
func (pv *pagedVMO) fill(pg, cnt uint64, data bool, src uintptr) (uint64, error) {
	dst := pv.window + uintptr(pg)*pageSize
	length := uintptr(cnt) * pageSize
	var done uintptr
	for done < length {
		var n uintptr
		var err error
		if data {
			mode := uffd.CopyModeDontWake
			n, err = pv.r.u.Copy(dst+done, src+done, length-done, mode)
		} else {
			n, err = pv.r.u.Zeropage(dst+done, length-done, uffd.ZeropageModeDontWake)
		}
		done += n &^ (pageSize - 1)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				continue
			}
			return uint64(done / pageSize), err
		}
	}
	return cnt, nil
}

// auxExtent reports whether the aux byte offset off is committed (data) and
// where that data run or hole ends, bounded by limit and by 512 pages (2 MiB,
// so a 2 MiB supply is one mincore and one UFFDIO_COPY). It asks
// mincore(2) about the aux's internal mapping, which reports the memfd's page
// cache without faulting anything in (lseek's SEEK_HOLE would walk the whole
// run, however long).
func auxExtent(auxBase uintptr, off, limit uint64) (data bool, end uint64) {
	var vec [512]byte
	n := min((limit-off)/zx.PageSize, uint64(len(vec)))
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, auxBase+uintptr(off), uintptr(n)*pageSize, uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return true, off + zx.PageSize // unknown: copy the page (a hole copies as zeros)
	}
	data = vec[0]&1 != 0
	i := uint64(1)
	for i < n && (vec[i]&1 != 0) == data {
		i++
	}
	return data, off + i*zx.PageSize
}
