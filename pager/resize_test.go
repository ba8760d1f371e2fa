package pager

import (
	"testing"

	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// Shrinking releases waiters on pages beyond the new end with OUT_OF_RANGE
// (ReadResizeTest) and withdraws their requests; mapped faulters there take
// SIGBUS. Waiters whose pages stay in range keep waiting.
func TestResizeShrinkReleasesWaiters(t *testing.T) {
	f := newFixture(t, 8, zx.VMOResizable)
	res := async(func() error { return f.v.Read(make([]byte, ps), 6*ps) })
	f.wantRequest(zx.PagerVMORead, 6*ps, ps)
	acc := thread(t).Read(f.addr+7*ps, 1)
	waitFor(t, func() bool { return f.outstanding() == 2 })
	inRange := async(func() error { return f.v.Read(make([]byte, ps), ps) })
	waitFor(t, func() bool { return f.outstanding() == 3 })
	if err := f.v.SetSize(4 * ps); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, result(t, res), zx.ErrOutOfRange)
	if !done(t, acc).Sigbus {
		t.Fatal("mapped faulter beyond the new end did not SIGBUS")
	}
	// Page 7's packet was withdrawn; page 1's is next.
	f.wantRequest(zx.PagerVMORead, ps, ps)
	pending(t, inRange)
	f.supply(ps, ps, 2)
	if err := result(t, inRange); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.trySupply(4*ps, ps, 1), zx.ErrOutOfRange)
	if m, _ := f.p.Stats(f.v, false); !m {
		t.Fatal("resize did not set modified")
	}
}

// Growing adds a zero tail that needs no READ, through zx_vmo_read and mappings;
// supplying there is a silent no-op (ResizeSupplyZero).
func TestResizeGrowZeroTail(t *testing.T) {
	f := newFixture(t, 2, zx.VMOResizable)
	if err := f.v.SetSize(4 * ps); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2*ps)
	if err := f.v.Read(got, 2*ps); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got, make([]byte, 2*ps), "zero tail")
	f.supply(2*ps, ps, 9)
	if err := f.v.Read(got[:ps], 2*ps); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, got[:ps], make([]byte, ps), "zero tail after supply")
	addr, err := vmo.Root().Map(zx.VMPermRead|zx.VMPermWrite, 0, f.v, 0, 4*ps)
	if err != nil {
		t.Fatal(err)
	}
	defer vmo.Root().Unmap(addr, 4*ps)
	r := done(t, thread(t).Read(addr+3*ps, 64))
	if r.Sigbus {
		t.Fatal("SIGBUS in the zero tail")
	}
	wantBytes(t, r.Data, make([]byte, 64), "mapped zero tail")
	f.noPacket()
	if c := f.v.Info(zx.DefaultVMORights).CommittedBytes; c != 0 {
		t.Fatalf("zero tail counts %d committed bytes", c)
	}
}

