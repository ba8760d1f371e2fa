package vmo

import (
	"bytes"
	"math"
	"testing"
	"unsafe"

	"github.com/pagerd/pagerd/zx"
)

const rw = zx.VMPermRead | zx.VMPermWrite

// mapT maps v and unmaps it at the end of the test.
func mapT(t *testing.T, options uint32, vmarOffset uint64, v *VMO, vmoOffset, length uint64) uintptr {
	t.Helper()
	addr, err := Root().Map(options, vmarOffset, v, vmoOffset, length)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	t.Cleanup(func() { _ = Root().Unmap(addr, length) })
	return addr
}

// freeOffset finds a free, aligned range of size bytes for ZX_VM_SPECIFIC.
func freeOffset(t *testing.T, size uint64) uint64 {
	t.Helper()
	v := newPlain(t, size, 0)
	addr, err := Root().Map(zx.VMPermRead|20<<vmAlignBase, 0, v, 0, size) // 1 MiB aligned
	if err != nil {
		t.Fatal(err)
	}
	if err := Root().Unmap(addr, size); err != nil {
		t.Fatal(err)
	}
	return uint64(addr - RootBase)
}

func TestMapWriteVisibleBothWays(t *testing.T) {
	v := newPlain(t, 3*pg, 0)
	addr := mapT(t, rw, 0, v, pg, 2*pg) // shows VMO [pg, 3pg)
	if addr%pg != 0 || addr < RootBase || uint64(addr-RootBase)+2*pg > RootSize {
		t.Fatalf("mapping at %#x", addr)
	}
	copy(mem(addr+10, 5), "hello")
	got := make([]byte, 5)
	if err := v.Read(got, pg+10); err != nil || string(got) != "hello" {
		t.Fatalf("write through mapping, read via VMO: %v %q", err, got)
	}
	if err := v.Write([]byte("world"), 2*pg+1); err != nil {
		t.Fatal(err)
	}
	if s := string(mem(addr+pg+1, 5)); s != "world" {
		t.Fatalf("write via VMO, read through mapping: %q", s)
	}
	m := Root().Lookup(addr + pg + 1)
	if m == nil || m.Addr != addr || m.Len != 2*pg || m.Offset != pg || m.Perms != rw || m.VMO != v || m.CanMap() != rw {
		t.Fatalf("lookup: %+v", m)
	}
	if Root().Lookup(addr+2*pg) != nil || Root().Lookup(addr-1) != nil {
		t.Fatal("lookup outside the mapping found one")
	}
	if v.NumMappings() != 1 || v.Info(0).NumMappings != 1 {
		t.Fatalf("num mappings %d", v.NumMappings())
	}
	if f := smapsFlags(t, addr); !hasFlag(f, "dc") || !hasFlag(f, "sh") {
		t.Fatalf("mapping VmFlags %v: want dc (MADV_DONTFORK) and sh", f)
	}
}

func TestMapPermissions(t *testing.T) {
	v := newPlain(t, 2*pg, 0)
	ro := mapT(t, zx.VMPermRead, 0, v, 0, pg)
	if faults(ro, false) {
		t.Fatal("read of a readable mapping faulted")
	}
	if !faults(ro, true) {
		t.Fatal("write to a read-only mapping did not fault")
	}
	none := mapT(t, 0, 0, v, 0, pg)
	if !faults(none, false) {
		t.Fatal("read of a no-permission mapping did not fault")
	}
	// Beyond the VMO's size the mapping exists but faults (SIGBUS), as in Zircon.
	beyond := mapT(t, rw, 0, v, 0, 4*pg)
	if faults(beyond+pg, true) || !faults(beyond+2*pg, false) {
		t.Fatal("mapping beyond the VMO size: wrong faults")
	}
	if f := smapsFlags(t, beyond+3*pg); !hasFlag(f, "dc") {
		t.Fatalf("beyond-size part lacks MADV_DONTFORK: %v", f)
	}
}

