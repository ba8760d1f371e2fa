package vmo

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// LockStateSize is sizeof(zx_vmo_lock_state_t), the buffer ZX_VMO_OP_LOCK fills.
const LockStateSize = 32

// roundOut rounds [off, off+length) out to pages (offset down, end up); ok is
// false if the end or its rounding overflows.
func roundOut(off, length uint64) (aoff, alen uint64, ok bool) {
	end, carry := bits.Add64(off, length, 0)
	if carry != 0 {
		return 0, 0, false
	}
	endPage, ok := PageRoundUp(end)
	if !ok {
		return 0, 0, false
	}
	aoff = pageRoundDown(off)
	return aoff, endPage - aoff, true
}

// OpRange is zx_vmo_op_range after the rights check (package syscalls checks
// each op's rights first). The argument checks follow Zircon's kernel:
//   - COMMIT: the range is rounded out to pages; overflow or beyond the size
//     is OUT_OF_RANGE; plain VMOs fallocate the pages, pager VMOs ask the Source.
//   - DECOMMIT: beyond the size is OUT_OF_RANGE, an empty range is OK, a pager
//     VMO is NOT_SUPPORTED, an unaligned range INVALID_ARGS; the pages are
//     punched out and read as zeros.
//   - ZERO: beyond the size is OUT_OF_RANGE; whole pages are punched out (pager
//     VMOs: Source.OpRange(ZERO)), partial pages get zeros written (plain VMOs
//     only if the page holds data; pager VMOs with Source.Write).
//   - LOCK, TRY_LOCK, UNLOCK: DISCARDABLE VMOs only (else NOT_SUPPORTED); the
//     range must be the whole VMO (else OUT_OF_RANGE); LOCK needs a
//     zx_vmo_lock_state_t (32 bytes) in buf (else INVALID_ARGS, lock undone);
//     UNLOCK of an unlocked VMO is BAD_STATE. Pages are never discarded here,
//     so TRY_LOCK always succeeds and the discarded range is always empty.
//   - CACHE_SYNC, CACHE_CLEAN, CACHE_CLEAN_INVALIDATE: an empty range is
//     INVALID_ARGS, beyond the size OUT_OF_RANGE, otherwise a no-op.
//     CACHE_INVALIDATE is NOT_SUPPORTED (Zircon without debugging syscalls).
//   - DONT_NEED, ALWAYS_NEED: hints; plain VMOs ignore them before any check,
//     as Zircon ignores hints on VMOs that cannot be evicted; pager VMOs check
//     the range (OUT_OF_RANGE) and pass it, rounded out, to the Source.
//   - PREFETCH: rounded out, OUT_OF_RANGE on overflow or beyond the size;
//     a no-op for plain VMOs, Source.OpRange for pager VMOs.
//   - any other op: INVALID_ARGS.
func (v *VMO) OpRange(op uint32, off, length uint64, buf []byte) error {
	if err := v.acquire(); err != nil {
		return err
	}
	defer v.release()
	switch op {
	case zx.VMOOpCommit:
		return v.commit(off, length)
	case zx.VMOOpDecommit:
		return v.decommitOp(off, length)
	case zx.VMOOpLock, zx.VMOOpTryLock, zx.VMOOpUnlock:
		return v.lockOp(op, off, length, buf)
	case zx.VMOOpCacheSync, zx.VMOOpCacheClean, zx.VMOOpCacheCleanInvalidate:
		if length == 0 {
			return errf(zx.ErrInvalidArgs, "cache op %d on an empty range", op)
		}
		return v.checkRange("cache op", off, length)
	case zx.VMOOpCacheInvalidate:
		return errf(zx.ErrNotSupported, "ZX_VMO_OP_CACHE_INVALIDATE needs debugging syscalls")
	case zx.VMOOpZero:
		return v.zero(off, length)
	case zx.VMOOpDontNeed, zx.VMOOpAlwaysNeed:
		return v.hint(op, off, length)
	case zx.VMOOpPrefetch:
		return v.prefetch(off, length)
	}
	return errf(zx.ErrInvalidArgs, "unknown VMO op %d", op)
}

