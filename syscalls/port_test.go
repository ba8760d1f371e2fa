package syscalls

import (
	"testing"
	"time"
	"unsafe"

	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/zx"
)

// Tests of PortCreate, PortQueue, PortWait and PortObject. Helpers and types
// start with "port" (shared package; see handle_test.go).

const portTestTimeout = 10 * time.Second

func portIn(d time.Duration) zx.Time { return zx.Now() + zx.Time(d) }

func TestPortCreateStatus(t *testing.T) {
	for _, c := range []struct {
		name    string
		options uint32
		want    zx.Status
	}{
		{"zero", 0, zx.ErrOk},
		{"BIND_TO_INTERRUPT (no interrupts here)", zx.PortBindToInterrupt, zx.ErrNotSupported},
		{"unknown bit", 0x2, zx.ErrInvalidArgs},
		{"BIND_TO_INTERRUPT plus unknown bit", zx.PortBindToInterrupt | 0x2, zx.ErrInvalidArgs},
		{"high bit", 0x80000000, zx.ErrInvalidArgs},
		{"all bits", ^uint32(0), zx.ErrInvalidArgs},
	} {
		h, st := PortCreate(c.options)
		if st != c.want {
			t.Errorf("%s: PortCreate(%#x) = %v, want %v", c.name, c.options, st, c.want)
		}
		if st != zx.ErrOk {
			if h != zx.HandleInvalid {
				t.Errorf("%s: handle %#x returned on failure", c.name, h)
			}
			continue
		}
		portCleanup(t, h)
		info, st := HandleInfoBasic(h)
		if st != zx.ErrOk || info.Rights != zx.DefaultPortRights || uint32(info.Rights) != 0x800F ||
			info.Type != zx.ObjTypePort || h&zx.HandleFixedBitsMask != zx.HandleFixedBitsMask {
			t.Errorf("%s: handle %#x info %+v %v", c.name, h, info, st)
		}
	}
}

func TestPortQueueStatus(t *testing.T) {
	h := portNew(t)
	readOnly := portWithRights(t, h, zx.RightRead)
	writeOnly := portWithRights(t, h, zx.RightWrite)
	fake := portFake(t)
	full := portNew(t)
	pkt := &zx.PortPacket{Key: 1}
	for i := 0; i < port.MaxUserPackets; i++ {
		if st := PortQueue(full, pkt); st != zx.ErrOk {
			t.Fatalf("filling: packet %d: %v", i, st)
		}
	}
	// Zircon's sys_port_queue order: handle (type, then WRITE), then the
	// packet copy-in, then the queue.
	for _, c := range []struct {
		name string
		h    zx.Handle
		pkt  *zx.PortPacket
		want zx.Status
	}{
		{"invalid handle, nil packet", zx.HandleInvalid, nil, zx.ErrBadHandle},
		{"unknown handle", portUnknown, pkt, zx.ErrBadHandle},
		{"not a port, nil packet", fake, nil, zx.ErrWrongType},
		{"not a port", fake, pkt, zx.ErrWrongType},
		{"no WRITE, nil packet", readOnly, nil, zx.ErrAccessDenied},
		{"no WRITE", readOnly, pkt, zx.ErrAccessDenied},
		{"nil packet", writeOnly, nil, zx.ErrInvalidArgs},
		{"WRITE is enough", writeOnly, pkt, zx.ErrOk},
		{"default rights", h, pkt, zx.ErrOk},
		{"too many user packets", full, pkt, zx.ErrShouldWait},
		{"too many, nil packet", full, nil, zx.ErrInvalidArgs},
	} {
		if got := PortQueue(c.h, c.pkt); got != c.want {
			t.Errorf("%s: PortQueue = %v, want %v", c.name, got, c.want)
		}
	}
	p, _ := PortObject(h, zx.RightNone)
	if p.Len() != 2 {
		t.Fatalf("Len = %d, want the 2 successful queues", p.Len())
	}
	var out zx.PortPacket
	if PortWait(full, zx.TimeInfinitePast, &out) != zx.ErrOk || PortQueue(full, pkt) != zx.ErrOk {
		t.Fatal("a wait did not make room")
	}
}

