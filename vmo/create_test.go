package vmo

import (
	"math"
	"testing"

	"github.com/pagerd/pagerd/zx"
)

func TestCreateOptionsAndSizes(t *testing.T) {
	maxRoundDown := uint64(math.MaxUint64) &^ (pg - 1)
	cases := []struct {
		name        string
		size        uint64
		options     uint32
		want        zx.Status
		wantSize    uint64
		wantContent uint64
	}{
		{"zero", 0, 0, zx.ErrOk, 0, 0},
		{"one byte rounds up", 1, 0, zx.ErrOk, pg, 1},
		{"page", pg, 0, zx.ErrOk, pg, pg},
		{"page+1", pg + 1, 0, zx.ErrOk, 2 * pg, pg + 1},
		{"resizable", 3 * pg, zx.VMOResizable, zx.ErrOk, 3 * pg, 3 * pg},
		{"discardable", 10, zx.VMODiscardable, zx.ErrOk, pg, 10},
		{"resizable|discardable", 10, zx.VMOResizable | zx.VMODiscardable, zx.ErrOk, pg, 10},
		{"unbounded", 5, zx.VMOUnbounded, zx.ErrOk, MaxSize, 5},
		{"max size", MaxSize, 0, zx.ErrOk, MaxSize, MaxSize},
		{"trap dirty rejected", pg, zx.VMOTrapDirty, zx.ErrInvalidArgs, 0, 0},
		{"unknown bit", pg, 1 << 0, zx.ErrInvalidArgs, 0, 0},
		{"high bit", pg, 1 << 31, zx.ErrInvalidArgs, 0, 0},
		{"resizable|unbounded", pg, zx.VMOResizable | zx.VMOUnbounded, zx.ErrInvalidArgs, 0, 0},
		// Zircon checks the size before unknown bits.
		{"round-up overflow", maxRoundDown + 1, 0, zx.ErrOutOfRange, 0, 0},
		{"round-up overflow beats trap dirty", maxRoundDown + 1, zx.VMOTrapDirty, zx.ErrOutOfRange, 0, 0},
		{"uint64 max", math.MaxUint64, 0, zx.ErrOutOfRange, 0, 0},
		{"beyond linux max", MaxSize + 1, 0, zx.ErrOutOfRange, 0, 0},
		{"resizable|unbounded beats size", math.MaxUint64, zx.VMOResizable | zx.VMOUnbounded, zx.ErrInvalidArgs, 0, 0},
		{"unbounded ignores size", math.MaxUint64, zx.VMOUnbounded, zx.ErrOk, MaxSize, math.MaxUint64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Create(c.size, c.options)
			wantStatus(t, "Create", err, c.want)
			if c.want != zx.ErrOk {
				if v != nil {
					t.Fatal("failed Create returned a VMO")
				}
				return
			}
			defer v.OnZeroHandles()
			if v.Size() != c.wantSize || v.ContentSize() != c.wantContent || v.Options() != c.options {
				t.Fatalf("size %#x content %#x options %#x, want %#x %#x %#x",
					v.Size(), v.ContentSize(), v.Options(), c.wantSize, c.wantContent, c.options)
			}
			if v.Source() != nil || v.Type() != zx.ObjTypeVMO || v.Koid() < 1024 || v.Fd() < 0 {
				t.Fatalf("source %v type %v koid %d fd %d", v.Source(), v.Type(), v.Koid(), v.Fd())
			}
			if got := v.Signals().Get(); got != zx.VMOZeroChildren {
				t.Fatalf("signals %#x, want ZERO_CHILDREN", got)
			}
		})
	}
}

func TestCreateZeroFilledAndDistinct(t *testing.T) {
	a, b := newPlain(t, 2*pg, 0), newPlain(t, 2*pg, 0)
	if a.Koid() == b.Koid() || a.Fd() == b.Fd() {
		t.Fatal("two VMOs share a koid or memfd")
	}
	buf := make([]byte, 2*pg)
	if err := a.Read(buf, 0); err != nil {
		t.Fatal(err)
	}
	for i, x := range buf {
		if x != 0 {
			t.Fatalf("byte %d of a new VMO is %#x", i, x)
		}
	}
	if a.CommittedBytes() != 0 {
		t.Fatalf("new VMO has %d committed bytes", a.CommittedBytes())
	}
}

func TestNewPagedValidation(t *testing.T) {
	if _, err := NewPaged(pg, 0, nil); statusOf(err) != zx.ErrInvalidArgs {
		t.Fatalf("nil source: %v", err)
	}
	if _, err := NewPaged(pg, zx.VMODiscardable, newFake()); statusOf(err) != zx.ErrInvalidArgs {
		t.Fatalf("discardable pager VMO: %v", err)
	}
	if _, err := NewPaged(math.MaxUint64, 0, newFake()); statusOf(err) != zx.ErrOutOfRange {
		t.Fatalf("huge pager VMO: %v", err)
	}
	f := newFake()
	opts := zx.VMOResizable | zx.VMOTrapDirty
	v, err := NewPaged(pg+5, opts, f)
	if err != nil {
		t.Fatal(err)
	}
	if v.Size() != 2*pg || v.ContentSize() != pg+5 || v.Options() != opts || v.Source() != f {
		t.Fatalf("size %#x content %#x options %#x source %v", v.Size(), v.ContentSize(), v.Options(), v.Source())
	}
	// The caller decides the size of an UNBOUNDED pager VMO: NewPaged takes it as given.
	u, err := NewPaged(1<<40, zx.VMOUnbounded, newFake())
	if err != nil || u.Size() != 1<<40 {
		t.Fatalf("unbounded pager VMO: %v size %#x", err, u.Size())
	}
	v.OnZeroHandles()
	u.OnZeroHandles()
}
