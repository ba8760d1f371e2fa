package pager

import (
	"testing"

	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// dirtyRanges returns the VMO's dirty ranges as [offset, length, options] triples in pages.
func (f *fixture) dirtyRanges() [][3]uint64 {
	f.t.Helper()
	out := make([]zx.VMODirtyRange, 64)
	n, avail, err := f.p.DirtyRanges(f.v, 0, f.v.Size(), out, true)
	if err != nil {
		f.t.Fatalf("DirtyRanges: %v", err)
	}
	if n != avail {
		f.t.Fatalf("actual %d != avail %d", n, avail)
	}
	var r [][3]uint64
	for _, e := range out[:n] {
		r = append(r, [3]uint64{e.Offset / ps, e.Length / ps, e.Options})
	}
	return r
}

func (f *fixture) wantDirty(want ...[3]uint64) {
	f.t.Helper()
	got := f.dirtyRanges()
	if len(got) != len(want) {
		f.t.Fatalf("dirty ranges %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			f.t.Fatalf("dirty ranges %v, want %v", got, want)
		}
	}
}

func (f *fixture) modified(reset bool) bool {
	m, err := f.p.Stats(f.v, reset)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// TRAP_DIRTY: the first write through a mapping to a clean page posts DIRTY
// and blocks until OP_DIRTY; then it lands, the page is dirty, and further
// writes post nothing (DirtyRequestsRepeatedWrites).
func TestTrapDirtyMappedWrite(t *testing.T) {
	f := newFixture(t, 2, zx.VMOTrapDirty)
	f.supply(0, 2*ps, 1)
	f.modified(true)
	th := thread(t)
	acc := th.Write(f.addr+ps+4, []byte("abc"))
	f.wantRequest(zx.PagerVMODirty, ps, ps)
	blocked(t, acc)
	f.wantDirty()
	if f.modified(false) {
		t.Fatal("modified before the write was allowed")
	}
	if err := f.p.OpDirty(f.v, ps, ps); err != nil {
		t.Fatal(err)
	}
	if r := done(t, acc); r.Faulted() {
		t.Fatalf("write faulted: %+v", r)
	}
	f.wantDirty([3]uint64{1, 1, 0})
	if !f.modified(false) {
		t.Fatal("a mapped write did not set modified")
	}
	if r := done(t, th.Write(f.addr+ps, []byte("again"))); r.Faulted() {
		t.Fatal("second write faulted")
	}
	f.noPacket()
	got := make([]byte, 8)
	if err := f.v.Read(got, ps); err != nil || string(got[:7]) != "againbc" {
		t.Fatalf("content %q %v", got, err)
	}
	// Reads never post DIRTY.
	done(t, th.Read(f.addr, 16))
	f.noPacket()
}

// A write to an absent page of a TRAP_DIRTY VMO posts READ, then DIRTY.
func TestTrapDirtyWriteToAbsentPage(t *testing.T) {
	f := newFixture(t, 1, zx.VMOTrapDirty)
	acc := thread(t).Write(f.addr, []byte("x"))
	f.wantRequest(zx.PagerVMORead, 0, ps)
	f.supply(0, ps, 2)
	f.wantRequest(zx.PagerVMODirty, 0, ps)
	if err := f.p.OpDirty(f.v, 0, ps); err != nil {
		t.Fatal(err)
	}
	if done(t, acc).Faulted() {
		t.Fatal("faulted")
	}
}

// Two writers on one clean page: one DIRTY packet (DirtyRequestsOverlap);
// failing it kills both writers, leaves the page clean and its content as it was
// (FailDirtyRequests).
func TestTrapDirtyOverlapAndFail(t *testing.T) {
	f := newFixture(t, 1, zx.VMOTrapDirty)
	f.supply(0, ps, 3)
	a := thread(t).Write(f.addr, []byte("A"))
	b := thread(t).Write(f.addr+8, []byte("B"))
	f.wantRequest(zx.PagerVMODirty, 0, ps)
	blocked(t, a)
	blocked(t, b)
	f.noPacket()
	if err := f.p.Fail(f.v, 0, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	if !done(t, a).Sigbus || !done(t, b).Sigbus {
		t.Fatal("failed DIRTY did not SIGBUS the writers")
	}
	f.wantDirty()
	got := make([]byte, ps)
	if err := f.v.Read(got, 0); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got, pattern(0, 3), "content after failed DIRTY")
	if f.modified(false) {
		t.Fatal("a write whose DIRTY request failed set modified")
	}
	// zx_vmo_write gets the failure status.
	res := async(func() error { return f.v.Write([]byte("z"), 0) })
	f.wantRequest(zx.PagerVMODirty, 0, ps)
	if err := f.p.Fail(f.v, 0, ps, zx.ErrIODataIntegrity); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, result(t, res), zx.ErrIODataIntegrity)
}

// zx_vmo_write over [absent][clean][clean][dirty][zero marker]: READ for the
// absent run, then DIRTY for each maximal run of present non-dirty pages,
// split at the dirty page (DirtyRequestsRandomOffsets).
func TestTrapDirtyVmoWriteRuns(t *testing.T) {
	f := newFixture(t, 5, zx.VMOTrapDirty)
	f.supply(ps, 3*ps, 1)
	if err := f.p.OpDirty(f.v, 3*ps, ps); err != nil { // page 3 dirty, without a request (OpDirtyNoWrite)
		t.Fatal(err)
	}
	f.noPacket()
	aux := newAux(t, ps) // uncommitted: page 4 becomes a zero marker
	if err := f.p.SupplyPages(f.v, 4*ps, ps, aux, 0); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5*ps)
	for i := range data {
		data[i] = byte(i * 3)
	}
	res := async(func() error { return f.v.Write(data, 0) })
	f.wantRequest(zx.PagerVMORead, 0, ps)
	f.supply(0, ps, 1)
	f.wantRequest(zx.PagerVMODirty, 0, 3*ps)
	if err := f.p.OpDirty(f.v, 0, 3*ps); err != nil {
		t.Fatal(err)
	}
	f.wantRequest(zx.PagerVMODirty, 4*ps, ps)
	pending(t, res)
	if err := f.p.OpDirty(f.v, 4*ps, ps); err != nil {
		t.Fatal(err)
	}
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if err := f.v.Read(got, 0); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got, data, "written")
	f.wantDirty([3]uint64{0, 5, 0})
}

