package faulter

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Deadline for things that are expected to happen promptly. Generous: the
// machine is small and shared.
const long = 10 * time.Second

var ps = int(PageSize())

// scratch is ordinary memory for accesses that must just work. Faulter
// threads are given raw addresses, so never point them at Go memory that can
// move (a Go stack: even make([]byte, n) may live there) — use mmap'd memory.
var scratch = func() []byte {
	m, err := unix.Mmap(-1, 0, ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		panic(err)
	}
	return m
}()

func startThread(t *testing.T) *Thread {
	t.Helper()
	th, err := Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(th.Close)
	if th.Tid() <= 0 {
		t.Fatalf("Tid() = %d", th.Tid())
	}
	return th
}

func mustWait(t *testing.T, p *Pending) Result {
	t.Helper()
	r, err := p.Wait(long)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return r
}

func mustOK(t *testing.T, p *Pending) Result {
	t.Helper()
	r := mustWait(t, p)
	if r.Faulted() {
		t.Fatalf("unexpected fault: %+v", r)
	}
	return r
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// checkMemoryOps exercises Read, Write and Touch on mem, which Go may also
// access directly (ordinary memory).
func checkMemoryOps(t *testing.T, th *Thread, mem []byte, readBack func(off, n int) []byte) {
	base := addrOf(mem)
	copy(mem, pattern(len(mem), 1))

	// Read across page boundaries, unaligned.
	off, n := 100, 2*ps+333
	r := mustOK(t, th.Read(base+uintptr(off), n))
	if r.Op != OpRead || r.Done != uintptr(n) || !bytes.Equal(r.Data, mem[off:off+n]) {
		t.Fatalf("Read: op %v done %d, data equal %v", r.Op, r.Done, bytes.Equal(r.Data, mem[off:off+n]))
	}
	if r.Elapsed <= 0 || r.Elapsed > long {
		t.Fatalf("Read: Elapsed %v", r.Elapsed)
	}
	// Zero-length read.
	if r := mustOK(t, th.Read(base, 0)); r.Done != 0 || len(r.Data) != 0 {
		t.Fatalf("empty Read: %+v", r)
	}

	// Write across page boundaries, unaligned.
	data := pattern(ps+17, 99)
	off = ps - 5
	r = mustOK(t, th.Write(base+uintptr(off), data))
	if r.Op != OpWrite || r.Done != uintptr(len(data)) || r.Data != nil {
		t.Fatalf("Write: %+v", r)
	}
	if got := readBack(off, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("Write: memory does not hold the written bytes")
	}

	// Touch-write one byte per page (stride 0 = page size), then read.
	pages := len(mem) / ps
	r = mustOK(t, th.Touch(base, uintptr(len(mem)), 0, true, 0x5A))
	if r.Op != OpTouchWrite || r.Done != uintptr(pages) {
		t.Fatalf("TouchWrite: %+v, want Done %d", r, pages)
	}
	for i := 0; i < pages; i++ {
		if got := readBack(i*ps, 1)[0]; got != 0x5A {
			t.Fatalf("page %d first byte %#x after TouchWrite", i, got)
		}
		if got := readBack(i*ps+1, 1)[0]; got == 0x5A && mem[i*ps+1] != 0x5A {
			t.Fatalf("TouchWrite touched more than one byte")
		}
	}
	// Odd stride: touches at 0, 3, ..., < 10 → 4 touches.
	r = mustOK(t, th.Touch(base, 10, 3, true, 0xC3))
	if r.Done != 4 {
		t.Fatalf("TouchWrite stride 3 over 10: Done %d, want 4", r.Done)
	}
	for i := 0; i < 12; i++ {
		want := i%3 == 0 && i < 10
		if got := readBack(i, 1)[0] == 0xC3; got != want {
			t.Fatalf("byte %d: touched=%v want %v", i, got, want)
		}
	}
	r = mustOK(t, th.Touch(base, uintptr(len(mem)), uintptr(ps), false, 0))
	if r.Op != OpTouchRead || r.Done != uintptr(pages) {
		t.Fatalf("TouchRead: %+v", r)
	}
	if r := mustOK(t, th.Touch(base, 0, 0, false, 0)); r.Done != 0 {
		t.Fatalf("empty Touch: %+v", r)
	}
}

func TestOpsAnonymous(t *testing.T) {
	th := startThread(t)
	mem := mmapAnon(t, 4*ps)
	checkMemoryOps(t, th, mem, func(off, n int) []byte { return mem[off : off+n] })
}

func TestOpsMemfdShared(t *testing.T) {
	th := startThread(t)
	f := memfd(t, 4*ps)
	mem := mmapShared(t, f, 4*ps)
	// Read back through the file, not the mapping: proves MAP_SHARED.
	checkMemoryOps(t, th, mem, func(off, n int) []byte {
		b := make([]byte, n)
		if _, err := f.ReadAt(b, int64(off)); err != nil {
			t.Fatalf("pread: %v", err)
		}
		return b
	})
}

func TestGoMemoryRead(t *testing.T) {
	// Reading Go memory from the faulter is fine as long as it stays alive.
	b := pattern(5000, 3)
	r, err := ReadAt(addrOf(b), len(b), long)
	runtime.KeepAlive(b)
	if err != nil || r.Faulted() || !bytes.Equal(r.Data, b) {
		t.Fatalf("ReadAt: %v %+v", err, r.Faulted())
	}
}

// truncatedMapping maps 2 pages of a 1-page memfd: the 2nd page is beyond
// EOF, so touching it raises SIGBUS (BUS_ADRERR).
func truncatedMapping(t *testing.T) (f []byte, base uintptr) {
	mf := memfd(t, ps)
	m := mmapShared(t, mf, 2*ps)
	copy(m[:ps], pattern(ps, 5))
	return m, addrOf(m)
}

func TestSigbusCaught(t *testing.T) {
	th := startThread(t)
	m, base := truncatedMapping(t)
	page2 := base + uintptr(ps)

	r := mustWait(t, th.Touch(page2, 1, 0, false, 0))
	if !r.Sigbus || r.Sigsegv || r.Signo != int32(syscall.SIGBUS) || r.Addr != page2 || r.Done != 0 {
		t.Fatalf("Touch beyond EOF: %+v, want Sigbus at %#x", r, page2)
	}
	if r.Code != BUS_ADRERR {
		t.Errorf("si_code = %d, want BUS_ADRERR", r.Code)
	}
	t.Logf("SIGBUS beyond EOF: addr=%#x code=%d errno=%d elapsed=%v", r.Addr, r.Code, r.Errno, r.Elapsed)

	// The thread is still usable.
	r = mustOK(t, th.Read(base, ps))
	if !bytes.Equal(r.Data, m[:ps]) {
		t.Fatalf("Read after SIGBUS returned wrong bytes")
	}

	// Partial read: 10 bytes before the boundary succeed.
	r = mustWait(t, th.Read(page2-10, 20))
	if !r.Sigbus || r.Addr != page2 || r.Done != 10 || !bytes.Equal(r.Data, m[ps-10:ps]) {
		t.Fatalf("Read across EOF: %+v", r)
	}
	// Partial write.
	r = mustWait(t, th.Write(page2-3, []byte{1, 2, 3, 4, 5}))
	if !r.Sigbus || r.Addr != page2 || r.Done != 3 || !bytes.Equal(m[ps-3:ps], []byte{1, 2, 3}) {
		t.Fatalf("Write across EOF: %+v", r)
	}
	// Touch-write over both pages: the first touch works.
	r = mustWait(t, th.Touch(base, uintptr(2*ps), 0, true, 7))
	if !r.Sigbus || r.Addr != page2 || r.Done != 1 || m[0] != 7 {
		t.Fatalf("Touch across EOF: %+v", r)
	}
	// Many in a row: the signal mask is restored each time.
	for i := 0; i < 100; i++ {
		if r := mustWait(t, th.Touch(page2, 1, 0, i%2 == 0, 1)); !r.Sigbus || r.Addr != page2 {
			t.Fatalf("iteration %d: %+v", i, r)
		}
	}
	mustOK(t, th.Touch(base, 1, 0, false, 0))
}

func TestSigsegvCaught(t *testing.T) {
	th := startThread(t)
	m, err := unix.Mmap(-1, 0, 2*ps, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	base := addrOf(m)
	r := mustWait(t, th.Read(base+5, 10))
	if !r.Sigsegv || r.Sigbus || r.Addr != base+5 || r.Code != SEGV_ACCERR || r.Done != 0 {
		t.Fatalf("Read of PROT_NONE: %+v", r)
	}
	if err := unix.Mprotect(m[:ps], unix.PROT_READ|unix.PROT_WRITE); err != nil {
		t.Fatal(err)
	}
	r = mustWait(t, th.Write(base+uintptr(ps)-1, []byte{9, 9}))
	if !r.Sigsegv || r.Addr != base+uintptr(ps) || r.Done != 1 || m[ps-1] != 9 {
		t.Fatalf("Write into PROT_NONE: %+v", r)
	}
	mustOK(t, th.Touch(base, 1, 0, true, 1))
}

// blockedRead sets up a uffd-registered anonymous mapping of npages and
// returns its base.
func uffdMapping(t *testing.T, u *testUffd, npages int) uintptr {
	mem := mmapAnon(t, npages*ps) // never touched from Go
	base := addrOf(mem)
	u.register(t, base, uintptr(npages*ps))
	return base
}

// expectBlocked checks that p does not complete within d, and that Wait
// honoured its timeout.
func expectBlocked(t *testing.T, p *Pending, d time.Duration) {
	t.Helper()
	start := time.Now()
	r, err := p.Wait(d)
	el := time.Since(start)
	if err != ErrTimeout {
		t.Fatalf("Wait(%v) = %+v, %v; want ErrTimeout (access should be blocked)", d, r, err)
	}
	if el < d {
		t.Fatalf("Wait(%v) returned after only %v", d, el)
	}
	if el > d+2*time.Second {
		t.Fatalf("Wait(%v) returned after %v", d, el)
	}
	if p.Done() {
		t.Fatalf("Done() true for a blocked access")
	}
}

func TestUffdBlockedRead(t *testing.T) {
	u := newTestUffd(t, uffdFeatureThreadID)
	base := uffdMapping(t, u, 4)
	th := startThread(t)

	p := th.Read(base+100, 200)
	m := u.next(t, long)
	if m.Address != uint64(base) || m.Flags&uffdPFFlagWrite != 0 {
		t.Fatalf("fault msg %+v, want read fault at %#x", m, base)
	}
	if int(m.Ptid) != th.Tid() {
		t.Fatalf("uffd ptid %d != Tid() %d", m.Ptid, th.Tid())
	}
	expectBlocked(t, p, 50*time.Millisecond)

	// A second command while blocked is refused.
	if _, err := th.Read(base, 1).Wait(0); err != ErrBusy {
		t.Fatalf("second command: %v, want ErrBusy", err)
	}

	page := pattern(ps, 42)
	if err := u.copy(base, page, 0); err != nil {
		t.Fatal(err)
	}
	r := mustOK(t, p)
	if !bytes.Equal(r.Data, page[100:300]) {
		t.Fatalf("blocked Read returned wrong bytes")
	}
	if r.Elapsed < 50*time.Millisecond {
		t.Fatalf("Elapsed %v should include the time blocked", r.Elapsed)
	}
	// Waiting again returns the same result.
	if r2, err := p.Wait(0); err != nil || !bytes.Equal(r2.Data, r.Data) {
		t.Fatalf("second Wait: %v", err)
	}

	// A write fault on another page is reported as such.
	p = th.Touch(base+uintptr(2*ps)+8, 1, 0, true, 0xEE)
	m = u.next(t, long)
	if m.Address != uint64(base)+uint64(2*ps) || m.Flags&uffdPFFlagWrite == 0 || int(m.Ptid) != th.Tid() {
		t.Fatalf("fault msg %+v, want write fault at page 2", m)
	}
	if err := u.copy(base+uintptr(2*ps), make([]byte, ps), 0); err != nil {
		t.Fatal(err)
	}
	mustOK(t, p)
	r = mustOK(t, th.Read(base+uintptr(2*ps), 16))
	if r.Data[8] != 0xEE || r.Data[7] != 0 {
		t.Fatalf("page 2 after touch-write: % x", r.Data)
	}
}

func TestUffdPoison(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dontwake bool
	}{{"autowake", false}, {"dontwake+wake", true}} {
		t.Run(tc.name, func(t *testing.T) {
			u := newTestUffd(t, uffdFeatureThreadID|uffdFeaturePoison)
			base := uffdMapping(t, u, 2)
			th := startThread(t)
			page := base + uintptr(ps)

			p := th.Read(page+64, 8)
			m := u.next(t, long)
			if m.Address != uint64(page) || int(m.Ptid) != th.Tid() {
				t.Fatalf("fault msg %+v", m)
			}
			expectBlocked(t, p, 20*time.Millisecond)
			mode := uint64(0)
			if tc.dontwake {
				mode = uffdPoisonDontwake
			}
			if err := u.poison(page, uintptr(ps), mode); err != nil {
				t.Fatal(err)
			}
			if tc.dontwake {
				expectBlocked(t, p, 20*time.Millisecond)
				if err := u.wake(page, uintptr(ps)); err != nil {
					t.Fatal(err)
				}
			}
			r := mustWait(t, p)
			// The retried access hits the poison marker: SIGBUS
			// at the accessed address (the fault address, here
			// page+64, since the access started there).
			if !r.Sigbus || r.Addr != page+64 || r.Done != 0 {
				t.Fatalf("poisoned read: %+v, want SIGBUS at %#x", r, page+64)
			}
			// BUS_MCEERR_AR with CONFIG_MEMORY_FAILURE; without
			// it, x86 do_sigbus() reports a plain BUS_ADRERR.
			if r.Code != BUS_MCEERR_AR && r.Code != BUS_ADRERR {
				t.Errorf("si_code = %d, want BUS_MCEERR_AR or BUS_ADRERR", r.Code)
			}
			t.Logf("poison SIGBUS: addr=%#x code=%d errno=%d", r.Addr, r.Code, r.Errno)

			// Every later access of that page SIGBUSes at once,
			// with no new uffd message; the thread is fine.
			r = mustWait(t, th.Touch(page, 1, 0, true, 1))
			if !r.Sigbus || r.Addr != page {
				t.Fatalf("second access of poisoned page: %+v", r)
			}
			p = th.Read(base, 4)
			m = u.next(t, long)
			if m.Address != uint64(base) {
				t.Fatalf("fault msg %+v, want page 0", m)
			}
			if err := u.copy(base, pattern(ps, 1), 0); err != nil {
				t.Fatal(err)
			}
			if r := mustOK(t, p); !bytes.Equal(r.Data, pattern(ps, 1)[:4]) {
				t.Fatalf("read after poison: % x", r.Data)
			}
			select {
			case m := <-u.msgs:
				t.Fatalf("unexpected uffd message %+v", m)
			default:
			}
		})
	}
}

func TestGCWhileBlocked(t *testing.T) {
	u := newTestUffd(t, 0)
	base := uffdMapping(t, u, 1)
	th := startThread(t)
	p := th.Touch(base, 1, 0, false, 0)
	u.next(t, long)
	expectBlocked(t, p, 10*time.Millisecond)

	gcDone := make(chan struct{})
	go func() {
		for i := 0; i < 3; i++ {
			runtime.GC()
		}
		debug.FreeOSMemory()
		close(gcDone)
	}()
	select {
	case <-gcDone:
	case <-time.After(long):
		t.Fatal("runtime.GC did not complete while a faulter thread was blocked in a uffd fault")
	}
	if p.Done() {
		t.Fatal("access completed without the page being supplied")
	}
	if err := u.copy(base, pattern(ps, 0), 0); err != nil {
		t.Fatal(err)
	}
	mustOK(t, p)
}

func TestCloseWhileBlocked(t *testing.T) {
	u := newTestUffd(t, 0)
	base := uffdMapping(t, u, 1)
	th, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	p := th.Read(base, 8)
	u.next(t, long)

	start := time.Now()
	th.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close of a blocked thread took %v", d)
	}
	if !th.Stuck() {
		t.Fatal("Stuck() false after closing a blocked thread")
	}
	th.Close() // idempotent
	if err := th.Read(base, 1).Err(); err != ErrClosed {
		t.Fatalf("command after Close: %v", err)
	}
	expectBlocked(t, p, 10*time.Millisecond)
	if err := u.copy(base, pattern(ps, 9), 0); err != nil {
		t.Fatal(err)
	}
	if r := mustOK(t, p); !bytes.Equal(r.Data, pattern(ps, 9)[:8]) {
		t.Fatalf("data % x", r.Data)
	}
	waitTaskGone(t, th.Tid()) // it exits by itself once unblocked
}

