//go:build linux

package uffd

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PageSize is the system page size (os.Getpagesize at init), the unit of
// every userfaultfd range.
var PageSize = os.Getpagesize()

// Flags for OpenRaw, OpenDevice and OpenSyscall: the flags argument of
// userfaultfd(2) and of the USERFAULTFD_IOC_NEW ioctl on /dev/userfaultfd.
const (
	OpenCloexec      = unix.O_CLOEXEC  // O_CLOEXEC: close the fd on exec
	OpenNonblock     = unix.O_NONBLOCK // O_NONBLOCK: read(2) returns EAGAIN instead of blocking; needed for poll(2)
	OpenUserModeOnly = 1               // UFFD_USER_MODE_ONLY: handle only user-mode faults (unprivileged use)
)

// DevicePath is the userfaultfd device (Linux 6.1+); opening it is permitted
// by its file mode instead of CAP_SYS_PTRACE or vm.unprivileged_userfaultfd.
const DevicePath = "/dev/userfaultfd"

// OpenDevice opens a new userfaultfd through DevicePath with the
// USERFAULTFD_IOC_NEW ioctl, passing flags (OpenCloexec, OpenNonblock,
// OpenUserModeOnly). It does not do the UFFDIO_API handshake.
func OpenDevice(flags int) (int, error) {
	var dev int
	var err error
	for {
		dev, err = unix.Open(DevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: DevicePath, Err: err}
	}
	defer unix.Close(dev)
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(dev), reqUserfaultfdNew, uintptr(flags))
	if e != 0 {
		return -1, &Error{Op: "ioctl " + DevicePath + " USERFAULTFD_IOC_NEW", Fd: dev, Mode: openFlags(flags), Err: e}
	}
	return int(r), nil
}

// OpenSyscall opens a new userfaultfd with the userfaultfd(2) system call,
// passing flags (OpenCloexec, OpenNonblock, OpenUserModeOnly). Without
// OpenUserModeOnly it needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1.
// It does not do the UFFDIO_API handshake.
func OpenSyscall(flags int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_USERFAULTFD, uintptr(flags), 0, 0)
	if e != 0 {
		return -1, &Error{Op: "userfaultfd(2)", Fd: -1, Mode: openFlags(flags), Err: e}
	}
	return int(r), nil
}

// OpenRaw opens a new userfaultfd: through /dev/userfaultfd and
// USERFAULTFD_IOC_NEW first (OpenDevice), with the userfaultfd(2) system call
// if that fails (OpenSyscall). It does not do the UFFDIO_API handshake. When
// both fail, the error wraps both errors.
func OpenRaw(flags int) (int, error) {
	fd, derr := OpenDevice(flags)
	if derr == nil {
		return fd, nil
	}
	fd, serr := OpenSyscall(flags)
	if serr == nil {
		return fd, nil
	}
	return -1, fmt.Errorf("uffd: cannot open a userfaultfd with flags %v: %w; %w", openFlags(flags), derr, serr)
}

// openFlags prints open flags by name.
type openFlags int

func (f openFlags) String() string {
	var names [64]string
	names[0] = "USER_MODE_ONLY"
	for i := 0; i < 64; i++ {
		switch uint64(1) << i {
		case unix.O_CLOEXEC:
			names[i] = "O_CLOEXEC"
		case unix.O_NONBLOCK:
			names[i] = "O_NONBLOCK"
		}
	}
	return bitString(uint64(f), names[:])
}

// API issues the raw UFFDIO_API ioctl on fd asking for API version api
// (APIVersion is the only valid one) and the given features. On success it
// returns what the kernel wrote back: every feature this kernel supports
// (not only the ones enabled) and the ioctls available on fd (IoctlAPI,
// IoctlRegister, IoctlUnregister). The kernel accepts one successful
// UFFDIO_API per fd; a failed one (EINVAL for a wrong api or an unknown
// feature bit, EPERM for FeatureEventFork without CAP_SYS_PTRACE) leaves the
// fd uninitialized, so it may be tried again.
func API(fd int, api uint64, features Features) (Features, Ioctls, error) {
	s := uffdioAPI{api: api, features: uint64(features)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), reqAPI, uintptr(unsafe.Pointer(&s)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, 0, &Error{Op: "UFFDIO_API", Fd: fd, Mode: apiArgs{api, features}, Err: e}
		}
		return Features(s.features), Ioctls(s.ioctls), nil
	}
}

