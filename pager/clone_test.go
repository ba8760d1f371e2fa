package pager

import (
	"bytes"
	"testing"
	"time"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// Copy-on-write clones of pager VMOs (spec §3.6). Mapped accesses to clones
// are made by C threads (the clone's mappings are registered with
// userfaultfd like any pager VMO's).

// newClone makes a SNAPSHOT_AT_LEAST_ON_WRITE clone of [off, off+size) of v.
func newClone(t *testing.T, v *vmo.VMO, off, size uint64, options uint32) *vmo.VMO {
	t.Helper()
	c, err := v.CreateChild(zx.VMOChildSnapshotAtLeastOnWrite|options, off, size, size)
	if err != nil {
		t.Fatalf("clone [%#x, +%#x) of VMO %d: %v", off, size, v.Koid(), err)
	}
	t.Cleanup(func() { c.OnZeroHandles() })
	return c
}

// mapAll maps all of v read/write and returns the address.
func mapAll(t *testing.T, v *vmo.VMO) uintptr {
	t.Helper()
	addr, err := vmo.Root().Map(zx.VMPermRead|zx.VMPermWrite, 0, v, 0, v.Size())
	if err != nil {
		t.Fatalf("map VMO %d: %v", v.Koid(), err)
	}
	size := v.Size()
	t.Cleanup(func() { _ = vmo.Root().Unmap(addr, size) })
	return addr
}

func readVMO(t *testing.T, v *vmo.VMO, off, n uint64) []byte {
	t.Helper()
	b := make([]byte, n)
	if err := v.Read(b, off); err != nil {
		t.Fatalf("read [%#x, +%#x) of VMO %d: %v", off, n, v.Koid(), err)
	}
	return b
}

// mappedRead reads n bytes at addr from a C thread and fails on a signal.
func mappedRead(t *testing.T, addr uintptr, n int) []byte {
	t.Helper()
	r := done(t, thread(t).Read(addr, n))
	if r.Faulted() {
		t.Fatalf("mapped read at %#x: signal %d", addr, r.Signo)
	}
	return r.Data
}

func mappedWrite(t *testing.T, addr uintptr, data []byte) {
	t.Helper()
	r := done(t, thread(t).Write(addr, data))
	if r.Faulted() {
		t.Fatalf("mapped write at %#x: signal %d", addr, r.Signo)
	}
}

// Reads through a clone, mapped and by zx_vmo_read, request the root's pages
// with the root's key and root offsets; pages supplied to the root are seen
// by the clone at once (CloneReadFromParentTest).
func TestCloneReadRequestsRootPages(t *testing.T) {
	f := newFixture(t, 8, 0)
	c := newClone(t, f.v, 2*ps, 4*ps, 0)
	caddr := mapAll(t, c)

	acc := thread(t).Read(caddr+ps+10, 100) // clone page 1 = root page 3
	f.wantRequest(zx.PagerVMORead, 3*ps, ps)
	blocked(t, acc)
	f.supply(3*ps, ps, 7)
	r := done(t, acc)
	if r.Faulted() {
		t.Fatalf("mapped clone read: signal %d", r.Signo)
	}
	wantBytes(t, r.Data, pattern(3, 7)[10:110], "mapped clone read")

	res := async(func() error {
		b := make([]byte, ps)
		if err := c.Read(b, 0); err != nil {
			return err
		}
		if !bytes.Equal(b, pattern(2, 8)) {
			return zx.Errorf(zx.ErrInternal, "zx_vmo_read of the clone: wrong bytes")
		}
		return nil
	})
	f.wantRequest(zx.PagerVMORead, 2*ps, ps)
	pending(t, res)
	f.supply(2*ps, ps, 8)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	// Supplied to the root beforehand: no request, through either path.
	f.supply(4*ps, 2*ps, 9)
	wantBytes(t, readVMO(t, c, 2*ps, 2*ps), patterns(4*ps, 2*ps, 9), "clone read of supplied pages")
	wantBytes(t, mappedRead(t, caddr+3*ps, ps), pattern(5, 9), "mapped clone read of a supplied page")
	f.noPacket()
	// The root's own view is what was supplied.
	wantBytes(t, readVMO(t, f.v, 3*ps, ps), pattern(3, 7), "root page 3")
	info := c.Info(zx.DefaultVMORights)
	if info.Flags&zx.InfoVMOPagerBacked == 0 || info.Flags&zx.InfoVMOIsCOWClone == 0 || info.ParentKoid != f.v.Koid() {
		t.Fatalf("clone info: flags %#x parent %d", info.Flags, info.ParentKoid)
	}
	if n := f.v.Info(zx.DefaultVMORights).NumChildren; n != 1 {
		t.Fatalf("root num_children %d", n)
	}
}

// The first write to a clone page forks a private copy, requesting the root
// page first if it is absent; the root gets no dirty page, no DIRTY request
// and no modified flag, even with TRAP_DIRTY (NoDirtyRequestsForClones,
// NotModifiedCloneWrite).
func TestCloneWriteForksWithoutDirtyingRoot(t *testing.T) {
	f := newFixture(t, 4, zx.VMOTrapDirty)
	f.supply(0, ps, 1)
	c := newClone(t, f.v, 0, 4*ps, 0)
	caddr := mapAll(t, c)

	// Mapped write to a page present in the root: no request at all.
	mappedWrite(t, caddr+5, []byte("clone"))
	f.noPacket()
	want := pattern(0, 1)
	copy(want[5:], "clone")
	wantBytes(t, readVMO(t, c, 0, ps), want, "forked clone page 0")
	wantBytes(t, readVMO(t, f.v, 0, ps), pattern(0, 1), "root page 0 after the clone wrote")

	// zx_vmo_write to a page absent in the root: READ for the root page first.
	res := async(func() error { return c.Write([]byte("xyz"), ps+100) })
	f.wantRequest(zx.PagerVMORead, ps, ps)
	pending(t, res)
	f.supply(ps, ps, 2)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	want = pattern(1, 2)
	copy(want[100:], "xyz")
	wantBytes(t, readVMO(t, c, ps, ps), want, "forked clone page 1")
	wantBytes(t, mappedRead(t, caddr+ps, ps), want, "forked clone page 1 through the mapping")
	wantBytes(t, readVMO(t, f.v, ps, ps), pattern(1, 2), "root page 1")

	// Mapped write to an absent root page: READ, then the write lands in the clone only.
	acc := thread(t).Write(caddr+2*ps, []byte{0xab})
	f.wantRequest(zx.PagerVMORead, 2*ps, ps)
	f.supply(2*ps, ps, 3)
	if r := done(t, acc); r.Faulted() {
		t.Fatalf("mapped write: signal %d", r.Signo)
	}
	if b := readVMO(t, c, 2*ps, 2); b[0] != 0xab || b[1] != pattern(2, 3)[1] {
		t.Fatalf("clone page 2: % x", b)
	}
	f.noPacket() // no DIRTY request ever
	if n, _, err := f.p.DirtyRanges(f.v, 0, 4*ps, make([]zx.VMODirtyRange, 4), true); err != nil || n != 0 {
		t.Fatalf("root dirty ranges after clone writes: %d, %v", n, err)
	}
	if m, err := f.p.Stats(f.v, false); err != nil || m {
		t.Fatalf("root modified after clone writes: %v, %v", m, err)
	}
	// Later writes to the root do not reach forked clone pages.
	if err := f.p.OpDirty(f.v, 0, ps); err != nil {
		t.Fatal(err)
	}
	if err := f.v.Write([]byte{0xee}, 5); err != nil {
		t.Fatal(err)
	}
	if b := readVMO(t, c, 5, 1); b[0] != 'c' {
		t.Fatalf("forked page changed with the root: %#x", b[0])
	}
}

// A clone of a clone sees the intermediate's forks made before it was
// created, and asks the root for the rest (CloneSeesCorrectParentPages).
func TestCloneOfClone(t *testing.T) {
	f := newFixture(t, 6, 0)
	f.supply(0, 6*ps, 4)
	a := newClone(t, f.v, ps, 4*ps, 0) // a page i = root page i+1
	if err := a.Write([]byte("fork-a"), 0); err != nil {
		t.Fatal(err)
	}
	b := newClone(t, a, 0, 3*ps, 0)
	baddr := mapAll(t, b)
	want := pattern(1, 4)
	copy(want, "fork-a")
	wantBytes(t, mappedRead(t, baddr, ps), want, "grandchild sees the intermediate's fork")
	wantBytes(t, readVMO(t, b, ps, ps), pattern(2, 4), "grandchild reads the root through the intermediate")
	// A's fork after B's creation: B already copied page 0 (it was mapped);
	// page 2 of B was never accessed and shows A's current content.
	if err := a.Write([]byte("late"), 2*ps); err != nil {
		t.Fatal(err)
	}
	want = pattern(3, 4)
	copy(want, "late")
	wantBytes(t, readVMO(t, b, 2*ps, ps), want, "unforked grandchild page follows its parent")
	// B's writes reach neither A nor the root.
	mappedWrite(t, baddr+ps, []byte("fork-b"))
	wantBytes(t, readVMO(t, a, ps, ps), pattern(2, 4), "intermediate after the grandchild wrote")
	wantBytes(t, readVMO(t, f.v, 2*ps, ps), pattern(2, 4), "root after the grandchild wrote")
	if a.NumChildren() != 1 || b.Parent() != a {
		t.Fatal("clone-of-clone linkage")
	}
	// The intermediate stays empty: only what it wrote is committed there.
	if got := a.Info(zx.DefaultVMORights).CommittedBytes; got != 2*ps {
		t.Fatalf("intermediate committed %#x, want its two forked pages", got)
	}
}

// A clone from beyond the root's end, or reaching past it, reads zeros there
// and never asks for them.
func TestCloneBeyondParentReadsZero(t *testing.T) {
	f := newFixture(t, 2, 0)
	c := newClone(t, f.v, ps, 3*ps, 0)
	caddr := mapAll(t, c)
	wantBytes(t, mappedRead(t, caddr+ps, 2*ps), make([]byte, 2*ps), "mapped clone beyond the root")
	wantBytes(t, readVMO(t, c, 2*ps, ps), make([]byte, ps), "clone read beyond the root")
	f.noPacket()
}

// A parent shrink clips the clone for good: unwritten pages there read zero,
// even after the parent grows back and is supplied again; pages the clone
// wrote stay; the clone's mapping does not fault (CloneShrinkGrowParent,
// CloneResizeParentOK).
func TestCloneParentShrinkClips(t *testing.T) {
	f := newFixture(t, 4, zx.VMOResizable)
	f.supply(0, 4*ps, 5)
	c := newClone(t, f.v, 0, 4*ps, 0)
	caddr := mapAll(t, c)
	wantBytes(t, mappedRead(t, caddr+2*ps, ps), pattern(2, 5), "clone page 2 before the shrink")
	if err := c.Write([]byte("mine"), 3*ps); err != nil {
		t.Fatal(err)
	}
	if err := f.v.SetSize(2 * ps); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, mappedRead(t, caddr+2*ps, ps), make([]byte, ps), "clipped clone page through the mapping")
	wantBytes(t, readVMO(t, c, 2*ps, ps), make([]byte, ps), "clipped clone page")
	if b := readVMO(t, c, 3*ps, 4); string(b) != "mine" {
		t.Fatalf("written clone page lost: %q", b)
	}
	wantBytes(t, readVMO(t, c, ps, ps), pattern(1, 5), "clone page inside the parent")
	if err := f.v.SetSize(4 * ps); err != nil {
		t.Fatal(err)
	}
	f.supply(2*ps, 2*ps, 6) // a no-op: the grown tail counts as supplied
	if err := f.v.Write([]byte("root"), 2*ps); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, readVMO(t, c, 2*ps, ps), make([]byte, ps), "clipped page after the parent grew back")
	wantBytes(t, mappedRead(t, caddr+2*ps, ps), make([]byte, ps), "clipped mapped page after the parent grew back")
	f.noPacket()
	// Shrinking the clone clips it too: grown back, it reads zero.
	rc := newClone(t, f.v, 0, 2*ps, zx.VMOChildResizable)
	if err := rc.SetSize(ps); err != nil {
		t.Fatal(err)
	}
	if err := rc.SetSize(2 * ps); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, readVMO(t, rc, ps, ps), make([]byte, ps), "clone regrown")
}

