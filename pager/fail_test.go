package pager

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/zx"
)

// OP_FAIL's status reaches a blocked zx_vmo_read verbatim (FailErrorCode).
func TestFailReachesVmoRead(t *testing.T) {
	for _, st := range []zx.Status{zx.ErrIO, zx.ErrIODataIntegrity, zx.ErrBadState, zx.ErrNoSpace, zx.ErrBufferTooSmall} {
		f := newFixture(t, 2, 0)
		res := async(func() error { return f.v.Read(make([]byte, ps), 0) })
		f.wantRequest(zx.PagerVMORead, 0, ps)
		if err := f.p.Fail(f.v, 0, ps, st); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, result(t, res), st)
	}
}

// A thread blocked in a mapped fault on a failed page dies loudly: SIGBUS at
// that page, never zeros (FailSinglePage).
func TestFailKillsMappedAccessWithSigbus(t *testing.T) {
	f := newFixture(t, 2, 0)
	acc := thread(t).Read(f.addr+ps+16, 8)
	f.wantRequest(zx.PagerVMORead, ps, ps)
	if err := f.p.Fail(f.v, ps, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	r := done(t, acc)
	if !r.Sigbus || r.Addr&^(uintptr(ps)-1) != f.addr+ps {
		t.Fatalf("result %+v: want SIGBUS at page %#x", r, f.addr+ps)
	}
}

// Failure is not sticky: a later access requests the page again, and a
// supply then serves it (SupplyAfterFail), mapped and through zx_vmo_read.
func TestFailIsNotSticky(t *testing.T) {
	f := newFixture(t, 1, 0)
	th := thread(t)
	acc := th.Read(f.addr, 8)
	f.wantRequest(zx.PagerVMORead, 0, ps)
	if err := f.p.Fail(f.v, 0, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	if !done(t, acc).Sigbus {
		t.Fatal("no SIGBUS")
	}
	pv, _ := f.p.owned(f.v)
	waitFor(t, func() bool { pv.mu.Lock(); defer pv.mu.Unlock(); return len(pv.poisoned) == 0 })
	acc = th.Read(f.addr, 8)
	f.wantRequest(zx.PagerVMORead, 0, ps)
	f.supply(0, ps, 2)
	r := done(t, acc)
	if r.Sigbus {
		t.Fatal("SIGBUS after the page was supplied")
	}
	wantBytes(t, r.Data, pattern(0, 2)[:8], "after fail")
	// Failing again with nothing outstanding is a no-op (FailRedundant).
	if err := f.p.Fail(f.v, 0, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
}

// Supplying a page that a failed mapped access had poisoned clears the
// poison: the page reads its data through the mapping at once.
func TestSupplyAfterFailClearsPoisonAtOnce(t *testing.T) {
	f := newFixture(t, 1, 0)
	th := thread(t)
	acc := th.Read(f.addr, 8)
	f.wantRequest(zx.PagerVMORead, 0, ps)
	if err := f.p.Fail(f.v, 0, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	done(t, acc)
	f.supply(0, ps, 4)
	r := done(t, th.Read(f.addr, 8))
	if r.Sigbus {
		t.Fatal("SIGBUS on a supplied page")
	}
	wantBytes(t, r.Data, pattern(0, 4)[:8], "supplied after fail")
}

// Failing a range that does not cover a request's next page fails only the
// waiters that need a page there; the request completes when the rest is
// supplied and its waiter asks again for the failed page (FailOverlapRequest).
func TestFailRuleNextPage(t *testing.T) {
	f := newFixture(t, 4, 0)
	buf := make([]byte, 4*ps)
	res := async(func() error { return f.v.Read(buf, 0) })
	f.wantRequest(zx.PagerVMORead, 0, 4*ps)
	if err := f.p.Fail(f.v, 2*ps, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	pending(t, res)
	f.supply(0, 2*ps, 1)
	f.supply(3*ps, ps, 1)
	f.wantRequest(zx.PagerVMORead, 2*ps, ps) // the failed page, asked again
	f.supply(2*ps, ps, 1)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, buf, patterns(0, 4*ps, 1), "read")

	// Failing exactly the next page after an early wake fails the request (FailEarlyWake).
	g := newFixture(t, 4, 0)
	res = async(func() error { return g.v.Read(make([]byte, 4*ps), 0) })
	g.wantRequest(zx.PagerVMORead, 0, 4*ps)
	g.supply(0, ps, 1)
	if err := g.p.Fail(g.v, ps, ps, zx.ErrIODataIntegrity); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, result(t, res), zx.ErrIODataIntegrity)
}

func TestFailErrors(t *testing.T) {
	f := newFixture(t, 2, 0)
	wantStatus(t, f.p.Fail(f.v, ps, 2*ps, zx.ErrIO), zx.ErrOutOfRange)
	g := newFixture(t, 1, 0)
	wantStatus(t, f.p.Fail(g.v, 0, ps, zx.ErrIO), zx.ErrInvalidArgs)
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.p.Fail(f.v, 0, ps, zx.ErrIO), zx.ErrBadState)
}

// ---- detach, destruction, pager close, port close (spec §3.3) ----

func TestDetachFailsWaitersAndKeepsDirty(t *testing.T) {
	f := newFixture(t, 4, 0)
	f.supply(0, 2*ps, 1)
	if err := f.v.Write([]byte("dirty"), ps); err != nil { // page 1 becomes dirty
		t.Fatal(err)
	}
	acc := thread(t).Read(f.addr+3*ps, 8)
	f.wantRequest(zx.PagerVMORead, 3*ps, ps)
	res := async(func() error { return f.v.Read(make([]byte, ps), 2*ps) })
	f.wantRequest(zx.PagerVMORead, 2*ps, ps)
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, result(t, res), zx.ErrBadState)
	if r := done(t, acc); !r.Sigbus {
		t.Fatalf("mapped waiter after detach: %+v, want SIGBUS", r)
	}
	f.wantRequest(zx.PagerVMOComplete, 0, 0)
	f.noPacket()
	// Clean page 0 is gone; dirty page 1 stays readable, mapped and by zx_vmo_read.
	if c := f.v.Info(zx.DefaultVMORights).CommittedBytes; c != ps {
		t.Fatalf("committed %d after detach, want one dirty page", c)
	}
	got := make([]byte, 5)
	if err := f.v.Read(got, ps); err != nil || string(got) != "dirty" {
		t.Fatalf("dirty page after detach: %q %v", got, err)
	}
	if r := done(t, thread(t).Read(f.addr+ps, 5)); r.Sigbus || string(r.Data) != "dirty" {
		t.Fatalf("mapped dirty page after detach: %+v", r)
	}
	wantStatus(t, f.v.Read(got, 0), zx.ErrBadState)
	if r := done(t, thread(t).Read(f.addr, 1)); !r.Sigbus {
		t.Fatal("a later mapped access to a dropped page did not SIGBUS")
	}
	// Idempotent; supply and fail refused.
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.trySupply(0, ps, 1), zx.ErrBadState)
	f.noPacket()
}