// Many pagers, many VMOs per pager, VMOs sharing one port and one key: each
// packet names the right offsets and each supply reaches the right VMO.
func TestManyPagersSharingPortAndKey(t *testing.T) {
	prt := port.New()
	type pv struct {
		p *Pager
		v *vmo.VMO
	}
	var all []pv
	for i := 0; i < 3; i++ {
		p, err := New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		for j := 0; j < 3; j++ {
			v, err := p.CreateVMO(0, prt, 7, 16*ps)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, pv{p, v})
		}
	}
	res := make([]chan error, len(all))
	bufs := make([][]byte, len(all))
	for i, x := range all {
		bufs[i] = make([]byte, ps)
		off := uint64(i) * ps // distinct offsets: with a shared key, the offset names the VMO
		res[i] = async(func() error { return x.v.Read(bufs[i], off) })
	}
	// Serve every request: the key is shared, so the pager finds the VMO
	// from the offset (each VMO reads a different page).
	for served := 0; served < len(all); served++ {
		pkt, err := prt.Wait(zx.DeadlineAfter(zx.Duration(deadline)), nil)
		if err != nil || pkt.Key != 7 {
			t.Fatalf("packet %+v %v", pkt, err)
		}
		req := pkt.PageRequest()
		for i, x := range all {
			pvs, _ := x.p.owned(x.v)
			pvs.mu.Lock()
			has := pvs.tracker.find(kindRead, req.Offset/ps) != nil
			pvs.mu.Unlock()
			if has {
				aux, _ := vmo.Create(ps, 0)
				_ = aux.Write(pattern(uint64(i), 1), 0)
				if err := x.p.SupplyPages(x.v, req.Offset, ps, aux, 0); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
	}
	for i := range all {
		if err := result(t, res[i]); err != nil {
			t.Fatal(err)
		}
		wantBytes(t, bufs[i], pattern(uint64(i), 1), "VMO content")
	}
}

func TestInfoPagerBacked(t *testing.T) {
	f := newFixture(t, 2, 0)
	if info := f.v.Info(zx.DefaultVMORights); info.Flags&zx.InfoVMOPagerBacked == 0 || info.SizeBytes != 2*ps {
		t.Fatalf("pager VMO info flags %#x size %d", info.Flags, info.SizeBytes)
	}
	plain, _ := vmo.Create(ps, 0)
	if plain.Info(zx.DefaultVMORights).Flags&zx.InfoVMOPagerBacked != 0 {
		t.Fatal("plain VMO reported as pager-backed")
	}
	f.supply(0, ps, 1)
	if c := f.v.Info(zx.DefaultVMORights).CommittedBytes; c != ps {
		t.Fatalf("committed %d", c)
	}
}

func TestCreateVMOOptions(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	prt := port.New()
	for _, o := range []uint32{0, zx.VMOResizable, zx.VMOTrapDirty, zx.VMOUnbounded, zx.VMOResizable | zx.VMOTrapDirty, zx.VMOTrapDirty | zx.VMOUnbounded} {
		if _, err := p.CreateVMO(o, prt, 0, ps); err != nil {
			t.Errorf("options %#x: %v", o, err)
		}
	}
	for _, o := range []uint32{zx.VMODiscardable, 1, ^uint32(0), zx.VMOResizable | zx.VMOUnbounded} {
		if _, err := p.CreateVMO(o, prt, 0, ps); zx.StatusOf(err) != zx.ErrInvalidArgs {
			t.Errorf("options %#x: %v, want INVALID_ARGS", o, err)
		}
	}
	if _, err := p.CreateVMO(0, prt, 0, (^uint64(0))&^(ps-1)); zx.StatusOf(err) != zx.ErrOutOfRange {
		t.Errorf("huge size: %v", err)
	}
	u, err := p.CreateVMO(zx.VMOUnbounded, prt, 0, 3*ps+5)
	if err != nil || u.Size() != unboundedSize || u.ContentSize() != 3*ps+5 {
		t.Fatalf("unbounded: %v size %d content %d", err, u.Size(), u.ContentSize())
	}
	v, err := p.CreateVMO(0, prt, 0, ps+1)
	if err != nil || v.Size() != 2*ps || v.ContentSize() != ps+1 {
		t.Fatalf("rounding: %v size %d content %d", err, v.Size(), v.ContentSize())
	}
}

// A shrink drops the cut pages' write-protect markers from every mapping;
// the grow puts them back, so a write through the mapping to the grown
// (dirty zero) tail of a TRAP_DIRTY VMO posts its DIRTY request, and once
// written the page is no longer IS_ZERO (spec §3.8). Without TRAP_DIRTY the
// write is tracked the same way.
func TestWriteAfterShrinkGrowIsTracked(t *testing.T) {
	for _, trap := range []bool{true, false} {
		opts := uint32(zx.VMOResizable)
		if trap {
			opts |= zx.VMOTrapDirty
		}
		f := newFixture(t, 2, opts)
		th := thread(t)
		f.supply(ps, ps, 1)
		first := th.Write(f.addr+ps, []byte("first"))
		if trap {
			f.wantRequest(zx.PagerVMODirty, ps, ps)
			if err := f.p.OpDirty(f.v, ps, ps); err != nil {
				t.Fatal(err)
			}
		}
		if r := done(t, first); r.Faulted() {
			t.Fatalf("trap %v: first write: %+v", trap, r)
		}
		if err := f.v.SetSize(ps); err != nil {
			t.Fatal(err)
		}
		if err := f.v.SetSize(2 * ps); err != nil {
			t.Fatal(err)
		}
		f.wantDirty([3]uint64{1, 1, zx.VMODirtyRangeIsZero})
		second := th.Write(f.addr+ps, []byte("again"))
		if trap {
			f.wantRequest(zx.PagerVMODirty, ps, ps)
			blocked(t, second)
			if err := f.p.OpDirty(f.v, ps, ps); err != nil {
				t.Fatal(err)
			}
		}
		if r := done(t, second); r.Faulted() {
			t.Fatalf("trap %v: write after shrink+grow: %+v", trap, r)
		}
		f.wantDirty([3]uint64{1, 1, 0})
		got := make([]byte, 5)
		if err := f.v.Read(got, ps); err != nil || string(got) != "again" {
			t.Fatalf("trap %v: page 1 reads %q %v", trap, got, err)
		}
	}
}

// COMMIT of a grown tail gives its pages real pages and makes them Dirty
// (spec §1.11 CommitExtendedTail): with TRAP_DIRTY through a DIRTY request
// (failed after a detach); a page committed after WRITEBACK_BEGIN stays
// Dirty through the END (§1.5).
func TestCommitOfGrownTail(t *testing.T) {
	f := newFixture(t, 1, zx.VMOResizable|zx.VMOTrapDirty)
	if err := f.v.SetSize(3 * ps); err != nil {
		t.Fatal(err)
	}
	res := async(func() error { return f.v.OpRange(zx.VMOOpCommit, 0, 3*ps, nil) })
	f.wantRequest(zx.PagerVMORead, 0, ps)
	f.supply(0, ps, 1)
	f.wantRequest(zx.PagerVMODirty, ps, 2*ps)
	pending(t, res)
	if err := f.p.OpDirty(f.v, ps, 2*ps); err != nil {
		t.Fatal(err)
	}
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	f.wantDirty([3]uint64{1, 2, 0})
	if c := f.v.Info(zx.DefaultVMORights).CommittedBytes; c != 3*ps {
		t.Fatalf("committed %d after COMMIT, want 3 pages", c)
	}
	if err := f.v.SetSize(4 * ps); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Detach(f.v); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.v.OpRange(zx.VMOOpCommit, 3*ps, ps, nil), zx.ErrBadState)

	g := newFixture(t, 1, zx.VMOResizable)
	if err := g.v.SetSize(2 * ps); err != nil {
		t.Fatal(err)
	}
	if err := g.p.WritebackBegin(g.v, ps, ps, true); err != nil {
		t.Fatal(err)
	}
	if err := g.v.OpRange(zx.VMOOpCommit, ps, ps, nil); err != nil {
		t.Fatal(err)
	}
	if err := g.p.WritebackEnd(g.v, ps, ps); err != nil {
		t.Fatal(err)
	}
	g.wantDirty([3]uint64{1, 1, 0})
}
