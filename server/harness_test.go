package server

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/readahead"
	"github.com/pagerd/pagerd/store"
	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/zx"
)

// These tests run the server in the test process and act as its clients
// with the raw protocol; every fault is taken by a C thread
// (internal/faulter), never by a goroutine, so the in-process server can
// serve it (the Go fault hazard).

const waitFor = 10 * time.Second

// fixture is a running server over a directory store.
type fixture struct {
	t    *testing.T
	s    *Server
	dir  string
	sock string
	done chan error
}

func newFixture(t *testing.T, tweak func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenDir(dir, store.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureStore(t, dir, st, tweak)
}

func newFixtureStore(t *testing.T, dir string, st store.Store, tweak func(*Config)) *fixture {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "pagerd.sock")
	cfg := Config{Socket: sock, Store: st, StoreDesc: "test", WritebackInterval: -1,
		Readahead: readahead.Config{Disabled: true}}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, s: s, dir: dir, sock: sock, done: make(chan error, 1)}
	go func() { f.done <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-f.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(waitFor):
			t.Errorf("Serve did not return after Close")
		}
		st.Close()
	})
	return f
}

// pattern is the deterministic content of test objects: every 8 bytes
// hold the object offset, xored with seed.
func pattern(size int, seed uint64) []byte {
	b := make([]byte, size)
	for off := 0; off+8 <= size; off += 8 {
		v := uint64(off) ^ seed
		for i := 0; i < 8; i++ {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	return b
}

func (f *fixture) writeObject(name string, data []byte) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), data, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// rawClient is a client speaking the protocol directly.
type rawClient struct {
	t    *testing.T
	c    *proto.Conn
	uf   *uffd.UFFD
	next uint64
	maps [][]byte
}

func (f *fixture) dial() *rawClient {
	f.t.Helper()
	c, err := proto.Dial(f.sock, waitFor)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := proto.ClientHandshake(c, proto.Hello{}); err != nil {
		f.t.Fatal(err)
	}
	rc := &rawClient{t: f.t, c: c, next: 100}
	f.t.Cleanup(rc.close)
	return rc
}

func (rc *rawClient) close() {
	rc.c.Close()
	for _, b := range rc.maps {
		unix.Munmap(b)
	}
	rc.maps = nil
	if rc.uf != nil {
		rc.uf.Close()
		rc.uf = nil
	}
}

// call sends m and returns the reply (or a *zx.Error) and its fds.
func (rc *rawClient) call(m proto.Message, fds ...int) (proto.Message, []int, error) {
	rc.t.Helper()
	rc.c.SetDeadline(time.Now().Add(waitFor))
	defer rc.c.SetDeadline(time.Time{})
	if err := rc.c.Send(m, fds...); err != nil {
		return nil, nil, err
	}
	r, rfds, err := rc.c.Recv()
	if err != nil {
		return nil, nil, err
	}
	if e, ok := r.(*proto.Error); ok {
		return nil, nil, &zx.Error{Status: e.Code, Text: e.Text}
	}
	if r.RequestID() != m.RequestID() {
		rc.t.Fatalf("reply %v for request %d, sent %d", r.Type(), r.RequestID(), m.RequestID())
	}
	return r, rfds, nil
}

func (rc *rawClient) id() proto.ReqID { rc.next++; return proto.ReqID(rc.next) }

// open opens name and returns its id, memfd and reply.
func (rc *rawClient) open(name string, flags uint32, createSize uint64) (*proto.VMOOpened, int, error) {
	r, fds, err := rc.call(&proto.OpenVMO{ReqID: rc.id(), Flags: flags, CreateSize: createSize, Name: name})
	if err != nil {
		return nil, -1, err
	}
	o := r.(*proto.VMOOpened)
	rc.t.Cleanup(func() { unix.Close(fds[0]) })
	return o, fds[0], nil
}

func (rc *rawClient) mustOpen(name string, flags uint32) (*proto.VMOOpened, int) {
	rc.t.Helper()
	o, fd, err := rc.open(name, flags, 0)
	if err != nil {
		rc.t.Fatalf("open %q: %v", name, err)
	}
	return o, fd
}

// mapping is a client mapping registered with the server.
type clientMapping struct {
	id   uint64
	addr uintptr
	b    []byte // never touched by Go code: faults come from C threads
}

// mapVMO maps [off, off+length) of the memfd, registers it with the uffd
// (created at the first call) and with the server.
func (rc *rawClient) mapVMO(vmoID uint64, memfd int, off, length uint64, writable bool) (*clientMapping, error) {
	rc.t.Helper()
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(memfd, int64(off), int(length), prot, unix.MAP_SHARED)
	if err != nil {
		rc.t.Fatalf("mmap: %v", err)
	}
	rc.maps = append(rc.maps, b)
	addr := uintptr(unsafePointer(b))
	var fds []int
	flags := uint32(0)
	if rc.uf == nil {
		if rc.uf, err = uffd.New(ClientUFFDFeatures); err != nil {
			rc.t.Fatal(err)
		}
		flags |= proto.MapAttachUFFD
		fds = []int{rc.uf.Fd()}
	}
	mode := uffd.RegisterModeMissing
	if writable {
		mode |= uffd.RegisterModeWP
		flags |= proto.MapWritable
	}
	if _, err := rc.uf.Register(addr, uintptr(length), mode); err != nil {
		rc.t.Fatalf("register: %v", err)
	}
	r, _, err := rc.call(&proto.RegisterMapping{ReqID: rc.id(), VMOID: vmoID, Addr: uint64(addr), Length: length,
		VMOOffset: off, Flags: flags}, fds...)
	if err != nil {
		return nil, err
	}
	return &clientMapping{id: r.(*proto.MappingRegistered).MappingID, addr: addr, b: b}, nil
}

func (rc *rawClient) mustMap(vmoID uint64, memfd int, off, length uint64, writable bool) *clientMapping {
	rc.t.Helper()
	m, err := rc.mapVMO(vmoID, memfd, off, length, writable)
	if err != nil {
		rc.t.Fatalf("register mapping: %v", err)
	}
	return m
}

func (rc *rawClient) stats(vmoID uint64) *proto.StatsReply {
	rc.t.Helper()
	r, _, err := rc.call(&proto.Stats{ReqID: rc.id(), VMOID: vmoID})
	if err != nil {
		rc.t.Fatal(err)
	}
	return r.(*proto.StatsReply)
}

func (rc *rawClient) sync(vmoID uint64) uint64 {
	rc.t.Helper()
	r, _, err := rc.call(&proto.Sync{ReqID: rc.id(), VMOID: vmoID})
	if err != nil {
		rc.t.Fatal(err)
	}
	return r.(*proto.Synced).BytesWritten
}

func (rc *rawClient) dirty(vmoID, off, length uint64) []proto.Range {
	rc.t.Helper()
	r, _, err := rc.call(&proto.DirtyRanges{ReqID: rc.id(), VMOID: vmoID, Offset: off, Length: length})
	if err != nil {
		rc.t.Fatal(err)
	}
	return r.(*proto.DirtyRangesReply).Ranges
}

// wantStatus checks that err carries status st.
func wantStatus(t *testing.T, what string, err error, st zx.Status) {
	t.Helper()
	if got := zx.StatusOf(err); got != st {
		t.Fatalf("%s: got %v (%v), want %v", what, got, err, st)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func equalAt(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: content differs at byte %d (got %d bytes, want %d)", what, i, len(got), len(want))
	}
}
