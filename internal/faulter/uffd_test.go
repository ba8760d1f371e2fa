package faulter

// Tiny local userfaultfd helpers, just enough to make faulter threads block
// in real userfaultfd faults. (The real uffd package lives elsewhere.)

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	uffdIocNew       = 0xAA00     // USERFAULTFD_IOC_NEW on /dev/userfaultfd
	uffdioAPI        = 0xC018AA3F // _IOWR(0xAA, 0x3F, struct uffdio_api)
	uffdioRegister   = 0xC020AA00 // _IOWR(0xAA, 0x00, struct uffdio_register)
	uffdioUnregister = 0x8010AA01 // _IOR(0xAA, 0x01, struct uffdio_range)
	uffdioWake       = 0x8010AA02 // _IOR(0xAA, 0x02, struct uffdio_range)
	uffdioCopy       = 0xC028AA03 // _IOWR(0xAA, 0x03, struct uffdio_copy)
	uffdioPoison     = 0xC020AA08 // _IOWR(0xAA, 0x08, struct uffdio_poison)

	uffdAPI              = 0xAA
	uffdFeatureThreadID  = 1 << 8
	uffdFeaturePoison    = 1 << 14
	uffdRegModeMissing   = 1
	uffdEventPagefault   = 0x12
	uffdPFFlagWrite      = 1
	uffdPoisonDontwake   = 1
	uffdCopyModeDontwake = 1
)

type uffdioAPIArg struct{ API, Features, Ioctls uint64 }
type uffdioRange struct{ Start, Len uint64 }
type uffdioRegisterArg struct {
	Range  uffdioRange
	Mode   uint64
	Ioctls uint64
}
type uffdioCopyArg struct {
	Dst, Src, Len, Mode uint64
	Copy                int64
}
type uffdioPoisonArg struct {
	Range   uffdioRange
	Mode    uint64
	Updated int64
}

// uffdMsg is a decoded struct uffd_msg (pagefault events only).
type uffdMsg struct {
	Event   uint8
	Flags   uint64
	Address uint64
	Ptid    uint32
}

type testUffd struct {
	fd   int
	msgs chan uffdMsg
	stop chan struct{}
	done chan struct{}
}

