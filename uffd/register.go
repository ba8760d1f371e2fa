//go:build linux

package uffd

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// RegisterMode is the mode of UFFDIO_REGISTER (UFFDIO_REGISTER_MODE_*): which
// faults on the range are reported.
type RegisterMode uint64

// The UFFDIO_REGISTER_MODE_* bits.
const (
	// RegisterModeMissing is UFFDIO_REGISTER_MODE_MISSING: faults on pages
	// that are not present (resolved with COPY, ZEROPAGE, MOVE, POISON).
	RegisterModeMissing RegisterMode = 1 << 0
	// RegisterModeWP is UFFDIO_REGISTER_MODE_WP: writes to write-protected
	// pages (resolved with WRITEPROTECT).
	RegisterModeWP RegisterMode = 1 << 1
	// RegisterModeMinor is UFFDIO_REGISTER_MODE_MINOR: faults on shmem or
	// hugetlbfs pages that are in the page cache but not mapped here
	// (resolved with CONTINUE). EINVAL on anonymous memory.
	RegisterModeMinor RegisterMode = 1 << 2
)

var registerModeNames = []string{"MISSING", "WP", "MINOR"}

// Has reports whether every bit of x is set in m.
func (m RegisterMode) Has(x RegisterMode) bool { return m&x == x }

// String returns the set bits by name ("MISSING|WP"), unknown bits in hex.
func (m RegisterMode) String() string { return bitString(uint64(m), registerModeNames) }

// Register registers [start, start+length) with the userfaultfd in the given
// mode (UFFDIO_REGISTER) and returns the ioctls the kernel allows on that
// range. start and length must be page aligned, and the range must be mapped
// in the userfaultfd's address space (EINVAL / ENOMEM otherwise); a range
// already registered with another userfaultfd gives EBUSY.
func (u *UFFD) Register(start, length uintptr, mode RegisterMode) (Ioctls, error) {
	s := uffdioRegister{rng: uffdioRange{start: uint64(start), len: uint64(length)}, mode: uint64(mode)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqRegister, uintptr(unsafe.Pointer(&s)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, &Error{Op: "UFFDIO_REGISTER", Fd: u.fd, Start: start, Len: length, Mode: mode, Err: e}
		}
		return Ioctls(s.ioctls), nil
	}
}

// Unregister unregisters [start, start+length) (UFFDIO_UNREGISTER) and wakes
// any thread blocked in a fault on it, which then retries as an ordinary
// fault.
func (u *UFFD) Unregister(start, length uintptr) error {
	s := uffdioRange{start: uint64(start), len: uint64(length)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqUnregister, uintptr(unsafe.Pointer(&s)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return &Error{Op: "UFFDIO_UNREGISTER", Fd: u.fd, Start: start, Len: length, Err: e}
		}
		return nil
	}
}
