package server

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/store"
	"github.com/pagerd/pagerd/uffd"
)

const pageSize = store.PageSize

// Page states, one byte per page of a VMO.
const (
	pgPresent  uint8 = 1 << iota // in the memfd (supplied)
	pgDirty                      // written since it was last written back
	pgAwaiting                   // write-back began (BEGIN) and it was not written since
	pgFetching                   // a worker is reading it from the store
)

// sharedVMO is one open store object: a memfd every client maps, pagerd's
// supply window onto it, and the page-state table. Clients that open the
// same name share it.
type sharedVMO struct {
	s        *Server
	name     string
	obj      store.Object
	local    store.LocalObject // obj, if its bytes are a local file; else nil
	readOnly bool
	size     uint64 // bytes, a multiple of pageSize
	content  uint64 // the object's size in bytes
	memfd    int
	roFd     int     // an O_RDONLY open of the memfd, sent to clients of read-only VMOs
	window   uintptr // pagerd's mapping of the memfd, registered MISSING with s.win; never touched
	winMap   []byte  // the same mapping, for Munmap only: never read or written
	src      uintptr // a read-only mapping of the store file (local objects), the source of fills; 0: none
	srcLen   uint64  // its length: the VMO's size
	srcMap   []byte  // the same mapping, for Munmap only: never read by Go (SIGBUS beyond the file's end)

	refs int // client opens; under s.mu

	mu        sync.Mutex
	state     []uint8
	fills     []*fill // fetches in progress
	freeFills []*fill
	mappings  []*mapping // every registered mapping of every client
	closed    bool       // the last client left: no new fills
	present   uint64     // pages
	dirty     uint64     // pages with pgDirty
	writeback sync.Mutex // one write-back at a time

	readFaults  atomic.Uint64
	writeFaults atomic.Uint64
	supplied    atomic.Uint64 // bytes
}

// fill is one fetch in progress: pages [start, start+n) are being read
// from the store; the faults waiting for them are woken when it lands.
type fill struct {
	start, n uint64
	owner    *client // credited with the supplied bytes
	waiters  []waiter
}

// waiter is a fault waiting for a page.
type waiter struct {
	j job
	m *mapping
}

