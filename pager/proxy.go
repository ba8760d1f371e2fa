package pager

import (
	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/zx"
)

// proxy posts a VMO's requests on its port the way Zircon's PagerProxy does:
// exactly one packet of the VMO is in the port at a time (its pre-allocated
// slot); further requests wait in FIFO order and the next is posted only when
// the pager has read the previous one; a request resolved before its packet
// was read is withdrawn from the port; one COMPLETE packet follows detach
// (after any packet in flight); after the pager is closed nothing is posted.
// Guarded by the VMO's lock; the port's dequeue callback takes that lock.
type proxy struct {
	port *port.Port
	key  uint64
	slot port.Slot

	busy            bool     // the slot holds a packet the port has not yet handed back
	active          *request // the request whose packet is in the slot, if any
	fifo            []*request
	completePending bool
	dead            bool // pager closed: post nothing more

	// fetch, set for a clone, replaces the port: a new request is handed
	// to it (pages [off, end) are fetched from the clone's parent) and
	// nothing is ever posted.
	fetch func(off, end uint64)
}

// send hands a new request to the proxy.
func (p *proxy) send(r *request) {
	if p.fetch != nil {
		r.place = placeSent
		p.fetch(r.off, r.end)
		return
	}
	if p.dead {
		return
	}
	r.place = placeFIFO
	p.fifo = append(p.fifo, r)
	p.pump()
}

// pump posts the next packet if the slot is free.
func (p *proxy) pump() {
	if p.busy || p.dead {
		return
	}
	var pkt zx.PortPacket
	switch {
	case len(p.fifo) > 0:
		r := p.fifo[0]
		copy(p.fifo, p.fifo[1:])
		p.fifo[len(p.fifo)-1] = nil
		p.fifo = p.fifo[:len(p.fifo)-1]
		r.place = placeQueued
		p.active = r
		pkt = zx.NewPageRequestPacket(p.key, r.kind.command(), r.off*zx.PageSize, (r.end-r.off)*zx.PageSize)
	case p.completePending:
		p.completePending = false
		pkt = zx.NewPageRequestPacket(p.key, zx.PagerVMOComplete, 0, 0)
	default:
		return
	}
	p.busy = true
	p.port.QueueSlot(&p.slot, pkt)
}

// dequeued is called (under the VMO lock) when a waiter on the port took
// the slot's packet.
func (p *proxy) dequeued() {
	p.busy = false
	if p.active != nil {
		p.active.place = placeSent
		p.active = nil
	}
	p.pump()
}

// clear takes a finished request back from the proxy (ClearAsyncRequest):
// withdrawn from the port if its packet is still unread, dropped from the
// FIFO if it was never posted.
func (p *proxy) clear(r *request) {
	switch r.place {
	case placeQueued:
		p.active = nil
		if p.port.CancelSlot(&p.slot) {
			p.busy = false
			p.pump()
		}
		// Otherwise a waiter took the packet just now; dequeued() will free the slot.
	case placeFIFO:
		for i, q := range p.fifo {
			if q == r {
				copy(p.fifo[i:], p.fifo[i+1:])
				p.fifo[len(p.fifo)-1] = nil
				p.fifo = p.fifo[:len(p.fifo)-1]
				break
			}
		}
	}
	r.place = placeNone
}

// complete queues the VMO's COMPLETE packet after anything in flight.
func (p *proxy) complete() {
	if p.dead || p.fetch != nil {
		return
	}
	p.completePending = true
	p.pump()
}

// close stops the proxy for good (pager closed): withdraws an unread packet,
// forgets the FIFO, posts no COMPLETE.
func (p *proxy) close() {
	if p.busy && p.port.CancelSlot(&p.slot) {
		p.busy = false
	}
	p.dead = true
	p.active = nil
	clear(p.fifo)
	p.fifo = p.fifo[:0]
	p.completePending = false
}
