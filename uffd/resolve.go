//go:build linux

package uffd

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The resolve ioctls. Each fills or changes pages of a registered range and,
// unless its DONTWAKE mode bit is set, wakes the threads blocked in faults on
// the range it covered. Those that report progress (COPY, ZEROPAGE, MOVE,
// CONTINUE, POISON) return the kernel's result field: the bytes done. On
// failure the result field holds either a negated errno (nothing done) or the
// positive count done before the failure; the methods return that count with
// the error in both cases. The kernel turns a short count into EAGAIN, so
// after (n > 0, EAGAIN) the cause is found by retrying from start+n. While a
// non-cooperative event (fork, remap, remove, unmap) is queued and unread,
// every resolve ioctl fails with EAGAIN and does nothing.

// result converts a signed result field to a count of bytes done.
func result(r int64) uintptr {
	if r > 0 {
		return uintptr(r)
	}
	return 0
}

// CopyMode is the mode of UFFDIO_COPY (UFFDIO_COPY_MODE_*).
type CopyMode uint64

// The UFFDIO_COPY_MODE_* bits.
const (
	CopyModeDontWake CopyMode = 1 << 0 // UFFDIO_COPY_MODE_DONTWAKE: do not wake faulters
	CopyModeWP       CopyMode = 1 << 1 // UFFDIO_COPY_MODE_WP: map the new pages write-protected
)

// String returns the set bits by name, unknown bits in hex.
func (m CopyMode) String() string { return bitString(uint64(m), []string{"DONTWAKE", "WP"}) }

// Copy atomically copies length bytes from src (an address in this process)
// into the missing pages at dst in the userfaultfd's address space
// (UFFDIO_COPY) and returns the bytes copied. dst, src and length must be
// page aligned. Errors: EEXIST (count 0) when the first page is already
// present; EAGAIN with a count > 0 when the kernel stopped part way (for
// example at a present page: retry at dst+count to learn why); EAGAIN with
// count 0 while a non-cooperative event is unread; ENOENT when the mapping
// changed under the copy; ESRCH or ENOSPC when the target process is gone;
// EINVAL for bad ranges or modes. src is an integer: the memory behind it
// must stay alive during the call.
func (u *UFFD) Copy(dst, src, length uintptr, mode CopyMode) (uintptr, error) {
	s := uffdioCopy{dst: uint64(dst), src: uint64(src), len: uint64(length), mode: uint64(mode)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqCopy, uintptr(unsafe.Pointer(&s)))
		if e == 0 {
			return uintptr(s.copy), nil
		}
		if e == unix.EINTR && s.copy <= 0 {
			s.copy = 0
			continue
		}
		return result(s.copy), ioctlError("UFFDIO_COPY", u.fd, dst, src, length, mode, s.copy, e)
	}
}

// CopyFrom is Copy with the source given as a Go byte slice; it copies
// len(src) bytes, which must be a multiple of the page size, and keeps src
// alive during the call.
func (u *UFFD) CopyFrom(dst uintptr, src []byte, mode CopyMode) (uintptr, error) {
	if len(src) == 0 {
		return 0, &Error{Op: "UFFDIO_COPY", Fd: u.fd, Start: dst, Mode: mode, Err: unix.EINVAL}
	}
	s := uffdioCopy{dst: uint64(dst), len: uint64(len(src)), mode: uint64(mode)}
	for {
		s.src = uint64(uintptr(unsafe.Pointer(&src[0])))
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqCopy, uintptr(unsafe.Pointer(&s)))
		runtime.KeepAlive(src)
		if e == 0 {
			return uintptr(s.copy), nil
		}
		if e == unix.EINTR && s.copy <= 0 {
			s.copy = 0
			continue
		}
		return result(s.copy), ioctlError("UFFDIO_COPY", u.fd, dst, uintptr(s.src), uintptr(len(src)), mode, s.copy, e)
	}
}

// ZeropageMode is the mode of UFFDIO_ZEROPAGE (UFFDIO_ZEROPAGE_MODE_*).
type ZeropageMode uint64

