package vmo

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pagerd/pagerd/zx"
)

// The fake Source only checks that a pager VMO forwards to it, with the
// arguments checked and rounded first; it claims no paging behaviour.

func newPagedFake(t *testing.T, size uint64, options uint32) (*VMO, *fakeSource) {
	t.Helper()
	f := newFake()
	v, err := NewPaged(size, options, f)
	if err != nil {
		t.Fatal(err)
	}
	return v, f
}

func wantCalls(t *testing.T, what string, f *fakeSource, want ...string) {
	t.Helper()
	got := f.take()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: source calls\n got %q\nwant %q", what, got, want)
	}
}

func TestPagedReadWriteForwarding(t *testing.T) {
	v, f := newPagedFake(t, 2*pg, 0)
	defer v.OnZeroHandles()
	buf := make([]byte, 10)
	if err := v.Read(buf, pg+5); err != nil || buf[0] != f.fill || buf[9] != f.fill {
		t.Fatalf("read: %v %x", err, buf)
	}
	wantCalls(t, "read", f, "read 0x1005 0xa")
	if err := v.Write([]byte{1, 2}, 7); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "write", f, "write 0x7 0x2 zero=false")
	wantStatus(t, "read beyond", v.Read(buf, 2*pg-5), zx.ErrOutOfRange)
	wantStatus(t, "write overflow", v.Write(buf, ^uint64(0)), zx.ErrOutOfRange)
	wantStatus(t, "empty read", v.Read(nil, 2*pg), zx.ErrOk)
	wantCalls(t, "rejected or empty", f)
}

func TestPagedOpRangeForwarding(t *testing.T) {
	v, f := newPagedFake(t, 4*pg, 0)
	defer v.OnZeroHandles()
	steps := []struct {
		op          uint32
		off, length uint64
		want        zx.Status
		calls       []string
	}{
		{zx.VMOOpCommit, 1, 1, zx.ErrOk, []string{"op 1 0x0 0x1000"}},
		{zx.VMOOpCommit, pg, 0, zx.ErrOk, nil},
		{zx.VMOOpCommit, 3 * pg, pg + 1, zx.ErrOutOfRange, nil},
		{zx.VMOOpDecommit, 0, pg, zx.ErrNotSupported, nil},
		{zx.VMOOpDecommit, 0, 0, zx.ErrOk, nil},
		{zx.VMOOpDecommit, 4 * pg, pg, zx.ErrOutOfRange, nil},
		{zx.VMOOpZero, 0, 2 * pg, zx.ErrOk, []string{"op 10 0x0 0x2000"}},
		{zx.VMOOpZero, 100, 3*pg - 100 + 7, zx.ErrOk, []string{
			"write 0x64 0xf9c zero=true", "write 0x3000 0x7 zero=true", "op 10 0x1000 0x2000"}},
		{zx.VMOOpZero, pg + 1, 2, zx.ErrOk, []string{"write 0x1001 0x2 zero=true"}},
		{zx.VMOOpZero, 4*pg - 1, 2, zx.ErrOutOfRange, nil},
		{zx.VMOOpDontNeed, pg + 1, 1, zx.ErrOk, []string{"op 12 0x1000 0x1000"}},
		{zx.VMOOpAlwaysNeed, 0, 4 * pg, zx.ErrOk, []string{"op 13 0x0 0x4000"}},
		{zx.VMOOpAlwaysNeed, 4 * pg, 1, zx.ErrOutOfRange, nil},
		{zx.VMOOpDontNeed, ^uint64(0), 2, zx.ErrOutOfRange, nil},
		{zx.VMOOpPrefetch, 2*pg - 1, 2, zx.ErrOk, []string{"op 14 0x1000 0x2000"}},
		{zx.VMOOpPrefetch, 3 * pg, pg + 1, zx.ErrOutOfRange, nil},
		{zx.VMOOpCacheSync, 0, pg, zx.ErrOk, nil},
		{zx.VMOOpLock, 0, 4 * pg, zx.ErrNotSupported, nil},
	}
	for _, s := range steps {
		what := fmt.Sprintf("op %d [%#x, +%#x)", s.op, s.off, s.length)
		wantStatus(t, what, v.OpRange(s.op, s.off, s.length, nil), s.want)
		wantCalls(t, what, f, s.calls...)
	}
	f.opErr = zx.Errorf(zx.ErrIO, "pager failed")
	wantStatus(t, "source error", v.OpRange(zx.VMOOpCommit, 0, pg, nil), zx.ErrIO)
}

