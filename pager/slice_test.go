package pager

import (
	"testing"

	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// Slices of pager VMOs (ZX_VMO_CHILD_SLICE): a window on the pager VMO's
// pages, requested, supplied, dirtied and failed as the pager VMO's own.

func newSlice(t *testing.T, v *vmo.VMO, off, size uint64) *vmo.VMO {
	t.Helper()
	s, err := v.CreateChild(zx.VMOChildSlice, off, size, size)
	if err != nil {
		t.Fatalf("slice [%#x, +%#x) of VMO %d: %v", off, size, v.Koid(), err)
	}
	t.Cleanup(func() { s.OnZeroHandles() })
	return s
}

func TestSliceOfPagerVMO(t *testing.T) {
	f := newFixture(t, 4, 0)
	s := newSlice(t, f.v, ps, 2*ps)
	saddr := mapAll(t, s)

	// zx_vmo_read of the slice: the pager VMO's page 1 is requested.
	res := async(func() error { return s.Read(make([]byte, 8), 3) })
	f.wantRequest(zx.PagerVMORead, ps, ps)
	pending(t, res)
	f.supply(ps, ps, 1)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	// A mapped read of slice page 1 from a C thread: page 2 is requested.
	acc := thread(t).Read(saddr+ps, 16)
	f.wantRequest(zx.PagerVMORead, 2*ps, ps)
	f.supply(2*ps, ps, 2)
	if r := done(t, acc); r.Faulted() {
		t.Fatalf("mapped slice read: signal %d", r.Signo)
	} else {
		wantBytes(t, r.Data, pattern(2, 2)[:16], "mapped slice read")
	}
	// Both ways: a write through the slice's mapping is the pager VMO's
	// (dirty, modified); a write to the pager VMO shows in the slice.
	mappedWrite(t, saddr+10, []byte("via-slice"))
	if b := readVMO(t, f.v, ps+10, 9); string(b) != "via-slice" {
		t.Fatalf("pager VMO does not see the slice's write: %q", b)
	}
	if err := f.v.Write([]byte("via-root"), 2*ps+20); err != nil {
		t.Fatal(err)
	}
	if b := mappedRead(t, saddr+ps+20, 8); string(b) != "via-root" {
		t.Fatalf("slice mapping does not see the pager VMO's write: %q", b)
	}
	if m, _ := f.p.Stats(f.v, false); !m {
		t.Fatal("a write through a slice did not set modified")
	}
	out := make([]zx.VMODirtyRange, 4)
	n, _, err := f.p.DirtyRanges(f.v, 0, 4*ps, out, false)
	if err != nil || n != 1 || out[0].Offset != ps || out[0].Length != 2*ps {
		t.Fatalf("dirty ranges: %d %v %+v", n, err, out[:n])
	}
	// Info, refusals.
	info := s.Info(zx.DefaultVMORights)
	if info.Flags&zx.InfoVMOPagerBacked == 0 || info.Flags&zx.InfoVMOIsCOWClone != 0 ||
		info.ParentKoid != f.v.Koid() || info.CommittedBytes != 0 {
		t.Fatalf("slice info: flags %#x parent %d committed %#x", info.Flags, info.ParentKoid, info.CommittedBytes)
	}
	_, _, err = f.p.DirtyRanges(s, 0, ps, nil, true)
	wantStatus(t, err, zx.ErrInvalidArgs)
	_, err = f.p.Stats(s, false)
	wantStatus(t, err, zx.ErrInvalidArgs)
	wantStatus(t, f.p.SupplyPages(s, 0, ps, newAux(t, ps), 0), zx.ErrInvalidArgs)
	wantStatus(t, f.p.Detach(s), zx.ErrInvalidArgs)
	wantStatus(t, s.OpRange(zx.VMOOpDecommit, 0, ps, nil), zx.ErrNotSupported)
	wantStatus(t, s.Read(make([]byte, 1), 2*ps), zx.ErrOutOfRange)
	f.noPacket()
	// A slice of a slice, and a clone of a slice.
	ss := newSlice(t, s, ps, ps)
	if b := readVMO(t, ss, 20, 8); string(b) != "via-root" {
		t.Fatalf("slice of a slice: %q", b)
	}
	c := newClone(t, s, 0, 2*ps, 0)
	if err := c.Write([]byte("clone"), 10); err != nil {
		t.Fatal(err)
	}
	if b := readVMO(t, s, 10, 9); string(b) != "via-slice" {
		t.Fatalf("slice changed by its clone: %q", b)
	}
	// PREFETCH through the slice requests the pager VMO's absent pages:
	// none here.
	if err := s.OpRange(zx.VMOOpPrefetch, 0, 2*ps, nil); err != nil {
		t.Fatal(err)
	}
	f.noPacket()
}

func TestSliceOfPagerVMOFailsAndDetaches(t *testing.T) {
	f := newFixture(t, 4, 0)
	s := newSlice(t, f.v, 2*ps, 2*ps)
	saddr := mapAll(t, s)
	acc := thread(t).Read(saddr, 1)
	f.wantRequest(zx.PagerVMORead, 2*ps, ps)
	if err := f.p.Fail(f.v, 2*ps, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	if r := done(t, acc); !r.Sigbus {
		t.Fatalf("failed page through a slice mapping: signal %d, want SIGBUS", r.Signo)
	}
	res := async(func() error { return s.OpRange(zx.VMOOpPrefetch, ps, ps, nil) })
	f.wantRequest(zx.PagerVMORead, 3*ps, ps)
	f.supply(3*ps, ps, 3)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	// A clone of the slice copies page 1 on a mapped read; the detach of
	// the pager VMO drops that copy through the slice, and it fails.
	c := newClone(t, s, 0, 2*ps, 0)
	caddr := mapAll(t, c)
	wantBytes(t, mappedRead(t, caddr+ps, ps), pattern(3, 3), "clone of a slice")
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, s.Read(make([]byte, 1), ps), zx.ErrBadState)
	wantStatus(t, c.Read(make([]byte, 1), ps), zx.ErrBadState)
	if r := done(t, thread(t).Read(saddr+ps, 1)); !r.Sigbus {
		t.Fatalf("detached page through a slice mapping: signal %d, want SIGBUS", r.Signo)
	}
	if r := done(t, thread(t).Read(caddr+ps, 1)); !r.Sigbus {
		t.Fatalf("detached page through a clone of a slice: signal %d, want SIGBUS", r.Signo)
	}
}

// A write through a slice of a TRAP_DIRTY VMO posts DIRTY for the pager
// VMO's page; a slice of a resizable VMO is NOT_SUPPORTED.
func TestSliceOfTrapDirtyVMO(t *testing.T) {
	f := newFixture(t, 2, zx.VMOTrapDirty)
	f.supply(0, 2*ps, 1)
	s := newSlice(t, f.v, ps, ps)
	saddr := mapAll(t, s)
	acc := thread(t).Write(saddr+5, []byte{0x42})
	f.wantRequest(zx.PagerVMODirty, ps, ps)
	blocked(t, acc)
	if err := f.p.OpDirty(f.v, ps, ps); err != nil {
		t.Fatal(err)
	}
	if r := done(t, acc); r.Faulted() {
		t.Fatalf("write after OP_DIRTY: signal %d", r.Signo)
	}
	if b := readVMO(t, f.v, ps+5, 1); b[0] != 0x42 {
		t.Fatalf("pager VMO byte %#x", b[0])
	}
	r := newFixture(t, 2, zx.VMOResizable)
	_, err := r.v.CreateChild(zx.VMOChildSlice, 0, ps, ps)
	wantStatus(t, err, zx.ErrNotSupported)
}
