package syscalls

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/internal/pagerdtest"
	"github.com/pagerd/pagerd/zx"
)

// The zx_* calls on VMOs of a real pagerd server (in this process, serving
// from goroutines; every fault on a pagerd mapping is taken by a C thread or
// inside process_vm_readv/writev or madvise, never by Go code).

const (
	pdWait   = 20 * time.Second
	pageSize = zx.PageSize
)

// pdPattern is the content of test objects: every 8 bytes hold their
// offset xored with seed.
func pdPattern(n int, seed uint64) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(i)^seed)
	}
	return b
}

func pdOpen(t *testing.T, f *pagerdtest.Server, name string, flags uint32, size uint64) zx.Handle {
	t.Helper()
	h, s := PagerdVmoOpen(f.Sock, name, flags, size)
	if s != zx.ErrOk {
		t.Fatalf("PagerdVmoOpen(%q, %#x, %d): %v", name, flags, size, s)
	}
	return h
}

func pdRead(t *testing.T, addr uintptr, n int) faulter.Result {
	t.Helper()
	r, err := faulter.ReadAt(addr, n, pdWait)
	if err != nil {
		t.Fatalf("C read at %#x: %v", addr, err)
	}
	return r
}

func pdWrite(t *testing.T, addr uintptr, data []byte) faulter.Result {
	t.Helper()
	r, err := faulter.WriteAt(addr, data, pdWait)
	if err != nil {
		t.Fatalf("C write at %#x: %v", addr, err)
	}
	return r
}

// TestPagerdVmoReadWrite: zx_vmo_read and zx_vmo_write on a pagerd VMO give
// the store's bytes and write into it; a sync puts them in the store; the
// VMO's size and info are a pager VMO's.
func TestPagerdVmoReadWrite(t *testing.T) {
	data := pdPattern(10*pageSize+123, 7)
	f := pagerdtest.Start(t, map[string][]byte{"data": data})
	h := pdOpen(t, f, "data", 0, 0)
	defer HandleClose(h)

	if size, s := VmoGetSize(h); s != zx.ErrOk || size != 11*pageSize {
		t.Fatalf("size %#x %v, want %#x", size, s, 11*pageSize)
	}
	got := make([]byte, 3*pageSize+17)
	if s := VmoRead(h, got, 2*pageSize+5); s != zx.ErrOk {
		t.Fatalf("read: %v", s)
	}
	if !bytes.Equal(got, data[2*pageSize+5:5*pageSize+22]) {
		t.Fatal("read: bytes differ from the store's")
	}
	// Past the object's end, inside the last page: zeros.
	tail := make([]byte, 8)
	if s := VmoRead(h, tail, uint64(len(data))); s != zx.ErrOk || !bytes.Equal(tail, make([]byte, 8)) {
		t.Fatalf("read past the content: %v %x", s, tail)
	}
	if s := VmoRead(h, got, 10*pageSize); s != zx.ErrOutOfRange {
		t.Fatalf("read beyond the size: %v, want OUT_OF_RANGE", s)
	}
	msg := []byte("written through zx_vmo_write")
	if s := VmoWrite(h, msg, 7*pageSize-4); s != zx.ErrOk {
		t.Fatalf("write: %v", s)
	}
	back := make([]byte, len(msg))
	if s := VmoRead(h, back, 7*pageSize-4); s != zx.ErrOk || !bytes.Equal(back, msg) {
		t.Fatalf("read back: %v %q", s, back)
	}
	info := vmoInfo(t, h)
	if info.Flags&zx.InfoVMOPagerBacked == 0 || info.SizeBytes != 11*pageSize {
		t.Fatalf("info flags %#x size %#x", info.Flags, info.SizeBytes)
	}
	if info.CommittedBytes == 0 {
		t.Fatal("info: no committed bytes after reads")
	}
	n, s := PagerdVmoSync(h)
	if s != zx.ErrOk || n == 0 {
		t.Fatalf("sync: %d %v", n, s)
	}
	onDisk, err := os.ReadFile(filepath.Join(f.Dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), data...)
	copy(want[7*pageSize-4:], msg)
	if !bytes.Equal(onDisk, want) {
		t.Fatal("the store after sync differs from what was written")
	}
	// COMMIT fetches every page; ZERO zeros a page.
	if s := VmoOpRange(h, zx.VMOOpCommit, 0, 11*pageSize, nil); s != zx.ErrOk {
		t.Fatalf("commit: %v", s)
	}
	if s := VmoOpRange(h, zx.VMOOpZero, pageSize, pageSize, nil); s != zx.ErrOk {
		t.Fatalf("zero: %v", s)
	}
	page := make([]byte, pageSize)
	if s := VmoRead(h, page, pageSize); s != zx.ErrOk || !bytes.Equal(page, make([]byte, pageSize)) {
		t.Fatalf("read of the zeroed page: %v", s)
	}
	if s := VmoOpRange(h, zx.VMOOpDecommit, 0, pageSize, nil); s != zx.ErrNotSupported {
		t.Fatalf("decommit: %v, want NOT_SUPPORTED", s)
	}
	if s := VmoSetSize(h, 20*pageSize); s != zx.ErrUnavailable {
		t.Fatalf("set_size: %v, want UNAVAILABLE (not resizable)", s)
	}
}

