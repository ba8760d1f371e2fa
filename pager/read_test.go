package pager

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// A C thread touching an absent page blocks in the kernel; a READ packet for
// exactly that page arrives; the supply lets it go on with the supplied bytes.
func TestMappedFaultBecomesReadPacket(t *testing.T) {
	f := newFixture(t, 4, 0)
	th := thread(t)
	acc := th.Read(f.addr+2*ps+100, 200)
	f.wantRequest(zx.PagerVMORead, 2*ps, ps)
	blocked(t, acc)
	f.noPacket()
	f.supply(2*ps, ps, 7)
	r := done(t, acc)
	if r.Sigbus {
		t.Fatalf("SIGBUS at %#x", r.Addr)
	}
	wantBytes(t, r.Data, pattern(2, 7)[100:300], "mapped read")
	// Present now: touching again posts nothing.
	if r := done(t, th.Read(f.addr+2*ps, ps)); r.Sigbus {
		t.Fatal("SIGBUS on a present page")
	}
	f.noPacket()
}

// Mapped accesses fault one page at a time, in order (SequentialMultipageTest).
func TestMappedSequentialFaults(t *testing.T) {
	f := newFixture(t, 8, 0)
	acc := thread(t).Read(f.addr, int(f.size))
	for pg := uint64(0); pg < 8; pg++ {
		f.wantRequest(zx.PagerVMORead, pg*ps, ps)
		f.supply(pg*ps, ps, 1)
	}
	wantBytes(t, done(t, acc).Data, patterns(0, f.size, 1), "sequential read")
}

// A write to an absent page needs the page first (READ), then lands.
func TestMappedWriteFault(t *testing.T) {
	f := newFixture(t, 2, 0)
	acc := thread(t).Write(f.addr+ps+8, []byte("hello"))
	f.wantRequest(zx.PagerVMORead, ps, ps)
	f.supply(ps, ps, 3)
	if r := done(t, acc); r.Sigbus {
		t.Fatal("SIGBUS")
	}
	got := make([]byte, ps)
	if err := f.v.Read(got, ps); err != nil {
		t.Fatal(err)
	}
	want := pattern(1, 3)
	copy(want[8:], "hello")
	wantBytes(t, got, want, "page after mapped write")
}

// zx_vmo_read never faults: it requests the maximal absent run from its
// first absent page; a present page splits the range (PresentPageSplitsRange).
func TestVmoReadRequestsAbsentRuns(t *testing.T) {
	f := newFixture(t, 8, 0)
	f.supply(3*ps, ps, 9)
	buf := make([]byte, 6*ps)
	res := async(func() error { return f.v.Read(buf, ps) }) // pages 1..6
	f.wantRequest(zx.PagerVMORead, ps, 2*ps)                // [1,3): stops at present page 3
	f.supply(ps, 2*ps, 9)
	f.wantRequest(zx.PagerVMORead, 4*ps, 3*ps) // [4,7)
	pending(t, res)
	f.supply(4*ps, 3*ps, 9)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, buf, patterns(ps, 6*ps, 9), "vmo read")
	f.noPacket()
}

// A byte range that straddles a page boundary asks for both pages at once.
func TestVmoReadStraddlingRequestsBothPages(t *testing.T) {
	f := newFixture(t, 4, 0)
	buf := make([]byte, 10)
	res := async(func() error { return f.v.Read(buf, 2*ps-5) })
	f.wantRequest(zx.PagerVMORead, ps, 2*ps)
	f.supply(ps, 2*ps, 4)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, buf, patterns(ps, 2*ps, 4)[ps-5:ps+5], "straddling read")
}

