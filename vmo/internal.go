package vmo

import (
	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// WithInternalMapping runs fn with a read/write MAP_SHARED mapping of the
// whole memfd of a plain VMO: base is its address and size the VMO size
// (base is 0 when the size is 0). The mapping is created on first use, is
// never registered with userfaultfd, never handed out and never counted as a
// VMO mapping (package pager copies supply_pages data from it). It is valid
// only during fn: a resize waits for fn to return and drops the mapping, and
// the next call maps the new size. Pager VMOs have no internal mapping
// (NOT_SUPPORTED). fn must not resize the VMO or call WithInternalMapping on
// it again.
func (v *VMO) WithInternalMapping(fn func(base uintptr, size uint64) error) error {
	if v.src != nil {
		return errf(zx.ErrNotSupported, "pager-backed VMO %d has no internal mapping", v.koid)
	}
	if err := v.acquire(); err != nil {
		return err
	}
	defer v.release()
	v.rw.RLock()
	defer v.rw.RUnlock()
	size := v.Size()
	if size == 0 {
		return fn(0, 0)
	}
	base, err := v.internalMapping(size)
	if err != nil {
		return err
	}
	return fn(base, size)
}

// internalMapping returns the internal mapping of size bytes, creating it if
// needed; the caller holds rw shared, so no resize replaces it meanwhile.
func (v *VMO) internalMapping(size uint64) (uintptr, error) {
	r := v.res
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.imapBase != 0 && r.imapSize == size {
		return r.imapBase, nil
	}
	r.unmapInternalLocked()
	addr, _, errno := unix.Syscall6(unix.SYS_MMAP, 0, uintptr(size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, uintptr(r.fd), uintptr(v.base))
	if errno != 0 {
		return 0, errnoErr(errno, "internal mapping of %#x bytes of VMO %d", size, v.koid)
	}
	// A forked child must not inherit it either.
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(size), unix.MADV_DONTFORK); errno != 0 {
		_, _, _ = unix.Syscall(unix.SYS_MUNMAP, addr, uintptr(size), 0)
		return 0, errnoErr(errno, "MADV_DONTFORK on the internal mapping of VMO %d", v.koid)
	}
	r.imapBase, r.imapSize = addr, size
	return addr, nil
}
