package zx

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"
)

func TestStatusValuesAndNames(t *testing.T) {
	cases := []struct {
		s    Status
		v    int32
		name string
	}{
		{ErrOk, 0, "ZX_OK"}, {ErrInvalidArgs, -10, "ZX_ERR_INVALID_ARGS"},
		{ErrBadHandle, -11, "ZX_ERR_BAD_HANDLE"}, {ErrWrongType, -12, "ZX_ERR_WRONG_TYPE"},
		{ErrOutOfRange, -14, "ZX_ERR_OUT_OF_RANGE"}, {ErrBufferTooSmall, -15, "ZX_ERR_BUFFER_TOO_SMALL"},
		{ErrBadState, -20, "ZX_ERR_BAD_STATE"}, {ErrTimedOut, -21, "ZX_ERR_TIMED_OUT"},
		{ErrNotFound, -25, "ZX_ERR_NOT_FOUND"}, {ErrUnavailable, -28, "ZX_ERR_UNAVAILABLE"},
		{ErrAccessDenied, -30, "ZX_ERR_ACCESS_DENIED"}, {ErrIO, -40, "ZX_ERR_IO"},
		{ErrIODataIntegrity, -42, "ZX_ERR_IO_DATA_INTEGRITY"}, {ErrNoSpace, -54, "ZX_ERR_NO_SPACE"},
		{ErrInternalIntrKilled, -502, "ZX_ERR_INTERNAL_INTR_KILLED"}, {Status(-9999), -9999, "(UNKNOWN)"},
	}
	for _, c := range cases {
		if int32(c.s) != c.v || c.s.String() != c.name {
			t.Errorf("status %d: got value %d name %q, want %d %q", c.s, int32(c.s), c.s.String(), c.v, c.name)
		}
	}
}

func TestErrorCarriesStatus(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", Errorf(ErrBadState, "vmo %d detached", 7))
	if got := StatusOf(err); got != ErrBadState {
		t.Fatalf("StatusOf = %v, want BAD_STATE", got)
	}
	if !errors.Is(err, ErrBadState) || errors.Is(err, ErrIO) {
		t.Fatalf("errors.Is mismatch for %v", err)
	}
	if got := (&Error{Status: ErrIO}).Error(); got != "ZX_ERR_IO" {
		t.Fatalf("Error() = %q", got)
	}
	if StatusOf(nil) != ErrOk || StatusOf(errors.New("x")) != ErrInternal || StatusOf(ErrNotFound) != ErrNotFound {
		t.Fatal("StatusOf of nil / foreign / bare status wrong")
	}
}

func TestRightsDefaults(t *testing.T) {
	for _, c := range []struct {
		name string
		got  Rights
		want uint32
	}{
		{"basic", RightsBasic, 0xC003}, {"vmo", DefaultVMORights, 0xD0EF},
		{"pager", DefaultPagerRights, 0x1808002}, {"port", DefaultPortRights, 0x800F},
		{"vmar", DefaultVMARRights, 0x208003}, {"resize", RightResize, 0x400000},
		{"same", RightSameRights, 0x80000000},
	} {
		if uint32(c.got) != c.want {
			t.Errorf("%s rights = %#x, want %#x", c.name, uint32(c.got), c.want)
		}
	}
}

func TestPortPacketLayout(t *testing.T) {
	if unsafe.Sizeof(PortPacket{}) != 48 || unsafe.Offsetof(PortPacket{}.Type) != 8 ||
		unsafe.Offsetof(PortPacket{}.Status) != 12 || unsafe.Offsetof(PortPacket{}.Union) != 16 {
		t.Fatal("zx_port_packet_t layout wrong")
	}
	if unsafe.Sizeof(PacketPageRequest{}) != 32 || unsafe.Offsetof(PacketPageRequest{}.Offset) != 8 ||
		unsafe.Offsetof(PacketPageRequest{}.Length) != 16 {
		t.Fatal("zx_packet_page_request_t layout wrong")
	}
	p := NewPageRequestPacket(0x1122334455667788, PagerVMODirty, 0x3000, 0x2000)
	b := p.Bytes()
	want := []byte{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 9, 0, 0, 0, 0, 0, 0, 0,
		2, 0, 0, 0, 0, 0, 0, 0, 0, 0x30, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if string(b[:]) != string(want) {
		t.Fatalf("packet bytes\n got % x\nwant % x", b, want)
	}
	// The Go struct's memory is the C layout too.
	raw := *(*[48]byte)(unsafe.Pointer(&p))
	if raw != b {
		t.Fatalf("in-memory layout differs from encoding: % x", raw)
	}
	if q := PortPacketFromBytes(b); q != p || q.PageRequest().Offset != 0x3000 {
		t.Fatalf("round trip: %+v", q)
	}
	var u PortPacket
	u.SetUser([4]uint64{1, 2, 3, 4})
	if u.User() != [4]uint64{1, 2, 3, 4} {
		t.Fatal("user view round trip")
	}
}

func TestInfoLayouts(t *testing.T) {
	var v InfoVMORecord
	offs := map[string][2]uintptr{
		"name": {unsafe.Offsetof(v.Name), 8}, "size_bytes": {unsafe.Offsetof(v.SizeBytes), 40},
		"flags": {unsafe.Offsetof(v.Flags), 80}, "committed_bytes": {unsafe.Offsetof(v.CommittedBytes), 88},
		"handle_rights": {unsafe.Offsetof(v.HandleRights), 96}, "cache_policy": {unsafe.Offsetof(v.CachePolicy), 100},
		"populated_bytes":                   {unsafe.Offsetof(v.PopulatedBytes), 120},
		"populated_fractional_scaled_bytes": {unsafe.Offsetof(v.PopulatedFractionalScaledBytes), 168},
	}
	for n, o := range offs {
		if o[0] != o[1] {
			t.Errorf("zx_info_vmo_t.%s at %d, want %d", n, o[0], o[1])
		}
	}
	if unsafe.Sizeof(v) != 176 || unsafe.Sizeof(InfoHandleBasicRecord{}) != 32 ||
		unsafe.Sizeof(VMODirtyRange{}) != 24 || unsafe.Sizeof(PagerVMOStats{}) != 4 {
		t.Fatal("record sizes wrong")
	}
}