// COMMIT on a clone copies every page into it, asking the root for its
// absent runs (split at present pages); the root's pages stay the root's
// (CloneCommitTest, SplitCommit). DECOMMIT is NOT_SUPPORTED.
func TestCloneCommit(t *testing.T) {
	f := newFixture(t, 4, 0)
	f.supply(ps, ps, 1)
	c := newClone(t, f.v, 0, 4*ps, 0)
	if got := c.Info(zx.DefaultVMORights).CommittedBytes; got != 0 {
		t.Fatalf("fresh clone commits %#x bytes", got)
	}
	res := async(func() error { return c.OpRange(zx.VMOOpCommit, 0, 4*ps, nil) })
	f.wantRequest(zx.PagerVMORead, 0, ps)
	f.supply(0, ps, 2)
	f.wantRequest(zx.PagerVMORead, 2*ps, 2*ps)
	pending(t, res)
	f.supply(2*ps, 2*ps, 3)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	if got := c.Info(zx.DefaultVMORights).CommittedBytes; got != 4*ps {
		t.Fatalf("committed clone has %#x bytes, want 4 pages", got)
	}
	want := append(append(pattern(0, 2), pattern(1, 1)...), patterns(2*ps, 2*ps, 3)...)
	wantBytes(t, readVMO(t, c, 0, 4*ps), want, "committed clone")
	// Committed pages are the clone's: the root's detach does not take them.
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, readVMO(t, c, 0, 4*ps), want, "committed clone after detach")
	wantStatus(t, c.OpRange(zx.VMOOpDecommit, 0, ps, nil), zx.ErrNotSupported)
}