// apiArgs prints the arguments of UFFDIO_API in errors.
type apiArgs struct {
	api      uint64
	features Features
}

func (a apiArgs) String() string {
	return fmt.Sprintf("api=%#x features=%v", a.api, a.features)
}

// Handshake does the UFFDIO_API handshake on a freshly opened fd, enabling
// the features in want. It returns the features now enabled on fd (want,
// plus FeatureWPUnpopulated when want has FeatureWPAsync, which the kernel
// implies) and the ioctls the kernel reports for fd. If want has a bit the
// kernel does not support, the error wraps unix.EINVAL and fd stays
// uninitialized. Use Probe (or API on a throwaway fd) to learn what is
// supported.
func Handshake(fd int, want Features) (Features, Ioctls, error) {
	_, ioctls, err := API(fd, APIVersion, want)
	if err != nil {
		return 0, 0, err
	}
	if want.Has(FeatureWPAsync) {
		want |= FeatureWPUnpopulated
	}
	return want, ioctls, nil
}

// Probe returns the features and ioctls this kernel supports, learned with
// UFFDIO_API (features 0) on a throwaway userfaultfd: the kernel allows only
// one successful UFFDIO_API per fd, so the probing fd cannot be used after.
func Probe() (Features, Ioctls, error) {
	fd, err := OpenRaw(OpenCloexec | OpenNonblock)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(fd)
	return API(fd, APIVersion, 0)
}

// UFFD is an open, initialized userfaultfd. Its methods may be called from
// several goroutines at once, except Close, which must not race with the
// others (the fd number could be reused).
type UFFD struct {
	fd       int
	features Features
}

// New opens a userfaultfd (OpenRaw with OpenCloexec|OpenNonblock) and does
// the UFFDIO_API handshake asking for every feature in want. If the kernel
// lacks any of them, New fails with a *FeatureError that names the missing
// ones (learned with Probe).
func New(want Features) (*UFFD, error) {
	fd, err := OpenRaw(OpenCloexec | OpenNonblock)
	if err != nil {
		return nil, err
	}
	got, _, err := Handshake(fd, want)
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EINVAL) && want != 0 {
			if sup, _, perr := Probe(); perr == nil && want&^sup != 0 {
				return nil, &FeatureError{Want: want, Supported: sup}
			}
		}
		return nil, err
	}
	return &UFFD{fd: fd, features: got}, nil
}

// FromFd wraps fd, a userfaultfd whose UFFDIO_API handshake was already done
// elsewhere (for example by a client that sent it over SCM_RIGHTS) with the
// given features enabled. The UFFD takes ownership of fd: Close closes it.
// Read and Wait need the fd's open file description to be O_NONBLOCK (poll(2)
// on a blocking userfaultfd reports POLLERR); if it may not be, call
// unix.SetNonblock(fd, true) first — the flag is shared by every copy of the
// fd, including the sender's.
func FromFd(fd int, features Features) *UFFD {
	return &UFFD{fd: fd, features: features}
}

// Fd returns the userfaultfd's file descriptor (-1 after Close).
func (u *UFFD) Fd() int { return u.fd }

// Features returns the features enabled by the handshake.
func (u *UFFD) Features() Features { return u.features }

// Close closes the userfaultfd. When the last fd of a userfaultfd is closed,
// the kernel unregisters all its ranges and wakes every blocked faulter,
// which then retries as an ordinary fault. A second Close returns an error
// wrapping unix.EBADF.
func (u *UFFD) Close() error {
	fd := u.fd
	if fd < 0 {
		return &Error{Op: "close", Fd: fd, Err: unix.EBADF}
	}
	u.fd = -1
	if err := unix.Close(fd); err != nil {
		return &Error{Op: "close", Fd: fd, Err: err}
	}
	return nil
}
