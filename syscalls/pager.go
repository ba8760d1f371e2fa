package syscalls

import (
	"github.com/pagerd/pagerd/pager"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

func pageAligned(x uint64) bool { return x%zx.PageSize == 0 }

// PagerCreate is zx_pager_create: options must be 0. The handle has
// ZX_DEFAULT_PAGER_RIGHTS (no DUPLICATE, no WAIT). It fails with
// NOT_SUPPORTED when the kernel lacks the userfaultfd features pagerd needs.
func PagerCreate(options uint32) (zx.Handle, zx.Status) {
	if options != 0 {
		return zx.HandleInvalid, zx.ErrInvalidArgs
	}
	p, err := pager.New()
	if err != nil {
		return zx.HandleInvalid, zx.ErrNotSupported
	}
	return NewHandle(p, zx.DefaultPagerRights), zx.ErrOk
}

// PagerObject returns the pager behind a handle with the given rights.
func PagerObject(h zx.Handle, rights zx.Rights) (*pager.Pager, zx.Status) {
	p, _, st := lookup[*pager.Pager](h, rights)
	return p, st
}

// pagerVMO looks up a pager handle and a VMO handle in Zircon's order
// (pager, then VMO, each BAD_HANDLE → WRONG_TYPE → ACCESS_DENIED) and
// checks that the pager created the VMO (INVALID_ARGS).
func pagerVMO(pagerH zx.Handle, pagerRights zx.Rights, vmoH zx.Handle, vmoRights zx.Rights) (*pager.Pager, *vmo.VMO, zx.Status) {
	p, st := PagerObject(pagerH, pagerRights)
	if st != zx.ErrOk {
		return nil, nil, st
	}
	v, _, st := VmoObject(vmoH, vmoRights)
	if st != zx.ErrOk {
		return nil, nil, st
	}
	if !p.Owns(v) {
		return nil, nil, zx.ErrInvalidArgs
	}
	return p, v, zx.ErrOk
}

// PagerCreateVmo is zx_pager_create_vmo. Check order (Zircon's kernel): pager
// handle (ATTACH_VMO), port handle (WRITE), pager being torn down
// (BAD_STATE), options, size. The VMO handle has the rights of a
// zx_vmo_create VMO.
func PagerCreateVmo(pagerH zx.Handle, options uint32, portH zx.Handle, key uint64, size uint64) (zx.Handle, zx.Status) {
	p, st := PagerObject(pagerH, zx.RightAttachVMO)
	if st != zx.ErrOk {
		return zx.HandleInvalid, st
	}
	prt, st := PortObject(portH, zx.RightWrite)
	if st != zx.ErrOk {
		return zx.HandleInvalid, st
	}
	v, err := p.CreateVMO(options, prt, key, size)
	if err != nil {
		return zx.HandleInvalid, zx.StatusOf(err)
	}
	rights := zx.DefaultVMORights
	if options&zx.VMOResizable != 0 {
		rights |= zx.RightResize
	}
	return NewVMOHandle(v, rights), zx.ErrOk
}

// PagerDetachVmo is zx_pager_detach_vmo: the pager needs ATTACH_VMO and
// MANAGE_VMO, the VMO WRITE; a VMO of another pager is INVALID_ARGS.
// Detaching twice is OK.
func PagerDetachVmo(pagerH, vmoH zx.Handle) zx.Status {
	p, v, st := pagerVMO(pagerH, zx.RightAttachVMO|zx.RightManageVMO, vmoH, zx.RightWrite)
	if st != zx.ErrOk {
		return st
	}
	return zx.StatusOf(p.Detach(v))
}

// PagerSupplyPages is zx_pager_supply_pages. Check order: alignment of
// offset, length and aux_offset (before any handle), pager (MANAGE_VMO),
// pager VMO (WRITE), the VMO belongs to this pager (INVALID_ARGS, before the
// aux handle is looked up), aux VMO (READ and WRITE), aux not pager-backed
// (NOT_SUPPORTED), then ranges (OUT_OF_RANGE) and state (BAD_STATE after detach).
func PagerSupplyPages(pagerH, vmoH zx.Handle, offset, length uint64, auxH zx.Handle, auxOffset uint64) zx.Status {
	if !pageAligned(offset) || !pageAligned(length) || !pageAligned(auxOffset) {
		return zx.ErrInvalidArgs
	}
	p, v, st := pagerVMO(pagerH, zx.RightManageVMO, vmoH, zx.RightWrite)
	if st != zx.ErrOk {
		return st
	}
	aux, _, st := VmoObject(auxH, zx.RightRead|zx.RightWrite)
	if st != zx.ErrOk {
		return st
	}
	return zx.StatusOf(p.SupplyPages(v, offset, length, aux, auxOffset))
}

// validFailStatus reports whether data is a status ZX_PAGER_OP_FAIL accepts:
// a sign-extended 32-bit value, one of IO, IO_DATA_INTEGRITY, BAD_STATE,
// NO_SPACE, BUFFER_TOO_SMALL.
func validFailStatus(data uint64) (zx.Status, bool) {
	v := int64(data)
	if v != int64(int32(v)) {
		return 0, false
	}
	switch s := zx.Status(int32(v)); s {
	case zx.ErrIO, zx.ErrIODataIntegrity, zx.ErrBadState, zx.ErrNoSpace, zx.ErrBufferTooSmall:
		return s, true
	}
	return 0, false
}

// PagerOpRange is zx_pager_op_range. Common checks in order: alignment
// (before handles), pager (MANAGE_VMO), VMO (WRITE), VMO belongs to the
// pager (INVALID_ARGS), then the op: unknown ops are NOT_SUPPORTED;
// ZX_PAGER_OP_FAIL checks its status argument, OP_DIRTY and WRITEBACK_END
// need data 0, WRITEBACK_BEGIN data 0 or ZX_VMO_DIRTY_RANGE_IS_ZERO
// (INVALID_ARGS), all before the range (OUT_OF_RANGE).
func PagerOpRange(pagerH zx.Handle, op uint32, vmoH zx.Handle, offset, length, data uint64) zx.Status {
	if !pageAligned(offset) || !pageAligned(length) {
		return zx.ErrInvalidArgs
	}
	p, v, st := pagerVMO(pagerH, zx.RightManageVMO, vmoH, zx.RightWrite)
	if st != zx.ErrOk {
		return st
	}
	switch op {
	case zx.PagerOpFail:
		s, ok := validFailStatus(data)
		if !ok {
			return zx.ErrInvalidArgs
		}
		return zx.StatusOf(p.Fail(v, offset, length, s))
	case zx.PagerOpDirty:
		if data != 0 {
			return zx.ErrInvalidArgs
		}
		return zx.StatusOf(p.OpDirty(v, offset, length))
	case zx.PagerOpWritebackBegin:
		if data != 0 && data != zx.VMODirtyRangeIsZero {
			return zx.ErrInvalidArgs
		}
		return zx.StatusOf(p.WritebackBegin(v, offset, length, data == zx.VMODirtyRangeIsZero))
	case zx.PagerOpWritebackEnd:
		if data != 0 {
			return zx.ErrInvalidArgs
		}
		return zx.StatusOf(p.WritebackEnd(v, offset, length))
	}
	return zx.ErrNotSupported
}

// PagerQueryDirtyRanges is zx_pager_query_dirty_ranges: pager needs
// MANAGE_VMO, the VMO READ; a VMO of another pager is INVALID_ARGS; the
// range (rounded out to pages) must lie in the VMO (OUT_OF_RANGE). It fills
// out with up to len(out) zx_vmo_dirty_range_t entries and returns how many
// (actual) and, when wantAvail is set, how many there are (avail). A buffer
// too small for one entry is not an error.
func PagerQueryDirtyRanges(pagerH, vmoH zx.Handle, offset, length uint64, out []zx.VMODirtyRange, wantAvail bool) (actual, avail int, st zx.Status) {
	p, v, st := pagerVMO(pagerH, zx.RightManageVMO, vmoH, zx.RightRead)
	if st != zx.ErrOk {
		return 0, 0, st
	}
	actual, avail, err := p.DirtyRanges(v, offset, length, out, wantAvail)
	return actual, avail, zx.StatusOf(err)
}

// PagerQueryVmoStats is zx_pager_query_vmo_stats: pager MANAGE_VMO, VMO
// READ, a VMO of another pager is INVALID_ARGS; then a buffer smaller than
// zx_pager_vmo_stats_t is BUFFER_TOO_SMALL before options other than 0 and
// ZX_PAGER_RESET_VMO_STATS are INVALID_ARGS. out.Modified is
// ZX_PAGER_VMO_STATS_MODIFIED when the VMO was modified since the last reset.
func PagerQueryVmoStats(pagerH, vmoH zx.Handle, options uint32, out *zx.PagerVMOStats, bufferSize uintptr) zx.Status {
	p, v, st := pagerVMO(pagerH, zx.RightManageVMO, vmoH, zx.RightRead)
	if st != zx.ErrOk {
		return st
	}
	if bufferSize < 4 {
		return zx.ErrBufferTooSmall
	}
	if options != 0 && options != zx.PagerResetVMOStats {
		return zx.ErrInvalidArgs
	}
	modified, err := p.Stats(v, options == zx.PagerResetVMOStats)
	if err != nil {
		return zx.StatusOf(err)
	}
	if out == nil {
		return zx.ErrInvalidArgs
	}
	out.Modified = 0
	if modified {
		out.Modified = zx.PagerVMOStatsModified
	}
	return zx.ErrOk
}