// Destroying the VMO (last handle and mapping gone) sends COMPLETE (ClosePageCompleteTest).
func TestDestroyedVMOSendsComplete(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	prt := port.New()
	v, err := p.CreateVMO(0, prt, 42, ps)
	if err != nil {
		t.Fatal(err)
	}
	v.OnZeroHandles()
	pkt, err := prt.Wait(zx.DeadlineAfter(zx.Duration(deadline)), nil)
	if err != nil || pkt.Key != 42 || pkt.PageRequest().Command != zx.PagerVMOComplete {
		t.Fatalf("packet %+v, %v: want COMPLETE", pkt, err)
	}
}

// Closing the pager releases blocked threads with BAD_STATE (SIGBUS when
// mapped), sends no COMPLETE, and leaves resident pages readable (ClosePagerTest).
func TestPagerClose(t *testing.T) {
	f := newFixture(t, 4, 0)
	f.supply(0, ps, 3)
	acc := thread(t).Read(f.addr+2*ps, 8)
	f.wantRequest(zx.PagerVMORead, 2*ps, ps)
	res := async(func() error { return f.v.Read(make([]byte, ps), 3*ps) })
	f.wantRequest(zx.PagerVMORead, 3*ps, ps)
	f.p.Close()
	wantStatus(t, result(t, res), zx.ErrBadState)
	if !done(t, acc).Sigbus {
		t.Fatal("mapped waiter survived pager close")
	}
	f.noPacket()
	got := make([]byte, ps)
	if err := f.v.Read(got, 0); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got, pattern(0, 3), "resident page after close")
	if r := done(t, thread(t).Read(f.addr, 8)); r.Sigbus {
		t.Fatal("resident page not readable through the mapping after close")
	}
	if _, err := f.p.CreateVMO(0, f.port, 1, ps); zx.StatusOf(err) != zx.ErrBadState {
		t.Fatalf("create on a closed pager: %v", err)
	}
}

