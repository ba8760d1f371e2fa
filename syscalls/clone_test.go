package syscalls

import (
	"bytes"
	"testing"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/zx"
)

// Copy-on-write clones of pager VMOs through handles. Mapped accesses to a
// clone (registered with userfaultfd) are made by C threads.

func cloneFaulter(t *testing.T) *faulter.Thread {
	t.Helper()
	th, err := faulter.Start()
	if err != nil {
		t.Fatalf("faulter: %v", err)
	}
	t.Cleanup(th.Close)
	return th
}

func cloneDone(t *testing.T, p *faulter.Pending) faulter.Result {
	t.Helper()
	r, err := p.Wait(pgTimeout)
	if err != nil {
		t.Fatalf("mapped access did not complete: %v", err)
	}
	return r
}

func cloneSupply(t *testing.T, pager, v zx.Handle, off uint64, fill byte) {
	t.Helper()
	aux := pgNewVmo(t, pgPage)
	if st := VmoWrite(aux, bytes.Repeat([]byte{fill}, int(pgPage)), 0); st != zx.ErrOk {
		t.Fatal(st)
	}
	if st := PagerSupplyPages(pager, v, off, pgPage, aux, 0); st != zx.ErrOk {
		t.Fatalf("PagerSupplyPages(%#x) = %#v", off, st)
	}
}

