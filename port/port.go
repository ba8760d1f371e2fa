// Package port is Zircon's port object (PortDispatcher): a FIFO queue of
// 48-byte zx_port_packet_t packets that goroutines wait on, as behind
// zx_port_create, zx_port_queue and zx_port_wait.
//
// Two kinds of packets share one FIFO:
//   - user packets (Queue, zx_port_queue), copied into a ring buffer and
//     bounded by MaxUserPackets;
//   - slots (QueueSlot), packets pre-allocated by a kernel object and embedded
//     in it, like the PortPacket a PagerProxy owns. A slot bypasses the limit,
//     is in a port at most once, can be withdrawn while still queued
//     (CancelSlot, PortDispatcher::CancelQueued), and its owner is told when a
//     waiter takes it (SetOnDequeue, PortAllocator::Free).
//
// Locking: each port has one mutex, and it is a leaf: nothing is called out
// while it is held, so a caller may hold its own locks (the pager's per-VMO
// lock) around Queue, QueueSlot and CancelSlot. The OnDequeue function runs
// with no port lock held, in the goroutine that called Wait, before Wait
// returns.
//
// Waiting parks the goroutine on a channel; one packet wakes one waiter
// (thread-pool friendly, like Zircon's semaphore). Neither Queue nor Wait
// allocates on the steady path: user packets live in a ring buffer that grows
// by doubling up to MaxUserPackets, slots are intrusive list nodes, and
// blocked waiters (with their timers) are recycled through a pool.
package port

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagerd/pagerd/object"
	"github.com/pagerd/pagerd/zx"
)

// MaxUserPackets bounds the user packets (Queue) a port holds at once, like
// Zircon's kMaxAllocatedPacketCountPerPort (4096). Zircon's check is
// "count > 4096", so it accepts a 4097th packet and raises a policy exception
// (ZX_EXCP_POLICY_CODE_PORT_TOO_MANY_PACKETS) besides returning SHOULD_WAIT on
// the next; pagerd holds exactly MaxUserPackets and only returns SHOULD_WAIT.
// Slots do not count.
const MaxUserPackets = 4096

// Errors returned by Port. They are shared values: compare with errors.Is or
// zx.StatusOf, never mutate them.
var (
	errTimedOut   error = &zx.Error{Status: zx.ErrTimedOut, Text: "port wait: deadline passed"}
	errCanceled   error = &zx.Error{Status: zx.ErrCanceled, Text: "port wait: canceled"}
	errShouldWait error = &zx.Error{Status: zx.ErrShouldWait, Text: "port queue: too many user packets"}
	errBadHandle  error = &zx.Error{Status: zx.ErrBadHandle, Text: "port queue: port has no handles left"}
)

// entry is one queued user packet; seq orders it against queued slots.
type entry struct {
	seq uint64
	pkt zx.PortPacket
}

// Port is a Zircon port (PortDispatcher, ZX_OBJ_TYPE_PORT). It implements
// syscalls.Object. Create it with New.
type Port struct {
	koid zx.Koid

	mu     sync.Mutex // leaf lock: guards everything below
	seq    uint64     // last sequence number given to a queued packet
	closed bool       // on_zero_handles ran

	// User packets: a ring buffer, len(ring) a power of two (or 0).
	ring []entry
	head int // index of the oldest user packet
	n    int // number of user packets queued

	// Slots: an intrusive doubly linked list in FIFO order.
	slotHead, slotTail *Slot
	nslots             int

	// Parked waiters not yet woken, oldest first.
	waitHead, waitTail *waiter
}

// New creates a port, as zx_port_create(0) does (PortDispatcher::Create).
func New() *Port { return &Port{koid: object.NewKoid()} }

// Type returns ZX_OBJ_TYPE_PORT (Dispatcher::get_type).
func (p *Port) Type() zx.ObjType { return zx.ObjTypePort }

// Koid returns the port's kernel object id (Dispatcher::get_koid).
func (p *Port) Koid() zx.Koid { return p.koid }

