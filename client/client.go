package client

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/zx"
)

// ClientFeatures are the userfaultfd features the client enables on the
// uffd it creates and sends to pagerd: MISSING faults on shared memory
// (memfd VMOs), write-protect on shared memory (dirty tracking), the
// faulting thread's id, and UFFDIO_POISON (for pagerd's failed loads and
// for the guard). pagerd relies on exactly these being enabled.
const ClientFeatures uffd.Features = uffd.FeatureMissingShmem | uffd.FeatureWPHugetlbfsShmem |
	uffd.FeaturePagefaultFlagWP | uffd.FeatureThreadID | uffd.FeaturePoison

// Defaults for Options fields left zero.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 60 * time.Second
)

// Options configure Dial. The zero value (or nil) gives the defaults.
type Options struct {
	// DialTimeout bounds the connect and the Hello/Welcome handshake;
	// 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// RequestTimeout bounds each request's wait for its reply; 0 means
	// DefaultRequestTimeout. A request that times out fails with a
	// *zx.Error of status ZX_ERR_TIMED_OUT; a reply that arrives later is
	// discarded (and what it created on the server is released).
	RequestTimeout time.Duration
}

// Client is a session with pagerd over its unix socket. Its methods may be
// called from many goroutines at once: every request carries its own
// request id, one reader goroutine receives the replies and hands each to
// its caller.
//
// The client keeps one userfaultfd per session (created at the first Map
// and sent to pagerd with the first RegisterMapping) and a guard: a C
// thread that, once pagerd is gone, answers every fault on the client's
// mappings with SIGBUS (missing pages) or lets it proceed (writes to
// present pages), so that a mapping never reads a silent zero page and no
// thread waits forever.
type Client struct {
	conn     *proto.Conn
	welcome  proto.Welcome
	opt      Options
	pageSize uint64
	socket   string

	nextID atomic.Uint64
	sendMu sync.Mutex // serializes sends and the write deadline

	pmu        sync.Mutex // pending, ended, err
	pending    map[uint64]*call
	ended      bool
	err        error
	done       chan struct{} // closed when the session ended
	readerDone chan struct{}
	userClosed atomic.Bool // Close ended the session

	mu       sync.Mutex // the fields below
	closing  bool
	vmos     map[*VMO]struct{}
	uf       *uffd.UFFD
	g        *guard
	inflight sync.WaitGroup // Open and Map calls in progress

	// Attaching the uffd: the first successful RegisterMapping carries
	// it. attachMu serializes attempts; amu guards attach and attachReq.
	attachMu  sync.Mutex
	amu       sync.Mutex
	attach    attachState
	attachReq uint64 // request id of the last attaching RegisterMapping

	closeOnce sync.Once
	closeErr  error
}

// attachState says whether pagerd has the session's uffd.
type attachState int

const (
	attachNone     attachState = iota // not sent, or refused
	attachInFlight                    // an attaching RegisterMapping is pending
	attachLost                        // it timed out: unknown until its late reply
	attachDone                        // pagerd has the uffd
)

// call is a request waiting for its reply.
type call struct {
	typ proto.Type
	ch  chan reply // buffered, 1
}

type reply struct {
	msg proto.Message
	fds []int
	err error
}

// Dial connects to pagerd at socket and does the Hello/Welcome handshake.
func Dial(socket string, opt *Options) (*Client, error) {
	var o Options
	if opt != nil {
		o = *opt
	}
	if o.DialTimeout < 0 || o.RequestTimeout < 0 {
		return nil, zxErr(zx.ErrInvalidArgs, "client: negative timeout (DialTimeout %v, RequestTimeout %v)", o.DialTimeout, o.RequestTimeout)
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	conn, err := proto.Dial(socket, o.DialTimeout)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", socket, err)
	}
	conn.SetDeadline(time.Now().Add(o.DialTimeout))
	w, err := proto.ClientHandshake(conn, proto.Hello{
		ReqID:      1,
		Magic:      proto.HelloMagic,
		MinVersion: proto.MinVersion,
		MaxVersion: proto.MaxVersion,
		PID:        int32(os.Getpid()),
		PageSize:   uint32(uffd.PageSize),
	})
	if err != nil {
		conn.Close()
		return nil, withContext(err, "client: handshake with %s", socket)
	}
	conn.SetDeadline(time.Time{})
	c := &Client{
		conn:       conn,
		welcome:    *w,
		opt:        o,
		pageSize:   uint64(max(uint32(uffd.PageSize), w.PageSize)),
		socket:     socket,
		pending:    make(map[uint64]*call),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
		vmos:       make(map[*VMO]struct{}),
	}
	c.nextID.Store(1) // the Hello used 1
	go c.readLoop()
	return c, nil
}

