package syscalls

import (
	"testing"

	"github.com/pagerd/pagerd/object"
	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/zx"
)

// Handle-table tests, with ports as the objects. Every helper and type here
// starts with "port" (other _test.go files of this package are written
// independently).

// portFakeObject is an object of another type (an event), for WRONG_TYPE.
type portFakeObject struct{ koid zx.Koid }

func (o *portFakeObject) Type() zx.ObjType { return zx.ObjTypeEvent }
func (o *portFakeObject) Koid() zx.Koid    { return o.koid }

// portNew creates a port handle with the default rights and closes it (if
// still open) when the test ends.
func portNew(t *testing.T) zx.Handle {
	t.Helper()
	h, st := PortCreate(0)
	if st != zx.ErrOk {
		t.Fatalf("PortCreate: %v", st)
	}
	portCleanup(t, h)
	return h
}

// portCleanup closes h at the end of the test if it is still open.
func portCleanup(t *testing.T, h zx.Handle) {
	t.Cleanup(func() { HandleClose(h) })
}

// portWithRights returns a new handle to h's object with exactly these rights.
func portWithRights(t *testing.T, h zx.Handle, rights zx.Rights) zx.Handle {
	t.Helper()
	d, st := HandleDuplicate(h, rights)
	if st != zx.ErrOk {
		t.Fatalf("HandleDuplicate(%#x): %v", rights, st)
	}
	portCleanup(t, d)
	return d
}

// portFake installs a handle to a non-port object with all rights.
func portFake(t *testing.T) zx.Handle {
	h := NewHandle(&portFakeObject{koid: object.NewKoid()}, ^zx.Rights(0)&^zx.RightSameRights)
	portCleanup(t, h)
	return h
}

// portRights returns the rights of h via ZX_INFO_HANDLE_BASIC.
func portRights(t *testing.T, h zx.Handle) zx.Rights {
	t.Helper()
	info, st := HandleInfoBasic(h)
	if st != zx.ErrOk {
		t.Fatalf("HandleInfoBasic(%#x): %v", h, st)
	}
	return info.Rights
}

// portUnknown is a handle value that was never handed out: the right shape
// (low bits set) but far beyond the allocator.
const portUnknown zx.Handle = 0xfffffff3

func TestPortHandleValues(t *testing.T) {
	seen := map[zx.Handle]bool{}
	for i := 0; i < 64; i++ {
		h := portNew(t)
		if h == zx.HandleInvalid || h&zx.HandleFixedBitsMask != zx.HandleFixedBitsMask || seen[h] {
			t.Fatalf("handle %#x: invalid, low bits not set, or reused", h)
		}
		seen[h] = true
		d := portWithRights(t, h, zx.RightSameRights)
		if d&zx.HandleFixedBitsMask != zx.HandleFixedBitsMask || seen[d] {
			t.Fatalf("duplicate %#x: low bits not set or reused", d)
		}
		seen[d] = true
	}
}

func TestPortHandleClose(t *testing.T) {
	open := portNew(t)
	closed := portNew(t)
	if st := HandleClose(closed); st != zx.ErrOk {
		t.Fatalf("close: %v", st)
	}
	for _, c := range []struct {
		name string
		h    zx.Handle
		want zx.Status
	}{
		{"invalid handle is OK", zx.HandleInvalid, zx.ErrOk},
		{"open handle", open, zx.ErrOk},
		{"same handle again", open, zx.ErrBadHandle},
		{"already closed", closed, zx.ErrBadHandle},
		{"unknown value", portUnknown, zx.ErrBadHandle},
		{"low bits clear", open &^ zx.HandleFixedBitsMask, zx.ErrBadHandle},
		{"one", 1, zx.ErrBadHandle},
	} {
		if got := HandleClose(c.h); got != c.want {
			t.Errorf("%s: HandleClose(%#x) = %v, want %v", c.name, c.h, got, c.want)
		}
	}
	var pkt zx.PortPacket
	if st := PortQueue(open, &pkt); st != zx.ErrBadHandle {
		t.Fatalf("closed handle still usable: %v", st)
	}
}

