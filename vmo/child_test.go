package vmo

import (
	"bytes"
	"testing"
	"time"

	"github.com/pagerd/pagerd/zx"
)

// Children of plain VMOs (zx_vmo_create_child): their mappings are plain
// memfd mappings (no userfaultfd), so the test goroutine may touch them.

// fillPages writes page i of [0, n) of v as bytes of value base+i.
func fillPages(t *testing.T, v *VMO, n uint64, base byte) {
	t.Helper()
	for i := uint64(0); i < n; i++ {
		if err := v.Write(bytes.Repeat([]byte{base + byte(i)}, pg), i*pg); err != nil {
			t.Fatalf("write page %d: %v", i, err)
		}
	}
}

func readAt(t *testing.T, v *VMO, off uint64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if err := v.Read(b, off); err != nil {
		t.Fatalf("read [%#x, +%#x) of VMO %d: %v", off, n, v.Koid(), err)
	}
	return b
}

func wantByte(t *testing.T, what string, got []byte, want byte) {
	t.Helper()
	for i, b := range got {
		if b != want {
			t.Fatalf("%s: byte %d is %#x, want %#x", what, i, b, want)
		}
	}
}

func mustChild(t *testing.T, v *VMO, options uint32, off, size uint64) *VMO {
	t.Helper()
	c, err := v.CreateChild(options, off, size, size)
	if err != nil {
		t.Fatalf("CreateChild(%#x, %#x, %#x): %v", options, off, size, err)
	}
	t.Cleanup(func() { c.OnZeroHandles() })
	return c
}

func mapRW(t *testing.T, v *VMO, off, n uint64) []byte {
	t.Helper()
	addr, err := Root().Map(zx.VMPermRead|zx.VMPermWrite, 0, v, off, n)
	if err != nil {
		t.Fatalf("map: %v", err)
	}
	t.Cleanup(func() { _ = Root().Unmap(addr, n) })
	return mem(addr, int(n))
}

func TestChildSnapshotIsolation(t *testing.T) {
	for _, typ := range []uint32{zx.VMOChildSnapshot, zx.VMOChildSnapshotAtLeastOnWrite, zx.VMOChildSnapshotModified} {
		p := newPlain(t, 4*pg, 0)
		fillPages(t, p, 4, 0x10)
		c := mustChild(t, p, typ, pg, 2*pg)
		wantByte(t, "snapshot page 0", readAt(t, c, 0, pg), 0x11)
		wantByte(t, "snapshot page 1", readAt(t, c, pg, pg), 0x12)
		// Writes to the parent, by zx_vmo_write and through a mapping, stay
		// out of the snapshot; writes to the snapshot stay out of the parent.
		if err := p.Write(bytes.Repeat([]byte{0xaa}, pg), pg); err != nil {
			t.Fatal(err)
		}
		pm := mapRW(t, p, 0, 4*pg)
		copy(pm[2*pg:3*pg], bytes.Repeat([]byte{0xbb}, pg))
		wantByte(t, "snapshot after parent writes, page 0", readAt(t, c, 0, pg), 0x11)
		wantByte(t, "snapshot after parent writes, page 1", readAt(t, c, pg, pg), 0x12)
		cm := mapRW(t, c, 0, 2*pg)
		wantByte(t, "snapshot mapping", cm[pg:2*pg], 0x12)
		copy(cm[:pg], bytes.Repeat([]byte{0xcc}, pg))
		if err := c.Write([]byte{0xdd}, pg); err != nil {
			t.Fatal(err)
		}
		wantByte(t, "parent page 1 after child writes", readAt(t, p, pg, pg), 0xaa)
		wantByte(t, "parent page 2 after child writes", pm[2*pg:3*pg], 0xbb)
		wantByte(t, "child page 0 via read", readAt(t, c, 0, pg), 0xcc)
		if cm[pg] != 0xdd {
			t.Fatalf("child write not seen in child mapping: %#x", cm[pg])
		}
		if c.Kind() != ChildCOWClone || c.Parent() != p {
			t.Fatalf("type %#x: kind %d parent %v", typ, c.Kind(), c.Parent())
		}
	}
}