// Without TRAP_DIRTY writes post no DIRTY but are tracked all the same
// (SimpleDirtyNoTrap): mapped and zx_vmo_write.
func TestDirtyTrackingWithoutTrap(t *testing.T) {
	f := newFixture(t, 4, 0)
	f.supply(0, 4*ps, 1)
	f.modified(true)
	if done(t, thread(t).Write(f.addr+ps, []byte("m"))).Faulted() {
		t.Fatal("mapped write faulted")
	}
	if err := f.v.Write([]byte("w"), 3*ps); err != nil {
		t.Fatal(err)
	}
	f.noPacket()
	f.wantDirty([3]uint64{1, 1, 0}, [3]uint64{3, 1, 0})
	if !f.modified(true) || f.modified(false) {
		t.Fatal("modified flag not set then reset")
	}
	wantStatus(t, f.p.OpDirty(f.v, 0, ps), zx.ErrNotSupported)
	// Writeback protects the mapping again: the next write re-dirties the page.
	if err := f.p.WritebackBegin(f.v, 0, 4*ps, false); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{1, 1, 0}, [3]uint64{3, 1, 0}) // AwaitingClean still counts
	if err := f.p.WritebackEnd(f.v, 0, 4*ps); err != nil {
		t.Fatal(err)
	}
	f.wantDirty()
	if done(t, thread(t).Write(f.addr+ps, []byte("n"))).Faulted() {
		t.Fatal("mapped write faulted")
	}
	f.wantDirty([3]uint64{1, 1, 0})
	f.noPacket()
}

// OP_DIRTY statuses: NOT_FOUND for an unsupplied page (and nothing changes),
// OUT_OF_RANGE, BAD_STATE after detach.
func TestOpDirtyErrors(t *testing.T) {
	f := newFixture(t, 3, zx.VMOTrapDirty)
	f.supply(0, ps, 1)
	wantStatus(t, f.p.OpDirty(f.v, 0, 2*ps), zx.ErrNotFound)
	f.wantDirty()
	wantStatus(t, f.p.OpDirty(f.v, 2*ps, 2*ps), zx.ErrOutOfRange)
	if err := f.p.OpDirty(f.v, 0, ps); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.p.OpDirty(f.v, 0, ps), zx.ErrBadState)
}