// Queue queues a user packet, as zx_port_queue does
// (PortDispatcher::QueueUser): the packet's type is forced to
// ZX_PKT_TYPE_USER; key, status and the 32-byte union are the caller's. It
// returns a *zx.Error with ZX_ERR_SHOULD_WAIT when MaxUserPackets user packets
// are already queued, and ZX_ERR_BAD_HANDLE once the port's last handle has
// been closed (OnZeroHandles), as PortDispatcher::Queue does.
func (p *Port) Queue(pkt zx.PortPacket) error {
	pkt.Type = zx.PktTypeUser
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errBadHandle
	}
	if p.n >= MaxUserPackets {
		p.mu.Unlock()
		return errShouldWait
	}
	if p.n == len(p.ring) {
		p.growLocked()
	}
	p.seq++
	p.ring[(p.head+p.n)&(len(p.ring)-1)] = entry{seq: p.seq, pkt: pkt}
	p.n++
	p.wakeLocked()
	p.mu.Unlock()
	return nil
}

// growLocked doubles the ring (16 entries at first), keeping FIFO order.
func (p *Port) growLocked() {
	size := 2 * len(p.ring)
	if size < 16 {
		size = 16
	}
	ring := make([]entry, size)
	for i := 0; i < p.n; i++ {
		ring[i] = p.ring[(p.head+i)&(len(p.ring)-1)]
	}
	p.ring, p.head = ring, 0
}

// Wait returns the oldest queued packet (FIFO across user packets and slots),
// as zx_port_wait does (PortDispatcher::Dequeue). If the port is empty it
// parks the goroutine until a packet arrives, the deadline (on the zx.Now
// monotonic clock) passes, or cancel is closed:
//   - a deadline at or before now polls: the oldest packet if there is one,
//     else ZX_ERR_TIMED_OUT at once; zx.TimeInfinite waits forever;
//   - cancel (may be nil) closing aborts the wait with ZX_ERR_CANCELED
//     (a packet already queued when Wait is called is still returned).
//
// Errors are *zx.Error. One packet wakes exactly one waiter; any number of
// goroutines may wait at once. If the packet taken is a slot's, the slot's
// OnDequeue function (SetOnDequeue) is called with it after the packet has
// left the queue and the port's lock is released, before Wait returns.
func (p *Port) Wait(deadline zx.Time, cancel <-chan struct{}) (zx.PortPacket, error) {
	p.mu.Lock()
	if pkt, fn, ok := p.popLocked(); ok {
		p.mu.Unlock()
		if fn != nil {
			fn(pkt)
		}
		return pkt, nil
	}
	var d time.Duration
	if deadline != zx.TimeInfinite {
		// Read the clock (a syscall) outside the lock. Compare, never
		// subtract first: deadline may be TimeInfinitePast.
		p.mu.Unlock()
		now := zx.Now()
		if deadline <= now {
			return zx.PortPacket{}, errTimedOut
		}
		d = time.Duration(deadline - now)
		p.mu.Lock()
		if pkt, fn, ok := p.popLocked(); ok {
			p.mu.Unlock()
			if fn != nil {
				fn(pkt)
			}
			return pkt, nil
		}
	}
	w := waiterPool.Get().(*waiter)
	p.parkLocked(w, false)
	p.mu.Unlock()

	var expired <-chan time.Time
	if deadline != zx.TimeInfinite {
		if w.timer == nil {
			w.timer = time.NewTimer(d)
		} else {
			w.timer.Reset(d)
		}
		expired = w.timer.C
	}
	pkt, fn, err := p.block(w, expired, cancel)
	if w.timer != nil {
		w.timer.Stop() // Go ≥1.23 timers: no stale tick survives Stop/Reset
	}
	waiterPool.Put(w)
	if fn != nil {
		fn(pkt)
	}
	return pkt, err
}