// TestPagerdVmoMap: zx_vmar_map of a pagerd VMO; C threads read the store's
// bytes and write through it; a partial zx_vmar_unmap splits the mapping
// and both pieces keep being served while the hole faults (SIGSEGV) and can
// be mapped again.
func TestPagerdVmoMap(t *testing.T) {
	data := pdPattern(8*pageSize, 9)
	f := pagerdtest.Start(t, map[string][]byte{"img": data})
	h := pdOpen(t, f, "img", 0, 0)
	defer HandleClose(h)
	root := VmarRootSelf()
	addr, s := VmarMap(root, zx.VMPermRead|zx.VMPermWrite, 0, h, 0, 8*pageSize)
	if s != zx.ErrOk {
		t.Fatalf("map: %v", s)
	}
	defer VmarUnmap(root, addr, 8*pageSize)
	for _, p := range []int{3, 0, 7} {
		r := pdRead(t, addr+uintptr(p*pageSize), pageSize)
		if r.Signo != 0 || !bytes.Equal(r.Data, data[p*pageSize:(p+1)*pageSize]) {
			t.Fatalf("page %d: signal %d, bytes equal %v", p, r.Signo, bytes.Equal(r.Data, data[p*pageSize:(p+1)*pageSize]))
		}
	}
	if r := pdWrite(t, addr+5*pageSize+8, []byte("mapped write")); r.Signo != 0 {
		t.Fatalf("write: signal %d", r.Signo)
	}
	got := make([]byte, 12)
	if s := VmoRead(h, got, 5*pageSize+8); s != zx.ErrOk || string(got) != "mapped write" {
		t.Fatalf("zx_vmo_read of the mapped write: %v %q", s, got)
	}

	// Split: unmap pages [2, 4).
	if s := VmarUnmap(root, addr+2*pageSize, 2*pageSize); s != zx.ErrOk {
		t.Fatalf("partial unmap: %v", s)
	}
	if r := pdRead(t, addr+2*pageSize, 8); r.Signo != int32(11) {
		t.Fatalf("read in the hole: signal %d, want SIGSEGV", r.Signo)
	}
	for _, p := range []int{1, 4, 6} {
		r := pdRead(t, addr+uintptr(p*pageSize), pageSize)
		want := data[p*pageSize : (p+1)*pageSize]
		if r.Signo != 0 || !bytes.Equal(r.Data, want) {
			t.Fatalf("page %d after the split: signal %d", p, r.Signo)
		}
	}
	if r := pdWrite(t, addr+6*pageSize, []byte("piece")); r.Signo != 0 {
		t.Fatalf("write to a piece: signal %d", r.Signo)
	}
	// The hole can be mapped again (at the same place, other offsets).
	a2, s := VmarMap(root, zx.VMPermRead|zx.VMSpecific, uint64(addr+2*pageSize-root0(t)), h, 6*pageSize, 2*pageSize)
	if s != zx.ErrOk || a2 != addr+2*pageSize {
		t.Fatalf("map into the hole: %#x %v", a2, s)
	}
	if r := pdRead(t, a2, 5); r.Signo != 0 || string(r.Data) != "piece" {
		t.Fatalf("read through the new mapping: signal %d %q", r.Signo, r.Data)
	}
	n, s := PagerdVmoSync(h)
	if s != zx.ErrOk || n != 2*pageSize {
		t.Fatalf("sync: %d %v, want 2 pages (5 and 6)", n, s)
	}
}