func (v *VMO) commit(off, length uint64) error {
	aoff, alen, ok := roundOut(off, length)
	if !ok {
		return errf(zx.ErrOutOfRange, "commit [%#x, +%#x) overflows", off, length)
	}
	if v.src != nil {
		if err := v.checkRange("commit", aoff, alen); err != nil || alen == 0 {
			return err
		}
		return v.src.OpRange(v, zx.VMOOpCommit, aoff, alen)
	}
	v.rw.RLock()
	defer v.rw.RUnlock()
	if err := v.checkRange("commit", aoff, alen); err != nil || alen == 0 {
		return err
	}
	// KEEP_SIZE: never grow the memfd, whatever happens.
	if err := unix.Fallocate(v.res.fd, unix.FALLOC_FL_KEEP_SIZE, int64(v.base+aoff), int64(alen)); err != nil {
		return errnoErr(err, "commit [%#x, +%#x) of VMO %d", aoff, alen, v.koid)
	}
	return nil
}

func (v *VMO) decommitOp(off, length uint64) error {
	if err := v.checkRange("decommit", off, length); err != nil || length == 0 {
		return err
	}
	if v.src != nil {
		return errf(zx.ErrNotSupported, "decommit of pager-backed VMO %d", v.koid)
	}
	if !pageAligned(off) || !pageAligned(length) {
		return errf(zx.ErrInvalidArgs, "decommit [%#x, +%#x) is not page-aligned", off, length)
	}
	v.rw.RLock()
	defer v.rw.RUnlock()
	if err := v.checkRange("decommit", off, length); err != nil {
		return err
	}
	return v.punch(off, length)
}

// Decommit punches [off, off+length) out of the memfd without any check
// (package pager decommits an aux VMO's range after supply_pages).
func (v *VMO) Decommit(off, length uint64) error {
	if length == 0 {
		return nil
	}
	if err := v.acquire(); err != nil {
		return err
	}
	defer v.release()
	return v.punch(off, length)
}

func (v *VMO) punch(off, length uint64) error {
	if length == 0 {
		return nil
	}
	err := unix.Fallocate(v.res.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(v.base+off), int64(length))
	if err != nil {
		return errnoErr(err, "punch [%#x, +%#x) of VMO %d", off, length, v.koid)
	}
	return nil
}

func (v *VMO) lockOp(op uint32, off, length uint64, buf []byte) error {
	if !v.Discardable() {
		return errf(zx.ErrNotSupported, "lock ops need a discardable VMO")
	}
	if _, carry := bits.Add64(off, length, 0); carry != 0 {
		return errf(zx.ErrOutOfRange, "lock range [%#x, +%#x) overflows", off, length)
	}
	if size := v.Size(); off != 0 || length != size {
		return errf(zx.ErrOutOfRange, "lock ops take the whole VMO [0, %#x), not [%#x, +%#x)", size, off, length)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch op {
	case zx.VMOOpUnlock:
		if v.lockCount == 0 {
			return errf(zx.ErrBadState, "VMO %d is not locked", v.koid)
		}
		v.lockCount--
	case zx.VMOOpTryLock:
		v.lockCount++ // memfd pages are never discarded, so nothing to fail on
	case zx.VMOOpLock:
		if len(buf) < LockStateSize {
			return errf(zx.ErrInvalidArgs, "lock state buffer of %d bytes, need %d", len(buf), LockStateSize)
		}
		v.lockCount++
		binary.LittleEndian.PutUint64(buf[0:], off)
		binary.LittleEndian.PutUint64(buf[8:], length)
		binary.LittleEndian.PutUint64(buf[16:], 0) // discarded_offset
		binary.LittleEndian.PutUint64(buf[24:], 0) // discarded_size
	}
	return nil
}

// LockCount is the discardable lock nesting (for tests and diagnostics).
func (v *VMO) LockCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lockCount
}

