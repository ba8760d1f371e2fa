package zx

import "unsafe"

// InfoVMORecord is zx_info_vmo_t version 4 (176 bytes), the record of
// zx_object_get_info(ZX_INFO_VMO). Field order and widths are Zircon's, so
// the Go layout is the C layout on every 64-bit target.
type InfoVMORecord struct {
	Koid                           Koid     // @0
	Name                           [32]byte // @8
	SizeBytes                      uint64   // @40
	ParentKoid                     Koid     // @48
	NumChildren                    uint64   // @56
	NumMappings                    uint64   // @64
	ShareCount                     uint64   // @72
	Flags                          uint32   // @80
	_                              uint32   // @84
	CommittedBytes                 uint64   // @88
	HandleRights                   Rights   // @96
	CachePolicy                    uint32   // @100
	MetadataBytes                  uint64   // @104
	CommittedChangeEvents          uint64   // @112
	PopulatedBytes                 uint64   // @120
	CommittedPrivateBytes          uint64   // @128
	PopulatedPrivateBytes          uint64   // @136
	CommittedScaledBytes           uint64   // @144
	PopulatedScaledBytes           uint64   // @152
	CommittedFractionalScaledBytes uint64   // @160
	PopulatedFractionalScaledBytes uint64   // @168
}

// InfoVMOSize is sizeof(zx_info_vmo_t) for ZX_INFO_VMO (v4).
const InfoVMOSize = 176

var _ [InfoVMOSize - unsafe.Sizeof(InfoVMORecord{})]struct{}
var _ [unsafe.Sizeof(InfoVMORecord{}) - InfoVMOSize]struct{}

// InfoHandleBasicRecord is zx_info_handle_basic_t (32 bytes).
type InfoHandleBasicRecord struct {
	Koid        Koid
	Rights      Rights
	Type        ObjType
	RelatedKoid Koid
	Reserved    uint32
	_           [4]byte
}

// VMODirtyRange is zx_vmo_dirty_range_t (24 bytes), an entry of
// zx_pager_query_dirty_ranges.
type VMODirtyRange struct {
	Offset  uint64
	Length  uint64
	Options uint64 // ZX_VMO_DIRTY_RANGE_IS_ZERO
}

// PagerVMOStats is zx_pager_vmo_stats_t (4 bytes).
type PagerVMOStats struct {
	Modified uint32 // ZX_PAGER_VMO_STATS_MODIFIED when the VMO was modified
}
