package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/readahead"
	"github.com/pagerd/pagerd/store"
	"github.com/pagerd/pagerd/zx"
)

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func readC(t *testing.T, addr uintptr, n int) faulter.Result {
	t.Helper()
	r, err := faulter.ReadAt(addr, n, waitFor)
	if err != nil {
		t.Fatalf("C read at %#x: %v", addr, err)
	}
	return r
}

func writeC(t *testing.T, addr uintptr, data []byte) faulter.Result {
	t.Helper()
	r, err := faulter.WriteAt(addr, data, waitFor)
	if err != nil {
		t.Fatalf("C write at %#x: %v", addr, err)
	}
	return r
}

// TestLazyRead: a C thread reads pages of a mapping; each arrives with the
// store's bytes, and only the touched pages are supplied.
func TestLazyRead(t *testing.T) {
	f := newFixture(t, nil)
	data := pattern(64*pageSize+100, 0x1234)
	f.writeObject("img", data)
	c := f.dial()
	o, fd := c.mustOpen("img", 0)
	if o.Size != 65*pageSize || o.ContentSize != uint64(len(data)) {
		t.Fatalf("size %d content %d, want %d %d", o.Size, o.ContentSize, 65*pageSize, len(data))
	}
	m := c.mustMap(o.VMOID, fd, 0, o.Size, false)
	if st := c.stats(o.VMOID); st.CommittedBytes != 0 {
		t.Fatalf("committed %d before any access", st.CommittedBytes)
	}
	for _, p := range []int{5, 0, 63} {
		r := readC(t, m.addr+uintptr(p*pageSize), pageSize)
		if r.Signo != 0 {
			t.Fatalf("page %d: signal %d", p, r.Signo)
		}
		equalAt(t, "page", r.Data, data[p*pageSize:(p+1)*pageSize])
	}
	// The last page: the object's 100 bytes, then zeros.
	r := readC(t, m.addr+64*pageSize, pageSize)
	want := make([]byte, pageSize)
	copy(want, data[64*pageSize:])
	equalAt(t, "last page", r.Data, want)
	st := c.stats(o.VMOID)
	if st.CommittedBytes != 4*pageSize || st.ReadFaults != 4 {
		t.Fatalf("committed %d read faults %d, want %d and 4", st.CommittedBytes, st.ReadFaults, 4*pageSize)
	}
	// A second read of a supplied page takes no fault.
	readC(t, m.addr+5*pageSize, 8)
	if st := c.stats(o.VMOID); st.ReadFaults != 4 {
		t.Fatalf("read faults %d after re-reading a present page", st.ReadFaults)
	}
}

// TestSharedBetweenClients: two clients map one VMO; a page supplied for
// one is there for the other without a fault, and a write by one is seen
// by the other.
func TestSharedBetweenClients(t *testing.T) {
	f := newFixture(t, nil)
	data := pattern(8*pageSize, 7)
	f.writeObject("shared", data)
	a, b := f.dial(), f.dial()
	oa, fda := a.mustOpen("shared", 0)
	ob, fdb := b.mustOpen("shared", 0)
	ma := a.mustMap(oa.VMOID, fda, 0, oa.Size, true)
	mb := b.mustMap(ob.VMOID, fdb, 0, ob.Size, true)
	equalAt(t, "a page 3", readC(t, ma.addr+3*pageSize, pageSize).Data, data[3*pageSize:4*pageSize])
	faults := a.stats(oa.VMOID).ReadFaults
	equalAt(t, "b page 3", readC(t, mb.addr+3*pageSize, pageSize).Data, data[3*pageSize:4*pageSize])
	if got := b.stats(ob.VMOID).ReadFaults; got != faults {
		t.Fatalf("read faults went from %d to %d: the second client's read was not shared", faults, got)
	}
	writeC(t, ma.addr+3*pageSize+16, []byte("written by a"))
	if got := readC(t, mb.addr+3*pageSize+16, 12).Data; string(got) != "written by a" {
		t.Fatalf("b reads %q", got)
	}
	if vs := f.s.vmoList(1, 0).VMOs; len(vs) != 1 || vs[0].Clients != 2 || vs[0].Mappings != 2 {
		t.Fatalf("VMO list %+v", vs)
	}
}

