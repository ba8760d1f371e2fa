package client

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/zx"
)

// Mapping states.
const (
	stateMapped int32 = iota
	stateUnmapping
)

// Mapping is a range of a VMO mapped into this process (MAP_SHARED) and
// registered with the session's userfaultfd and with pagerd, which
// supplies its pages on first access. Its methods may be called from many
// goroutines at once.
type Mapping struct {
	v        *VMO
	id       uint64
	ptr      unsafe.Pointer // mmap'd, not Go memory
	length   uint64
	offset   uint64
	writable bool
	owned    bool // mmap'd by Map (Unmap munmaps it), not by the caller of Attach

	mu    sync.RWMutex // Populate (read) against Unmap (write)
	state atomic.Int32
	gone  chan struct{} // closed when Unmap has finished
}

// Map maps [offset, offset+length) of the VMO, read-only or writable, and
// registers the mapping with the session's userfaultfd (MISSING, and WP
// when writable) and with pagerd. offset and length must be multiples of
// the page size, length non-zero and the range inside Size. A writable
// mapping of a read-only VMO is refused with ZX_ERR_ACCESS_DENIED. The
// first Map of a session creates its userfaultfd and starts its guard.
// Errors from pagerd are *zx.Error: ZX_ERR_NOT_FOUND, ZX_ERR_OUT_OF_RANGE,
// ZX_ERR_ACCESS_DENIED, ZX_ERR_NO_RESOURCES (the client's mapped-bytes
// limit), ZX_ERR_INVALID_ARGS, ZX_ERR_ALREADY_BOUND, ZX_ERR_BAD_STATE; on
// any error nothing stays mapped or registered.
func (v *VMO) Map(offset, length uint64, writable bool) (*Mapping, error) {
	if err := v.checkMap("map", offset, length, writable); err != nil {
		return nil, err
	}
	if err := v.begin(); err != nil {
		return nil, err
	}
	defer v.finish()

	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	ptr, err := unix.MmapPtr(v.fd, int64(offset), nil, uintptr(length), prot, v.MapFlags())
	if err != nil {
		return nil, fmt.Errorf("client: map VMO %d (%q) [%#x, +%#x) writable=%v: %w", v.id, v.name, offset, length, writable, os.NewSyscallError("mmap", err))
	}
	m, err := v.attach(ptr, offset, length, writable, true)
	if err != nil {
		unix.MunmapPtr(ptr, uintptr(length))
		return nil, err
	}
	return m, nil
}

// MapFlags is the mmap sharing flag a mapping of the VMO's memfd must use:
// MAP_SHARED, or MAP_PRIVATE for a read-only VMO. A read-only VMO comes as
// an O_RDONLY fd, and userfaultfd refuses to register a shared mapping of a
// file it may not write (EPERM: the VMA lacks VM_MAYWRITE). A private
// mapping may always be written (copy-on-write), so it registers; read
// faults still map the shared pages pagerd supplies, and nothing this
// process does to its mapping can reach the VMO.
func (v *VMO) MapFlags() int {
	if v.readOnly {
		return unix.MAP_PRIVATE
	}
	return unix.MAP_SHARED
}

// Attach registers a mapping that the caller made itself: [addr,
// addr+length) must be an mmap of the VMO's memfd (Fd) from VMO offset
// offset on, with the flag MapFlags gives, writable (PROT_WRITE) only if
// writable is set. Attach marks it MADV_DONTFORK and registers it with the
// session's userfaultfd and with pagerd, as Map does, so pagerd supplies its
// pages from then on. Until Attach returns, nothing must touch the range.
// The argument rules and errors are Map's, and addr must be page-aligned.
// Unmap of the returned Mapping unregisters the range and leaves it
// PROT_NONE; unmapping the memory is the caller's. Package syscalls uses
// Attach for zx_vmar_map of a pagerd VMO.
func (v *VMO) Attach(addr uintptr, offset, length uint64, writable bool) (*Mapping, error) {
	if err := v.checkMap("attach", offset, length, writable); err != nil {
		return nil, err
	}
	if uint64(addr)%v.c.pageSize != 0 || addr == 0 {
		return nil, zxErr(zx.ErrInvalidArgs, "attach to VMO %d (%q): address %#x is not page-aligned", v.id, v.name, addr)
	}
	if err := v.begin(); err != nil {
		return nil, err
	}
	defer v.finish()
	return v.attach(pointerAt(addr), offset, length, writable, false)
}

// pointerAt converts the address of memory outside the Go heap (an mmap) to
// a pointer, without the uintptr-to-pointer conversion vet objects to.
func pointerAt(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }

// checkMap checks the arguments of Map and Attach.
func (v *VMO) checkMap(what string, offset, length uint64, writable bool) error {
	ps := v.c.pageSize
	if length == 0 || offset%ps != 0 || length%ps != 0 {
		return zxErr(zx.ErrInvalidArgs, "%s VMO %d (%q): offset %#x and length %#x must be multiples of the page size %#x, length non-zero", what, v.id, v.name, offset, length, ps)
	}
	if end := offset + length; end < offset || end > v.size {
		return zxErr(zx.ErrOutOfRange, "%s VMO %d (%q): [%#x, +%#x) is outside its %#x bytes", what, v.id, v.name, offset, length, v.size)
	}
	if writable && v.readOnly {
		return zxErr(zx.ErrAccessDenied, "%s VMO %d (%q) writable: the VMO is read-only", what, v.id, v.name)
	}
	if uint64(uintptr(length)) != length {
		return zxErr(zx.ErrOutOfRange, "%s VMO %d (%q): length %#x does not fit the address space", what, v.id, v.name, length)
	}
	return nil
}

// attach registers the mapped range at ptr with the uffd, the guard and
// pagerd; on error nothing stays registered (the memory stays mapped).
func (v *VMO) attach(ptr unsafe.Pointer, offset, length uint64, writable, owned bool) (*Mapping, error) {
	c := v.c
	addr := uintptr(ptr)
	fail := func(err error) (*Mapping, error) {
		return nil, withContext(err, "map VMO %d (%q) [%#x, +%#x) writable=%v at %#x", v.id, v.name, offset, length, writable, addr)
	}
	// A forked child must not inherit a mapping whose faults nobody
	// would serve (the child's copy is not registered with the uffd).
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(length), unix.MADV_DONTFORK); e != 0 {
		return fail(os.NewSyscallError("madvise MADV_DONTFORK", e))
	}
	u, g, err := c.ensureUFFD()
	if err != nil {
		return fail(err)
	}
	mode := uffd.RegisterModeMissing
	if writable {
		mode |= uffd.RegisterModeWP
	}
	if _, err := u.Register(addr, uintptr(length), mode); err != nil {
		return fail(err)
	}
	if err := g.add(addr, length); err != nil {
		u.Unregister(addr, uintptr(length))
		return fail(err)
	}
	id, err := c.registerMapping(u, v.id, uint64(addr), length, offset, writable)
	if err != nil {
		g.remove(addr, length)
		u.Unregister(addr, uintptr(length))
		return fail(err)
	}
	m := &Mapping{v: v, id: id, ptr: ptr, length: length, offset: offset, writable: writable, owned: owned, gone: make(chan struct{})}
	v.mu.Lock()
	v.maps[m] = struct{}{}
	v.mu.Unlock()
	return m, nil
}

// Bytes returns the mapped memory. It stays valid until Unmap (or the
// Close of the VMO or the Client); touching it afterwards raises SIGSEGV.
//
// # The Go fault hazard
//
// A load or store of a page that is not present yet is a page fault that
// pagerd, another process, resolves. While the fault waits, the
// goroutine's OS thread sleeps in the kernel but the Go runtime counts it
// as running: it keeps its P and cannot be preempted, and if it faulted
// inside runtime assembly (copy, bytes.Equal, ...) a stop-the-world, such
// as the GC's, waits for it. While pagerd is alive that is only a delay,
// so touching Bytes() from Go is fine.
//
// If pagerd dies, the session's guard (a C thread, which needs no Go
// scheduling) answers every access to a page that is not present with
// SIGBUS — never with a silent zero page. For a goroutine the Go runtime
// turns that SIGBUS into a fatal "unexpected fault address" crash, or,
// under debug.SetPanicOnFault(true), into a recoverable panic. Callers who
// need a clean error instead call Populate on the range first: its faults
// are taken inside a system call, and an unavailable page is an error
// wrapping ErrUnavailable. Pages that pagerd could not load (a store
// error) behave the same way while pagerd is alive.
func (m *Mapping) Bytes() []byte {
	return unsafe.Slice((*byte)(m.ptr), m.length)
}

// ID returns pagerd's id for the mapping.
func (m *Mapping) ID() uint64 { return m.id }

// Addr returns the address of the mapping.
func (m *Mapping) Addr() uintptr { return uintptr(m.ptr) }

// Len returns the mapping's length in bytes.
func (m *Mapping) Len() uint64 { return m.length }

// Offset returns the VMO offset the mapping starts at.
func (m *Mapping) Offset() uint64 { return m.offset }

// Writable reports whether the mapping is writable.
func (m *Mapping) Writable() bool { return m.writable }

// VMO returns the VMO the mapping maps.
func (m *Mapping) VMO() *VMO { return m.v }

