//go:build linux

package uffd

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// testTimeout bounds every wait in the tests; nothing may hang.
const testTimeout = 10 * time.Second

var pageSize = uintptr(PageSize)

// addrOf returns the address of b's first byte.
func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// page returns page i of b.
func page(b []byte, i int) []byte { return b[i*PageSize : (i+1)*PageSize] }

// pageAddr returns the address of page i of b.
func pageAddr(b []byte, i int) uintptr { return addrOf(b) + uintptr(i)*pageSize }

// mmapAnon maps pages private anonymous pages, unmapped at cleanup.
func mmapAnon(t testing.TB, pages int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, pages*PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap anon %d pages: %v", pages, err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}

// newMemfd creates a memfd of pages pages, closed at cleanup.
func newMemfd(t testing.TB, pages int) int {
	t.Helper()
	fd, err := unix.MemfdCreate("uffd-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Ftruncate(fd, int64(pages*PageSize)); err != nil {
		t.Fatalf("ftruncate memfd: %v", err)
	}
	return fd
}

// mmapShared maps pages of fd MAP_SHARED, unmapped at cleanup.
func mmapShared(t testing.TB, fd, pages int) []byte {
	t.Helper()
	b, err := unix.Mmap(fd, 0, pages*PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap memfd %d pages: %v", pages, err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}

// newUFFD opens a userfaultfd with want, skipping the test if the kernel
// lacks a feature; closed at cleanup.
func newUFFD(t testing.TB, want Features) *UFFD {
	t.Helper()
	u, err := New(want)
	var fe *FeatureError
	if errors.As(err, &fe) {
		t.Skipf("kernel lacks %v", fe.Missing())
	}
	if err != nil {
		t.Fatalf("New(%v): %v", want, err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// register registers b in mode and fails the test on error.
func register(t testing.TB, u *UFFD, b []byte, mode RegisterMode) Ioctls {
	t.Helper()
	io, err := u.Register(addrOf(b), uintptr(len(b)), mode)
	if err != nil {
		t.Fatalf("Register(%v): %v", mode, err)
	}
	return io
}

// populate faults b in from inside madvise(2) (MADV_POPULATE_WRITE or
// _READ), the safe way to fault registered memory from Go. It retries on
// EINTR and reports how many times it had to.
func populate(b []byte, write bool) (eintr int, err error) {
	adv := unix.MADV_POPULATE_READ
	if write {
		adv = unix.MADV_POPULATE_WRITE
	}
	for {
		err = unix.Madvise(b, adv)
		if err != unix.EINTR {
			return eintr, err
		}
		eintr++
	}
}

// faultResult is what an asynchronous populate returned.
type faultResult struct {
	eintr int
	err   error
}

// goPopulate runs populate in a new goroutine and returns its result channel.
func goPopulate(b []byte, write bool) <-chan faultResult {
	ch := make(chan faultResult, 1)
	go func() {
		n, err := populate(b, write)
		ch <- faultResult{n, err}
	}()
	return ch
}

// goPopulateTid is goPopulate from a locked OS thread; it also sends the
// thread's id before faulting.
func goPopulateTid(b []byte, write bool) (<-chan int, <-chan faultResult) {
	tid := make(chan int, 1)
	ch := make(chan faultResult, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		n, err := populate(b, write)
		ch <- faultResult{n, err}
	}()
	return tid, ch
}

// await waits for an asynchronous populate, failing the test on timeout.
func await(t testing.TB, ch <-chan faultResult, what string) faultResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(testTimeout):
		t.Fatalf("%s: still blocked after %v", what, testTimeout)
		return faultResult{}
	}
}

// notDone reports whether ch stays silent for d.
func notDone(ch <-chan faultResult, d time.Duration) (faultResult, bool) {
	select {
	case r := <-ch:
		return r, false
	case <-time.After(d):
		return faultResult{}, true
	}
}

// server reads a userfaultfd in a goroutine (Wait + Read, as a fault reader
// does), calls handle for every message and forwards it to msgs.
type server struct {
	t    testing.TB
	u    *UFFD
	efd  int
	done chan struct{}
	msgs chan Msg
}

// serve starts a server on u; it is stopped at cleanup (before u is closed).
func serve(t testing.TB, u *UFFD, handle func(m *Msg)) *server {
	t.Helper()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatalf("eventfd: %v", err)
	}
	s := &server{t: t, u: u, efd: efd, done: make(chan struct{}), msgs: make(chan Msg, 1024)}
	go s.loop(handle)
	t.Cleanup(s.stop)
	return s
}

func (s *server) loop(handle func(m *Msg)) {
	defer close(s.done)
	var buf [16]Msg
	for {
		ur, wr, err := s.u.Wait(s.efd, -1)
		if err != nil {
			s.t.Errorf("server Wait: %v", err)
			return
		}
		if wr {
			return
		}
		if !ur {
			continue
		}
		n, err := s.u.Read(buf[:])
		if err != nil {
			s.t.Errorf("server Read: %v", err)
			return
		}
		for i := 0; i < n; i++ {
			if handle != nil {
				handle(&buf[i])
			}
			select {
			case s.msgs <- buf[i]:
			default:
				s.t.Errorf("server: message queue full, dropped %v", buf[i].String())
			}
		}
	}
}

// stop stops the server and waits for it.
func (s *server) stop() {
	if s.efd < 0 {
		return
	}
	var one = [8]byte{1}
	unix.Write(s.efd, one[:])
	select {
	case <-s.done:
	case <-time.After(testTimeout):
		s.t.Errorf("server did not stop within %v", testTimeout)
	}
	unix.Close(s.efd)
	s.efd = -1
}

// next returns the next message, failing the test on timeout.
func (s *server) next(t testing.TB) Msg {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(testTimeout):
		t.Fatalf("no userfaultfd message within %v", testTimeout)
		return Msg{}
	}
}

// none asserts that no message arrives within d.
func (s *server) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.msgs:
		t.Errorf("unexpected message %v", m.String())
	case <-time.After(d):
	}
}

// pagemapEntry returns the /proc/self/pagemap entry of the page at addr.
func pagemapEntry(t testing.TB, addr uintptr) uint64 {
	t.Helper()
	fd, err := OpenPagemap(0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var e [1]uint64
	if err := ReadPagemap(fd, addr, e[:]); err != nil {
		t.Fatal(err)
	}
	return e[0]
}

// fill sets every byte of b to v.
func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// allBytes reports whether every byte of b is v, and the first that is not.
func allBytes(b []byte, v byte) (int, bool) {
	for i, x := range b {
		if x != v {
			return i, false
		}
	}
	return -1, true
}

// errnoOf returns the errno inside err, or 0.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// isChild reports whether this test binary runs as a helper child.
func isChild() bool { return os.Getenv(childEnv) != "" }
