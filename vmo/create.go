package vmo

import (
	"math/bits"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// MaxSize is the largest VMO size: Linux's largest file size
// (MAX_LFS_FILESIZE, 2^63-1) rounded down to a page. Zircon's own limit is
// larger (close to 2^64); a size between the two is OUT_OF_RANGE here.
// ZX_VMO_UNBOUNDED plain VMOs get this size, as they get max_size in Zircon.
const MaxSize uint64 = 1<<63 - zx.PageSize

// PageRoundUp rounds n up to a page; ok is false on overflow.
func PageRoundUp(n uint64) (r uint64, ok bool) {
	r, carry := bits.Add64(n, zx.PageSize-1, 0)
	return r &^ (zx.PageSize - 1), carry == 0
}

func pageRoundDown(n uint64) uint64 { return n &^ (zx.PageSize - 1) }

func pageAligned(n uint64) bool { return n%zx.PageSize == 0 }

// RoundSize is Zircon's VmObject::RoundSize: size rounded up to a page;
// OUT_OF_RANGE if that overflows or exceeds MaxSize.
func RoundSize(size uint64) (uint64, error) {
	r, ok := PageRoundUp(size)
	if !ok || r > MaxSize {
		return 0, errf(zx.ErrOutOfRange, "size %#x is too large (max %#x)", size, MaxSize)
	}
	return r, nil
}

// ParseCreateOptions validates zx_vmo_create options in Zircon's order
// (parse_create_syscall_flags) and returns the page-rounded VMO size:
// RESIZABLE with UNBOUNDED is INVALID_ARGS; UNBOUNDED makes the size MaxSize
// (the size argument is only the content size); otherwise a too large size is
// OUT_OF_RANGE; any other option bit, TRAP_DIRTY included, is INVALID_ARGS.
func ParseCreateOptions(options uint32, size uint64) (uint64, error) {
	flags := options
	if flags&zx.VMOResizable != 0 {
		if flags&zx.VMOUnbounded != 0 {
			return 0, errf(zx.ErrInvalidArgs, "ZX_VMO_RESIZABLE and ZX_VMO_UNBOUNDED are exclusive")
		}
		flags &^= zx.VMOResizable
	}
	flags &^= zx.VMODiscardable
	var rounded uint64
	if flags&zx.VMOUnbounded != 0 {
		flags &^= zx.VMOUnbounded
		rounded = MaxSize
	} else {
		r, err := RoundSize(size)
		if err != nil {
			return 0, err
		}
		rounded = r
	}
	if flags != 0 {
		return 0, errf(zx.ErrInvalidArgs, "invalid VMO options %#x", options)
	}
	return rounded, nil
}

// Create is zx_vmo_create for a plain VMO: a zero-filled memfd of size
// bytes rounded up to pages; the content size is the unrounded size.
func Create(size uint64, options uint32) (*VMO, error) {
	rounded, err := ParseCreateOptions(options, size)
	if err != nil {
		return nil, err
	}
	fd, err := newMemfd(rounded)
	if err != nil {
		return nil, err
	}
	return newVMO(fd, rounded, size, options, nil), nil
}

// NewPaged creates a pager-backed VMO whose operations go to src (see
// Source). The caller (package pager) has validated options
// (RESIZABLE|TRAP_DIRTY|UNBOUNDED); size is the VMO size, rounded up to
// pages here, and the content size. Only a too large size, a nil Source, or
// options outside that set are refused here.
func NewPaged(size uint64, options uint32, src Source) (*VMO, error) {
	return NewPagedContent(size, size, options, src)
}

// NewPagedContent is NewPaged with a content size apart from the size: a
// ZX_VMO_UNBOUNDED pager VMO is as large as it can be, and its content
// (stream) size is what the caller asked for.
func NewPagedContent(size, contentSize uint64, options uint32, src Source) (*VMO, error) {
	if src == nil {
		return nil, errf(zx.ErrInvalidArgs, "pager VMO without a source")
	}
	if options&^(zx.VMOResizable|zx.VMOTrapDirty|zx.VMOUnbounded) != 0 {
		return nil, errf(zx.ErrInvalidArgs, "invalid pager VMO options %#x", options)
	}
	rounded, err := RoundSize(size)
	if err != nil {
		return nil, err
	}
	fd, err := newMemfd(rounded)
	if err != nil {
		return nil, err
	}
	return newVMO(fd, rounded, contentSize, options, src), nil
}

func newMemfd(size uint64) (int, error) {
	fd, err := unix.MemfdCreate("pagerd-vmo", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, errnoErr(err, "memfd_create")
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		_ = unix.Close(fd)
		return -1, errnoErr(err, "ftruncate memfd to %#x", size)
	}
	return fd, nil
}