// The pager-only calls refuse clones (INVALID_ARGS); full snapshots of pager
// VMOs and their clones are NOT_SUPPORTED.
func TestCloneRefusals(t *testing.T) {
	f := newFixture(t, 2, 0)
	c := newClone(t, f.v, 0, 2*ps, 0)
	wantStatus(t, f.p.SupplyPages(c, 0, ps, newAux(t, ps), 0), zx.ErrInvalidArgs)
	_, _, err := f.p.DirtyRanges(c, 0, ps, nil, true)
	wantStatus(t, err, zx.ErrInvalidArgs)
	_, err = f.p.Stats(c, false)
	wantStatus(t, err, zx.ErrInvalidArgs)
	wantStatus(t, f.p.Detach(c), zx.ErrInvalidArgs)
	wantStatus(t, f.p.Fail(c, 0, ps, zx.ErrIO), zx.ErrInvalidArgs)
	wantStatus(t, f.p.OpDirty(c, 0, ps), zx.ErrInvalidArgs)
	for _, o := range []uint32{zx.VMOChildSnapshot, zx.VMOChildSnapshotModified} {
		_, err := f.v.CreateChild(o, 0, ps, ps)
		wantStatus(t, err, zx.ErrNotSupported)
		_, err = c.CreateChild(o, 0, ps, ps)
		wantStatus(t, err, zx.ErrNotSupported)
	}
	_, err = f.v.CreateChild(zx.VMOChildSnapshotAtLeastOnWrite, 0, 1<<47, 1<<47)
	wantStatus(t, err, zx.ErrOutOfRange)
	f.noPacket()
}