// TestWriteSyncAndDirtyRanges: writes make pages dirty (also a write to a
// missing page), DirtyRanges reports them, Sync writes them to the store
// and cleans them, and a write after Sync is tracked again.
func TestWriteSyncAndDirtyRanges(t *testing.T) {
	f := newFixture(t, nil)
	data := pattern(16*pageSize, 99)
	f.writeObject("rw", data)
	c := f.dial()
	o, fd := c.mustOpen("rw", 0)
	m := c.mustMap(o.VMOID, fd, 0, o.Size, true)
	readC(t, m.addr+2*pageSize, 1)                  // page 2 present, clean
	writeC(t, m.addr+2*pageSize+8, []byte("two"))   // WP fault: dirty
	writeC(t, m.addr+3*pageSize, []byte("three"))   // missing + write
	writeC(t, m.addr+9*pageSize+4090, []byte("xy")) // missing + write
	got := c.dirty(o.VMOID, 0, o.Size)
	want := []proto.Range{{Offset: 2 * pageSize, Length: 2 * pageSize}, {Offset: 9 * pageSize, Length: pageSize}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("dirty ranges %+v, want %+v", got, want)
	}
	if st := c.stats(o.VMOID); st.DirtyBytes != 3*pageSize {
		t.Fatalf("dirty bytes %d", st.DirtyBytes)
	}
	if n := c.sync(o.VMOID); n != 3*pageSize {
		t.Fatalf("sync wrote %d bytes", n)
	}
	copy(data[2*pageSize+8:], "two")
	copy(data[3*pageSize:], "three")
	copy(data[9*pageSize+4090:], "xy")
	onDisk, err := os.ReadFile(filepath.Join(f.dir, "rw"))
	if err != nil {
		t.Fatal(err)
	}
	equalAt(t, "store after sync", onDisk, data)
	if got := c.dirty(o.VMOID, 0, o.Size); len(got) != 0 {
		t.Fatalf("dirty after sync: %+v", got)
	}
	// Write-back re-protected the pages: a new write is seen.
	writeC(t, m.addr+3*pageSize+100, []byte("again"))
	if got := c.dirty(o.VMOID, 0, o.Size); len(got) != 1 || got[0].Offset != 3*pageSize {
		t.Fatalf("dirty after a write following sync: %+v", got)
	}
	if n := c.sync(o.VMOID); n != pageSize {
		t.Fatalf("second sync wrote %d bytes", n)
	}
	if n := c.sync(o.VMOID); n != 0 {
		t.Fatalf("a sync with nothing dirty wrote %d bytes", n)
	}
}

// TestWritesDuringWriteback: a writer hammering a page while write-backs
// run never loses a write: after the last Sync the store holds the last
// value written.
func TestWritesDuringWriteback(t *testing.T) {
	f := newFixture(t, nil)
	f.writeObject("hot", make([]byte, 4*pageSize))
	c := f.dial()
	o, fd := c.mustOpen("hot", 0)
	m := c.mustMap(o.VMOID, fd, 0, o.Size, true)
	th, err := faulter.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	var last [8]byte
	for i := 0; i < 200; i++ {
		for k := range last {
			last[k] = byte(i + k)
		}
		r, err := th.Write(m.addr+pageSize, last[:]).Wait(waitFor)
		if err != nil || r.Signo != 0 {
			t.Fatalf("write %d: %v %+v", i, err, r)
		}
		if i%7 == 0 {
			c.sync(o.VMOID)
		}
	}
	c.sync(o.VMOID)
	onDisk, err := os.ReadFile(filepath.Join(f.dir, "hot"))
	if err != nil {
		t.Fatal(err)
	}
	equalAt(t, "last write", onDisk[pageSize:pageSize+8], last[:])
}

// failingStore wraps a store so that reads of chosen offsets fail.
type failingStore struct {
	store.Store
	mu   sync.Mutex
	fail map[uint64]bool
}

type failingObject struct {
	store.Object
	s *failingStore
}

func (s *failingStore) Open(name string, create bool) (store.Object, error) {
	o, err := s.Store.Open(name, create)
	if err != nil {
		return nil, err
	}
	return &failingObject{o, s}, nil
}

func (o *failingObject) ReadAt(p []byte, off uint64) (int, error) {
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	for pg := off &^ (pageSize - 1); pg < off+uint64(len(p)); pg += pageSize {
		if o.s.fail[pg] {
			return 0, errors.New("injected read error")
		}
	}
	return o.Object.ReadAt(p, off)
}

// TestStoreErrorRaisesSigbus: a page the store cannot read is never
// handed out as zeros: the reader gets SIGBUS, other pages still work, and
// once the store recovers another mapping reads the page.
func TestStoreErrorRaisesSigbus(t *testing.T) {
	dir := t.TempDir()
	ds, err := store.OpenDir(dir, store.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fs := &failingStore{Store: ds, fail: map[uint64]bool{2 * pageSize: true}}
	f := newFixtureStore(t, dir, fs, nil)
	data := pattern(4*pageSize, 3)
	f.writeObject("bad", data)
	c := f.dial()
	o, fd := c.mustOpen("bad", 0)
	m := c.mustMap(o.VMOID, fd, 0, o.Size, true)
	if r := readC(t, m.addr+2*pageSize, 8); !r.Sigbus {
		t.Fatalf("read of an unreadable page: %+v, want SIGBUS", r)
	}
	if r := writeC(t, m.addr+2*pageSize, []byte("w")); !r.Sigbus {
		t.Fatalf("write of a poisoned page: %+v, want SIGBUS", r)
	}
	equalAt(t, "page 1", readC(t, m.addr+pageSize, pageSize).Data, data[pageSize:2*pageSize])
	fs.mu.Lock()
	fs.fail = nil
	fs.mu.Unlock()
	m2 := c.mustMap(o.VMOID, fd, 0, o.Size, false)
	equalAt(t, "page 2 after recovery", readC(t, m2.addr+2*pageSize, pageSize).Data, data[2*pageSize:3*pageSize])
}

// TestReadahead: a sequential scan is served in growing runs, so it takes
// far fewer faults than pages.
func TestReadahead(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Readahead = readahead.Config{MaxPages: 64} })
	const pages = 1024
	data := pattern(pages*pageSize, 5)
	f.writeObject("seq", data)
	c := f.dial()
	o, fd := c.mustOpen("seq", 0)
	m := c.mustMap(o.VMOID, fd, 0, o.Size, false)
	r, err := faulter.TouchAt(m.addr, pages*pageSize, pageSize, false, 0, waitFor)
	if err != nil || r.Signo != 0 {
		t.Fatalf("touch: %v %+v", err, r)
	}
	st := c.stats(o.VMOID)
	if st.CommittedBytes != pages*pageSize {
		t.Fatalf("committed %d after touching every page", st.CommittedBytes)
	}
	if st.ReadFaults > pages/16 {
		t.Fatalf("%d read faults for a sequential scan of %d pages; read-ahead is not working", st.ReadFaults, pages)
	}
	equalAt(t, "page 700", readC(t, m.addr+700*pageSize, pageSize).Data, data[700*pageSize:701*pageSize])
}

