//go:build linux

package uffd

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Event is the event field of struct uffd_msg (UFFD_EVENT_*).
type Event uint8

// The UFFD_EVENT_* values. They start at 0x12 so that a zeroed message is
// never a valid event.
const (
	EventPagefault Event = 0x12 // UFFD_EVENT_PAGEFAULT: a thread faulted on a registered range (Msg.Pagefault)
	EventFork      Event = 0x13 // UFFD_EVENT_FORK: the process forked; Msg.Fork is the child's new uffd
	EventRemap     Event = 0x14 // UFFD_EVENT_REMAP: a registered range moved (mremap); Msg.Remap
	EventRemove    Event = 0x15 // UFFD_EVENT_REMOVE: MADV_DONTNEED/MADV_REMOVE dropped pages; Msg.Remove; the range stays registered
	EventUnmap     Event = 0x16 // UFFD_EVENT_UNMAP: a registered range was unmapped; Msg.Remove; the range is gone
)

// String returns the event's kernel name without the UFFD_EVENT_ prefix.
func (e Event) String() string {
	switch e {
	case EventPagefault:
		return "PAGEFAULT"
	case EventFork:
		return "FORK"
	case EventRemap:
		return "REMAP"
	case EventRemove:
		return "REMOVE"
	case EventUnmap:
		return "UNMAP"
	}
	return fmt.Sprintf("Event(%#x)", uint8(e))
}

// PagefaultFlags is the flags field of a UFFD_EVENT_PAGEFAULT message
// (UFFD_PAGEFAULT_FLAG_*).
type PagefaultFlags uint64

// The UFFD_PAGEFAULT_FLAG_* bits. A missing-page fault has neither WP nor
// MINOR set.
const (
	PagefaultFlagWrite PagefaultFlags = 1 << 0 // UFFD_PAGEFAULT_FLAG_WRITE: a write fault
	PagefaultFlagWP    PagefaultFlags = 1 << 1 // UFFD_PAGEFAULT_FLAG_WP: a write to a write-protected page (RegisterModeWP)
	PagefaultFlagMinor PagefaultFlags = 1 << 2 // UFFD_PAGEFAULT_FLAG_MINOR: a minor fault (RegisterModeMinor)
)

// Has reports whether every bit of x is set in f.
func (f PagefaultFlags) Has(x PagefaultFlags) bool { return f&x == x }

// String returns the set bits by name, unknown bits in hex.
func (f PagefaultFlags) String() string {
	return bitString(uint64(f), []string{"WRITE", "WP", "MINOR"})
}

// MsgSize is sizeof(struct uffd_msg).
const MsgSize = 32

// Offsets in struct uffd_msg (it is packed; the union arg starts at 8).
const (
	msgOffEvent     = 0
	msgOffFlags     = 8  // arg.pagefault.flags
	msgOffAddress   = 16 // arg.pagefault.address
	msgOffPtid      = 24 // arg.pagefault.feat.ptid
	msgOffUfd       = 8  // arg.fork.ufd
	msgOffRemapFrom = 8  // arg.remap.from
	msgOffRemapTo   = 16 // arg.remap.to
	msgOffRemapLen  = 24 // arg.remap.len
	msgOffStart     = 8  // arg.remove.start
	msgOffEnd       = 16 // arg.remove.end
)

// Msg is one raw struct uffd_msg as read(2) returns it; its methods decode
// the fields of each event without allocating. Fields are in the host's byte
// order.
type Msg [MsgSize]byte

// Event returns the message's event.
func (m *Msg) Event() Event { return Event(m[msgOffEvent]) }

// Pagefault decodes an EventPagefault message: the fault flags, the fault
// address (page aligned unless FeatureExactAddress is enabled) and the
// faulting thread's id (0 unless FeatureThreadID is enabled).
func (m *Msg) Pagefault() (flags PagefaultFlags, address uint64, ptid uint32) {
	return PagefaultFlags(binary.NativeEndian.Uint64(m[msgOffFlags:])),
		binary.NativeEndian.Uint64(m[msgOffAddress:]),
		binary.NativeEndian.Uint32(m[msgOffPtid:])
}

// Fork decodes an EventFork message: the new userfaultfd, already installed
// in the reading process's fd table, that covers the child's registered
// ranges. The reader owns it and must close it.
func (m *Msg) Fork() (ufd int) { return int(binary.NativeEndian.Uint32(m[msgOffUfd:])) }

// Remap decodes an EventRemap message: the range [from, from+length) moved
// to [to, to+length) and stays registered there.
func (m *Msg) Remap() (from, to, length uint64) {
	return binary.NativeEndian.Uint64(m[msgOffRemapFrom:]),
		binary.NativeEndian.Uint64(m[msgOffRemapTo:]),
		binary.NativeEndian.Uint64(m[msgOffRemapLen:])
}