func taskExists(tid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid))
	return err == nil
}

func waitTaskGone(t *testing.T, tid int) {
	t.Helper()
	deadline := time.Now().Add(long)
	for taskExists(tid) {
		if time.Now().After(deadline) {
			t.Fatalf("thread %d still exists %v after Close", tid, long)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseIdle(t *testing.T) {
	for i := 0; i < 60; i++ {
		th, err := Start()
		if err != nil {
			t.Fatal(err)
		}
		tid := th.Tid()
		if !taskExists(tid) {
			t.Fatalf("no /proc/self/task/%d", tid)
		}
		p := th.Touch(addrOf(scratch), 1, 0, false, 0)
		switch i % 3 {
		case 0:
			mustOK(t, p) // collected before Close
		case 1:
			time.Sleep(2 * time.Millisecond) // most likely finished, uncollected
		case 2:
			// most likely still in flight
		}
		th.Close()
		if i%3 == 0 {
			if th.Stuck() {
				t.Fatal("idle thread reported stuck")
			}
		}
		if _, err := p.Wait(long); err != nil {
			t.Fatal(err)
		}
		// (pthread_join returns when the kernel clears the tid, a
		// little before the task disappears from /proc.)
		waitTaskGone(t, tid)
	}
}

func TestReadAtTimeout(t *testing.T) {
	u := newTestUffd(t, 0)
	base := uffdMapping(t, u, 1)
	start := time.Now()
	_, err := ReadAt(base, 1, 30*time.Millisecond)
	if err != ErrTimeout {
		t.Fatalf("ReadAt on a missing page: %v", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > 3*time.Second {
		t.Fatalf("ReadAt took %v", d)
	}
	// Resolve the fault so the abandoned thread exits.
	u.next(t, long)
	if err := u.copy(base, pattern(ps, 0), 0); err != nil {
		t.Fatal(err)
	}
	if r, err := ReadAt(base, 3, long); err != nil || !bytes.Equal(r.Data, pattern(3, 0)) {
		t.Fatalf("ReadAt: %v", err)
	}
	b := []byte{1, 2, 3}
	if r, err := WriteAt(base+1, b, long); err != nil || r.Faulted() || r.Done != 3 {
		t.Fatalf("WriteAt: %+v %v", r, err)
	}
	if r, err := TouchAt(base, 1, 0, false, 0, long); err != nil || r.Done != 1 {
		t.Fatalf("TouchAt: %+v %v", r, err)
	}
}

func TestConcurrentWaiters(t *testing.T) {
	u := newTestUffd(t, 0)
	base := uffdMapping(t, u, 1)
	th := startThread(t)
	p := th.Read(base, 16)
	u.next(t, long)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.Wait(long)
			if err == nil && !bytes.Equal(r.Data, pattern(16, 4)) {
				err = errors.New("wrong data")
			}
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := u.copy(base, pattern(ps, 4), 0); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestWaitTimeoutAccuracy(t *testing.T) {
	u := newTestUffd(t, 0)
	base := uffdMapping(t, u, 1)
	th := startThread(t)
	p := th.Touch(base, 1, 0, false, 0)
	u.next(t, long)
	for _, d := range []time.Duration{0, time.Millisecond, 25 * time.Millisecond, 100 * time.Millisecond} {
		start := time.Now()
		_, err := p.Wait(d)
		el := time.Since(start)
		if err != ErrTimeout || el < d || el > d+time.Second {
			t.Fatalf("Wait(%v): %v after %v", d, err, el)
		}
	}
	if err := u.copy(base, pattern(ps, 0), 0); err != nil {
		t.Fatal(err)
	}
	mustOK(t, p)
}

// 32 threads fault on the same missing page at once; each is reported to
// the uffd with its own tid, and one UFFDIO_COPY releases them all.
func TestGroupFaultOnePage(t *testing.T) {
	const n = 32
	u := newTestUffd(t, uffdFeatureThreadID)
	base := uffdMapping(t, u, 1)
	g, err := StartGroup(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	tids := map[int]bool{}
	for _, tid := range g.Tids() {
		tids[tid] = true
	}
	if len(tids) != n {
		t.Fatalf("%d distinct tids for %d threads", len(tids), n)
	}

	ps_ := g.Touch(base+8, 1, 0, false, 0)
	seen := map[int]bool{}
	for len(seen) < n {
		m := u.next(t, long)
		if m.Address != uint64(base) || !tids[int(m.Ptid)] || seen[int(m.Ptid)] {
			t.Fatalf("unexpected fault msg %+v", m)
		}
		seen[int(m.Ptid)] = true
	}
	if _, err := WaitAll(ps_, 20*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitAll while blocked: %v", err)
	}
	if err := u.copy(base, pattern(ps, 0), 0); err != nil {
		t.Fatal(err)
	}
	rs, err := WaitAll(ps_, long)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Faulted() || r.Done != 1 {
			t.Fatalf("thread %d: %+v", i, r)
		}
	}
	select {
	case m := <-u.msgs:
		t.Fatalf("extra uffd message %+v", m)
	default:
	}

	// Group.Read of the now present page.
	rs, err = WaitAll(g.Read(base+8, 8), long)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if !bytes.Equal(r.Data, pattern(ps, 0)[8:16]) {
			t.Fatalf("thread %d read % x", i, r.Data)
		}
	}
}

func TestGroupBusy(t *testing.T) {
	u := newTestUffd(t, 0)
	base := uffdMapping(t, u, 1)
	g, err := StartGroup(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	p0 := g.Threads[0].Touch(base, 1, 0, false, 0)
	u.next(t, long)
	mem := mmapAnon(t, ps)
	pp := g.Touch(addrOf(mem), 1, 0, true, 3)
	if pp[0].Err() != ErrBusy || pp[1].Err() != nil {
		t.Fatalf("errs %v %v", pp[0].Err(), pp[1].Err())
	}
	if _, err := pp[1].Wait(long); err != nil {
		t.Fatal(err)
	}
	if mem[0] != 3 {
		t.Fatal("group touch did not write")
	}
	if err := u.copy(base, pattern(ps, 0), 0); err != nil {
		t.Fatal(err)
	}
	mustOK(t, p0)
}

// A SIGBUS / SIGSEGV on a Go thread still reaches Go's handler.
func TestGoFaultsChainToGo(t *testing.T) {
	if err := Install(); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGBUS, syscall.SIGSEGV} {
		ours, chains := handlerState(sig)
		if !ours || !chains {
			t.Fatalf("%v: our handler installed %v, chains to an SA_SIGINFO handler %v", sig, ours, chains)
		}
	}
	m, base := truncatedMapping(t)
	page2 := base + uintptr(ps)

	if err := goFault(&m[ps]); err == nil {
		t.Fatal("no panic touching a page beyond EOF from Go")
	} else if re, ok := err.(runtime.Error); !ok {
		t.Fatalf("recovered %T %v, want runtime.Error", err, err)
	} else if a, ok := re.(interface{ Addr() uintptr }); !ok || a.Addr() != page2 {
		t.Fatalf("fault error %v: Addr %v, want %#x", re, ok, page2)
	}
	if err := goFault(nil); err == nil {
		t.Fatal("no panic on nil dereference")
	} else if _, ok := err.(runtime.Error); !ok {
		t.Fatalf("recovered %T %v", err, err)
	}
}

var sink byte

// goFault reads *p from Go with SetPanicOnFault and returns the recovered
// panic value.
func goFault(p *byte) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok {
				panic(r)
			}
			err = e
		}
	}()
	sink = *p
	return nil
}

// Go-side faults and faulter-side faults at the same time, on many threads.
func TestFaultStress(t *testing.T) {
	m, base := truncatedMapping(t)
	page2 := base + uintptr(ps)
	g, err := StartGroup(4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	const iters = 300
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < iters; j++ {
				if err := goFault(&m[ps]); err == nil {
					errs <- errors.New("Go fault not reported")
					return
				}
			}
		}()
	}
	for _, th := range g.Threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < iters; j++ {
				r, err := th.Touch(page2, 1, 0, j%2 == 1, 0).Wait(long)
				if err != nil || !r.Sigbus || r.Addr != page2 {
					errs <- errors.New("faulter SIGBUS not reported")
					return
				}
				runtime.GC()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func BenchmarkTouchRoundTrip(b *testing.B) {
	th, err := Start()
	if err != nil {
		b.Fatal(err)
	}
	defer th.Close()
	var inC time.Duration
	for b.Loop() {
		r, err := th.Touch(addrOf(scratch), 1, 0, false, 0).Wait(long)
		if err != nil {
			b.Fatal(err)
		}
		inC += r.Elapsed
	}
	b.ReportMetric(float64(inC.Nanoseconds())/float64(b.N), "access-ns/op")
}
