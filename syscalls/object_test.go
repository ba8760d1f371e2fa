package syscalls

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/pagerd/pagerd/object"
	"github.com/pagerd/pagerd/zx"
)

// vmoFakeObject is a non-VMO object: unnamed and without signals, or
// (vmoFakeSignaled) with signals.
type vmoFakeObject struct{ koid zx.Koid }

func (o *vmoFakeObject) Type() zx.ObjType { return zx.ObjTypeEvent }
func (o *vmoFakeObject) Koid() zx.Koid    { return o.koid }

type vmoFakeSignaled struct {
	vmoFakeObject
	sig object.Signals
}

func (o *vmoFakeSignaled) Signals() *object.Signals { return &o.sig }

func vmoFake(t *testing.T, obj Object, rights zx.Rights) zx.Handle {
	t.Helper()
	h := NewHandle(obj, rights)
	t.Cleanup(func() { HandleClose(h) })
	return h
}

func vmoIn(d time.Duration) zx.Time { return zx.Now() + zx.Time(d) }

func TestVmoObjectGetInfoVMO(t *testing.T) {
	h := vmoNew(t, 3*vmoPage+1, zx.VMOResizable)
	vmoWant(t, "name", ObjectSetProperty(h, zx.PropName, []byte("info-test")), zx.ErrOk)
	vmoWant(t, "write", VmoWrite(h, []byte{1}, vmoPage), zx.ErrOk)
	vmoMap(t, zx.VMPermRead, h, 0, vmoPage)
	basic, _ := HandleInfoBasic(h)
	info := vmoInfo(t, h)
	wantFlags := zx.InfoVMOTypePaged | zx.InfoVMOResizable | zx.InfoVMOViaHandle
	if info.Koid != basic.Koid || string(bytes.TrimRight(info.Name[:], "\x00")) != "info-test" ||
		info.SizeBytes != 4*vmoPage || info.ParentKoid != 0 || info.NumChildren != 0 ||
		info.NumMappings != 1 || info.ShareCount != 1 || info.Flags != wantFlags ||
		info.CommittedBytes != vmoPage || info.PopulatedBytes != vmoPage ||
		info.HandleRights != zx.DefaultVMORights|zx.RightResize || info.CachePolicy != zx.CachePolicyCached {
		t.Fatalf("ZX_INFO_VMO %+v", info)
	}
	// Through a handle with fewer rights: no right is needed, handle_rights follows.
	ro := vmoDup(t, h, zx.RightRead)
	if r := vmoInfo(t, ro).HandleRights; r != zx.RightRead {
		t.Fatalf("handle_rights %#x through a read-only handle", r)
	}
	// Discardable flag; no PAGER_BACKED on plain VMOs.
	d := vmoNew(t, vmoPage, zx.VMODiscardable)
	if f := vmoInfo(t, d).Flags; f != zx.InfoVMOTypePaged|zx.InfoVMODiscardable|zx.InfoVMOViaHandle {
		t.Fatalf("discardable flags %#x", f)
	}
	// Older versions are prefixes of v4.
	full := make([]byte, zx.InfoVMOSize)
	ObjectGetInfo(h, zx.InfoVMO, full)
	for _, c := range []struct {
		topic uint32
		size  int
	}{{zx.InfoVMOv1, 104}, {zx.InfoVMOv2, 120}, {zx.InfoVMOv3, 128}, {zx.InfoVMO, 176}} {
		buf := bytes.Repeat([]byte{0xcc}, 200)
		actual, avail, st := ObjectGetInfo(h, c.topic, buf)
		if st != zx.ErrOk || actual != 1 || avail != 1 || !bytes.Equal(buf[:c.size], full[:c.size]) || buf[c.size] != 0xcc {
			t.Fatalf("topic %#x: %v %d %d", c.topic, st, actual, avail)
		}
		actual, avail, st = ObjectGetInfo(h, c.topic, make([]byte, c.size-1))
		if st != zx.ErrBufferTooSmall || actual != 0 || avail != 1 {
			t.Fatalf("topic %#x short buffer: %v %d %d", c.topic, st, actual, avail)
		}
	}
	if _, _, st := ObjectGetInfo(h, zx.InfoVMO, nil); st != zx.ErrBufferTooSmall {
		t.Fatalf("nil buffer: %v", st)
	}
	// The topic is checked first; then the handle.
	if _, _, st := ObjectGetInfo(zx.HandleInvalid, 0x12345, full); st != zx.ErrNotSupported {
		t.Fatalf("unknown topic, bad handle: %v", st)
	}
	if _, _, st := ObjectGetInfo(zx.HandleInvalid, zx.InfoVMO, full); st != zx.ErrBadHandle {
		t.Fatalf("bad handle: %v", st)
	}
	if _, _, st := ObjectGetInfo(VmarRootSelf(), zx.InfoVMO, full); st != zx.ErrWrongType {
		t.Fatalf("VMAR handle: %v", st)
	}
}

