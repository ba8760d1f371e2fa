package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/pagerd/pagerd/zx"
)

// ErrMalformed matches (errors.Is) every *DecodeError: the peer sent
// something that is not a valid message, which costs it its connection.
// I/O errors (deadline, EOF, ECONNRESET) never match it.
var ErrMalformed = errors.New("proto: malformed message")

// DecodeErrorKind says what was wrong with a message.
type DecodeErrorKind int

// Decode error kinds.
const (
	KindShort       DecodeErrorKind = iota + 1 // shorter than a header, or a field runs past the end
	KindTooLarge                               // packet larger than MaxMessageSize (MSG_TRUNC)
	KindBadMagic                               // header magic is not Magic
	KindBadVersion                             // header version is not WireVersion
	KindUnknownType                            // header type is not a known Type
	KindLength                                 // header length does not match the packet
	KindTrailing                               // bytes left after the last field
	KindBadField                               // a field has a value the protocol forbids
	KindFDs                                    // fd count does not match the message
	KindControl                                // control data truncated (MSG_CTRUNC) or not SCM_RIGHTS
	KindUnexpected                             // a valid message the protocol state does not allow here
)

var kindNames = [...]string{"", "short", "too large", "bad magic", "bad version", "unknown type",
	"length mismatch", "trailing bytes", "bad field", "fd mismatch", "bad control data", "unexpected message"}

