package vmo

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/pagerd/pagerd/zx"
)

func fillVMO(t *testing.T, v *VMO, b byte) {
	t.Helper()
	if err := v.Write(bytes.Repeat([]byte{b}, int(v.Size())), 0); err != nil {
		t.Fatal(err)
	}
}

func TestOpRangeCommitDecommit(t *testing.T) {
	v := newPlain(t, 8*pg, 0)
	if err := v.OpRange(zx.VMOOpCommit, pg+1, pg, nil); err != nil { // rounds out to [pg, 3pg)
		t.Fatal(err)
	}
	if c := v.CommittedBytes(); c != 2*pg {
		t.Fatalf("committed %d after commit, want %d", c, 2*pg)
	}
	fillVMO(t, v, 7)
	if c := v.CommittedBytes(); c != 8*pg {
		t.Fatalf("committed %d after fill", c)
	}
	if err := v.OpRange(zx.VMOOpDecommit, 2*pg, 4*pg, nil); err != nil {
		t.Fatal(err)
	}
	if c := v.CommittedBytes(); c != 4*pg {
		t.Fatalf("committed %d after decommit, want %d", c, 4*pg)
	}
	buf := make([]byte, 8*pg)
	if err := v.Read(buf, 0); err != nil {
		t.Fatal(err)
	}
	for i, b := range buf {
		want := byte(7)
		if i >= 2*pg && i < 6*pg {
			want = 0
		}
		if b != want {
			t.Fatalf("byte %d is %d after decommit, want %d", i, b, want)
		}
	}
	if v.Size() != 8*pg {
		t.Fatalf("size changed to %#x", v.Size())
	}
}

func TestOpRangeStatuses(t *testing.T) {
	v := newPlain(t, 4*pg, 0)
	lock := make([]byte, LockStateSize)
	cases := []struct {
		name        string
		op          uint32
		off, length uint64
		want        zx.Status
	}{
		{"commit empty", zx.VMOOpCommit, 0, 0, zx.ErrOk},
		{"commit unaligned ok", zx.VMOOpCommit, 1, 1, zx.ErrOk},
		{"commit beyond", zx.VMOOpCommit, 3 * pg, pg + 1, zx.ErrOutOfRange},
		{"commit overflow", zx.VMOOpCommit, math.MaxUint64, 2, zx.ErrOutOfRange},
		{"commit round-up overflow", zx.VMOOpCommit, math.MaxUint64 - 5, 1, zx.ErrOutOfRange},
		{"decommit empty", zx.VMOOpDecommit, 5, 0, zx.ErrOk},
		{"decommit unaligned offset", zx.VMOOpDecommit, 1, pg, zx.ErrInvalidArgs},
		{"decommit unaligned length", zx.VMOOpDecommit, 0, 1, zx.ErrInvalidArgs},
		{"decommit beyond before alignment", zx.VMOOpDecommit, 1, 4 * pg, zx.ErrOutOfRange},
		{"decommit overflow", zx.VMOOpDecommit, pg, math.MaxUint64, zx.ErrOutOfRange},
		{"zero partial", zx.VMOOpZero, 10, 20, zx.ErrOk},
		{"zero beyond", zx.VMOOpZero, 4 * pg, 1, zx.ErrOutOfRange},
		{"zero overflow", zx.VMOOpZero, 1, math.MaxUint64, zx.ErrOutOfRange},
		{"lock not discardable", zx.VMOOpLock, 0, 4 * pg, zx.ErrNotSupported},
		{"try lock not discardable", zx.VMOOpTryLock, 0, 4 * pg, zx.ErrNotSupported},
		{"unlock not discardable", zx.VMOOpUnlock, 0, 4 * pg, zx.ErrNotSupported},
		{"cache sync", zx.VMOOpCacheSync, 0, pg, zx.ErrOk},
		{"cache clean", zx.VMOOpCacheClean, 1, 5, zx.ErrOk},
		{"cache clean invalidate", zx.VMOOpCacheCleanInvalidate, 0, 4 * pg, zx.ErrOk},
		{"cache empty", zx.VMOOpCacheSync, 0, 0, zx.ErrInvalidArgs},
		{"cache beyond", zx.VMOOpCacheClean, 4 * pg, 1, zx.ErrOutOfRange},
		{"cache invalidate", zx.VMOOpCacheInvalidate, 0, pg, zx.ErrNotSupported},
		{"dont need", zx.VMOOpDontNeed, 0, pg, zx.ErrOk},
		{"always need", zx.VMOOpAlwaysNeed, 1, 2, zx.ErrOk},
		// Zircon ignores hints on VMOs that cannot be evicted before any range check.
		{"dont need beyond, plain", zx.VMOOpDontNeed, 5 * pg, pg, zx.ErrOk},
		{"always need overflow, plain", zx.VMOOpAlwaysNeed, math.MaxUint64, 2, zx.ErrOk},
		{"prefetch", zx.VMOOpPrefetch, 1, pg, zx.ErrOk},
		{"prefetch beyond", zx.VMOOpPrefetch, 4 * pg, 1, zx.ErrOutOfRange},
		{"prefetch overflow", zx.VMOOpPrefetch, math.MaxUint64, 1, zx.ErrOutOfRange},
		{"retired lookup", 5, 0, pg, zx.ErrInvalidArgs},
		{"unknown", 99, 0, pg, zx.ErrInvalidArgs},
		{"zero op code", 0, 0, pg, zx.ErrInvalidArgs},
	}
	for _, c := range cases {
		wantStatus(t, c.name, v.OpRange(c.op, c.off, c.length, lock), c.want)
	}
	if c := v.CommittedBytes(); c != pg {
		t.Fatalf("committed %d: only the unaligned commit of [0, pg) should have committed", c)
	}
}

