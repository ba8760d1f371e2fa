package vmo

import (
	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// Adopt makes a pager-backed VMO of a memfd that already exists, one that
// another process created and supplies: a VMO of the pagerd service (package
// client), which this process reaches through the zx_* calls. The VMO owns
// fd from then on (it is closed when the VMO is destroyed, or here on
// error). size must be a non-zero multiple of the page size and at most the
// largest VMO; contentSize at most size; options may hold only
// ZX_VMO_TRAP_DIRTY (the service tracks dirty pages itself). A private VMO
// is mapped MAP_PRIVATE instead of MAP_SHARED: that is how a read-only memfd
// (opened O_RDONLY, so a shared mapping could not be registered with
// userfaultfd) is mapped, and its handles must not carry ZX_RIGHT_WRITE.
func Adopt(fd int, size, contentSize uint64, options uint32, src Source, private bool) (*VMO, error) {
	fail := func(err error) (*VMO, error) {
		_ = unix.Close(fd)
		return nil, err
	}
	switch {
	case src == nil:
		return fail(errf(zx.ErrInvalidArgs, "adopted VMO without a source"))
	case options&^zx.VMOTrapDirty != 0:
		return fail(errf(zx.ErrInvalidArgs, "invalid options %#x for an adopted VMO", options))
	case size == 0 || !pageAligned(size):
		return fail(errf(zx.ErrInvalidArgs, "adopted VMO size %#x is not a non-zero multiple of the page size", size))
	case contentSize > size:
		return fail(errf(zx.ErrInvalidArgs, "content size %#x is beyond the size %#x", contentSize, size))
	}
	if _, err := RoundSize(size); err != nil {
		return fail(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(errnoErr(err, "fstat of adopted fd %d", fd))
	}
	if uint64(st.Size) < size {
		return fail(errf(zx.ErrInvalidArgs, "adopted fd %d holds %#x bytes, fewer than the size %#x", fd, st.Size, size))
	}
	v := newVMO(fd, size, contentSize, options, src)
	if private {
		v.share = unix.MAP_PRIVATE
	}
	return v, nil
}
