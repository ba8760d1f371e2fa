//go:build linux

package uffd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Error reports a failed userfaultfd operation: which one, on which fd, with
// which arguments, how much the kernel did before it failed, and the errno.
// It unwraps to Err (a unix.Errno for system calls), so
// errors.Is(err, unix.EEXIST) and errors.As(err, &errno) work.
type Error struct {
	Op    string       // the kernel's name for the operation, e.g. "UFFDIO_COPY", "read", "ppoll"
	Fd    int          // the userfaultfd (or other fd) the operation ran on; -1 for none
	Start uintptr      // destination or range start (0 when the operation has none)
	Src   uintptr      // source address of UFFDIO_COPY and UFFDIO_MOVE, else 0
	Len   uintptr      // length in bytes (0 when the operation has none)
	Mode  fmt.Stringer // the mode or flags passed, or nil
	Done  uintptr      // bytes the kernel reported done before it failed
	Err   error        // the cause, usually a unix.Errno
}

// Error formats every field that applies to the operation.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("uffd: ")
	b.WriteString(e.Op)
	if e.Fd >= 0 {
		b.WriteString(" on fd ")
		b.WriteString(strconv.Itoa(e.Fd))
	}
	if e.Src != 0 {
		fmt.Fprintf(&b, " dst=%#x src=%#x", e.Start, e.Src)
	} else if e.Start != 0 {
		fmt.Fprintf(&b, " start=%#x", e.Start)
	}
	if e.Len != 0 {
		fmt.Fprintf(&b, " len=%#x", e.Len)
	}
	if e.Mode != nil {
		b.WriteString(" mode=")
		b.WriteString(e.Mode.String())
	}
	if e.Done != 0 {
		fmt.Fprintf(&b, " (done %#x of %#x bytes)", e.Done, e.Len)
	}
	b.WriteString(": ")
	if e.Err == nil {
		b.WriteString("<nil>")
	} else {
		b.WriteString(e.Err.Error())
		if en, ok := e.Err.(unix.Errno); ok {
			b.WriteString(" (")
			b.WriteString(unix.ErrnoName(en))
			b.WriteString(")")
		}
	}
	return b.String()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// FeatureError is returned by New when the kernel lacks some of the
// requested features. It matches errors.ErrUnsupported and unix.EINVAL (the
// errno UFFDIO_API gave).
type FeatureError struct {
	Want      Features // the features asked for
	Supported Features // the features this kernel offers
}

// Missing returns the requested features the kernel does not offer.
func (e *FeatureError) Missing() Features { return e.Want &^ e.Supported }

// Error names the missing features.
func (e *FeatureError) Error() string {
	return fmt.Sprintf("uffd: kernel does not support features %v (asked for %v; kernel offers %v)",
		e.Missing(), e.Want, e.Supported)
}

// Unwrap returns errors.ErrUnsupported and unix.EINVAL.
func (e *FeatureError) Unwrap() []error { return []error{errors.ErrUnsupported, unix.EINVAL} }

// ioctlError builds the *Error for a failed range ioctl. done is the kernel's
// signed result field: a positive count of bytes done, else 0 or -errno.
func ioctlError(op string, fd int, start, src, length uintptr, mode fmt.Stringer, done int64, errno unix.Errno) *Error {
	e := &Error{Op: op, Fd: fd, Start: start, Src: src, Len: length, Mode: mode, Err: errno}
	if done > 0 {
		e.Done = uintptr(done)
	}
	return e
}
