package vmo

// Source is the pager side of a pager-backed VMO: Zircon's PageSource. A VMO
// created with NewPaged forwards to its Source every operation whose outcome
// depends on which pages the pager has supplied; everything else (handles,
// rights, argument and range checks, content size, names, info layout) stays
// in this package. Package pager implements it.
//
// Contract:
//   - vmo validates arguments first (alignment, ranges against the current
//     size, rights are checked by package syscalls), then calls the Source.
//   - The Source never touches a mapping of a pager VMO from Go; it reads and
//     writes the memfd (File) with pread/pwrite for pages it knows are present.
//   - Mapped is called after a fresh mmap of the VMO's memfd and before the
//     address is handed out, so the Source can register the range with
//     userfaultfd; Unmapped is called after the range has been munmapped.
//     When a mapping is split by a partial unmap, Mapped is called for the
//     remaining pieces (already mapped and registered) before Unmapped for the old one.
//   - Destroyed is called once, when the last handle is closed and the last
//     mapping is gone (Zircon then queues ZX_PAGER_VMO_COMPLETE).
type Source interface {
	// Read copies [off, off+len(p)) into p, requesting absent pages and
	// waiting for them (zx_vmo_read on a pager VMO). off+len(p) <= Size().
	Read(v *VMO, p []byte, off uint64) error
	// Write copies p into [off, off+len(p)) (zx_vmo_write), requesting absent
	// pages (and, for TRAP_DIRTY VMOs, dirtying clean ones) first.
	Write(v *VMO, p []byte, off uint64) error
	// OpRange runs a range op on page-aligned [off, off+length) inside the
	// VMO: VMOOpCommit, VMOOpZero, VMOOpDontNeed, VMOOpAlwaysNeed, VMOOpPrefetch.
	// (DECOMMIT on pager VMOs is NOT_SUPPORTED and answered by package vmo.)
	OpRange(v *VMO, op uint32, off, length uint64) error
	// Resize changes the VMO's page-rounded size (zx_vmo_set_size on a
	// RESIZABLE pager VMO); it must call v.StoreSize when the new size holds.
	Resize(v *VMO, newSize uint64) error
	// CommittedBytes is the committed_bytes of ZX_INFO_VMO (resident pages
	// only: zero markers and zero ranges do not count).
	CommittedBytes(v *VMO) uint64
	// Mapped and Unmapped: see the contract above.
	Mapped(v *VMO, m *Mapping) error
	Unmapped(v *VMO, m *Mapping)
	// Destroyed: see the contract above.
	Destroyed(v *VMO)
}

// UnmapObserver is implemented by Sources that must see part of a mapping
// before it is unmapped: the pager collects the pages written through it,
// because asynchronous write-protect state lives in the page tables and
// goes away with them. Unmapping is called for [start, end) of m right
// before the munmap.
type UnmapObserver interface {
	Unmapping(v *VMO, m *Mapping, start, end uintptr)
}