func TestChildSnapshotBeyondParentReadsZero(t *testing.T) {
	p := newPlain(t, 2*pg, 0)
	fillPages(t, p, 2, 0x40)
	c := mustChild(t, p, zx.VMOChildSnapshot, pg, 3*pg)
	if c.Size() != 3*pg {
		t.Fatalf("size %#x", c.Size())
	}
	wantByte(t, "page inside the parent", readAt(t, c, 0, pg), 0x41)
	wantByte(t, "pages beyond the parent", readAt(t, c, pg, 2*pg), 0)
	m := mapRW(t, c, 0, 3*pg)
	wantByte(t, "mapped beyond the parent", m[pg:], 0)
	// Entirely beyond the parent: all zero.
	far := mustChild(t, p, zx.VMOChildSnapshotAtLeastOnWrite, 8*pg, pg)
	wantByte(t, "child past the parent's end", readAt(t, far, 0, pg), 0)
}

func TestChildSnapshotKeepsHoles(t *testing.T) {
	p := newPlain(t, 1<<30, 0)
	if err := p.Write([]byte{7}, 512<<20); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c := mustChild(t, p, zx.VMOChildSnapshot, 0, 1<<30)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("snapshot of a 1 GiB sparse VMO took %v", d)
	}
	if got := c.CommittedBytes(); got == 0 || got > 64*pg {
		t.Fatalf("committed bytes of the snapshot: %#x, want one page or so", got)
	}
	if b := readAt(t, c, 512<<20, 2); b[0] != 7 || b[1] != 0 {
		t.Fatalf("copied byte: %v", b)
	}
}

func TestChildSliceSharesBothWays(t *testing.T) {
	p := newPlain(t, 4*pg, 0)
	fillPages(t, p, 4, 0x20)
	s := mustChild(t, p, zx.VMOChildSlice, pg, 2*pg)
	if s.Kind() != ChildSlice || s.Base() != pg {
		t.Fatalf("kind %d base %#x", s.Kind(), s.Base())
	}
	wantByte(t, "slice page 0", readAt(t, s, 0, pg), 0x21)
	sm := mapRW(t, s, 0, 2*pg)
	pm := mapRW(t, p, 0, 4*pg)
	wantByte(t, "slice mapping page 1", sm[pg:], 0x22)
	// Parent → slice.
	if err := p.Write(bytes.Repeat([]byte{0x99}, pg), 2*pg); err != nil {
		t.Fatal(err)
	}
	wantByte(t, "slice read after parent write", readAt(t, s, pg, pg), 0x99)
	wantByte(t, "slice mapping after parent write", sm[pg:], 0x99)
	// Slice → parent, through a mapping and zx_vmo_write.
	copy(sm[:pg], bytes.Repeat([]byte{0x77}, pg))
	wantByte(t, "parent read after slice mapping write", readAt(t, p, pg, pg), 0x77)
	if err := s.Write([]byte{0x55}, pg+1); err != nil {
		t.Fatal(err)
	}
	if pm[2*pg+1] != 0x55 {
		t.Fatalf("parent mapping does not see the slice write: %#x", pm[2*pg+1])
	}
	// The slice's range ends: no access to the parent's page 3 through it.
	wantStatus(t, "read past the slice", s.Read(make([]byte, 1), 2*pg), zx.ErrOutOfRange)
	// DECOMMIT through the slice frees the parent's pages; ZERO zeroes them.
	if err := s.OpRange(zx.VMOOpDecommit, 0, pg, nil); err != nil {
		t.Fatal(err)
	}
	wantByte(t, "parent page 1 after slice decommit", readAt(t, p, pg, pg), 0)
	wantByte(t, "parent page 0 untouched", readAt(t, p, 0, pg), 0x20)
	wantByte(t, "parent page 3 untouched", pm[3*pg:], 0x23)
	if got := s.CommittedBytes(); got != 0 {
		t.Fatalf("a slice has no committed bytes of its own, got %#x", got)
	}
	// A slice of a slice shares the same pages.
	ss := mustChild(t, s, zx.VMOChildSlice, pg, pg)
	if ss.Base() != 2*pg {
		t.Fatalf("slice of slice base %#x", ss.Base())
	}
	if err := ss.Write([]byte{0x31}, 0); err != nil {
		t.Fatal(err)
	}
	if pm[2*pg] != 0x31 {
		t.Fatalf("parent does not see the slice-of-slice write: %#x", pm[2*pg])
	}
	// A snapshot-at-least-on-write of a slice copies the slice's view.
	cs := mustChild(t, s, zx.VMOChildSnapshotAtLeastOnWrite, 0, 2*pg)
	if b := readAt(t, cs, pg, 2); b[0] != 0x31 || b[1] != 0x55 {
		t.Fatalf("clone of a slice: %x", b)
	}
}

