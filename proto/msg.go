package proto

import (
	"fmt"

	"github.com/pagerd/pagerd/zx"
)

// Wire constants. See doc.go for the layout they describe.
const (
	// Magic starts every message header: the bytes "PGRD" read as a
	// little-endian uint32.
	Magic uint32 = 0x44524750
	// WireVersion is the version of the envelope (header layout and
	// encoding rules). It is fixed for the life of the protocol family; the
	// message set is versioned separately by the Hello/Welcome negotiation.
	WireVersion uint16 = 1
	// HelloMagic is the first field of Hello: the bytes "HELO".
	HelloMagic uint32 = 0x4f4c4548

	// MinVersion and MaxVersion bound the protocol versions this library speaks.
	MinVersion uint16 = 1
	MaxVersion uint16 = 1

	// HeaderSize is the size of the fixed header in bytes.
	HeaderSize = 20
	// MaxMessageSize bounds a whole packet (header and payload).
	MaxMessageSize = 64 << 10
	// MaxPayload bounds the payload.
	MaxPayload = MaxMessageSize - HeaderSize
	// MaxNameLen bounds an OpenVMO name (bytes, 1..MaxNameLen).
	MaxNameLen = 255
	// MaxErrorText bounds Error.Text in bytes.
	MaxErrorText = 1024
	// MaxDirtyRanges bounds the ranges in one DirtyRangesReply.
	MaxDirtyRanges = 2048
	// MaxFDs is the most file descriptors any message carries.
	MaxFDs = 1
	// PageAlign is the alignment the decoder enforces on RegisterMapping
	// addresses, lengths and offsets (the smallest Linux page size); the
	// server further checks them against the page size from the Hello.
	PageAlign = 4096
)

// Type identifies a message.
type Type uint16

// Message types. Requests (client to server) have odd values in the 0x10
// block, and each reply is its request's value plus one.
const (
	TypeHello               Type = 0x01
	TypeWelcome             Type = 0x02
	TypeError               Type = 0x03
	TypeGoodbye             Type = 0x04
	TypeOpenVMO             Type = 0x11
	TypeVMOOpened           Type = 0x12
	TypeRegisterMapping     Type = 0x13
	TypeMappingRegistered   Type = 0x14
	TypeUnregisterMapping   Type = 0x15
	TypeMappingUnregistered Type = 0x16
	TypeSync                Type = 0x17
	TypeSynced              Type = 0x18
	TypeStats               Type = 0x19
	TypeStatsReply          Type = 0x1a
	TypeDirtyRanges         Type = 0x1b
	TypeDirtyRangesReply    Type = 0x1c
	TypeCloseVMO            Type = 0x1d
	TypeVMOClosed           Type = 0x1e
	TypeStatus              Type = 0x21
	TypeStatusReply         Type = 0x22
	TypeListClients         Type = 0x23
	TypeClientList          Type = 0x24
	TypeListVMOs            Type = 0x25
	TypeVMOList             Type = 0x26
)

