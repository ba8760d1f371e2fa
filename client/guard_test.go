package client

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/uffd"
)

// wantSigbus checks that a C thread's access ended with SIGBUS at addr.
func wantSigbus(t *testing.T, what string, r faulter.Result, addr uintptr) {
	t.Helper()
	if !r.Sigbus || r.Addr != addr {
		t.Errorf("%s: %+v; want SIGBUS at %#x", what, r, addr)
	}
}

// waitDone waits for the end of c's session.
func waitDone(t *testing.T, c *Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatalf("session did not end within %v", waitFor)
	}
	if !errors.Is(c.Err(), ErrServerGone) {
		t.Errorf("Err = %v, want ErrServerGone", c.Err())
	}
}

// wantNoData checks that the memfd has no page at or after off: nothing
// wrote a zero page into it.
func wantNoData(t *testing.T, fd int, off int64) {
	t.Helper()
	if got, err := unix.Seek(fd, off, unix.SEEK_DATA); err != unix.ENXIO {
		t.Errorf("memfd has data at %#x (lseek SEEK_DATA from %#x: %v): a page was filled in", got, off, err)
	}
}

// wantUnavailable checks Populate's error.
func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) || !(errors.Is(err, unix.EHWPOISON) || errors.Is(err, unix.EFAULT)) {
		t.Errorf("%s: %v; want ErrUnavailable with EHWPOISON or EFAULT", what, err)
	}
}

