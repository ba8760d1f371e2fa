package vmo

import (
	"bytes"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/pagerd/pagerd/zx"
)

func TestSetSizeStatuses(t *testing.T) {
	fixed := newPlain(t, pg, 0)
	wantStatus(t, "not resizable", fixed.SetSize(2*pg), zx.ErrUnavailable)
	// The rounding overflow is checked before resizability (Zircon's order).
	wantStatus(t, "overflow on a fixed VMO", fixed.SetSize(math.MaxUint64), zx.ErrOutOfRange)
	r := newPlain(t, pg, zx.VMOResizable)
	wantStatus(t, "overflow", r.SetSize(math.MaxUint64), zx.ErrOutOfRange)
	wantStatus(t, "beyond max", r.SetSize(MaxSize+1), zx.ErrOutOfRange)
	if r.Size() != pg || r.ContentSize() != pg {
		t.Fatalf("failed resizes changed size %#x content %#x", r.Size(), r.ContentSize())
	}
	wantStatus(t, "to max", r.SetSize(MaxSize), zx.ErrOk)
	wantStatus(t, "to zero", r.SetSize(0), zx.ErrOk)
	if r.Size() != 0 || r.ContentSize() != 0 {
		t.Fatalf("size %#x content %#x after resize to 0", r.Size(), r.ContentSize())
	}
}

func TestSetSizeShrinkGrow(t *testing.T) {
	v := newPlain(t, 4*pg, zx.VMOResizable)
	fillVMO(t, v, 0x33)
	if err := v.SetSize(pg + 10); err != nil {
		t.Fatal(err)
	}
	if v.Size() != 2*pg || v.ContentSize() != pg+10 {
		t.Fatalf("size %#x content %#x", v.Size(), v.ContentSize())
	}
	if c := v.CommittedBytes(); c != 2*pg {
		t.Fatalf("shrinking kept %d committed bytes", c)
	}
	wantStatus(t, "read beyond new size", v.Read(make([]byte, 1), 2*pg), zx.ErrOutOfRange)
	// The bytes from the new size to the end of its page read zero.
	tail := make([]byte, pg)
	if err := v.Read(tail, pg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tail[:10], bytes.Repeat([]byte{0x33}, 10)) || !bytes.Equal(tail[10:], make([]byte, pg-10)) {
		t.Fatalf("partial last page after shrink: % x ...", tail[:16])
	}
	if err := v.SetSize(4 * pg); err != nil {
		t.Fatal(err)
	}
	grown := make([]byte, 2*pg)
	if err := v.Read(grown, 2*pg); err != nil || !bytes.Equal(grown, make([]byte, 2*pg)) {
		t.Fatalf("grown range is not zero: %v", err)
	}
	if v.ContentSize() != 4*pg {
		t.Fatalf("content %#x after grow", v.ContentSize())
	}
}

func TestContentSize(t *testing.T) {
	v := newPlain(t, 3*pg, 0)
	fillVMO(t, v, 9)
	// Above the size is accepted, as Zircon's kernel does; nothing is zeroed.
	if err := v.SetContentSize(10 * pg); err != nil || v.ContentSize() != 10*pg {
		t.Fatalf("content above size: %v %#x", err, v.ContentSize())
	}
	if v.Size() != 3*pg {
		t.Fatal("content size changed the VMO size")
	}
	// Below the size: [n, size) is zeroed.
	if err := v.SetContentSize(pg + 1); err != nil || v.ContentSize() != pg+1 {
		t.Fatalf("content below size: %v %#x", err, v.ContentSize())
	}
	buf := make([]byte, 3*pg)
	if err := v.Read(buf, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:pg+1], bytes.Repeat([]byte{9}, pg+1)) || !bytes.Equal(buf[pg+1:], make([]byte, 2*pg-1)) {
		t.Fatal("content size did not zero the tail")
	}
	if c := v.CommittedBytes(); c != 2*pg {
		t.Fatalf("committed %d after tail zeroing, want %d", c, 2*pg)
	}
}

