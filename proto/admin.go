package proto

import (
	"fmt"
	"unicode/utf8"
)

// Administrative messages: what pagerctl asks a running pagerd. They carry
// no fds and change nothing.
//
//	type  name         dir  payload
//	0x21  Status       c→s  (empty)
//	0x22  StatusReply  s→c  pid i32, start time (unix ns) u64, protocol version u16,
//	                        clients u32, vmos u32, dirty bytes u64, store (u16 len)
//	0x23  ListClients  c→s  start u32 (index of the first entry wanted)
//	0x24  ClientList   s→c  total u32, count u16, count × ClientInfo (68 bytes)
//	0x25  ListVMOs     c→s  start u32
//	0x26  VMOList      s→c  total u32, count u16, count × VMOInfo (61 bytes + u8-length name)
//
// A list reply holds at most MaxListEntries entries, starting at the asked
// index of the server's list (sorted by id or name); a client pages with
// start += count until start >= total.

// MaxListEntries bounds the entries of one ClientList or VMOList.
const MaxListEntries = 256

// MaxStoreText bounds StatusReply.Store in bytes.
const MaxStoreText = 1024

// Status asks for the server's summary.
type Status struct {
	ReqID
	noFDs
}

// StatusReply answers Status.
type StatusReply struct {
	ReqID
	noFDs
	PID        int32  // the server's pid
	StartTime  uint64 // when the server started, Unix nanoseconds
	Version    uint16 // protocol version of this connection
	Clients    uint32 // connected clients
	VMOs       uint32 // open VMOs
	DirtyBytes uint64 // dirty bytes not yet written back, all VMOs
	Store      string // description of the backing store (UTF-8, ≤ MaxStoreText)
}

// ListClients asks for connected clients from index Start on.
type ListClients struct {
	ReqID
	noFDs
	Start uint32
}

// ClientInfo describes one connected client.
type ClientInfo struct {
	ID          uint64 // connection id, unique for the server's life
	PID         int32  // from SO_PEERCRED
	UID         uint32
	GID         uint32
	VMOs        uint32 // VMOs open
	Mappings    uint32 // mappings registered
	MappedBytes uint64
	Outstanding uint32 // faults being served now
	Faults      uint64 // faults served
	Supplied    uint64 // bytes supplied to this client's faults
	Connected   uint64 // Unix nanoseconds
	pad         uint32 // reserved, zero on the wire
}

// ClientList answers ListClients.
type ClientList struct {
	ReqID
	noFDs
	Total   uint32
	Clients []ClientInfo // nil when empty
}

// ListVMOs asks for open VMOs from index Start on.
type ListVMOs struct {
	ReqID
	noFDs
	Start uint32
}

// VMOInfo describes one open VMO (shared by every client that opened it).
type VMOInfo struct {
	Size           uint64
	CommittedBytes uint64 // pages present in the VMO
	DirtyBytes     uint64
	ReadFaults     uint64
	WriteFaults    uint64
	SuppliedBytes  uint64
	Clients        uint32 // clients that have it open
	Mappings       uint32
	Flags          uint32 // Open* bits: OpenReadOnly for a read-only object
	Name           string
}

// VMOList answers ListVMOs.
type VMOList struct {
	ReqID
	noFDs
	Total uint32
	VMOs  []VMOInfo // nil when empty
}

func (*Status) Type() Type      { return TypeStatus }
func (*StatusReply) Type() Type { return TypeStatusReply }
func (*ListClients) Type() Type { return TypeListClients }
func (*ClientList) Type() Type  { return TypeClientList }
func (*ListVMOs) Type() Type    { return TypeListVMOs }
func (*VMOList) Type() Type     { return TypeVMOList }

func (m *Status) encode(*writer)  {}
func (m *Status) decode(*reader)  {}
func (m *Status) validate() error { return nil }

func (m *StatusReply) encode(w *writer) {
	w.u32(uint32(m.PID))
	w.u64(m.StartTime)
	w.u16(m.Version)
	w.u32(m.Clients)
	w.u32(m.VMOs)
	w.u64(m.DirtyBytes)
	w.u16(uint16(len(m.Store)))
	w.b = append(w.b, m.Store...)
}

func (m *StatusReply) decode(r *reader) {
	m.PID = int32(r.u32("pid"))
	m.StartTime = r.u64("start time")
	m.Version = r.u16("version")
	m.Clients = r.u32("clients")
	m.VMOs = r.u32("vmos")
	m.DirtyBytes = r.u64("dirty bytes")
	n := r.u16("store length")
	if r.err == nil && int(n) > MaxStoreText {
		r.err = badField(TypeStatusReply, "store", "%d bytes, max %d", n, MaxStoreText)
		return
	}
	if b := r.take(int(n), "store"); n > 0 && b != nil {
		m.Store = string(b)
	}
}

func (m *StatusReply) validate() error {
	switch {
	case len(m.Store) > MaxStoreText:
		return badField(TypeStatusReply, "store", "%d bytes, max %d", len(m.Store), MaxStoreText)
	case !utf8.ValidString(m.Store):
		return badField(TypeStatusReply, "store", "invalid UTF-8")
	case m.Version == 0:
		return badField(TypeStatusReply, "version", "zero")
	}
	return nil
}

