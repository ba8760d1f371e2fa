package vmo

import (
	"bytes"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// Name is ZX_PROP_NAME: the name up to its first NUL.
func (v *VMO) Name() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.name[:]
	if i := bytes.IndexByte(n, 0); i >= 0 {
		n = n[:i]
	}
	return string(n)
}

// SetName sets ZX_PROP_NAME as Zircon does: at most ZX_MAX_NAME_LEN-1 (31)
// bytes are kept, the rest is cut off; the stored name is NUL-padded.
func (v *VMO) SetName(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.name = [zx.MaxNameLen]byte{}
	copy(v.name[:zx.MaxNameLen-1], name)
}

// CommittedBytes is the committed_bytes of ZX_INFO_VMO: for a plain VMO the
// memfd's allocated pages (fstat st_blocks), for a pager VMO what its Source
// reports. A destroyed VMO has none, and neither has a slice: as in Zircon,
// its pages are attributed to the VMO it is a slice of.
func (v *VMO) CommittedBytes() uint64 {
	if v.kind == ChildSlice {
		return 0
	}
	if err := v.acquire(); err != nil {
		return 0
	}
	defer v.release()
	if v.src != nil {
		return v.src.CommittedBytes(v)
	}
	var st unix.Stat_t
	if err := unix.Fstat(v.res.fd, &st); err != nil || st.Blocks < 0 {
		return 0
	}
	return uint64(st.Blocks) * 512
}

// NumMappings is the number of live mappings of the VMO.
func (v *VMO) NumMappings() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.numMappings
}

// Info is ZX_INFO_VMO (zx_info_vmo_t v4) as seen through a handle with the
// given rights: koid, name, size, flags (TYPE_PAGED, RESIZABLE, DISCARDABLE,
// PAGER_BACKED for pager VMOs, VIA_HANDLE), committed and populated bytes,
// number of mappings, the handle's rights, cached policy, share count 1, the
// parent's koid and the number of children (zx_vmo_create_child), and
// IS_COW_CLONE for snapshots and clones.
func (v *VMO) Info(rights zx.Rights) zx.InfoVMORecord {
	committed := v.CommittedBytes()
	rec := zx.InfoVMORecord{
		Koid:           v.koid,
		SizeBytes:      v.Size(),
		ShareCount:     1,
		Flags:          zx.InfoVMOTypePaged | zx.InfoVMOViaHandle,
		CommittedBytes: committed,
		PopulatedBytes: committed,
		HandleRights:   rights,
		CachePolicy:    zx.CachePolicyCached,
	}
	// Pages are never shared between VMOs here (a slice counts none, a
	// clone counts the pages it copied): the private and scaled counts
	// equal the committed count.
	rec.CommittedPrivateBytes = committed
	rec.PopulatedPrivateBytes = committed
	rec.CommittedScaledBytes = committed
	rec.PopulatedScaledBytes = committed
	if v.Resizable() {
		rec.Flags |= zx.InfoVMOResizable
	}
	if v.Discardable() {
		rec.Flags |= zx.InfoVMODiscardable
	}
	if v.src != nil {
		rec.Flags |= zx.InfoVMOPagerBacked
	}
	if v.kind == ChildCOWClone {
		rec.Flags |= zx.InfoVMOIsCOWClone
	}
	if v.parent != nil {
		rec.ParentKoid = v.parent.koid
	}
	v.mu.Lock()
	rec.NumChildren = uint64(len(v.children))
	rec.Name = v.name
	rec.NumMappings = uint64(v.numMappings)
	v.mu.Unlock()
	return rec
}