// Populate makes the pages of [offset, offset+length) of the mapping
// (offsets relative to the mapping, rounded out to whole pages) present,
// with madvise(MADV_POPULATE_READ), or MADV_POPULATE_WRITE when write is
// set (which also takes the write faults that mark the pages dirty; the
// mapping must be writable). The faults are taken inside the system call,
// so the calling goroutine does not hold a P while pagerd serves them and
// never gets a signal: a page that pagerd could not load, or that the
// guard poisoned because pagerd is gone, makes Populate fail with an error
// wrapping ErrUnavailable and the errno (unix.EHWPOISON or unix.EFAULT).
// Populating zero bytes does nothing.
func (m *Mapping) Populate(offset, length uint64, write bool) error {
	if length == 0 {
		return nil
	}
	if end := offset + length; end < offset || end > m.length {
		return zxErr(zx.ErrOutOfRange, "populate mapping %d: [%#x, +%#x) is outside its %#x bytes", m.id, offset, length, m.length)
	}
	if write && !m.writable {
		return zxErr(zx.ErrAccessDenied, "populate mapping %d for writing: the mapping is read-only", m.id)
	}
	ps := m.v.c.pageSize
	start := offset &^ (ps - 1)
	end := (offset + length + ps - 1) &^ (ps - 1)
	advice := uintptr(unix.MADV_POPULATE_READ)
	if write {
		advice = unix.MADV_POPULATE_WRITE
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.state.Load() != stateMapped {
		return ErrClosed
	}
	for {
		_, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(m.ptr)+uintptr(start), uintptr(end-start), advice)
		if e == unix.EINTR {
			continue
		}
		if e == 0 {
			return nil
		}
		if m.state.Load() != stateMapped {
			return ErrClosed // Unmap started: the range is inaccessible now
		}
		what := fmt.Sprintf("client: populate [%#x, %#x) of mapping %d (VMO %d %q at offset %#x) write=%v", start, end, m.id, m.v.id, m.v.name, m.offset, write)
		if e == unix.EHWPOISON || e == unix.EFAULT {
			return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, e)
		}
		return fmt.Errorf("%s: %w", what, os.NewSyscallError("madvise", e))
	}
}

// Unmap removes the mapping: it makes the range inaccessible, unregisters
// it from the userfaultfd (so that no later fault for it can reach pagerd),
// tells pagerd (UnregisterMapping) and then munmaps it (a mapping from
// Attach is left mapped, PROT_NONE, for its owner to munmap). Concurrent
// Populate calls fail with ErrClosed; a thread touching the range during
// Unmap gets SIGSEGV (never a zero page). If the session has already
// ended, the mapping is still removed and Unmap returns nil. A second
// Unmap returns ErrClosed.
func (m *Mapping) Unmap() error {
	if !m.state.CompareAndSwap(stateMapped, stateUnmapping) {
		return ErrClosed
	}
	defer close(m.gone)
	err := m.unmap()
	m.v.mu.Lock()
	delete(m.v.maps, m)
	m.v.mu.Unlock()
	return err
}

// release forgets a mapping from Attach whose memory the caller has already
// munmapped, or split into pieces that stay registered (package vmo's
// partial unmap, see objectSource): the guard and pagerd forget it; the
// userfaultfd registration and the memory are left alone.
func (m *Mapping) release() {
	if !m.state.CompareAndSwap(stateMapped, stateUnmapping) {
		return
	}
	defer close(m.gone)
	c := m.v.c
	c.mu.Lock()
	g := c.g
	c.mu.Unlock()
	g.remove(uintptr(m.ptr), m.length)
	m.mu.Lock() // wait for Populate calls to return
	m.mu.Unlock()
	_, fds, _ := c.roundTrip(&proto.UnregisterMapping{ReqID: c.newID(), MappingID: m.id})
	closeFDs(fds)
	m.v.mu.Lock()
	delete(m.v.maps, m)
	m.v.mu.Unlock()
}

func (m *Mapping) unmap() error {
	c := m.v.c
	addr, n := uintptr(m.ptr), uintptr(m.length)
	var errs []error
	// Between UFFDIO_UNREGISTER and munmap an access would be an ordinary
	// fault: on a missing page it would put a zero page into the memfd,
	// which every mapping of the VMO would then see. Close that window
	// first: with PROT_NONE such an access raises SIGSEGV instead.
	if _, _, e := unix.Syscall(unix.SYS_MPROTECT, addr, n, unix.PROT_NONE); e != 0 {
		errs = append(errs, fmt.Errorf("client: unmap mapping %d at %#x: %w", m.id, addr, os.NewSyscallError("mprotect", e)))
	}
	c.mu.Lock()
	u, g := c.uf, c.g
	c.mu.Unlock()
	// Unregistering wakes any fault still waiting in the range (a
	// Populate, say); it retries and fails on PROT_NONE.
	if err := u.Unregister(addr, n); err != nil {
		errs = append(errs, fmt.Errorf("client: unmap mapping %d: %w", m.id, err))
	}
	g.remove(addr, m.length)
	m.mu.Lock() // wait for Populate calls to return
	m.mu.Unlock()
	_, fds, err := c.roundTrip(&proto.UnregisterMapping{ReqID: c.newID(), MappingID: m.id})
	closeFDs(fds)
	if err != nil && !sessionGone(err) {
		errs = append(errs, withContext(err, "unregister mapping %d at %#x", m.id, addr))
	}
	if !m.owned {
		return errors.Join(errs...)
	}
	if err := unix.MunmapPtr(m.ptr, n); err != nil {
		errs = append(errs, fmt.Errorf("client: unmap mapping %d at %#x: %w", m.id, addr, os.NewSyscallError("munmap", err)))
	}
	return errors.Join(errs...)
}