// Welcome returns pagerd's Welcome: the protocol version, page size,
// features and per-client limits of this session.
func (c *Client) Welcome() proto.Welcome { return c.welcome }

// Done returns a channel that is closed when the session has ended:
// pagerd went away (Err wraps ErrServerGone) or Close was called (Err is
// ErrClosed).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the session ended, or nil while it is alive. After pagerd
// died or dropped the connection, errors.Is(err, ErrServerGone) holds; after
// Close, err is ErrClosed.
func (c *Client) Err() error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.err
}

// newID returns a fresh request id.
func (c *Client) newID() proto.ReqID { return proto.ReqID(c.nextID.Add(1)) }

// begin registers an Open or Map in progress, unless the client is
// closing. The caller must call c.inflight.Done.
func (c *Client) begin() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return ErrClosed
	}
	c.inflight.Add(1)
	return nil
}

// usable returns ErrClosed once Close was called.
func (c *Client) usable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return ErrClosed
	}
	return nil
}

// send sends m with fds under the send lock and a write deadline.
func (c *Client) send(m proto.Message, fds ...int) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(c.opt.RequestTimeout))
	return c.conn.Send(m, fds...)
}

// roundTrip sends req (with fds, which stay the caller's) and waits for its
// reply. On success the reply has the type that answers req and the caller
// owns its fds. A server Error becomes a *zx.Error; the end of the session
// gives the session's error; no reply within RequestTimeout gives a
// ZX_ERR_TIMED_OUT *zx.Error.
func (c *Client) roundTrip(req proto.Message, fds ...int) (proto.Message, []int, error) {
	id := req.RequestID()
	cl := &call{typ: req.Type(), ch: make(chan reply, 1)}
	c.pmu.Lock()
	if c.ended {
		err := c.err
		c.pmu.Unlock()
		return nil, nil, err
	}
	c.pending[id] = cl
	c.pmu.Unlock()

	if err := c.send(req, fds...); err != nil {
		c.forget(id)
		var de *proto.DecodeError
		if errors.As(err, &de) {
			// Refused by the encoder: an argument the protocol cannot
			// carry (a bad name, say). Nothing was sent.
			return nil, nil, &zx.Error{Status: de.Status(), Text: de.Error()}
		}
		c.end(fmt.Errorf("%w: sending %v: %w", ErrServerGone, req.Type(), err))
		return nil, nil, c.Err()
	}

	t := time.NewTimer(c.opt.RequestTimeout)
	defer t.Stop()
	var r reply
	select {
	case r = <-cl.ch:
	case <-t.C:
		if c.forget(id) {
			return nil, nil, zxErr(zx.ErrTimedOut, "no reply to %v (request id %d) within %v", req.Type(), id, c.opt.RequestTimeout)
		}
		r = <-cl.ch // the reader (or end) took it just now
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	if e, ok := r.msg.(*proto.Error); ok {
		return nil, nil, fromReply(e)
	}
	return r.msg, r.fds, nil
}

// forget removes a pending request and reports whether it was still
// pending (no reply delivered).
func (c *Client) forget(id uint64) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if _, ok := c.pending[id]; ok {
		delete(c.pending, id)
		return true
	}
	return false
}

// readLoop receives every message from pagerd until the session ends.
func (c *Client) readLoop() {
	defer close(c.readerDone)
	for {
		m, fds, err := c.conn.Recv()
		if err != nil {
			c.end(c.recvError(err))
			return
		}
		id := m.RequestID()
		switch mm := m.(type) {
		case *proto.Error:
			if id == 0 {
				c.end(fmt.Errorf("%w: connection error from pagerd: %w", ErrServerGone, fromReply(mm)))
				return
			}
		case *proto.Goodbye:
			c.end(fmt.Errorf("%w: pagerd said goodbye", ErrServerGone))
			return
		}
		if id == 0 {
			closeFDs(fds)
			c.end(fmt.Errorf("%w: protocol violation: unsolicited %v from pagerd", ErrServerGone, m.Type()))
			return
		}
		c.pmu.Lock()
		cl := c.pending[id]
		delete(c.pending, id)
		c.pmu.Unlock()
		if cl == nil {
			c.late(m, fds)
			continue
		}
		if t := m.Type(); t != proto.TypeError && t != cl.typ+1 {
			closeFDs(fds)
			err := fmt.Errorf("%w: protocol violation: pagerd answered %v (request id %d) with %v", ErrServerGone, cl.typ, id, t)
			cl.ch <- reply{err: err}
			c.end(err)
			return
		}
		cl.ch <- reply{msg: m, fds: fds}
	}
}