// Writeback with a write in between (DirtyDuringWriteback): a page written
// after BEGIN goes through the trap again and END leaves it dirty; pages not
// written become clean and trap again on their next write.
func TestWritebackStateMachine(t *testing.T) {
	f := newFixture(t, 2, zx.VMOTrapDirty)
	f.supply(0, 2*ps, 1)
	if err := f.p.OpDirty(f.v, 0, 2*ps); err != nil {
		t.Fatal(err)
	}
	th := thread(t)
	if done(t, th.Write(f.addr, []byte("1"))).Faulted() { // dirty: no trap
		t.Fatal("faulted")
	}
	f.noPacket()
	if err := f.p.WritebackBegin(f.v, 0, 2*ps, false); err != nil {
		t.Fatal(err)
	}
	acc := th.Write(f.addr+ps, []byte("2")) // AwaitingClean: traps
	f.wantRequest(zx.PagerVMODirty, ps, ps)
	if err := f.p.OpDirty(f.v, ps, ps); err != nil {
		t.Fatal(err)
	}
	if done(t, acc).Faulted() {
		t.Fatal("faulted")
	}
	if err := f.p.WritebackEnd(f.v, 0, 2*ps); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{1, 1, 0})
	acc = th.Write(f.addr, []byte("3")) // clean again: traps again
	f.wantRequest(zx.PagerVMODirty, 0, ps)
	if err := f.p.OpDirty(f.v, 0, ps); err != nil {
		t.Fatal(err)
	}
	done(t, acc)
	// END without BEGIN is a no-op.
	if err := f.p.WritebackEnd(f.v, 0, 2*ps); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{0, 2, 0})
}

// Resize up makes a dirty IS_ZERO range, reported apart from committed
// dirty pages; writing into it (TRAP_DIRTY) needs DIRTY and splits it;
// writeback of the zero part makes it a gap that must be supplied again
// (ResizeWriteback, DelayedReadZeroRange).
func TestZeroTailDirtyRanges(t *testing.T) {
	f := newFixture(t, 2, zx.VMOTrapDirty|zx.VMOResizable)
	f.supply(0, 2*ps, 1)
	if err := f.p.OpDirty(f.v, ps, ps); err != nil {
		t.Fatal(err)
	}
	if err := f.v.SetSize(5 * ps); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{1, 1, 0}, [3]uint64{2, 3, zx.VMODirtyRangeIsZero})
	res := async(func() error { return f.v.Write([]byte("t"), 3*ps) })
	f.wantRequest(zx.PagerVMODirty, 3*ps, ps)
	if err := f.p.OpDirty(f.v, 3*ps, ps); err != nil {
		t.Fatal(err)
	}
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{1, 1, 0}, [3]uint64{2, 1, zx.VMODirtyRangeIsZero}, [3]uint64{3, 1, 0}, [3]uint64{4, 1, zx.VMODirtyRangeIsZero})
	if err := f.p.WritebackBegin(f.v, 2*ps, 3*ps, true); err != nil {
		t.Fatal(err)
	}
	if err := f.p.WritebackEnd(f.v, 2*ps, 3*ps); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{1, 1, 0})
	// The cleaned zero pages are gaps now: reading one asks the pager.
	res = async(func() error { return f.v.Read(make([]byte, 1), 4*ps) })
	f.wantRequest(zx.PagerVMORead, 4*ps, ps)
	f.supply(4*ps, ps, 2)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
}