func TestMapShrinkFaults(t *testing.T) {
	v := newPlain(t, 4*pg, zx.VMOResizable)
	addr := mapT(t, rw, 0, v, 0, 4*pg)
	mem(addr+3*pg, 1)[0] = 7
	if err := v.SetSize(pg); err != nil {
		t.Fatal(err)
	}
	if faults(addr, true) || !faults(addr+3*pg, false) {
		t.Fatal("access after shrink: wrong faults")
	}
	if err := v.SetSize(4 * pg); err != nil {
		t.Fatal(err)
	}
	if faults(addr+3*pg, false) || mem(addr+3*pg, 1)[0] != 0 {
		t.Fatal("grown page is not readable zero")
	}
}

func TestMapStatuses(t *testing.T) {
	v := newPlain(t, 2*pg, 0)
	resizable := newPlain(t, pg, zx.VMOResizable)
	discardable := newPlain(t, pg, zx.VMODiscardable)
	cases := []struct {
		name      string
		options   uint32
		vmarOff   uint64
		v         *VMO
		vmoOff, n uint64
		want      zx.Status
	}{
		{"write without read", zx.VMPermWrite, 0, v, 0, pg, zx.ErrInvalidArgs},
		{"exec without read", zx.VMPermExecute, 0, v, 0, pg, zx.ErrInvalidArgs},
		{"map range + overwrite", zx.VMPermRead | zx.VMMapRange | zx.VMSpecificOverwrite, 0, v, 0, pg, zx.ErrInvalidArgs},
		{"unknown option", zx.VMPermRead | 1<<15, 0, v, 0, pg, zx.ErrInvalidArgs},
		{"alignment too small", zx.VMPermRead | 9<<vmAlignBase, 0, v, 0, pg, zx.ErrInvalidArgs},
		{"alignment too big", zx.VMPermRead | 33<<vmAlignBase, 0, v, 0, pg, zx.ErrInvalidArgs},
		{"require non resizable", zx.VMPermRead | zx.VMRequireNonResizable, 0, resizable, 0, pg, zx.ErrNotSupported},
		{"discardable without allow faults", zx.VMPermRead, 0, discardable, 0, pg, zx.ErrNotSupported},
		{"compact", zx.VMPermRead | zx.VMCompact, 0, v, 0, pg, zx.ErrInvalidArgs},
		{"can map specific", zx.VMPermRead | zx.VMCanMapSpecific, 0, v, 0, pg, zx.ErrInvalidArgs},
		{"unaligned vmo offset", zx.VMPermRead, 0, v, 1, pg, zx.ErrInvalidArgs},
		{"vmo offset overflow", zx.VMPermRead, 0, v, math.MaxUint64 &^ (pg - 1), 2 * pg, zx.ErrOutOfRange},
		{"length round-up overflow", zx.VMPermRead, 0, v, 0, math.MaxUint64, zx.ErrOutOfRange},
		{"zero length", zx.VMPermRead, 0, v, 0, 0, zx.ErrInvalidArgs},
		{"offset without specific", zx.VMPermRead, pg, v, 0, pg, zx.ErrInvalidArgs},
		{"specific and upper limit", zx.VMPermRead | zx.VMSpecific | zx.VMOffsetIsUpperLimit, pg, v, 0, pg, zx.ErrInvalidArgs},
		{"unaligned specific", zx.VMPermRead | zx.VMSpecific, 1, v, 0, pg, zx.ErrInvalidArgs},
		{"specific outside", zx.VMPermRead | zx.VMSpecific, RootSize, v, 0, pg, zx.ErrInvalidArgs},
		{"specific overflow", zx.VMPermRead | zx.VMSpecific, math.MaxUint64 &^ (pg - 1), v, 0, pg, zx.ErrInvalidArgs},
		{"nil vmo", zx.VMPermRead, 0, nil, 0, pg, zx.ErrInvalidArgs},
		{"beyond allowed perms", rw | zx.VMCanMapRead, 0, v, 0, pg, zx.ErrAccessDenied},
	}
	for _, c := range cases {
		addr, err := Root().Map(c.options, c.vmarOff, c.v, c.vmoOff, c.n)
		wantStatus(t, c.name, err, c.want)
		if addr != 0 {
			t.Fatalf("%s: address %#x on failure", c.name, addr)
		}
	}
	if v.NumMappings() != 0 || len(Root().Mappings(v)) != 0 {
		t.Fatal("failed maps left mappings")
	}
	// Discardable with ALLOW_FAULTS, an unaligned length, MAP_RANGE and an
	// alignment all work.
	a := mapT(t, zx.VMPermRead|zx.VMAllowFaults|zx.VMMapRange, 0, discardable, 0, 10)
	if m := Root().Lookup(a); m == nil || m.Len != pg {
		t.Fatalf("unaligned length not rounded: %+v", m)
	}
	b := mapT(t, zx.VMPermRead|21<<vmAlignBase, 0, v, 0, pg)
	if b%(1<<21) != 0 {
		t.Fatalf("ZX_VM_ALIGN_2MB mapping at %#x", b)
	}
	c := mapT(t, zx.VMPermRead|zx.VMPermReadIfXOM, 0, v, 0, pg)
	if m := Root().Lookup(c); m == nil || m.Perms != zx.VMPermRead {
		t.Fatal("READ_IF_XOM_UNSUPPORTED did not add read")
	}
}