func TestVmoObjectGetInfoHandleBasic(t *testing.T) {
	h := vmoNew(t, vmoPage, 0)
	buf := make([]byte, 40)
	actual, avail, st := ObjectGetInfo(h, zx.InfoHandleBasic, buf)
	if st != zx.ErrOk || actual != 1 || avail != 1 {
		t.Fatalf("handle basic: %v %d %d", st, actual, avail)
	}
	info, _ := HandleInfoBasic(h)
	le := binary.LittleEndian
	if zx.Koid(le.Uint64(buf)) != info.Koid || zx.Rights(le.Uint32(buf[8:])) != zx.DefaultVMORights ||
		zx.ObjType(le.Uint32(buf[12:])) != zx.ObjTypeVMO || le.Uint64(buf[16:]) != 0 {
		t.Fatalf("zx_info_handle_basic_t % x", buf[:32])
	}
	if _, avail, st := ObjectGetInfo(h, zx.InfoHandleBasic, buf[:31]); st != zx.ErrBufferTooSmall || avail != 1 {
		t.Fatalf("short buffer: %v", st)
	}
	if _, _, st := ObjectGetInfo(zx.HandleInvalid, zx.InfoHandleBasic, buf); st != zx.ErrBadHandle {
		t.Fatalf("bad handle: %v", st)
	}
}