// The UFFDIO_ZEROPAGE_MODE_* bits.
const (
	ZeropageModeDontWake ZeropageMode = 1 << 0 // UFFDIO_ZEROPAGE_MODE_DONTWAKE: do not wake faulters
)

// String returns the set bits by name, unknown bits in hex.
func (m ZeropageMode) String() string { return bitString(uint64(m), []string{"DONTWAKE"}) }

// Zeropage maps zero pages at the missing pages of [start, start+length)
// (UFFDIO_ZEROPAGE) and returns the bytes done. Errors as for Copy.
func (u *UFFD) Zeropage(start, length uintptr, mode ZeropageMode) (uintptr, error) {
	s := uffdioZeropage{rng: uffdioRange{start: uint64(start), len: uint64(length)}, mode: uint64(mode)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqZeropage, uintptr(unsafe.Pointer(&s)))
		if e == 0 {
			return uintptr(s.zeropage), nil
		}
		if e == unix.EINTR && s.zeropage <= 0 {
			s.zeropage = 0
			continue
		}
		return result(s.zeropage), ioctlError("UFFDIO_ZEROPAGE", u.fd, start, 0, length, mode, s.zeropage, e)
	}
}

// MoveMode is the mode of UFFDIO_MOVE (UFFDIO_MOVE_MODE_*).
type MoveMode uint64

// The UFFDIO_MOVE_MODE_* bits.
const (
	MoveModeDontWake      MoveMode = 1 << 0 // UFFDIO_MOVE_MODE_DONTWAKE: do not wake faulters
	MoveModeAllowSrcHoles MoveMode = 1 << 1 // UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES: skip unpopulated source pages instead of failing with ENOENT
)

// String returns the set bits by name, unknown bits in hex.
func (m MoveMode) String() string {
	return bitString(uint64(m), []string{"DONTWAKE", "ALLOW_SRC_HOLES"})
}

// Move moves the pages at src to the missing pages at dst (UFFDIO_MOVE,
// FeatureMove, Linux 6.8+) without copying, and returns the bytes moved.
// Both must be private anonymous ranges of the userfaultfd's own address
// space, dst registered with this userfaultfd; src pages become holes.
// Errors as for Copy, plus ENOENT for a source hole (without
// MoveModeAllowSrcHoles), EBUSY for pages shared with another process, and
// EINVAL for shmem or other non-anonymous memory.
func (u *UFFD) Move(dst, src, length uintptr, mode MoveMode) (uintptr, error) {
	s := uffdioMove{dst: uint64(dst), src: uint64(src), len: uint64(length), mode: uint64(mode)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqMove, uintptr(unsafe.Pointer(&s)))
		if e == 0 {
			return uintptr(s.move), nil
		}
		if e == unix.EINTR && s.move <= 0 {
			s.move = 0
			continue
		}
		return result(s.move), ioctlError("UFFDIO_MOVE", u.fd, dst, src, length, mode, s.move, e)
	}
}

// WriteProtectMode is the mode of UFFDIO_WRITEPROTECT
// (UFFDIO_WRITEPROTECT_MODE_*). Its bits are the other way round from the
// other ioctls: WP is bit 0 and DONTWAKE is bit 1.
type WriteProtectMode uint64

// The UFFDIO_WRITEPROTECT_MODE_* bits.
const (
	WriteProtectModeWP       WriteProtectMode = 1 << 0 // UFFDIO_WRITEPROTECT_MODE_WP: protect; without it, unprotect
	WriteProtectModeDontWake WriteProtectMode = 1 << 1 // UFFDIO_WRITEPROTECT_MODE_DONTWAKE: do not wake faulters when unprotecting
)

// String returns the set bits by name, unknown bits in hex.
func (m WriteProtectMode) String() string { return bitString(uint64(m), []string{"WP", "DONTWAKE"}) }