// Remove decodes an EventRemove or EventUnmap message (they share the
// layout): the affected range [start, end).
func (m *Msg) Remove() (start, end uint64) {
	return binary.NativeEndian.Uint64(m[msgOffStart:]), binary.NativeEndian.Uint64(m[msgOffEnd:])
}

// String formats the message for logs.
func (m *Msg) String() string {
	switch e := m.Event(); e {
	case EventPagefault:
		f, a, t := m.Pagefault()
		return fmt.Sprintf("PAGEFAULT flags=%v address=%#x ptid=%d", f, a, t)
	case EventFork:
		return fmt.Sprintf("FORK ufd=%d", m.Fork())
	case EventRemap:
		f, t, l := m.Remap()
		return fmt.Sprintf("REMAP from=%#x to=%#x len=%#x", f, t, l)
	case EventRemove, EventUnmap:
		s, en := m.Remove()
		return fmt.Sprintf("%v start=%#x end=%#x", e, s, en)
	default:
		return fmt.Sprintf("%v % x", e, m[:])
	}
}

// Read reads as many queued messages as fit in msgs with one read(2) and
// returns how many it read. When nothing is queued (EAGAIN on the
// non-blocking fd) it returns 0 and nil: that is normal, since a signal to a
// faulting thread withdraws its unread message and poll(2) may report a
// message that is gone by the time of the read. Any other failure returns 0
// and an error; io.EOF if the kernel returned 0 bytes. With len(msgs) == 0 it
// returns 0, nil without a system call. Reading an EventFork message installs
// the child's new userfaultfd in this process.
func (u *UFFD) Read(msgs []Msg) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&msgs[0])), len(msgs)*MsgSize)
	for {
		n, err := unix.Read(u.fd, buf)
		switch {
		case err == nil && n > 0:
			return n / MsgSize, nil
		case err == nil:
			return 0, io.EOF
		case err == unix.EAGAIN:
			return 0, nil
		case err == unix.EINTR:
			continue
		}
		return 0, &Error{Op: "read", Fd: u.fd, Len: uintptr(len(buf)), Err: err}
	}
}

// Wait blocks in ppoll(2) until the userfaultfd is readable, wakeFd (an
// eventfd or pipe read end; -1 for none) is readable or hung up, or
// timeoutMs milliseconds pass (-1: no timeout), and reports which fds are
// ready; both false means the timeout expired. It retries on EINTR with the
// remaining time. The poll is a system call, so the waiting goroutine
// releases its P. POLLERR on the userfaultfd (it is not initialized, or not
// O_NONBLOCK) and POLLNVAL on either fd are errors.
func (u *UFFD) Wait(wakeFd int, timeoutMs int) (uffdReady, wakeReady bool, err error) {
	if u.fd < 0 {
		// ppoll would silently ignore a negative fd.
		return false, false, &Error{Op: "ppoll", Fd: u.fd, Err: unix.EBADF}
	}
	fds := [2]unix.PollFd{
		{Fd: int32(u.fd), Events: unix.POLLIN},
		{Fd: int32(wakeFd), Events: unix.POLLIN}, // ppoll ignores a negative fd
	}
	var deadline time.Time
	if timeoutMs >= 0 {
		deadline = time.Now().Add(time.Duration(timeoutMs) * time.Millisecond)
	}
	for {
		var r uintptr
		var e unix.Errno
		if timeoutMs < 0 {
			r, _, e = unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 2, 0, 0, 0, 0)
		} else {
			left := time.Until(deadline)
			if left < 0 {
				left = 0
			}
			ts := unix.NsecToTimespec(int64(left))
			r, _, e = unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 2, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		}
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return false, false, &Error{Op: "ppoll", Fd: u.fd, Err: e}
		}
		if r == 0 {
			return false, false, nil
		}
		if fds[0].Revents&unix.POLLNVAL != 0 {
			return false, false, &Error{Op: "ppoll", Fd: u.fd, Err: unix.EBADF}
		}
		if fds[0].Revents&unix.POLLERR != 0 {
			return false, false, &Error{Op: "ppoll (POLLERR: uffd not initialized or not O_NONBLOCK)", Fd: u.fd, Err: unix.EINVAL}
		}
		if fds[1].Revents&unix.POLLNVAL != 0 {
			return false, false, &Error{Op: "ppoll (wake fd)", Fd: wakeFd, Err: unix.EBADF}
		}
		uffdReady = fds[0].Revents&unix.POLLIN != 0
		wakeReady = fds[1].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0
		return uffdReady, wakeReady, nil
	}
}