func (k DecodeErrorKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// DecodeError is a malformed or invalid message. Decode, Conn.Recv and
// Marshal (for a message that may not be sent) return it.
type DecodeError struct {
	Kind  DecodeErrorKind
	Type  Type   // message type when known, else 0
	Field string // offending field, for KindBadField
	Text  string
}

func (e *DecodeError) Error() string {
	s := "proto: " + e.Kind.String()
	if e.Type != 0 {
		s += " in " + e.Type.String()
	}
	if e.Field != "" {
		s += " field " + e.Field
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

// Status is the zx status a server reports for the error before closing.
func (e *DecodeError) Status() zx.Status {
	switch e.Kind {
	case KindBadVersion:
		return zx.ErrProtocolNotSupported
	case KindTooLarge:
		return zx.ErrOutOfRange
	case KindFDs, KindControl:
		return zx.ErrBadHandle
	case KindUnexpected:
		return zx.ErrBadState
	}
	return zx.ErrInvalidArgs
}

// IsMalformed reports whether err is a protocol violation by the peer.
func IsMalformed(err error) bool { return errors.Is(err, ErrMalformed) }

func badField(t Type, field, format string, args ...any) *DecodeError {
	return &DecodeError{Kind: KindBadField, Type: t, Field: field, Text: fmt.Sprintf(format, args...)}
}

type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *writer) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// reader decodes fields; the first short read sets err and later reads return zero.
type reader struct {
	b   []byte
	t   Type
	err error
}

func (r *reader) take(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = &DecodeError{Kind: KindShort, Type: r.t, Field: field,
			Text: fmt.Sprintf("need %d bytes, have %d", n, len(r.b))}
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(f string) uint8 {
	if b := r.take(1, f); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16(f string) uint16 {
	if b := r.take(2, f); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32(f string) uint32 {
	if b := r.take(4, f); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64(f string) uint64 {
	if b := r.take(8, f); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) bool(f string) bool {
	v := r.u8(f)
	if r.err == nil && v > 1 {
		r.err = badField(r.t, f, "boolean byte %#x", v)
	}
	return v == 1
}

// Header is the fixed message header.
type Header struct {
	Magic     uint32
	Version   uint16
	Type      Type
	Length    uint32 // payload length in bytes (not counting the header)
	RequestID uint64
}

// Marshal encodes m as one packet. It refuses (with a *DecodeError) a
// message the peer's decoder would reject.
func Marshal(m Message) ([]byte, error) {
	if err := check(m); err != nil {
		return nil, err
	}
	w := writer{b: make([]byte, HeaderSize, 64)}
	m.encode(&w)
	if len(w.b) > MaxMessageSize {
		return nil, &DecodeError{Kind: KindTooLarge, Type: m.Type(), Text: fmt.Sprintf("%d bytes", len(w.b))}
	}
	binary.LittleEndian.PutUint32(w.b[0:], Magic)
	binary.LittleEndian.PutUint16(w.b[4:], WireVersion)
	binary.LittleEndian.PutUint16(w.b[6:], uint16(m.Type()))
	binary.LittleEndian.PutUint32(w.b[8:], uint32(len(w.b)-HeaderSize))
	binary.LittleEndian.PutUint64(w.b[12:], m.RequestID())
	return w.b, nil
}

func check(m Message) error {
	if m.Type().IsRequest() && m.RequestID() == 0 {
		return badField(m.Type(), "request id", "zero in a request")
	}
	return m.validate()
}

// ParseHeader decodes and checks the header of a packet.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, &DecodeError{Kind: KindShort, Text: fmt.Sprintf("%d-byte packet, header is %d", len(b), HeaderSize)}
	}
	if len(b) > MaxMessageSize {
		return h, &DecodeError{Kind: KindTooLarge, Text: fmt.Sprintf("%d bytes", len(b))}
	}
	h.Magic = binary.LittleEndian.Uint32(b[0:])
	h.Version = binary.LittleEndian.Uint16(b[4:])
	h.Type = Type(binary.LittleEndian.Uint16(b[6:]))
	h.Length = binary.LittleEndian.Uint32(b[8:])
	h.RequestID = binary.LittleEndian.Uint64(b[12:])
	if h.Magic != Magic {
		return h, &DecodeError{Kind: KindBadMagic, Text: fmt.Sprintf("%#08x", h.Magic)}
	}
	if h.Version != WireVersion {
		return h, &DecodeError{Kind: KindBadVersion, Text: fmt.Sprintf("wire version %d, want %d", h.Version, WireVersion)}
	}
	if newMessage(h.Type) == nil {
		return h, &DecodeError{Kind: KindUnknownType, Text: h.Type.String()}
	}
	if uint64(h.Length) != uint64(len(b)-HeaderSize) {
		return h, &DecodeError{Kind: KindLength, Type: h.Type,
			Text: fmt.Sprintf("header says %d payload bytes, packet has %d", h.Length, len(b)-HeaderSize)}
	}
	return h, nil
}

// Decode decodes one packet that arrived with nfds file descriptors. It is
// strict: every malformed input, including a wrong fd count, yields a
// *DecodeError, and any valid result re-encodes (Marshal) to exactly b.
func Decode(b []byte, nfds int) (Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	m := newMessage(h.Type)
	setRequestID(m, h.RequestID)
	r := reader{b: b[HeaderSize:], t: h.Type}
	m.decode(&r)
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, &DecodeError{Kind: KindTrailing, Type: h.Type, Text: fmt.Sprintf("%d bytes", len(r.b))}
	}
	if err := check(m); err != nil {
		return nil, err
	}
	if want := m.NumFDs(); nfds != want {
		return nil, &DecodeError{Kind: KindFDs, Type: h.Type, Text: fmt.Sprintf("%d fds, want %d", nfds, want)}
	}
	return m, nil
}

func setRequestID(m Message, id uint64) {
	m.(interface{ setRequestID(uint64) }).setRequestID(id)
}

// validName reports why name is not an acceptable VMO name, or "".
// Names are 1..MaxNameLen bytes of valid UTF-8 with no control characters
// (C0, DEL, C1), no '/' and no '\\', and are not "." or "..", so a server
// may use them as file names under a backing directory.
func validName(name string) string {
	if len(name) == 0 {
		return "empty"
	}
	if len(name) > MaxNameLen {
		return fmt.Sprintf("%d bytes, max %d", len(name), MaxNameLen)
	}
	if name == "." || name == ".." {
		return "dot name"
	}
	for i, c := range name {
		switch {
		case c == utf8.RuneError && !validRuneAt(name, i):
			return fmt.Sprintf("invalid UTF-8 at byte %d", i)
		case c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0):
			return fmt.Sprintf("control character %U at byte %d", c, i)
		case c == '/' || c == '\\':
			return fmt.Sprintf("separator %q at byte %d", c, i)
		}
	}
	return ""
}

func validRuneAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size > 1 // a literal U+FFFD is 3 bytes; invalid input decodes with size 1
}

func (m *Hello) encode(w *writer) {
	w.u32(m.Magic)
	w.u16(m.MinVersion)
	w.u16(m.MaxVersion)
	w.u32(uint32(m.PID))
	w.u32(m.PageSize)
}

func (m *Hello) decode(r *reader) {
	m.Magic = r.u32("magic")
	m.MinVersion = r.u16("min version")
	m.MaxVersion = r.u16("max version")
	m.PID = int32(r.u32("pid"))
	m.PageSize = r.u32("page size")
}

func (m *Hello) validate() error {
	switch {
	case m.Magic != HelloMagic:
		return badField(TypeHello, "magic", "%#08x, want %#08x", m.Magic, HelloMagic)
	case m.MinVersion == 0 || m.MinVersion > m.MaxVersion:
		return badField(TypeHello, "versions", "range [%d, %d]", m.MinVersion, m.MaxVersion)
	case m.PID <= 0:
		return badField(TypeHello, "pid", "%d", m.PID)
	case !validPageSize(m.PageSize):
		return badField(TypeHello, "page size", "%d", m.PageSize)
	}
	return nil
}

func validPageSize(p uint32) bool { return p >= PageAlign && p&(p-1) == 0 }

func (m *Welcome) encode(w *writer) {
	w.u16(m.Version)
	w.u32(m.PageSize)
	w.u64(m.Features)
	w.u32(m.Limits.MaxVMOs)
	w.u64(m.Limits.MaxMappedBytes)
	w.u32(m.Limits.MaxOutstanding)
}

func (m *Welcome) decode(r *reader) {
	m.Version = r.u16("version")
	m.PageSize = r.u32("page size")
	m.Features = r.u64("features")
	m.Limits.MaxVMOs = r.u32("max vmos")
	m.Limits.MaxMappedBytes = r.u64("max mapped bytes")
	m.Limits.MaxOutstanding = r.u32("max outstanding")
}

func (m *Welcome) validate() error {
	switch {
	case m.Version == 0:
		return badField(TypeWelcome, "version", "zero")
	case !validPageSize(m.PageSize):
		return badField(TypeWelcome, "page size", "%d", m.PageSize)
	case m.Limits.MaxOutstanding == 0:
		return badField(TypeWelcome, "max outstanding", "zero")
	}
	return nil
}

func (m *Error) encode(w *writer) {
	w.u32(uint32(m.Code))
	w.u16(uint16(len(m.Text)))
	w.b = append(w.b, m.Text...)
}

func (m *Error) decode(r *reader) {
	m.Code = zx.Status(int32(r.u32("code")))
	n := r.u16("text length")
	if r.err == nil && int(n) > MaxErrorText {
		r.err = badField(TypeError, "text", "%d bytes, max %d", n, MaxErrorText)
		return
	}
	if b := r.take(int(n), "text"); n > 0 && b != nil {
		m.Text = string(b)
	}
}

func (m *Error) validate() error {
	switch {
	case m.Code >= 0:
		return badField(TypeError, "code", "%d is not an error status", int32(m.Code))
	case len(m.Text) > MaxErrorText:
		return badField(TypeError, "text", "%d bytes, max %d", len(m.Text), MaxErrorText)
	case !utf8.ValidString(m.Text):
		return badField(TypeError, "text", "invalid UTF-8")
	}
	for i := 0; i < len(m.Text); i++ {
		if m.Text[i] == 0 {
			return badField(TypeError, "text", "NUL at byte %d", i)
		}
	}
	return nil
}

// ErrorFrom builds the Error reply for err to request id: the status of a
// *zx.Error or *DecodeError, else ZX_ERR_INTERNAL; the text is clipped to
// MaxErrorText and made valid.
func ErrorFrom(id uint64, err error) *Error {
	e := &Error{ReqID: ReqID(id), Code: zx.ErrInternal}
	var ze *zx.Error
	var de *DecodeError
	switch {
	case errors.As(err, &ze) && ze.Status < 0:
		e.Code = ze.Status
	case errors.As(err, &de):
		e.Code = de.Status()
	}
	text := []rune{}
	n := 0
	for _, c := range err.Error() {
		if c == 0 {
			c = utf8.RuneError
		}
		if n+utf8.RuneLen(c) > MaxErrorText {
			break
		}
		n += utf8.RuneLen(c)
		text = append(text, c)
	}
	e.Text = string(text)
	return e
}

func (m *Goodbye) encode(*writer)  {}
func (m *Goodbye) decode(*reader)  {}
func (m *Goodbye) validate() error { return nil }

func (m *OpenVMO) encode(w *writer) {
	w.u32(m.Flags)
	w.u64(m.CreateSize)
	w.u8(uint8(len(m.Name)))
	w.b = append(w.b, m.Name...)
}

func (m *OpenVMO) decode(r *reader) {
	m.Flags = r.u32("flags")
	m.CreateSize = r.u64("create size")
	n := r.u8("name length")
	if b := r.take(int(n), "name"); n > 0 && b != nil {
		m.Name = string(b)
	}
}

func (m *OpenVMO) validate() error {
	if m.Flags&^openFlagsMask != 0 {
		return badField(TypeOpenVMO, "flags", "unknown bits %#x", m.Flags&^openFlagsMask)
	}
	if m.Flags&OpenCreate == 0 && m.CreateSize != 0 {
		return badField(TypeOpenVMO, "create size", "%d without OpenCreate", m.CreateSize)
	}
	if m.Flags&OpenCreate != 0 && m.Flags&OpenReadOnly != 0 {
		return badField(TypeOpenVMO, "flags", "OpenCreate with OpenReadOnly")
	}
	if why := validName(m.Name); why != "" {
		return badField(TypeOpenVMO, "name", "%s", why)
	}
	return nil
}

func (m *VMOOpened) encode(w *writer) {
	w.u64(m.VMOID)
	w.u64(m.Size)
	w.u64(m.ContentSize)
	w.u32(m.Flags)
}

func (m *VMOOpened) decode(r *reader) {
	m.VMOID = r.u64("vmo id")
	m.Size = r.u64("size")
	m.ContentSize = r.u64("content size")
	m.Flags = r.u32("flags")
}

func (m *VMOOpened) validate() error {
	switch {
	case m.VMOID == 0:
		return badField(TypeVMOOpened, "vmo id", "zero")
	case m.ContentSize > m.Size:
		return badField(TypeVMOOpened, "content size", "%d > size %d", m.ContentSize, m.Size)
	case m.Flags&^openFlagsMask != 0:
		return badField(TypeVMOOpened, "flags", "unknown bits %#x", m.Flags&^openFlagsMask)
	}
	return nil
}

func (m *RegisterMapping) encode(w *writer) {
	w.u64(m.VMOID)
	w.u64(m.Addr)
	w.u64(m.Length)
	w.u64(m.VMOOffset)
	w.u32(m.Flags)
}

func (m *RegisterMapping) decode(r *reader) {
	m.VMOID = r.u64("vmo id")
	m.Addr = r.u64("address")
	m.Length = r.u64("length")
	m.VMOOffset = r.u64("vmo offset")
	m.Flags = r.u32("flags")
}

func (m *RegisterMapping) validate() error {
	t := TypeRegisterMapping
	switch {
	case m.VMOID == 0:
		return badField(t, "vmo id", "zero")
	case m.Addr == 0 || m.Addr%PageAlign != 0:
		return badField(t, "address", "%#x", m.Addr)
	case m.Length == 0 || m.Length%PageAlign != 0:
		return badField(t, "length", "%#x", m.Length)
	case m.VMOOffset%PageAlign != 0:
		return badField(t, "vmo offset", "%#x", m.VMOOffset)
	case m.Addr+m.Length < m.Addr:
		return badField(t, "length", "address %#x + length %#x overflows", m.Addr, m.Length)
	case m.VMOOffset+m.Length < m.VMOOffset:
		return badField(t, "length", "offset %#x + length %#x overflows", m.VMOOffset, m.Length)
	case m.Flags&^mapFlagsMask != 0:
		return badField(t, "flags", "unknown bits %#x", m.Flags&^mapFlagsMask)
	}
	return nil
}

func nonzeroID(t Type, field string, id uint64) error {
	if id == 0 {
		return badField(t, field, "zero")
	}
	return nil
}

func (m *MappingRegistered) encode(w *writer) { w.u64(m.MappingID) }
func (m *MappingRegistered) decode(r *reader) { m.MappingID = r.u64("mapping id") }
func (m *MappingRegistered) validate() error {
	return nonzeroID(m.Type(), "mapping id", m.MappingID)
}

func (m *UnregisterMapping) encode(w *writer) { w.u64(m.MappingID) }
func (m *UnregisterMapping) decode(r *reader) { m.MappingID = r.u64("mapping id") }
func (m *UnregisterMapping) validate() error {
	return nonzeroID(m.Type(), "mapping id", m.MappingID)
}

func (m *MappingUnregistered) encode(w *writer) { w.u64(m.MappingID) }
func (m *MappingUnregistered) decode(r *reader) { m.MappingID = r.u64("mapping id") }
func (m *MappingUnregistered) validate() error {
	return nonzeroID(m.Type(), "mapping id", m.MappingID)
}

func (m *Sync) encode(w *writer)  { w.u64(m.VMOID) }
func (m *Sync) decode(r *reader)  { m.VMOID = r.u64("vmo id") }
func (m *Sync) validate() error   { return nonzeroID(m.Type(), "vmo id", m.VMOID) }
func (m *Stats) encode(w *writer) { w.u64(m.VMOID) }
func (m *Stats) decode(r *reader) { m.VMOID = r.u64("vmo id") }
func (m *Stats) validate() error  { return nonzeroID(m.Type(), "vmo id", m.VMOID) }

func (m *CloseVMO) encode(w *writer)  { w.u64(m.VMOID) }
func (m *CloseVMO) decode(r *reader)  { m.VMOID = r.u64("vmo id") }
func (m *CloseVMO) validate() error   { return nonzeroID(m.Type(), "vmo id", m.VMOID) }
func (m *VMOClosed) encode(w *writer) { w.u64(m.VMOID) }
func (m *VMOClosed) decode(r *reader) { m.VMOID = r.u64("vmo id") }
func (m *VMOClosed) validate() error  { return nonzeroID(m.Type(), "vmo id", m.VMOID) }

func (m *Synced) encode(w *writer) {
	w.u64(m.VMOID)
	w.u64(m.BytesWritten)
}

func (m *Synced) decode(r *reader) {
	m.VMOID = r.u64("vmo id")
	m.BytesWritten = r.u64("bytes written")
}

func (m *Synced) validate() error { return nonzeroID(m.Type(), "vmo id", m.VMOID) }

func (m *StatsReply) encode(w *writer) {
	w.u64(m.VMOID)
	w.u64(m.Size)
	w.u64(m.ContentSize)
	w.u64(m.CommittedBytes)
	w.u64(m.DirtyBytes)
	w.u64(m.ReadFaults)
	w.u64(m.WriteFaults)
	w.u32(m.Mappings)
}

func (m *StatsReply) decode(r *reader) {
	m.VMOID = r.u64("vmo id")
	m.Size = r.u64("size")
	m.ContentSize = r.u64("content size")
	m.CommittedBytes = r.u64("committed bytes")
	m.DirtyBytes = r.u64("dirty bytes")
	m.ReadFaults = r.u64("read faults")
	m.WriteFaults = r.u64("write faults")
	m.Mappings = r.u32("mappings")
}

func (m *StatsReply) validate() error {
	if m.ContentSize > m.Size {
		return badField(TypeStatsReply, "content size", "%d > size %d", m.ContentSize, m.Size)
	}
	return nonzeroID(m.Type(), "vmo id", m.VMOID)
}

func (m *DirtyRanges) encode(w *writer) {
	w.u64(m.VMOID)
	w.u64(m.Offset)
	w.u64(m.Length)
}

func (m *DirtyRanges) decode(r *reader) {
	m.VMOID = r.u64("vmo id")
	m.Offset = r.u64("offset")
	m.Length = r.u64("length")
}

func (m *DirtyRanges) validate() error {
	switch {
	case m.Length == 0:
		return badField(TypeDirtyRanges, "length", "zero")
	case m.Offset+m.Length < m.Offset:
		return badField(TypeDirtyRanges, "length", "offset %#x + length %#x overflows", m.Offset, m.Length)
	}
	return nonzeroID(m.Type(), "vmo id", m.VMOID)
}

func (m *DirtyRangesReply) encode(w *writer) {
	w.u64(m.VMOID)
	w.bool(m.More)
	w.u16(uint16(len(m.Ranges)))
	for _, rg := range m.Ranges {
		w.u64(rg.Offset)
		w.u64(rg.Length)
		w.u64(rg.Options)
	}
}

func (m *DirtyRangesReply) decode(r *reader) {
	m.VMOID = r.u64("vmo id")
	m.More = r.bool("more")
	n := int(r.u16("range count"))
	if r.err != nil {
		return
	}
	if n > MaxDirtyRanges {
		r.err = badField(TypeDirtyRangesReply, "range count", "%d, max %d", n, MaxDirtyRanges)
		return
	}
	if n*24 != len(r.b) {
		// Checked up front so a lying count cannot make us allocate.
		kind := KindShort
		if n*24 < len(r.b) {
			kind = KindTrailing
		}
		r.err = &DecodeError{Kind: kind, Type: TypeDirtyRangesReply, Field: "ranges",
			Text: fmt.Sprintf("%d ranges need %d bytes, have %d", n, n*24, len(r.b))}
		return
	}
	if n == 0 {
		return
	}
	m.Ranges = make([]Range, n)
	for i := range m.Ranges {
		m.Ranges[i] = Range{Offset: r.u64("range offset"), Length: r.u64("range length"), Options: r.u64("range options")}
	}
}

func (m *DirtyRangesReply) validate() error {
	t := TypeDirtyRangesReply
	if len(m.Ranges) > MaxDirtyRanges {
		return badField(t, "range count", "%d, max %d", len(m.Ranges), MaxDirtyRanges)
	}
	var end uint64
	for i, rg := range m.Ranges {
		switch {
		case rg.Length == 0:
			return badField(t, "ranges", "range %d is empty", i)
		case rg.Offset+rg.Length < rg.Offset:
			return badField(t, "ranges", "range %d overflows", i)
		case i > 0 && rg.Offset < end:
			return badField(t, "ranges", "range %d at %#x is not after the previous end %#x", i, rg.Offset, end)
		}
		end = rg.Offset + rg.Length
	}
	return nonzeroID(t, "vmo id", m.VMOID)
}
