package client

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// Object returns the VMO as an object of package vmo, the object a
// zx_handle_t of package syscalls refers to, so that the zx_* calls work on
// it: zx_vmo_read and zx_vmo_write (ReadAt, WriteAt), zx_vmar_map and
// zx_vmar_unmap (Attach, Unmap, including a partial unmap that splits a
// mapping), zx_vmo_op_range COMMIT/PREFETCH/ALWAYS_NEED (the pages are
// fetched), ZERO (zeros are written) and DONT_NEED (a hint, ignored),
// zx_vmo_get_size, ZX_INFO_VMO (pager-backed; committed bytes from pagerd).
// The object is not resizable (zx_vmo_set_size: ZX_ERR_UNAVAILABLE), and
// DECOMMIT is ZX_ERR_NOT_SUPPORTED, as for
// any pager VMO. A read-only VMO's object is mapped MAP_PRIVATE and its
// handles must not carry ZX_RIGHT_WRITE.
//
// The object owns a duplicate of the memfd. When it is destroyed (its last
// handle closed and its last mapping gone) it closes the VMO (Close): its
// dirty pages stay with pagerd, which writes them back. Object is called
// once per VMO; a second call is ZX_ERR_BAD_STATE.
func (v *VMO) Object() (*vmo.VMO, error) {
	v.mu.Lock()
	if v.object {
		v.mu.Unlock()
		return nil, zxErr(zx.ErrBadState, "VMO %d (%q) already has an object", v.id, v.name)
	}
	v.object = true
	v.mu.Unlock()
	fd, err := unix.FcntlInt(uintptr(v.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("client: duplicating the memfd of VMO %d (%q): %w", v.id, v.name, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err))
	}
	return vmo.Adopt(fd, v.size, v.contentSize, 0, &objectSource{v: v}, v.readOnly)
}

// objectSource is the vmo.Source of an Object: pagerd, through this client.
type objectSource struct {
	v     *VMO
	zeros []byte // a page of zeros for ZERO, allocated on first use
	once  sync.Once
}

// status converts an error of the client into the error a zx_* call on the
// object returns: pagerd's own statuses stay; a page that cannot be
// supplied is ZX_ERR_IO (a failed page, as zx_vmo_read reports one); a
// session that ended is ZX_ERR_PEER_CLOSED.
func status(err error) error {
	if err == nil {
		return nil
	}
	var ze *zx.Error
	switch {
	case errors.As(err, &ze):
		return err
	case errors.Is(err, ErrUnavailable):
		return &zx.Error{Status: zx.ErrIO, Text: err.Error()}
	case errors.Is(err, ErrServerGone), errors.Is(err, ErrClosed):
		return &zx.Error{Status: zx.ErrPeerClosed, Text: err.Error()}
	}
	return &zx.Error{Status: zx.ErrInternal, Text: err.Error()}
}

// Read is zx_vmo_read (vmo.Source).
func (s *objectSource) Read(_ *vmo.VMO, p []byte, off uint64) error {
	_, err := s.v.transfer(p, off, false)
	return status(err)
}

// Write is zx_vmo_write (vmo.Source).
func (s *objectSource) Write(_ *vmo.VMO, p []byte, off uint64) error {
	_, err := s.v.transfer(p, off, true)
	return status(err)
}

// OpRange runs zx_vmo_op_range on page-aligned [off, off+length)
// (vmo.Source).
func (s *objectSource) OpRange(_ *vmo.VMO, op uint32, off, length uint64) error {
	switch op {
	case zx.VMOOpCommit, zx.VMOOpPrefetch, zx.VMOOpAlwaysNeed:
		m, err := s.v.ioMapping()
		if err != nil {
			return status(err)
		}
		return status(m.Populate(off, length, false))
	case zx.VMOOpZero:
		s.once.Do(func() { s.zeros = make([]byte, s.v.c.pageSize) })
		for p := off; p < off+length; p += uint64(len(s.zeros)) {
			if _, err := s.v.transfer(s.zeros, p, true); err != nil {
				return status(err)
			}
		}
		return nil
	case zx.VMOOpDontNeed:
		return nil
	}
	return &zx.Error{Status: zx.ErrNotSupported, Text: fmt.Sprintf("op %d on pagerd VMO %q", op, s.v.name)}
}

// Resize is never called: the object is not resizable (vmo.Source).
func (s *objectSource) Resize(_ *vmo.VMO, newSize uint64) error {
	return &zx.Error{Status: zx.ErrNotSupported, Text: fmt.Sprintf("resize pagerd VMO %q to %#x", s.v.name, newSize)}
}

// CommittedBytes asks pagerd (vmo.Source); 0 if it cannot be asked.
func (s *objectSource) CommittedBytes(*vmo.VMO) uint64 {
	st, err := s.v.Stats()
	if err != nil {
		return 0
	}
	return st.CommittedBytes
}

// Mapped attaches a new mapping, or a piece left by a partial unmap, to
// pagerd (vmo.Source). A piece lies inside the mapping it comes from, which
// pagerd still has, so its faults are served throughout the split.
func (s *objectSource) Mapped(_ *vmo.VMO, m *vmo.Mapping) error {
	mm, err := s.v.Attach(m.Addr, m.Offset, m.Len, m.Perms&zx.VMPermWrite != 0)
	if err != nil {
		return status(err)
	}
	m.Priv = mm
	return nil
}

// Unmapping closes [start, end) of m before it is munmapped
// (vmo.UnmapObserver): PROT_NONE first, so that an access between the
// unregistration and the munmap raises SIGSEGV instead of filling the memfd
// with a zero page, then the range leaves the userfaultfd. What stays of m
// keeps its registration.
func (s *objectSource) Unmapping(_ *vmo.VMO, m *vmo.Mapping, start, end uintptr) {
	mm, _ := m.Priv.(*Mapping)
	if mm == nil {
		return
	}
	unix.Syscall(unix.SYS_MPROTECT, start, end-start, unix.PROT_NONE)
	s.v.c.mu.Lock()
	u := s.v.c.uf
	s.v.c.mu.Unlock()
	if u != nil {
		u.Unregister(start, end-start)
	}
}

// Unmapped tells pagerd the mapping is gone (vmo.Source); its pieces, if
// any, were attached by Mapped before.
func (s *objectSource) Unmapped(_ *vmo.VMO, m *vmo.Mapping) {
	if mm, _ := m.Priv.(*Mapping); mm != nil {
		mm.release()
	}
}

// Destroyed closes the VMO (vmo.Source).
func (s *objectSource) Destroyed(*vmo.VMO) {
	s.v.Close()
}

// ObjectVMO returns the VMO an object of Object stands for; false if obj
// is not such an object.
func ObjectVMO(obj *vmo.VMO) (*VMO, bool) {
	s, ok := obj.Source().(*objectSource)
	if !ok {
		return nil, false
	}
	return s.v, true
}