func TestPortWaitStatus(t *testing.T) {
	h := portNew(t)
	readOnly := portWithRights(t, h, zx.RightRead)
	writeOnly := portWithRights(t, h, zx.RightWrite)
	fake := portFake(t)
	var out zx.PortPacket
	in := zx.PortPacket{Key: 77}
	if PortQueue(h, &in) != zx.ErrOk {
		t.Fatal("queue")
	}
	// Handle (type, then READ), then the output pointer, then the wait. The
	// packet queued above must survive every failing row.
	for _, c := range []struct {
		name     string
		h        zx.Handle
		deadline zx.Time
		pkt      *zx.PortPacket
		want     zx.Status
	}{
		{"invalid handle, nil packet", zx.HandleInvalid, zx.TimeInfinitePast, nil, zx.ErrBadHandle},
		{"unknown handle", portUnknown, zx.TimeInfinitePast, &out, zx.ErrBadHandle},
		{"not a port, nil packet", fake, zx.TimeInfinitePast, nil, zx.ErrWrongType},
		{"no READ, nil packet", writeOnly, zx.TimeInfinitePast, nil, zx.ErrAccessDenied},
		{"no READ", writeOnly, zx.TimeInfinitePast, &out, zx.ErrAccessDenied},
		{"nil packet (not consumed, never blocks)", readOnly, zx.TimeInfinite, nil, zx.ErrInvalidArgs},
		{"READ is enough", readOnly, zx.TimeInfinitePast, &out, zx.ErrOk},
		{"empty, past deadline", h, zx.TimeInfinitePast, &out, zx.ErrTimedOut},
		{"empty, deadline now", h, zx.Now(), &out, zx.ErrTimedOut},
		{"empty, deadline 0", h, 0, &out, zx.ErrTimedOut},
	} {
		if got := PortWait(c.h, c.deadline, c.pkt); got != c.want {
			t.Errorf("%s: PortWait = %v, want %v", c.name, got, c.want)
		}
		if c.want == zx.ErrOk && out != in {
			t.Errorf("%s: got %+v, want %+v", c.name, out, in)
		}
	}
}

// TestPortPacketRoundTrip sends 48 arbitrary bytes through PortQueue and
// PortWait: all come back unchanged except the type, which becomes USER.
func TestPortPacketRoundTrip(t *testing.T) {
	h := portNew(t)
	var raw [zx.PortPacketSize]byte
	for i := range raw {
		raw[i] = byte(0xA0 ^ i*7)
	}
	in := zx.PortPacketFromBytes(raw)
	if in.Type == zx.PktTypeUser || in.Status >= 0 {
		t.Fatalf("test packet should have a non-USER type and a negative status: %+v", in)
	}
	if st := PortQueue(h, &in); st != zx.ErrOk {
		t.Fatal(st)
	}
	var out zx.PortPacket
	if st := PortWait(h, portIn(portTestTimeout), &out); st != zx.ErrOk {
		t.Fatal(st)
	}
	want := raw
	want[8], want[9], want[10], want[11] = 0, 0, 0, 0 // type @8 forced to ZX_PKT_TYPE_USER
	if got := out.Bytes(); got != want {
		t.Fatalf("round trip\n got % x\nwant % x", got, want)
	}
	// The Go struct's memory is the C zx_port_packet_t.
	if mem := *(*[zx.PortPacketSize]byte)(unsafe.Pointer(&out)); mem != want {
		t.Fatalf("in-memory packet % x", mem)
	}
	if out.Key != in.Key || out.Status != in.Status || out.Union != in.Union || out.Type != zx.PktTypeUser {
		t.Fatalf("fields: %+v from %+v", out, in)
	}
}

// Kernel packets (a pager VMO's slot) keep their type and content through PortWait.
func TestPortWaitKernelPacket(t *testing.T) {
	h := portNew(t)
	p, st := PortObject(h, zx.RightWrite)
	if st != zx.ErrOk {
		t.Fatal(st)
	}
	var s port.Slot
	var taken zx.PortPacket
	s.SetOnDequeue(func(pkt zx.PortPacket) { taken = pkt })
	want := zx.NewPageRequestPacket(0x1234, zx.PagerVMORead, 0x5000, 0x3000)
	user := zx.PortPacket{Key: 1}
	PortQueue(h, &user)
	p.QueueSlot(&s, want)
	var out zx.PortPacket
	if PortWait(h, zx.TimeInfinitePast, &out) != zx.ErrOk || out.Key != 1 {
		t.Fatalf("FIFO: first %+v", out)
	}
	if PortWait(h, zx.TimeInfinitePast, &out) != zx.ErrOk || out != want || taken != want {
		t.Fatalf("page request: got %+v, OnDequeue saw %+v", out, taken)
	}
	if r := out.PageRequest(); out.Type != zx.PktTypePageRequest || r.Offset != 0x5000 || r.Length != 0x3000 {
		t.Fatalf("decoded %+v", r)
	}
}

