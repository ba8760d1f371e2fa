package vmo

import (
	"math/bits"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// ChildKind says how a VMO relates to its parent (zx_vmo_create_child).
type ChildKind uint8

const (
	// NotAChild is a VMO made by zx_vmo_create or zx_pager_create_vmo.
	NotAChild ChildKind = iota
	// ChildSlice is a ZX_VMO_CHILD_SLICE: a window on the parent's pages,
	// shared both ways.
	ChildSlice
	// ChildCOWClone is a snapshot (ZX_VMO_CHILD_SNAPSHOT or
	// SNAPSHOT_AT_LEAST_ON_WRITE): ZX_INFO_VMO_IS_COW_CLONE.
	ChildCOWClone
)

// Cloner is implemented by a Source that can make copy-on-write clones of
// its VMO (ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE of a pager VMO or of a
// clone of one). Clone is called after this package has checked the options
// and the range: offset is page-aligned, size page-rounded, offset+size does
// not overflow. It returns the new VMO (created with NewPaged and a Source of
// its own); this package links it to its parent.
type Cloner interface {
	Clone(parent *VMO, offset, size, contentSize uint64, resizable bool) (*VMO, error)
}

// Slicer is implemented by a Source whose VMO can have slices
// (ZX_VMO_CHILD_SLICE of a pager VMO): Slice returns the Source of a slice
// starting offset bytes into parent (checked by this package: aligned,
// inside the parent). The slice shares the parent's memfd at that offset.
type Slicer interface {
	Slice(parent *VMO, offset uint64) (Source, error)
}

// ParentResizeObserver is implemented by a child's Source that must know
// when its parent's size changes: a clone's view of a shrunk parent is
// clipped for good (spec §3.6). ParentResized is called after the parent's
// resize has taken effect, with the parent's new page-rounded size and no
// VMO lock held.
type ParentResizeObserver interface {
	ParentResized(child *VMO, parentSize uint64)
}

// Parent returns the VMO this one was created from with zx_vmo_create_child
// (nil for other VMOs). A child keeps its parent alive.
func (v *VMO) Parent() *VMO { return v.parent }

// Kind says whether v is a slice, a copy-on-write clone or not a child.
func (v *VMO) Kind() ChildKind { return v.kind }

// Base is the byte offset of a slice's first page in the memfd it shares
// with its parent (Fd); 0 for every other VMO.
func (v *VMO) Base() uint64 { return v.base }

// NumChildren is ZX_INFO_VMO's num_children: children not yet destroyed.
func (v *VMO) NumChildren() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.children)
}

// Children returns the live children of v (a snapshot of the list).
func (v *VMO) Children() []*VMO {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*VMO(nil), v.children...)
}

// cloneMaxSize bounds the size of a copy-on-write clone of a pager VMO: its
// page-state table grows with the size (Zircon's limit is higher).
const cloneMaxSize uint64 = 1 << 46

