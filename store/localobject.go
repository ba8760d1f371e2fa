package store

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrWouldBlock: ReadAtNoWait would have had to wait for storage (part of
// the range is not in the page cache). ReadAt reads it.
var ErrWouldBlock = errors.New("store: data not in the page cache")

// LocalObject is implemented by objects whose bytes are a local regular
// file (FileStore and DirStore objects): a pager can then read them
// without blocking when they are cached, and copy from a mapping of the
// file instead of reading it into a buffer first.
type LocalObject interface {
	Object
	// ReadAtNoWait is ReadAt that only copies what is in the page cache
	// (preadv2 with RWF_NOWAIT): it returns ErrWouldBlock, and nothing
	// usable, when any of p would need I/O. It never blocks on storage.
	ReadAtNoWait(p []byte, off uint64) (int, error)
	// MapData maps the first length bytes of the data file read-only and
	// shared (mmap PROT_READ, MAP_SHARED): its pages are the file's page
	// cache, so writes through WritePages show in it. Unmap it with
	// unix.Munmap. The mapping is meant as the source of a kernel copy
	// (UFFDIO_COPY), never to be read by Go code: a page beyond the
	// file's end (after a truncation by anyone) raises SIGBUS on a user
	// access, which kills a Go program, while the kernel's own access
	// fails with EFAULT.
	MapData(length uint64) ([]byte, error)
	// Readable returns the error ReadAt would return before reading
	// (closed, or broken by a failed write-back), or nil. If it is nil,
	// it also returns the data file's current size (fstat): the object's
	// size, unless someone truncated the file behind the store's back, in
	// which case a copy from MapData's mapping reads zeros up to the end
	// of the page holding the new end and fails beyond it, where ReadAt
	// reports the short file.
	Readable() (fileSize uint64, err error)
}

var (
	_ LocalObject = (*fileObject)(nil)
)

func (o *fileObject) Readable() (uint64, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if err := o.check(); err != nil {
		return 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(o.data.Fd()), &st); err != nil {
		return 0, fmt.Errorf("store: stat object %q: %w", o.name, err)
	}
	return uint64(st.Size), nil
}

func (o *fileObject) ReadAtNoWait(p []byte, off uint64) (int, error) {
	// A write-back holds o.mu across its journal write and fsyncs; a caller
	// that must not block (pagerd's fault loop) gets ErrWouldBlock then.
	if !o.mu.TryRLock() {
		return 0, ErrWouldBlock
	}
	defer o.mu.RUnlock()
	if err := o.check(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= o.size || off > 1<<62 {
		return 0, ErrWouldBlock // ReadAt gives the precise answer
	}
	iov := unix.Iovec{Base: &p[0]}
	iov.SetLen(len(p))
	for {
		n, _, e := unix.Syscall6(unix.SYS_PREADV2, o.data.Fd(), uintptr(unsafe.Pointer(&iov)), 1,
			uintptr(off), uintptr(off>>32), unix.RWF_NOWAIT)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN || e == syscall.EOPNOTSUPP:
			return 0, ErrWouldBlock
		case e != 0:
			return 0, fmt.Errorf("store: reading object %q at %#x: %w", o.name, off, e)
		case int(n) < len(p):
			// Partly cached, or the file shrank under us: ReadAt
			// tells which.
			return int(n), ErrWouldBlock
		}
		return int(n), nil
	}
}

func (o *fileObject) MapData(length uint64) ([]byte, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if err := o.check(); err != nil {
		return nil, err
	}
	if length == 0 || length > 1<<46 {
		return nil, fmt.Errorf("store: object %q: cannot map %d bytes", o.name, length)
	}
	b, err := unix.Mmap(int(o.data.Fd()), 0, int(length), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("store: mapping object %q (%d bytes): %w", o.name, length, err)
	}
	return b, nil
}