// TestGuardNoSilentZeros: the fake reads no fault; a C thread waits on a
// missing page; the fake dies. The guard answers: the waiting thread and
// later accesses to missing pages get SIGBUS, present pages read their
// content, writes to present pages go through, Populate reports
// ErrUnavailable, and no zero page ever lands in the memfd.
func TestGuardNoSilentZeros(t *testing.T) {
	f := startFake(t)
	obj := f.addObj("obj", 4, 1, false)
	c, fc := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	ro := mustMap(t, v, 0, 4*pageSize, false)
	rw := mustMap(t, v, 0, 4*pageSize, true)
	u := fc.uffd(t)

	th, err := faulter.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	p := th.Read(ro.Addr()+ps+8, 8)
	if err := faultPending(u, waitFor); err != nil {
		t.Fatalf("the C thread's fault: %v", err)
	}
	if p.Done() {
		t.Fatalf("the access completed without a server: %+v", must(p.Wait(0)))
	}
	fc.kill()
	r, err := p.Wait(waitFor)
	if err != nil {
		t.Fatalf("the waiting thread was not answered: %v", err)
	}
	wantSigbus(t, "waiting read of a missing page", r, ro.Addr()+ps+8)
	waitDone(t, c)

	if r := cRead(t, ro.Addr(), 8); r.Faulted() || string(r.Data) != "AAAAAAAA" {
		t.Errorf("read of a present page: %+v", r)
	}
	wantSigbus(t, "later read of a missing page", cRead(t, ro.Addr()+3*ps, 1), ro.Addr()+3*ps)
	wr, err := faulter.WriteAt(rw.Addr()+10, []byte("xyz"), waitFor)
	if err != nil || wr.Faulted() {
		t.Errorf("write to a present, protected page: %+v, %v", wr, err)
	}
	got := make([]byte, 3)
	if _, err := unix.Pread(obj.fd, got, 10); err != nil || string(got) != "xyz" {
		t.Errorf("memfd after the write: %q, %v", got, err)
	}
	wr, err = faulter.WriteAt(rw.Addr()+2*ps, []byte("q"), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	wantSigbus(t, "write to a missing page", wr, rw.Addr()+2*ps)
	wantUnavailable(t, "Populate of a missing page", ro.Populate(2*pageSize, pageSize, false))
	wantUnavailable(t, "Populate for writing of a missing page", rw.Populate(pageSize, 10, true))
	if err := rw.Populate(0, pageSize, true); err != nil {
		t.Errorf("Populate for writing of a present page: %v", err)
	}
	wantNoData(t, obj.fd, int64(pageSize))
	st := c.guardStats()
	t.Logf("guard: %+v", st)
	if !st.Active || st.Poisoned < 3 || st.Unprotected < 1 || st.Wakes < 2 {
		t.Errorf("guard stats %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after pagerd died: %v", err)
	}
	wantNoData(t, obj.fd, int64(pageSize))
}

func must(r faulter.Result, _ error) faulter.Result { return r }

// TestGuardStolenFault: the dead server had read the fault message and
// never answered it. Only a wake gets that thread going again; it must end
// with SIGBUS, not a hang and not zeros.
func TestGuardStolenFault(t *testing.T) {
	f := startFake(t)
	obj := f.addObj("obj", 4, 1, false)
	c, fc := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	m := mustMap(t, v, 0, 4*pageSize, true)
	u := fc.uffd(t)
	th, err := faulter.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	p := th.Read(m.Addr()+2*ps, 16)
	msg, err := nextFault(u, waitFor)
	if err != nil {
		t.Fatalf("stealing the fault: %v", err)
	}
	if _, addr, _ := msg.Pagefault(); uintptr(addr) != m.Addr()+2*ps {
		t.Fatalf("stolen fault at %#x, want %#x", addr, m.Addr()+2*ps)
	}
	time.Sleep(20 * time.Millisecond)
	if p.Done() {
		t.Fatal("the thread went on without an answer")
	}
	fc.kill()
	r, err := p.Wait(waitFor)
	if err != nil {
		t.Fatalf("the thread of the stolen fault was not woken: %v", err)
	}
	wantSigbus(t, "read after a stolen fault", r, m.Addr()+2*ps)
	waitDone(t, c)
	wantNoData(t, obj.fd, int64(pageSize))
}

// TestPopulate: with pagerd alive, Populate takes the faults inside the
// system call; a page the server poisons (a store error) gives
// ErrUnavailable, the others are supplied.
func TestPopulate(t *testing.T) {
	f := startFake(t)
	f.addObj("obj", 4, 1, false)
	c, fc := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	ro := mustMap(t, v, 0, 4*pageSize, false)
	rw := mustMap(t, v, 0, 4*pageSize, true)
	u := fc.uffd(t)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the fake's fault server
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			msg, err := nextFault(u, 50*time.Millisecond)
			if err != nil {
				continue
			}
			flags, addr, _ := msg.Pagefault()
			page := uintptr(addr) &^ uintptr(pageSize-1)
			base, mode := ro.Addr(), uffd.CopyMode(0)
			if page >= rw.Addr() && page < rw.Addr()+uintptr(rw.Len()) {
				// Only the writable mapping is registered for WP.
				base, mode = rw.Addr(), uffd.CopyModeWP
			}
			idx := (page - base) / uintptr(pageSize)
			switch {
			case flags.Has(uffd.PagefaultFlagWP):
				err = u.WriteProtect(page, uintptr(pageSize), 0)
			case idx == 2:
				if mode != 0 { // as pagerd does: the WP marker must go first
					u.WriteProtect(page, uintptr(pageSize), uffd.WriteProtectModeDontWake)
				}
				_, err = u.Poison(page, uintptr(pageSize), 0)
			default:
				_, err = u.CopyFrom(page, fill(byte('a'+idx)), mode)
			}
			if err != nil {
				t.Errorf("serving fault at %#x (%v): %v", addr, flags, err)
				// Fail the access rather than leave it blocked forever.
				u.Poison(page, uintptr(pageSize), 0)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	wantUnavailable(t, "Populate over a failed page", ro.Populate(0, 4*pageSize, false))
	if err := ro.Populate(pageSize, pageSize, false); err != nil {
		t.Errorf("Populate of page 1: %v", err)
	}
	if err := ro.Populate(3*pageSize+5, 7, false); err != nil {
		t.Errorf("Populate of a part of page 3: %v", err)
	}
	// The pages are present now: reading them from Go is safe.
	b := ro.Bytes()
	if b[0] != 'A' || b[pageSize] != 'b' || b[3*pageSize+100] != 'd' {
		t.Errorf("populated bytes: %q %q %q", b[0], b[pageSize], b[3*pageSize+100])
	}
	// Writing: the WP faults are served, the pages stay present.
	if err := rw.Populate(pageSize, pageSize, true); err != nil {
		t.Errorf("Populate for writing: %v", err)
	}
	rw.Bytes()[pageSize] = 'W'
	if b[pageSize] != 'W' {
		t.Errorf("write through the writable mapping not seen: %q", b[pageSize])
	}
	wantUnavailable(t, "Populate of the failed page from another mapping", rw.Populate(2*pageSize, pageSize, false))
	if c.Err() != nil {
		t.Errorf("session ended: %v", c.Err())
	}
}

// The child-process fake pagerd, for tests that kill it.
const (
	childEnvSocket = "PAGERD_CLIENT_TEST_FAKE_DIR"
	childEnvMode   = "PAGERD_CLIENT_TEST_FAKE_MODE"
)

// childServer runs a fake pagerd in a child process: it serves one
// client, steals (reads without answering) the first page fault, says so
// on stdout, and then waits to be killed ("steal") or kills itself after a
// short while ("steal-exit").
func childServer(dir, mode string) int {
	report := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...) }
	f, err := newFake(dir, report)
	if err != nil {
		report("%v", err)
		return 1
	}
	f.addObj("obj", 4, 1, false)
	fmt.Println("ready")
	fc := <-f.connCh
	<-fc.ufCh
	fc.mu.Lock()
	u := fc.uf
	fc.mu.Unlock()
	msg, err := nextFault(u, time.Minute)
	if err != nil {
		report("waiting for a fault: %v", err)
		return 1
	}
	_, addr, _ := msg.Pagefault()
	fmt.Printf("stole %#x\n", addr)
	if mode == "steal-exit" {
		time.Sleep(300 * time.Millisecond)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	time.Sleep(time.Minute)
	return 1
}

// startChild starts the child fake pagerd and waits until it listens.
func startChild(t *testing.T, mode string) (sock string, cmd *exec.Cmd, lines chan string) {
	t.Helper()
	dir := t.TempDir()
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnvSocket+"="+dir, childEnvMode+"="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-waited
	})
	lines = make(chan string, 8)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
		cmd.Wait()
		close(waited)
	}()
	if l := nextLine(t, lines); l != "ready" {
		t.Fatalf("child said %q, want ready", l)
	}
	return filepath.Join(dir, "pagerd.sock"), cmd, lines
}

