package pager

import (
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// sliceSource is the vmo.Source of a ZX_VMO_CHILD_SLICE of a pager VMO (or
// of a clone of one): a window on pages of the VMO it is a slice of. The
// slice shares that VMO's memfd (package vmo maps it at the slice's base),
// so every operation is that VMO's, moved by off: reads and writes request
// and dirty the parent's pages, mappings are registered as mappings of the
// parent (their faults are the parent's faults, their writes its dirty
// pages). A slice is not owned by the pager: supply_pages, op_range,
// detach and the queries on it are INVALID_ARGS (as in Zircon).
type sliceSource struct {
	pv  *pagedVMO // the pager VMO (or clone) whose pages the slice shows
	off uint64    // byte offset of the slice's page 0 in pv's VMO
}

var (
	_ vmo.Source        = (*sliceSource)(nil)
	_ vmo.UnmapObserver = (*sliceSource)(nil)
	_ vmo.Cloner        = (*sliceSource)(nil)
	_ vmo.Slicer        = (*sliceSource)(nil)
	_ vmo.Slicer        = (*pagedVMO)(nil)
)

// Slice returns the Source of a slice starting offset bytes into the
// pager VMO (vmo.Slicer).
func (pv *pagedVMO) Slice(parent *vmo.VMO, offset uint64) (vmo.Source, error) {
	return &sliceSource{pv: pv, off: offset}, nil
}

// Slice returns the Source of a slice of this slice (vmo.Slicer).
func (s *sliceSource) Slice(parent *vmo.VMO, offset uint64) (vmo.Source, error) {
	return &sliceSource{pv: s.pv, off: s.off + offset}, nil
}

func (s *sliceSource) Read(v *vmo.VMO, p []byte, off uint64) error {
	return s.pv.Read(s.pv.vmo, p, s.off+off)
}

func (s *sliceSource) Write(v *vmo.VMO, p []byte, off uint64) error {
	return s.pv.Write(s.pv.vmo, p, s.off+off)
}

func (s *sliceSource) OpRange(v *vmo.VMO, op uint32, off, length uint64) error {
	return s.pv.OpRange(s.pv.vmo, op, s.off+off, length)
}

// Resize is never called: slices are not resizable.
func (s *sliceSource) Resize(v *vmo.VMO, newSize uint64) error {
	return zx.Errorf(zx.ErrNotSupported, "slice %d cannot be resized", v.Koid())
}

// CommittedBytes is 0: the pages are attributed to the VMO sliced.
func (s *sliceSource) CommittedBytes(v *vmo.VMO) uint64 { return 0 }

func (s *sliceSource) Mapped(v *vmo.VMO, m *vmo.Mapping) error { return s.pv.mapped(m, s.off) }

func (s *sliceSource) Unmapping(v *vmo.VMO, m *vmo.Mapping, start, end uintptr) {
	s.pv.Unmapping(s.pv.vmo, m, start, end)
}

func (s *sliceSource) Unmapped(v *vmo.VMO, m *vmo.Mapping) { s.pv.Unmapped(s.pv.vmo, m) }

// Destroyed: nothing of the slice's own to release.
func (s *sliceSource) Destroyed(v *vmo.VMO) {}

// Clone makes a copy-on-write clone of the slice: its parent is the slice,
// whose Read path leads to the pager VMO.
func (s *sliceSource) Clone(parent *vmo.VMO, offset, size, contentSize uint64, resizable bool) (*vmo.VMO, error) {
	return s.pv.Clone(parent, offset, size, contentSize, resizable)
}
