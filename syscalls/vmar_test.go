package syscalls

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"

	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

const vmoRW = zx.VMPermRead | zx.VMPermWrite

// vmoMem views n bytes at addr (a mapping made by the test).
func vmoMem(addr uintptr, n int) []byte {
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*byte)(p), n)
}

var vmoSink byte

// vmoFaults reports whether touching addr faults.
func vmoFaults(addr uintptr, write bool) (faulted bool) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if recover() != nil {
			faulted = true
		}
	}()
	if write {
		vmoMem(addr, 1)[0] = 1
	} else {
		vmoSink = vmoMem(addr, 1)[0]
	}
	return false
}

// vmoMap maps through the syscall and unmaps at the end of the test.
func vmoMap(t *testing.T, options uint32, vmoH zx.Handle, vmoOffset, length uint64) uintptr {
	t.Helper()
	addr, st := VmarMap(VmarRootSelf(), options, 0, vmoH, vmoOffset, length)
	if st != zx.ErrOk {
		t.Fatalf("VmarMap: %v", st)
	}
	t.Cleanup(func() { VmarUnmap(VmarRootSelf(), addr, length) })
	return addr
}

// vmoSmapsFlags returns the VmFlags of the smaps entry holding addr
// (MADV_DONTFORK shows as "dc").
func vmoSmapsFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(sc.Text(), "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
		} else if in && strings.HasPrefix(sc.Text(), "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(sc.Text(), "VmFlags:"))
		}
	}
	t.Fatalf("no smaps entry for %#x", addr)
	return nil
}

func TestVmoVmarRootSelf(t *testing.T) {
	h := VmarRootSelf()
	if h2 := VmarRootSelf(); h2 != h {
		t.Fatalf("root VMAR handle changed: %#x then %#x", h, h2)
	}
	info, st := HandleInfoBasic(h)
	if st != zx.ErrOk || info.Type != zx.ObjTypeVMAR || info.Rights != 0x20801F || info.Koid != vmo.Root().Koid() {
		t.Fatalf("root VMAR handle: %v %+v", st, info)
	}
	if r, _, st := VmarObject(h, zx.RightNone); st != zx.ErrOk || r != vmo.Root() {
		t.Fatalf("VmarObject: %v", st)
	}
}

func TestVmoVmarMapStatus(t *testing.T) {
	h := vmoNew(t, 2*vmoPage, 0)
	root := VmarRootSelf()
	noMap := vmoDup(t, h, zx.DefaultVMORights&^zx.RightMap)
	ro := vmoDup(t, h, zx.DefaultVMORights&^zx.RightWrite)
	roVmar := vmoDup(t, root, RootVMARRights&^zx.RightWrite)
	cases := []struct {
		name    string
		vmar    zx.Handle
		options uint32
		vmarOff uint64
		vmo     zx.Handle
		vmoOff  uint64
		length  uint64
		want    zx.Status
	}{
		{"bad vmar", zx.HandleInvalid, zx.VMPermRead, 0, h, 0, vmoPage, zx.ErrBadHandle},
		{"vmo as vmar", h, zx.VMPermRead, 0, h, 0, vmoPage, zx.ErrWrongType},
		{"bad vmo", root, zx.VMPermRead, 0, zx.HandleInvalid, 0, vmoPage, zx.ErrBadHandle},
		{"vmar as vmo", root, zx.VMPermRead, 0, root, 0, vmoPage, zx.ErrWrongType},
		{"no MAP right", root, zx.VMPermRead, 0, noMap, 0, vmoPage, zx.ErrAccessDenied},
		{"no MAP beats bad perms", root, zx.VMPermWrite, 0, noMap, 0, vmoPage, zx.ErrAccessDenied},
		{"write without read", root, zx.VMPermWrite, 0, h, 0, vmoPage, zx.ErrInvalidArgs},
		{"map range + overwrite", root, zx.VMPermRead | zx.VMMapRange | zx.VMSpecificOverwrite, 0, h, 0, vmoPage, zx.ErrInvalidArgs},
		{"caller's CAN_MAP", root, zx.VMPermRead | zx.VMCanMapRead, 0, h, 0, vmoPage, zx.ErrInvalidArgs},
		{"write on a read-only vmo handle", root, vmoRW, 0, ro, 0, vmoPage, zx.ErrAccessDenied},
		{"write on a read-only vmar handle", roVmar, vmoRW, 0, h, 0, vmoPage, zx.ErrAccessDenied},
		{"execute without EXECUTE", root, zx.VMPermRead | zx.VMPermExecute, 0, h, 0, vmoPage, zx.ErrAccessDenied},
		{"zero length", root, zx.VMPermRead, 0, h, 0, 0, zx.ErrInvalidArgs},
		{"unaligned vmo offset", root, zx.VMPermRead, 0, h, 5, vmoPage, zx.ErrInvalidArgs},
		{"offset without specific", root, zx.VMPermRead, vmoPage, h, 0, vmoPage, zx.ErrInvalidArgs},
		{"vmo offset overflow", root, zx.VMPermRead, 0, h, math.MaxUint64 &^ (vmoPage - 1), vmoPage, zx.ErrOutOfRange},
		{"specific outside the vmar", root, zx.VMPermRead | zx.VMSpecific, vmo.RootSize, h, 0, vmoPage, zx.ErrInvalidArgs},
	}
	for _, c := range cases {
		addr, st := VmarMap(c.vmar, c.options, c.vmarOff, c.vmo, c.vmoOff, c.length)
		vmoWant(t, c.name, st, c.want)
		if addr != 0 {
			t.Fatalf("%s: address %#x on failure", c.name, addr)
		}
	}
	if n := vmoInfo(t, h).NumMappings; n != 0 {
		t.Fatalf("%d mappings after failed maps", n)
	}
	// A read-only handle maps read-only.
	a := vmoMap(t, zx.VMPermRead, ro, 0, vmoPage)
	if vmoFaults(a, false) || !vmoFaults(a, true) {
		t.Fatal("read-only mapping: wrong faults")
	}
}

