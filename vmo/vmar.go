package vmo

import (
	"math/bits"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/object"
	"github.com/pagerd/pagerd/zx"
)

// The root VMAR spans Zircon's x86-64 user address space, [16 MiB,
// 128 TiB - 4 KiB): ZX_VM_SPECIFIC offsets are relative to RootBase. Linux
// shares that space with the Go runtime, libc and everything else in the
// process; the VMAR only knows the mappings it made, and it never unmaps or
// replaces memory it did not map: a ZX_VM_SPECIFIC mapping over foreign
// memory is ALREADY_EXISTS (MAP_FIXED_NOREPLACE), and zx_vmar_unmap over
// foreign memory leaves it alone.
const (
	RootBase uintptr = 0x1000000
	RootSize uint64  = 0x7ffffefff000
)

// VMAR op codes (zx_vmar_op_range) beside the VMO op numbers they share.
const (
	VMAROpCommit     uint32 = 1
	VMAROpDecommit   uint32 = 2
	VMAROpMapRange   uint32 = 3
	VMAROpZero       uint32 = 10
	VMAROpDontNeed   uint32 = 12
	VMAROpAlwaysNeed uint32 = 13
	VMAROpPrefetch   uint32 = 14
)

// vmAlignBase is ZX_VM_ALIGN_BASE: bits 24-31 of the options hold log2 of
// the requested alignment (10..32, or 0 for none).
const vmAlignBase = 24

// knownMapOptions are the option bits below the alignment field that
// zx_vmar_map understands (ZX_VM_FAULT_BEYOND_STREAM_SIZE is not supported:
// INVALID_ARGS).
const knownMapOptions = permMask | zx.VMCompact | zx.VMSpecific | zx.VMSpecificOverwrite |
	zx.VMCanMapSpecific | zx.VMCanMapRead | zx.VMCanMapWrite | zx.VMCanMapExecute |
	zx.VMMapRange | zx.VMRequireNonResizable | zx.VMAllowFaults | zx.VMOffsetIsUpperLimit |
	zx.VMPermReadIfXOM

// VMAR is a virtual memory address region; pagerd has only the root VMAR.
type VMAR struct {
	koid zx.Koid
	base uintptr
	size uint64

	// opMu serializes Map and Unmap, including their Source callbacks: a
	// Source must not map or unmap from Mapped or Unmapped.
	opMu sync.Mutex
	// mu guards maps (sorted by address, never overlapping) for Lookup and OpRange.
	mu   sync.RWMutex
	maps []*Mapping
}

var root = &VMAR{koid: object.NewKoid(), base: RootBase, size: RootSize}

// Root returns the process's root VMAR (zx_vmar_root_self).
func Root() *VMAR { return root }

// Type is ZX_OBJ_TYPE_VMAR.
func (r *VMAR) Type() zx.ObjType { return zx.ObjTypeVMAR }

// Koid is the VMAR's kernel object id.
func (r *VMAR) Koid() zx.Koid { return r.koid }

// Base is the VMAR's first address.
func (r *VMAR) Base() uintptr { return r.base }

// Size is the VMAR's length in bytes.
func (r *VMAR) Size() uint64 { return r.size }

func (r *VMAR) inRange(addr uintptr, size uint64) bool {
	if addr < r.base {
		return false
	}
	off := uint64(addr - r.base)
	return off <= r.size && size <= r.size-off
}