// WriteProtect write-protects [start, start+length) when mode has
// WriteProtectModeWP, and removes the protection otherwise
// (UFFDIO_WRITEPROTECT); removing it wakes the threads blocked in WP faults
// on the range unless mode has WriteProtectModeDontWake. The range must be
// registered with RegisterModeWP. On anonymous memory empty PTEs are left
// alone unless FeatureWPUnpopulated is enabled; on shmem and hugetlbfs they
// are protected too.
func (u *UFFD) WriteProtect(start, length uintptr, mode WriteProtectMode) error {
	s := uffdioWriteprotect{rng: uffdioRange{start: uint64(start), len: uint64(length)}, mode: uint64(mode)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqWriteprotect, uintptr(unsafe.Pointer(&s)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return &Error{Op: "UFFDIO_WRITEPROTECT", Fd: u.fd, Start: start, Len: length, Mode: mode, Err: e}
		}
		return nil
	}
}

// ContinueMode is the mode of UFFDIO_CONTINUE (UFFDIO_CONTINUE_MODE_*).
type ContinueMode uint64

// The UFFDIO_CONTINUE_MODE_* bits.
const (
	ContinueModeDontWake ContinueMode = 1 << 0 // UFFDIO_CONTINUE_MODE_DONTWAKE: do not wake faulters
	ContinueModeWP       ContinueMode = 1 << 1 // UFFDIO_CONTINUE_MODE_WP: map the pages write-protected
)

// String returns the set bits by name, unknown bits in hex.
func (m ContinueMode) String() string { return bitString(uint64(m), []string{"DONTWAKE", "WP"}) }

// Continue maps the page-cache pages that already back [start,
// start+length) of a shmem or hugetlbfs range registered with
// RegisterModeMinor (UFFDIO_CONTINUE) and returns the bytes mapped. EEXIST
// when a page is already mapped; EFAULT when the page cache has no page.
func (u *UFFD) Continue(start, length uintptr, mode ContinueMode) (uintptr, error) {
	s := uffdioContinue{rng: uffdioRange{start: uint64(start), len: uint64(length)}, mode: uint64(mode)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqContinue, uintptr(unsafe.Pointer(&s)))
		if e == 0 {
			return uintptr(s.mapped), nil
		}
		if e == unix.EINTR && s.mapped <= 0 {
			s.mapped = 0
			continue
		}
		return result(s.mapped), ioctlError("UFFDIO_CONTINUE", u.fd, start, 0, length, mode, s.mapped, e)
	}
}

// PoisonMode is the mode of UFFDIO_POISON (UFFDIO_POISON_MODE_*).
type PoisonMode uint64

// The UFFDIO_POISON_MODE_* bits.
const (
	PoisonModeDontWake PoisonMode = 1 << 0 // UFFDIO_POISON_MODE_DONTWAKE: do not wake faulters
)

// String returns the set bits by name, unknown bits in hex.
func (m PoisonMode) String() string { return bitString(uint64(m), []string{"DONTWAKE"}) }

// Poison marks the missing pages of [start, start+length) poisoned
// (UFFDIO_POISON, FeaturePoison, Linux 6.6+) and returns the bytes marked:
// later accesses raise SIGBUS (as for hardware-poisoned memory) instead of
// faulting to the userfaultfd, until the range is zapped (MADV_DONTNEED,
// munmap). EEXIST when a page is present.
func (u *UFFD) Poison(start, length uintptr, mode PoisonMode) (uintptr, error) {
	s := uffdioPoison{rng: uffdioRange{start: uint64(start), len: uint64(length)}, mode: uint64(mode)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqPoison, uintptr(unsafe.Pointer(&s)))
		if e == 0 {
			return uintptr(s.updated), nil
		}
		if e == unix.EINTR && s.updated <= 0 {
			s.updated = 0
			continue
		}
		return result(s.updated), ioctlError("UFFDIO_POISON", u.fd, start, 0, length, mode, s.updated, e)
	}
}

// Wake wakes the threads blocked in faults on [start, start+length)
// (UFFDIO_WAKE), after resolutions done with a DONTWAKE mode. A woken thread
// whose page is still missing faults again.
func (u *UFFD) Wake(start, length uintptr) error {
	s := uffdioRange{start: uint64(start), len: uint64(length)}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.fd), reqWake, uintptr(unsafe.Pointer(&s)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return &Error{Op: "UFFDIO_WAKE", Fd: u.fd, Start: start, Len: length, Err: e}
		}
		return nil
	}
}
