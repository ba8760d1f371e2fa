package syscalls

import (
	"bytes"
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/pagerd/pagerd/zx"
)

// zx_vmo_create_child on plain VMOs, through handles: check order, rights,
// content, ZX_INFO_VMO and ZX_VMO_ZERO_CHILDREN.

func childNew(t *testing.T, h zx.Handle, options uint32, off, size uint64) zx.Handle {
	t.Helper()
	c, st := VmoCreateChild(h, options, off, size)
	if st != zx.ErrOk {
		t.Fatalf("VmoCreateChild(%#x, %#x, %#x): %v", options, off, size, st)
	}
	t.Cleanup(func() { HandleClose(c) })
	return c
}

// childMem views a mapping made by the test (plain VMOs: no userfaultfd).
func childMem(addr uintptr, n int) []byte {
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), n)
}

func childMap(t *testing.T, h zx.Handle, n uint64) []byte {
	t.Helper()
	addr, st := VmarMap(VmarRootSelf(), zx.VMPermRead|zx.VMPermWrite, 0, h, 0, n)
	if st != zx.ErrOk {
		t.Fatalf("map: %v", st)
	}
	t.Cleanup(func() { VmarUnmap(VmarRootSelf(), addr, n) })
	return childMem(addr, int(n))
}

func TestChildCheckOrder(t *testing.T) {
	h := vmoNew(t, 4*vmoPage, 0)
	port := portNew(t)
	noDup := vmoDup(t, h, zx.DefaultVMORights&^zx.RightDuplicate)
	noRead := vmoDup(t, h, zx.DefaultVMORights&^zx.RightRead)
	disc := vmoNew(t, vmoPage, zx.VMODiscardable)
	huge := uint64(math.MaxUint64)
	cases := []struct {
		name    string
		h       zx.Handle
		options uint32
		off     uint64
		size    uint64
		want    zx.Status
	}{
		// The size is rounded before anything else, even the handle.
		{"size overflow before handle", zx.HandleInvalid, zx.VMOChildSnapshot, 0, huge, zx.ErrOutOfRange},
		{"size overflow before options", h, 0xffffffff, 0, huge, zx.ErrOutOfRange},
		// NO_WRITE with RESIZABLE next, still before the handle.
		{"no-write resizable before handle", zx.HandleInvalid, zx.VMOChildSnapshot | zx.VMOChildNoWrite | zx.VMOChildResizable, 0, vmoPage, zx.ErrInvalidArgs},
		{"bad handle", zx.HandleInvalid, zx.VMOChildSnapshot, 0, vmoPage, zx.ErrBadHandle},
		{"bad handle before options", zx.HandleInvalid, 0, 3, vmoPage, zx.ErrBadHandle},
		{"wrong type", port, zx.VMOChildSnapshot, 0, vmoPage, zx.ErrWrongType},
		{"no DUPLICATE", noDup, zx.VMOChildSnapshot, 0, vmoPage, zx.ErrAccessDenied},
		{"no READ", noRead, zx.VMOChildSlice, 0, vmoPage, zx.ErrAccessDenied},
		{"rights before options", noRead, 0, 3, vmoPage, zx.ErrAccessDenied},
		{"discardable", disc, zx.VMOChildSnapshot, 0, vmoPage, zx.ErrNotSupported},
		{"no type", h, 0, 0, vmoPage, zx.ErrInvalidArgs},
		{"no-write only", h, zx.VMOChildNoWrite, 0, vmoPage, zx.ErrInvalidArgs},
		{"two types", h, zx.VMOChildSnapshot | zx.VMOChildSlice, 0, vmoPage, zx.ErrInvalidArgs},
		{"unaligned offset", h, zx.VMOChildSnapshot, 100, vmoPage, zx.ErrInvalidArgs},
		{"offset overflow", h, zx.VMOChildSnapshotAtLeastOnWrite, huge &^ (vmoPage - 1), vmoPage, zx.ErrOutOfRange},
		{"slice beyond parent", h, zx.VMOChildSlice, 2 * vmoPage, 3 * vmoPage, zx.ErrInvalidArgs},
		{"slice no-write ok", h, zx.VMOChildSlice | zx.VMOChildNoWrite, 0, vmoPage, zx.ErrOk},
		{"unaligned size is rounded", h, zx.VMOChildSnapshot, 0, 10, zx.ErrOk},
		{"beyond the parent", h, zx.VMOChildSnapshot, 8 * vmoPage, vmoPage, zx.ErrOk},
	}
	for _, c := range cases {
		child, st := VmoCreateChild(c.h, c.options, c.off, c.size)
		vmoWant(t, c.name, st, c.want)
		if (st == zx.ErrOk) != (child != zx.HandleInvalid) {
			t.Fatalf("%s: handle %#x with %v", c.name, child, st)
		}
		HandleClose(child)
	}
}