// Map is zx_vmar_map after the handle checks. options: ZX_VM_PERM_READ,
// WRITE, EXECUTE (write or execute need read), READ_IF_XOM_UNSUPPORTED (adds
// read: x86-64 cannot map execute-only), SPECIFIC and SPECIFIC_OVERWRITE
// (vmarOffset from RootBase), OFFSET_IS_UPPER_LIMIT, MAP_RANGE (accepted;
// pages are mapped on access), REQUIRE_NON_RESIZABLE, ALLOW_FAULTS, ALIGN_*.
// ZX_VM_CAN_MAP_READ/WRITE/EXECUTE in options carry the permissions the
// handles' rights allow (package syscalls sets them; zx_vmar_map's caller may
// not); without them the mapping may keep what it asks for.
//
// As Zircon's kernel: the mapping may extend beyond the VMO's size (an access
// there faults: SIGBUS); ALLOW_FAULTS is only required for DISCARDABLE VMOs
// (NOT_SUPPORTED); REQUIRE_NON_RESIZABLE with a resizable VMO is
// NOT_SUPPORTED; length is rounded up to pages (0 is INVALID_ARGS);
// vmoOffset must be page-aligned (INVALID_ARGS); vmoOffset+length
// overflowing is OUT_OF_RANGE; a SPECIFIC range outside the VMAR, unaligned
// or misaligned for ALIGN_* is INVALID_ARGS, and over another mapping
// ALREADY_EXISTS. SPECIFIC_OVERWRITE first unmaps this VMAR's mappings in the
// range (not atomically, unlike Zircon) and then maps like SPECIFIC.
//
// Every mapping gets MADV_DONTFORK. For a pager VMO, Source.Mapped is called
// before the address is returned; if it fails the range is unmapped and its
// error returned.
func (r *VMAR) Map(options uint32, vmarOffset uint64, v *VMO, vmoOffset, length uint64) (uintptr, error) {
	if v == nil {
		return 0, errf(zx.ErrInvalidArgs, "map of a nil VMO")
	}
	perms := options & permMask
	if options&zx.VMPermReadIfXOM != 0 {
		perms |= zx.VMPermRead
	}
	if perms&zx.VMPermRead == 0 && perms&(zx.VMPermWrite|zx.VMPermExecute) != 0 {
		return 0, errf(zx.ErrInvalidArgs, "a writable or executable mapping must be readable")
	}
	if options&zx.VMMapRange != 0 && options&zx.VMSpecificOverwrite != 0 {
		return 0, errf(zx.ErrInvalidArgs, "ZX_VM_MAP_RANGE with ZX_VM_SPECIFIC_OVERWRITE")
	}
	canMap := (options / zx.VMCanMapRead) & permMask
	if canMap == 0 {
		canMap = perms
	} else if perms&^canMap != 0 {
		return 0, errf(zx.ErrAccessDenied, "permissions %#x beyond the allowed %#x", perms, canMap)
	}
	if low := options & (1<<vmAlignBase - 1); low&^knownMapOptions != 0 {
		return 0, errf(zx.ErrInvalidArgs, "unknown map options %#x", low&^knownMapOptions)
	}
	alignLog := options >> vmAlignBase
	if (alignLog < 10 && alignLog != 0) || alignLog > 32 {
		return 0, errf(zx.ErrInvalidArgs, "alignment 2^%d out of [2^10, 2^32]", alignLog)
	}
	if options&zx.VMRequireNonResizable != 0 && v.Resizable() {
		return 0, errf(zx.ErrNotSupported, "ZX_VM_REQUIRE_NON_RESIZABLE with resizable VMO %d", v.koid)
	}
	if options&zx.VMAllowFaults == 0 && v.Discardable() {
		return 0, errf(zx.ErrNotSupported, "mapping discardable VMO %d needs ZX_VM_ALLOW_FAULTS", v.koid)
	}
	if options&(zx.VMCompact|zx.VMCanMapSpecific) != 0 {
		return 0, errf(zx.ErrInvalidArgs, "ZX_VM_COMPACT and ZX_VM_CAN_MAP_SPECIFIC are for sub-VMARs")
	}
	if !pageAligned(vmoOffset) {
		return 0, errf(zx.ErrInvalidArgs, "VMO offset %#x is not page-aligned", vmoOffset)
	}
	size, ok := PageRoundUp(length)
	if ok {
		_, carry := bits.Add64(vmoOffset, size, 0)
		ok = carry == 0
	}
	if !ok {
		return 0, errf(zx.ErrOutOfRange, "VMO offset %#x + length %#x overflows", vmoOffset, length)
	}
	if size == 0 {
		return 0, errf(zx.ErrInvalidArgs, "zero-length mapping")
	}
	specific := options&(zx.VMSpecific|zx.VMSpecificOverwrite) != 0
	upper := options&zx.VMOffsetIsUpperLimit != 0
	if specific && upper {
		return 0, errf(zx.ErrInvalidArgs, "ZX_VM_OFFSET_IS_UPPER_LIMIT with ZX_VM_SPECIFIC")
	}
	if !specific && !upper && vmarOffset != 0 {
		return 0, errf(zx.ErrInvalidArgs, "VMAR offset %#x without ZX_VM_SPECIFIC", vmarOffset)
	}
	if !pageAligned(vmarOffset) {
		return 0, errf(zx.ErrInvalidArgs, "VMAR offset %#x is not page-aligned", vmarOffset)
	}
	align := uint64(zx.PageSize)
	if alignLog > 12 {
		align = 1 << alignLog
	}
	var addr uintptr
	if specific {
		if vmarOffset > r.size || size > r.size-vmarOffset {
			return 0, errf(zx.ErrInvalidArgs, "range [%#x, +%#x) is outside the VMAR", vmarOffset, size)
		}
		addr = r.base + uintptr(vmarOffset)
		if uint64(addr)%align != 0 {
			return 0, errf(zx.ErrInvalidArgs, "address %#x is not aligned to %#x", addr, align)
		}
	} else if upper && vmarOffset > r.size {
		return 0, errf(zx.ErrInvalidArgs, "upper limit %#x is outside the VMAR", vmarOffset)
	}

	if err := v.acquire(); err != nil {
		return 0, err
	}
	defer v.release()
	r.opMu.Lock()
	var fin []func()
	defer func() {
		r.opMu.Unlock()
		for _, f := range fin {
			f()
		}
	}()
	if options&zx.VMSpecificOverwrite != 0 {
		fin = r.unmapLocked(addr, size)
	} else if specific && r.overlaps(addr, size) {
		return 0, errf(zx.ErrAlreadyExists, "[%#x, +%#x) overlaps a mapping", addr, size)
	}
	base, err := r.place(v, addr, size, perms, vmoOffset, specific, upper, vmarOffset, align)
	if err != nil {
		return 0, err
	}
	m := &Mapping{VMO: v, Addr: base, Len: size, Offset: vmoOffset, Perms: perms, canMap: canMap}
	v.mappingAdded(1)
	if v.src != nil {
		if err := v.src.Mapped(v, m); err != nil {
			munmapRaw(base, size)
			v.mappingRemoved(1)
			return 0, err
		}
	}
	r.mu.Lock()
	r.insertLocked(m)
	r.mu.Unlock()
	return base, nil
}

