package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/zx"
)

// The fake server: just enough of pagerd, on top of package proto, to
// drive the client with a real socket, real memfds and the client's real
// userfaultfd. It serves page faults only when a test asks it to.

var (
	pageSize = uint64(uffd.PageSize)
	ps       = uintptr(uffd.PageSize)
)

// waitFor bounds every wait in these tests.
const waitFor = 10 * time.Second

// fakeObj is an object the fake serves: a memfd.
type fakeObj struct {
	fd       int
	size     uint64
	readOnly bool
}

// fake is a fake pagerd listening on a socket.
type fake struct {
	ln     *proto.Listener
	path   string
	report func(format string, args ...any) // t.Errorf, or stderr in a child

	mu    sync.Mutex
	objs  map[string]*fakeObj
	conns []*fakeConn
	// hook, if set, sees every request first; true means it handled it
	// (and sent any reply itself).
	hook func(fc *fakeConn, m proto.Message, fds []int) bool
	// onRegister runs after a RegisterMapping was answered.
	onRegister func(fc *fakeConn, m *proto.RegisterMapping)
	// onUnregister runs before an UnregisterMapping is answered.
	onUnregister func(fc *fakeConn, m *proto.RegisterMapping)
	connCh       chan *fakeConn
	cfg          proto.ServerConfig
}

// fakeConn is one client connection of the fake.
type fakeConn struct {
	f *fake
	c *proto.Conn

	sendMu sync.Mutex

	mu     sync.Mutex
	uf     *uffd.UFFD
	ufCh   chan struct{} // closed when uf has arrived
	vmos   map[uint64]*fakeObj
	maps   map[uint64]*proto.RegisterMapping
	regs   []regRecord
	reqs   []proto.Message
	nextID uint64
	once   sync.Once
	gone   chan struct{} // closed by kill
}

// regRecord is what a RegisterMapping carried.
type regRecord struct {
	flags uint32
	nfds  int
}

// newFake starts a fake server on a socket in dir.
func newFake(dir string, report func(string, ...any)) (*fake, error) {
	path := filepath.Join(dir, "pagerd.sock")
	ln, err := proto.Listen(path, 0)
	if err != nil {
		return nil, err
	}
	f := &fake{
		ln: ln, path: path, report: report,
		objs:   make(map[string]*fakeObj),
		connCh: make(chan *fakeConn, 16),
		cfg: proto.ServerConfig{
			Features: proto.FeaturePoison | proto.FeatureDirtyQuery | proto.FeatureWriteBack,
			Limits:   proto.Limits{MaxVMOs: 7, MaxMappedBytes: 1 << 30, MaxOutstanding: 33},
		},
	}
	go f.accept()
	return f, nil
}

// startFake starts a fake for a test and stops it at the end.
func startFake(t *testing.T) *fake {
	t.Helper()
	f, err := newFake(t.TempDir(), t.Errorf)
	if err != nil {
		t.Fatalf("fake server: %v", err)
	}
	t.Cleanup(f.stop)
	return f
}

// addObj adds an object of pages pages; page i < present is filled with
// byte 'A'+i through the memfd (so it is present); the rest are holes.
func (f *fake) addObj(name string, pages, present int, readOnly bool) *fakeObj {
	fd, err := unix.MemfdCreate("fake-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		panic(err)
	}
	size := uint64(pages) * pageSize
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		panic(err)
	}
	for i := 0; i < present; i++ {
		if _, err := unix.Pwrite(fd, fill(byte('A'+i)), int64(uint64(i)*pageSize)); err != nil {
			panic(err)
		}
	}
	o := &fakeObj{fd: fd, size: size, readOnly: readOnly}
	f.mu.Lock()
	f.objs[name] = o
	f.mu.Unlock()
	return o
}

// fill returns one page of b.
func fill(b byte) []byte {
	p := make([]byte, pageSize)
	for i := range p {
		p[i] = b
	}
	return p
}