func TestChildRights(t *testing.T) {
	h := vmoNew(t, 2*vmoPage, 0)
	// A parent handle with EXECUTE and without SET_PROPERTY and WRITE.
	v, _, st := VmoObject(h, zx.RightNone)
	if st != zx.ErrOk {
		t.Fatal(st)
	}
	parentRights := zx.DefaultVMORights&^(zx.RightSetProperty|zx.RightWrite) | zx.RightExecute
	fake := NewVMOHandle(v, parentRights)
	t.Cleanup(func() { HandleClose(fake) })
	base := parentRights | zx.RightGetProperty | zx.RightSetProperty
	cases := []struct {
		name    string
		options uint32
		want    zx.Rights
	}{
		{"snapshot: +WRITE -EXECUTE", zx.VMOChildSnapshot, base&^zx.RightExecute | zx.RightWrite},
		{"at least on write", zx.VMOChildSnapshotAtLeastOnWrite, base&^zx.RightExecute | zx.RightWrite},
		{"resizable snapshot", zx.VMOChildSnapshot | zx.VMOChildResizable, base&^zx.RightExecute | zx.RightWrite | zx.RightResize},
		{"no-write snapshot keeps EXECUTE", zx.VMOChildSnapshot | zx.VMOChildNoWrite, base},
		{"slice keeps the parent's", zx.VMOChildSlice, base},
		{"no-write slice", zx.VMOChildSlice | zx.VMOChildNoWrite, base},
	}
	for _, c := range cases {
		child := childNew(t, fake, c.options, 0, vmoPage)
		if got := vmoRights(t, child); got != c.want {
			t.Fatalf("%s: rights %#x, want %#x", c.name, got, c.want)
		}
	}
	// A resizable parent's RESIZE right does not pass to a non-resizable child.
	rp := vmoNew(t, vmoPage, zx.VMOResizable)
	rc := childNew(t, rp, zx.VMOChildSnapshot, 0, vmoPage)
	if vmoRights(t, rc)&zx.RightResize != 0 {
		t.Fatal("non-resizable child got RESIZE")
	}
	vmoWant(t, "set_size of non-resizable child", VmoSetSize(rc, 2*vmoPage), zx.ErrUnavailable)
	// A resizable child of a non-resizable parent can be resized.
	rs := childNew(t, h, zx.VMOChildSnapshot|zx.VMOChildResizable, 0, vmoPage)
	vmoWant(t, "set_size of resizable child", VmoSetSize(rs, 3*vmoPage), zx.ErrOk)
	if size, _ := VmoGetSize(rs); size != 3*vmoPage {
		t.Fatalf("resized child size %#x", size)
	}
	// NO_WRITE children refuse writes.
	nw := childNew(t, h, zx.VMOChildSnapshot|zx.VMOChildNoWrite, 0, vmoPage)
	vmoWant(t, "write to a NO_WRITE child", VmoWrite(nw, []byte{1}, 0), zx.ErrAccessDenied)
	if _, st := VmarMap(VmarRootSelf(), zx.VMPermRead|zx.VMPermWrite, 0, nw, 0, vmoPage); st != zx.ErrAccessDenied {
		t.Fatalf("writable mapping of a NO_WRITE child: %v", st)
	}
}