// root0 is the base of the root VMAR.
func root0(t *testing.T) uintptr {
	r, _, s := VmarObject(VmarRootSelf(), 0)
	if s != zx.ErrOk {
		t.Fatal(s)
	}
	return r.Base()
}

// TestPagerdVmoReadOnly: a read-only pagerd VMO's handle has no WRITE
// right: writes and writable mappings are ACCESS_DENIED, reads work.
func TestPagerdVmoReadOnly(t *testing.T) {
	data := pdPattern(4*pageSize, 3)
	f := pagerdtest.Start(t, map[string][]byte{"ro": data})
	h := pdOpen(t, f, "ro", PagerdVmoReadOnly, 0)
	defer HandleClose(h)
	info, s := HandleInfoBasic(h)
	if s != zx.ErrOk || info.Rights.Has(zx.RightWrite) || !info.Rights.Has(zx.RightRead|zx.RightMap) {
		t.Fatalf("rights %#x %v", info.Rights, s)
	}
	if s := VmoWrite(h, []byte("x"), 0); s != zx.ErrAccessDenied {
		t.Fatalf("write: %v", s)
	}
	root := VmarRootSelf()
	if _, s := VmarMap(root, zx.VMPermRead|zx.VMPermWrite, 0, h, 0, pageSize); s != zx.ErrAccessDenied {
		t.Fatalf("writable map: %v", s)
	}
	addr, s := VmarMap(root, zx.VMPermRead, 0, h, 0, 4*pageSize)
	if s != zx.ErrOk {
		t.Fatalf("map: %v", s)
	}
	defer VmarUnmap(root, addr, 4*pageSize)
	if r := pdRead(t, addr+2*pageSize, pageSize); r.Signo != 0 || !bytes.Equal(r.Data, data[2*pageSize:3*pageSize]) {
		t.Fatalf("read: signal %d", r.Signo)
	}
	if r := pdWrite(t, addr, []byte("x")); r.Signo != 11 {
		t.Fatalf("write to a read-only mapping: signal %d, want SIGSEGV", r.Signo)
	}
	got := make([]byte, pageSize)
	if s := VmoRead(h, got, 3*pageSize); s != zx.ErrOk || !bytes.Equal(got, data[3*pageSize:]) {
		t.Fatalf("zx_vmo_read: %v", s)
	}
}

