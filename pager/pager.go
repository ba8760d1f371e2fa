package pager

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/object"
	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// Pager is Zircon's pager object (zx_pager_create). It owns the VMOs created
// through it; closing its last handle (Close) fails every one of them as
// detach does, without COMPLETE packets.
type Pager struct {
	koid zx.Koid
	r    *faultReader

	mu     sync.Mutex
	vmos   map[*pagedVMO]struct{}
	closed bool
}

// New creates a pager (zx_pager_create with options 0). It starts the
// process's fault reader on first use and fails if userfaultfd is missing.
func New() (*Pager, error) {
	r, err := reader()
	if err != nil {
		return nil, err
	}
	return &Pager{koid: object.NewKoid(), r: r, vmos: map[*pagedVMO]struct{}{}}, nil
}

// Type is ZX_OBJ_TYPE_PAGER.
func (p *Pager) Type() zx.ObjType { return zx.ObjTypePager }

// Koid is the pager's kernel object id.
func (p *Pager) Koid() zx.Koid { return p.koid }

// OnZeroHandles closes the pager when its last handle is closed.
func (p *Pager) OnZeroHandles() { p.Close() }

// MaxVMOSize is the largest pager VMO: memfd sizes are bounded by the page
// cache's index, and Zircon refuses sizes near 2^64 with OUT_OF_RANGE.
const MaxVMOSize = uint64(1) << 46

// unboundedSize is the size of a ZX_VMO_UNBOUNDED pager VMO.
const unboundedSize = uint64(1) << 40

// CreateVMO is zx_pager_create_vmo after handle checks: a VMO of size bytes
// (rounded up to pages; content size = size) whose absent pages are requested
// on port with key. Options: ZX_VMO_RESIZABLE, ZX_VMO_TRAP_DIRTY,
// ZX_VMO_UNBOUNDED; any other bit is INVALID_ARGS; too large is OUT_OF_RANGE.
func (p *Pager) CreateVMO(options uint32, prt *port.Port, key uint64, size uint64) (*vmo.VMO, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, zx.Errorf(zx.ErrBadState, "pager is closed")
	}
	if options&^(zx.VMOResizable|zx.VMOTrapDirty|zx.VMOUnbounded) != 0 {
		return nil, zx.Errorf(zx.ErrInvalidArgs, "pager VMO options %#x: only RESIZABLE, TRAP_DIRTY and UNBOUNDED are valid", options)
	}
	if options&zx.VMOResizable != 0 && options&zx.VMOUnbounded != 0 {
		return nil, zx.Errorf(zx.ErrInvalidArgs, "ZX_VMO_RESIZABLE and ZX_VMO_UNBOUNDED are exclusive")
	}
	vmoSize := size
	if options&zx.VMOUnbounded != 0 {
		vmoSize = unboundedSize
		if size > vmoSize {
			return nil, zx.Errorf(zx.ErrOutOfRange, "stream size %d exceeds the unbounded size %d", size, vmoSize)
		}
	}
	if vmoSize > MaxVMOSize {
		return nil, zx.Errorf(zx.ErrOutOfRange, "pager VMO size %d exceeds %d", size, MaxVMOSize)
	}
	rounded := (vmoSize + zx.PageSize - 1) &^ (zx.PageSize - 1)
	trap := options&zx.VMOTrapDirty != 0
	pv := &pagedVMO{pager: p, r: p.r, trap: trap, async: !trap}
	pv.table = newTable(rounded / zx.PageSize)
	pv.proxy.port, pv.proxy.key = prt, key
	pv.proxy.slot.SetOnDequeue(func(zx.PortPacket) {
		pv.mu.Lock()
		pv.proxy.dequeued()
		pv.mu.Unlock()
	})
	v, err := vmo.NewPagedContent(vmoSize, size, options, pv)
	if err != nil {
		return nil, err
	}
	pv.vmo = v
	if err := pv.mapWindow(rounded); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.vmos[pv] = struct{}{}
	p.mu.Unlock()
	return v, nil
}