func (m *ListClients) encode(w *writer) { w.u32(m.Start) }
func (m *ListClients) decode(r *reader) { m.Start = r.u32("start") }
func (m *ListClients) validate() error  { return nil }
func (m *ListVMOs) encode(w *writer)    { w.u32(m.Start) }
func (m *ListVMOs) decode(r *reader)    { m.Start = r.u32("start") }
func (m *ListVMOs) validate() error     { return nil }

const clientInfoSize = 5*8 + 7*4 // 68

func (m *ClientList) encode(w *writer) {
	w.u32(m.Total)
	w.u16(uint16(len(m.Clients)))
	for _, c := range m.Clients {
		w.u64(c.ID)
		w.u32(uint32(c.PID))
		w.u32(c.UID)
		w.u32(c.GID)
		w.u32(c.VMOs)
		w.u32(c.Mappings)
		w.u64(c.MappedBytes)
		w.u32(c.Outstanding)
		w.u64(c.Faults)
		w.u64(c.Supplied)
		w.u64(c.Connected)
		w.u32(0)
	}
}

func (m *ClientList) decode(r *reader) {
	m.Total = r.u32("total")
	n := int(r.u16("count"))
	if r.err != nil {
		return
	}
	if n > MaxListEntries {
		r.err = badField(TypeClientList, "count", "%d, max %d", n, MaxListEntries)
		return
	}
	if n*clientInfoSize != len(r.b) {
		kind := KindShort
		if n*clientInfoSize < len(r.b) {
			kind = KindTrailing
		}
		r.err = &DecodeError{Kind: kind, Type: TypeClientList, Field: "clients",
			Text: fmt.Sprintf("%d entries need %d bytes, have %d", n, n*clientInfoSize, len(r.b))}
		return
	}
	if n == 0 {
		return
	}
	m.Clients = make([]ClientInfo, n)
	for i := range m.Clients {
		c := &m.Clients[i]
		c.ID = r.u64("id")
		c.PID = int32(r.u32("pid"))
		c.UID = r.u32("uid")
		c.GID = r.u32("gid")
		c.VMOs = r.u32("vmos")
		c.Mappings = r.u32("mappings")
		c.MappedBytes = r.u64("mapped bytes")
		c.Outstanding = r.u32("outstanding")
		c.Faults = r.u64("faults")
		c.Supplied = r.u64("supplied")
		c.Connected = r.u64("connected")
		c.pad = r.u32("reserved")
	}
}

func (m *ClientList) validate() error {
	if len(m.Clients) > MaxListEntries {
		return badField(TypeClientList, "count", "%d, max %d", len(m.Clients), MaxListEntries)
	}
	for i, c := range m.Clients {
		if c.pad != 0 {
			return badField(TypeClientList, "reserved", "entry %d: %#x, want 0", i, c.pad)
		}
		if c.ID == 0 {
			return badField(TypeClientList, "id", "entry %d: zero", i)
		}
	}
	return nil
}

func (m *VMOList) encode(w *writer) {
	w.u32(m.Total)
	w.u16(uint16(len(m.VMOs)))
	for _, v := range m.VMOs {
		w.u64(v.Size)
		w.u64(v.CommittedBytes)
		w.u64(v.DirtyBytes)
		w.u64(v.ReadFaults)
		w.u64(v.WriteFaults)
		w.u64(v.SuppliedBytes)
		w.u32(v.Clients)
		w.u32(v.Mappings)
		w.u32(v.Flags)
		w.u8(uint8(len(v.Name)))
		w.b = append(w.b, v.Name...)
	}
}

func (m *VMOList) decode(r *reader) {
	m.Total = r.u32("total")
	n := int(r.u16("count"))
	if r.err != nil {
		return
	}
	if n > MaxListEntries {
		r.err = badField(TypeVMOList, "count", "%d, max %d", n, MaxListEntries)
		return
	}
	// Each entry is at least 61 bytes, so a lying count cannot make us
	// allocate much more than the packet.
	if n*61 > len(r.b) {
		r.err = &DecodeError{Kind: KindShort, Type: TypeVMOList, Field: "vmos",
			Text: fmt.Sprintf("%d entries need at least %d bytes, have %d", n, n*61, len(r.b))}
		return
	}
	if n == 0 {
		return
	}
	m.VMOs = make([]VMOInfo, n)
	for i := range m.VMOs {
		v := &m.VMOs[i]
		v.Size = r.u64("size")
		v.CommittedBytes = r.u64("committed bytes")
		v.DirtyBytes = r.u64("dirty bytes")
		v.ReadFaults = r.u64("read faults")
		v.WriteFaults = r.u64("write faults")
		v.SuppliedBytes = r.u64("supplied bytes")
		v.Clients = r.u32("clients")
		v.Mappings = r.u32("mappings")
		v.Flags = r.u32("flags")
		l := r.u8("name length")
		if b := r.take(int(l), "name"); l > 0 && b != nil {
			v.Name = string(b)
		}
		if r.err != nil {
			return
		}
	}
}

func (m *VMOList) validate() error {
	if len(m.VMOs) > MaxListEntries {
		return badField(TypeVMOList, "count", "%d, max %d", len(m.VMOs), MaxListEntries)
	}
	for i, v := range m.VMOs {
		if why := validName(v.Name); why != "" {
			return badField(TypeVMOList, "name", "entry %d: %s", i, why)
		}
		if v.Flags&^openFlagsMask != 0 {
			return badField(TypeVMOList, "flags", "entry %d: unknown bits %#x", i, v.Flags&^openFlagsMask)
		}
	}
	return nil
}
