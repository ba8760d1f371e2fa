package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pagerd/pagerd/zx"
)

// samples has one valid message of every type.
func samples() []Message {
	return []Message{
		&Hello{ReqID: 1, Magic: HelloMagic, MinVersion: 1, MaxVersion: 3, PID: 4242, PageSize: 4096},
		&Welcome{ReqID: 1, Version: 2, PageSize: 16384, Features: FeatureTrapDirty | FeatureDirtyQuery | 1<<40,
			Limits: Limits{MaxVMOs: 64, MaxMappedBytes: 1 << 40, MaxOutstanding: 128}},
		&Error{ReqID: 7, Code: zx.ErrNotFound, Text: "no VMO named \"disk\" — désolé"},
		&Error{Code: zx.ErrBadState},
		&Goodbye{},
		&OpenVMO{ReqID: 2, Flags: OpenTrapDirty, Name: "disk.img"},
		&OpenVMO{ReqID: 3, Flags: OpenReadOnly, Name: strings.Repeat("é", 127)},
		&VMOOpened{ReqID: 2, VMOID: 9, Size: 1 << 20, ContentSize: 1000, Flags: OpenTrapDirty},
		&RegisterMapping{ReqID: 4, VMOID: 9, Addr: 0x7f0000000000, Length: 1 << 20, VMOOffset: 4096, Flags: MapWritable | MapAttachUFFD},
		&RegisterMapping{ReqID: 5, VMOID: 9, Addr: 0x7f0000100000, Length: 4096},
		&MappingRegistered{ReqID: 4, MappingID: 11},
		&UnregisterMapping{ReqID: 6, MappingID: 11},
		&MappingUnregistered{ReqID: 6, MappingID: 11},
		&Sync{ReqID: 8, VMOID: 9},
		&Synced{ReqID: 8, VMOID: 9, BytesWritten: 8192},
		&Stats{ReqID: 10, VMOID: 9},
		&StatsReply{ReqID: 10, VMOID: 9, Size: 1 << 20, ContentSize: 1 << 19, CommittedBytes: 12288,
			DirtyBytes: 4096, ReadFaults: 3, WriteFaults: 1, Mappings: 2},
		&DirtyRanges{ReqID: 12, VMOID: 9, Offset: 0, Length: 1 << 20},
		&DirtyRangesReply{ReqID: 12, VMOID: 9, More: true, Ranges: []Range{
			{Offset: 0, Length: 4096}, {Offset: 8192, Length: 8192, Options: 1}}},
		&DirtyRangesReply{ReqID: 13, VMOID: 9},
		&CloseVMO{ReqID: 14, VMOID: 9},
		&VMOClosed{ReqID: 14, VMOID: 9},
		&OpenVMO{ReqID: 15, Flags: OpenCreate, CreateSize: 1<<20 + 7, Name: "new.img"},
		&Status{ReqID: 16},
		&StatusReply{ReqID: 16, PID: 77, StartTime: 1 << 60, Version: 1, Clients: 2, VMOs: 3,
			DirtyBytes: 8192, Store: "dir /var/lib/pagerd"},
		&ListClients{ReqID: 17, Start: 4},
		&ClientList{ReqID: 17, Total: 9, Clients: []ClientInfo{
			{ID: 5, PID: 100, UID: 1000, GID: 1000, VMOs: 1, Mappings: 2, MappedBytes: 1 << 30,
				Outstanding: 3, Faults: 99, Supplied: 1 << 20, Connected: 1 << 61}}},
		&ClientList{ReqID: 18},
		&ListVMOs{ReqID: 19},
		&VMOList{ReqID: 19, Total: 2, VMOs: []VMOInfo{
			{Size: 1 << 20, CommittedBytes: 4096, DirtyBytes: 4096, ReadFaults: 1, WriteFaults: 2,
				SuppliedBytes: 4096, Clients: 1, Mappings: 1, Flags: OpenReadOnly, Name: "a"},
			{Size: 4096, Name: "bé"}}},
		&VMOList{ReqID: 20, Total: 0},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, m := range samples() {
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", m, err)
		}
		if len(b) > MaxMessageSize || len(b) < HeaderSize {
			t.Fatalf("%v: %d bytes", m.Type(), len(b))
		}
		got, err := Decode(b, m.NumFDs())
		if err != nil {
			t.Fatalf("Decode(%v): %v", m.Type(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
		}
		b2, err := Marshal(got)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%v: re-encoding differs (%v)", m.Type(), err)
		}
		seen[m.Type()] = true
	}
	for typ := range typeNames {
		if !seen[typ] {
			t.Errorf("no sample for %v", typ)
		}
	}
}

func TestMaxDirtyRangesFits(t *testing.T) {
	m := &DirtyRangesReply{ReqID: 1, VMOID: 1, Ranges: make([]Range, MaxDirtyRanges)}
	for i := range m.Ranges {
		m.Ranges[i] = Range{Offset: uint64(i) * 8192, Length: 4096}
	}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b, 0)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("max ranges round trip: %v", err)
	}
	m.Ranges = append(m.Ranges, Range{Offset: 1 << 40, Length: 1})
	if _, err := Marshal(m); !IsMalformed(err) {
		t.Fatalf("Marshal with %d ranges: %v", len(m.Ranges), err)
	}
}