// CreateChild is zx_vmo_create_child after the syscall layer's checks (size
// rounded with RoundSize, NO_WRITE stripped off options, handle rights):
// size is the page-rounded size, contentSize the size the caller asked for.
// The checks follow Zircon's VmObjectDispatcher::CreateChild and
// VmObjectPaged::CreateClone/CreateChildSlice, in that order:
//   - a DISCARDABLE parent: NOT_SUPPORTED.
//   - SLICE with any other option: INVALID_ARGS; an unaligned offset:
//     INVALID_ARGS; size beyond MaxSize: OUT_OF_RANGE; a range not wholly
//     inside the parent (or overflowing): INVALID_ARGS; a resizable parent:
//     NOT_SUPPORTED. A slice of a pager-backed VMO gets its Source from the
//     parent's (Slicer; NOT_SUPPORTED without one).
//   - REFERENCE (with RESIZABLE or nothing else, else INVALID_ARGS):
//     NOT_SUPPORTED (not implemented).
//   - exactly one of SNAPSHOT, SNAPSHOT_AT_LEAST_ON_WRITE, SNAPSHOT_MODIFIED
//     (the first in that order is taken, any leftover bit is INVALID_ARGS;
//     none is INVALID_ARGS), optionally RESIZABLE.
//   - then: an unaligned offset is INVALID_ARGS; size beyond MaxSize or
//     offset+size overflowing is OUT_OF_RANGE; SNAPSHOT of a slice is
//     NOT_SUPPORTED.
//   - pager-backed parent (or a clone of one): SNAPSHOT and SNAPSHOT_MODIFIED
//     are NOT_SUPPORTED (Zircon refuses a full snapshot when the root has a
//     page source; SNAPSHOT_MODIFIED is a pagerd limit); AT_LEAST_ON_WRITE
//     makes a copy-on-write clone through the parent's Source (Cloner),
//     bounded to 2^46 bytes (OUT_OF_RANGE).
//   - plain parent: every snapshot type makes a private copy of
//     [offset, offset+size) at once; bytes beyond the parent's size are zero.
//
// The child has the parent's name, the content size contentSize, and is
// RESIZABLE only if asked (whatever the parent). While it exists the
// parent's ZX_VMO_ZERO_CHILDREN is deasserted and the parent is kept alive;
// the signal is asserted again when the last child is destroyed (its last
// handle closed and its last mapping gone).
func (v *VMO) CreateChild(options uint32, offset, size, contentSize uint64) (*VMO, error) {
	if v.Discardable() {
		return nil, errf(zx.ErrNotSupported, "children of discardable VMO %d", v.koid)
	}
	if options&zx.VMOChildSlice != 0 {
		if rest := options &^ zx.VMOChildSlice; rest != 0 {
			return nil, errf(zx.ErrInvalidArgs, "ZX_VMO_CHILD_SLICE with other options %#x", rest)
		}
		return v.createSlice(offset, size, contentSize)
	}
	if options&zx.VMOChildReference != 0 {
		if rest := options &^ (zx.VMOChildReference | zx.VMOChildResizable); rest != 0 {
			return nil, errf(zx.ErrInvalidArgs, "ZX_VMO_CHILD_REFERENCE with other options %#x", rest)
		}
		return nil, errf(zx.ErrNotSupported, "ZX_VMO_CHILD_REFERENCE is not implemented")
	}
	var typ uint32
	switch {
	case options&zx.VMOChildSnapshot != 0:
		typ = zx.VMOChildSnapshot
	case options&zx.VMOChildSnapshotAtLeastOnWrite != 0:
		typ = zx.VMOChildSnapshotAtLeastOnWrite
	case options&zx.VMOChildSnapshotModified != 0:
		typ = zx.VMOChildSnapshotModified
	default:
		return nil, errf(zx.ErrInvalidArgs, "child options %#x name no child type", options)
	}
	rest := options &^ typ
	resizable := rest&zx.VMOChildResizable != 0
	rest &^= zx.VMOChildResizable
	if rest != 0 {
		return nil, errf(zx.ErrInvalidArgs, "child options %#x: more than one type, or unknown bits %#x", options, rest)
	}
	if !pageAligned(offset) {
		return nil, errf(zx.ErrInvalidArgs, "child offset %#x is not page-aligned", offset)
	}
	if size > MaxSize {
		return nil, errf(zx.ErrOutOfRange, "child size %#x is too large (max %#x)", size, MaxSize)
	}
	if _, carry := bits.Add64(offset, size, 0); carry != 0 {
		return nil, errf(zx.ErrOutOfRange, "child range [%#x, +%#x) overflows", offset, size)
	}
	if typ == zx.VMOChildSnapshot && v.kind == ChildSlice {
		return nil, errf(zx.ErrNotSupported, "ZX_VMO_CHILD_SNAPSHOT of slice %d", v.koid)
	}
	if err := v.acquire(); err != nil {
		return nil, err
	}
	defer v.release()
	var child *VMO
	if v.src != nil {
		if typ != zx.VMOChildSnapshotAtLeastOnWrite {
			return nil, errf(zx.ErrNotSupported, "only ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE children of pager-backed VMO %d", v.koid)
		}
		c, ok := v.src.(Cloner)
		if !ok {
			return nil, errf(zx.ErrNotSupported, "the source of VMO %d cannot clone", v.koid)
		}
		if size > cloneMaxSize {
			return nil, errf(zx.ErrOutOfRange, "clone size %#x is too large (max %#x)", size, cloneMaxSize)
		}
		cv, err := c.Clone(v, offset, size, contentSize, resizable)
		if err != nil {
			return nil, err
		}
		child = cv
	} else {
		cv, err := v.snapshot(offset, size, contentSize, resizable)
		if err != nil {
			return nil, err
		}
		child = cv
	}
	v.adopt(child, ChildCOWClone)
	if o, ok := child.src.(ParentResizeObserver); ok {
		// The parent may have shrunk before the child was linked and could
		// hear of it: clip the child to the size it has now.
		o.ParentResized(child, v.Size())
	}
	return child, nil
}