// Detaching the root leaves the clone's written pages valid and makes the
// pages it shared with the root fail: SIGBUS through a mapping, BAD_STATE
// from zx_vmo_read (CloneDetachTest).
func TestCloneDetach(t *testing.T) {
	f := newFixture(t, 3, 0)
	f.supply(0, 2*ps, 1)
	c := newClone(t, f.v, 0, 3*ps, 0)
	caddr := mapAll(t, c)
	mappedWrite(t, caddr, []byte("forked"))
	wantBytes(t, mappedRead(t, caddr+ps, ps), pattern(1, 1), "shared page before detach")
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	want := pattern(0, 1)
	copy(want, "forked")
	wantBytes(t, mappedRead(t, caddr, ps), want, "forked page after detach")
	wantBytes(t, readVMO(t, c, 0, ps), want, "forked page after detach (zx_vmo_read)")
	for _, pg := range []uint64{1, 2} {
		r := done(t, thread(t).Read(caddr+uintptr(pg)*ps, 1))
		if !r.Sigbus {
			t.Fatalf("mapped read of shared page %d after detach: no SIGBUS (signal %d)", pg, r.Signo)
		}
		wantStatus(t, c.Read(make([]byte, 1), pg*ps), zx.ErrBadState)
		wantStatus(t, c.Write([]byte{1}, pg*ps), zx.ErrBadState)
	}
	// Failing is not a one-off: the page fails again.
	if r := done(t, thread(t).Read(caddr+ps, 1)); !r.Sigbus {
		t.Fatal("second mapped read after detach did not SIGBUS")
	}
	f.wantRequest(zx.PagerVMOComplete, 0, 0)
}