func nextLine(t *testing.T, lines chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the child fake pagerd exited")
		}
		return l
	case <-time.After(waitFor):
		t.Fatalf("no line from the child fake pagerd within %v", waitFor)
	}
	return ""
}

// TestGuardServerKilled: pagerd (a child process) is SIGKILLed while a C
// thread's fault is stolen: the thread gets SIGBUS, and the session reports
// ErrServerGone.
func TestGuardServerKilled(t *testing.T) {
	sock, cmd, lines := startChild(t, "steal")
	c, err := Dial(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v := mustOpen(t, c, "obj", 0)
	m := mustMap(t, v, 0, 4*pageSize, false)
	th, err := faulter.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	p := th.Read(m.Addr()+ps, 4)
	if l := nextLine(t, lines); l != fmt.Sprintf("stole %#x", m.Addr()+ps) {
		t.Fatalf("child said %q", l)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r, err := p.Wait(waitFor)
	if err != nil {
		t.Fatalf("the thread of the stolen fault: %v", err)
	}
	wantSigbus(t, "read after pagerd was killed", r, m.Addr()+ps)
	waitDone(t, c)
	if r := cRead(t, m.Addr(), 4); string(r.Data) != "AAAA" {
		t.Errorf("present page after pagerd died: %+v", r)
	}
	wantUnavailable(t, "Populate after pagerd died", m.Populate(3*pageSize, pageSize, false))
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestGuardStopTheWorld: a goroutine faults inside copy() (runtime
// assembly, not preemptible) on a page whose fault pagerd stole; a
// stop-the-world GC then waits for that goroutine; pagerd dies. Only a
// guard that needs no Go scheduling can end this: the goroutine gets
// SIGBUS, which SetPanicOnFault turns into a panic we recover, and the GC
// completes.
func TestGuardStopTheWorld(t *testing.T) {
	sock, _, lines := startChild(t, "steal-exit")
	c, err := Dial(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v := mustOpen(t, c, "obj", 0)
	m := mustMap(t, v, 0, 4*pageSize, false)
	target := m.Addr() + 2*ps
	res := make(chan any, 1)
	go func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() { res <- recover() }()
		dst := make([]byte, pageSize)
		copy(dst, m.Bytes()[2*pageSize:3*pageSize]) // faults inside runtime.memmove
		res <- fmt.Sprintf("copy completed without a fault: % x", dst[:8])
	}()
	if l := nextLine(t, lines); l != fmt.Sprintf("stole %#x", target) {
		t.Fatalf("child said %q", l)
	}
	start := time.Now()
	runtime.GC() // stops the world: waits for the faulting goroutine
	t.Logf("GC returned after %v", time.Since(start))
	var got any
	select {
	case got = <-res:
	case <-time.After(waitFor):
		t.Fatal("the faulting goroutine did not finish")
	}
	type addrErr interface{ Addr() uintptr }
	e, ok := got.(runtime.Error)
	if !ok {
		t.Fatalf("goroutine ended with %v (%T), want a fault panic", got, got)
	}
	// SetPanicOnFault turns the SIGBUS into runtime.Error "invalid memory
	// address ..." carrying the faulting address.
	if ae, ok := e.(addrErr); !ok || ae.Addr() < target || ae.Addr() >= target+ps {
		t.Errorf("fault panic %v (at %#x), want one in the page at %#x", e, addrOfErr(e), target)
	}
	waitDone(t, c)
}

// addrOfErr is the address a fault panic carries, or 0.
func addrOfErr(e error) uintptr {
	if ae, ok := e.(interface{ Addr() uintptr }); ok {
		return ae.Addr()
	}
	return 0
}