func TestOpRangeZero(t *testing.T) {
	v := newPlain(t, 4*pg, 0)
	fillVMO(t, v, 0x5a)
	// Zero from the middle of page 0 to the middle of page 3.
	start, end := uint64(100), uint64(3*pg+200)
	if err := v.OpRange(zx.VMOOpZero, start, end-start, nil); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4*pg)
	if err := v.Read(buf, 0); err != nil {
		t.Fatal(err)
	}
	for i, b := range buf {
		want := byte(0x5a)
		if uint64(i) >= start && uint64(i) < end {
			want = 0
		}
		if b != want {
			t.Fatalf("byte %d is %#x, want %#x", i, b, want)
		}
	}
	// The whole pages 1 and 2 were freed; pages 0 and 3 keep data.
	if c := v.CommittedBytes(); c != 2*pg {
		t.Fatalf("committed %d after zero, want %d", c, 2*pg)
	}
	// Zeroing part of a page that holds no data does not commit it.
	w := newPlain(t, 2*pg, 0)
	if err := w.OpRange(zx.VMOOpZero, 10, 20, nil); err != nil {
		t.Fatal(err)
	}
	if c := w.CommittedBytes(); c != 0 {
		t.Fatalf("zeroing a hole committed %d bytes", c)
	}
	// Zero inside one page.
	fillVMO(t, w, 1)
	if err := w.OpRange(zx.VMOOpZero, pg+10, 5, nil); err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 7)
	if err := w.Read(small, pg+9); err != nil || !bytes.Equal(small, []byte{1, 0, 0, 0, 0, 0, 1}) {
		t.Fatalf("zero inside a page: %v %v", err, small)
	}
}

func TestOpRangeDiscardableLock(t *testing.T) {
	v := newPlain(t, 3*pg, zx.VMODiscardable)
	unlock := func() error { return v.OpRange(zx.VMOOpUnlock, 0, 3*pg, nil) }
	wantStatus(t, "unlock unlocked", unlock(), zx.ErrBadState)
	buf := bytes.Repeat([]byte{0xee}, LockStateSize+8)
	if err := v.OpRange(zx.VMOOpLock, 0, 3*pg, buf); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if le.Uint64(buf[0:]) != 0 || le.Uint64(buf[8:]) != 3*pg || le.Uint64(buf[16:]) != 0 || le.Uint64(buf[24:]) != 0 {
		t.Fatalf("lock state % x", buf[:LockStateSize])
	}
	if buf[LockStateSize] != 0xee {
		t.Fatal("lock wrote past zx_vmo_lock_state_t")
	}
	if err := v.OpRange(zx.VMOOpTryLock, 0, 3*pg, nil); err != nil {
		t.Fatal(err)
	}
	if v.LockCount() != 2 {
		t.Fatalf("lock count %d", v.LockCount())
	}
	wantStatus(t, "lock short buffer", v.OpRange(zx.VMOOpLock, 0, 3*pg, make([]byte, LockStateSize-1)), zx.ErrInvalidArgs)
	wantStatus(t, "lock nil buffer", v.OpRange(zx.VMOOpLock, 0, 3*pg, nil), zx.ErrInvalidArgs)
	wantStatus(t, "lock part", v.OpRange(zx.VMOOpLock, 0, pg, buf), zx.ErrOutOfRange)
	wantStatus(t, "lock offset", v.OpRange(zx.VMOOpLock, pg, 2*pg, buf), zx.ErrOutOfRange)
	wantStatus(t, "lock overflow", v.OpRange(zx.VMOOpTryLock, pg, math.MaxUint64, nil), zx.ErrOutOfRange)
	wantStatus(t, "unlock part", v.OpRange(zx.VMOOpUnlock, 0, 2*pg, nil), zx.ErrOutOfRange)
	if v.LockCount() != 2 {
		t.Fatalf("failed lock ops changed the count to %d", v.LockCount())
	}
	wantStatus(t, "unlock 1", unlock(), zx.ErrOk)
	wantStatus(t, "unlock 2", unlock(), zx.ErrOk)
	wantStatus(t, "unlock 3", unlock(), zx.ErrBadState)
}