func TestChildSliceAsSupplyAux(t *testing.T) {
	// A slice's internal mapping and decommit address its own pages.
	p := newPlain(t, 4*pg, 0)
	fillPages(t, p, 4, 0x60)
	s := mustChild(t, p, zx.VMOChildSlice, 2*pg, 2*pg)
	err := s.WithInternalMapping(func(base uintptr, size uint64) error {
		if size != 2*pg {
			t.Errorf("internal mapping size %#x", size)
		}
		if b := mem(base, 1)[0]; b != 0x62 {
			t.Errorf("internal mapping starts with %#x, want 0x62", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Decommit(pg, pg); err != nil {
		t.Fatal(err)
	}
	wantByte(t, "parent page 3 after slice Decommit", readAt(t, p, 3*pg, pg), 0)
	wantByte(t, "parent page 2 kept", readAt(t, p, 2*pg, pg), 0x62)
}

func TestChildStatuses(t *testing.T) {
	plain := newPlain(t, 4*pg, 0)
	resizable := newPlain(t, 4*pg, zx.VMOResizable)
	disc := newPlain(t, 4*pg, zx.VMODiscardable)
	slice := mustChild(t, plain, zx.VMOChildSlice, 0, 2*pg)
	cases := []struct {
		name    string
		v       *VMO
		options uint32
		off     uint64
		size    uint64
		want    zx.Status
	}{
		{"discardable parent", disc, zx.VMOChildSnapshot, 0, pg, zx.ErrNotSupported},
		{"discardable before bad options", disc, 0xffff, 1, pg, zx.ErrNotSupported},
		{"no type", plain, 0, 0, pg, zx.ErrInvalidArgs},
		{"resizable only", plain, zx.VMOChildResizable, 0, pg, zx.ErrInvalidArgs},
		{"two snapshot types", plain, zx.VMOChildSnapshot | zx.VMOChildSnapshotAtLeastOnWrite, 0, pg, zx.ErrInvalidArgs},
		{"unknown bit", plain, zx.VMOChildSnapshot | 1<<1, 0, pg, zx.ErrInvalidArgs},
		{"high bit", plain, zx.VMOChildSnapshot | 1<<20, 0, pg, zx.ErrInvalidArgs},
		{"slice with snapshot", plain, zx.VMOChildSlice | zx.VMOChildSnapshot, 0, pg, zx.ErrInvalidArgs},
		{"slice resizable", plain, zx.VMOChildSlice | zx.VMOChildResizable, 0, pg, zx.ErrInvalidArgs},
		{"slice unaligned offset", plain, zx.VMOChildSlice, 5, pg, zx.ErrInvalidArgs},
		{"slice past the parent", plain, zx.VMOChildSlice, 3 * pg, 2 * pg, zx.ErrInvalidArgs},
		{"slice offset past the parent", plain, zx.VMOChildSlice, 8 * pg, 0, zx.ErrInvalidArgs},
		{"slice overflow", plain, zx.VMOChildSlice, ^uint64(0) &^ (pg - 1), 2 * pg, zx.ErrInvalidArgs},
		{"slice too large", plain, zx.VMOChildSlice, 0, MaxSize + pg, zx.ErrOutOfRange},
		{"slice of resizable", resizable, zx.VMOChildSlice, 0, pg, zx.ErrNotSupported},
		{"slice whole", plain, zx.VMOChildSlice, 0, 4 * pg, zx.ErrOk},
		{"slice empty", plain, zx.VMOChildSlice, 4 * pg, 0, zx.ErrOk},
		{"reference", plain, zx.VMOChildReference, 0, 0, zx.ErrNotSupported},
		{"reference with snapshot", plain, zx.VMOChildReference | zx.VMOChildSnapshot, 0, 0, zx.ErrInvalidArgs},
		{"snapshot unaligned offset", plain, zx.VMOChildSnapshot, 1, pg, zx.ErrInvalidArgs},
		{"snapshot too large", plain, zx.VMOChildSnapshot, 0, MaxSize + pg, zx.ErrOutOfRange},
		{"snapshot overflow", plain, zx.VMOChildSnapshot, ^uint64(0) &^ (pg - 1), 2 * pg, zx.ErrOutOfRange},
		{"snapshot of a slice", slice, zx.VMOChildSnapshot, 0, pg, zx.ErrNotSupported},
		{"at-least-on-write of a slice", slice, zx.VMOChildSnapshotAtLeastOnWrite, 0, pg, zx.ErrOk},
		{"snapshot of resizable", resizable, zx.VMOChildSnapshot, 0, pg, zx.ErrOk},
		{"resizable snapshot", plain, zx.VMOChildSnapshot | zx.VMOChildResizable, 0, pg, zx.ErrOk},
		{"empty snapshot", plain, zx.VMOChildSnapshot, 0, 0, zx.ErrOk},
	}
	for _, c := range cases {
		child, err := c.v.CreateChild(c.options, c.off, c.size, c.size)
		wantStatus(t, c.name, err, c.want)
		if (err == nil) != (child != nil) {
			t.Fatalf("%s: child %v with error %v", c.name, child, err)
		}
		if child != nil {
			child.OnZeroHandles()
		}
	}
}

func TestChildResizability(t *testing.T) {
	p := newPlain(t, 2*pg, 0)
	fillPages(t, p, 2, 1)
	c := mustChild(t, p, zx.VMOChildSnapshot|zx.VMOChildResizable, 0, 2*pg)
	if !c.Resizable() {
		t.Fatal("child of a non-resizable VMO made with ZX_VMO_CHILD_RESIZABLE is not resizable")
	}
	if err := c.SetSize(5 * pg); err != nil {
		t.Fatal(err)
	}
	wantByte(t, "grown child tail", readAt(t, c, 2*pg, 3*pg), 0)
	wantByte(t, "grown child head", readAt(t, c, pg, pg), 2)
	if err := c.SetSize(pg); err != nil {
		t.Fatal(err)
	}
	if p.Size() != 2*pg {
		t.Fatalf("parent size changed: %#x", p.Size())
	}
	fixed := mustChild(t, p, zx.VMOChildSnapshot, 0, pg)
	wantStatus(t, "set_size of a non-resizable child", fixed.SetSize(2*pg), zx.ErrUnavailable)
	// A resizable parent's non-resizable child.
	rp := newPlain(t, pg, zx.VMOResizable)
	rc := mustChild(t, rp, zx.VMOChildSnapshotAtLeastOnWrite, 0, pg)
	wantStatus(t, "set_size of the child of a resizable VMO", rc.SetSize(2*pg), zx.ErrUnavailable)
}

func TestChildZeroChildrenSignal(t *testing.T) {
	for _, typ := range []uint32{zx.VMOChildSnapshot, zx.VMOChildSlice} {
		p, err := Create(2*pg, 0)
		if err != nil {
			t.Fatal(err)
		}
		has := func() bool { return p.Signals().Get()&zx.VMOZeroChildren != 0 }
		if !has() {
			t.Fatal("ZX_VMO_ZERO_CHILDREN not asserted at creation")
		}
		a, err := p.CreateChild(typ, 0, pg, pg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.CreateChild(typ, pg, pg, pg)
		if err != nil {
			t.Fatal(err)
		}
		if has() || p.NumChildren() != 2 {
			t.Fatalf("type %#x: signal %v with %d children", typ, has(), p.NumChildren())
		}
		// A grandchild does not count for p.
		g, err := a.CreateChild(zx.VMOChildSnapshotAtLeastOnWrite, 0, pg, pg)
		if err != nil {
			t.Fatal(err)
		}
		if p.NumChildren() != 2 || a.NumChildren() != 1 {
			t.Fatalf("children: p %d a %d", p.NumChildren(), a.NumChildren())
		}
		addr, err := Root().Map(zx.VMPermRead, 0, b, 0, pg)
		if err != nil {
			t.Fatal(err)
		}
		b.OnZeroHandles()
		if has() || p.NumChildren() != 2 {
			t.Fatal("a mapped child without handles stopped counting")
		}
		// The parent without handles lives on while it has children.
		p.OnZeroHandles()
		if p.Destroyed() {
			t.Fatal("parent destroyed while it has children")
		}
		if err := Root().Unmap(addr, pg); err != nil {
			t.Fatal(err)
		}
		if has() || p.NumChildren() != 1 {
			t.Fatalf("after the mapped child went: signal %v, %d children", has(), p.NumChildren())
		}
		// a has a child of its own: it is not destroyed with its handles.
		a.OnZeroHandles()
		if a.Destroyed() || has() {
			t.Fatal("child with a child of its own destroyed")
		}
		g.OnZeroHandles()
		if !a.Destroyed() || !g.Destroyed() {
			t.Fatal("child and grandchild not destroyed")
		}
		if !has() || p.NumChildren() != 0 {
			t.Fatalf("ZX_VMO_ZERO_CHILDREN not asserted again (%d children)", p.NumChildren())
		}
		if !p.Destroyed() {
			t.Fatal("parent without handles not destroyed after its last child")
		}
	}
}

func TestChildInfo(t *testing.T) {
	p := newPlain(t, 2*pg, 0)
	p.SetName("parent-name")
	fillPages(t, p, 2, 3)
	snap := mustChild(t, p, zx.VMOChildSnapshot, 0, 2*pg)
	slice := mustChild(t, p, zx.VMOChildSlice, 0, pg)
	pi := p.Info(zx.DefaultVMORights)
	if pi.NumChildren != 2 || pi.ParentKoid != 0 || pi.Flags&zx.InfoVMOIsCOWClone != 0 {
		t.Fatalf("parent info: children %d parent %d flags %#x", pi.NumChildren, pi.ParentKoid, pi.Flags)
	}
	si := snap.Info(zx.DefaultVMORights)
	if si.ParentKoid != p.Koid() || si.NumChildren != 0 || si.Flags&zx.InfoVMOIsCOWClone == 0 {
		t.Fatalf("snapshot info: parent %d children %d flags %#x", si.ParentKoid, si.NumChildren, si.Flags)
	}
	if si.CommittedBytes != 2*pg {
		t.Fatalf("snapshot committed %#x, want two pages", si.CommittedBytes)
	}
	li := slice.Info(zx.DefaultVMORights)
	if li.ParentKoid != p.Koid() || li.Flags&zx.InfoVMOIsCOWClone != 0 || li.CommittedBytes != 0 {
		t.Fatalf("slice info: parent %d flags %#x committed %#x", li.ParentKoid, li.Flags, li.CommittedBytes)
	}
	if snap.Name() != "parent-name" || slice.Name() != "parent-name" {
		t.Fatalf("names %q %q", snap.Name(), slice.Name())
	}
	if snap.ContentSize() != 2*pg {
		t.Fatalf("content size %#x", snap.ContentSize())
	}
}