// adopt links a new child to v: the child keeps v alive (an operation in
// flight, released when the child is destroyed), gets v's name, and v's
// ZX_VMO_ZERO_CHILDREN is deasserted.
func (v *VMO) adopt(child *VMO, kind ChildKind) {
	child.parent, child.kind = v, kind
	child.SetName(v.Name())
	v.mu.Lock()
	v.uses++
	v.children = append(v.children, child)
	v.signals.Update(zx.VMOZeroChildren, 0)
	v.mu.Unlock()
}

// childGone unlinks a destroyed child; the last one asserts
// ZX_VMO_ZERO_CHILDREN again. Then the child's hold on v is dropped.
func (v *VMO) childGone(child *VMO) {
	v.mu.Lock()
	for i, c := range v.children {
		if c == child {
			v.children = append(v.children[:i], v.children[i+1:]...)
			break
		}
	}
	if len(v.children) == 0 {
		v.children = nil
		v.signals.Update(0, zx.VMOZeroChildren)
	}
	v.mu.Unlock()
	v.release()
}

// parentResized tells v's children that v's size is now size.
func (v *VMO) parentResized(size uint64) {
	for _, c := range v.Children() {
		if o, ok := c.src.(ParentResizeObserver); ok {
			o.ParentResized(c, size)
		}
	}
}

