package syscalls

import (
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// snapshotTypes are the child types that make a copy-on-write child: its
// handle gets WRITE (unless NO_WRITE) and loses EXECUTE.
const snapshotTypes = zx.VMOChildSnapshot | zx.VMOChildSnapshotAtLeastOnWrite | zx.VMOChildSnapshotModified

// VmoCreateChild is zx_vmo_create_child, in the order of Zircon's kernel
// (sys_vmo_create_child): size rounded up to pages (overflow or too large:
// OUT_OF_RANGE), NO_WRITE with RESIZABLE (INVALID_ARGS), then the handle
// (BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED without DUPLICATE and READ), then
// the options, offset and parent (see vmo.VMO.CreateChild). The child's
// handle has the parent handle's rights without RESIZE, plus RESIZE for
// ZX_VMO_CHILD_RESIZABLE, plus GET_PROPERTY and SET_PROPERTY; NO_WRITE takes
// WRITE away; otherwise a snapshot type adds WRITE and takes EXECUTE away.
// The child's content size is size; it gets its parent's name if the
// parent handle has GET_PROPERTY.
func VmoCreateChild(h zx.Handle, options uint32, offset, size uint64) (zx.Handle, zx.Status) {
	rounded, err := vmo.RoundSize(size)
	if err != nil {
		return zx.HandleInvalid, zx.StatusOf(err)
	}
	if options&zx.VMOChildNoWrite != 0 && options&zx.VMOChildResizable != 0 {
		return zx.HandleInvalid, zx.ErrInvalidArgs
	}
	noWrite := options&zx.VMOChildNoWrite != 0
	options &^= zx.VMOChildNoWrite
	v, inRights, st := VmoObject(h, zx.RightDuplicate|zx.RightRead)
	if st != zx.ErrOk {
		return zx.HandleInvalid, st
	}
	child, err := v.CreateChild(options, offset, rounded, size)
	if err != nil {
		return zx.HandleInvalid, zx.StatusOf(err)
	}
	if !inRights.Has(zx.RightGetProperty) {
		child.SetName("") // Zircon copies the name only for a handle that may read it
	}
	rights := inRights&^zx.RightResize | zx.RightGetProperty | zx.RightSetProperty
	if options&zx.VMOChildResizable != 0 {
		rights |= zx.RightResize
	}
	if noWrite {
		rights &^= zx.RightWrite
	} else if options&snapshotTypes != 0 {
		rights = rights&^zx.RightExecute | zx.RightWrite
	}
	return NewVMOHandle(child, rights), zx.ErrOk
}