var typeNames = map[Type]string{
	TypeHello: "Hello", TypeWelcome: "Welcome", TypeError: "Error", TypeGoodbye: "Goodbye",
	TypeOpenVMO: "OpenVMO", TypeVMOOpened: "VMOOpened",
	TypeRegisterMapping: "RegisterMapping", TypeMappingRegistered: "MappingRegistered",
	TypeUnregisterMapping: "UnregisterMapping", TypeMappingUnregistered: "MappingUnregistered",
	TypeSync: "Sync", TypeSynced: "Synced", TypeStats: "Stats", TypeStatsReply: "StatsReply",
	TypeDirtyRanges: "DirtyRanges", TypeDirtyRangesReply: "DirtyRangesReply",
	TypeCloseVMO: "CloseVMO", TypeVMOClosed: "VMOClosed",
	TypeStatus: "Status", TypeStatusReply: "StatusReply",
	TypeListClients: "ListClients", TypeClientList: "ClientList",
	TypeListVMOs: "ListVMOs", TypeVMOList: "VMOList",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(%#x)", uint16(t))
}

// IsRequest reports whether t is sent by clients and answered by a reply
// echoing its request id. Requests must carry a non-zero request id.
func (t Type) IsRequest() bool {
	switch t {
	case TypeHello, TypeOpenVMO, TypeRegisterMapping, TypeUnregisterMapping,
		TypeSync, TypeStats, TypeDirtyRanges, TypeCloseVMO,
		TypeStatus, TypeListClients, TypeListVMOs:
		return true
	}
	return false
}

// Message is one protocol message. The concrete types are the pointer types
// below (*Hello, *Welcome, ...); Decode always returns one of them.
type Message interface {
	Type() Type
	// RequestID is the header's request id: chosen by the client for a
	// request, echoed by the server in the reply, 0 for unsolicited messages.
	RequestID() uint64
	// NumFDs is how many fds travel with the message (SCM_RIGHTS).
	NumFDs() int
	encode(w *writer)
	decode(r *reader)
	validate() error
}

// ReqID is embedded in every message; it is the header's request id.
type ReqID uint64

// RequestID returns the request id.
func (r ReqID) RequestID() uint64 { return uint64(r) }

func (r *ReqID) setRequestID(id uint64) { *r = ReqID(id) }

// noFDs is embedded by messages that carry no fds.
type noFDs struct{}

func (noFDs) NumFDs() int { return 0 }

// Features advertised in Welcome.Features. Unknown bits are reserved and
// must be ignored by clients.
const (
	FeatureTrapDirty  uint64 = 1 << 0 // OpenVMO honours OpenTrapDirty
	FeatureDirtyQuery uint64 = 1 << 1 // DirtyRanges is served
	FeatureWriteBack  uint64 = 1 << 2 // Sync writes back to a backing store
	FeaturePoison     uint64 = 1 << 3 // server poisons (UFFDIO_POISON) unservable ranges
)

// Hello opens a connection (client to server, first message).
type Hello struct {
	ReqID
	noFDs
	Magic      uint32 // must be HelloMagic
	MinVersion uint16 // lowest protocol version the client speaks (>= 1)
	MaxVersion uint16 // highest (>= MinVersion)
	PID        int32  // client's pid as it sees it; informational, SO_PEERCRED is authoritative
	PageSize   uint32 // client's page size, a power of two >= PageAlign
}

// Limits are the server's per-client limits, sent in Welcome.
type Limits struct {
	MaxVMOs        uint32 // open VMOs per connection
	MaxMappedBytes uint64 // total registered mapping length per connection
	MaxOutstanding uint32 // requests in flight per connection
}

// Welcome accepts a Hello (server to client).
type Welcome struct {
	ReqID
	noFDs
	Version  uint16 // chosen protocol version, within both ranges
	PageSize uint32 // server's page size
	Features uint64 // Feature* bits
	Limits   Limits
}

// Error is the reply to any request that failed, or (request id 0) a
// connection-level error the server sends before closing.
type Error struct {
	ReqID
	noFDs
	Code zx.Status // a ZX_ERR_* status; never ZX_OK or positive
	Text string    // UTF-8, at most MaxErrorText bytes, no NUL
}

// Goodbye announces an orderly close; either side may send it, no reply.
type Goodbye struct {
	ReqID
	noFDs
}

// OpenVMO flags.
const (
	OpenReadOnly  uint32 = 1 << 0 // map read-only; RegisterMapping with MapWritable is refused
	OpenTrapDirty uint32 = 1 << 1 // writes are trapped (ZX_VMO_TRAP_DIRTY): dirty tracking
	OpenCreate    uint32 = 1 << 2 // create the object with CreateSize bytes if it does not exist
	openFlagsMask        = OpenReadOnly | OpenTrapDirty | OpenCreate
)

// OpenVMO asks for the named VMO. Reply: VMOOpened with the memfd.
type OpenVMO struct {
	ReqID
	noFDs
	Flags      uint32 // Open* bits; unknown bits are rejected
	CreateSize uint64 // size of an object OpenCreate creates; 0 unless OpenCreate
	Name       string // 1..MaxNameLen bytes of printable UTF-8, no '/' (see validName)
}

// VMOOpened answers OpenVMO and carries the VMO's memfd (1 fd).
type VMOOpened struct {
	ReqID
	VMOID       uint64 // non-zero, unique within the connection
	Size        uint64 // VMO size in bytes
	ContentSize uint64 // <= Size
	Flags       uint32 // effective Open* flags
}

// NumFDs is 1: the memfd.
func (*VMOOpened) NumFDs() int { return 1 }

// RegisterMapping flags.
const (
	MapWritable   uint32 = 1 << 0 // the client mapped the range PROT_WRITE
	MapAttachUFFD uint32 = 1 << 1 // the message carries the client's uffd (1 fd)
	mapFlagsMask         = MapWritable | MapAttachUFFD
)

// RegisterMapping tells the server that [Addr, Addr+Length) of the client
// maps [VMOOffset, VMOOffset+Length) of the VMO and is registered on the
// client's uffd. The first RegisterMapping of a connection sets
// MapAttachUFFD and carries the uffd; later ones must not (one uffd per
// connection). Reply: MappingRegistered.
type RegisterMapping struct {
	ReqID
	VMOID     uint64
	Addr      uint64 // PageAlign-aligned, non-zero
	Length    uint64 // PageAlign-aligned, non-zero; Addr+Length must not overflow
	VMOOffset uint64 // PageAlign-aligned; VMOOffset+Length must not overflow
	Flags     uint32 // Map* bits
}

// NumFDs is 1 when MapAttachUFFD is set, else 0.
func (m *RegisterMapping) NumFDs() int {
	if m.Flags&MapAttachUFFD != 0 {
		return 1
	}
	return 0
}

// MappingRegistered answers RegisterMapping.
type MappingRegistered struct {
	ReqID
	noFDs
	MappingID uint64 // non-zero
}

// UnregisterMapping withdraws a mapping (the client is about to munmap it).
type UnregisterMapping struct {
	ReqID
	noFDs
	MappingID uint64
}

// MappingUnregistered answers UnregisterMapping.
type MappingUnregistered struct {
	ReqID
	noFDs
	MappingID uint64
}

// Sync asks the server to write the VMO's dirty pages back.
type Sync struct {
	ReqID
	noFDs
	VMOID uint64
}

// Synced answers Sync once write-back is complete.
type Synced struct {
	ReqID
	noFDs
	VMOID        uint64
	BytesWritten uint64
}

// Stats asks for a VMO's counters.
type Stats struct {
	ReqID
	noFDs
	VMOID uint64
}

// StatsReply answers Stats.
type StatsReply struct {
	ReqID
	noFDs
	VMOID          uint64
	Size           uint64
	ContentSize    uint64
	CommittedBytes uint64
	DirtyBytes     uint64
	ReadFaults     uint64
	WriteFaults    uint64
	Mappings       uint32
}

// DirtyRanges asks for the dirty ranges of [Offset, Offset+Length) of a VMO
// (zx_pager_query_dirty_ranges).
type DirtyRanges struct {
	ReqID
	noFDs
	VMOID  uint64
	Offset uint64
	Length uint64 // non-zero; Offset+Length must not overflow
}

// Range is one dirty range, as zx_vmo_dirty_range_t.
type Range struct {
	Offset  uint64
	Length  uint64 // non-zero
	Options uint64 // zx.VmoDirtyRangeIsZero etc.
}

// DirtyRangesReply answers DirtyRanges with at most MaxDirtyRanges ranges;
// More says the query stopped early and the client should ask again from
// the end of the last range.
type DirtyRangesReply struct {
	ReqID
	noFDs
	VMOID  uint64
	More   bool
	Ranges []Range // nil when empty
}

// CloseVMO drops the client's VMO (after its mappings are unregistered).
type CloseVMO struct {
	ReqID
	noFDs
	VMOID uint64
}

// VMOClosed answers CloseVMO.
type VMOClosed struct {
	ReqID
	noFDs
	VMOID uint64
}

func (*Hello) Type() Type               { return TypeHello }
func (*Welcome) Type() Type             { return TypeWelcome }
func (*Error) Type() Type               { return TypeError }
func (*Goodbye) Type() Type             { return TypeGoodbye }
func (*OpenVMO) Type() Type             { return TypeOpenVMO }
func (*VMOOpened) Type() Type           { return TypeVMOOpened }
func (*RegisterMapping) Type() Type     { return TypeRegisterMapping }
func (*MappingRegistered) Type() Type   { return TypeMappingRegistered }
func (*UnregisterMapping) Type() Type   { return TypeUnregisterMapping }
func (*MappingUnregistered) Type() Type { return TypeMappingUnregistered }
func (*Sync) Type() Type                { return TypeSync }
func (*Synced) Type() Type              { return TypeSynced }
func (*Stats) Type() Type               { return TypeStats }
func (*StatsReply) Type() Type          { return TypeStatsReply }
func (*DirtyRanges) Type() Type         { return TypeDirtyRanges }
func (*DirtyRangesReply) Type() Type    { return TypeDirtyRangesReply }
func (*CloseVMO) Type() Type            { return TypeCloseVMO }
func (*VMOClosed) Type() Type           { return TypeVMOClosed }

// newMessage returns a zero message of type t, or nil for an unknown type.
func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return new(Hello)
	case TypeWelcome:
		return new(Welcome)
	case TypeError:
		return new(Error)
	case TypeGoodbye:
		return new(Goodbye)
	case TypeOpenVMO:
		return new(OpenVMO)
	case TypeVMOOpened:
		return new(VMOOpened)
	case TypeRegisterMapping:
		return new(RegisterMapping)
	case TypeMappingRegistered:
		return new(MappingRegistered)
	case TypeUnregisterMapping:
		return new(UnregisterMapping)
	case TypeMappingUnregistered:
		return new(MappingUnregistered)
	case TypeSync:
		return new(Sync)
	case TypeSynced:
		return new(Synced)
	case TypeStats:
		return new(Stats)
	case TypeStatsReply:
		return new(StatsReply)
	case TypeDirtyRanges:
		return new(DirtyRanges)
	case TypeDirtyRangesReply:
		return new(DirtyRangesReply)
	case TypeCloseVMO:
		return new(CloseVMO)
	case TypeVMOClosed:
		return new(VMOClosed)
	case TypeStatus:
		return new(Status)
	case TypeStatusReply:
		return new(StatusReply)
	case TypeListClients:
		return new(ListClients)
	case TypeClientList:
		return new(ClientList)
	case TypeListVMOs:
		return new(ListVMOs)
	case TypeVMOList:
		return new(VMOList)
	}
	return nil
}