func ioctlPtr(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// newTestUffd opens a userfaultfd (via /dev/userfaultfd, else the syscall),
// handshakes with the given features and starts a goroutine that polls and
// reads fault messages into u.msgs. Closing is registered with t.Cleanup
// (closing the uffd wakes any thread still blocked; it then gets a zero
// page).
func newTestUffd(t *testing.T, features uint64) *testUffd {
	t.Helper()
	fd := -1
	if dev, err := unix.Open("/dev/userfaultfd", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(dev), uffdIocNew, uintptr(unix.O_CLOEXEC|unix.O_NONBLOCK))
		unix.Close(dev)
		if e == 0 {
			fd = int(r)
		}
	}
	if fd < 0 {
		r, _, e := unix.Syscall(unix.SYS_USERFAULTFD, uintptr(unix.O_CLOEXEC|unix.O_NONBLOCK), 0, 0)
		if e != 0 {
			t.Skipf("userfaultfd unavailable: %v", e)
		}
		fd = int(r)
	}
	api := uffdioAPIArg{API: uffdAPI, Features: features}
	if err := ioctlPtr(fd, uffdioAPI, unsafe.Pointer(&api)); err != nil {
		unix.Close(fd)
		t.Fatalf("UFFDIO_API(features=%#x): %v", features, err)
	}
	u := &testUffd{fd: fd, msgs: make(chan uffdMsg, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	go u.serve()
	t.Cleanup(u.close)
	return u
}

// serve polls the uffd and forwards every message. Legal in a goroutine:
// it only reads the uffd, never the registered memory.
func (u *testUffd) serve() {
	defer close(u.done)
	var buf [32 * 16]byte
	for {
		select {
		case <-u.stop:
			return
		default:
		}
		pfd := []unix.PollFd{{Fd: int32(u.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 20)
		if err != nil && err != unix.EINTR {
			return
		}
		if n <= 0 {
			continue
		}
		m, err := unix.Read(u.fd, buf[:])
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for off := 0; off+32 <= m; off += 32 {
			b := buf[off : off+32]
			msg := uffdMsg{
				Event:   b[0],
				Flags:   *(*uint64)(unsafe.Pointer(&b[8])),
				Address: *(*uint64)(unsafe.Pointer(&b[16])),
				Ptid:    *(*uint32)(unsafe.Pointer(&b[24])),
			}
			select {
			case u.msgs <- msg:
			case <-u.stop:
				return
			}
		}
	}
}

func (u *testUffd) close() {
	select {
	case <-u.stop:
		return
	default:
	}
	close(u.stop)
	<-u.done
	unix.Close(u.fd)
}

// next returns the next pagefault message, or fails the test after timeout.
func (u *testUffd) next(t *testing.T, timeout time.Duration) uffdMsg {
	t.Helper()
	select {
	case m := <-u.msgs:
		if m.Event != uffdEventPagefault {
			t.Fatalf("unexpected uffd event %#x", m.Event)
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no userfaultfd message within %v", timeout)
	}
	panic("unreachable")
}

func (u *testUffd) register(t *testing.T, addr, length uintptr) {
	t.Helper()
	reg := uffdioRegisterArg{Range: uffdioRange{uint64(addr), uint64(length)}, Mode: uffdRegModeMissing}
	if err := ioctlPtr(u.fd, uffdioRegister, unsafe.Pointer(&reg)); err != nil {
		t.Fatalf("UFFDIO_REGISTER: %v", err)
	}
}

func (u *testUffd) copy(dst uintptr, src []byte, mode uint64) error {
	c := uffdioCopyArg{Dst: uint64(dst), Src: uint64(uintptr(unsafe.Pointer(&src[0]))), Len: uint64(len(src)), Mode: mode}
	err := ioctlPtr(u.fd, uffdioCopy, unsafe.Pointer(&c))
	runtime.KeepAlive(src)
	if err != nil {
		return fmt.Errorf("UFFDIO_COPY: %w (copied %d)", err, c.Copy)
	}
	if c.Copy != int64(len(src)) {
		return fmt.Errorf("UFFDIO_COPY copied %d, want %d", c.Copy, len(src))
	}
	return nil
}

func (u *testUffd) poison(addr, length uintptr, mode uint64) error {
	p := uffdioPoisonArg{Range: uffdioRange{uint64(addr), uint64(length)}, Mode: mode}
	if err := ioctlPtr(u.fd, uffdioPoison, unsafe.Pointer(&p)); err != nil {
		return fmt.Errorf("UFFDIO_POISON: %w", err)
	}
	if p.Updated != int64(length) {
		return fmt.Errorf("UFFDIO_POISON updated %d, want %d", p.Updated, length)
	}
	return nil
}

func (u *testUffd) wake(addr, length uintptr) error {
	r := uffdioRange{uint64(addr), uint64(length)}
	if err := ioctlPtr(u.fd, uffdioWake, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("UFFDIO_WAKE: %w", err)
	}
	return nil
}

// mmapAnon maps n bytes of private anonymous memory, unmapped at cleanup.
func mmapAnon(t *testing.T, n int) []byte {
	t.Helper()
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return m
}

// memfd creates a memfd of size bytes.
func memfd(t *testing.T, size int) *os.File {
	t.Helper()
	fd, err := unix.MemfdCreate("faulter-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(int64(size)); err != nil {
		t.Fatalf("ftruncate: %v", err)
	}
	return f
}

func mmapShared(t *testing.T, f *os.File, n int) []byte {
	t.Helper()
	m, err := unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap shared: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return m
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

var errNotBlocked = errors.New("access was expected to block but completed")
