package zx

// Rights is zx_rights_t, the bit set of what a handle may do (zircon/rights.h).
type Rights uint32

// Rights, with Zircon's numeric values.
const (
	RightNone          Rights = 0
	RightDuplicate     Rights = 1 << 0
	RightTransfer      Rights = 1 << 1
	RightRead          Rights = 1 << 2
	RightWrite         Rights = 1 << 3
	RightExecute       Rights = 1 << 4
	RightMap           Rights = 1 << 5
	RightGetProperty   Rights = 1 << 6
	RightSetProperty   Rights = 1 << 7
	RightEnumerate     Rights = 1 << 8
	RightDestroy       Rights = 1 << 9
	RightSetPolicy     Rights = 1 << 10
	RightGetPolicy     Rights = 1 << 11
	RightSignal        Rights = 1 << 12
	RightSignalPeer    Rights = 1 << 13
	RightWait          Rights = 1 << 14
	RightInspect       Rights = 1 << 15
	RightManageJob     Rights = 1 << 16
	RightManageProcess Rights = 1 << 17
	RightManageThread  Rights = 1 << 18
	RightApplyProfile  Rights = 1 << 19
	RightManageSocket  Rights = 1 << 20
	RightOpChildren    Rights = 1 << 21
	RightResize        Rights = 1 << 22
	RightAttachVMO     Rights = 1 << 23
	RightManageVMO     Rights = 1 << 24
	RightSameRights    Rights = 1 << 31
)

// Right groups and the default rights of each object kind.
const (
	RightsBasic    = RightTransfer | RightDuplicate | RightWait | RightInspect // 0xC003
	RightsIO       = RightRead | RightWrite                                    // 0xC
	RightsProperty = RightGetProperty | RightSetProperty                       // 0xC0

	// DefaultVMORights (0xD0EF) are a new VMO's rights; RESIZABLE VMOs also get RightResize.
	DefaultVMORights = RightsBasic | RightsIO | RightsProperty | RightMap | RightSignal
	// DefaultPagerRights (0x1808002): no DUPLICATE and no WAIT.
	DefaultPagerRights = RightInspect | RightTransfer | RightAttachVMO | RightManageVMO
	// DefaultPortRights (0x800F): ports are not waitable.
	DefaultPortRights = (RightsBasic &^ RightWait) | RightsIO
	// DefaultVMARRights (0x208003).
	DefaultVMARRights = RightsBasic&^RightWait | RightOpChildren
)

// Has reports whether every right in want is in r.
func (r Rights) Has(want Rights) bool { return r&want == want }