func TestVmoVmarMapReadWrite(t *testing.T) {
	h := vmoNew(t, 4*vmoPage, 0)
	addr := vmoMap(t, vmoRW, h, vmoPage, 2*vmoPage) // VMO [pg, 3pg)
	copy(vmoMem(addr+vmoPage+3, 6), "mapped")
	got := make([]byte, 6)
	vmoWant(t, "read", VmoRead(h, got, 2*vmoPage+3), zx.ErrOk)
	if string(got) != "mapped" {
		t.Fatalf("VmoRead after a write through the mapping: %q", got)
	}
	vmoWant(t, "write", VmoWrite(h, []byte("direct"), vmoPage), zx.ErrOk)
	if s := string(vmoMem(addr, 6)); s != "direct" {
		t.Fatalf("mapping after VmoWrite: %q", s)
	}
	if f := vmoSmapsFlags(t, addr); !strings.Contains(strings.Join(f, " "), "dc") {
		t.Fatalf("mapping without MADV_DONTFORK: %v", f)
	}
	if n := vmoInfo(t, h).NumMappings; n != 1 {
		t.Fatalf("num_mappings %d", n)
	}
	// Split by a partial unmap; one unmap then removes both pieces.
	vmoWant(t, "split", VmarUnmap(VmarRootSelf(), addr, vmoPage), zx.ErrOk)
	if n := vmoInfo(t, h).NumMappings; n != 1 {
		t.Fatalf("num_mappings %d after unmapping the first page", n)
	}
	if !vmoFaults(addr, false) || string(vmoMem(addr+vmoPage+3, 6)) != "mapped" {
		t.Fatal("split mapping: wrong contents or faults")
	}
	vmoWant(t, "unaligned unmap", VmarUnmap(VmarRootSelf(), addr+1, vmoPage), zx.ErrInvalidArgs)
	vmoWant(t, "empty unmap", VmarUnmap(VmarRootSelf(), addr, 0), zx.ErrInvalidArgs)
	vmoWant(t, "unmap bad handle", VmarUnmap(zx.HandleInvalid, addr, vmoPage), zx.ErrBadHandle)
	vmoWant(t, "unmap wrong type", VmarUnmap(h, addr, vmoPage), zx.ErrWrongType)
	vmoWant(t, "unmap rest", VmarUnmap(VmarRootSelf(), addr, 2*vmoPage), zx.ErrOk)
	vmoWant(t, "unmap nothing", VmarUnmap(VmarRootSelf(), addr, 2*vmoPage), zx.ErrOk)
	if n := vmoInfo(t, h).NumMappings; n != 0 {
		t.Fatalf("num_mappings %d after unmap", n)
	}
}