func TestPagedResizeAndInfo(t *testing.T) {
	v, f := newPagedFake(t, 2*pg, zx.VMOResizable)
	defer v.OnZeroHandles()
	if err := v.SetSize(3*pg + 10); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "resize", f, "resize 0x4000", "write 0x300a 0xff6 zero=true")
	if v.Size() != 4*pg || v.ContentSize() != 3*pg+10 {
		t.Fatalf("size %#x content %#x", v.Size(), v.ContentSize())
	}
	if err := v.SetSize(pg); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "aligned resize", f, "resize 0x1000")
	if err := v.SetContentSize(10); err != nil || v.ContentSize() != 10 {
		t.Fatal(err)
	}
	wantCalls(t, "content size", f, "write 0xa 0xff6 zero=true")
	fixed, g := newPagedFake(t, pg, 0)
	defer fixed.OnZeroHandles()
	wantStatus(t, "fixed resize", fixed.SetSize(2*pg), zx.ErrUnavailable)
	wantCalls(t, "fixed resize", g)

	f.committed = 3 * pg
	info := v.Info(zx.DefaultVMORights | zx.RightResize)
	wantFlags := zx.InfoVMOTypePaged | zx.InfoVMOViaHandle | zx.InfoVMOResizable | zx.InfoVMOPagerBacked
	if info.Flags != wantFlags || info.CommittedBytes != 3*pg || info.PopulatedBytes != 3*pg || info.SizeBytes != pg {
		t.Fatalf("info flags %#x committed %d populated %d size %d", info.Flags, info.CommittedBytes, info.PopulatedBytes, info.SizeBytes)
	}
}

func TestPagedMappingCallbacks(t *testing.T) {
	v, f := newPagedFake(t, 4*pg, 0)
	addr, err := Root().Map(zx.VMPermRead|zx.VMPermWrite, 0, v, 0, 4*pg)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "map", f, fmt.Sprintf("mapped %#x 0x4000 off=0x0", addr))
	if m := Root().Lookup(addr + pg); m == nil || m.Priv != f || m.VMO != v {
		t.Fatalf("lookup after map: %+v", m)
	}
	// Split: the pieces are announced before the old mapping goes.
	if err := Root().Unmap(addr+pg, pg); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "split", f,
		fmt.Sprintf("mapped %#x 0x1000 off=0x0", addr),
		fmt.Sprintf("mapped %#x 0x2000 off=0x2000", addr+2*pg),
		fmt.Sprintf("unmapped %#x 0x4000 off=0x0", addr))
	if v.NumMappings() != 2 {
		t.Fatalf("%d mappings after split", v.NumMappings())
	}
	// The last handle goes: the mappings keep the VMO alive.
	v.OnZeroHandles()
	if v.Destroyed() {
		t.Fatal("destroyed while mapped")
	}
	wantCalls(t, "zero handles", f)
	if err := Root().Unmap(addr, 4*pg); err != nil {
		t.Fatal(err)
	}
	got := f.take()
	want := []string{fmt.Sprintf("unmapped %#x 0x1000 off=0x0", addr),
		fmt.Sprintf("unmapped %#x 0x2000 off=0x2000", addr+2*pg), "destroyed"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("final unmap: %q, want %q", got, want)
	}
	select {
	case <-f.destroyed:
	case <-time.After(5 * time.Second):
		t.Fatal("no Destroyed")
	}
	if f.fdAtDest < 0 {
		t.Fatal("memfd closed before Destroyed returned")
	}
	if v.Fd() != -1 {
		t.Fatal("memfd still open after destruction")
	}
}

func TestPagedMappedFailure(t *testing.T) {
	v, f := newPagedFake(t, 2*pg, 0)
	defer v.OnZeroHandles()
	f.mapErr = zx.Errorf(zx.ErrNoMemory, "cannot register")
	_, err := Root().Map(zx.VMPermRead, 0, v, 0, 2*pg)
	wantStatus(t, "map with failing Mapped", err, zx.ErrNoMemory)
	calls := f.take()
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "mapped ") {
		t.Fatalf("calls %q", calls)
	}
	var addr uintptr
	fmt.Sscanf(calls[0], "mapped %x", &addr)
	if Root().Lookup(addr) != nil || v.NumMappings() != 0 {
		t.Fatal("failed mapping left in the VMAR")
	}
	if mapped(addr) {
		// Another mapping may have reused the range; it must not be ours.
		if m := Root().Lookup(addr); m != nil && m.VMO == v {
			t.Fatal("failed mapping still mapped")
		}
	}
	// A split whose piece fails to register drops that piece too.
	f.mapErr = nil
	addr, err = Root().Map(zx.VMPermRead, 0, v, 0, 2*pg)
	if err != nil {
		t.Fatal(err)
	}
	f.take()
	f.mapErr = errFake
	if err := Root().Unmap(addr, pg); err != nil {
		t.Fatal(err)
	}
	if v.NumMappings() != 0 || Root().Lookup(addr+pg) != nil {
		t.Fatalf("piece kept after failing Mapped: %d mappings", v.NumMappings())
	}
	wantCalls(t, "failed split", f,
		fmt.Sprintf("mapped %#x 0x1000 off=0x1000", addr+pg),
		fmt.Sprintf("unmapped %#x 0x2000 off=0x0", addr))
}

func TestPagedDestroyWithoutMappings(t *testing.T) {
	v, f := newPagedFake(t, pg, 0)
	v.OnZeroHandles()
	select {
	case <-f.destroyed:
	case <-time.After(5 * time.Second):
		t.Fatal("no Destroyed after the last handle")
	}
	wantCalls(t, "destroy", f, "destroyed")
	v.OnZeroHandles()
	wantCalls(t, "second OnZeroHandles", f)
}