func (v *VMO) zero(off, length uint64) error {
	if err := v.checkRange("zero", off, length); err != nil {
		return err
	}
	if v.src != nil {
		return v.zeroPaged(off, off+length)
	}
	v.rw.RLock()
	defer v.rw.RUnlock()
	if err := v.checkRange("zero", off, length); err != nil {
		return err
	}
	return v.zeroPlain(off, off+length)
}

// zeroPlain zeroes [start, end) of a plain VMO (caller holds rw shared):
// partial pages get zeros written only if they hold data, whole pages are
// punched out.
func (v *VMO) zeroPlain(start, end uint64) error {
	startPage, endPage := pageRoundDown(start), pageRoundDown(end)
	if start != startPage {
		if startPage == endPage {
			return v.zeroPartial(startPage, start, end)
		}
		if err := v.zeroPartial(startPage, start, startPage+zx.PageSize); err != nil {
			return err
		}
		start = startPage + zx.PageSize
	}
	if end != endPage {
		if err := v.zeroPartial(endPage, endPage, end); err != nil {
			return err
		}
		end = endPage
	}
	if start < end {
		return v.punch(start, end-start)
	}
	return nil
}

func (v *VMO) zeroPartial(page, from, to uint64) error {
	if from >= to || !v.pageHasData(page) {
		return nil
	}
	return v.pwrite(make([]byte, to-from), from)
}

// pageHasData reports whether the memfd page at off is allocated.
func (v *VMO) pageHasData(off uint64) bool {
	data, err := unix.Seek(v.res.fd, int64(v.base+off), unix.SEEK_DATA)
	if err == unix.ENXIO {
		return false
	}
	return err != nil || uint64(data) < v.base+off+zx.PageSize
}

// zeroPaged zeroes [start, end) of a pager VMO as Zircon's ZeroRange does:
// the partial first and last pages through Source.Write (they need the page
// and dirty it), then the whole pages with Source.OpRange(ZERO); the range is
// checked again after each call, as the Source may block while a resize
// shrinks the VMO.
func (v *VMO) zeroPaged(start, end uint64) error {
	recheck := func() error {
		if end > v.Size() {
			return errf(zx.ErrOutOfRange, "zero up to %#x: VMO %d shrank to %#x", end, v.koid, v.Size())
		}
		return nil
	}
	startPage, endPage := pageRoundDown(start), pageRoundDown(end)
	if start != startPage {
		to := startPage + zx.PageSize
		if startPage == endPage {
			to = end
		}
		if to > start {
			if err := v.src.Write(v, make([]byte, to-start), start); err != nil {
				return err
			}
			if err := recheck(); err != nil {
				return err
			}
		}
		if startPage == endPage {
			return nil
		}
		start = to
	}
	if end != endPage {
		if err := v.src.Write(v, make([]byte, end-endPage), endPage); err != nil {
			return err
		}
		if err := recheck(); err != nil {
			return err
		}
		end = endPage
	}
	if start < end {
		return v.src.OpRange(v, zx.VMOOpZero, start, end-start)
	}
	return nil
}

func (v *VMO) hint(op uint32, off, length uint64) error {
	if v.src == nil {
		return nil
	}
	if err := v.checkRange("hint", off, length); err != nil {
		return err
	}
	aoff, alen, _ := roundOut(off, length) // cannot overflow: the end is within the size
	if alen == 0 {
		return nil
	}
	return v.src.OpRange(v, op, aoff, alen)
}

func (v *VMO) prefetch(off, length uint64) error {
	aoff, alen, ok := roundOut(off, length)
	if !ok {
		return errf(zx.ErrOutOfRange, "prefetch [%#x, +%#x) overflows", off, length)
	}
	if err := v.checkRange("prefetch", aoff, alen); err != nil || alen == 0 || v.src == nil {
		return err
	}
	return v.src.OpRange(v, zx.VMOOpPrefetch, aoff, alen)
}