// TestManyThreadsOnePage: 32 C threads fault on one page at once; the page
// is fetched once and everyone reads it.
func TestManyThreadsOnePage(t *testing.T) {
	f := newFixture(t, nil)
	data := pattern(2*pageSize, 11)
	f.writeObject("one", data)
	c := f.dial()
	o, fd := c.mustOpen("one", 0)
	m := c.mustMap(o.VMOID, fd, 0, o.Size, true)
	g, err := faulter.StartGroup(32)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	rs, err := faulter.WaitAll(g.Read(m.addr+pageSize, 64), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Signo != 0 {
			t.Fatalf("thread %d: signal %d", i, r.Signo)
		}
		equalAt(t, "read", r.Data, data[pageSize:pageSize+64])
	}
	if st := c.stats(o.VMOID); st.CommittedBytes != pageSize || st.ReadFaults < 1 || st.ReadFaults > 32 {
		t.Fatalf("committed %d read faults %d, want one page and 1..32 faults", st.CommittedBytes, st.ReadFaults)
	}
}

// TestShutdownWritesBack: Shutdown writes dirty pages back, and a new
// server on the same store serves the new content.
func TestShutdownWritesBack(t *testing.T) {
	dir := t.TempDir()
	ds, err := store.OpenDir(dir, store.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureStore(t, dir, ds, nil)
	data := pattern(4*pageSize, 1)
	f.writeObject("persist", data)
	c := f.dial()
	o, fd := c.mustOpen("persist", 0)
	m := c.mustMap(o.VMOID, fd, 0, o.Size, true)
	writeC(t, m.addr+pageSize+10, []byte("survives"))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := f.s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	copy(data[pageSize+10:], "survives")
	onDisk, err := os.ReadFile(filepath.Join(dir, "persist"))
	if err != nil {
		t.Fatal(err)
	}
	equalAt(t, "store after shutdown", onDisk, data)
	// The session ended with Goodbye.
	c.c.SetDeadline(time.Now().Add(waitFor))
	if msg, _, err := c.c.Recv(); err == nil && msg.Type() != proto.TypeGoodbye {
		t.Fatalf("after shutdown the client got %v", msg.Type())
	}
}

// TestCreateObject: OpenCreate makes a new object of the asked size in a
// writable store; a read-only open refuses writable mappings.
func TestCreateObject(t *testing.T) {
	f := newFixture(t, nil)
	c := f.dial()
	o, fd, err := c.open("fresh", proto.OpenCreate, 3*pageSize+1)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != 4*pageSize || o.ContentSize != 3*pageSize+1 {
		t.Fatalf("created size %d content %d", o.Size, o.ContentSize)
	}
	m := c.mustMap(o.VMOID, fd, 0, o.Size, true)
	writeC(t, m.addr+3*pageSize, []byte("z"))
	c.sync(o.VMOID)
	onDisk, err := os.ReadFile(filepath.Join(f.dir, "fresh"))
	if err != nil || len(onDisk) != 3*pageSize+1 || onDisk[3*pageSize] != 'z' {
		t.Fatalf("store file: %d bytes, %v", len(onDisk), err)
	}
	if _, _, err := c.open("missing", 0, 0); zx.StatusOf(err) != zx.ErrNotFound {
		t.Fatalf("open of a missing object: %v", err)
	}
	ro, rofd := c.mustOpen("fresh", proto.OpenReadOnly)
	if ro.Flags&proto.OpenReadOnly == 0 {
		t.Fatalf("read-only open flags %#x", ro.Flags)
	}
	// The fd of a read-only open cannot be mapped writable.
	if _, err := unix.Mmap(rofd, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		t.Fatalf("a read-only VMO's memfd mapped writable")
	}
	_, err = c.mapVMO(ro.VMOID, fd, 0, pageSize, true)
	wantStatus(t, "writable mapping of a read-only open", err, zx.ErrAccessDenied)
}