// block waits for w to be woken and takes a packet, or gives up at the
// deadline or on cancel. A wake is a token in w.ch, sent under p.mu by the
// goroutine that unlinked w from the waiter list; whoever leaves must leave
// w.ch empty for the pool and must not swallow a wake meant for a packet.
func (p *Port) block(w *waiter, expired <-chan time.Time, cancel <-chan struct{}) (zx.PortPacket, func(zx.PortPacket), error) {
	for {
		select {
		case <-w.ch:
			p.mu.Lock()
			if pkt, fn, ok := p.popLocked(); ok {
				p.mu.Unlock()
				return pkt, fn, nil
			}
			// Spurious: a goroutine entering Wait took the packet first,
			// or the slot that woke us was withdrawn. Park again, first in line.
			p.parkLocked(w, true)
			p.mu.Unlock()
		case <-expired:
			p.mu.Lock()
			if w.listed {
				p.unparkLocked(w)
				p.mu.Unlock()
				return zx.PortPacket{}, nil, errTimedOut
			}
			// Woken at the same time as the deadline: the packet arrived
			// before we looked, so take it rather than strand it.
			<-w.ch
			pkt, fn, ok := p.popLocked()
			p.mu.Unlock()
			if ok {
				return pkt, fn, nil
			}
			return zx.PortPacket{}, nil, errTimedOut
		case <-cancel:
			p.mu.Lock()
			if w.listed {
				p.unparkLocked(w)
			} else {
				// We were woken for a packet we will not take: pass the wake on.
				<-w.ch
				p.wakeLocked()
			}
			p.mu.Unlock()
			return zx.PortPacket{}, nil, errCanceled
		}
	}
}

// popLocked removes the oldest packet and returns it with the OnDequeue
// function to call (nil for user packets) once the lock is released.
func (p *Port) popLocked() (zx.PortPacket, func(zx.PortPacket), bool) {
	s := p.slotHead
	if p.n > 0 && (s == nil || p.ring[p.head].seq < s.seq) {
		pkt := p.ring[p.head].pkt
		p.head = (p.head + 1) & (len(p.ring) - 1)
		p.n--
		return pkt, nil, true
	}
	if s == nil {
		return zx.PortPacket{}, nil, false
	}
	p.unlinkSlotLocked(s)
	pkt := s.pkt
	var fn func(zx.PortPacket)
	if f := s.onDequeue.Load(); f != nil {
		fn = *f
	}
	s.in.Store(nil) // from here on the owner may queue the slot again
	return pkt, fn, true
}

// Len returns the number of packets queued now, user packets and slots
// together. It mirrors no Zircon call; it is for tests and metrics.
func (p *Port) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n + p.nslots
}

// OnZeroHandles is called when the port's last handle is closed, as Zircon's
// PortDispatcher::on_zero_handles: queued user packets are freed and queued
// slots are dropped without calling their OnDequeue. Afterwards Queue returns
// ZX_ERR_BAD_HANDLE and QueueSlot accepts a slot but never delivers it (the
// PagerProxy treats Queue's BAD_HANDLE "as if the packet was queued but the
// pager service never responds"), so a pager VMO bound to the port keeps
// working and its requests are simply never seen (spec §3.3, ClosePortTest).
// Goroutines already blocked in Wait keep waiting until their deadline or
// cancel, as a thread blocked in zx_port_wait does in Zircon.
func (p *Port) OnZeroHandles() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.ring, p.head, p.n = nil, 0, 0
	for s := p.slotHead; s != nil; s = p.slotHead {
		p.unlinkSlotLocked(s)
		s.in.Store(nil)
	}
}

// Slot is a packet pre-allocated by a kernel object and kept embedded in it
// (no allocation per queue), like the PortPacket a PagerProxy owns in Zircon.
// It bypasses MaxUserPackets, is in a port at most once, can be withdrawn
// while still queued (CancelSlot), and its owner is told when a waiter takes
// it (SetOnDequeue). The zero value is ready to use; a Slot must not be
// copied after first use.
type Slot struct {
	in         atomic.Pointer[Port] // the port whose queue holds the slot, or nil
	prev, next *Slot                // list links, guarded by in's lock
	seq        uint64               // FIFO position, guarded by in's lock
	pkt        zx.PortPacket        // content, guarded by in's lock
	onDequeue  atomic.Pointer[func(zx.PortPacket)]
}