// A pager failure of a root page reaches whoever waits through the clone
// with its status: SIGBUS for a mapped access, the status for zx_vmo_read.
func TestCloneFailPropagates(t *testing.T) {
	f := newFixture(t, 2, 0)
	c := newClone(t, f.v, 0, 2*ps, 0)
	caddr := mapAll(t, c)
	acc := thread(t).Read(caddr, 1)
	f.wantRequest(zx.PagerVMORead, 0, ps)
	if err := f.p.Fail(f.v, 0, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	if r := done(t, acc); !r.Sigbus {
		t.Fatalf("mapped clone read of a failed page: no SIGBUS (signal %d)", r.Signo)
	}
	res := async(func() error { return c.Read(make([]byte, 1), ps) })
	f.wantRequest(zx.PagerVMORead, ps, ps)
	if err := f.p.Fail(f.v, ps, ps, zx.ErrIODataIntegrity); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, result(t, res), zx.ErrIODataIntegrity)
	// Not sticky: a later access asks again and succeeds (once the failed
	// thread has run and its poison marker is gone).
	cv := c.Source().(*pagedVMO)
	waitFor(t, func() bool { cv.mu.Lock(); defer cv.mu.Unlock(); return len(cv.poisoned) == 0 })
	acc = thread(t).Read(caddr, 8)
	f.wantRequest(zx.PagerVMORead, 0, ps)
	f.supply(0, ps, 3)
	if r := done(t, acc); r.Faulted() || !bytes.Equal(r.Data, pattern(0, 3)[:8]) {
		t.Fatalf("mapped read after the failure: signal %d data % x", r.Signo, r.Data)
	}
}

// Two mappings of one clone show the same pages: the first access fetches
// the page once, writes through one are seen through the other.
func TestCloneSeveralMappings(t *testing.T) {
	f := newFixture(t, 2, 0)
	c := newClone(t, f.v, 0, 2*ps, 0)
	a1, a2 := mapAll(t, c), mapAll(t, c)
	acc1 := thread(t).Read(a1+ps, 4)
	acc2 := thread(t).Read(a2+ps, 4)
	f.wantRequest(zx.PagerVMORead, ps, ps)
	f.supply(ps, ps, 4)
	r1, r2 := done(t, acc1), done(t, acc2)
	if r1.Faulted() || r2.Faulted() || !bytes.Equal(r1.Data, r2.Data) || !bytes.Equal(r1.Data, pattern(1, 4)[:4]) {
		t.Fatalf("two mappings: % x / % x", r1.Data, r2.Data)
	}
	mappedWrite(t, a2+ps+1, []byte{0x5a})
	if b := mappedRead(t, a1+ps+1, 1); b[0] != 0x5a {
		t.Fatalf("write through one mapping not seen through the other: %#x", b[0])
	}
	f.noPacket()
}

// The root's ZX_VMO_ZERO_CHILDREN follows its clones, which keep it alive.
func TestCloneZeroChildren(t *testing.T) {
	f := newFixture(t, 1, 0)
	c, err := f.v.CreateChild(zx.VMOChildSnapshotAtLeastOnWrite, 0, ps, ps)
	if err != nil {
		t.Fatal(err)
	}
	if f.v.Signals().Get()&zx.VMOZeroChildren != 0 {
		t.Fatal("ZX_VMO_ZERO_CHILDREN asserted with a clone")
	}
	c.OnZeroHandles()
	if f.v.Signals().Get()&zx.VMOZeroChildren == 0 {
		t.Fatal("ZX_VMO_ZERO_CHILDREN not asserted after the clone went")
	}
}