// place mmaps the memfd range and applies MADV_DONTFORK.
func (r *VMAR) place(v *VMO, addr uintptr, size uint64, perms uint32, vmoOffset uint64,
	specific, upper bool, vmarOffset, align uint64) (uintptr, error) {
	prot, fd := protOf(perms), v.res.fd
	vmoOffset += v.base // a slice's pages start at its base in the shared memfd
	var base uintptr
	switch {
	case specific:
		a, errno := mmapRaw(addr, size, prot, v.share|unix.MAP_FIXED_NOREPLACE, fd, vmoOffset)
		if errno == unix.EEXIST {
			return 0, errf(zx.ErrAlreadyExists, "[%#x, +%#x) is in use", addr, size)
		}
		if errno != 0 {
			return 0, errnoErr(errno, "mmap of VMO %d at %#x", v.koid, addr)
		}
		if a != addr { // a kernel without MAP_FIXED_NOREPLACE took it as a hint
			munmapRaw(a, size)
			return 0, errf(zx.ErrAlreadyExists, "[%#x, +%#x) is in use", addr, size)
		}
		base = a
	case align > zx.PageSize:
		// Reserve size+align bytes, then map at the aligned address inside.
		resLen := size + align
		res, errno := mmapRaw(0, resLen, unix.PROT_NONE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE, -1, 0)
		if errno != 0 {
			return 0, errnoErr(errno, "reserving %#x bytes", resLen)
		}
		aligned := uintptr((uint64(res) + align - 1) &^ (align - 1))
		a, errno := mmapRaw(aligned, size, prot, v.share|unix.MAP_FIXED, fd, vmoOffset)
		if errno != 0 {
			munmapRaw(res, resLen)
			return 0, errnoErr(errno, "mmap of VMO %d", v.koid)
		}
		munmapRaw(res, uint64(aligned-res))
		munmapRaw(aligned+uintptr(size), uint64(res+uintptr(resLen)-(aligned+uintptr(size))))
		base = a
	default:
		hint := uintptr(0)
		if upper && vmarOffset >= size {
			hint = r.base + uintptr(vmarOffset-size)
		}
		a, errno := mmapRaw(hint, size, prot, v.share, fd, vmoOffset)
		if errno != 0 {
			return 0, errnoErr(errno, "mmap of VMO %d", v.koid)
		}
		base = a
	}
	limit := r.size
	if upper {
		limit = vmarOffset
	}
	if !r.inRange(base, size) || uint64(base-r.base)+size > limit {
		munmapRaw(base, size)
		return 0, errf(zx.ErrNoResources, "no room for %#x bytes in the VMAR", size)
	}
	if errno := dontFork(base, size); errno != 0 {
		munmapRaw(base, size)
		return 0, errnoErr(errno, "MADV_DONTFORK on [%#x, +%#x)", base, size)
	}
	return base, nil
}