// zx_vmo_write requests absent pages in batches of 16 (LargeWriteBatched).
func TestVmoWriteBatches16Pages(t *testing.T) {
	f := newFixture(t, 40, 0)
	data := make([]byte, 40*ps)
	for i := range data {
		data[i] = byte(i * 7)
	}
	res := async(func() error { return f.v.Write(data, 0) })
	f.wantRequest(zx.PagerVMORead, 0, 16*ps)
	f.supply(0, 16*ps, 1)
	f.wantRequest(zx.PagerVMORead, 16*ps, 16*ps)
	f.supply(16*ps, 16*ps, 1)
	f.wantRequest(zx.PagerVMORead, 32*ps, 8*ps)
	f.supply(32*ps, 8*ps, 1)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if err := f.v.Read(got, 0); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got, data, "written VMO")
	if m, _ := f.p.Stats(f.v, false); !m {
		t.Fatal("a write did not set the modified flag")
	}
}

// COMMIT requests absent pages and does not return until they are present.
func TestCommitRequestsPages(t *testing.T) {
	f := newFixture(t, 4, 0)
	res := async(func() error { return f.v.OpRange(zx.VMOOpCommit, 0, 4*ps, nil) })
	f.wantRequest(zx.PagerVMORead, 0, 4*ps)
	pending(t, res)
	f.supply(0, 4*ps, 2)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	if got := f.v.Info(zx.DefaultVMORights).CommittedBytes; got != 4*ps {
		t.Fatalf("committed bytes %d, want %d", got, 4*ps)
	}
}

// Pre-supplied pages never cause requests (PresupplyTest).
func TestPresuppliedPagesNoRequest(t *testing.T) {
	f := newFixture(t, 2, 0)
	f.supply(0, 2*ps, 5)
	r := done(t, thread(t).Read(f.addr, int(2*ps)))
	wantBytes(t, r.Data, patterns(0, 2*ps, 5), "presupplied")
	buf := make([]byte, 2*ps)
	if err := f.v.Read(buf, 0); err != nil {
		t.Fatal(err)
	}
	f.noPacket()
}

// 32 C threads faulting on one page produce exactly one packet
// (ConcurrentOverlappingAccessTest), and all resume after one supply.
func TestConcurrentFaultsOnOnePageCoalesce(t *testing.T) {
	f := newFixture(t, 1, 0)
	const n = 32
	var accs []*faulter.Pending
	for i := 0; i < n; i++ {
		accs = append(accs, thread(t).Read(f.addr+uintptr(i*8), 8))
	}
	f.wantRequest(zx.PagerVMORead, 0, ps)
	for _, a := range accs {
		blocked(t, a)
	}
	f.noPacket()
	f.supply(0, ps, 6)
	for i, a := range accs {
		wantBytes(t, done(t, a).Data, pattern(0, 6)[i*8:i*8+8], "coalesced reader")
	}
	f.noPacket()
}

// A new request starting before an outstanding one is truncated where the
// outstanding one begins; the rest is requested after (OverlapCommitTest).
func TestOverlappingRequestIsTruncated(t *testing.T) {
	f := newFixture(t, 32, 0)
	inner := async(func() error { return f.v.OpRange(zx.VMOOpCommit, 8*ps, 16*ps, nil) })
	f.wantRequest(zx.PagerVMORead, 8*ps, 16*ps)
	outer := async(func() error { return f.v.OpRange(zx.VMOOpCommit, 0, 32*ps, nil) })
	f.wantRequest(zx.PagerVMORead, 0, 8*ps)
	f.supply(0, 24*ps, 1)
	if err := result(t, inner); err != nil {
		t.Fatal(err)
	}
	f.wantRequest(zx.PagerVMORead, 24*ps, 8*ps)
	pending(t, outer)
	f.supply(24*ps, 8*ps, 1)
	if err := result(t, outer); err != nil {
		t.Fatal(err)
	}
}

// One packet per VMO is in the port at a time; the next is posted when the
// first is read, in FIFO order.
func TestOnePacketInPortAtATime(t *testing.T) {
	f := newFixture(t, 8, 0)
	var accs []*faulter.Pending
	for _, pg := range []uint64{5, 1, 3} {
		acc := thread(t).Read(f.addr+uintptr(pg)*ps, 1)
		accs = append(accs, acc)
		// Wait until the fault is registered before the next one (FIFO order is what we test).
		waitFor(t, func() bool { return f.outstanding() == len(accs) })
	}
	if n := f.port.Len(); n != 1 {
		t.Fatalf("%d packets in the port, want 1", n)
	}
	for _, pg := range []uint64{5, 1, 3} {
		f.wantRequest(zx.PagerVMORead, pg*ps, ps)
	}
	f.supply(0, 8*ps, 2)
	for _, a := range accs {
		if done(t, a).Sigbus {
			t.Fatal("SIGBUS")
		}
	}
}