func TestMapSpecific(t *testing.T) {
	v := newPlain(t, 4*pg, 0)
	off := freeOffset(t, 4*pg)
	a := mapT(t, rw|zx.VMSpecific, off, v, 0, 2*pg)
	if a != RootBase+uintptr(off) {
		t.Fatalf("specific mapping at %#x, want %#x", a, RootBase+uintptr(off))
	}
	_, err := Root().Map(rw|zx.VMSpecific, off+pg, v, 0, 2*pg)
	wantStatus(t, "specific over a mapping", err, zx.ErrAlreadyExists)
	b := mapT(t, rw|zx.VMSpecific, off+2*pg, v, 2*pg, 2*pg)
	if b != a+2*pg {
		t.Fatal("adjacent specific mapping misplaced")
	}
	// Memory the VMAR did not map (the Go heap) is never replaced.
	heap := new([4 * pg]byte)
	hp := (uintptr(unsafe.Pointer(heap)) + pg - 1) &^ (pg - 1)
	if hp > RootBase {
		_, err = Root().Map(zx.VMPermRead|zx.VMSpecific, uint64(hp-RootBase), v, 0, pg)
		wantStatus(t, "specific over foreign memory", err, zx.ErrAlreadyExists)
		_, err = Root().Map(zx.VMPermRead|zx.VMSpecificOverwrite, uint64(hp-RootBase), v, 0, pg)
		wantStatus(t, "overwrite over foreign memory", err, zx.ErrAlreadyExists)
	}
	heap[0] = 1
	// SPECIFIC_OVERWRITE replaces this VMAR's mappings.
	w := newPlain(t, pg, 0)
	if err := w.Write([]byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	c, err := Root().Map(zx.VMPermRead|zx.VMSpecificOverwrite, off+pg, w, 0, pg)
	if err != nil || c != a+pg {
		t.Fatalf("overwrite: %#x %v", c, err)
	}
	if string(mem(c, 3)) != "new" {
		t.Fatal("overwrite mapping shows the old VMO")
	}
	if m := Root().Lookup(a); m == nil || m.Len != pg || m.VMO != v {
		t.Fatalf("left piece after overwrite: %+v", m)
	}
	if v.NumMappings() != 2 || w.NumMappings() != 1 {
		t.Fatalf("mappings v %d w %d", v.NumMappings(), w.NumMappings())
	}
	// Upper limit: the mapping ends at or below it.
	limit := off + 4*pg
	if err := Root().Unmap(a, 4*pg); err != nil {
		t.Fatal(err)
	}
	d := mapT(t, zx.VMPermRead|zx.VMOffsetIsUpperLimit, limit, v, 0, pg)
	if uint64(d-RootBase)+pg > limit {
		t.Fatalf("upper-limit mapping at %#x beyond %#x", d, RootBase+uintptr(limit))
	}
}

func TestUnmapSplitsAndSpans(t *testing.T) {
	v := newPlain(t, 4*pg, 0)
	for i := 0; i < 4; i++ {
		if err := v.Write(bytes.Repeat([]byte{byte('a' + i)}, pg), uint64(i)*pg); err != nil {
			t.Fatal(err)
		}
	}
	addr := mapT(t, rw, 0, v, 0, 4*pg)
	if err := Root().Unmap(addr+pg, pg); err != nil {
		t.Fatal(err)
	}
	left, right := Root().Lookup(addr), Root().Lookup(addr+2*pg)
	if left == nil || left.Len != pg || left.Offset != 0 || right == nil || right.Addr != addr+2*pg ||
		right.Len != 2*pg || right.Offset != 2*pg || Root().Lookup(addr+pg) != nil {
		t.Fatalf("split pieces %+v %+v", left, right)
	}
	if mem(addr, 1)[0] != 'a' || mem(addr+2*pg, 1)[0] != 'c' || mem(addr+3*pg, 1)[0] != 'd' {
		t.Fatal("pieces show the wrong pages")
	}
	if !faults(addr+pg, false) {
		t.Fatal("unmapped hole is still accessible")
	}
	if v.NumMappings() != 2 {
		t.Fatalf("%d mappings after split", v.NumMappings())
	}
	if f := smapsFlags(t, addr+3*pg); !hasFlag(f, "dc") {
		t.Fatal("piece lost MADV_DONTFORK")
	}
	// One unmap over both pieces and the hole between them.
	if err := Root().Unmap(addr, 4*pg); err != nil {
		t.Fatal(err)
	}
	if v.NumMappings() != 0 || Root().Lookup(addr) != nil || Root().Lookup(addr+3*pg) != nil {
		t.Fatal("spanning unmap left mappings")
	}
	// Unmapping nothing is OK (Zircon's kernel); bad arguments are INVALID_ARGS.
	wantStatus(t, "unmap nothing", Root().Unmap(addr, 4*pg), zx.ErrOk)
	wantStatus(t, "unmap unaligned", Root().Unmap(addr+1, pg), zx.ErrInvalidArgs)
	wantStatus(t, "unmap empty", Root().Unmap(addr, 0), zx.ErrInvalidArgs)
	wantStatus(t, "unmap length overflow", Root().Unmap(addr, math.MaxUint64), zx.ErrInvalidArgs)
	wantStatus(t, "unmap below the VMAR", Root().Unmap(RootBase-pg, pg), zx.ErrInvalidArgs)
	wantStatus(t, "unmap beyond the VMAR", Root().Unmap(RootBase+uintptr(RootSize), pg), zx.ErrInvalidArgs)
	// An unaligned length is rounded up.
	b := mapT(t, rw, 0, v, 0, 2*pg)
	if err := Root().Unmap(b, 1); err != nil || Root().Lookup(b) != nil || Root().Lookup(b+pg) == nil {
		t.Fatalf("unmap of 1 byte: %v", err)
	}
}

func TestMappingKeepsVMOAlive(t *testing.T) {
	v, err := Create(2*pg, 0)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := Root().Map(rw, 0, v, 0, 2*pg)
	if err != nil {
		t.Fatal(err)
	}
	v.OnZeroHandles()
	if v.Destroyed() || v.Fd() < 0 {
		t.Fatal("mapped VMO destroyed with its last handle")
	}
	copy(mem(addr, 2), "ok")
	if err := Root().Unmap(addr, pg); err != nil || v.Destroyed() {
		t.Fatalf("partial unmap destroyed the VMO: %v", err)
	}
	if err := Root().Unmap(addr+pg, pg); err != nil {
		t.Fatal(err)
	}
	if !v.Destroyed() || v.Fd() != -1 {
		t.Fatal("VMO not destroyed after its last mapping went")
	}
	_, err = Root().Map(rw, 0, v, 0, pg)
	wantStatus(t, "map a destroyed VMO", err, zx.ErrBadState)
}

func TestVMAROpRange(t *testing.T) {
	v := newPlain(t, 8*pg, 0)
	addr := mapT(t, rw, 0, v, 2*pg, 4*pg) // VMO [2pg, 6pg)
	if err := Root().OpRange(VMAROpCommit, addr+pg, 2*pg); err != nil {
		t.Fatal(err)
	}
	if c := v.CommittedBytes(); c != 2*pg {
		t.Fatalf("committed %d after VMAR commit", c)
	}
	fillVMO(t, v, 1)
	if err := Root().OpRange(VMAROpDecommit, addr, 4*pg); err != nil {
		t.Fatal(err)
	}
	if c := v.CommittedBytes(); c != 4*pg {
		t.Fatalf("committed %d after VMAR decommit, want %d", c, 4*pg)
	}
	if mem(addr, 1)[0] != 0 || mem(addr+3*pg, 1)[0] != 0 {
		t.Fatal("decommitted pages do not read zero through the mapping")
	}
	for _, op := range []uint32{VMAROpMapRange, VMAROpDontNeed, VMAROpAlwaysNeed, VMAROpPrefetch, VMAROpZero} {
		if err := Root().OpRange(op, addr, 4*pg); err != nil {
			t.Fatalf("op %d: %v", op, err)
		}
	}
	wantStatus(t, "unknown op", Root().OpRange(4, addr, pg), zx.ErrInvalidArgs)
	wantStatus(t, "unaligned", Root().OpRange(VMAROpCommit, addr+1, pg), zx.ErrInvalidArgs)
	wantStatus(t, "empty", Root().OpRange(VMAROpCommit, addr, 0), zx.ErrInvalidArgs)
	wantStatus(t, "outside VMAR", Root().OpRange(VMAROpCommit, RootBase+uintptr(RootSize), pg), zx.ErrOutOfRange)
	wantStatus(t, "hole after", Root().OpRange(VMAROpCommit, addr, 5*pg), zx.ErrBadState)
	wantStatus(t, "hole before", Root().OpRange(VMAROpDontNeed, addr-pg, 2*pg), zx.ErrBadState)
	// Read-only mappings refuse commit, decommit and zero; prefetch is fine.
	ro := mapT(t, zx.VMPermRead|zx.VMCanMapRead, 0, v, 0, pg)
	for _, op := range []uint32{VMAROpCommit, VMAROpDecommit, VMAROpZero} {
		wantStatus(t, "read-only mapping", Root().OpRange(op, ro, pg), zx.ErrAccessDenied)
	}
	wantStatus(t, "prefetch read-only", Root().OpRange(VMAROpPrefetch, ro, pg), zx.ErrOk)
	// A mapping beyond the VMO's end: the VMO reports OUT_OF_RANGE.
	w := newPlain(t, pg, 0)
	big := mapT(t, rw, 0, w, 0, 2*pg)
	wantStatus(t, "beyond VMO end", Root().OpRange(VMAROpCommit, big, 2*pg), zx.ErrOutOfRange)
}

func TestVMAROpRangeAcrossMappings(t *testing.T) {
	a, b := newPlain(t, 2*pg, 0), newPlain(t, 2*pg, 0)
	off := freeOffset(t, 4*pg)
	x := mapT(t, rw|zx.VMSpecific, off, a, 0, 2*pg)
	mapT(t, rw|zx.VMSpecific, off+2*pg, b, 0, 2*pg)
	if err := Root().OpRange(VMAROpCommit, x+pg, 2*pg); err != nil {
		t.Fatal(err)
	}
	if a.CommittedBytes() != pg || b.CommittedBytes() != pg {
		t.Fatalf("committed a %d b %d", a.CommittedBytes(), b.CommittedBytes())
	}
	// A hole in the middle: the first mapping is processed, then BAD_STATE.
	if err := Root().Unmap(x+2*pg, pg); err != nil {
		t.Fatal(err)
	}
	fillVMO(t, a, 1)
	wantStatus(t, "hole in the middle", Root().OpRange(VMAROpDecommit, x, 4*pg), zx.ErrBadState)
	if a.CommittedBytes() != 0 {
		t.Fatal("mapping before the hole was not processed")
	}
}

func TestRootVMAR(t *testing.T) {
	r := Root()
	if r != Root() || r.Type() != zx.ObjTypeVMAR || r.Koid() < 1024 || r.Base() != RootBase || r.Size() != RootSize {
		t.Fatalf("root VMAR %+v", r)
	}
}