func TestPortHandleDuplicate(t *testing.T) {
	h := portNew(t)
	noDup := portWithRights(t, h, zx.RightRead|zx.RightWrite|zx.RightTransfer)
	readOnly := portWithRights(t, h, zx.RightRead|zx.RightDuplicate)
	closed := portNew(t)
	HandleClose(closed)
	for _, c := range []struct {
		name       string
		h          zx.Handle
		rights     zx.Rights
		want       zx.Status
		wantRights zx.Rights
	}{
		{"same rights", h, zx.RightSameRights, zx.ErrOk, zx.DefaultPortRights},
		{"explicit equal rights", h, zx.DefaultPortRights, zx.ErrOk, zx.DefaultPortRights},
		{"reduced", h, zx.RightRead | zx.RightDuplicate, zx.ErrOk, zx.RightRead | zx.RightDuplicate},
		{"no rights", h, zx.RightNone, zx.ErrOk, zx.RightNone},
		{"reduced source, same rights", readOnly, zx.RightSameRights, zx.ErrOk, zx.RightRead | zx.RightDuplicate},
		{"more rights (MAP)", h, zx.DefaultPortRights | zx.RightMap, zx.ErrInvalidArgs, 0},
		{"WAIT on a port", h, zx.RightWait, zx.ErrInvalidArgs, 0},
		{"more than a reduced source", readOnly, zx.RightRead | zx.RightWrite, zx.ErrInvalidArgs, 0},
		{"SAME_RIGHTS mixed with a right", h, zx.RightSameRights | zx.RightRead, zx.ErrInvalidArgs, 0},
		{"source lacks DUPLICATE", noDup, zx.RightSameRights, zx.ErrAccessDenied, 0},
		{"DUPLICATE checked before the rights", noDup, zx.RightMap, zx.ErrAccessDenied, 0},
		{"invalid handle", zx.HandleInvalid, zx.RightSameRights, zx.ErrBadHandle, 0},
		{"closed handle", closed, zx.RightSameRights, zx.ErrBadHandle, 0},
		{"unknown handle", portUnknown, zx.RightSameRights, zx.ErrBadHandle, 0},
	} {
		d, st := HandleDuplicate(c.h, c.rights)
		if st != c.want {
			t.Errorf("%s: HandleDuplicate = %v, want %v", c.name, st, c.want)
			continue
		}
		if st != zx.ErrOk {
			if d != zx.HandleInvalid {
				t.Errorf("%s: failed duplicate returned handle %#x", c.name, d)
			}
			continue
		}
		portCleanup(t, d)
		if d == c.h {
			t.Errorf("%s: duplicate has the source's value", c.name)
		}
		if got := portRights(t, d); got != c.wantRights {
			t.Errorf("%s: rights %#x, want %#x", c.name, got, c.wantRights)
		}
		if portKoid(t, d) != portKoid(t, c.h) {
			t.Errorf("%s: duplicate refers to another object", c.name)
		}
	}
	// The source keeps its rights, and the duplicate outlives it.
	if portRights(t, h) != zx.DefaultPortRights {
		t.Fatal("source rights changed")
	}
	d := portWithRights(t, h, zx.RightSameRights)
	HandleClose(h)
	pkt := zx.PortPacket{Key: 5}
	if PortQueue(d, &pkt) != zx.ErrOk || PortWait(d, zx.TimeInfinitePast, &pkt) != zx.ErrOk || pkt.Key != 5 {
		t.Fatal("duplicate unusable after the source was closed")
	}
}

func portKoid(t *testing.T, h zx.Handle) zx.Koid {
	t.Helper()
	info, st := HandleInfoBasic(h)
	if st != zx.ErrOk {
		t.Fatalf("HandleInfoBasic: %v", st)
	}
	return info.Koid
}