// SetOnDequeue sets the function Wait calls with the packet it took, after it
// has removed the slot's packet from the queue and released the port's lock.
// It mirrors PortAllocator::Free, which Zircon's port calls on a PagerProxy's
// packet after dequeuing it (PagerProxy::Free → OnPacketFreedLocked), and
// which the pager uses to post its next request (one packet per VMO in the
// port at a time). fn may call QueueSlot on the same slot and port. The slot
// is free from the moment it leaves the queue, before fn runs: CancelSlot
// then returns false (fn is coming), and a QueueSlot made elsewhere in
// between succeeds, so fn's own QueueSlot returns false. Set fn before
// queueing the slot; nil clears it.
func (s *Slot) SetOnDequeue(fn func(pkt zx.PortPacket)) {
	if fn == nil {
		s.onDequeue.Store(nil)
		return
	}
	s.onDequeue.Store(&fn)
}

// Queued reports whether the slot is in a port's queue now (Zircon's
// PortPacket::InContainer).
func (s *Slot) Queued() bool { return s.in.Load() != nil }

// QueueSlot puts the slot at the tail of the queue with this packet content
// (type, key and status included, unchanged), as the kernel queues an
// object's own packet (PortDispatcher::Queue). It returns false, and changes
// nothing, if the slot is already queued (in this or any port). After the
// port's last handle is closed it returns true but the packet is never
// delivered (see OnZeroHandles).
func (p *Port) QueueSlot(s *Slot, pkt zx.PortPacket) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return s.in.Load() == nil
	}
	if !s.in.CompareAndSwap(nil, p) {
		return false
	}
	p.seq++
	s.seq, s.pkt = p.seq, pkt
	s.prev, s.next = p.slotTail, nil
	if p.slotTail == nil {
		p.slotHead = s
	} else {
		p.slotTail.next = s
	}
	p.slotTail = s
	p.nslots++
	p.wakeLocked()
	return true
}

// CancelSlot withdraws the slot if it is still queued in this port and
// returns true; it returns false if it is not (already taken by a waiter, or
// never queued). OnDequeue is not called for a withdrawn slot. It mirrors
// PortDispatcher::CancelQueued(PortPacket*), which a PagerProxy uses to
// withdraw a request resolved before the pager read it.
func (p *Port) CancelSlot(s *Slot) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.in.Load() != p {
		return false
	}
	p.unlinkSlotLocked(s)
	s.in.Store(nil)
	return true
}

func (p *Port) unlinkSlotLocked(s *Slot) {
	if s.prev == nil {
		p.slotHead = s.next
	} else {
		s.prev.next = s.next
	}
	if s.next == nil {
		p.slotTail = s.prev
	} else {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	p.nslots--
}

// waiter is a goroutine parked in Wait.
type waiter struct {
	ch         chan struct{} // capacity 1: the wake token
	timer      *time.Timer   // reused across waits
	prev, next *waiter
	listed     bool // in p's waiter list (not yet woken)
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

// parkLocked appends w to the waiter list (or puts it first).
func (p *Port) parkLocked(w *waiter, first bool) {
	w.listed = true
	if p.waitHead == nil {
		w.prev, w.next = nil, nil
		p.waitHead, p.waitTail = w, w
		return
	}
	if first {
		w.prev, w.next = nil, p.waitHead
		p.waitHead.prev = w
		p.waitHead = w
		return
	}
	w.prev, w.next = p.waitTail, nil
	p.waitTail.next = w
	p.waitTail = w
}

func (p *Port) unparkLocked(w *waiter) {
	if w.prev == nil {
		p.waitHead = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		p.waitTail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.listed = nil, nil, false
}

// wakeLocked wakes the oldest parked waiter if a packet is queued. Called
// once per packet queued, so N packets wake at most N waiters.
func (p *Port) wakeLocked() {
	w := p.waitHead
	if w == nil || p.n+p.nslots == 0 {
		return
	}
	p.unparkLocked(w)
	w.ch <- struct{}{} // never blocks: one token per listing, consumed before re-parking
}