// Unmap is zx_vmar_unmap: length is rounded up to pages; a zero length or an
// unaligned address is INVALID_ARGS, a range outside the VMAR INVALID_ARGS.
// Every mapping in the range goes; one partly in it is split and keeps its
// pieces outside. As in Zircon's kernel, a range with no mapping in it is
// not an error (ZX_OK). For a pager VMO the pieces of a split mapping get
// Source.Mapped (after the munmap) before the old mapping gets
// Source.Unmapped; a piece whose Mapped fails is unmapped too. A VMO whose
// last mapping goes and that has no handle left is destroyed.
func (r *VMAR) Unmap(addr uintptr, length uint64) error {
	size, ok := PageRoundUp(length)
	if !ok || size == 0 || !pageAligned(uint64(addr)) {
		return errf(zx.ErrInvalidArgs, "unmap [%#x, +%#x): unaligned or empty", addr, length)
	}
	if !r.inRange(addr, size) {
		return errf(zx.ErrInvalidArgs, "unmap [%#x, +%#x) is outside the VMAR", addr, size)
	}
	r.opMu.Lock()
	fin := r.unmapLocked(addr, size)
	r.opMu.Unlock()
	for _, f := range fin {
		f()
	}
	return nil
}

// unmapLocked removes [addr, addr+size) from the VMAR (opMu held) and returns
// the mapping-count decrements to run once opMu is released (they may
// destroy VMOs, which calls their Sources).
func (r *VMAR) unmapLocked(addr uintptr, size uint64) []func() {
	end := addr + uintptr(size)
	r.mu.RLock()
	var affected []*Mapping
	for i := r.firstEndingAfter(addr); i < len(r.maps) && r.maps[i].Addr < end; i++ {
		affected = append(affected, r.maps[i])
	}
	r.mu.RUnlock()
	var fin []func()
	for _, m := range affected {
		lo, hi := max(addr, m.Addr), min(end, m.End())
		if o, ok := m.VMO.src.(UnmapObserver); ok {
			o.Unmapping(m.VMO, m, lo, hi)
		}
		munmapRaw(lo, uint64(hi-lo))
		var pieces []*Mapping
		if m.Addr < lo {
			pieces = append(pieces, &Mapping{VMO: m.VMO, Addr: m.Addr, Len: uint64(lo - m.Addr),
				Offset: m.Offset, Perms: m.Perms, canMap: m.canMap})
		}
		if hi < m.End() {
			pieces = append(pieces, &Mapping{VMO: m.VMO, Addr: hi, Len: uint64(m.End() - hi),
				Offset: m.Offset + uint64(hi-m.Addr), Perms: m.Perms, canMap: m.canMap})
		}
		v := m.VMO
		kept := pieces[:0]
		for _, p := range pieces {
			if v.src != nil {
				if err := v.src.Mapped(v, p); err != nil {
					munmapRaw(p.Addr, p.Len)
					continue
				}
			}
			kept = append(kept, p)
		}
		v.mappingAdded(len(kept))
		r.mu.Lock()
		r.removeLocked(m)
		for _, p := range kept {
			r.insertLocked(p)
		}
		r.mu.Unlock()
		if v.src != nil {
			v.src.Unmapped(v, m)
		}
		fin = append(fin, func() { v.mappingRemoved(1) })
	}
	return fin
}

// firstEndingAfter returns the index of the first mapping ending after addr.
func (r *VMAR) firstEndingAfter(addr uintptr) int {
	return sort.Search(len(r.maps), func(i int) bool { return r.maps[i].End() > addr })
}