func TestPortHandleReplace(t *testing.T) {
	for _, c := range []struct {
		name       string
		srcRights  zx.Rights // rights of the handle being replaced
		rights     zx.Rights
		want       zx.Status
		wantRights zx.Rights
	}{
		{"same rights", zx.DefaultPortRights, zx.RightSameRights, zx.ErrOk, zx.DefaultPortRights},
		{"reduced", zx.DefaultPortRights, zx.RightRead, zx.ErrOk, zx.RightRead},
		{"no DUPLICATE needed", zx.RightRead | zx.RightWrite, zx.RightSameRights, zx.ErrOk, zx.RightRead | zx.RightWrite},
		{"to no rights", zx.RightRead, zx.RightNone, zx.ErrOk, zx.RightNone},
		{"more rights", zx.RightRead, zx.RightRead | zx.RightWrite, zx.ErrInvalidArgs, 0},
		{"SAME_RIGHTS mixed", zx.DefaultPortRights, zx.RightSameRights | zx.RightRead, zx.ErrInvalidArgs, 0},
	} {
		base := portNew(t)
		p, _ := PortObject(base, zx.RightNone)
		src := portWithRights(t, base, c.srcRights)
		koid := portKoid(t, src)
		nh, st := HandleReplace(src, c.rights)
		if st != c.want {
			t.Errorf("%s: HandleReplace = %v, want %v", c.name, st, c.want)
			continue
		}
		// The old handle is gone whether or not the call succeeded.
		if _, st := HandleInfoBasic(src); st != zx.ErrBadHandle {
			t.Errorf("%s: old handle still valid (%v)", c.name, st)
		}
		if HandleClose(src) != zx.ErrBadHandle {
			t.Errorf("%s: old handle closable", c.name)
		}
		if st != zx.ErrOk {
			if nh != zx.HandleInvalid {
				t.Errorf("%s: failed replace returned %#x", c.name, nh)
			}
			continue
		}
		portCleanup(t, nh)
		info, _ := HandleInfoBasic(nh)
		if info.Rights != c.wantRights || info.Koid != koid {
			t.Errorf("%s: new handle rights %#x koid %d, want %#x %d", c.name, info.Rights, info.Koid, c.wantRights, koid)
		}
		// base keeps the port open throughout.
		if p.Queue(zx.PortPacket{}) != nil {
			t.Errorf("%s: port closed by replace", c.name)
		}
	}
	for _, c := range []struct {
		name string
		h    zx.Handle
	}{{"invalid", zx.HandleInvalid}, {"unknown", portUnknown}} {
		if nh, st := HandleReplace(c.h, zx.RightSameRights); st != zx.ErrBadHandle || nh != zx.HandleInvalid {
			t.Errorf("%s: HandleReplace = %#x %v, want BAD_HANDLE", c.name, nh, st)
		}
	}
}

// TestPortHandleLastClose: the port sees its last handle go
// (PortDispatcher::on_zero_handles) by close, by a failed replace, but not by
// a successful replace or while a duplicate lives.
func TestPortHandleLastClose(t *testing.T) {
	portQueued := func(p *port.Port) bool { return p.Queue(zx.PortPacket{}) == nil }

	h := portNew(t)
	p, _ := PortObject(h, zx.RightNone)
	d := portWithRights(t, h, zx.RightSameRights)
	HandleClose(h)
	if !portQueued(p) {
		t.Fatal("port closed while a duplicate is open")
	}
	r, st := HandleReplace(d, zx.RightRead)
	if st != zx.ErrOk || !portQueued(p) {
		t.Fatalf("successful replace closed the port (%v)", st)
	}
	HandleClose(r)
	if err := p.Queue(zx.PortPacket{}); zx.StatusOf(err) != zx.ErrBadHandle || p.Len() != 0 {
		t.Fatalf("after last close: Queue %v, Len %d (want BAD_HANDLE, 0)", err, p.Len())
	}

	h2 := portNew(t)
	p2, _ := PortObject(h2, zx.RightNone)
	if _, st := HandleReplace(h2, zx.RightMap); st != zx.ErrInvalidArgs {
		t.Fatalf("replace with more rights: %v", st)
	}
	if portQueued(p2) {
		t.Fatal("failed replace of the last handle did not close the port")
	}
}