// raw builds a packet with a correct header around payload.
func raw(t Type, id uint64, payload []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(payload))
	binary.LittleEndian.PutUint32(b[0:], Magic)
	binary.LittleEndian.PutUint16(b[4:], WireVersion)
	binary.LittleEndian.PutUint16(b[6:], uint16(t))
	binary.LittleEndian.PutUint32(b[8:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(b[12:], id)
	return append(b, payload...)
}

func mustMarshal(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func patch(b []byte, off int, v ...byte) []byte {
	c := bytes.Clone(b)
	copy(c[off:], v)
	return c
}

func openPayload(flags uint32, name string) []byte {
	p := binary.LittleEndian.AppendUint32(nil, flags)
	p = binary.LittleEndian.AppendUint64(p, 0) // create size
	p = append(p, byte(len(name)))
	return append(p, name...)
}

type badInput struct {
	name string
	b    []byte
	nfds int
	kind DecodeErrorKind
}

func badInputs(t testing.TB) []badInput {
	sync := mustMarshal(t, &Sync{ReqID: 1, VMOID: 2})
	opened := mustMarshal(t, &VMOOpened{ReqID: 1, VMOID: 2, Size: 10, ContentSize: 10})
	reg := mustMarshal(t, &RegisterMapping{ReqID: 1, VMOID: 2, Addr: 4096, Length: 4096, Flags: MapAttachUFFD})
	hello := mustMarshal(t, &Hello{ReqID: 1, Magic: HelloMagic, MinVersion: 1, MaxVersion: 1, PID: 1, PageSize: 4096})
	ranges := mustMarshal(t, &DirtyRangesReply{ReqID: 1, VMOID: 2, Ranges: []Range{{Offset: 0, Length: 1}}})
	errMsg := mustMarshal(t, &Error{ReqID: 1, Code: zx.ErrIO, Text: "x"})
	withTrailing := append(bytes.Clone(sync), 0)
	binary.LittleEndian.PutUint32(withTrailing[8:], uint32(len(withTrailing)-HeaderSize))
	huge := raw(TypeError, 0, make([]byte, MaxPayload+1))
	return []badInput{
		{"empty", nil, 0, KindShort},
		{"short header", sync[:HeaderSize-1], 0, KindShort},
		{"too large", huge, 0, KindTooLarge},
		{"bad magic", patch(sync, 0, 'X'), 0, KindBadMagic},
		{"bad version", patch(sync, 4, 2), 0, KindBadVersion},
		{"version zero", patch(sync, 4, 0, 0), 0, KindBadVersion},
		{"unknown type", patch(sync, 6, 0x99), 0, KindUnknownType},
		{"type zero", patch(sync, 6, 0, 0), 0, KindUnknownType},
		{"truncated payload", sync[:len(sync)-1], 0, KindLength},
		{"extra byte, old length", append(bytes.Clone(sync), 0), 0, KindLength},
		{"trailing byte", withTrailing, 0, KindTrailing},
		{"length lies big", patch(sync, 8, 0xff, 0xff), 0, KindLength},
		{"payload too short for type", raw(TypeSync, 1, []byte{1, 2, 3}), 0, KindShort},
		{"request id zero", patch(sync, 12, 0, 0, 0, 0, 0, 0, 0, 0), 0, KindBadField},
		{"vmo id zero", raw(TypeSync, 1, make([]byte, 8)), 0, KindBadField},
		{"fd on Sync", sync, 1, KindFDs},
		{"fds on Sync", sync, 3, KindFDs},
		{"VMOOpened without memfd", opened, 0, KindFDs},
		{"VMOOpened with 2 fds", opened, 2, KindFDs},
		{"attach uffd without fd", reg, 0, KindFDs},
		{"uffd fd without flag", patch(reg, len(reg)-4, 0), 1, KindFDs},
		{"unknown map flag", patch(reg, len(reg)-4, 0x80), 0, KindBadField},
		{"unaligned address", patch(reg, HeaderSize+8, 1), 1, KindBadField},
		{"hello bad magic", patch(hello, HeaderSize, 'x'), 0, KindBadField},
		{"hello min>max", patch(hello, HeaderSize+4, 2), 0, KindBadField},
		{"hello page size 3000", patch(hello, HeaderSize+12, 0xb8, 0x0b, 0, 0), 0, KindBadField},
		{"name empty", raw(TypeOpenVMO, 1, openPayload(0, "")), 0, KindBadField},
		{"name NUL", raw(TypeOpenVMO, 1, openPayload(0, "a\x00b")), 0, KindBadField},
		{"name newline", raw(TypeOpenVMO, 1, openPayload(0, "a\nb")), 0, KindBadField},
		{"name DEL", raw(TypeOpenVMO, 1, openPayload(0, "a\x7f")), 0, KindBadField},
		{"name C1", raw(TypeOpenVMO, 1, openPayload(0, "a\u0085")), 0, KindBadField},
		{"name bad UTF-8", raw(TypeOpenVMO, 1, openPayload(0, "a\xffb")), 0, KindBadField},
		{"name slash", raw(TypeOpenVMO, 1, openPayload(0, "../etc")), 0, KindBadField},
		{"name dotdot", raw(TypeOpenVMO, 1, openPayload(0, "..")), 0, KindBadField},
		{"name length past end", raw(TypeOpenVMO, 1, append(openPayload(0, "abc")[:4], 9, 'a')), 0, KindShort},
		{"open unknown flag", raw(TypeOpenVMO, 1, openPayload(1<<7, "a")), 0, KindBadField},
		{"error code ok", patch(errMsg, HeaderSize, 0, 0, 0, 0), 0, KindBadField},
		{"error code positive", patch(errMsg, HeaderSize, 5, 0, 0, 0), 0, KindBadField},
		{"error text NUL", patch(errMsg, HeaderSize+6, 0), 0, KindBadField},
		{"error text length lies", patch(errMsg, HeaderSize+4, 9), 0, KindShort},
		{"bool byte 2", patch(ranges, HeaderSize+8, 2), 0, KindBadField},
		{"range count too big", patch(ranges, HeaderSize+9, 2), 0, KindShort},
		{"range count short", patch(ranges, HeaderSize+9, 0), 0, KindTrailing},
		{"range count over max", patch(ranges, HeaderSize+9, 0xff, 0xff), 0, KindBadField},
		{"empty range", patch(ranges, HeaderSize+11+8, 0), 0, KindBadField},
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range badInputs(t) {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.b, tc.nfds)
			if err == nil {
				t.Fatalf("decoded %#v", m)
			}
			var de *DecodeError
			if !errors.As(err, &de) || !IsMalformed(err) {
				t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
			}
			if de.Kind != tc.kind {
				t.Fatalf("kind %v, want %v (%v)", de.Kind, tc.kind, err)
			}
			if m != nil {
				t.Fatalf("message %#v with error", m)
			}
		})
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	for _, m := range []Message{
		&Sync{VMOID: 1},                 // request without id
		&OpenVMO{ReqID: 1, Name: "a/b"}, // bad name
		&OpenVMO{ReqID: 1, Name: strings.Repeat("a", 256)},
		&Error{ReqID: 1, Code: zx.ErrOk},
		&Error{ReqID: 1, Code: zx.ErrIO, Text: strings.Repeat("x", MaxErrorText+1)},
		&VMOOpened{ReqID: 1, VMOID: 1, Size: 1, ContentSize: 2},
		&DirtyRangesReply{ReqID: 1, VMOID: 1, Ranges: []Range{{Offset: 10, Length: 10}, {Offset: 15, Length: 1}}},
		&RegisterMapping{ReqID: 1, VMOID: 1, Addr: 1 << 63, Length: 1 << 63},
		&OpenVMO{ReqID: 1, CreateSize: 4096, Name: "a"},                 // size without create
		&OpenVMO{ReqID: 1, Flags: OpenCreate | OpenReadOnly, Name: "a"}, // create read-only
		&Status{}, // request without id
		&StatusReply{ReqID: 1, Version: 1, Store: "\xff"},                    // bad UTF-8
		&StatusReply{ReqID: 1},                                               // version 0
		&ClientList{ReqID: 1, Clients: []ClientInfo{{}}},                     // zero id
		&ClientList{ReqID: 1, Clients: make([]ClientInfo, MaxListEntries+1)}, // too many
		&VMOList{ReqID: 1, VMOs: []VMOInfo{{Name: ".."}}},                    // bad name
		&VMOList{ReqID: 1, VMOs: []VMOInfo{{Name: "a", Flags: 1 << 9}}},      // bad flags
	} {
		if _, err := Marshal(m); !IsMalformed(err) {
			t.Errorf("Marshal(%#v) = %v, want a malformed error", m, err)
		}
	}
}

func TestErrorFrom(t *testing.T) {
	e := ErrorFrom(3, &zx.Error{Status: zx.ErrNotFound, Text: strings.Repeat("é", MaxErrorText)})
	if e.Code != zx.ErrNotFound || e.RequestID() != 3 || len(e.Text) > MaxErrorText {
		t.Fatalf("%v %d %d", e.Code, e.RequestID(), len(e.Text))
	}
	if _, err := Marshal(e); err != nil {
		t.Fatal(err)
	}
	e = ErrorFrom(0, errors.New("a\x00b"))
	if e.Code != zx.ErrInternal || strings.Contains(e.Text, "\x00") {
		t.Fatalf("%#v", e)
	}
	e = ErrorFrom(1, &DecodeError{Kind: KindBadVersion})
	if e.Code != zx.ErrProtocolNotSupported {
		t.Fatalf("%v", e.Code)
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		cmin, cmax, smin, smax, want uint16
		ok                           bool
	}{
		{1, 1, 1, 1, 1, true},
		{1, 5, 2, 3, 3, true},
		{2, 5, 1, 3, 3, true},
		{1, 2, 2, 9, 2, true},
		{4, 6, 1, 3, 0, false},
		{1, 3, 4, 6, 0, false},
	} {
		v, ok := Negotiate(tc.cmin, tc.cmax, tc.smin, tc.smax)
		if v != tc.want || ok != tc.ok {
			t.Errorf("Negotiate(%d..%d, %d..%d) = %d, %v; want %d, %v", tc.cmin, tc.cmax, tc.smin, tc.smax, v, ok, tc.want, tc.ok)
		}
	}
}