func (r *VMAR) overlaps(addr uintptr, size uint64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	i := r.firstEndingAfter(addr)
	return i < len(r.maps) && r.maps[i].Addr < addr+uintptr(size)
}

func (r *VMAR) insertLocked(m *Mapping) {
	i := r.firstEndingAfter(m.Addr)
	r.maps = append(r.maps, nil)
	copy(r.maps[i+1:], r.maps[i:])
	r.maps[i] = m
}

func (r *VMAR) removeLocked(m *Mapping) {
	for i, x := range r.maps {
		if x == m {
			r.maps = append(r.maps[:i], r.maps[i+1:]...)
			return
		}
	}
}

// Lookup returns the mapping that contains addr, or nil.
func (r *VMAR) Lookup(addr uintptr) *Mapping {
	r.mu.RLock()
	defer r.mu.RUnlock()
	i := r.firstEndingAfter(addr)
	if i < len(r.maps) && r.maps[i].Addr <= addr {
		return r.maps[i]
	}
	return nil
}

// Mappings returns the VMAR's mappings of v (all mappings if v is nil),
// sorted by address.
func (r *VMAR) Mappings(v *VMO) []*Mapping {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Mapping
	for _, m := range r.maps {
		if v == nil || m.VMO == v {
			out = append(out, m)
		}
	}
	return out
}

// OpRange is zx_vmar_op_range after the handle check, as Zircon's kernel
// does it: an unknown op is INVALID_ARGS; length is rounded up to pages, and
// zero or an unaligned address is INVALID_ARGS; a range outside the VMAR is
// OUT_OF_RANGE. The op then runs on each mapping in address order, on the
// VMO range it shows (VMO OpRange semantics: DECOMMIT of a pager VMO is
// NOT_SUPPORTED, ...); COMMIT, DECOMMIT and ZERO need a mapping whose
// handles allowed writing, PREFETCH one that allowed reading (else
// ACCESS_DENIED); MAP_RANGE does nothing (pages are mapped on access). A hole
// before or between the mappings is BAD_STATE, reported when the op reaches
// it (mappings before the hole have been processed).
func (r *VMAR) OpRange(op uint32, addr uintptr, length uint64) error {
	switch op {
	case VMAROpCommit, VMAROpDecommit, VMAROpMapRange, VMAROpZero,
		VMAROpDontNeed, VMAROpAlwaysNeed, VMAROpPrefetch:
	default:
		return errf(zx.ErrInvalidArgs, "unknown VMAR op %d", op)
	}
	size, ok := PageRoundUp(length)
	if !ok || size == 0 || !pageAligned(uint64(addr)) {
		return errf(zx.ErrInvalidArgs, "op range [%#x, +%#x): unaligned or empty", addr, length)
	}
	if !r.inRange(addr, size) {
		return errf(zx.ErrOutOfRange, "op range [%#x, +%#x) is outside the VMAR", addr, size)
	}
	type segment struct {
		m          *Mapping
		off, count uint64
	}
	end := addr + uintptr(size)
	expected := addr
	var segs []segment
	r.mu.RLock()
	for i := r.firstEndingAfter(addr); i < len(r.maps) && r.maps[i].Addr < end; i++ {
		m := r.maps[i]
		if m.Addr > expected {
			break
		}
		hi := min(end, m.End())
		segs = append(segs, segment{m, m.Offset + uint64(expected-m.Addr), uint64(hi - expected)})
		expected = hi
	}
	r.mu.RUnlock()
	for _, s := range segs {
		switch op {
		case VMAROpCommit, VMAROpDecommit, VMAROpZero:
			if s.m.canMap&zx.VMPermWrite == 0 {
				return errf(zx.ErrAccessDenied, "op %d on mapping %#x needs write permission", op, s.m.Addr)
			}
		case VMAROpPrefetch:
			if s.m.canMap&zx.VMPermRead == 0 {
				return errf(zx.ErrAccessDenied, "prefetch on mapping %#x needs read permission", s.m.Addr)
			}
		case VMAROpMapRange:
			continue
		}
		if err := s.m.VMO.OpRange(op, s.off, s.count, nil); err != nil {
			return err
		}
	}
	if expected < end {
		return errf(zx.ErrBadState, "op range [%#x, +%#x) has unmapped pages at %#x", addr, size, expected)
	}
	return nil
}