// Query idioms: counting with no buffer, a buffer smaller than the ranges,
// and a sub-range query.
func TestQueryDirtyRangesIdioms(t *testing.T) {
	f := newFixture(t, 8, 0)
	f.supply(0, 8*ps, 1)
	for _, pg := range []uint64{0, 2, 3, 6} {
		if err := f.v.Write([]byte{1}, pg*ps); err != nil {
			t.Fatal(err)
		}
	}
	n, avail, err := f.p.DirtyRanges(f.v, 0, 8*ps, nil, true)
	if err != nil || n != 0 || avail != 3 {
		t.Fatalf("count: %d %d %v", n, avail, err)
	}
	one := make([]zx.VMODirtyRange, 1)
	n, avail, err = f.p.DirtyRanges(f.v, 0, 8*ps, one, true)
	if err != nil || n != 1 || avail != 3 || one[0] != (zx.VMODirtyRange{Offset: 0, Length: ps}) {
		t.Fatalf("small buffer: %d %d %v %+v", n, avail, err, one[0])
	}
	n, _, err = f.p.DirtyRanges(f.v, 3*ps, 4*ps, one, false)
	if err != nil || n != 1 || one[0].Offset != 3*ps || one[0].Length != ps {
		t.Fatalf("sub-range: %d %v %+v", n, err, one[0])
	}
	if _, _, err := f.p.DirtyRanges(f.v, 0, 9*ps, one, false); zx.StatusOf(err) != zx.ErrOutOfRange {
		t.Fatalf("beyond size: %v", err)
	}
}

// OP_ZERO on whole pages: no READ or DIRTY request even with TRAP_DIRTY, the
// pages read zero and form a dirty zero range, a blocked reader there is
// woken with zeros (OpZeroUnblocksReadRequest), zero markers stay clean.
func TestOpZero(t *testing.T) {
	f := newFixture(t, 4, zx.VMOTrapDirty)
	f.supply(0, 2*ps, 1)
	res := async(func() error {
		b := make([]byte, ps)
		if err := f.v.Read(b, 3*ps); err != nil {
			return err
		}
		for _, c := range b {
			if c != 0 {
				return zx.Errorf(zx.ErrInternal, "non-zero byte after OP_ZERO")
			}
		}
		return nil
	})
	f.wantRequest(zx.PagerVMORead, 3*ps, ps)
	f.modified(true)
	if err := f.v.OpRange(zx.VMOOpZero, ps, 3*ps, nil); err != nil {
		t.Fatal(err)
	}
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	f.noPacket()
	f.wantDirty([3]uint64{1, 3, zx.VMODirtyRangeIsZero})
	if !f.modified(false) {
		t.Fatal("OP_ZERO did not set modified")
	}
	got := make([]byte, 2*ps)
	if err := f.v.Read(got, 0); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got[:ps], pattern(0, 1), "page before the zeroed range")
	wantBytes(t, got[ps:], make([]byte, ps), "zeroed page")
	r := done(t, thread(t).Read(f.addr+ps, 32))
	wantBytes(t, r.Data, make([]byte, 32), "mapped zeroed page")
	if c := f.v.Info(zx.DefaultVMORights).CommittedBytes; c != ps {
		t.Fatalf("committed %d after zeroing, want one page", c)
	}
}

// Detach keeps dirty and AwaitingClean pages, which can still be written
// back (WritebackDirtyPagesAfterDetach); writes to a detached TRAP_DIRTY
// VMO's clean... pages are gone, so the mapped write to a dropped page SIGBUSes.
func TestWritebackAfterDetach(t *testing.T) {
	f := newFixture(t, 3, zx.VMOTrapDirty)
	f.supply(0, 3*ps, 1)
	if err := f.p.OpDirty(f.v, 0, 2*ps); err != nil {
		t.Fatal(err)
	}
	if err := f.p.WritebackBegin(f.v, ps, ps, false); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	f.wantRequest(zx.PagerVMOComplete, 0, 0)
	f.wantDirty([3]uint64{0, 2, 0})
	if err := f.p.WritebackBegin(f.v, 0, ps, false); err != nil {
		t.Fatal(err)
	}
	if err := f.p.WritebackEnd(f.v, 0, 2*ps); err != nil {
		t.Fatal(err)
	}
	f.wantDirty()
	if c := f.v.Info(zx.DefaultVMORights).CommittedBytes; c != 2*ps {
		t.Fatalf("committed %d: the written-back pages must stay", c)
	}
	if !done(t, thread(t).Write(f.addr+2*ps, []byte("x"))).Sigbus {
		t.Fatal("write to a page dropped by detach did not SIGBUS")
	}
}