// Closing the port breaks nothing: requests go unseen, supply still works
// (ClosePortTest), and detach still releases waiters.
func TestPortGoneIsHarmless(t *testing.T) {
	f := newFixture(t, 2, 0)
	f.port = nil // nobody reads this port any more
	res := async(func() error { return f.v.Read(make([]byte, ps), 0) })
	pending(t, res)
	f.supply(0, ps, 1)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	res = async(func() error { return f.v.Read(make([]byte, ps), ps) })
	pending(t, res)
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, result(t, res), zx.ErrBadState)
}

// A failed mapped access fails alone (spec §3.4, not sticky): the same
// thread's next access at once, and another thread's access meanwhile,
// fault into a new READ request instead of taking a SIGBUS of their own.
// The failed thread, blocked in a user-mode fault, is sent its SIGBUS
// directly; no poison marker is left in the mapping.
func TestFailedMappedAccessFailsAlone(t *testing.T) {
	f := newFixture(t, 1, 0)
	pv, _ := f.p.owned(f.v)
	th, other := thread(t), thread(t)
	for round := 0; round < 5; round++ {
		acc := th.Read(f.addr+8, 8)
		f.wantRequest(zx.PagerVMORead, 0, ps)
		if err := f.p.Fail(f.v, 0, ps, zx.ErrIO); err != nil {
			t.Fatal(err)
		}
		if r := done(t, acc); !r.Sigbus || r.Addr&^(uintptr(ps)-1) != f.addr {
			t.Fatalf("round %d: failed access: %+v, want SIGBUS at %#x", round, r, f.addr)
		}
		pv.mu.Lock()
		n := len(pv.poisoned)
		pv.mu.Unlock()
		if n != 0 {
			t.Fatalf("round %d: %d poison markers left for a user-mode fault", round, n)
		}
		again, meanwhile := th.Read(f.addr, 8), other.Read(f.addr, 8)
		f.wantRequest(zx.PagerVMORead, 0, ps)
		blocked(t, again)
		blocked(t, meanwhile)
		f.supply(0, ps, byte(round))
		for _, a := range []*faulter.Pending{again, meanwhile} {
			r := done(t, a)
			if r.Faulted() {
				t.Fatalf("round %d: access after the failed one: %+v", round, r)
			}
			wantBytes(t, r.Data, pattern(0, byte(round))[:8], "after the failure")
		}
		if err := f.p.Detach(f.v); err != nil {
			t.Fatal(err)
		}
		f = newFixture(t, 1, 0)
		pv, _ = f.p.owned(f.v)
	}
}

