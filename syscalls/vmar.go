package syscalls

import (
	"sync"

	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// RootVMARRights are the rights of zx_vmar_root_self(): ZX_DEFAULT_VMAR_RIGHTS
// plus READ, WRITE and EXECUTE, which Zircon adds to a VMAR handle for each
// ZX_VM_CAN_MAP_* permission of the region (the root VMAR has them all).
const RootVMARRights = zx.DefaultVMARRights | zx.RightRead | zx.RightWrite | zx.RightExecute

var rootVMAR struct {
	sync.Mutex
	h zx.Handle
}

// VmarRootSelf is zx_vmar_root_self: the process's root VMAR handle, created
// on first use (and again if it was closed).
func VmarRootSelf() zx.Handle {
	rootVMAR.Lock()
	defer rootVMAR.Unlock()
	if rootVMAR.h != zx.HandleInvalid {
		if _, st := lookupAny(rootVMAR.h); st == zx.ErrOk {
			return rootVMAR.h
		}
	}
	rootVMAR.h = NewHandle(vmo.Root(), RootVMARRights)
	return rootVMAR.h
}

// VmarObject resolves a VMAR handle in Zircon's order.
func VmarObject(h zx.Handle, rights zx.Rights) (*vmo.VMAR, zx.Rights, zx.Status) {
	return lookup[*vmo.VMAR](h, rights)
}

// VmarMap is zx_vmar_map, in Zircon's order: the VMAR handle, then the VMO
// handle (BAD_HANDLE, WRONG_TYPE); the VMO needs MAP (ACCESS_DENIED);
// READ_IF_XOM_UNSUPPORTED adds READ; a writable or executable mapping that is
// not readable is INVALID_ARGS, so are MAP_RANGE with SPECIFIC_OVERWRITE and
// any ZX_VM_CAN_MAP_* from the caller; each permission needs the right of
// that name on both the VMO and the VMAR handle (ACCESS_DENIED). The rest is
// vmo.VMAR.Map.
func VmarMap(vmarH zx.Handle, options uint32, vmarOffset uint64, vmoH zx.Handle, vmoOffset, length uint64) (uintptr, zx.Status) {
	r, vmarRights, st := VmarObject(vmarH, zx.RightNone)
	if st != zx.ErrOk {
		return 0, st
	}
	v, vmoRights, st := VmoObject(vmoH, zx.RightNone)
	if st != zx.ErrOk {
		return 0, st
	}
	if !vmoRights.Has(zx.RightMap) {
		return 0, zx.ErrAccessDenied
	}
	if options&zx.VMPermReadIfXOM != 0 {
		options |= zx.VMPermRead // x86-64 cannot map execute-only
	}
	if options&zx.VMPermRead == 0 && options&(zx.VMPermWrite|zx.VMPermExecute) != 0 {
		return 0, zx.ErrInvalidArgs
	}
	if options&zx.VMMapRange != 0 && options&zx.VMSpecificOverwrite != 0 {
		return 0, zx.ErrInvalidArgs
	}
	if options&(zx.VMCanMapRead|zx.VMCanMapWrite|zx.VMCanMapExecute) != 0 {
		return 0, zx.ErrInvalidArgs
	}
	both := vmoRights & vmarRights
	canRead, canWrite, canExec := both.Has(zx.RightRead), both.Has(zx.RightWrite), both.Has(zx.RightExecute)
	if options&zx.VMPermRead != 0 && !canRead ||
		options&zx.VMPermWrite != 0 && !canWrite ||
		options&zx.VMPermExecute != 0 && !canExec {
		return 0, zx.ErrAccessDenied
	}
	if canRead {
		options |= zx.VMCanMapRead
	}
	if canWrite {
		options |= zx.VMCanMapWrite
	}
	if canExec {
		options |= zx.VMCanMapExecute
	}
	addr, err := r.Map(options, vmarOffset, v, vmoOffset, length)
	if err != nil {
		return 0, zx.StatusOf(err)
	}
	return addr, zx.ErrOk
}

// VmarUnmap is zx_vmar_unmap (no right needed on the handle; pagerd's only
// VMAR has no sub-regions): see vmo.VMAR.Unmap.
func VmarUnmap(vmarH zx.Handle, addr uintptr, length uint64) zx.Status {
	r, _, st := VmarObject(vmarH, zx.RightNone)
	if st != zx.ErrOk {
		return st
	}
	return zx.StatusOf(r.Unmap(addr, length))
}

// VmarOpRange is zx_vmar_op_range: the handle (BAD_HANDLE, WRONG_TYPE), the
// op (INVALID_ARGS if unknown), a non-empty buffer (INVALID_ARGS: it is
// unused), then vmo.VMAR.OpRange. As in Zircon's kernel the handle's rights
// are not checked; the mappings' own permissions are.
func VmarOpRange(vmarH zx.Handle, op uint32, addr uintptr, length uint64, buf []byte) zx.Status {
	r, _, st := VmarObject(vmarH, zx.RightNone)
	if st != zx.ErrOk {
		return st
	}
	switch op {
	case vmo.VMAROpCommit, vmo.VMAROpDecommit, vmo.VMAROpMapRange, vmo.VMAROpZero,
		vmo.VMAROpDontNeed, vmo.VMAROpAlwaysNeed, vmo.VMAROpPrefetch:
	default:
		return zx.ErrInvalidArgs
	}
	if len(buf) != 0 {
		return zx.ErrInvalidArgs
	}
	return zx.StatusOf(r.OpRange(op, addr, length))
}