func newSharedVMO(s *Server, name string, obj store.Object) (*sharedVMO, error) {
	osize, err := obj.Size()
	if err != nil {
		return nil, fmt.Errorf("size of %q: %w", name, err)
	}
	size := (osize + pageSize - 1) &^ (pageSize - 1)
	if size > MaxVMOSize {
		return nil, fmt.Errorf("object %q is %d bytes, more than the %d a VMO may have", name, osize, uint64(MaxVMOSize))
	}
	v := &sharedVMO{s: s, name: name, obj: obj, readOnly: obj.ReadOnly(), size: size, content: osize, memfd: -1, roFd: -1}
	v.memfd, err = unix.MemfdCreate("pagerd:"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create for %q: %w", name, err)
	}
	if err := unix.Ftruncate(v.memfd, int64(size)); err != nil {
		v.release()
		return nil, fmt.Errorf("ftruncate memfd of %q to %d: %w", name, size, err)
	}
	v.roFd, err = unix.Open(fmt.Sprintf("/proc/self/fd/%d", v.memfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		v.release()
		return nil, fmt.Errorf("reopen memfd of %q read-only: %w", name, err)
	}
	if size > 0 {
		b, err := unix.Mmap(v.memfd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			v.release()
			return nil, fmt.Errorf("map supply window of %q (%d bytes): %w", name, size, err)
		}
		v.winMap = b
		v.window = uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if _, err := s.win.Register(v.window, uintptr(size), uffd.RegisterModeMissing); err != nil {
			v.release()
			return nil, fmt.Errorf("register supply window of %q: %w", name, err)
		}
	}
	if lo, ok := obj.(store.LocalObject); ok {
		v.local = lo
		if size > 0 && !s.cfg.NoStoreMapping {
			// A failure only costs the second copy: fills read.
			if b, err := lo.MapData(size); err == nil {
				v.srcMap, v.srcLen = b, size
				v.src = uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			}
		}
	}
	v.state = make([]uint8, size/pageSize)
	return v, nil
}

// release unmaps the window and closes the memfd; the store object is
// closed by the caller.
func (v *sharedVMO) release() {
	if v.srcMap != nil {
		unix.Munmap(v.srcMap)
		v.srcMap, v.src, v.srcLen = nil, 0, 0
	}
	if v.winMap != nil {
		unix.Munmap(v.winMap)
		v.winMap, v.window = nil, 0
	}
	if v.roFd >= 0 {
		unix.Close(v.roFd)
		v.roFd = -1
	}
	if v.memfd >= 0 {
		unix.Close(v.memfd)
		v.memfd = -1
	}
}

// markDirtyLocked records a write to page p; v.mu is held.
func (v *sharedVMO) markDirtyLocked(p uint64) {
	st := v.state[p]
	if st&pgDirty == 0 {
		v.dirty++
		v.s.m.AddDirtyPages(1)
	}
	v.state[p] = (st | pgDirty) &^ pgAwaiting
}

// claimLocked marks the absent pages [p, p+n) as fetching, stopping at the
// first page that is present or already being fetched, and returns how
// many it claimed (at least 1: page p itself is absent). v.mu is held.
func (v *sharedVMO) claimLocked(p, n uint64) uint64 {
	end := min(p+n, uint64(len(v.state)))
	k := p
	for ; k < end; k++ {
		if v.state[k]&(pgPresent|pgFetching) != 0 {
			break
		}
		v.state[k] |= pgFetching
	}
	return k - p
}

// fillFor returns the fill fetching page p; v.mu is held.
func (v *sharedVMO) fillFor(p uint64) *fill {
	for _, f := range v.fills {
		if p >= f.start && p < f.start+f.n {
			return f
		}
	}
	return nil
}

func (v *sharedVMO) removeFillLocked(f *fill) {
	for i, g := range v.fills {
		if g == f {
			last := len(v.fills) - 1
			v.fills[i] = v.fills[last]
			v.fills[last] = nil
			v.fills = v.fills[:last]
			return
		}
	}
}

// errShortStore: the store returned fewer bytes than the object's size says.
var errShortStore = errors.New("store returned fewer bytes than the object's size")

// read fills buf with the object's bytes at off, zero-filling past the
// object's end. On an error it returns how many bytes from off it did
// fill.
func (v *sharedVMO) read(buf []byte, off uint64) (uint64, error) {
	want := uint64(len(buf))
	if off >= v.content {
		clear(buf)
		return want, nil
	}
	if off+want > v.content {
		want = v.content - off
		clear(buf[want:])
	}
	n, err := v.obj.ReadAt(buf[:want], off)
	if uint64(n) == want {
		return uint64(len(buf)), nil
	}
	if err == nil {
		err = errShortStore
	}
	return uint64(max(n, 0)), fmt.Errorf("read %q at %#x (%d bytes): %w", v.name, off, want, err)
}

// readNoWait is read from the page cache only (store.LocalObject's
// ReadAtNoWait): any error, store.ErrWouldBlock included, means buf is not
// filled and read must be used.
func (v *sharedVMO) readNoWait(buf []byte, off uint64) error {
	want := uint64(len(buf))
	if off >= v.content {
		clear(buf)
		return nil
	}
	if off+want > v.content {
		want = v.content - off
		clear(buf[want:])
	}
	n, err := v.local.ReadAtNoWait(buf[:want], off)
	if err == nil && uint64(n) != want {
		err = store.ErrWouldBlock
	}
	return err
}

// closeAndDrain stops new fills and waits until the ones in progress
// landed, so the window can be unmapped safely.
func (v *sharedVMO) closeAndDrain() {
	for {
		v.mu.Lock()
		v.closed = true
		n := len(v.fills)
		v.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// stats is a consistent snapshot of the counters.
type vmoStats struct {
	present, dirty uint64
	mappings       int
}

func (v *sharedVMO) stats() vmoStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return vmoStats{present: v.present, dirty: v.dirty, mappings: len(v.mappings)}
}

func (v *sharedVMO) addMapping(m *mapping) {
	v.mu.Lock()
	v.mappings = append(v.mappings, m)
	v.mu.Unlock()
}

func (v *sharedVMO) removeMapping(m *mapping) {
	v.mu.Lock()
	for i, x := range v.mappings {
		if x == m {
			v.mappings = append(v.mappings[:i], v.mappings[i+1:]...)
			break
		}
	}
	v.mu.Unlock()
}