// mapWindow (re)creates the supply window over [0, size): a MAP_SHARED
// mapping of the memfd registered MISSING with the process's userfaultfd,
// the destination of every UFFDIO_COPY. Nothing ever touches it.
func (pv *pagedVMO) mapWindow(size uint64) error {
	pv.unmapWindow()
	if size == 0 {
		return nil
	}
	addr, _, errno := unix.Syscall6(unix.SYS_MMAP, 0, uintptr(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_SHARED, uintptr(pv.vmo.Fd()), 0)
	if errno != 0 {
		return zx.Errorf(zx.ErrNoMemory, "mmap of a %d-byte supply window: %v", size, errno)
	}
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, addr, uintptr(size), unix.MADV_DONTFORK)
	if _, err := pv.r.u.Register(addr, uintptr(size), uffd.RegisterModeMissing); err != nil {
		_, _, _ = unix.Syscall(unix.SYS_MUNMAP, addr, uintptr(size), 0)
		return zx.Errorf(zx.ErrNoMemory, "registering the supply window: %v", err)
	}
	pv.window, pv.winLen = addr, uintptr(size)
	pv.winMap = &mapping{pv: pv, u: pv.r.u, start: addr, end: addr + uintptr(size), window: true}
	pv.r.addMapping(pv.winMap)
	return nil
}

func (pv *pagedVMO) unmapWindow() {
	if pv.window != 0 {
		pv.r.removeMapping(pv.winMap)
		_, _, _ = unix.Syscall(unix.SYS_MUNMAP, pv.window, pv.winLen, 0)
		pv.window, pv.winLen, pv.winMap = 0, 0, nil
	}
}

// owned returns v's pager state if p created v.
func (p *Pager) owned(v *vmo.VMO) (*pagedVMO, bool) {
	pv, ok := v.Source().(*pagedVMO)
	if !ok || pv.pager != p {
		return nil, false
	}
	return pv, true
}

// Owns reports whether v is a VMO created by this pager.
func (p *Pager) Owns(v *vmo.VMO) bool {
	_, ok := p.owned(v)
	return ok
}

// Detach is zx_pager_detach_vmo after handle checks (spec §3.3). It is
// idempotent. INVALID_ARGS if v is not this pager's VMO.
func (p *Pager) Detach(v *vmo.VMO) error {
	pv, ok := p.owned(v)
	if !ok {
		return zx.Errorf(zx.ErrInvalidArgs, "VMO %d was not created by pager %d", v.Koid(), p.koid)
	}
	pv.mu.Lock()
	defer pv.mu.Unlock()
	pv.detachLocked(true)
	return nil
}

// detachLocked stops requests for good: every outstanding request completes
// (waiters retry and fail with BAD_STATE; mapped faulters are poisoned),
// clean pages are decommitted (dirty ones stay), and one COMPLETE packet is
// queued after any packet in flight when complete is set.
func (pv *pagedVMO) detachLocked(complete bool) {
	if pv.detached {
		return
	}
	pv.detached = true
	pv.settleWrites() // writes through mappings make pages dirty, and dirty pages stay
	for _, r := range pv.tracker.all() {
		pv.complete(r, zx.ErrOk)
	}
	pv.decommitClean()
	// Clones sharing pages of this VMO lose them: their next access asks
	// here again and fails (pages they wrote stay).
	pv.dropChildren(0, pv.pages())
	if complete {
		pv.proxy.complete()
	}
}

// decommitClean drops every clean page (and clean zero marker) of the VMO:
// runs of them are punched out of the memfd, which also unmaps them from
// every mapping, so later accesses fault and fail.
func (pv *pagedVMO) decommitClean() {
	pv.forCleanRuns(func(a, b uint64) {
		for pg := a; pg < b; pg++ {
			pv.table.set(pg, stAbsent)
		}
		_ = unix.Fallocate(pv.vmo.Fd(), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE,
			int64(a*zx.PageSize), int64((b-a)*zx.PageSize))
	})
}

// Close closes the pager (its last handle is gone): every VMO fails as if
// detached, blocked threads are released with BAD_STATE (SIGBUS for mapped
// ones), no COMPLETE packet is sent, resident pages stay readable.
func (p *Pager) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	vs := make([]*pagedVMO, 0, len(p.vmos))
	for pv := range p.vmos {
		vs = append(vs, pv)
	}
	p.mu.Unlock()
	for _, pv := range vs {
		pv.mu.Lock()
		pv.closed = true
		pv.proxy.close()
		for _, r := range pv.tracker.all() {
			pv.complete(r, zx.ErrOk)
		}
		pv.mu.Unlock()
	}
}

func (p *Pager) forget(pv *pagedVMO) {
	p.mu.Lock()
	delete(p.vmos, pv)
	p.mu.Unlock()
}

// String names the pager for error messages.
func (p *Pager) String() string { return fmt.Sprintf("pager %d", p.koid) }
