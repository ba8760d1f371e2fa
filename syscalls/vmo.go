package syscalls

import (
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// VmoObject resolves a VMO handle in Zircon's order (BAD_HANDLE, WRONG_TYPE,
// ACCESS_DENIED for missing rights) and returns the VMO and the handle's rights.
func VmoObject(h zx.Handle, rights zx.Rights) (*vmo.VMO, zx.Rights, zx.Status) {
	return lookup[*vmo.VMO](h, rights)
}

// NewVMOHandle installs a handle to v with the given rights.
func NewVMOHandle(v *vmo.VMO, rights zx.Rights) zx.Handle { return NewHandle(v, rights) }

// VMORights are the rights of a new VMO's handle: ZX_DEFAULT_VMO_RIGHTS,
// plus ZX_RIGHT_RESIZE for a ZX_VMO_RESIZABLE VMO.
func VMORights(options uint32) zx.Rights {
	if options&zx.VMOResizable != 0 {
		return zx.DefaultVMORights | zx.RightResize
	}
	return zx.DefaultVMORights
}

// VmoCreate is zx_vmo_create: options RESIZABLE, DISCARDABLE, UNBOUNDED
// (not with RESIZABLE); anything else, TRAP_DIRTY included, is INVALID_ARGS;
// a size too large is OUT_OF_RANGE.
func VmoCreate(size uint64, options uint32) (zx.Handle, zx.Status) {
	v, err := vmo.Create(size, options)
	if err != nil {
		return zx.HandleInvalid, zx.StatusOf(err)
	}
	return NewHandle(v, VMORights(options)), zx.ErrOk
}

// VmoRead is zx_vmo_read: needs READ; reads exactly len(buf) bytes at off.
func VmoRead(h zx.Handle, buf []byte, off uint64) zx.Status {
	v, _, st := VmoObject(h, zx.RightRead)
	if st != zx.ErrOk {
		return st
	}
	return zx.StatusOf(v.Read(buf, off))
}

// VmoWrite is zx_vmo_write: needs WRITE; writes exactly len(buf) bytes at off.
func VmoWrite(h zx.Handle, buf []byte, off uint64) zx.Status {
	v, _, st := VmoObject(h, zx.RightWrite)
	if st != zx.ErrOk {
		return st
	}
	return zx.StatusOf(v.Write(buf, off))
}

// VmoGetSize is zx_vmo_get_size: no right needed.
func VmoGetSize(h zx.Handle) (uint64, zx.Status) {
	v, _, st := VmoObject(h, zx.RightNone)
	if st != zx.ErrOk {
		return 0, st
	}
	return v.Size(), zx.ErrOk
}

// VmoGetStreamSize is zx_vmo_get_stream_size: the content size; no right needed.
func VmoGetStreamSize(h zx.Handle) (uint64, zx.Status) {
	v, _, st := VmoObject(h, zx.RightNone)
	if st != zx.ErrOk {
		return 0, st
	}
	return v.ContentSize(), zx.ErrOk
}

// VmoSetSize is zx_vmo_set_size, in Zircon's order: the handle needs WRITE
// (ACCESS_DENIED); a RESIZABLE VMO's handle also needs RESIZE
// (ACCESS_DENIED); a VMO that is not RESIZABLE is UNAVAILABLE whatever the
// handle's RESIZE right (that check happens in the VMO, after the rounding
// overflow check: OUT_OF_RANGE comes first).
func VmoSetSize(h zx.Handle, size uint64) zx.Status {
	v, rights, st := VmoObject(h, zx.RightWrite)
	if st != zx.ErrOk {
		return st
	}
	if v.Resizable() && !rights.Has(zx.RightResize) {
		return zx.ErrAccessDenied
	}
	return zx.StatusOf(v.SetSize(size))
}

// vmoOpRights returns the rights zx_vmo_op_range needs for op (any of them
// will do when any is set) and whether the op checks rights at all. Unknown
// ops and CACHE_INVALIDATE are rejected by the VMO itself.
func vmoOpRights(op uint32) (need zx.Rights, any bool) {
	switch op {
	case zx.VMOOpCommit, zx.VMOOpDecommit, zx.VMOOpZero:
		return zx.RightWrite, false
	case zx.VMOOpLock, zx.VMOOpTryLock, zx.VMOOpUnlock:
		return zx.RightRead | zx.RightWrite, true
	case zx.VMOOpCacheSync, zx.VMOOpCacheClean, zx.VMOOpCacheCleanInvalidate, zx.VMOOpPrefetch:
		return zx.RightRead, false
	}
	return zx.RightNone, false // hints need no right
}

// VmoOpRange is zx_vmo_op_range: the handle is looked up first
// (BAD_HANDLE, WRONG_TYPE), then the op's rights are checked (ACCESS_DENIED):
// COMMIT, DECOMMIT and ZERO need WRITE; LOCK, TRY_LOCK and UNLOCK READ or
// WRITE; CACHE_SYNC, CACHE_CLEAN, CACHE_CLEAN_INVALIDATE and PREFETCH READ;
// DONT_NEED and ALWAYS_NEED nothing. buf is the zx_vmo_lock_state_t of LOCK.
// The rest is vmo.VMO.OpRange.
func VmoOpRange(h zx.Handle, op uint32, off, size uint64, buf []byte) zx.Status {
	v, rights, st := VmoObject(h, zx.RightNone)
	if st != zx.ErrOk {
		return st
	}
	need, anyOf := vmoOpRights(op)
	if anyOf && rights&need == 0 || !anyOf && !rights.Has(need) {
		return zx.ErrAccessDenied
	}
	return zx.StatusOf(v.OpRange(op, off, size, buf))
}