// recvError classifies a receive error that ends the session.
func (c *Client) recvError(err error) error {
	switch {
	case c.userClosed.Load():
		return ErrClosed
	case proto.IsMalformed(err):
		return fmt.Errorf("%w: malformed message from pagerd: %w", ErrServerGone, err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: connection closed: %w", ErrServerGone, err)
	case errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %w", ErrServerGone, err)
	}
	return fmt.Errorf("%w: receiving: %w", ErrServerGone, err)
}

// late handles a reply whose request already gave up (timed out): it
// releases what the request created on the server and settles the uffd
// attachment state.
func (c *Client) late(m proto.Message, fds []int) {
	closeFDs(fds)
	id := m.RequestID()
	c.amu.Lock()
	if c.attachReq == id && (c.attach == attachInFlight || c.attach == attachLost) {
		switch m.(type) {
		case *proto.MappingRegistered:
			c.attach = attachDone
		case *proto.Error:
			c.attach = attachNone
		}
	}
	c.amu.Unlock()
	switch mm := m.(type) {
	case *proto.VMOOpened:
		go c.discard(&proto.CloseVMO{ReqID: c.newID(), VMOID: mm.VMOID})
	case *proto.MappingRegistered:
		go c.discard(&proto.UnregisterMapping{ReqID: c.newID(), MappingID: mm.MappingID})
	}
}

// discard sends req and ignores the outcome.
func (c *Client) discard(req proto.Message) {
	_, fds, _ := c.roundTrip(req)
	closeFDs(fds)
}

// end ends the session with err (the first call wins): every pending
// request fails with err, the socket is shut down in both directions (so
// pagerd and the guard see the end even when pagerd itself is still up)
// and Done is closed.
func (c *Client) end(err error) {
	c.pmu.Lock()
	if c.ended {
		c.pmu.Unlock()
		return
	}
	c.ended = true
	if c.userClosed.Load() {
		err = ErrClosed
	}
	c.err = err
	pend := c.pending
	c.pending = make(map[uint64]*call)
	c.pmu.Unlock()
	for _, cl := range pend {
		cl.ch <- reply{err: err}
	}
	if rc, rerr := c.conn.SyscallConn(); rerr == nil {
		rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RDWR) })
	}
	close(c.done)
}

// dupSocket returns a close-on-exec dup of the connection's socket.
func (c *Client) dupSocket() (int, error) {
	rc, err := c.conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", derr)
	}
	return nfd, nil
}