func TestChildContentThroughHandles(t *testing.T) {
	h := vmoNew(t, 3*vmoPage, 0)
	vmoWant(t, "set name", ObjectSetProperty(h, zx.PropName, []byte("kid")), zx.ErrOk)
	for i := uint64(0); i < 3; i++ {
		vmoWant(t, "fill", VmoWrite(h, bytes.Repeat([]byte{byte(0x30 + i)}, vmoPage), i*vmoPage), zx.ErrOk)
	}
	snap := childNew(t, h, zx.VMOChildSnapshot, vmoPage, 5000)
	slice := childNew(t, h, zx.VMOChildSlice, vmoPage, 2*vmoPage)
	if cs, _ := VmoGetStreamSize(snap); cs != 5000 {
		t.Fatalf("snapshot content size %d", cs)
	}
	if size, _ := VmoGetSize(snap); size != 2*vmoPage {
		t.Fatalf("snapshot size %#x", size)
	}
	pm := childMap(t, h, 3*vmoPage)
	sm := childMap(t, snap, 2*vmoPage)
	lm := childMap(t, slice, 2*vmoPage)
	// Writes to the parent through its mapping: the slice sees them, the snapshot does not.
	copy(pm[vmoPage:], bytes.Repeat([]byte{0xee}, vmoPage))
	buf := make([]byte, 2)
	vmoWant(t, "read slice", VmoRead(slice, buf, 0), zx.ErrOk)
	if buf[0] != 0xee || lm[0] != 0xee {
		t.Fatalf("slice does not see the parent's write: %#x %#x", buf[0], lm[0])
	}
	vmoWant(t, "read snapshot", VmoRead(snap, buf, 0), zx.ErrOk)
	if buf[0] != 0x31 || sm[0] != 0x31 || sm[vmoPage] != 0x32 {
		t.Fatalf("snapshot changed with its parent: %#x %#x %#x", buf[0], sm[0], sm[vmoPage])
	}
	// Writes through the slice land in the parent; the snapshot's in neither.
	vmoWant(t, "write slice", VmoWrite(slice, []byte{0x11}, vmoPage), zx.ErrOk)
	sm[vmoPage] = 0x22
	vmoWant(t, "read parent", VmoRead(h, buf, 2*vmoPage), zx.ErrOk)
	if buf[0] != 0x11 || pm[2*vmoPage] != 0x11 {
		t.Fatalf("parent does not see the slice write: %#x", buf[0])
	}
	// Info: parent koid, children, flags, name.
	pi, si, li := vmoInfo(t, h), vmoInfo(t, snap), vmoInfo(t, slice)
	if pi.NumChildren != 2 || si.ParentKoid != pi.Koid || li.ParentKoid != pi.Koid {
		t.Fatalf("info: parent children %d, snapshot parent %d, slice parent %d (parent koid %d)",
			pi.NumChildren, si.ParentKoid, li.ParentKoid, pi.Koid)
	}
	if si.Flags&zx.InfoVMOIsCOWClone == 0 || li.Flags&zx.InfoVMOIsCOWClone != 0 || pi.Flags&zx.InfoVMOIsCOWClone != 0 {
		t.Fatalf("IS_COW_CLONE: parent %#x snapshot %#x slice %#x", pi.Flags, si.Flags, li.Flags)
	}
	name := make([]byte, zx.MaxNameLen)
	vmoWant(t, "child name", ObjectGetProperty(snap, zx.PropName, name), zx.ErrOk)
	if string(bytes.TrimRight(name, "\x00")) != "kid" {
		t.Fatalf("child name %q", name)
	}
	// Without GET_PROPERTY on the parent handle, the name is not copied.
	noProp := vmoDup(t, h, zx.DefaultVMORights&^zx.RightGetProperty)
	anon := childNew(t, noProp, zx.VMOChildSnapshot, 0, vmoPage)
	vmoWant(t, "anonymous child name", ObjectGetProperty(anon, zx.PropName, name), zx.ErrOk)
	if name[0] != 0 {
		t.Fatalf("name copied without GET_PROPERTY: %q", name)
	}
}

func TestChildZeroChildrenWait(t *testing.T) {
	h := vmoNew(t, 2*vmoPage, 0)
	c, st := VmoCreateChild(h, zx.VMOChildSnapshotAtLeastOnWrite, 0, vmoPage)
	vmoWant(t, "create child", st, zx.ErrOk)
	if obs, _ := ObjectWaitOne(h, zx.VMOZeroChildren, zx.TimeInfinitePast); obs&zx.VMOZeroChildren != 0 {
		t.Fatal("ZX_VMO_ZERO_CHILDREN asserted while a child exists")
	}
	addr, st := VmarMap(VmarRootSelf(), zx.VMPermRead, 0, c, 0, vmoPage)
	vmoWant(t, "map child", st, zx.ErrOk)
	done := make(chan zx.Status, 1)
	go func() {
		_, st := ObjectWaitOne(h, zx.VMOZeroChildren, vmoIn(10*time.Second))
		done <- st
	}()
	HandleClose(c)
	select {
	case st := <-done:
		t.Fatalf("wait returned %v while the child is still mapped", st)
	case <-time.After(50 * time.Millisecond):
	}
	vmoWant(t, "unmap child", VmarUnmap(VmarRootSelf(), addr, vmoPage), zx.ErrOk)
	select {
	case st := <-done:
		vmoWant(t, "wait for ZERO_CHILDREN", st, zx.ErrOk)
	case <-time.After(5 * time.Second):
		t.Fatal("ZX_VMO_ZERO_CHILDREN not asserted after the last child went")
	}
	if info := vmoInfo(t, h); info.NumChildren != 0 {
		t.Fatalf("num_children %d", info.NumChildren)
	}
}