// After a detach, a TRAP_DIRTY write to a kept dirty page needs a DIRTY
// request and fails (SIGBUS), but only that write: the page stays readable
// through the mapping, as through zx_vmo_read (spec §3.3).
func TestFailedWriteAfterDetachLeavesPageReadable(t *testing.T) {
	f := newFixture(t, 1, zx.VMOTrapDirty)
	f.supply(0, ps, 5)
	res := async(func() error { return f.v.Write([]byte("dirty"), 0) })
	f.wantRequest(zx.PagerVMODirty, 0, ps)
	if err := f.p.OpDirty(f.v, 0, ps); err != nil {
		t.Fatal(err)
	}
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	if err := f.p.WritebackBegin(f.v, 0, ps, false); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	want := append([]byte("dirty"), pattern(0, 5)[5:16]...)
	th := thread(t)
	if r := done(t, th.Write(f.addr, []byte{1})); !r.Sigbus {
		t.Fatalf("write to an AwaitingClean page after detach: %+v, want SIGBUS", r)
	}
	for i := 0; i < 3; i++ {
		r := done(t, th.Read(f.addr, 16))
		if r.Faulted() {
			t.Fatalf("read %d after the failed write: %+v", i, r)
		}
		wantBytes(t, r.Data, want, "read after the failed write")
	}
}

// A fault taken inside a system call (MADV_POPULATE_READ from Go) is failed
// with a temporary poison marker instead (the call fails with EFAULT; a
// signal would hit the caller after the call): the marker goes once the
// thread has run, and the next call asks for the page again.
func TestFailedKernelModeFaultIsNotSticky(t *testing.T) {
	f := newFixture(t, 1, 0)
	pv, _ := f.p.owned(f.v)
	res := async(func() error { return populate(f.addr, ps) })
	f.wantRequest(zx.PagerVMORead, 0, ps)
	if err := f.p.Fail(f.v, 0, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	if err := result(t, res); err == nil {
		t.Fatal("populate of a failed page succeeded")
	}
	waitFor(t, func() bool { pv.mu.Lock(); defer pv.mu.Unlock(); return len(pv.poisoned) == 0 })
	res = async(func() error { return populate(f.addr, ps) })
	f.wantRequest(zx.PagerVMORead, 0, ps)
	f.supply(0, ps, 3)
	if err := result(t, res); err != nil {
		t.Fatalf("populate after the failure: %v", err)
	}
}

// The Go runtime's SIGBUS handler is recognised as its SIGURG handler; the
// faulter's replaces it.
func TestSigbusHandlerDetection(t *testing.T) {
	if err := faulter.Install(); err != nil {
		t.Fatal(err)
	}
	urg, ok := signalHandler(unix.SIGURG)
	if !ok || urg <= 1 {
		t.Fatalf("SIGURG handler %#x %v: the Go runtime's handler should be installed", urg, ok)
	}
	if bus, ok := signalHandler(unix.SIGBUS); !ok || bus == urg || bus <= 1 {
		t.Fatalf("SIGBUS handler %#x %v: the faulter's handler should be installed, not the runtime's (%#x)", bus, ok, urg)
	}
}

// A FAIL of a request's first page fails its primary waiter, but overlap
// waiters that need a later page go on (spec §3.4): they ask again (one new
// READ) and get the page when it is supplied.
func TestFailOfFirstPageSparesOverlapWaiters(t *testing.T) {
	f := newFixture(t, 2, 0)
	first := async(func() error { return f.v.Read(make([]byte, 2*ps), 0) })
	f.wantRequest(zx.PagerVMORead, 0, 2*ps)
	pv, _ := f.p.owned(f.v)
	waiters := func() int {
		pv.mu.Lock()
		defer pv.mu.Unlock()
		n := 0
		for _, r := range pv.tracker.reqs[kindRead] {
			n += len(r.waiters) + len(r.mapped)
		}
		return n
	}
	mapped := thread(t).Read(f.addr+ps, 8)
	second := async(func() error { return f.v.Read(make([]byte, ps), ps) })
	waitFor(t, func() bool { return waiters() == 3 })
	if err := f.p.Fail(f.v, 0, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, result(t, first), zx.ErrIO)
	f.wantRequest(zx.PagerVMORead, ps, ps)
	blocked(t, mapped)
	pending(t, second)
	f.supply(ps, ps, 7)
	if err := result(t, second); err != nil {
		t.Fatal(err)
	}
	if r := done(t, mapped); r.Faulted() {
		t.Fatalf("mapped read of page 1: %+v", r)
	}
}