func TestPortHandleInfoBasic(t *testing.T) {
	h := portNew(t)
	p, st := PortObject(h, zx.RightNone)
	if st != zx.ErrOk {
		t.Fatal(st)
	}
	none := portWithRights(t, h, zx.RightNone)
	closed := portNew(t)
	HandleClose(closed)
	for _, c := range []struct {
		name string
		h    zx.Handle
		want zx.Status
		rts  zx.Rights
	}{
		{"default rights", h, zx.ErrOk, zx.DefaultPortRights},
		{"no rights needed", none, zx.ErrOk, zx.RightNone},
		{"invalid", zx.HandleInvalid, zx.ErrBadHandle, 0},
		{"closed", closed, zx.ErrBadHandle, 0},
		{"unknown", portUnknown, zx.ErrBadHandle, 0},
	} {
		info, st := HandleInfoBasic(c.h)
		if st != c.want {
			t.Errorf("%s: HandleInfoBasic = %v, want %v", c.name, st, c.want)
			continue
		}
		if st != zx.ErrOk {
			if info != (zx.InfoHandleBasicRecord{}) {
				t.Errorf("%s: record filled on failure: %+v", c.name, info)
			}
			continue
		}
		want := zx.InfoHandleBasicRecord{Koid: p.Koid(), Rights: c.rts, Type: zx.ObjTypePort}
		if info != want {
			t.Errorf("%s: %+v, want %+v", c.name, info, want)
		}
	}
	if uint32(zx.DefaultPortRights) != 0x800F || zx.ObjTypePort != 6 {
		t.Fatal("port constants")
	}
}

// TestPortHandleLookupOrder: invalid → BAD_HANDLE, wrong type → WRONG_TYPE
// (even when rights are also missing), missing rights → ACCESS_DENIED.
func TestPortHandleLookupOrder(t *testing.T) {
	h := portNew(t)
	noRights := portWithRights(t, h, zx.RightNone)
	readOnly := portWithRights(t, h, zx.RightRead)
	fake := portFake(t)
	fakeNoRights := NewHandle(&portFakeObject{koid: object.NewKoid()}, zx.RightNone)
	portCleanup(t, fakeNoRights)
	for _, c := range []struct {
		name string
		h    zx.Handle
		want zx.Rights
		st   zx.Status
	}{
		{"invalid", zx.HandleInvalid, zx.RightRead, zx.ErrBadHandle},
		{"unknown", portUnknown, zx.RightRead, zx.ErrBadHandle},
		{"wrong type", fake, zx.RightRead, zx.ErrWrongType},
		{"wrong type before rights", fakeNoRights, zx.RightRead | zx.RightWrite, zx.ErrWrongType},
		{"missing all rights", noRights, zx.RightRead, zx.ErrAccessDenied},
		{"missing one right", readOnly, zx.RightRead | zx.RightWrite, zx.ErrAccessDenied},
		{"right present", readOnly, zx.RightRead, zx.ErrOk},
		{"nothing required", noRights, zx.RightNone, zx.ErrOk},
	} {
		p, rts, st := lookup[*port.Port](c.h, c.want)
		if st != c.st {
			t.Errorf("%s: lookup = %v, want %v", c.name, st, c.st)
			continue
		}
		if (st == zx.ErrOk) != (p != nil) {
			t.Errorf("%s: object %v with status %v", c.name, p, st)
		}
		if st == zx.ErrOk && rts != portRights(t, c.h) {
			t.Errorf("%s: lookup rights %#x", c.name, rts)
		}
		// PortObject is the exported face of the same lookup.
		if _, st := PortObject(c.h, c.want); st != c.st {
			t.Errorf("%s: PortObject = %v, want %v", c.name, st, c.st)
		}
	}
	if o, _, st := lookup[*portFakeObject](fake, zx.RightNone); st != zx.ErrOk || o.Type() != zx.ObjTypeEvent {
		t.Fatalf("lookup of the fake object as itself: %v", st)
	}
	if _, _, st := lookup[*portFakeObject](h, zx.RightNone); st != zx.ErrWrongType {
		t.Fatalf("port looked up as fake: %v", st)
	}
}
