package server

import (
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/store"
	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/zx"
)

// expectClosed checks that the server closed c's connection (after an
// optional connection-level Error).
func expectClosed(t *testing.T, c *rawClient) {
	t.Helper()
	c.c.SetDeadline(time.Now().Add(waitFor))
	for {
		m, fds, err := c.c.Recv()
		for _, fd := range fds {
			unix.Close(fd)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
				return
			}
			t.Fatalf("waiting for the server to close the connection: %v", err)
		}
		if e, ok := m.(*proto.Error); !ok || e.RequestID() != 0 {
			t.Fatalf("got %v before the close", m.Type())
		}
	}
}

// healthy checks that a fresh client is served normally.
func healthy(t *testing.T, f *fixture, name string, data []byte) {
	t.Helper()
	c := f.dial()
	o, fd := c.mustOpen(name, 0)
	m := c.mustMap(o.VMOID, fd, 0, o.Size, false)
	equalAt(t, "healthy client", readC(t, m.addr, 16).Data, data[:16])
}

func TestNotAUFFD(t *testing.T) {
	f := newFixture(t, nil)
	data := pattern(2*pageSize, 1)
	f.writeObject("x", data)
	c := f.dial()
	o, fd := c.mustOpen("x", 0)
	b, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	_, _, err = c.call(&proto.RegisterMapping{ReqID: 9, VMOID: o.VMOID, Addr: uint64(uintptr(unsafePointer(b))),
		Length: pageSize, Flags: proto.MapAttachUFFD}, p[0])
	wantStatus(t, "a pipe as the uffd", err, zx.ErrWrongType)
	expectClosed(t, c)
	healthy(t, f, "x", data)
}

func TestMalformedMessage(t *testing.T) {
	f := newFixture(t, nil)
	data := pattern(pageSize, 2)
	f.writeObject("x", data)
	c := f.dial()
	if err := c.c.SendRaw([]byte("PGRD but not really a message")); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	// A reply type sent by a client is refused too.
	c2 := f.dial()
	if err := c2.c.Send(&proto.VMOClosed{ReqID: 1, VMOID: 1}); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c2)
	healthy(t, f, "x", data)
}

func TestRegisterErrors(t *testing.T) {
	f := newFixture(t, nil)
	f.writeObject("x", pattern(4*pageSize, 3))
	c := f.dial()
	o, fd := c.mustOpen("x", 0)
	b, err := unix.Mmap(fd, 0, 8*pageSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	addr := uint64(uintptr(unsafePointer(b)))
	reg := func(vmo, a, length, off uint64, flags uint32, fds ...int) error {
		_, _, err := c.call(&proto.RegisterMapping{ReqID: c.id(), VMOID: vmo, Addr: a, Length: length, VMOOffset: off, Flags: flags}, fds...)
		return err
	}
	wantStatus(t, "mapping before any uffd", reg(o.VMOID, addr, pageSize, 0, 0), zx.ErrBadState)
	uf, err := uffd.New(ClientUFFDFeatures)
	if err != nil {
		t.Fatal(err)
	}
	defer uf.Close()
	if _, err := uf.Register(uintptr(addr), 8*pageSize, uffd.RegisterModeMissing); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "unknown VMO", reg(77, addr, pageSize, 0, proto.MapAttachUFFD, uf.Fd()), zx.ErrNotFound)
	wantStatus(t, "beyond the VMO", reg(o.VMOID, addr, 8*pageSize, 0, proto.MapAttachUFFD, uf.Fd()), zx.ErrOutOfRange)
	wantStatus(t, "offset beyond the VMO", reg(o.VMOID, addr, pageSize, 4*pageSize, proto.MapAttachUFFD, uf.Fd()), zx.ErrOutOfRange)
	// Writable, but the range is not registered for write-protect.
	wantStatus(t, "writable without WP registration", reg(o.VMOID, addr, pageSize, 0, proto.MapAttachUFFD|proto.MapWritable, uf.Fd()), zx.ErrInvalidArgs)
	if err := reg(o.VMOID, addr, 2*pageSize, 0, proto.MapAttachUFFD, uf.Fd()); err != nil {
		t.Fatalf("a good registration: %v", err)
	}
	wantStatus(t, "a second uffd", reg(o.VMOID, addr+4*pageSize, pageSize, 0, proto.MapAttachUFFD, uf.Fd()), zx.ErrAlreadyBound)
	wantStatus(t, "overlap", reg(o.VMOID, addr+pageSize, 2*pageSize, 0, 0), zx.ErrInvalidArgs)
	_, _, err = c.call(&proto.CloseVMO{ReqID: c.id(), VMOID: o.VMOID})
	wantStatus(t, "close with a mapping", err, zx.ErrBadState)
	_, _, err = c.call(&proto.UnregisterMapping{ReqID: c.id(), MappingID: 12345})
	wantStatus(t, "unregister unknown", err, zx.ErrNotFound)
	_, _, err = c.call(&proto.Sync{ReqID: c.id(), VMOID: 999})
	wantStatus(t, "sync unknown", err, zx.ErrNotFound)
	_, _, err = c.call(&proto.DirtyRanges{ReqID: c.id(), VMOID: o.VMOID, Offset: 0, Length: 5 * pageSize})
	wantStatus(t, "dirty ranges beyond the VMO", err, zx.ErrOutOfRange)
	// The connection survived every refused request.
	if st := c.stats(o.VMOID); st.Mappings != 1 {
		t.Fatalf("mappings %d", st.Mappings)
	}
}

