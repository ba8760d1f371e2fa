package vmo

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

func errf(s zx.Status, format string, args ...any) error {
	return zx.Errorf(s, "vmo: "+format, args...)
}

// errnoStatus maps a Linux errno from a memfd or mmap call to the Zircon
// status the same failure has there.
func errnoStatus(err error) zx.Status {
	var en unix.Errno
	if !errors.As(err, &en) {
		return zx.ErrInternal
	}
	switch en {
	case unix.ENOMEM, unix.ENOSPC, unix.EAGAIN, unix.EMFILE, unix.ENFILE:
		return zx.ErrNoMemory
	case unix.EFBIG:
		return zx.ErrOutOfRange
	case unix.EEXIST:
		return zx.ErrAlreadyExists
	case unix.EBADF:
		return zx.ErrBadState
	case unix.EFAULT:
		return zx.ErrInvalidArgs
	}
	return zx.ErrInternal
}

func errnoErr(err error, format string, args ...any) error {
	return zx.Errorf(errnoStatus(err), "vmo: "+format+": %v", append(args, err)...)
}