// Without TRAP_DIRTY, mapped writes are tracked by async write-protect,
// whose state lives in the page tables: removing the mapping must not lose
// them, and detach must keep pages written through a mapping (they are
// dirty, never dropped as clean).
func TestAsyncDirtySurvivesUnmapAndDetach(t *testing.T) {
	f := newFixture(t, 4, 0)
	f.supply(0, 4*ps, 1)
	addr, err := vmo.Root().Map(zx.VMPermRead|zx.VMPermWrite, 0, f.v, 0, 4*ps)
	if err != nil {
		t.Fatal(err)
	}
	if done(t, thread(t).Write(addr+2*ps, []byte("kept"))).Faulted() {
		t.Fatal("write faulted")
	}
	if err := vmo.Root().Unmap(addr, 4*ps); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{2, 1, 0})
	if done(t, thread(t).Write(f.addr+3*ps, []byte("also"))).Faulted() {
		t.Fatal("write faulted")
	}
	if err := f.p.Detach(f.v); err != nil { // no query in between
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{2, 2, 0})
	got := make([]byte, 4)
	for pg, want := range map[uint64]string{2: "kept", 3: "also"} {
		if err := f.v.Read(got, pg*ps); err != nil || string(got) != want {
			t.Fatalf("page %d after detach: %q %v", pg, got, err)
		}
	}
	if c := f.v.Info(zx.DefaultVMORights).CommittedBytes; c != 2*ps {
		t.Fatalf("committed %d after detach, want the two written pages", c)
	}
}

// A write through a mapping of an async-tracked VMO that lands after the
// detach's collect, before its clean pages are dropped, is not lost: the
// detach stops such writes (the mappings fault MINOR from then on) and
// finds the ones already made in the page tables (a zapped written entry
// keeps no write-protect marker). The collect that would miss the write is
// simulated by marking the written page Clean again. After the detach the
// kept pages are mapped again on access (UFFDIO_CONTINUE, still tracked),
// and the dropped ones fail.
func TestDetachKeepsWriteLandingBeforeTheDrop(t *testing.T) {
	f := newFixture(t, 4, 0)
	f.supply(0, 4*ps, 1)
	th := thread(t)
	if r := done(t, th.Read(f.addr+ps, 8)); r.Faulted() { // page 1: mapped, clean
		t.Fatalf("read: %+v", r)
	}
	if r := done(t, th.Write(f.addr+2*ps, []byte("late"))); r.Faulted() { // page 2: written
		t.Fatalf("write: %+v", r)
	}
	if err := f.v.Write([]byte("vmo"), 3*ps); err != nil { // page 3: dirty, never mapped
		t.Fatal(err)
	}
	pv, _ := f.p.owned(f.v)
	pv.mu.Lock()
	pv.collect(0, 4, false)
	if s := pv.table.get(2); s.state() != stDirty {
		pv.mu.Unlock()
		t.Fatalf("page 2 after collect: state %d, want Dirty", s)
	}
	pv.table.set(2, stClean) // the collect did not see the write
	pv.stopUntrackedWrites()
	s1, s2 := pv.table.get(1), pv.table.get(2)
	pv.mu.Unlock()
	if s1.state() != stClean || s2.state() != stDirty {
		t.Fatalf("after stopping writes: page 1 state %d (want Clean), page 2 state %d (want Dirty: written)", s1, s2)
	}
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{2, 2, 0})
	for pg, want := range map[uint64]string{2: "late", 3: "vmo"} {
		r := done(t, th.Read(f.addr+uintptr(pg)*ps, len(want)))
		if r.Faulted() || string(r.Data) != want {
			t.Fatalf("mapped read of kept page %d after detach: %+v", pg, r)
		}
	}
	for _, pg := range []uintptr{0, 1} {
		if r := done(t, th.Read(f.addr+pg*ps, 8)); !r.Sigbus {
			t.Fatalf("mapped read of dropped page %d after detach: %+v, want SIGBUS", pg, r)
		}
	}
	// Writes to kept pages are still tracked: one after WRITEBACK_BEGIN keeps
	// the page dirty through END.
	if err := f.p.WritebackBegin(f.v, 0, 4*ps, false); err != nil {
		t.Fatal(err)
	}
	if r := done(t, th.Write(f.addr+3*ps, []byte("new"))); r.Faulted() {
		t.Fatalf("write to a kept page after detach: %+v", r)
	}
	if err := f.p.WritebackEnd(f.v, 0, 4*ps); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{3, 1, 0})
}