func TestLimits(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Limits = proto.Limits{MaxVMOs: 2, MaxMappedBytes: 3 * pageSize, MaxOutstanding: 1}
	})
	data := pattern(8*pageSize, 4)
	f.writeObject("a", data)
	f.writeObject("b", data)
	f.writeObject("c", data)
	c := f.dial()
	oa, fda := c.mustOpen("a", 0)
	c.mustOpen("b", 0)
	_, _, err := c.open("c", 0, 0)
	wantStatus(t, "third VMO", err, zx.ErrNoResources)
	m := c.mustMap(oa.VMOID, fda, 0, 2*pageSize, false)
	_, err = c.mapVMO(oa.VMOID, fda, 2*pageSize, 2*pageSize, false)
	wantStatus(t, "mapped bytes", err, zx.ErrNoResources)
	// With one fault in flight at a time, 16 threads on 2 pages all finish.
	g, err := faulter.StartGroup(16)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	rs, err := faulter.WaitAll(g.Touch(m.addr, 2*pageSize, pageSize, false, 0), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Signo != 0 {
			t.Fatalf("thread %d: signal %d", i, r.Signo)
		}
	}
	equalAt(t, "page 1", readC(t, m.addr+pageSize, pageSize).Data, data[pageSize:2*pageSize])
}