func TestNameTruncation(t *testing.T) {
	v := newPlain(t, pg, 0)
	if v.Name() != "" {
		t.Fatalf("new VMO named %q", v.Name())
	}
	v.SetName("blob")
	if v.Name() != "blob" {
		t.Fatalf("name %q", v.Name())
	}
	long := "0123456789abcdefghijklmnopqrstuvwxyz"
	v.SetName(long)
	if v.Name() != long[:31] {
		t.Fatalf("long name %q, want its first 31 bytes", v.Name())
	}
	info := v.Info(zx.DefaultVMORights)
	if string(info.Name[:31]) != long[:31] || info.Name[31] != 0 {
		t.Fatalf("info name % x", info.Name)
	}
	v.SetName("")
	if v.Name() != "" {
		t.Fatal("name not cleared")
	}
}

func TestInternalMapping(t *testing.T) {
	v := newPlain(t, 2*pg, zx.VMOResizable)
	if err := v.Write([]byte("hello"), pg); err != nil {
		t.Fatal(err)
	}
	err := v.WithInternalMapping(func(base uintptr, size uint64) error {
		if size != 2*pg || base == 0 {
			t.Fatalf("internal mapping %#x size %#x", base, size)
		}
		if string(mem(base+pg, 5)) != "hello" {
			t.Fatalf("internal mapping reads %q", mem(base+pg, 5))
		}
		copy(mem(base, 3), "abc")
		if f := smapsFlags(t, base); !hasFlag(f, "dc") {
			t.Fatalf("internal mapping lacks MADV_DONTFORK: %v", f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if err := v.Read(got, 0); err != nil || string(got) != "abc" {
		t.Fatalf("write through the internal mapping: %v %q", err, got)
	}
	if v.NumMappings() != 0 {
		t.Fatal("internal mapping counted as a VMO mapping")
	}
	// A resize waits for the user to finish, then the mapping is remade.
	inside, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = v.WithInternalMapping(func(base uintptr, size uint64) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	resized := make(chan error, 1)
	go func() { resized <- v.SetSize(8 * pg) }()
	select {
	case err := <-resized:
		t.Fatalf("resize did not wait for the internal mapping user: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-resized:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("resize still blocked")
	}
	wg.Wait()
	err = v.WithInternalMapping(func(base uintptr, size uint64) error {
		if size != 8*pg {
			t.Fatalf("remapped size %#x", size)
		}
		if string(mem(base, 3)) != "abc" {
			t.Fatal("remapped internal mapping lost the data")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Size 0 gives no mapping; pager VMOs have none.
	z := newPlain(t, 0, 0)
	if err := z.WithInternalMapping(func(base uintptr, size uint64) error {
		if base != 0 || size != 0 {
			t.Fatalf("empty VMO mapping %#x %#x", base, size)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p, err := NewPaged(pg, 0, newFake())
	if err != nil {
		t.Fatal(err)
	}
	defer p.OnZeroHandles()
	wantStatus(t, "pager internal mapping", p.WithInternalMapping(func(uintptr, uint64) error { return nil }), zx.ErrNotSupported)
}

func TestDestroyClosesMemfdAfterUses(t *testing.T) {
	v, err := Create(pg, 0)
	if err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- v.WithInternalMapping(func(base uintptr, size uint64) error {
			close(inside)
			<-release
			mem(base, 1)[0] = 1 // still mapped: the VMO is not destroyed under a user
			return nil
		})
	}()
	<-inside
	v.OnZeroHandles()
	if v.Destroyed() || v.Fd() < 0 {
		t.Fatal("VMO destroyed while an operation is in flight")
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("internal mapping user stuck")
	}
	if !v.Destroyed() || v.Fd() != -1 {
		t.Fatalf("destroyed %v fd %d after the last use", v.Destroyed(), v.Fd())
	}
	wantStatus(t, "read after destroy", v.Read(make([]byte, 1), 0), zx.ErrBadState)
	v.OnZeroHandles() // idempotent
}