// createSlice makes a ZX_VMO_CHILD_SLICE: a VMO on a duplicate of the
// parent's memfd whose page 0 is the parent's byte offset (Base), so reads,
// writes and mappings of either show the same pages. A slice of a pager VMO
// forwards its operations to a Source made by the parent's (Slicer).
func (v *VMO) createSlice(offset, size, contentSize uint64) (*VMO, error) {
	if !pageAligned(offset) {
		return nil, errf(zx.ErrInvalidArgs, "slice offset %#x is not page-aligned", offset)
	}
	if !pageAligned(size) {
		return nil, errf(zx.ErrInvalidArgs, "slice size %#x is not page-aligned", size)
	}
	if size > MaxSize {
		return nil, errf(zx.ErrOutOfRange, "slice size %#x is too large (max %#x)", size, MaxSize)
	}
	if !inRange(offset, size, v.Size()) {
		return nil, errf(zx.ErrInvalidArgs, "slice [%#x, +%#x) is not inside VMO %d of size %#x", offset, size, v.koid, v.Size())
	}
	if v.Resizable() {
		return nil, errf(zx.ErrNotSupported, "slice of resizable VMO %d", v.koid)
	}
	var src Source
	if v.src != nil {
		sl, ok := v.src.(Slicer)
		if !ok {
			return nil, errf(zx.ErrNotSupported, "the source of VMO %d cannot slice", v.koid)
		}
		ss, err := sl.Slice(v, offset)
		if err != nil {
			return nil, err
		}
		src = ss
	}
	if err := v.acquire(); err != nil {
		return nil, err
	}
	defer v.release()
	fd, err := unix.FcntlInt(uintptr(v.res.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, errnoErr(err, "dup of the memfd of VMO %d", v.koid)
	}
	child := newVMO(fd, size, contentSize, 0, src)
	child.share = v.share
	child.base = v.base + offset
	v.adopt(child, ChildSlice)
	return child, nil
}

// snapshot makes a private copy of [offset, offset+size) of a plain VMO (or
// slice) in a new memfd: the data runs of the parent's memfd are copied with
// copy_file_range (holes stay holes), bytes beyond the parent's size are
// zero. zx_vmo_write, set_size and other range operations on the parent
// wait while the copy is made (the parent's rw lock is held exclusively);
// writes through the parent's mappings meanwhile may land in the copy or
// not (a true copy-on-write snapshot would fix that; see docs/VMO-CHILDREN.md).
func (v *VMO) snapshot(offset, size, contentSize uint64, resizable bool) (*VMO, error) {
	fd, err := newMemfd(size)
	if err != nil {
		return nil, err
	}
	v.rw.Lock()
	err = v.copyInto(fd, offset, size)
	v.rw.Unlock()
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	var opts uint32
	if resizable {
		opts = zx.VMOResizable
	}
	return newVMO(fd, size, contentSize, opts, nil), nil
}

// copyInto copies the data runs of v's [offset, offset+size) (clipped to
// v's size) to the start of dst. The caller holds v.rw.
func (v *VMO) copyInto(dst int, offset, size uint64) error {
	psize := v.Size()
	if offset >= psize || size == 0 {
		return nil
	}
	end := min(offset+size, psize)
	src := v.res.fd
	for cur := offset; cur < end; {
		data, err := unix.Seek(src, int64(v.base+cur), unix.SEEK_DATA)
		if err == unix.ENXIO {
			return nil // only a hole is left
		}
		if err != nil {
			return errnoErr(err, "SEEK_DATA in VMO %d at %#x", v.koid, cur)
		}
		dataOff := uint64(data) - v.base
		if dataOff >= end {
			return nil
		}
		hole, err := unix.Seek(src, data, unix.SEEK_HOLE)
		if err != nil {
			return errnoErr(err, "SEEK_HOLE in VMO %d at %#x", v.koid, dataOff)
		}
		runEnd := min(uint64(hole)-v.base, end)
		if err := copyRange(src, int64(v.base+dataOff), dst, int64(dataOff-offset), int64(runEnd-dataOff)); err != nil {
			return errnoErr(err, "copying [%#x, %#x) of VMO %d", dataOff, runEnd, v.koid)
		}
		cur = runEnd
	}
	return nil
}

// copyRange copies n bytes between two memfds: copy_file_range, or
// pread/pwrite through a buffer where the kernel cannot do it.
func copyRange(src int, srcOff int64, dst int, dstOff int64, n int64) error {
	for n > 0 {
		so, do := srcOff, dstOff
		c, err := unix.CopyFileRange(src, &so, dst, &do, int(min(n, 1<<30)), 0)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EXDEV || err == unix.EINVAL || err == unix.ENOSYS || err == unix.EOPNOTSUPP {
			return copyBuffered(src, srcOff, dst, dstOff, n)
		}
		if err != nil {
			return err
		}
		if c == 0 {
			return unix.EIO // the source is shorter than its size says
		}
		srcOff, dstOff, n = srcOff+int64(c), dstOff+int64(c), n-int64(c)
	}
	return nil
}

func copyBuffered(src int, srcOff int64, dst int, dstOff int64, n int64) error {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		b := buf[:min(n, int64(len(buf)))]
		r, err := unix.Pread(src, b, srcOff)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if r == 0 {
			return unix.EIO
		}
		for w := 0; w < r; {
			k, err := unix.Pwrite(dst, b[w:r], dstOff+int64(w))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			w += k
		}
		srcOff, dstOff, n = srcOff+int64(r), dstOff+int64(r), n-int64(r)
	}
	return nil
}