// ensureUFFD creates the session's userfaultfd and starts the guard, once.
func (c *Client) ensureUFFD() (*uffd.UFFD, *guard, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.uf != nil {
		return c.uf, c.g, nil
	}
	u, err := uffd.New(ClientFeatures)
	if err != nil {
		return nil, nil, fmt.Errorf("client: creating a userfaultfd with features %v: %w", ClientFeatures, err)
	}
	sock, err := c.dupSocket()
	if err != nil {
		u.Close()
		return nil, nil, fmt.Errorf("client: duplicating the socket for the guard: %w", err)
	}
	ufd, err := unix.FcntlInt(uintptr(u.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(sock)
		u.Close()
		return nil, nil, fmt.Errorf("client: duplicating userfaultfd %d for the guard: %w", u.Fd(), err)
	}
	g, err := startGuard(sock, ufd) // owns sock and ufd now
	if err != nil {
		u.Close()
		return nil, nil, err
	}
	c.uf, c.g = u, g
	return u, g, nil
}

// registerMapping sends RegisterMapping, attaching the uffd if pagerd does
// not have it yet, and returns the mapping id.
func (c *Client) registerMapping(u *uffd.UFFD, vmoID, addr, length, off uint64, writable bool) (uint64, error) {
	var flags uint32
	if writable {
		flags |= proto.MapWritable
	}
	req := func(id proto.ReqID, flags uint32, fds ...int) (uint64, error) {
		m := &proto.RegisterMapping{ReqID: id, VMOID: vmoID, Addr: addr, Length: length, VMOOffset: off, Flags: flags}
		r, rfds, err := c.roundTrip(m, fds...)
		closeFDs(rfds)
		if err != nil {
			return 0, err
		}
		return r.(*proto.MappingRegistered).MappingID, nil
	}
	state := func() attachState {
		c.amu.Lock()
		defer c.amu.Unlock()
		return c.attach
	}
	if state() == attachDone {
		return req(c.newID(), flags)
	}
	c.attachMu.Lock()
	defer c.attachMu.Unlock()
	c.amu.Lock()
	switch c.attach {
	case attachDone:
		c.amu.Unlock()
		return req(c.newID(), flags)
	case attachLost:
		id := c.attachReq
		c.amu.Unlock()
		return 0, zxErr(zx.ErrBadState, "an earlier RegisterMapping carrying the userfaultfd (request id %d) timed out; whether pagerd has it is unknown", id)
	}
	id := c.newID()
	c.attach, c.attachReq = attachInFlight, uint64(id)
	c.amu.Unlock()

	mid, err := req(id, flags|proto.MapAttachUFFD, u.Fd())

	c.amu.Lock()
	defer c.amu.Unlock()
	if c.attach == attachInFlight { // not settled by a late reply
		switch {
		case err == nil:
			c.attach = attachDone
		case zx.StatusOf(err) == zx.ErrTimedOut:
			c.attach = attachLost
		default:
			c.attach = attachNone
		}
	}
	return mid, err
}

// Status asks pagerd for its status.
func (c *Client) Status() (*proto.StatusReply, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	m, fds, err := c.roundTrip(&proto.Status{ReqID: c.newID()})
	closeFDs(fds)
	if err != nil {
		return nil, withContext(err, "status")
	}
	return m.(*proto.StatusReply), nil
}

// Clients lists pagerd's clients (every page of ListClients).
func (c *Client) Clients() ([]proto.ClientInfo, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	var out []proto.ClientInfo
	for start := uint32(0); ; {
		m, fds, err := c.roundTrip(&proto.ListClients{ReqID: c.newID(), Start: start})
		closeFDs(fds)
		if err != nil {
			return nil, withContext(err, "list clients from %d", start)
		}
		r := m.(*proto.ClientList)
		out = append(out, r.Clients...)
		start += uint32(len(r.Clients))
		if len(r.Clients) == 0 || start >= r.Total {
			return out, nil
		}
	}
}

// VMOs lists the VMOs pagerd has open (every page of ListVMOs).
func (c *Client) VMOs() ([]proto.VMOInfo, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	var out []proto.VMOInfo
	for start := uint32(0); ; {
		m, fds, err := c.roundTrip(&proto.ListVMOs{ReqID: c.newID(), Start: start})
		closeFDs(fds)
		if err != nil {
			return nil, withContext(err, "list VMOs from %d", start)
		}
		r := m.(*proto.VMOList)
		out = append(out, r.VMOs...)
		start += uint32(len(r.VMOs))
		if len(r.VMOs) == 0 || start >= r.Total {
			return out, nil
		}
	}
}

// Close ends the session in order: it unmaps every mapping (unregistering
// each from the uffd and from pagerd), closes every VMO, says Goodbye,
// stops the guard and closes the socket and the uffd. It waits for Open
// and Map calls in progress first. Requests still pending fail with
// ErrClosed. If pagerd is already gone, Close releases the local
// resources and returns nil. Later calls return the first call's result.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Client) close() error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.inflight.Wait()

	c.mu.Lock()
	vmos := make([]*VMO, 0, len(c.vmos))
	for v := range c.vmos {
		vmos = append(vmos, v)
	}
	c.mu.Unlock()
	var errs []error
	for _, v := range vmos {
		if err := v.Close(); err == ErrClosed {
			<-v.gone // being closed by another goroutine
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	// From here on the session ends because we end it: pagerd closing
	// its side after our Goodbye is not pagerd going away.
	c.userClosed.Store(true)
	if c.Err() == nil {
		c.send(&proto.Goodbye{}) // best effort; the close says the same
	}
	c.mu.Lock()
	u, g := c.uf, c.g
	c.mu.Unlock()
	if g != nil {
		g.stop()
	}
	c.end(ErrClosed)
	c.conn.Close()
	<-c.readerDone
	if u != nil {
		u.Close()
	}
	return errors.Join(errs...)
}

// guardStats returns the guard's counters (zero if there is no guard).
func (c *Client) guardStats() guardStats {
	c.mu.Lock()
	g := c.g
	c.mu.Unlock()
	if g == nil {
		return guardStats{}
	}
	return g.stats()
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
