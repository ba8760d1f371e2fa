package port

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagerd/pagerd/zx"
)

// Every blocking call in these tests has a deadline or a cancel channel, so a
// bug shows up as a failure, never as a hung test.

const testTimeout = 10 * time.Second

func in(d time.Duration) zx.Time { return zx.Now() + zx.Time(d) }

func userPkt(key uint64) zx.PortPacket {
	p := zx.PortPacket{Key: key, Status: zx.Status(-int32(key % 100))}
	p.SetUser([4]uint64{key, key * 2, key * 3, ^key})
	return p
}

func mustWait(t *testing.T, p *Port) zx.PortPacket {
	t.Helper()
	pkt, err := p.Wait(in(testTimeout), nil)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return pkt
}

func wantStatus(t *testing.T, err error, want zx.Status) {
	t.Helper()
	var ze *zx.Error
	if !errors.As(err, &ze) || ze.Status != want {
		t.Fatalf("error %v, want *zx.Error %v", err, want)
	}
}

func TestTypeAndKoid(t *testing.T) {
	a, b := New(), New()
	if a.Type() != zx.ObjTypePort || a.Koid() < 1024 || b.Koid() == a.Koid() {
		t.Fatalf("type %d koids %d %d", a.Type(), a.Koid(), b.Koid())
	}
}

func TestFIFOAcrossUserPacketsAndSlots(t *testing.T) {
	p := New()
	var s1, s2 Slot
	page := func(key, off uint64) zx.PortPacket {
		return zx.NewPageRequestPacket(key, zx.PagerVMORead, off, zx.PageSize)
	}
	if err := p.Queue(userPkt(1)); err != nil {
		t.Fatal(err)
	}
	if !p.QueueSlot(&s1, page(2, 0x1000)) {
		t.Fatal("QueueSlot s1")
	}
	if err := p.Queue(userPkt(3)); err != nil {
		t.Fatal(err)
	}
	if !p.QueueSlot(&s2, page(4, 0x2000)) {
		t.Fatal("QueueSlot s2")
	}
	if err := p.Queue(userPkt(5)); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 5 {
		t.Fatalf("Len = %d, want 5", p.Len())
	}
	for i, want := range []zx.PortPacket{userPkt(1), page(2, 0x1000), userPkt(3), page(4, 0x2000), userPkt(5)} {
		got := mustWait(t, p)
		if got != want {
			t.Fatalf("packet %d = %+v, want %+v", i, got, want)
		}
		if p.Len() != 4-i {
			t.Fatalf("after %d waits Len = %d", i+1, p.Len())
		}
	}
	_, err := p.Wait(zx.TimeInfinitePast, nil)
	wantStatus(t, err, zx.ErrTimedOut)
}