// TestFaultOutsideRegistration: a client that registers a range with its
// uffd but not with pagerd gets SIGBUS there and loses its connection;
// other clients are unaffected.
func TestFaultOutsideRegistration(t *testing.T) {
	f := newFixture(t, nil)
	data := pattern(4*pageSize, 5)
	f.writeObject("x", data)
	c := f.dial()
	o, fd := c.mustOpen("x", 0)
	m := c.mustMap(o.VMOID, fd, 0, pageSize, false)
	// A second mapping registered with the uffd only.
	b, err := unix.Mmap(fd, 0, 4*pageSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	if _, err := c.uf.Register(uintptr(unsafePointer(b)), 4*pageSize, uffd.RegisterModeMissing); err != nil {
		t.Fatal(err)
	}
	if r := readC(t, uintptr(unsafePointer(b))+2*pageSize, 8); !r.Sigbus {
		t.Fatalf("read outside the registered mappings: %+v, want SIGBUS", r)
	}
	expectClosed(t, c)
	_ = m
	healthy(t, f, "x", data)
}

// TestUnregisterAndClose: after UnregisterMapping and CloseVMO the VMO is
// released (written back and closed) once no client has it.
func TestUnregisterAndClose(t *testing.T) {
	f := newFixture(t, nil)
	f.writeObject("x", pattern(4*pageSize, 6))
	c := f.dial()
	o, fd := c.mustOpen("x", 0)
	m := c.mustMap(o.VMOID, fd, 0, o.Size, true)
	writeC(t, m.addr, []byte("dirty"))
	if err := c.uf.Unregister(m.addr, uintptr(o.Size)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.call(&proto.UnregisterMapping{ReqID: c.id(), MappingID: m.id}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.call(&proto.CloseVMO{ReqID: c.id(), VMOID: o.VMOID}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the VMO to close", func() bool {
		f.s.mu.Lock()
		defer f.s.mu.Unlock()
		return len(f.s.vmos) == 0 && len(f.s.closing) == 0
	})
	ds, err := store.OpenDir(f.dir, store.DirOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	obj, err := ds.Open("x", false)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	got := make([]byte, 5)
	if _, err := obj.ReadAt(got, 0); err != nil || string(got) != "dirty" {
		t.Fatalf("store after close: %q %v", got, err)
	}
}

// TestSplitMapping: a client splitting a mapping (a partial unmap) registers
// each remaining piece inside the old mapping before it unregisters the old
// one; a piece must lie wholly inside, at the same VMO offsets and with the
// same writability, and faults in a piece are served throughout.
func TestSplitMapping(t *testing.T) {
	// The limit is the mapping's size: the pieces of a split must not count
	// while the mapping they lie in still does.
	f := newFixture(t, func(c *Config) { c.Limits.MaxMappedBytes = 6 * pageSize })
	data := pattern(8*pageSize, 11)
	f.writeObject("x", data)
	c := f.dial()
	o, fd := c.mustOpen("x", 0)
	m := c.mustMap(o.VMOID, fd, 0, 6*pageSize, true)
	reg := func(a, length, off uint64, flags uint32) (uint64, error) {
		r, _, err := c.call(&proto.RegisterMapping{ReqID: c.id(), VMOID: o.VMOID, Addr: a, Length: length, VMOOffset: off, Flags: flags})
		if err != nil {
			return 0, err
		}
		return r.(*proto.MappingRegistered).MappingID, nil
	}
	base := uint64(m.addr)
	_, err := reg(base+2*pageSize, 2*pageSize, 3*pageSize, proto.MapWritable)
	wantStatus(t, "a piece at other offsets", err, zx.ErrInvalidArgs)
	_, err = reg(base+2*pageSize, 2*pageSize, 2*pageSize, 0)
	wantStatus(t, "a read-only piece of a writable mapping", err, zx.ErrInvalidArgs)
	_, err = reg(base+4*pageSize, 4*pageSize, 4*pageSize, proto.MapWritable)
	wantStatus(t, "a piece sticking out", err, zx.ErrInvalidArgs)

	// Split: keep [0, 2) and [5, 6), drop [2, 5).
	lo, err := reg(base, 2*pageSize, 0, proto.MapWritable)
	if err != nil {
		t.Fatalf("first piece: %v", err)
	}
	hi, err := reg(base+5*pageSize, pageSize, 5*pageSize, proto.MapWritable)
	if err != nil {
		t.Fatalf("second piece: %v", err)
	}
	// While both the old mapping and the pieces are registered, faults in
	// a piece and in the part being dropped are served.
	equalAt(t, "page 1", readC(t, m.addr+pageSize, pageSize).Data, data[pageSize:2*pageSize])
	equalAt(t, "page 3", readC(t, m.addr+3*pageSize, pageSize).Data, data[3*pageSize:4*pageSize])
	if err := c.uf.Unregister(m.addr+2*pageSize, 3*pageSize); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.call(&proto.UnregisterMapping{ReqID: c.id(), MappingID: m.id}); err != nil {
		t.Fatal(err)
	}
	// Only the pieces remain: their faults are served, reads and writes.
	equalAt(t, "page 0", readC(t, m.addr, pageSize).Data, data[:pageSize])
	equalAt(t, "page 5", readC(t, m.addr+5*pageSize, pageSize).Data, data[5*pageSize:6*pageSize])
	if r := writeC(t, m.addr+pageSize, []byte("piece")); r.Signo != 0 {
		t.Fatalf("write to a piece: signal %d", r.Signo)
	}
	if st := c.stats(o.VMOID); st.Mappings != 2 || st.DirtyBytes != pageSize {
		t.Fatalf("after the split: %d mappings, %d dirty bytes; want 2 and one page", st.Mappings, st.DirtyBytes)
	}
	if got := mappedBytes(f); got != 3*pageSize {
		t.Fatalf("mapped bytes after the split: %d, want the pieces' %d", got, 3*pageSize)
	}
	// The dropped range is free again: a new mapping may take it.
	if _, err := reg(base+2*pageSize, 3*pageSize, 0, 0); err != nil {
		t.Fatalf("a new mapping in the hole: %v", err)
	}
	if got := mappedBytes(f); got != 6*pageSize {
		t.Fatalf("mapped bytes with the hole mapped again: %d, want %d", got, 6*pageSize)
	}
	for _, id := range []uint64{lo, hi} {
		if _, _, err := c.call(&proto.UnregisterMapping{ReqID: c.id(), MappingID: id}); err != nil {
			t.Fatal(err)
		}
	}
}

// mappedBytes is the mapped bytes counted for f's only client.
func mappedBytes(f *fixture) uint64 {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	var n uint64
	for _, c := range f.s.clients {
		c.mu.Lock()
		n += c.mappedBytes
		c.mu.Unlock()
	}
	return n
}

// TestClientClearingNonblock: a client that clears O_NONBLOCK on its uffd
// (pagerd shares the open file with it) must not stall a fault loop, and
// so other clients' faults: pagerd polls before it reads, the kernel then
// answers POLLERR, and the client loses its connection (its faults SIGBUS,
// through its guard in the client library; here nobody serves them). (With
// one fault loop per CPU the two clients may land on different loops;
// GOMAXPROCS=1 puts them on one.)
func TestClientClearingNonblock(t *testing.T) {
	f := newFixture(t, nil)
	a, b := pattern(8*pageSize, 1), pattern(8*pageSize, 2)
	f.writeObject("a", a)
	f.writeObject("b", b)
	ca, cb := f.dial(), f.dial()
	oa, fda := ca.mustOpen("a", 0)
	ma := ca.mustMap(oa.VMOID, fda, 0, oa.Size, false)
	ob, fdb := cb.mustOpen("b", 0)
	mb := cb.mustMap(ob.VMOID, fdb, 0, ob.Size, false)
	equalAt(t, "a's page", readC(t, ma.addr, pageSize).Data, a[:pageSize])
	if err := unix.SetNonblock(ca.uf.Fd(), false); err != nil {
		t.Fatal(err)
	}
	// a's next fault: pagerd finds the uffd blocking and drops a.
	th, err := faulter.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	th.Read(ma.addr+2*pageSize, 8) // stays blocked: nobody serves a any more
	expectClosed(t, ca)
	r, err := faulter.ReadAt(mb.addr+pageSize, pageSize, 5*time.Second)
	if err != nil {
		t.Fatalf("client b's fault after client a cleared O_NONBLOCK: %v", err)
	}
	equalAt(t, "b's page", r.Data, b[pageSize:2*pageSize])
	// Release a's blocked thread before the test ends.
	if err := ca.uf.Unregister(ma.addr, uintptr(oa.Size)); err != nil {
		t.Fatal(err)
	}
}
