// Package vmo implements Zircon's virtual memory objects on Linux: every VMO
// is a memfd, every mapping a real mmap(MAP_SHARED) of it in the process's
// root VMAR (see vmar.go). A plain VMO answers zx_vmo_read/write with
// pread/pwrite, decommits with fallocate(PUNCH_HOLE) and resizes with
// ftruncate; a pager-backed VMO (NewPaged) keeps the same memfd but forwards
// every operation whose outcome depends on supplied pages to its Source
// (source.go), after this package has checked the arguments. Children
// (zx_vmo_create_child, child.go): a slice shares its parent's memfd at an
// offset, a snapshot of a plain VMO is a private copy, a clone of a pager VMO
// is made by its Source (Cloner).
//
// Locking: v.mu guards the small state (content size, name, discardable lock
// count, mapping and in-flight operation counts); v.rw is held shared by
// plain-VMO I/O, range ops and internal-mapping users and exclusively by a
// plain resize; v.resizeMu serializes set_size and content-size changes. No
// VMO lock is held while the Source is called, except resizeMu across
// Source.Resize/Write/OpRange issued by set_size or a content-size change (the
// Source must not call SetSize or SetContentSize on the same VMO from those).
package vmo

import (
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/object"
	"github.com/pagerd/pagerd/zx"
)

// VMO is a virtual memory object backed by a memfd.
type VMO struct {
	koid    zx.Koid
	options uint32
	src     Source
	res     *resources
	share   uintptr       // mmap flag of its mappings: MAP_SHARED, or MAP_PRIVATE (Adopt)
	size    atomic.Uint64 // page-rounded size
	signals object.Signals

	rw       sync.RWMutex
	resizeMu sync.Mutex

	mu          sync.Mutex
	contentSize uint64
	name        [zx.MaxNameLen]byte
	lockCount   int  // ZX_VMO_OP_LOCK nesting of a DISCARDABLE VMO
	numMappings int  // live mappings in the root VMAR
	uses        int  // operations in flight (they keep the VMO from being destroyed)
	noHandles   bool // OnZeroHandles was called
	destroyed   bool

	// Children (child.go). parent, kind and base are set once, when the
	// child is created; children is guarded by mu.
	parent   *VMO
	kind     ChildKind
	base     uint64 // a slice's offset in the memfd it shares with its parent
	children []*VMO
}

// resources are what must be released exactly once: the memfd and the
// internal mapping. They live apart from the VMO so that a GC cleanup can
// release them if a VMO that never had a handle becomes unreachable.
type resources struct {
	mu       sync.Mutex
	fd       int
	closed   bool
	imapBase uintptr // internal mapping (WithInternalMapping), 0 if none
	imapSize uint64
}

func (r *resources) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.unmapInternalLocked()
	_ = unix.Close(r.fd)
	r.fd = -1
	r.closed = true
}

func (r *resources) unmapInternalLocked() {
	if r.imapBase != 0 {
		_, _, _ = unix.Syscall(unix.SYS_MUNMAP, r.imapBase, uintptr(r.imapSize), 0)
		r.imapBase, r.imapSize = 0, 0
	}
}

func newVMO(fd int, size, contentSize uint64, options uint32, src Source) *VMO {
	v := &VMO{koid: object.NewKoid(), options: options, src: src, res: &resources{fd: fd}, share: unix.MAP_SHARED}
	v.size.Store(size)
	v.contentSize = contentSize
	v.signals.Update(0, zx.VMOZeroChildren)
	// A VMO that never got a handle (or whose owner forgot OnZeroHandles) must
	// not leak its memfd: release it when the VMO becomes unreachable. A
	// mapping or a handle keeps the VMO reachable.
	runtime.AddCleanup(v, func(r *resources) { r.close() }, v.res)
	return v
}

// Type is ZX_OBJ_TYPE_VMO.
func (v *VMO) Type() zx.ObjType { return zx.ObjTypeVMO }

// Koid is the VMO's kernel object id.
func (v *VMO) Koid() zx.Koid { return v.koid }

// Fd returns the memfd, or -1 once the VMO has been destroyed (it stays valid
// until Source.Destroyed has returned and no operation is in flight). A
// slice shares its parent's memfd (a duplicate descriptor): its pages start
// at Base in it.
func (v *VMO) Fd() int {
	v.res.mu.Lock()
	defer v.res.mu.Unlock()
	return v.res.fd
}

// Options returns the creation options (ZX_VMO_RESIZABLE, ...).
func (v *VMO) Options() uint32 { return v.options }

// Source returns the pager side of a pager-backed VMO, nil for a plain VMO.
func (v *VMO) Source() Source { return v.src }

// Resizable reports whether the VMO was created with ZX_VMO_RESIZABLE.
func (v *VMO) Resizable() bool { return v.options&zx.VMOResizable != 0 }

// Discardable reports whether the VMO was created with ZX_VMO_DISCARDABLE.
func (v *VMO) Discardable() bool { return v.options&zx.VMODiscardable != 0 }

// Signals is the VMO's signal state: ZX_VMO_ZERO_CHILDREN is asserted from
// creation on (children do not exist yet).
func (v *VMO) Signals() *object.Signals { return &v.signals }

// OnZeroHandles is called when the last handle to the VMO is closed: the VMO
// is destroyed once no mapping and no operation in flight is left.
func (v *VMO) OnZeroHandles() {
	v.mu.Lock()
	v.noHandles = true
	v.finishLocked()
}

// Destroyed reports whether the VMO has been destroyed.
func (v *VMO) Destroyed() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.destroyed
}

// acquire marks an operation in flight, so the memfd stays open and the VMO
// is not destroyed under it; it fails with BAD_STATE once the VMO is gone.
func (v *VMO) acquire() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.destroyed {
		return errf(zx.ErrBadState, "VMO %d has been destroyed", v.koid)
	}
	v.uses++
	return nil
}

func (v *VMO) release() {
	v.mu.Lock()
	v.uses--
	v.finishLocked()
}

// mappingAdded and mappingRemoved count the VMO's mappings (a mapping keeps
// its VMO alive).
func (v *VMO) mappingAdded(n int) {
	v.mu.Lock()
	v.numMappings += n
	v.mu.Unlock()
}

func (v *VMO) mappingRemoved(n int) {
	v.mu.Lock()
	v.numMappings -= n
	v.finishLocked()
}

// finishLocked unlocks v.mu and destroys the VMO if nothing holds it any more.
func (v *VMO) finishLocked() {
	if v.destroyed || !v.noHandles || v.numMappings > 0 || v.uses > 0 {
		v.mu.Unlock()
		return
	}
	v.destroyed = true
	v.mu.Unlock()
	if v.src != nil {
		v.src.Destroyed(v)
	}
	v.res.close()
	if v.parent != nil {
		v.parent.childGone(v)
	}
}