// TestPagerdVmoErrors: bad arguments and unreachable or unknown VMOs get
// their statuses.
func TestPagerdVmoErrors(t *testing.T) {
	f := pagerdtest.Start(t, map[string][]byte{"x": pdPattern(pageSize, 1)})
	cases := []struct {
		what   string
		sock   string
		name   string
		flags  uint32
		size   uint64
		status zx.Status
	}{
		{"unknown flags", f.Sock, "x", 0x100, 0, zx.ErrInvalidArgs},
		{"a size without create", f.Sock, "x", 0, pageSize, zx.ErrInvalidArgs},
		{"no such socket", filepath.Join(t.TempDir(), "none.sock"), "x", 0, 0, zx.ErrUnavailable},
		{"no such VMO", f.Sock, "missing", 0, 0, zx.ErrNotFound},
		{"a bad name", f.Sock, "a/b", 0, 0, zx.ErrInvalidArgs},
	}
	for _, c := range cases {
		if h, s := PagerdVmoOpen(c.sock, c.name, c.flags, c.size); s != c.status || h != zx.HandleInvalid {
			t.Errorf("%s: handle %v status %v, want %v", c.what, h, s, c.status)
		}
	}
	// Create makes the object, with zeros.
	h := pdOpen(t, f, "new", PagerdVmoCreate, 3*pageSize)
	defer HandleClose(h)
	got := make([]byte, 16)
	if s := VmoRead(h, got, 2*pageSize); s != zx.ErrOk || !bytes.Equal(got, make([]byte, 16)) {
		t.Fatalf("read of a created VMO: %v %x", s, got)
	}
	if _, s := PagerdVmoSync(zx.Handle(12345)); s != zx.ErrBadHandle {
		t.Errorf("sync of a bad handle: %v", s)
	}
	plain, _ := VmoCreate(pageSize, 0)
	defer HandleClose(plain)
	if _, s := PagerdVmoSync(plain); s != zx.ErrNotSupported {
		t.Errorf("sync of a plain VMO: %v", s)
	}
	port, _ := PortCreate(0)
	defer HandleClose(port)
	if _, s := PagerdVmoSync(port); s != zx.ErrWrongType {
		t.Errorf("sync of a port: %v", s)
	}
}

// TestPagerdVmoServerGone: once pagerd is gone, a page it had not supplied
// is never a zero page: zx_vmo_read fails and a mapped access raises SIGBUS;
// supplied pages stay readable.
func TestPagerdVmoServerGone(t *testing.T) {
	data := pdPattern(4*pageSize, 5)
	f := pagerdtest.Start(t, map[string][]byte{"d": data})
	h := pdOpen(t, f, "d", 0, 0)
	defer HandleClose(h)
	root := VmarRootSelf()
	addr, s := VmarMap(root, zx.VMPermRead, 0, h, 0, 4*pageSize)
	if s != zx.ErrOk {
		t.Fatalf("map: %v", s)
	}
	defer VmarUnmap(root, addr, 4*pageSize)
	if r := pdRead(t, addr, pageSize); r.Signo != 0 || !bytes.Equal(r.Data, data[:pageSize]) {
		t.Fatalf("read before: signal %d", r.Signo)
	}
	// The client's I/O mapping exists before pagerd goes.
	if s := VmoRead(h, make([]byte, 8), 0); s != zx.ErrOk {
		t.Fatalf("zx_vmo_read before: %v", s)
	}
	f.Stop(t)
	// The guard notices the closed socket asynchronously: wait for the
	// first failure.
	buf := make([]byte, 8)
	deadline := time.Now().Add(pdWait)
	for {
		s := VmoRead(h, buf, 2*pageSize)
		if s == zx.ErrIO || s == zx.ErrPeerClosed {
			break
		}
		if s == zx.ErrOk && !bytes.Equal(buf, data[2*pageSize:2*pageSize+8]) {
			t.Fatalf("read after pagerd died: bytes %x, not the store's", buf)
		}
		if time.Now().After(deadline) {
			t.Fatalf("zx_vmo_read kept returning %v after pagerd died", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := pdRead(t, addr+3*pageSize, 8); r.Signo != 7 {
		t.Fatalf("mapped read of an unsupplied page after pagerd died: signal %d, want SIGBUS", r.Signo)
	}
	if r := pdRead(t, addr, pageSize); r.Signo != 0 || !bytes.Equal(r.Data, data[:pageSize]) {
		t.Fatalf("a supplied page after pagerd died: signal %d", r.Signo)
	}
}