func (f *fake) accept() {
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{f: f, c: conn, ufCh: make(chan struct{}), gone: make(chan struct{}),
			vmos: make(map[uint64]*fakeObj), maps: make(map[uint64]*proto.RegisterMapping)}
		f.mu.Lock()
		f.conns = append(f.conns, fc)
		f.mu.Unlock()
		go fc.run()
		f.connCh <- fc
	}
}

// conn waits for the next accepted connection.
func (f *fake) conn(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case fc := <-f.connCh:
		return fc
	case <-time.After(waitFor):
		t.Fatalf("fake server: no connection within %v", waitFor)
		return nil
	}
}

func (f *fake) setHook(h func(fc *fakeConn, m proto.Message, fds []int) bool) {
	f.mu.Lock()
	f.hook = h
	f.mu.Unlock()
}

// stop closes the listener, every connection and every object.
func (f *fake) stop() {
	f.ln.Close()
	f.mu.Lock()
	conns := f.conns
	objs := f.objs
	f.objs = map[string]*fakeObj{}
	f.mu.Unlock()
	for _, fc := range conns {
		fc.kill()
	}
	for _, o := range objs {
		unix.Close(o.fd)
	}
}

// kill drops the connection as a dying pagerd would: the socket and the
// fake's copy of the client's uffd are closed without a word.
func (fc *fakeConn) kill() {
	fc.once.Do(func() {
		close(fc.gone)
		fc.c.Close()
		fc.mu.Lock()
		if fc.uf != nil {
			fc.uf.Close()
		}
		fc.mu.Unlock()
	})
}

func (fc *fakeConn) send(m proto.Message, fds ...int) {
	fc.sendMu.Lock()
	defer fc.sendMu.Unlock()
	if err := fc.c.Send(m, fds...); err != nil {
		select {
		case <-fc.gone:
		default:
			fc.f.report("fake server: send %v: %v", m.Type(), err)
		}
	}
}

// sendError answers request id with an Error.
func (fc *fakeConn) sendError(id uint64, s zx.Status, format string, args ...any) {
	fc.send(&proto.Error{ReqID: proto.ReqID(id), Code: s, Text: fmt.Sprintf(format, args...)})
}

// requests returns a copy of the requests received so far.
func (fc *fakeConn) requests() []proto.Message {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]proto.Message(nil), fc.reqs...)
}

// registrations returns what each RegisterMapping carried.
func (fc *fakeConn) registrations() []regRecord {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]regRecord(nil), fc.regs...)
}