func TestFIFOManyThroughRingGrowth(t *testing.T) {
	p := New()
	// Interleave so the ring wraps while it grows.
	next := uint64(0)
	for round := 0; round < 5; round++ {
		for i := 0; i < 100; i++ {
			if err := p.Queue(userPkt(uint64(round*1000 + i))); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 60; i++ {
			got := mustWait(t, p).Key
			want := next
			if got != want {
				t.Fatalf("got key %d, want %d", got, want)
			}
			next++
			if next%1000 == 100 {
				next += 900
			}
		}
	}
	for p.Len() > 0 {
		got := mustWait(t, p).Key
		if got != next {
			t.Fatalf("got key %d, want %d", got, next)
		}
		next++
		if next%1000 == 100 {
			next += 900
		}
	}
}

func TestQueueForcesUserType(t *testing.T) {
	p := New()
	in := zx.NewPageRequestPacket(0xfeedface, zx.PagerVMODirty, 0x3000, 0x5000)
	in.Status = zx.ErrIO
	if err := p.Queue(in); err != nil {
		t.Fatal(err)
	}
	got := mustWait(t, p)
	want := in
	want.Type = zx.PktTypeUser
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestPastDeadlinePolls(t *testing.T) {
	p := New()
	for _, d := range []zx.Time{zx.TimeInfinitePast, 0, 1, zx.Now() - 1, zx.Now()} {
		start := time.Now()
		_, err := p.Wait(d, nil)
		wantStatus(t, err, zx.ErrTimedOut)
		if el := time.Since(start); el > 100*time.Millisecond {
			t.Fatalf("poll with deadline %d took %v", d, el)
		}
	}
	// A packet already queued is returned even for a past deadline.
	if err := p.Queue(userPkt(7)); err != nil {
		t.Fatal(err)
	}
	pkt, err := p.Wait(zx.TimeInfinitePast, nil)
	if err != nil || pkt.Key != 7 {
		t.Fatalf("poll with packet: %+v %v", pkt, err)
	}
}

func TestFutureDeadlineTimesOut(t *testing.T) {
	p := New()
	const d = 50 * time.Millisecond
	start := zx.Now()
	_, err := p.Wait(start+zx.Time(d), nil)
	el := time.Duration(zx.Now() - start)
	wantStatus(t, err, zx.ErrTimedOut)
	if el < d || el > d+2*time.Second {
		t.Fatalf("timed out after %v, want about %v", el, d)
	}
	// The waiter has left the list: a later packet is not lost to it.
	if err := p.Queue(userPkt(1)); err != nil {
		t.Fatal(err)
	}
	if p.waitHead != nil || mustWait(t, p).Key != 1 {
		t.Fatal("timed-out waiter still parked or packet lost")
	}
}

func TestInfiniteWaitWokenByQueue(t *testing.T) {
	p := New()
	cancel := make(chan struct{})
	defer close(cancel)
	type res struct {
		pkt zx.PortPacket
		err error
	}
	done := make(chan res, 1)
	go func() {
		pkt, err := p.Wait(zx.TimeInfinite, cancel)
		done <- res{pkt, err}
	}()
	portWaitParked(t, p, 1)
	select {
	case r := <-done:
		t.Fatalf("Wait returned before any packet: %+v %v", r.pkt, r.err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := p.Queue(userPkt(42)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.pkt.Key != 42 {
			t.Fatalf("got %+v %v", r.pkt, r.err)
		}
	case <-time.After(testTimeout):
		t.Fatal("infinite Wait not woken by Queue")
	}
}

// portWaitParked waits until n goroutines are parked in p.
func portWaitParked(t *testing.T, p *Port, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		p.mu.Lock()
		c := 0
		for w := p.waitHead; w != nil; w = w.next {
			c++
		}
		p.mu.Unlock()
		if c == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters parked, want %d", c, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCancelChannel(t *testing.T) {
	p := New()
	cancel := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait(in(testTimeout), cancel)
		done <- err
	}()
	portWaitParked(t, p, 1)
	close(cancel)
	select {
	case err := <-done:
		wantStatus(t, err, zx.ErrCanceled)
	case <-time.After(testTimeout):
		t.Fatal("cancel did not abort Wait")
	}
	portWaitParked(t, p, 0)

	// Already closed: an empty port returns CANCELED at once (even with an
	// infinite deadline), a queued packet is still delivered.
	_, err := p.Wait(zx.TimeInfinite, cancel)
	wantStatus(t, err, zx.ErrCanceled)
	if err := p.Queue(userPkt(3)); err != nil {
		t.Fatal(err)
	}
	if pkt, err := p.Wait(zx.TimeInfinite, cancel); err != nil || pkt.Key != 3 {
		t.Fatalf("queued packet with closed cancel: %+v %v", pkt, err)
	}
}

func TestNPacketsWakeExactlyNWaiters(t *testing.T) {
	p := New()
	const waiters, packets = 32, 11
	cancel := make(chan struct{})
	type res struct {
		key uint64
		err error
	}
	results := make(chan res, waiters)
	for i := 0; i < waiters; i++ {
		go func() {
			pkt, err := p.Wait(in(testTimeout), cancel)
			results <- res{pkt.Key, err}
		}()
	}
	portWaitParked(t, p, waiters)
	for i := 0; i < packets; i++ {
		if err := p.Queue(userPkt(uint64(100 + i))); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint64]bool{}
	for i := 0; i < packets; i++ {
		select {
		case r := <-results:
			if r.err != nil || r.key < 100 || r.key >= 100+packets || seen[r.key] {
				t.Fatalf("result %d: key %d err %v (seen %v)", i, r.key, r.err, seen)
			}
			seen[r.key] = true
		case <-time.After(testTimeout):
			t.Fatalf("only %d of %d packets delivered", i, packets)
		}
	}
	// No further waiter returns: the other 21 are still parked.
	select {
	case r := <-results:
		t.Fatalf("an extra waiter returned: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	portWaitParked(t, p, waiters-packets)
	if p.Len() != 0 {
		t.Fatalf("Len = %d after delivery", p.Len())
	}
	close(cancel)
	for i := 0; i < waiters-packets; i++ {
		select {
		case r := <-results:
			wantStatus(t, r.err, zx.ErrCanceled)
		case <-time.After(testTimeout):
			t.Fatal("parked waiter not canceled")
		}
	}
}

func TestStressExactlyOnce(t *testing.T) {
	p := New()
	const (
		producers   = 8
		perProducer = 2000
		consumers   = 16
		slots       = 32
		perSlot     = 200 // each slot re-posts itself from OnDequeue
	)
	total := producers*perProducer + slots*perSlot
	var counts sync.Map // key -> *atomic.Int32
	count := func(k uint64) int32 {
		v, _ := counts.LoadOrStore(k, new(atomic.Int32))
		return v.(*atomic.Int32).Add(1)
	}
	var delivered atomic.Int64
	stop := make(chan struct{})
	var cwg sync.WaitGroup
	errs := make(chan error, consumers+producers)
	var canceled atomic.Int64
	for c := 0; c < consumers; c++ {
		cwg.Add(1)
		go func(c int) {
			defer cwg.Done()
			for i := 0; ; i++ {
				// Some waits use short deadlines or private cancel channels
				// to exercise timeout/cancel racing with wakes.
				deadline := in(testTimeout)
				var cancel <-chan struct{} = stop
				if i%7 == 3 {
					deadline = in(50 * time.Microsecond)
				}
				if i%11 == 5 {
					ch := make(chan struct{})
					time.AfterFunc(30*time.Microsecond, func() { close(ch) })
					cancel = ch
				}
				pkt, err := p.Wait(deadline, cancel)
				if err != nil {
					switch zx.StatusOf(err) {
					case zx.ErrTimedOut:
						continue
					case zx.ErrCanceled:
						select {
						case <-stop:
							return
						default:
							canceled.Add(1)
							continue
						}
					}
					errs <- err
					return
				}
				if n := count(pkt.Key); n != 1 {
					errs <- errors.New("packet delivered twice")
					return
				}
				delivered.Add(1)
			}
		}(c)
	}
	var slotArr [slots]Slot
	for i := range slotArr {
		s, i := &slotArr[i], i
		var posted int
		s.SetOnDequeue(func(pkt zx.PortPacket) {
			posted++ // runs in one waiter at a time: the slot is queued at most once
			if posted < perSlot {
				if !p.QueueSlot(s, zx.NewPageRequestPacket(uint64(1<<40|i<<20|posted), zx.PagerVMORead, 0, 0)) {
					errs <- errors.New("re-post from OnDequeue failed")
				}
			}
		})
		if !p.QueueSlot(s, zx.NewPageRequestPacket(uint64(1<<40|i<<20), zx.PagerVMORead, 0, 0)) {
			t.Fatal("initial QueueSlot")
		}
	}
	var pwg sync.WaitGroup
	for pr := 0; pr < producers; pr++ {
		pwg.Add(1)
		go func(pr int) {
			defer pwg.Done()
			for i := 0; i < perProducer; {
				if err := p.Queue(userPkt(uint64(pr<<20 | i))); err != nil {
					if zx.StatusOf(err) == zx.ErrShouldWait {
						runtime.Gosched()
						continue
					}
					errs <- err
					return
				}
				i++
			}
		}(pr)
	}
	pwg.Wait()
	deadline := time.Now().Add(testTimeout)
	for delivered.Load() < int64(total) && time.Now().Before(deadline) {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	cwg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if got := delivered.Load(); got != int64(total) {
		t.Fatalf("delivered %d of %d packets (Len %d)", got, total, p.Len())
	}
	n := 0
	counts.Range(func(k, v any) bool {
		n++
		if v.(*atomic.Int32).Load() != 1 {
			t.Errorf("key %#x delivered %d times", k, v.(*atomic.Int32).Load())
		}
		return true
	})
	if n != total || p.Len() != 0 {
		t.Fatalf("%d distinct keys, want %d; Len %d", n, total, p.Len())
	}
	t.Logf("%d packets, %d mid-stream cancels", total, canceled.Load())
}

func TestSlotQueuedTwice(t *testing.T) {
	p, q := New(), New()
	var s Slot
	if s.Queued() {
		t.Fatal("zero Slot reports queued")
	}
	a := zx.NewPageRequestPacket(1, zx.PagerVMORead, 0, 4096)
	b := zx.NewPageRequestPacket(2, zx.PagerVMORead, 8192, 4096)
	if !p.QueueSlot(&s, a) || !s.Queued() {
		t.Fatal("first QueueSlot")
	}
	if p.QueueSlot(&s, b) {
		t.Fatal("second QueueSlot on the same port succeeded")
	}
	if q.QueueSlot(&s, b) || q.Len() != 0 {
		t.Fatal("QueueSlot on another port while queued succeeded")
	}
	if p.Len() != 1 {
		t.Fatalf("Len = %d", p.Len())
	}
	if got := mustWait(t, p); got != a {
		t.Fatalf("got %+v, want the first content %+v", got, a)
	}
	if s.Queued() {
		t.Fatal("slot still queued after Wait took it")
	}
	if !p.QueueSlot(&s, b) || mustWait(t, p) != b {
		t.Fatal("re-queue after dequeue")
	}
	// A slot can move to another port once it is free.
	if !q.QueueSlot(&s, a) || mustWait(t, q) != a {
		t.Fatal("queue on another port after dequeue")
	}
}

func TestCancelSlotBeforeDequeue(t *testing.T) {
	p := New()
	var s Slot
	var called atomic.Int32
	s.SetOnDequeue(func(zx.PortPacket) { called.Add(1) })
	if err := p.Queue(userPkt(1)); err != nil {
		t.Fatal(err)
	}
	p.QueueSlot(&s, zx.NewPageRequestPacket(9, zx.PagerVMORead, 0, 4096))
	if err := p.Queue(userPkt(2)); err != nil {
		t.Fatal(err)
	}
	if !p.CancelSlot(&s) {
		t.Fatal("CancelSlot of a queued slot returned false")
	}
	if s.Queued() || p.Len() != 2 || p.CancelSlot(&s) {
		t.Fatal("slot still there after CancelSlot")
	}
	if k := mustWait(t, p).Key; k != 1 {
		t.Fatalf("got key %d", k)
	}
	if k := mustWait(t, p).Key; k != 2 {
		t.Fatalf("got key %d", k)
	}
	if pkt, err := p.Wait(zx.TimeInfinitePast, nil); err == nil {
		t.Fatalf("withdrawn packet delivered: %+v", pkt)
	}
	if called.Load() != 0 {
		t.Fatal("OnDequeue called for a withdrawn slot")
	}
	var never Slot
	if p.CancelSlot(&never) {
		t.Fatal("CancelSlot of a never-queued slot returned true")
	}
}

func TestCancelSlotAfterDequeue(t *testing.T) {
	p := New()
	var s Slot
	var called atomic.Int32
	s.SetOnDequeue(func(zx.PortPacket) { called.Add(1) })
	p.QueueSlot(&s, zx.NewPageRequestPacket(9, zx.PagerVMORead, 0, 4096))
	mustWait(t, p)
	if p.CancelSlot(&s) {
		t.Fatal("CancelSlot after dequeue returned true")
	}
	if called.Load() != 1 {
		t.Fatalf("OnDequeue called %d times", called.Load())
	}
	// Queued on another port: CancelSlot on this one does not touch it.
	q := New()
	q.QueueSlot(&s, zx.PortPacket{Key: 1})
	if p.CancelSlot(&s) || !s.Queued() || q.Len() != 1 {
		t.Fatal("CancelSlot on the wrong port withdrew the slot")
	}
}

func TestCancelSlotWhileWaiterWoken(t *testing.T) {
	// A waiter woken for a slot that is withdrawn before it runs must park
	// again and take the next packet, not return early.
	for i := 0; i < 200; i++ {
		p := New()
		var s Slot
		done := make(chan zx.PortPacket, 1)
		go func() {
			pkt, err := p.Wait(in(testTimeout), nil)
			if err != nil {
				pkt.Key = 0xdead
			}
			done <- pkt
		}()
		portWaitParked(t, p, 1)
		p.QueueSlot(&s, zx.PortPacket{Key: 1})
		canceled := p.CancelSlot(&s)
		if canceled {
			if err := p.Queue(userPkt(2)); err != nil {
				t.Fatal(err)
			}
		}
		got := <-done
		if canceled && got.Key != 2 || !canceled && got.Key != 1 {
			t.Fatalf("canceled=%v got key %#x", canceled, got.Key)
		}
	}
}

func TestOnDequeueOncePerDequeueOutsideLock(t *testing.T) {
	p := New()
	var s Slot
	const chain = 5
	var calls []uint64
	var mu sync.Mutex
	s.SetOnDequeue(func(pkt zx.PortPacket) {
		// Outside the port lock: these would deadlock otherwise.
		if p.Len() != 0 || s.Queued() {
			t.Errorf("OnDequeue: slot still in the queue (Len %d)", p.Len())
		}
		if !p.mu.TryLock() {
			t.Error("OnDequeue called with the port lock held")
		} else {
			p.mu.Unlock()
		}
		mu.Lock()
		calls = append(calls, pkt.Key)
		mu.Unlock()
		// Post the next request, as the pager does.
		if pkt.Key < chain && !p.QueueSlot(&s, zx.NewPageRequestPacket(pkt.Key+1, zx.PagerVMORead, pkt.Key*4096, 4096)) {
			t.Error("QueueSlot from OnDequeue failed")
		}
	})
	p.QueueSlot(&s, zx.NewPageRequestPacket(1, zx.PagerVMORead, 0, 4096))
	for k := uint64(1); k <= chain; k++ {
		pkt := mustWait(t, p)
		if pkt.Key != k || pkt.Type != zx.PktTypePageRequest || pkt.PageRequest().Offset != (k-1)*4096 {
			t.Fatalf("packet %d: %+v", k, pkt)
		}
		mu.Lock()
		n := len(calls)
		mu.Unlock()
		if n != int(k) {
			t.Fatalf("after %d waits OnDequeue ran %d times (must run before Wait returns)", k, n)
		}
	}
	if _, err := p.Wait(zx.TimeInfinitePast, nil); err == nil {
		t.Fatal("chain did not stop")
	}
	if len(calls) != chain {
		t.Fatalf("OnDequeue calls %v", calls)
	}
	// Cleared callback: nothing is called.
	s.SetOnDequeue(nil)
	p.QueueSlot(&s, zx.PortPacket{Key: 99})
	if mustWait(t, p).Key != 99 || len(calls) != chain {
		t.Fatal("cleared OnDequeue still called")
	}
}

func TestOnDequeueFromBlockedWaiter(t *testing.T) {
	// Same, through the parked path: the callback runs in the woken waiter.
	p := New()
	var s Slot
	got := make(chan uint64, 2)
	s.SetOnDequeue(func(pkt zx.PortPacket) {
		got <- pkt.Key
		if pkt.Key == 1 {
			p.QueueSlot(&s, zx.PortPacket{Key: 2})
		}
	})
	done := make(chan zx.PortPacket, 1)
	go func() { pkt, _ := p.Wait(in(testTimeout), nil); done <- pkt }()
	portWaitParked(t, p, 1)
	p.QueueSlot(&s, zx.PortPacket{Key: 1})
	if (<-done).Key != 1 || <-got != 1 {
		t.Fatal("first packet")
	}
	if mustWait(t, p).Key != 2 || <-got != 2 {
		t.Fatal("posted packet")
	}
}

func TestUserPacketLimit(t *testing.T) {
	p := New()
	for i := 0; i < MaxUserPackets; i++ {
		if err := p.Queue(userPkt(uint64(i))); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	wantStatus(t, p.Queue(userPkt(1<<32)), zx.ErrShouldWait)
	// Slots bypass the limit.
	var s Slot
	if !p.QueueSlot(&s, zx.PortPacket{Key: 1 << 33}) {
		t.Fatal("slot refused on a full port")
	}
	if p.Len() != MaxUserPackets+1 {
		t.Fatalf("Len = %d", p.Len())
	}
	if mustWait(t, p).Key != 0 {
		t.Fatal("FIFO head")
	}
	if err := p.Queue(userPkt(1 << 34)); err != nil {
		t.Fatalf("Queue after a Wait freed room: %v", err)
	}
	wantStatus(t, p.Queue(userPkt(1<<35)), zx.ErrShouldWait)
	// Order is kept: 1..4095, the slot, then the last user packet.
	for i := 1; i < MaxUserPackets; i++ {
		if k := mustWait(t, p).Key; k != uint64(i) {
			t.Fatalf("got %d, want %d", k, i)
		}
	}
	if mustWait(t, p).Key != 1<<33 || mustWait(t, p).Key != 1<<34 || p.Len() != 0 {
		t.Fatal("tail order")
	}
}

func TestOnZeroHandles(t *testing.T) {
	p := New()
	var s Slot
	var called atomic.Int32
	s.SetOnDequeue(func(zx.PortPacket) { called.Add(1) })
	if err := p.Queue(userPkt(1)); err != nil {
		t.Fatal(err)
	}
	p.QueueSlot(&s, zx.PortPacket{Key: 2})

	// A waiter blocked before the close keeps waiting (Zircon: the thread in
	// zx_port_wait holds a reference; nothing wakes it).
	q := New()
	var s2 Slot
	q.QueueSlot(&s2, zx.PortPacket{Key: 3})
	q.Wait(zx.TimeInfinitePast, nil) // drain
	done := make(chan error, 1)
	go func() { _, err := q.Wait(in(100*time.Millisecond), nil); done <- err }()
	portWaitParked(t, q, 1)
	q.OnZeroHandles()

	p.OnZeroHandles()
	if p.Len() != 0 || s.Queued() || called.Load() != 0 {
		t.Fatalf("after close: Len %d queued %v OnDequeue %d", p.Len(), s.Queued(), called.Load())
	}
	wantStatus(t, p.Queue(userPkt(4)), zx.ErrBadHandle)
	if !p.QueueSlot(&s, zx.PortPacket{Key: 5}) || s.Queued() || p.Len() != 0 {
		t.Fatal("QueueSlot on a closed port must accept and drop")
	}
	if p.CancelSlot(&s) {
		t.Fatal("CancelSlot on a closed port")
	}
	if _, err := p.Wait(zx.TimeInfinitePast, nil); zx.StatusOf(err) != zx.ErrTimedOut {
		t.Fatalf("Wait on closed port: %v", err)
	}
	wantStatus(t, q.Queue(userPkt(6)), zx.ErrBadHandle)
	q.QueueSlot(&s2, zx.PortPacket{Key: 7})
	select {
	case err := <-done:
		wantStatus(t, err, zx.ErrTimedOut)
	case <-time.After(testTimeout):
		t.Fatal("blocked waiter never returned")
	}
}

func TestNoAllocsSteadyState(t *testing.T) {
	p := New()
	pkt := userPkt(1)
	p.Queue(pkt)
	p.Wait(zx.TimeInfinite, nil) // grow the ring once
	if n := testing.AllocsPerRun(1000, func() {
		p.Queue(pkt)
		p.Wait(zx.TimeInfinite, nil)
	}); n != 0 {
		t.Fatalf("Queue+Wait allocates %v times", n)
	}
	var s Slot
	s.SetOnDequeue(func(zx.PortPacket) {})
	if n := testing.AllocsPerRun(1000, func() {
		p.QueueSlot(&s, pkt)
		p.Wait(zx.TimeInfinite, nil)
	}); n != 0 {
		t.Fatalf("QueueSlot+Wait allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		p.Wait(zx.TimeInfinitePast, nil)
	}); n != 0 {
		t.Fatalf("polling Wait allocates %v times", n)
	}
}

func BenchmarkQueueWait(b *testing.B) {
	p := New()
	pkt := userPkt(1)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Queue(pkt); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Wait(zx.TimeInfinite, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSlotQueueWait(b *testing.B) {
	p := New()
	var s Slot
	s.SetOnDequeue(func(zx.PortPacket) {})
	pkt := zx.NewPageRequestPacket(1, zx.PagerVMORead, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		p.QueueSlot(&s, pkt)
		if _, err := p.Wait(zx.TimeInfinite, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingPong measures a packet round trip between two goroutines that
// park in Wait (the blocked path).
func BenchmarkPingPong(b *testing.B) {
	ping, pong := New(), New()
	stop := make(chan struct{})
	go func() {
		for {
			pkt, err := ping.Wait(zx.TimeInfinite, stop)
			if err != nil {
				return
			}
			pong.Queue(pkt)
		}
	}()
	pkt := userPkt(1)
	b.ReportAllocs()
	for b.Loop() {
		ping.Queue(pkt)
		if _, err := pong.Wait(zx.TimeInfinite, nil); err != nil {
			b.Fatal(err)
		}
	}
	close(stop)
}

// TestStressWakeRaces trickles packets to many waiters whose deadlines and
// cancel channels fire all the time, so wakes race with timeouts and
// cancels: every packet must still be delivered exactly once, and none may be
// stranded in the queue while a waiter is parked.
func TestStressWakeRaces(t *testing.T) {
	p := New()
	const consumers, total = 24, 3000
	var seen [total]atomic.Int32
	var delivered, timeouts, cancels atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < consumers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := time.Duration(1+(c*7+i)%40) * 5 * time.Microsecond
				var cancel chan struct{}
				if i%3 == 0 {
					cancel = make(chan struct{})
					time.AfterFunc(d/2, func() { close(cancel) })
					d = time.Second
				}
				pkt, err := p.Wait(in(d), cancel)
				switch zx.StatusOf(err) {
				case zx.ErrOk:
					if seen[pkt.Key].Add(1) != 1 {
						t.Errorf("key %d delivered twice", pkt.Key)
					}
					delivered.Add(1)
				case zx.ErrTimedOut:
					timeouts.Add(1)
				case zx.ErrCanceled:
					cancels.Add(1)
				default:
					t.Errorf("Wait: %v", err)
					return
				}
			}
		}(c)
	}
	var slots [8]Slot
	for i := 0; i < total; i++ {
		if i%4 == 0 {
			s := &slots[(i/4)%len(slots)]
			for !p.QueueSlot(s, zx.PortPacket{Key: uint64(i)}) {
				time.Sleep(time.Microsecond) // still queued from last round
			}
		} else if err := p.Queue(zx.PortPacket{Key: uint64(i)}); err != nil {
			t.Fatal(err)
		}
		if i%16 == 0 {
			time.Sleep(20 * time.Microsecond)
		}
	}
	deadline := time.Now().Add(testTimeout)
	for delivered.Load() < total && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if delivered.Load() != total || p.Len() != 0 {
		t.Fatalf("delivered %d of %d, Len %d", delivered.Load(), total, p.Len())
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("key %d delivered %d times", i, seen[i].Load())
		}
	}
	t.Logf("%d packets, %d timeouts, %d cancels", total, timeouts.Load(), cancels.Load())
}

func TestCancelSlotFromAnyPosition(t *testing.T) {
	p := New()
	var s [5]Slot
	for i := range s {
		p.QueueSlot(&s[i], zx.PortPacket{Key: uint64(i)})
	}
	// Middle, tail, head.
	for _, i := range []int{2, 4, 0} {
		if !p.CancelSlot(&s[i]) {
			t.Fatalf("CancelSlot(%d)", i)
		}
	}
	if p.Len() != 2 || mustWait(t, p).Key != 1 || mustWait(t, p).Key != 3 || p.Len() != 0 {
		t.Fatal("remaining slots out of order")
	}
	// The list is consistent afterwards: queue again in a new order.
	for _, i := range []int{4, 0, 2} {
		p.QueueSlot(&s[i], zx.PortPacket{Key: uint64(i)})
	}
	for _, want := range []uint64{4, 0, 2} {
		if k := mustWait(t, p).Key; k != want {
			t.Fatalf("got %d, want %d", k, want)
		}
	}
}
