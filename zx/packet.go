package zx

import (
	"encoding/binary"
	"unsafe"
)

// PortPacket is zx_port_packet_t (48 bytes): key @0, type @8, status @12 and
// a 32-byte union @16 whose meaning depends on Type.
type PortPacket struct {
	Key    uint64
	Type   uint32
	Status Status
	Union  [32]byte
}

// PortPacketSize is sizeof(zx_port_packet_t).
const PortPacketSize = 48

var _ [PortPacketSize - unsafe.Sizeof(PortPacket{})]struct{}
var _ [unsafe.Sizeof(PortPacket{}) - PortPacketSize]struct{}

// PacketPageRequest is zx_packet_page_request_t, the union of a
// ZX_PKT_TYPE_PAGE_REQUEST packet: command u16 @16, flags u16 @18,
// reserved0 u32 @20, offset u64 @24, length u64 @32, reserved1 u64 @40.
type PacketPageRequest struct {
	Command   uint16
	Flags     uint16
	Reserved0 uint32
	Offset    uint64
	Length    uint64
	Reserved1 uint64
}

// PageRequest decodes the union as a page request.
func (p *PortPacket) PageRequest() PacketPageRequest {
	u := p.Union[:]
	return PacketPageRequest{
		Command:   binary.LittleEndian.Uint16(u[0:]),
		Flags:     binary.LittleEndian.Uint16(u[2:]),
		Reserved0: binary.LittleEndian.Uint32(u[4:]),
		Offset:    binary.LittleEndian.Uint64(u[8:]),
		Length:    binary.LittleEndian.Uint64(u[16:]),
		Reserved1: binary.LittleEndian.Uint64(u[24:]),
	}
}

// SetPageRequest encodes r into the union.
func (p *PortPacket) SetPageRequest(r PacketPageRequest) {
	u := p.Union[:]
	binary.LittleEndian.PutUint16(u[0:], r.Command)
	binary.LittleEndian.PutUint16(u[2:], r.Flags)
	binary.LittleEndian.PutUint32(u[4:], r.Reserved0)
	binary.LittleEndian.PutUint64(u[8:], r.Offset)
	binary.LittleEndian.PutUint64(u[16:], r.Length)
	binary.LittleEndian.PutUint64(u[24:], r.Reserved1)
}

// NewPageRequestPacket builds the packet a pager VMO posts to its port.
func NewPageRequestPacket(key uint64, command uint16, offset, length uint64) PortPacket {
	p := PortPacket{Key: key, Type: PktTypePageRequest, Status: ErrOk}
	p.SetPageRequest(PacketPageRequest{Command: command, Offset: offset, Length: length})
	return p
}

// User returns the union as zx_packet_user_t's u64[4] view.
func (p *PortPacket) User() [4]uint64 {
	var v [4]uint64
	for i := range v {
		v[i] = binary.LittleEndian.Uint64(p.Union[8*i:])
	}
	return v
}

// SetUser sets the union from zx_packet_user_t's u64[4] view.
func (p *PortPacket) SetUser(v [4]uint64) {
	for i := range v {
		binary.LittleEndian.PutUint64(p.Union[8*i:], v[i])
	}
}

// Bytes returns the packet's 48-byte C representation.
func (p *PortPacket) Bytes() [PortPacketSize]byte {
	var b [PortPacketSize]byte
	binary.LittleEndian.PutUint64(b[0:], p.Key)
	binary.LittleEndian.PutUint32(b[8:], p.Type)
	binary.LittleEndian.PutUint32(b[12:], uint32(p.Status))
	copy(b[16:], p.Union[:])
	return b
}

// PortPacketFromBytes decodes a 48-byte C zx_port_packet_t.
func PortPacketFromBytes(b [PortPacketSize]byte) PortPacket {
	var p PortPacket
	p.Key = binary.LittleEndian.Uint64(b[0:])
	p.Type = binary.LittleEndian.Uint32(b[8:])
	p.Status = Status(int32(binary.LittleEndian.Uint32(b[12:])))
	copy(p.Union[:], b[16:])
	return p
}
