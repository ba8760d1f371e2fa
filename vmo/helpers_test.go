package vmo

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

const pg = zx.PageSize

// statusOf returns the status of err (ErrOk for nil).
func statusOf(err error) zx.Status { return zx.StatusOf(err) }

func wantStatus(t *testing.T, what string, err error, want zx.Status) {
	t.Helper()
	if got := statusOf(err); got != want {
		t.Fatalf("%s: status %#v (%v), want %#v", what, got, err, want)
	}
}

// newPlain creates a plain VMO and destroys it at the end of the test.
func newPlain(t *testing.T, size uint64, options uint32) *VMO {
	t.Helper()
	v, err := Create(size, options)
	if err != nil {
		t.Fatalf("Create(%#x, %#x): %v", size, options, err)
	}
	t.Cleanup(func() { v.OnZeroHandles() })
	return v
}

// mem views n bytes at addr (a mapping made by the test).
func mem(addr uintptr, n int) []byte {
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*byte)(p), n)
}

// faults reports whether touching addr (read, or write if write) faults.
func faults(addr uintptr, write bool) (faulted bool) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if recover() != nil {
			faulted = true
		}
	}()
	b := mem(addr, 1)
	if write {
		b[0] = 1
	} else {
		sink = b[0]
	}
	return false
}

var sink byte

// smapsFlags returns the VmFlags of the /proc/self/smaps entry containing
// addr. MADV_DONTFORK sets VM_DONTCOPY, shown as "dc" ("dd" is VM_DONTDUMP).
func smapsFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatalf("open smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no smaps entry for %#x", addr)
	return nil
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// mapped reports whether addr is in any Linux mapping of the process.
func mapped(addr uintptr) bool {
	// mincore fails with ENOMEM on an unmapped page.
	var vec [1]byte
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, addr&^(pg-1), pg, uintptr(unsafe.Pointer(&vec[0])))
	return errno == 0
}

// fakeSource records what a pager-backed VMO forwards to its Source. It does
// no paging at all: Read fills with a marker byte, Resize ftruncates.
type fakeSource struct {
	mu        sync.Mutex
	calls     []string
	committed uint64
	fill      byte
	mapErr    error
	opErr     error
	destroyed chan struct{}
	fdAtDest  int
}

func newFake() *fakeSource { return &fakeSource{fill: 0xab, destroyed: make(chan struct{})} }

func (f *fakeSource) record(format string, args ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeSource) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakeSource) Read(v *VMO, p []byte, off uint64) error {
	f.record("read %#x %#x", off, len(p))
	for i := range p {
		p[i] = f.fill
	}
	return nil
}

func (f *fakeSource) Write(v *VMO, p []byte, off uint64) error {
	zero := true
	for _, b := range p {
		zero = zero && b == 0
	}
	f.record("write %#x %#x zero=%v", off, len(p), zero)
	return nil
}

func (f *fakeSource) OpRange(v *VMO, op uint32, off, length uint64) error {
	f.record("op %d %#x %#x", op, off, length)
	return f.opErr
}

func (f *fakeSource) Resize(v *VMO, n uint64) error {
	f.record("resize %#x", n)
	if err := unix.Ftruncate(v.Fd(), int64(n)); err != nil {
		return err
	}
	v.StoreSize(n)
	return nil
}

func (f *fakeSource) CommittedBytes(v *VMO) uint64 { return f.committed }

func (f *fakeSource) Mapped(v *VMO, m *Mapping) error {
	f.record("mapped %#x %#x off=%#x", m.Addr, m.Len, m.Offset)
	if f.mapErr != nil {
		return f.mapErr
	}
	m.Priv = f
	return nil
}

func (f *fakeSource) Unmapped(v *VMO, m *Mapping) {
	f.record("unmapped %#x %#x off=%#x", m.Addr, m.Len, m.Offset)
}

func (f *fakeSource) Destroyed(v *VMO) {
	f.record("destroyed")
	f.fdAtDest = v.Fd()
	close(f.destroyed)
}

var errFake = errors.New("fake source failure")
