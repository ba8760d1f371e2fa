package syscalls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

const vmoPage = zx.PageSize

// vmoNew creates a VMO handle and closes it at the end of the test.
func vmoNew(t *testing.T, size uint64, options uint32) zx.Handle {
	t.Helper()
	h, st := VmoCreate(size, options)
	if st != zx.ErrOk {
		t.Fatalf("VmoCreate(%#x, %#x): %v", size, options, st)
	}
	t.Cleanup(func() { HandleClose(h) })
	return h
}

// vmoDup duplicates h with rights and closes the duplicate at the end of the test.
func vmoDup(t *testing.T, h zx.Handle, rights zx.Rights) zx.Handle {
	t.Helper()
	d, st := HandleDuplicate(h, rights)
	if st != zx.ErrOk {
		t.Fatalf("HandleDuplicate(%#x): %v", rights, st)
	}
	t.Cleanup(func() { HandleClose(d) })
	return d
}

func vmoWant(t *testing.T, what string, got, want zx.Status) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %#v, want %#v", what, got, want)
	}
}

// vmoInfo returns the ZX_INFO_VMO record of h.
func vmoInfo(t *testing.T, h zx.Handle) zx.InfoVMORecord {
	t.Helper()
	buf := make([]byte, zx.InfoVMOSize)
	actual, avail, st := ObjectGetInfo(h, zx.InfoVMO, buf)
	if st != zx.ErrOk || actual != 1 || avail != 1 {
		t.Fatalf("ZX_INFO_VMO: %v actual %d avail %d", st, actual, avail)
	}
	var rec zx.InfoVMORecord
	if err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func vmoRights(t *testing.T, h zx.Handle) zx.Rights {
	t.Helper()
	info, st := HandleInfoBasic(h)
	if st != zx.ErrOk {
		t.Fatalf("HandleInfoBasic: %v", st)
	}
	return info.Rights
}

func TestVmoCreateStatus(t *testing.T) {
	maxDown := uint64(math.MaxUint64) &^ (vmoPage - 1)
	cases := []struct {
		name    string
		size    uint64
		options uint32
		want    zx.Status
		rights  zx.Rights
	}{
		{"plain", 10, 0, zx.ErrOk, 0xD0EF},
		{"zero size", 0, 0, zx.ErrOk, 0xD0EF},
		{"resizable", vmoPage, zx.VMOResizable, zx.ErrOk, 0x40D0EF},
		{"discardable", vmoPage, zx.VMODiscardable, zx.ErrOk, 0xD0EF},
		{"unbounded", 100, zx.VMOUnbounded, zx.ErrOk, 0xD0EF},
		{"trap dirty", vmoPage, zx.VMOTrapDirty, zx.ErrInvalidArgs, 0},
		{"resizable|unbounded", vmoPage, zx.VMOResizable | zx.VMOUnbounded, zx.ErrInvalidArgs, 0},
		{"unknown", vmoPage, 1 << 7, zx.ErrInvalidArgs, 0},
		{"too large", maxDown + 1, 0, zx.ErrOutOfRange, 0},
		{"uint64 max", math.MaxUint64, 0, zx.ErrOutOfRange, 0},
	}
	for _, c := range cases {
		h, st := VmoCreate(c.size, c.options)
		vmoWant(t, c.name, st, c.want)
		if st != zx.ErrOk {
			if h != zx.HandleInvalid {
				t.Fatalf("%s: handle %#x on failure", c.name, h)
			}
			continue
		}
		if r := vmoRights(t, h); r != c.rights {
			t.Fatalf("%s: rights %#x, want %#x", c.name, r, c.rights)
		}
		size, st := VmoGetSize(h)
		want, _ := vmo.PageRoundUp(c.size)
		if c.options&zx.VMOUnbounded != 0 {
			want = vmo.MaxSize
		}
		if st != zx.ErrOk || size != want {
			t.Fatalf("%s: size %#x %v, want %#x", c.name, size, st, want)
		}
		if cs, st := VmoGetStreamSize(h); st != zx.ErrOk || cs != c.size {
			t.Fatalf("%s: content size %#x %v", c.name, cs, st)
		}
		HandleClose(h)
	}
}

func TestVmoReadWriteStatus(t *testing.T) {
	h := vmoNew(t, 2*vmoPage, 0)
	ro := vmoDup(t, h, zx.DefaultVMORights&^zx.RightWrite)
	wo := vmoDup(t, h, zx.DefaultVMORights&^zx.RightRead)
	root := VmarRootSelf()
	buf := []byte("data")
	cases := []struct {
		name      string
		h         zx.Handle
		off       uint64
		wantRead  zx.Status
		wantWrite zx.Status
	}{
		{"invalid handle", zx.HandleInvalid, 0, zx.ErrBadHandle, zx.ErrBadHandle},
		{"closed handle value", zx.Handle(0x7ffffff3), 0, zx.ErrBadHandle, zx.ErrBadHandle},
		{"vmar handle", root, 0, zx.ErrWrongType, zx.ErrWrongType},
		{"read-only handle", ro, 0, zx.ErrOk, zx.ErrAccessDenied},
		{"write-only handle", wo, 0, zx.ErrAccessDenied, zx.ErrOk},
		{"rights before range", ro, math.MaxUint64, zx.ErrOutOfRange, zx.ErrAccessDenied},
		{"last bytes", h, 2*vmoPage - 4, zx.ErrOk, zx.ErrOk},
		{"past the end", h, 2*vmoPage - 3, zx.ErrOutOfRange, zx.ErrOutOfRange},
		{"offset overflow", h, math.MaxUint64 - 1, zx.ErrOutOfRange, zx.ErrOutOfRange},
	}
	for _, c := range cases {
		vmoWant(t, "read "+c.name, VmoRead(c.h, make([]byte, len(buf)), c.off), c.wantRead)
		vmoWant(t, "write "+c.name, VmoWrite(c.h, buf, c.off), c.wantWrite)
	}
	// A write through one handle is read through another.
	vmoWant(t, "write", VmoWrite(wo, []byte("pagerd"), 100), zx.ErrOk)
	got := make([]byte, 6)
	vmoWant(t, "read", VmoRead(ro, got, 100), zx.ErrOk)
	if string(got) != "pagerd" {
		t.Fatalf("read %q", got)
	}
	// get_size needs no right at all.
	none := vmoDup(t, h, zx.RightNone)
	if size, st := VmoGetSize(none); st != zx.ErrOk || size != 2*vmoPage {
		t.Fatalf("get_size with no rights: %#x %v", size, st)
	}
	if _, st := VmoGetSize(root); st != zx.ErrWrongType {
		t.Fatalf("get_size of a VMAR: %v", st)
	}
}

func TestVmoSetSizeOrder(t *testing.T) {
	fixed := vmoNew(t, vmoPage, 0)
	res := vmoNew(t, vmoPage, zx.VMOResizable)
	all := zx.DefaultVMORights | zx.RightResize
	// A handle may not carry RESIZE for a VMO that is not resizable, except
	// by duplication from a handle that has it: build one with NewVMOHandle.
	fixedObj, _, _ := VmoObject(fixed, zx.RightNone)
	fixedAll := NewVMOHandle(fixedObj, all)
	defer HandleClose(fixedAll)
	cases := []struct {
		name string
		h    zx.Handle
		size uint64
		want zx.Status
	}{
		{"bad handle", zx.HandleInvalid, vmoPage, zx.ErrBadHandle},
		{"wrong type", VmarRootSelf(), vmoPage, zx.ErrWrongType},
		{"fixed, no write", vmoDup(t, fixed, zx.DefaultVMORights&^zx.RightWrite), 2 * vmoPage, zx.ErrAccessDenied},
		{"fixed, no resize right", fixed, 2 * vmoPage, zx.ErrUnavailable},
		{"fixed, every right", fixedAll, 2 * vmoPage, zx.ErrUnavailable},
		{"fixed, size overflow first", fixed, math.MaxUint64, zx.ErrOutOfRange},
		{"resizable, no resize right", vmoDup(t, res, zx.DefaultVMORights), 2 * vmoPage, zx.ErrAccessDenied},
		{"resizable, no write", vmoDup(t, res, all&^zx.RightWrite), 2 * vmoPage, zx.ErrAccessDenied},
		{"resizable, too large", res, vmo.MaxSize + 1, zx.ErrOutOfRange},
		{"resizable", res, 3*vmoPage + 5, zx.ErrOk},
	}
	for _, c := range cases {
		vmoWant(t, c.name, VmoSetSize(c.h, c.size), c.want)
	}
	if size, _ := VmoGetSize(res); size != 4*vmoPage {
		t.Fatalf("size %#x after resize", size)
	}
	if cs, _ := VmoGetStreamSize(res); cs != 3*vmoPage+5 {
		t.Fatalf("content size %#x after resize", cs)
	}
	// Shrink drops data, grow reads zero.
	vmoWant(t, "write", VmoWrite(res, []byte{1, 2, 3}, 3*vmoPage), zx.ErrOk)
	vmoWant(t, "shrink", VmoSetSize(res, vmoPage), zx.ErrOk)
	vmoWant(t, "read beyond", VmoRead(res, make([]byte, 1), vmoPage), zx.ErrOutOfRange)
	vmoWant(t, "grow", VmoSetSize(res, 4*vmoPage), zx.ErrOk)
	got := make([]byte, 3)
	vmoWant(t, "read grown", VmoRead(res, got, 3*vmoPage), zx.ErrOk)
	if !bytes.Equal(got, []byte{0, 0, 0}) {
		t.Fatalf("grown range reads %v", got)
	}
}

func TestVmoOpRangeRights(t *testing.T) {
	h := vmoNew(t, 4*vmoPage, zx.VMODiscardable)
	handles := map[string]zx.Handle{
		"none": vmoDup(t, h, zx.RightNone),
		"r":    vmoDup(t, h, zx.RightRead),
		"w":    vmoDup(t, h, zx.RightWrite),
		"rw":   h,
	}
	ok, denied := zx.ErrOk, zx.ErrAccessDenied
	cases := []struct {
		op   uint32
		want map[string]zx.Status
	}{
		{zx.VMOOpCommit, map[string]zx.Status{"none": denied, "r": denied, "w": ok, "rw": ok}},
		{zx.VMOOpDecommit, map[string]zx.Status{"none": denied, "r": denied, "w": ok, "rw": ok}},
		{zx.VMOOpZero, map[string]zx.Status{"none": denied, "r": denied, "w": ok, "rw": ok}},
		{zx.VMOOpTryLock, map[string]zx.Status{"none": denied, "r": ok, "w": ok, "rw": ok}},
		{zx.VMOOpUnlock, map[string]zx.Status{"none": denied, "r": ok, "w": ok, "rw": ok}},
		{zx.VMOOpCacheSync, map[string]zx.Status{"none": denied, "r": ok, "w": denied, "rw": ok}},
		{zx.VMOOpCacheClean, map[string]zx.Status{"none": denied, "r": ok, "w": denied, "rw": ok}},
		{zx.VMOOpCacheCleanInvalidate, map[string]zx.Status{"none": denied, "r": ok, "w": denied, "rw": ok}},
		{zx.VMOOpCacheInvalidate, map[string]zx.Status{"none": zx.ErrNotSupported, "r": zx.ErrNotSupported, "w": zx.ErrNotSupported, "rw": zx.ErrNotSupported}},
		{zx.VMOOpDontNeed, map[string]zx.Status{"none": ok, "r": ok, "w": ok, "rw": ok}},
		{zx.VMOOpAlwaysNeed, map[string]zx.Status{"none": ok, "r": ok, "w": ok, "rw": ok}},
		{zx.VMOOpPrefetch, map[string]zx.Status{"none": denied, "r": ok, "w": denied, "rw": ok}},
		{77, map[string]zx.Status{"none": zx.ErrInvalidArgs, "r": zx.ErrInvalidArgs, "w": zx.ErrInvalidArgs, "rw": zx.ErrInvalidArgs}},
	}
	for _, c := range cases {
		for _, name := range []string{"none", "r", "w", "rw"} {
			vmoWant(t, fmt.Sprintf("op %d handle %s", c.op, name),
				VmoOpRange(handles[name], c.op, 0, 4*vmoPage, nil), c.want[name])
		}
	}
	lock := make([]byte, vmo.LockStateSize)
	vmoWant(t, "lock none", VmoOpRange(handles["none"], zx.VMOOpLock, 0, 4*vmoPage, lock), denied)
	vmoWant(t, "lock r", VmoOpRange(handles["r"], zx.VMOOpLock, 0, 4*vmoPage, lock), ok)
	if binary.LittleEndian.Uint64(lock[8:]) != 4*vmoPage {
		t.Fatalf("lock state % x", lock)
	}
	vmoWant(t, "unlock", VmoOpRange(h, zx.VMOOpUnlock, 0, 4*vmoPage, nil), ok)
	vmoWant(t, "unlock unlocked", VmoOpRange(h, zx.VMOOpUnlock, 0, 4*vmoPage, nil), zx.ErrBadState)
	vmoWant(t, "bad handle", VmoOpRange(zx.HandleInvalid, zx.VMOOpCommit, 0, vmoPage, nil), zx.ErrBadHandle)
	vmoWant(t, "wrong type", VmoOpRange(VmarRootSelf(), zx.VMOOpCommit, 0, vmoPage, nil), zx.ErrWrongType)
	plain := vmoNew(t, vmoPage, 0)
	vmoWant(t, "lock plain", VmoOpRange(plain, zx.VMOOpLock, 0, vmoPage, lock), zx.ErrNotSupported)
}

func TestVmoDecommitFreesCommitted(t *testing.T) {
	h := vmoNew(t, 8*vmoPage, 0)
	if c := vmoInfo(t, h).CommittedBytes; c != 0 {
		t.Fatalf("new VMO committed %d", c)
	}
	vmoWant(t, "commit", VmoOpRange(h, zx.VMOOpCommit, 0, 8*vmoPage, nil), zx.ErrOk)
	if c := vmoInfo(t, h).CommittedBytes; c != 8*vmoPage {
		t.Fatalf("committed %d after commit", c)
	}
	vmoWant(t, "decommit", VmoOpRange(h, zx.VMOOpDecommit, 2*vmoPage, 4*vmoPage, nil), zx.ErrOk)
	info := vmoInfo(t, h)
	if info.CommittedBytes != 4*vmoPage || info.PopulatedBytes != 4*vmoPage {
		t.Fatalf("committed %d populated %d after decommit", info.CommittedBytes, info.PopulatedBytes)
	}
	vmoWant(t, "decommit unaligned", VmoOpRange(h, zx.VMOOpDecommit, 1, vmoPage, nil), zx.ErrInvalidArgs)
	vmoWant(t, "decommit beyond", VmoOpRange(h, zx.VMOOpDecommit, 8*vmoPage, vmoPage, nil), zx.ErrOutOfRange)
	vmoWant(t, "zero all", VmoOpRange(h, zx.VMOOpZero, 0, 8*vmoPage, nil), zx.ErrOk)
	if c := vmoInfo(t, h).CommittedBytes; c != 0 {
		t.Fatalf("committed %d after zero", c)
	}
}