// A request resolved before the pager reads its packet is withdrawn from the
// port (EarlySupplyTest); the queued one behind it takes its place.
func TestRequestResolvedBeforeReadIsWithdrawn(t *testing.T) {
	f := newFixture(t, 4, 0)
	a := thread(t).Read(f.addr, 1)
	waitFor(t, func() bool { return f.port.Len() == 1 })
	b := thread(t).Read(f.addr+2*ps, 1)
	waitFor(t, func() bool { return f.outstanding() == 2 })
	f.supply(0, ps, 1) // page 0's packet is still unread: withdrawn
	done(t, a)
	f.wantRequest(zx.PagerVMORead, 2*ps, ps)
	f.supply(2*ps, ps, 1)
	done(t, b)
	f.noPacket()
}

// A request completes by page count across any number of supplies in any
// order; supplying present pages again is harmless.
func TestCompletionByPageCount(t *testing.T) {
	f := newFixture(t, 8, 0)
	buf := make([]byte, 8*ps)
	res := async(func() error { return f.v.Read(buf, 0) })
	f.wantRequest(zx.PagerVMORead, 0, 8*ps)
	for _, r := range [][2]uint64{{6, 2}, {2, 2}, {2, 4}, {7, 1}} {
		f.supply(r[0]*ps, r[1]*ps, 3)
		pending(t, res)
	}
	f.supply(0, 2*ps, 3)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, buf, patterns(0, 8*ps, 3), "read")
	f.noPacket()
}

// Early wake: a supply at the reader's next page lets it consume that page
// and wait for the rest on the same request, with no new packet
// (EarlyWakeOnSupply).
func TestEarlyWakeNoNewPacket(t *testing.T) {
	f := newFixture(t, 4, 0)
	buf := make([]byte, 4*ps)
	res := async(func() error { return f.v.Read(buf, 0) })
	f.wantRequest(zx.PagerVMORead, 0, 4*ps)
	f.supply(0, ps, 8)
	f.supply(ps, ps, 8)
	pending(t, res)
	f.noPacket()
	f.supply(2*ps, 2*ps, 8)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, buf, patterns(0, 4*ps, 8), "early-woken read")
}

// Supplied pages are never replaced, also not zero markers
// (CannotOverwriteZeroPage); aux holes become zero pages that do not count as
// committed; the aux range reads zero afterwards (MappedSupplyPages).
func TestSupplyRules(t *testing.T) {
	f := newFixture(t, 4, 0)
	f.supply(0, ps, 1)
	f.supply(0, 2*ps, 2) // page 0 kept, page 1 new
	got := make([]byte, 2*ps)
	if err := f.v.Read(got, 0); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got[:ps], pattern(0, 1), "present page replaced")
	wantBytes(t, got[ps:], pattern(1, 2), "new page")

	aux, err := vmo.Create(2*ps, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := aux.Write(pattern(3, 4), ps); err != nil { // aux page 0 uncommitted, page 1 committed
		t.Fatal(err)
	}
	if err := f.p.SupplyPages(f.v, 2*ps, 2*ps, aux, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.v.Read(got, 2*ps); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got[:ps], make([]byte, ps), "zero marker")
	wantBytes(t, got[ps:], pattern(3, 4), "copied page")
	if c := f.v.Info(zx.DefaultVMORights).CommittedBytes; c != 3*ps {
		t.Fatalf("committed %d, want %d (zero markers don't count)", c, 3*ps)
	}
	if c := aux.Info(zx.DefaultVMORights).CommittedBytes; c != 0 {
		t.Fatalf("aux still commits %d bytes after supply", c)
	}
	if err := aux.Read(got, 0); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got, make([]byte, 2*ps), "aux after supply")
	// A zero marker is never overwritten.
	f.supply(2*ps, ps, 5)
	if err := f.v.Read(got[:ps], 2*ps); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got[:ps], make([]byte, ps), "zero marker after second supply")
	// Zero markers are served to mapped faults too.
	r := done(t, thread(t).Read(f.addr+2*ps, 16))
	wantBytes(t, r.Data, make([]byte, 16), "mapped zero marker")
	f.noPacket()
}

