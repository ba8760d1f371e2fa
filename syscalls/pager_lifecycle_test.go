package syscalls

import (
	"testing"
	"time"

	"github.com/pagerd/pagerd/zx"
)

// Lifecycle of pager objects through handles (spec §3.3): closing the port
// handle, the pager handle and the VMO handle.

func plMust(t *testing.T, what string, st zx.Status) {
	t.Helper()
	if st != zx.ErrOk {
		t.Fatalf("%s: %v", what, st)
	}
}

func plSetup(t *testing.T, pages uint64) (pgr, prt, v zx.Handle) {
	t.Helper()
	var st zx.Status
	pgr, st = PagerCreate(0)
	plMust(t, "pager_create", st)
	prt, st = PortCreate(0)
	plMust(t, "port_create", st)
	v, st = PagerCreateVmo(pgr, 0, prt, 9, pages*zx.PageSize)
	plMust(t, "create_vmo", st)
	return
}

func plRead(v zx.Handle, off uint64) chan zx.Status {
	c := make(chan zx.Status, 1)
	go func() { c <- VmoRead(v, make([]byte, 8), off) }()
	return c
}

func plResult(t *testing.T, c chan zx.Status) zx.Status {
	t.Helper()
	select {
	case st := <-c:
		return st
	case <-time.After(5 * time.Second):
		t.Fatal("blocked call did not return within 5s")
		return 0
	}
}

func plBlocked(t *testing.T, c chan zx.Status) {
	t.Helper()
	select {
	case st := <-c:
		t.Fatalf("call returned %v; it should block", st)
	case <-time.After(100 * time.Millisecond):
	}
}

func plSupply(t *testing.T, pgr, v zx.Handle, off uint64) {
	t.Helper()
	aux, st := VmoCreate(zx.PageSize, 0)
	plMust(t, "aux", st)
	defer HandleClose(aux)
	plMust(t, "aux write", VmoWrite(aux, []byte("supplied"), 0))
	plMust(t, "supply", PagerSupplyPages(pgr, v, off, zx.PageSize, aux, 0))
}

// Closing the port's only handle breaks nothing: requests are never seen,
// supply still works, and detach still releases blocked readers (ClosePortTest).
func TestPagerLifecyclePortClosed(t *testing.T) {
	pgr, prt, v := plSetup(t, 2)
	defer HandleClose(pgr)
	defer HandleClose(v)
	plMust(t, "close port", HandleClose(prt))
	r := plRead(v, 0)
	plBlocked(t, r)
	plSupply(t, pgr, v, 0)
	plMust(t, "read after supply", plResult(t, r))
	r = plRead(v, zx.PageSize)
	plBlocked(t, r)
	plMust(t, "detach", PagerDetachVmo(pgr, v))
	if st := plResult(t, r); st != zx.ErrBadState {
		t.Fatalf("read after detach: %v, want BAD_STATE", st)
	}
}

// Closing the pager's last handle releases blocked readers with BAD_STATE,
// sends no COMPLETE, and leaves resident pages readable (ClosePagerTest).
func TestPagerLifecyclePagerClosed(t *testing.T) {
	pgr, prt, v := plSetup(t, 2)
	defer HandleClose(prt)
	defer HandleClose(v)
	plSupply(t, pgr, v, 0)
	r := plRead(v, zx.PageSize)
	var pkt zx.PortPacket
	plMust(t, "READ packet", PortWait(prt, zx.DeadlineAfter(zx.Duration(5*time.Second)), &pkt))
	plMust(t, "close pager", HandleClose(pgr))
	if st := plResult(t, r); st != zx.ErrBadState {
		t.Fatalf("blocked read after pager close: %v", st)
	}
	if st := PortWait(prt, zx.DeadlineAfter(zx.Duration(100*time.Millisecond)), &pkt); st != zx.ErrTimedOut {
		t.Fatalf("a packet after pager close: %v %+v", st, pkt.PageRequest())
	}
	buf := make([]byte, 8)
	plMust(t, "resident read", VmoRead(v, buf, 0))
	if string(buf) != "supplied" {
		t.Fatalf("resident page reads %q", buf)
	}
}

// Closing the VMO's last handle destroys it once its mappings are gone, and
// the pager gets one COMPLETE packet with the VMO's key (ClosePageCompleteTest).
func TestPagerLifecycleVMOClosed(t *testing.T) {
	pgr, prt, v := plSetup(t, 1)
	defer HandleClose(pgr)
	defer HandleClose(prt)
	addr, st := VmarMap(VmarRootSelf(), zx.VMPermRead, 0, v, 0, zx.PageSize)
	plMust(t, "map", st)
	plMust(t, "close vmo", HandleClose(v))
	var pkt zx.PortPacket
	if st := PortWait(prt, zx.DeadlineAfter(zx.Duration(100*time.Millisecond)), &pkt); st != zx.ErrTimedOut {
		t.Fatalf("COMPLETE while a mapping keeps the VMO alive: %v", st)
	}
	plMust(t, "unmap", VmarUnmap(VmarRootSelf(), addr, zx.PageSize))
	plMust(t, "COMPLETE", PortWait(prt, zx.DeadlineAfter(zx.Duration(5*time.Second)), &pkt))
	if req := pkt.PageRequest(); pkt.Key != 9 || pkt.Type != zx.PktTypePageRequest || req.Command != zx.PagerVMOComplete {
		t.Fatalf("packet key %d type %d command %d, want COMPLETE for key 9", pkt.Key, pkt.Type, req.Command)
	}
	if st := PortWait(prt, zx.DeadlineAfter(zx.Duration(100*time.Millisecond)), &pkt); st != zx.ErrTimedOut {
		t.Fatalf("a second packet: %v", st)
	}
}