func TestChildPagerClone(t *testing.T) {
	const key = uint64(0xc1011e)
	pager, port := pgNewPager(t), pgNewPort(t)
	root := pgNewPagerVmo(t, pager, port, key, zx.VMOTrapDirty, 4*pgPage)

	for _, o := range []uint32{zx.VMOChildSnapshot, zx.VMOChildSnapshotModified} {
		if _, st := VmoCreateChild(root, o, 0, pgPage); st != zx.ErrNotSupported {
			t.Fatalf("child %#x of a pager VMO = %#v, want NOT_SUPPORTED", o, st)
		}
	}
	// A slice of a pager VMO is pager-backed and refused by the pager calls.
	slice := childNew(t, root, zx.VMOChildSlice|zx.VMOChildNoWrite, 3*pgPage, pgPage)
	if info := vmoInfo(t, slice); info.Flags&zx.InfoVMOPagerBacked == 0 || info.Flags&zx.InfoVMOIsCOWClone != 0 {
		t.Fatalf("slice flags %#x", info.Flags)
	}
	if _, _, st := PagerQueryDirtyRanges(pager, slice, 0, pgPage, nil, true); st != zx.ErrInvalidArgs {
		t.Fatalf("query_dirty_ranges on a slice = %#v", st)
	}
	vmoWant(t, "write to a NO_WRITE slice", VmoWrite(slice, []byte{1}, 0), zx.ErrAccessDenied)
	clone := childNew(t, root, zx.VMOChildSnapshotAtLeastOnWrite, pgPage, 2*pgPage)
	if got, want := vmoRights(t, clone), zx.DefaultVMORights; got != want {
		t.Fatalf("clone rights %#x, want %#x", got, want)
	}
	info := vmoInfo(t, clone)
	if info.Flags&zx.InfoVMOPagerBacked == 0 || info.Flags&zx.InfoVMOIsCOWClone == 0 || info.ParentKoid != vmoInfo(t, root).Koid {
		t.Fatalf("clone info: flags %#x parent %d", info.Flags, info.ParentKoid)
	}

	// zx_vmo_read through the clone: a READ for the root's page 1, root key.
	buf := make([]byte, 10)
	res := pgAsyncRead(clone, buf, 5)
	pgCheckRequest(t, pgWaitPacket(t, port), key, zx.PagerVMORead, pgPage, pgPage)
	pgNotDone(t, res)
	cloneSupply(t, pager, root, pgPage, 0x11)
	if st := pgAwait(t, res); st != zx.ErrOk || !bytes.Equal(buf, bytes.Repeat([]byte{0x11}, 10)) {
		t.Fatalf("clone read = %#v % x", st, buf)
	}

	// A mapped read of clone page 1 from a C thread: READ for root page 2.
	addr, st := VmarMap(VmarRootSelf(), zx.VMPermRead|zx.VMPermWrite, 0, clone, 0, 2*pgPage)
	if st != zx.ErrOk {
		t.Fatal(st)
	}
	t.Cleanup(func() { VmarUnmap(VmarRootSelf(), addr, 2*pgPage) })
	th := cloneFaulter(t)
	acc := th.Read(addr+uintptr(pgPage), 4)
	pgCheckRequest(t, pgWaitPacket(t, port), key, zx.PagerVMORead, 2*pgPage, pgPage)
	cloneSupply(t, pager, root, 2*pgPage, 0x22)
	if r := cloneDone(t, acc); r.Faulted() || !bytes.Equal(r.Data, []byte{0x22, 0x22, 0x22, 0x22}) {
		t.Fatalf("mapped clone read: signal %d % x", r.Signo, r.Data)
	}

	// Writes to the clone, by zx_vmo_write and through the mapping: no
	// DIRTY request, no dirty range, no modified flag on the root.
	vmoWant(t, "clone write", VmoWrite(clone, []byte("clone0"), 0), zx.ErrOk)
	if r := cloneDone(t, th.Write(addr+uintptr(pgPage)+1, []byte{0x99})); r.Faulted() {
		t.Fatalf("mapped clone write: signal %d", r.Signo)
	}
	pgNoPacket(t, port)
	if n, avail, st := PagerQueryDirtyRanges(pager, root, 0, 4*pgPage, nil, true); st != zx.ErrOk || n != 0 || avail != 0 {
		t.Fatalf("root dirty ranges: %d/%d %#v", n, avail, st)
	}
	var stats zx.PagerVMOStats
	vmoWant(t, "root stats", PagerQueryVmoStats(pager, root, 0, &stats, 4), zx.ErrOk)
	if stats.Modified != 0 {
		t.Fatal("root modified by clone writes")
	}
	got := make([]byte, 6)
	vmoWant(t, "root read", VmoRead(root, got, pgPage), zx.ErrOk)
	if !bytes.Equal(got, bytes.Repeat([]byte{0x11}, 6)) {
		t.Fatalf("root changed by the clone write: % x", got)
	}
	vmoWant(t, "clone read back", VmoRead(clone, got, 0), zx.ErrOk)
	if string(got) != "clone0" {
		t.Fatalf("clone read back %q", got)
	}

	// The pager calls refuse the clone; DECOMMIT is NOT_SUPPORTED; COMMIT works.
	if _, _, st := PagerQueryDirtyRanges(pager, clone, 0, pgPage, nil, true); st != zx.ErrInvalidArgs {
		t.Fatalf("query_dirty_ranges on a clone = %#v", st)
	}
	vmoWant(t, "query_vmo_stats on a clone", PagerQueryVmoStats(pager, clone, 0, &stats, 4), zx.ErrInvalidArgs)
	vmoWant(t, "supply to a clone", PagerSupplyPages(pager, clone, 0, pgPage, pgNewVmo(t, pgPage), 0), zx.ErrInvalidArgs)
	vmoWant(t, "op_range on a clone", PagerOpRange(pager, zx.PagerOpFail, clone, 0, pgPage, pgStatusData(zx.ErrIO)), zx.ErrInvalidArgs)
	vmoWant(t, "detach a clone", PagerDetachVmo(pager, clone), zx.ErrInvalidArgs)
	vmoWant(t, "decommit a clone", VmoOpRange(clone, zx.VMOOpDecommit, 0, pgPage, nil), zx.ErrNotSupported)
	vmoWant(t, "commit a clone", VmoOpRange(clone, zx.VMOOpCommit, 0, 2*pgPage, nil), zx.ErrOk)
	pgNoPacket(t, port) // both root pages were present already
	if c := vmoInfo(t, clone).CommittedBytes; c != 2*pgPage {
		t.Fatalf("committed clone: %#x bytes", c)
	}

	// A second clone shares root page 3 until the root is detached.
	other := childNew(t, root, zx.VMOChildSnapshotAtLeastOnWrite, 3*pgPage, pgPage)
	res = pgAsyncRead(other, buf, 0)
	pgCheckRequest(t, pgWaitPacket(t, port), key, zx.PagerVMORead, 3*pgPage, pgPage)
	cloneSupply(t, pager, root, 3*pgPage, 0x33)
	if st := pgAwait(t, res); st != zx.ErrOk || buf[0] != 0x33 {
		t.Fatalf("second clone read = %#v %#x", st, buf[0])
	}
	if obs, _ := ObjectWaitOne(root, zx.VMOZeroChildren, zx.TimeInfinitePast); obs&zx.VMOZeroChildren != 0 {
		t.Fatal("ZX_VMO_ZERO_CHILDREN asserted on a root with clones")
	}
	vmoWant(t, "detach root", PagerDetachVmo(pager, root), zx.ErrOk)
	pgCheckRequest(t, pgWaitPacket(t, port), key, zx.PagerVMOComplete, 0, 0)
	vmoWant(t, "shared page after detach", VmoRead(other, buf, 0), zx.ErrBadState)
	vmoWant(t, "forked page after detach", VmoRead(clone, got, 0), zx.ErrOk)
	if string(got) != "clone0" {
		t.Fatalf("forked page after detach %q", got)
	}
	oaddr, st := VmarMap(VmarRootSelf(), zx.VMPermRead, 0, other, 0, pgPage)
	if st != zx.ErrOk {
		t.Fatal(st)
	}
	t.Cleanup(func() { VmarUnmap(VmarRootSelf(), oaddr, pgPage) })
	if r := cloneDone(t, th.Read(oaddr, 1)); !r.Sigbus {
		t.Fatalf("mapped read of a shared page after detach: signal %d, want SIGBUS", r.Signo)
	}
	if r := cloneDone(t, th.Read(addr+uintptr(pgPage)+1, 1)); r.Faulted() || r.Data[0] != 0x99 {
		t.Fatalf("mapped read of a forked page after detach: signal %d % x", r.Signo, r.Data)
	}
}