func TestSupplyErrors(t *testing.T) {
	f := newFixture(t, 2, 0)
	aux, _ := vmo.Create(ps, 0)
	wantStatus(t, f.p.SupplyPages(f.v, 2*ps, ps, aux, 0), zx.ErrOutOfRange)
	wantStatus(t, f.p.SupplyPages(f.v, 0, 2*ps, aux, 0), zx.ErrOutOfRange) // beyond aux
	wantStatus(t, f.p.SupplyPages(f.v, 0, ps, aux, ps), zx.ErrOutOfRange)
	g := newFixture(t, 1, 0)
	wantStatus(t, f.p.SupplyPages(f.v, 0, ps, g.v, 0), zx.ErrNotSupported) // pager-backed aux
	wantStatus(t, f.p.SupplyPages(g.v, 0, ps, aux, 0), zx.ErrInvalidArgs)  // another pager's VMO
	wantStatus(t, f.p.SupplyPages(f.v, 0, 0, aux, 0), zx.ErrOk)
}

// ---- helpers ----

// outstanding counts the VMO's outstanding requests.
func (f *fixture) outstanding() int {
	pv, _ := f.p.owned(f.v)
	pv.mu.Lock()
	defer pv.mu.Unlock()
	return len(pv.tracker.all())
}

var waitMu sync.Mutex

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitMu.Lock()
	defer waitMu.Unlock()
	for end := zx.DeadlineAfter(zx.Duration(deadline)); zx.Now() < end; {
		if cond() {
			return
		}
		sleepBriefly()
	}
	t.Fatalf("condition not reached within %v", deadline)
}

// A supply longer than one aux probe (512 pages) with committed runs and
// holes crossing the probe boundaries, from an aux offset that is not the
// VMO offset, around pages already present: every page gets the aux page's
// content (or a zero marker for a hole), present pages are kept, and the
// aux range reads zero afterwards.
func TestSupplyLongRunsAcrossHoles(t *testing.T) {
	const pages, auxShift = 1300, 7
	f := newFixture(t, pages, 0)
	f.supply(300*ps, ps, 1) // present before the big supply: kept
	f.supply(1000*ps, ps, 1)
	aux := newAux(t, (pages+auxShift)*ps)
	committed := func(pg uint64) bool { return pg < 600 || (pg >= 900 && pg < 1100) || pg == 1250 }
	for pg := uint64(0); pg < pages; pg++ {
		if committed(pg) {
			if err := aux.Write(pattern(pg, 2), (pg+auxShift)*ps); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.p.SupplyPages(f.v, 0, pages*ps, aux, auxShift*ps); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, ps)
	var wantCommitted uint64
	for pg := uint64(0); pg < pages; pg++ {
		if err := f.v.Read(got, pg*ps); err != nil {
			t.Fatal(err)
		}
		switch {
		case pg == 300 || pg == 1000:
			wantBytes(t, got, pattern(pg, 1), fmt.Sprintf("present page %d", pg))
			wantCommitted++
		case committed(pg):
			wantBytes(t, got, pattern(pg, 2), fmt.Sprintf("supplied page %d", pg))
			wantCommitted++
		default:
			wantBytes(t, got, make([]byte, ps), fmt.Sprintf("zero marker at page %d", pg))
		}
	}
	if c := f.v.Info(zx.DefaultVMORights).CommittedBytes; c != wantCommitted*ps {
		t.Fatalf("committed %d bytes, want %d", c, wantCommitted*ps)
	}
	if c := aux.Info(zx.DefaultVMORights).CommittedBytes; c != 0 {
		t.Fatalf("aux still commits %d bytes after supply", c)
	}
	f.noPacket()
}