// Many C threads fault on a clone's pages at once, through two mappings,
// while a goroutine answers the root's READ packets: every thread sees the
// root's page, every root page is requested, and writes stay in the clone.
func TestCloneConcurrentFaults(t *testing.T) {
	const pages = 32
	f := newFixture(t, pages, 0)
	c := newClone(t, f.v, 0, pages*ps, 0)
	a1, a2 := mapAll(t, c), mapAll(t, c)
	stop := make(chan struct{})
	served := make(chan int, 1)
	go func() {
		n := 0
		defer func() { served <- n }()
		for {
			pkt, err := f.port.Wait(zx.DeadlineAfter(zx.Duration(quiet)), nil)
			if err != nil {
				select {
				case <-stop:
					return
				default:
					continue
				}
			}
			r := pkt.PageRequest()
			if r.Command != zx.PagerVMORead {
				continue
			}
			n++
			_ = f.trySupply(r.Offset, r.Length, 6)
		}
	}()
	type pendingAccess struct {
		pg    uint64
		write bool
		p     *faulter.Pending
	}
	ths := make([]*pendingAccess, 0, 2*pages)
	for pg := uint64(0); pg < pages; pg++ {
		base := a1
		if pg%2 == 1 {
			base = a2
		}
		if pg%3 == 0 {
			ths = append(ths, &pendingAccess{pg: pg, write: true, p: thread(t).Write(base+uintptr(pg)*ps+7, []byte{0xe0 + byte(pg%16)})})
		}
		ths = append(ths, &pendingAccess{pg: pg, p: thread(t).Read(base+uintptr(pg)*ps, 16)})
	}
	for _, a := range ths {
		r := done(t, a.p)
		if r.Faulted() {
			t.Fatalf("page %d (write %v): signal %d", a.pg, a.write, r.Signo)
		}
		if !a.write && !bytes.Equal(r.Data[:7], pattern(a.pg, 6)[:7]) {
			t.Fatalf("page %d read % x", a.pg, r.Data)
		}
	}
	close(stop)
	if n := <-served; n < pages {
		t.Fatalf("%d READ packets for %d pages", n, pages)
	}
	for pg := uint64(0); pg < pages; pg++ {
		b := readVMO(t, c, pg*ps+7, 1)
		want := pattern(pg, 6)[7]
		if pg%3 == 0 {
			want = 0xe0 + byte(pg%16)
		}
		if b[0] != want {
			t.Fatalf("clone page %d byte 7: %#x, want %#x", pg, b[0], want)
		}
		if r := readVMO(t, f.v, pg*ps+7, 1); r[0] != pattern(pg, 6)[7] {
			t.Fatalf("root page %d changed: %#x", pg, r[0])
		}
	}
}

// BenchmarkCloneFirstTouch measures the first mapped read of each page of a
// clone whose root pages are all supplied: a userfaultfd fault, a fetch
// from the root's Read path and a UFFDIO_COPY per page. The same touch of
// the root's own mapping (pages in its page cache: in-kernel minor faults)
// is reported beside it.
func BenchmarkCloneFirstTouch(b *testing.B) {
	const pages = 256
	p, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	f := &fixture{p: p, port: port.New(), key: 1, size: pages * ps}
	f.v, err = p.CreateVMO(0, f.port, f.key, f.size)
	if err != nil {
		b.Fatal(err)
	}
	aux, _ := vmo.Create(f.size, 0)
	_ = aux.Write(patterns(0, f.size, 1), 0)
	if err := p.SupplyPages(f.v, 0, f.size, aux, 0); err != nil {
		b.Fatal(err)
	}
	th, err := faulter.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer th.Close()
	touch := func(v *vmo.VMO) time.Duration {
		addr, err := vmo.Root().Map(zx.VMPermRead, 0, v, 0, f.size)
		if err != nil {
			b.Fatal(err)
		}
		defer vmo.Root().Unmap(addr, f.size)
		start := time.Now()
		r, err := th.Touch(addr, uintptr(f.size), ps, false, 0).Wait(deadline)
		if err != nil || r.Faulted() {
			b.Fatalf("touch: %v signal %d", err, r.Signo)
		}
		return time.Since(start)
	}
	var cloneT, rootT time.Duration
	for i := 0; i < b.N; i++ {
		c, err := f.v.CreateChild(zx.VMOChildSnapshotAtLeastOnWrite, 0, f.size, f.size)
		if err != nil {
			b.Fatal(err)
		}
		cloneT += touch(c)
		c.OnZeroHandles()
		rootT += touch(f.v)
	}
	b.ReportMetric(float64(cloneT.Nanoseconds())/float64(b.N*pages), "clone-ns/page")
	b.ReportMetric(float64(rootT.Nanoseconds())/float64(b.N*pages), "root-ns/page")
}
