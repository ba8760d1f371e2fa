package pager

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// populate faults [addr, addr+n) in from Go the safe way: inside an madvise
// syscall, so the goroutine is in a syscall (no P held) while it waits.
func populate(addr uintptr, n uint64) error {
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(n), unix.MADV_POPULATE_READ)
	if errno != 0 {
		return errno
	}
	return nil
}

// Go code may fault pager pages in with MADV_POPULATE_READ: each absent page
// posts a READ, the call returns once all are supplied, and a failed page
// makes it return an error instead of hanging or reading zeros.
func TestPopulateFromGo(t *testing.T) {
	f := newFixture(t, 2, 0)
	res := async(func() error { return populate(f.addr, 2*ps) })
	f.wantRequest(zx.PagerVMORead, 0, ps)
	f.supply(0, ps, 1)
	f.wantRequest(zx.PagerVMORead, ps, ps)
	pending(t, res)
	f.supply(ps, ps, 1)
	if err := result(t, res); err != nil {
		t.Fatalf("populate: %v", err)
	}
	g := newFixture(t, 1, 0)
	res = async(func() error { return populate(g.addr, ps) })
	g.wantRequest(zx.PagerVMORead, 0, ps)
	if err := g.p.Fail(g.v, 0, ps, zx.ErrIO); err != nil {
		t.Fatal(err)
	}
	if err := result(t, res); err == nil {
		t.Fatal("populate of a failed page succeeded")
	}
}

// Detach followed by destruction sends exactly one COMPLETE.
func TestDetachThenDestroyOneComplete(t *testing.T) {
	f := newFixture(t, 1, 0)
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	if err := vmo.Root().Unmap(f.addr, f.size); err != nil {
		t.Fatal(err)
	}
	f.v.OnZeroHandles()
	f.wantRequest(zx.PagerVMOComplete, 0, 0)
	f.noPacket()
}

// Unmapping the range under a blocked faulter releases it: it retries
// against whatever is mapped there now (VmarUnmapTest, VmarRemapTest), here a
// PROT_NONE placeholder that keeps the address from being reused, so it
// faults. It neither hangs nor reads pager data.
func TestUnmapUnderBlockedFault(t *testing.T) {
	f := newFixture(t, 2, 0)
	addr, err := vmo.Root().Map(zx.VMPermRead, 0, f.v, 0, f.size)
	if err != nil {
		t.Fatal(err)
	}
	acc := thread(t).Read(addr+ps, 8)
	f.wantRequest(zx.PagerVMORead, ps, ps)
	if err := vmo.Root().Unmap(addr, f.size); err != nil {
		t.Fatal(err)
	}
	hold, _, errno := unix.Syscall6(unix.SYS_MMAP, addr, uintptr(f.size), unix.PROT_NONE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uintptr(0), 0)
	if errno == 0 {
		defer unix.Syscall(unix.SYS_MUNMAP, hold, uintptr(f.size), 0)
	}
	r := done(t, acc)
	if errno == 0 && hold == addr && !r.Sigsegv {
		t.Fatalf("access through an unmapped range: %+v, want SIGSEGV", r)
	}
	if r.Done != 0 {
		t.Fatalf("the access read %d bytes after its mapping was removed", r.Done)
	}
	f.noPacket()
}
