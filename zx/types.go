package zx

import "math"

// Handle is zx_handle_t. Valid handles always have their low two bits set.
type Handle uint32

// HandleInvalid is ZX_HANDLE_INVALID.
const HandleInvalid Handle = 0

// HandleFixedBitsMask is ZX_HANDLE_FIXED_BITS_MASK: bits set in every valid handle.
const HandleFixedBitsMask Handle = 0x3

// ObjType is zx_obj_type_t.
type ObjType uint32

// Object types (ZX_OBJ_TYPE_*).
const (
	ObjTypeNone    ObjType = 0
	ObjTypeProcess ObjType = 1
	ObjTypeThread  ObjType = 2
	ObjTypeVMO     ObjType = 3
	ObjTypeChannel ObjType = 4
	ObjTypeEvent   ObjType = 5
	ObjTypePort    ObjType = 6
	ObjTypeVMAR    ObjType = 18
	ObjTypePager   ObjType = 28
)

// Koid is zx_koid_t, a kernel object id; ids start at 1024 like Zircon's first user objects.
type Koid uint64

// Signals is zx_signals_t.
type Signals uint32

// Signals used here.
const (
	SignalNone          Signals = 0
	VMOZeroChildren     Signals = 1 << 3 // ZX_VMO_ZERO_CHILDREN
	SignalHandleClosed  Signals = 1 << 23
	UserSignal0         Signals = 1 << 24
	UserSignalAll       Signals = 0xff << 24
	VMOSignalsSupported         = VMOZeroChildren | UserSignalAll
)

// Time is zx_time_t: nanoseconds on the monotonic clock.
type Time int64

// Duration is zx_duration_t in nanoseconds.
type Duration int64

// TimeInfinite (ZX_TIME_INFINITE) waits forever; TimeInfinitePast polls.
const (
	TimeInfinite     Time = math.MaxInt64
	TimeInfinitePast Time = math.MinInt64
)

// VMO creation options (zx_vmo_create, zx_pager_create_vmo).
const (
	VMOResizable   uint32 = 1 << 1 // ZX_VMO_RESIZABLE
	VMODiscardable uint32 = 1 << 2 // ZX_VMO_DISCARDABLE
	VMOTrapDirty   uint32 = 1 << 3 // ZX_VMO_TRAP_DIRTY (pager VMOs only)
	VMOUnbounded   uint32 = 1 << 4 // ZX_VMO_UNBOUNDED
)

// Child options (zx_vmo_create_child).
const (
	VMOChildSnapshot               uint32 = 1 << 0
	VMOChildResizable              uint32 = 1 << 2
	VMOChildSlice                  uint32 = 1 << 3
	VMOChildSnapshotAtLeastOnWrite uint32 = 1 << 4
	VMOChildNoWrite                uint32 = 1 << 5
	VMOChildReference              uint32 = 1 << 6
	VMOChildSnapshotModified       uint32 = 1 << 7
)

// VMO ops (zx_vmo_op_range, zx_vmar_op_range).
const (
	VMOOpCommit               uint32 = 1
	VMOOpDecommit             uint32 = 2
	VMOOpLock                 uint32 = 3
	VMOOpUnlock               uint32 = 4
	VMOOpCacheSync            uint32 = 6
	VMOOpCacheInvalidate      uint32 = 7
	VMOOpCacheClean           uint32 = 8
	VMOOpCacheCleanInvalidate uint32 = 9
	VMOOpZero                 uint32 = 10
	VMOOpTryLock              uint32 = 11
	VMOOpDontNeed             uint32 = 12
	VMOOpAlwaysNeed           uint32 = 13
	VMOOpPrefetch             uint32 = 14
)

// Pager ops (zx_pager_op_range) and their data values.
const (
	PagerOpFail           uint32 = 1
	PagerOpDirty          uint32 = 2
	PagerOpWritebackBegin uint32 = 3
	PagerOpWritebackEnd   uint32 = 4

	VMODirtyRangeIsZero   uint64 = 1 // ZX_VMO_DIRTY_RANGE_IS_ZERO
	PagerVMOStatsModified uint32 = 1 // ZX_PAGER_VMO_STATS_MODIFIED
	PagerResetVMOStats    uint32 = 1 // ZX_PAGER_RESET_VMO_STATS
)

// Page request commands carried in ZX_PKT_TYPE_PAGE_REQUEST packets.
const (
	PagerVMORead     uint16 = 0 // ZX_PAGER_VMO_READ
	PagerVMOComplete uint16 = 1 // ZX_PAGER_VMO_COMPLETE
	PagerVMODirty    uint16 = 2 // ZX_PAGER_VMO_DIRTY
)

// Port packet types.
const (
	PktTypeUser        uint32 = 0x00
	PktTypeSignalOne   uint32 = 0x01
	PktTypeGuestBell   uint32 = 0x03
	PktTypeGuestMem    uint32 = 0x04
	PktTypeGuestIO     uint32 = 0x05
	PktTypeGuestVCPU   uint32 = 0x06
	PktTypeInterrupt   uint32 = 0x07
	PktTypePageRequest uint32 = 0x09
)

// Port creation option.
const PortBindToInterrupt uint32 = 0x1

// VMAR mapping options (ZX_VM_*).
const (
	VMPermRead            uint32 = 1 << 0
	VMPermWrite           uint32 = 1 << 1
	VMPermExecute         uint32 = 1 << 2
	VMCompact             uint32 = 1 << 3
	VMSpecific            uint32 = 1 << 4
	VMSpecificOverwrite   uint32 = 1 << 5
	VMCanMapSpecific      uint32 = 1 << 6
	VMCanMapRead          uint32 = 1 << 7
	VMCanMapWrite         uint32 = 1 << 8
	VMCanMapExecute       uint32 = 1 << 9
	VMMapRange            uint32 = 1 << 10
	VMRequireNonResizable uint32 = 1 << 11
	VMAllowFaults         uint32 = 1 << 12
	VMOffsetIsUpperLimit  uint32 = 1 << 13
	VMPermReadIfXOM       uint32 = 1 << 14
)

// Object info topics (zx_object_get_info).
const (
	InfoHandleBasic uint32 = 2
	InfoVMOv1       uint32 = 0x17
	InfoVMOv2       uint32 = 0x10000017
	InfoVMOv3       uint32 = 0x20000017
	InfoVMO         uint32 = 0x30000017 // v4, zx_info_vmo_t of 176 bytes
)

// zx_info_vmo_t flags.
const (
	InfoVMOTypePaged    uint32 = 1 << 0
	InfoVMOResizable    uint32 = 1 << 1
	InfoVMOIsCOWClone   uint32 = 1 << 2
	InfoVMOViaHandle    uint32 = 1 << 3
	InfoVMOViaMapping   uint32 = 1 << 4
	InfoVMOPagerBacked  uint32 = 1 << 5
	InfoVMOContiguous   uint32 = 1 << 6
	InfoVMODiscardable  uint32 = 1 << 7
	InfoVMOImmutable    uint32 = 1 << 8
	InfoVMOViaIOBHandle uint32 = 1 << 9
)

// Object properties.
const (
	PropName           uint32 = 3
	PropVMOContentSize uint32 = 17
	MaxNameLen                = 32
)

// Cache policy reported in zx_info_vmo_t (ZX_CACHE_POLICY_CACHED).
const CachePolicyCached uint32 = 0

// PageSize is the only page size pagerd supports (zx_system_get_page_size).
const PageSize = 4096