// uffd waits for the client's uffd and returns the test's own duplicate
// of it, closed when the test ends: kill closes the fake's copy while the
// test may still be using its own. (The client keeps the uffd open in any
// case, so the duplicate changes no lifetime.)
func (fc *fakeConn) uffd(t *testing.T) *uffd.UFFD {
	t.Helper()
	select {
	case <-fc.ufCh:
	case <-time.After(waitFor):
		t.Fatalf("fake server: no uffd within %v", waitFor)
	}
	fc.mu.Lock()
	fd, err := unix.FcntlInt(uintptr(fc.uf.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	features := fc.uf.Features()
	fc.mu.Unlock()
	if err != nil {
		t.Fatalf("fake server: duplicating the client's uffd: %v", err)
	}
	u := uffd.FromFd(fd, features)
	t.Cleanup(func() { u.Close() })
	return u
}

func (fc *fakeConn) run() {
	defer fc.kill()
	fc.f.mu.Lock()
	cfg := fc.f.cfg
	fc.f.mu.Unlock()
	if _, _, err := proto.ServerHandshake(fc.c, cfg); err != nil {
		return
	}
	for {
		m, fds, err := fc.c.Recv()
		if err != nil {
			return
		}
		fc.mu.Lock()
		fc.reqs = append(fc.reqs, m)
		fc.mu.Unlock()
		if m.Type() == proto.TypeGoodbye {
			return
		}
		fc.f.mu.Lock()
		hook := fc.f.hook
		fc.f.mu.Unlock()
		if hook != nil && hook(fc, m, fds) {
			continue
		}
		fc.handle(m, fds)
	}
}

// handle is the fake's default behaviour, pagerd's contract minus the
// fault serving.
func (fc *fakeConn) handle(msg proto.Message, fds []int) {
	id := msg.RequestID()
	rid := proto.ReqID(id)
	switch m := msg.(type) {
	case *proto.OpenVMO:
		fc.f.mu.Lock()
		o := fc.f.objs[m.Name]
		if o == nil && m.Flags&proto.OpenCreate != 0 {
			fd, err := unix.MemfdCreate("fake-"+m.Name, unix.MFD_CLOEXEC)
			if err == nil {
				size := (m.CreateSize + pageSize - 1) &^ (pageSize - 1)
				unix.Ftruncate(fd, int64(size))
				o = &fakeObj{fd: fd, size: size}
				fc.f.objs[m.Name] = o
			}
		}
		fc.f.mu.Unlock()
		if o == nil {
			fc.sendError(id, zx.ErrNotFound, "no object %q", m.Name)
			return
		}
		flags := m.Flags
		sendFd := o.fd
		if o.readOnly || m.Flags&proto.OpenReadOnly != 0 {
			flags |= proto.OpenReadOnly
			ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", o.fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				fc.sendError(id, zx.ErrIO, "reopen: %v", err)
				return
			}
			defer unix.Close(ro)
			sendFd = ro
		}
		fc.mu.Lock()
		fc.nextID++
		vid := fc.nextID
		fc.vmos[vid] = o
		fc.mu.Unlock()
		fc.send(&proto.VMOOpened{ReqID: rid, VMOID: vid, Size: o.size, ContentSize: o.size, Flags: flags}, sendFd)
	case *proto.RegisterMapping:
		attach := m.Flags&proto.MapAttachUFFD != 0
		fc.mu.Lock()
		fc.regs = append(fc.regs, regRecord{flags: m.Flags, nfds: len(fds)})
		o := fc.vmos[m.VMOID]
		var err error
		switch {
		case o == nil:
			err = zx.Errorf(zx.ErrNotFound, "no VMO %d", m.VMOID)
		case attach && fc.uf != nil:
			err = zx.Errorf(zx.ErrAlreadyBound, "already have a uffd")
		case !attach && fc.uf == nil:
			err = zx.Errorf(zx.ErrBadState, "no uffd yet")
		case m.VMOOffset+m.Length > o.size:
			err = zx.Errorf(zx.ErrOutOfRange, "[%#x, +%#x) beyond %#x", m.VMOOffset, m.Length, o.size)
		}
		if err != nil {
			fc.mu.Unlock()
			closeFDs(fds)
			fc.send(proto.ErrorFrom(id, err))
			return
		}
		if attach {
			unix.SetNonblock(fds[0], true)
			fc.uf = uffd.FromFd(fds[0], ClientFeatures)
			close(fc.ufCh)
		}
		uf := fc.uf
		fc.nextID++
		mid := fc.nextID
		fc.maps[mid] = m
		fc.mu.Unlock()
		if m.Flags&proto.MapWritable != 0 {
			if err := uf.WriteProtect(uintptr(m.Addr), uintptr(m.Length), uffd.WriteProtectModeWP); err != nil {
				fc.f.report("fake server: write-protect [%#x, +%#x): %v", m.Addr, m.Length, err)
			}
		}
		fc.send(&proto.MappingRegistered{ReqID: rid, MappingID: mid})
		fc.f.mu.Lock()
		h := fc.f.onRegister
		fc.f.mu.Unlock()
		if h != nil {
			h(fc, m)
		}
	case *proto.UnregisterMapping:
		fc.mu.Lock()
		rm := fc.maps[m.MappingID]
		fc.mu.Unlock()
		if rm == nil {
			fc.sendError(id, zx.ErrNotFound, "no mapping %d", m.MappingID)
			return
		}
		fc.f.mu.Lock()
		h := fc.f.onUnregister
		fc.f.mu.Unlock()
		if h != nil {
			h(fc, rm)
		}
		fc.mu.Lock()
		delete(fc.maps, m.MappingID)
		fc.mu.Unlock()
		fc.send(&proto.MappingUnregistered{ReqID: rid, MappingID: m.MappingID})
	case *proto.CloseVMO:
		fc.mu.Lock()
		_, ok := fc.vmos[m.VMOID]
		busy := false
		for _, rm := range fc.maps {
			busy = busy || rm.VMOID == m.VMOID
		}
		if ok && !busy {
			delete(fc.vmos, m.VMOID)
		}
		fc.mu.Unlock()
		switch {
		case !ok:
			fc.sendError(id, zx.ErrNotFound, "no VMO %d", m.VMOID)
		case busy:
			fc.sendError(id, zx.ErrBadState, "VMO %d has mappings", m.VMOID)
		default:
			fc.send(&proto.VMOClosed{ReqID: rid, VMOID: m.VMOID})
		}
	case *proto.Sync:
		fc.send(&proto.Synced{ReqID: rid, VMOID: m.VMOID, BytesWritten: 3 * pageSize})
	case *proto.Stats:
		fc.mu.Lock()
		o := fc.vmos[m.VMOID]
		fc.mu.Unlock()
		if o == nil {
			fc.sendError(id, zx.ErrNotFound, "no VMO %d", m.VMOID)
			return
		}
		fc.send(&proto.StatsReply{ReqID: rid, VMOID: m.VMOID, Size: o.size, ContentSize: o.size, ReadFaults: 5})
	case *proto.DirtyRanges:
		fc.send(&proto.DirtyRangesReply{ReqID: rid, VMOID: m.VMOID})
	case *proto.Status:
		fc.send(&proto.StatusReply{ReqID: rid, PID: int32(os.Getpid()), Version: 1, Clients: 1, Store: "fake"})
	case *proto.ListClients:
		// 300 clients, at most 100 per page.
		const total = 300
		var cs []proto.ClientInfo
		for i := m.Start; i < total && len(cs) < 100; i++ {
			cs = append(cs, proto.ClientInfo{ID: uint64(i) + 1, PID: int32(i)})
		}
		fc.send(&proto.ClientList{ReqID: rid, Total: total, Clients: cs})
	case *proto.ListVMOs:
		// 5 VMOs, 2 per page.
		const total = 5
		var vs []proto.VMOInfo
		for i := m.Start; i < total && len(vs) < 2; i++ {
			vs = append(vs, proto.VMOInfo{Name: fmt.Sprintf("vmo-%d", i), Size: pageSize})
		}
		fc.send(&proto.VMOList{ReqID: rid, Total: total, VMOs: vs})
	default:
		closeFDs(fds)
		fc.sendError(id, zx.ErrNotSupported, "fake: %v", msg.Type())
	}
}

// nextFault waits for one page-fault message on u (reading it: the fault
// is then the reader's to answer).
func nextFault(u *uffd.UFFD, timeout time.Duration) (uffd.Msg, error) {
	deadline := time.Now().Add(timeout)
	var msgs [1]uffd.Msg
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return uffd.Msg{}, errors.New("no fault message in time")
		}
		ready, _, err := u.Wait(-1, int(left/time.Millisecond)+1)
		if err != nil {
			return uffd.Msg{}, err
		}
		if !ready {
			continue
		}
		n, err := u.Read(msgs[:])
		if err != nil {
			return uffd.Msg{}, err
		}
		if n == 1 && msgs[0].Event() == uffd.EventPagefault {
			return msgs[0], nil
		}
	}
}

// faultPending waits until u has an unread message, without reading it.
func faultPending(u *uffd.UFFD, timeout time.Duration) error {
	ready, _, err := u.Wait(-1, int(timeout/time.Millisecond))
	if err == nil && !ready {
		err = errors.New("no fault pending in time")
	}
	return err
}
