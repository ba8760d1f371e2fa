package syscalls

import (
	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/zx"
)

// PortCreate is zx_port_create: it creates a port and returns a handle with
// ZX_DEFAULT_PORT_RIGHTS (0x800F: DUPLICATE, TRANSFER, READ, WRITE, INSPECT;
// ports are not waitable).
//
// Options: Zircon accepts 0 and ZX_PORT_BIND_TO_INTERRUPT and returns
// ZX_ERR_INVALID_ARGS for anything else (PortDispatcher::Create). pagerd has
// no interrupt objects, so a port bound to interrupts could never receive an
// interrupt packet; rather than pretend, it returns ZX_ERR_NOT_SUPPORTED for
// exactly ZX_PORT_BIND_TO_INTERRUPT, and ZX_ERR_INVALID_ARGS for any other
// non-zero value (including BIND_TO_INTERRUPT combined with unknown bits, as
// Zircon's "options && options != ZX_PORT_BIND_TO_INTERRUPT" check does).
// Zircon's job policy check (ZX_POL_NEW_PORT) has no counterpart here.
func PortCreate(options uint32) (zx.Handle, zx.Status) {
	switch options {
	case 0:
	case zx.PortBindToInterrupt:
		return zx.HandleInvalid, zx.ErrNotSupported
	default:
		return zx.HandleInvalid, zx.ErrInvalidArgs
	}
	return NewHandle(port.New(), zx.DefaultPortRights), zx.ErrOk
}

// PortQueue is zx_port_queue: it queues a copy of *pkt as a user packet (its
// type forced to ZX_PKT_TYPE_USER; key, status and the 32-byte union are the
// caller's). Check order, as in Zircon's sys_port_queue: the handle (BAD_HANDLE,
// WRONG_TYPE, ACCESS_DENIED without ZX_RIGHT_WRITE), then the packet copy-in
// (a nil pkt is the bad user pointer: ZX_ERR_INVALID_ARGS), then the queue:
// ZX_ERR_SHOULD_WAIT when port.MaxUserPackets user packets are already queued.
func PortQueue(h zx.Handle, pkt *zx.PortPacket) zx.Status {
	p, _, st := lookup[*port.Port](h, zx.RightWrite)
	if st != zx.ErrOk {
		return st
	}
	if pkt == nil {
		return zx.ErrInvalidArgs
	}
	return zx.StatusOf(p.Queue(*pkt))
}

// PortWait is zx_port_wait: it stores the oldest packet (FIFO) in *pkt,
// waiting until one arrives or the deadline (zx.Now's monotonic clock) passes
// (ZX_ERR_TIMED_OUT; a past deadline polls, ZX_TIME_INFINITE waits forever).
// One packet wakes one waiter. The handle needs ZX_RIGHT_READ.
//
// Check order: the handle (BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED), then the
// output pointer, then the wait. Zircon's sys_port_wait copies the packet out
// only after dequeuing it, so there a bad pointer loses the packet (or the
// call blocks first and times out); in Go a nil pointer can be seen up front,
// so pagerd returns ZX_ERR_INVALID_ARGS before touching the queue: no packet
// is consumed and the call never blocks.
//
// Closing the handle while a PortWait is blocked does not cancel it: the wait
// keeps going until a packet (queued through another handle to the same port)
// or the deadline. That is Zircon's behaviour: sys_port_wait holds a
// reference to the PortDispatcher and blocks on its semaphore, which handle
// close never posts (unlike zx_object_wait_one, which returns CANCELED).
func PortWait(h zx.Handle, deadline zx.Time, pkt *zx.PortPacket) zx.Status {
	p, _, st := lookup[*port.Port](h, zx.RightRead)
	if st != zx.ErrOk {
		return st
	}
	if pkt == nil {
		return zx.ErrInvalidArgs
	}
	got, err := p.Wait(deadline, nil)
	if err != nil {
		return zx.StatusOf(err)
	}
	*pkt = got
	return zx.ErrOk
}

// PortObject resolves a port handle that must carry rights, in Zircon's
// lookup order (BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED), for Go callers that
// keep a reference to the port itself, as zx_pager_create_vmo does with its
// port argument (the kernel keeps a RefPtr<PortDispatcher>, not the handle).
func PortObject(h zx.Handle, rights zx.Rights) (*port.Port, zx.Status) {
	p, _, st := lookup[*port.Port](h, rights)
	return p, st
}