func TestPortWaitBlocking(t *testing.T) {
	h := portNew(t)

	// A future deadline times out about then.
	const d = 40 * time.Millisecond
	var out zx.PortPacket
	start := zx.Now()
	st := PortWait(h, start+zx.Time(d), &out)
	if el := time.Duration(zx.Now() - start); st != zx.ErrTimedOut || el < d || el > d+2*time.Second {
		t.Fatalf("PortWait = %v after %v, want TIMED_OUT after about %v", st, el, d)
	}

	// ZX_TIME_INFINITE is woken by a queue from another goroutine.
	type res struct {
		st  zx.Status
		pkt zx.PortPacket
	}
	done := make(chan res, 1)
	go func() {
		var pkt zx.PortPacket
		st := PortWait(h, zx.TimeInfinite, &pkt)
		done <- res{st, pkt}
	}()
	time.Sleep(10 * time.Millisecond)
	in := zx.PortPacket{Key: 9}
	if PortQueue(h, &in) != zx.ErrOk {
		t.Fatal("queue")
	}
	select {
	case r := <-done:
		if r.st != zx.ErrOk || r.pkt.Key != 9 {
			t.Fatalf("woken wait: %v %+v", r.st, r.pkt)
		}
	case <-time.After(portTestTimeout):
		t.Fatal("infinite PortWait not woken")
	}
}

// Closing the handle a PortWait is blocked on does not cancel it (Zircon:
// the waiting thread holds the dispatcher, handle close never posts the
// port's semaphore).
func TestPortWaitSurvivesHandleClose(t *testing.T) {
	h := portNew(t)
	dup := portWithRights(t, h, zx.RightSameRights)
	done := make(chan zx.Status, 1)
	got := make(chan zx.PortPacket, 1)
	go func() {
		var pkt zx.PortPacket
		st := PortWait(h, portIn(portTestTimeout), &pkt)
		done <- st
		got <- pkt
	}()
	time.Sleep(20 * time.Millisecond)
	if HandleClose(h) != zx.ErrOk {
		t.Fatal("close")
	}
	select {
	case st := <-done:
		t.Fatalf("PortWait returned %v when its handle was closed", st)
	case <-time.After(30 * time.Millisecond):
	}
	in := zx.PortPacket{Key: 11}
	if PortQueue(dup, &in) != zx.ErrOk {
		t.Fatal("queue through the duplicate")
	}
	select {
	case st := <-done:
		if pkt := <-got; st != zx.ErrOk || pkt.Key != 11 {
			t.Fatalf("PortWait = %v %+v, want the packet queued through the duplicate", st, pkt)
		}
	case <-time.After(portTestTimeout):
		t.Fatal("PortWait not woken")
	}

	// Closing the last handle: the blocked wait runs to its deadline.
	h2 := portNew(t)
	go func() {
		var pkt zx.PortPacket
		done <- PortWait(h2, portIn(60*time.Millisecond), &pkt)
	}()
	time.Sleep(10 * time.Millisecond)
	HandleClose(h2)
	select {
	case st := <-done:
		if st != zx.ErrTimedOut {
			t.Fatalf("PortWait after last close = %v, want TIMED_OUT", st)
		}
	case <-time.After(portTestTimeout):
		t.Fatal("PortWait never returned")
	}
}

func TestPortObject(t *testing.T) {
	h := portNew(t)
	d := portWithRights(t, h, zx.RightRead)
	p1, st1 := PortObject(h, zx.RightRead|zx.RightWrite)
	p2, st2 := PortObject(d, zx.RightRead)
	if st1 != zx.ErrOk || st2 != zx.ErrOk || p1 == nil || p1 != p2 {
		t.Fatalf("PortObject: %p %v, %p %v", p1, st1, p2, st2)
	}
	if _, st := PortObject(d, zx.RightWrite); st != zx.ErrAccessDenied {
		t.Fatalf("missing WRITE: %v", st)
	}
	info, _ := HandleInfoBasic(h)
	if p1.Koid() != info.Koid || p1.Type() != zx.ObjTypePort {
		t.Fatal("koid/type mismatch")
	}
	// Packets queued through the object are seen through the handle.
	p1.Queue(zx.PortPacket{Key: 3})
	var out zx.PortPacket
	if PortWait(d, zx.TimeInfinitePast, &out) != zx.ErrOk || out.Key != 3 {
		t.Fatalf("PortWait: %+v", out)
	}
}