func TestVmoVmarMappingOutlivesHandle(t *testing.T) {
	h, st := VmoCreate(2*vmoPage, 0)
	if st != zx.ErrOk {
		t.Fatal(st)
	}
	v, _, _ := VmoObject(h, zx.RightNone)
	addr, st := VmarMap(VmarRootSelf(), vmoRW, 0, h, 0, 2*vmoPage)
	if st != zx.ErrOk {
		t.Fatal(st)
	}
	vmoWant(t, "close", HandleClose(h), zx.ErrOk)
	if v.Destroyed() {
		t.Fatal("VMO destroyed while mapped")
	}
	copy(vmoMem(addr, 5), "alive")
	if string(vmoMem(addr, 5)) != "alive" {
		t.Fatal("mapping of a VMO without handles lost data")
	}
	vmoWant(t, "unmap", VmarUnmap(VmarRootSelf(), addr, 2*vmoPage), zx.ErrOk)
	if !v.Destroyed() {
		t.Fatal("VMO not destroyed after its last mapping and handle")
	}
}

func TestVmoVmarOpRange(t *testing.T) {
	h := vmoNew(t, 4*vmoPage, 0)
	root := VmarRootSelf()
	addr := vmoMap(t, vmoRW, h, 0, 4*vmoPage)
	vmoWant(t, "commit", VmarOpRange(root, vmo.VMAROpCommit, addr, 2*vmoPage, nil), zx.ErrOk)
	if c := vmoInfo(t, h).CommittedBytes; c != 2*vmoPage {
		t.Fatalf("committed %d after VMAR commit", c)
	}
	vmoWant(t, "decommit", VmarOpRange(root, vmo.VMAROpDecommit, addr, 4*vmoPage, nil), zx.ErrOk)
	if c := vmoInfo(t, h).CommittedBytes; c != 0 {
		t.Fatalf("committed %d after VMAR decommit", c)
	}
	cases := []struct {
		name string
		h    zx.Handle
		op   uint32
		addr uintptr
		n    uint64
		buf  []byte
		want zx.Status
	}{
		{"bad handle", zx.HandleInvalid, vmo.VMAROpCommit, addr, vmoPage, nil, zx.ErrBadHandle},
		{"vmo handle", h, vmo.VMAROpCommit, addr, vmoPage, nil, zx.ErrWrongType},
		{"unknown op", root, 4, addr, vmoPage, nil, zx.ErrInvalidArgs},
		{"unknown op beats buffer", root, 99, addr, vmoPage, []byte{1}, zx.ErrInvalidArgs},
		{"buffer", root, vmo.VMAROpCommit, addr, vmoPage, []byte{1}, zx.ErrInvalidArgs},
		{"empty", root, vmo.VMAROpCommit, addr, 0, nil, zx.ErrInvalidArgs},
		{"unaligned", root, vmo.VMAROpCommit, addr + 1, vmoPage, nil, zx.ErrInvalidArgs},
		{"outside the vmar", root, vmo.VMAROpCommit, vmo.RootBase - vmoPage, vmoPage, nil, zx.ErrOutOfRange},
		{"hole", root, vmo.VMAROpDontNeed, addr, 5 * vmoPage, nil, zx.ErrBadState},
		{"dont need", root, vmo.VMAROpDontNeed, addr, 4 * vmoPage, nil, zx.ErrOk},
		{"always need", root, vmo.VMAROpAlwaysNeed, addr, 4 * vmoPage, nil, zx.ErrOk},
		{"prefetch", root, vmo.VMAROpPrefetch, addr, 4 * vmoPage, nil, zx.ErrOk},
		{"map range", root, vmo.VMAROpMapRange, addr, 4 * vmoPage, nil, zx.ErrOk},
		{"zero", root, vmo.VMAROpZero, addr, 4 * vmoPage, nil, zx.ErrOk},
	}
	for _, c := range cases {
		vmoWant(t, c.name, VmarOpRange(c.h, c.op, c.addr, c.n, c.buf), c.want)
	}
	// A mapping made through a read-only VMO handle cannot be committed.
	ro := vmoDup(t, h, zx.DefaultVMORights&^zx.RightWrite)
	b := vmoMap(t, zx.VMPermRead, ro, 0, vmoPage)
	vmoWant(t, "commit read-only mapping", VmarOpRange(root, vmo.VMAROpCommit, b, vmoPage, nil), zx.ErrAccessDenied)
	vmoWant(t, "prefetch read-only mapping", VmarOpRange(root, vmo.VMAROpPrefetch, b, vmoPage, nil), zx.ErrOk)
	// A mapping made read-only through a handle that allowed writing can still be committed (Zircon: max permissions).
	c := vmoMap(t, zx.VMPermRead, h, 0, vmoPage)
	vmoWant(t, "commit read mapping of writable handle", VmarOpRange(root, vmo.VMAROpCommit, c, vmoPage, nil), zx.ErrOk)
}