func TestVmoObjectProperties(t *testing.T) {
	h := vmoNew(t, 2*vmoPage, 0)
	u64 := func(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
	got := make([]byte, 8)
	vmoWant(t, "get content size", ObjectGetProperty(h, zx.PropVMOContentSize, got), zx.ErrOk)
	if binary.LittleEndian.Uint64(got) != 2*vmoPage {
		t.Fatalf("content size %d", binary.LittleEndian.Uint64(got))
	}
	vmoWant(t, "write", VmoWrite(h, bytes.Repeat([]byte{7}, 2*vmoPage), 0), zx.ErrOk)
	vmoWant(t, "set content size", ObjectSetProperty(h, zx.PropVMOContentSize, u64(100)), zx.ErrOk)
	vmoWant(t, "get content size", ObjectGetProperty(h, zx.PropVMOContentSize, got), zx.ErrOk)
	if binary.LittleEndian.Uint64(got) != 100 {
		t.Fatalf("content size %d", binary.LittleEndian.Uint64(got))
	}
	if size, _ := VmoGetSize(h); size != 2*vmoPage {
		t.Fatalf("content size changed the size to %#x", size)
	}
	tail := make([]byte, 2)
	VmoRead(h, tail, 99)
	if tail[0] != 7 || tail[1] != 0 {
		t.Fatalf("bytes at the new content size: %v (Zircon zeroes [content size, size))", tail)
	}
	// Name: 31 bytes kept; stops at a NUL.
	vmoWant(t, "set long name", ObjectSetProperty(h, zx.PropName, []byte("0123456789012345678901234567890123456789")), zx.ErrOk)
	name := bytes.Repeat([]byte{0xff}, 40)
	vmoWant(t, "get name", ObjectGetProperty(h, zx.PropName, name), zx.ErrOk)
	if string(name[:31]) != "0123456789012345678901234567890" || name[31] != 0 || name[32] != 0xff {
		t.Fatalf("name % x", name)
	}
	vmoWant(t, "set name with NUL", ObjectSetProperty(h, zx.PropName, []byte("ab\x00cd")), zx.ErrOk)
	vmoWant(t, "get name", ObjectGetProperty(h, zx.PropName, name), zx.ErrOk)
	if string(bytes.TrimRight(name[:32], "\x00")) != "ab" {
		t.Fatalf("name %q", name[:32])
	}
	noProp := vmoDup(t, h, zx.DefaultVMORights&^zx.RightsProperty)
	other := vmoFake(t, &vmoFakeObject{koid: 5}, zx.RightGetProperty|zx.RightSetProperty)
	cases := []struct {
		name string
		get  bool
		h    zx.Handle
		prop uint32
		buf  []byte
		want zx.Status
	}{
		{"get nil buffer", true, h, zx.PropName, nil, zx.ErrInvalidArgs},
		{"set nil buffer", false, h, zx.PropName, nil, zx.ErrInvalidArgs},
		{"nil buffer before handle", true, zx.HandleInvalid, zx.PropName, nil, zx.ErrInvalidArgs},
		{"get bad handle", true, zx.HandleInvalid, zx.PropName, make([]byte, 32), zx.ErrBadHandle},
		{"get no right", true, noProp, zx.PropName, make([]byte, 32), zx.ErrAccessDenied},
		{"set no right", false, noProp, zx.PropVMOContentSize, u64(1), zx.ErrAccessDenied},
		{"get name short", true, h, zx.PropName, make([]byte, 31), zx.ErrBufferTooSmall},
		{"get content size short", true, h, zx.PropVMOContentSize, make([]byte, 7), zx.ErrBufferTooSmall},
		{"set content size short", false, h, zx.PropVMOContentSize, make([]byte, 7), zx.ErrBufferTooSmall},
		{"get content size of non-VMO", true, other, zx.PropVMOContentSize, make([]byte, 8), zx.ErrWrongType},
		{"set content size of non-VMO", false, other, zx.PropVMOContentSize, u64(1), zx.ErrWrongType},
		{"get name of unnamed object", true, other, zx.PropName, make([]byte, 32), zx.ErrOk},
		{"set name of unnamed object", false, other, zx.PropName, []byte("x"), zx.ErrNotSupported},
		{"get unknown", true, h, 9999, make([]byte, 64), zx.ErrNotSupported},
		{"set unknown", false, h, 9999, make([]byte, 64), zx.ErrNotSupported},
		{"set empty name", false, h, zx.PropName, []byte{}, zx.ErrOk},
	}
	for _, c := range cases {
		var st zx.Status
		if c.get {
			st = ObjectGetProperty(c.h, c.prop, c.buf)
		} else {
			st = ObjectSetProperty(c.h, c.prop, c.buf)
		}
		vmoWant(t, c.name, st, c.want)
	}
}

func TestVmoObjectWaitOne(t *testing.T) {
	h := vmoNew(t, vmoPage, 0)
	// ZERO_CHILDREN is asserted from creation: an infinite wait returns at once.
	obs, st := ObjectWaitOne(h, zx.VMOZeroChildren, zx.TimeInfinite)
	if st != zx.ErrOk || obs&zx.VMOZeroChildren == 0 {
		t.Fatalf("wait ZERO_CHILDREN: %#x %v", obs, st)
	}
	if obs, st := ObjectWaitOne(h, zx.VMOZeroChildren, zx.TimeInfinitePast); st != zx.ErrOk || obs != zx.VMOZeroChildren {
		t.Fatalf("poll ZERO_CHILDREN: %#x %v", obs, st)
	}
	start := time.Now()
	obs, st = ObjectWaitOne(h, zx.UserSignal0, vmoIn(30*time.Millisecond))
	if st != zx.ErrTimedOut || obs != zx.VMOZeroChildren || time.Since(start) < 25*time.Millisecond {
		t.Fatalf("wait for an unasserted signal: %#x %v after %v", obs, st, time.Since(start))
	}
	if _, st := ObjectWaitOne(h, zx.UserSignal0, zx.TimeInfinitePast); st != zx.ErrTimedOut {
		t.Fatalf("poll: %v", st)
	}
	// Closing the handle cancels a wait on it.
	d, _ := HandleDuplicate(h, zx.RightSameRights)
	type result struct {
		obs zx.Signals
		st  zx.Status
	}
	done := make(chan result, 1)
	go func() {
		o, s := ObjectWaitOne(d, zx.UserSignal0, vmoIn(10*time.Second))
		done <- result{o, s}
	}()
	time.Sleep(20 * time.Millisecond)
	HandleClose(d)
	select {
	case r := <-done:
		if r.st != zx.ErrCanceled || r.obs&zx.SignalHandleClosed == 0 || r.obs&zx.VMOZeroChildren == 0 {
			t.Fatalf("wait on a closed handle: %#x %v", r.obs, r.st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait not canceled by handle close")
	}
	// A signal raised during the wait wakes it.
	sig := &vmoFakeSignaled{vmoFakeObject: vmoFakeObject{koid: 7}}
	sh := vmoFake(t, sig, zx.RightWait)
	go func() {
		time.Sleep(20 * time.Millisecond)
		sig.sig.Update(0, zx.UserSignal0)
	}()
	if obs, st := ObjectWaitOne(sh, zx.UserSignal0, vmoIn(5*time.Second)); st != zx.ErrOk || obs != zx.UserSignal0 {
		t.Fatalf("woken wait: %#x %v", obs, st)
	}
	noWait := vmoDup(t, h, zx.DefaultVMORights&^zx.RightWait)
	cases := []struct {
		name string
		h    zx.Handle
		want zx.Status
	}{
		{"bad handle", zx.HandleInvalid, zx.ErrBadHandle},
		{"no WAIT right", noWait, zx.ErrAccessDenied},
		{"no signals", vmoFake(t, &vmoFakeObject{koid: 8}, zx.RightWait), zx.ErrNotSupported},
		{"root VMAR has no WAIT", VmarRootSelf(), zx.ErrAccessDenied},
	}
	for _, c := range cases {
		_, st := ObjectWaitOne(c.h, zx.VMOZeroChildren, zx.TimeInfinitePast)
		vmoWant(t, c.name, st, c.want)
	}
}
