package readahead

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// sim plays a pager in front of a Tracker: a page is missing until a
// window supplies it, a touch of a present page does not fault (as with
// userfaultfd MISSING), and a window is clipped at the VMO's end and at
// the first present page, as pagerd's server does.
type sim struct {
	t       *testing.T
	cfg     Config
	tr      Tracker
	present []bool

	calls      int
	windows    []uint64 // n of each Window call
	at         []uint64 // p of each Window call
	hits       uint64   // total hits reported
	prefetched uint64   // total pages fetched beyond the faulting page
}

func newSim(t *testing.T, cfg Config, pages int) *sim {
	return &sim{t: t, cfg: cfg, present: make([]bool, pages)}
}

// touch accesses page p; it returns whether it faulted and, if so, the
// window and hits Window returned.
func (s *sim) touch(p uint64) (faulted bool, n, hits uint64) {
	s.t.Helper()
	if s.present[p] {
		return false, 0, 0
	}
	n, hits = s.tr.Window(&s.cfg, p)
	eff := s.cfg.Effective()
	if s.cfg.Disabled {
		if n != 1 || hits != 0 {
			s.t.Fatalf("disabled: Window(%d) = %d, %d, want 1, 0", p, n, hits)
		}
	} else if n < eff.MinPages || n > eff.MaxPages {
		s.t.Fatalf("Window(%d) = %d, outside [%d, %d]", p, n, eff.MinPages, eff.MaxPages)
	}
	k := uint64(0)
	for k < n && p+k < uint64(len(s.present)) && !s.present[p+k] {
		s.present[p+k] = true
		k++
	}
	s.tr.Fetched(p, k)
	s.calls++
	s.windows = append(s.windows, n)
	s.at = append(s.at, p)
	s.hits += hits
	s.prefetched += k - 1
	if s.hits > s.prefetched {
		s.t.Fatalf("after Window(%d): %d hits in total, more than the %d pages prefetched", p, s.hits, s.prefetched)
	}
	return true, n, hits
}

// scan touches pages [from, to) in order.
func (s *sim) scan(from, to uint64) {
	for p := from; p < to; p++ {
		s.touch(p)
	}
}

// windowsIn returns the windows of the faults at pages in [from, to).
func (s *sim) windowsIn(from, to uint64) []uint64 {
	var ws []uint64
	for i, p := range s.at {
		if p >= from && p < to {
			ws = append(ws, s.windows[i])
		}
	}
	return ws
}

// growth checks ws is lo, 2lo, 4lo, ... capped at hi, and that it reaches
// hi.
func checkGrowth(t *testing.T, name string, ws []uint64, lo, hi uint64) {
	t.Helper()
	want := lo
	for i, w := range ws {
		if w != want {
			t.Fatalf("%s: window %d is %d, want %d (windows %v)", name, i, w, want, ws[:min(len(ws), i+8)])
		}
		want = min(2*want, hi)
	}
	if len(ws) == 0 || ws[len(ws)-1] != hi {
		t.Fatalf("%s: windows never reached %d: %v", name, hi, ws)
	}
}

func TestSequentialScan(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		pages     uint64
		wantCalls int
	}{
		// 9 windows 1..256 cover 511 pages, then ceil(9489/256) = 38.
		{"default", Config{}, 10000, 47},
		{"min 4 max 64", Config{MinPages: 4, MaxPages: 64}, 10000, 5 + (10000-124+63)/64},
		{"min = max", Config{MinPages: 8, MaxPages: 8}, 1000, 125},
		{"one stream", Config{Streams: 1}, 10000, 47},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.cfg, int(tc.pages))
			s.scan(0, tc.pages)
			eff := tc.cfg.Effective()
			checkGrowth(t, tc.name, s.windows, eff.MinPages, eff.MaxPages)
			if s.calls != tc.wantCalls {
				t.Errorf("%d Window calls for %d pages, want %d", s.calls, tc.pages, tc.wantCalls)
			}
			if lo, hi := int(tc.pages/eff.MaxPages), int(tc.pages/eff.MaxPages)+9; s.calls < lo || s.calls > hi {
				t.Errorf("%d Window calls, want about pages/MaxPages + log2(MaxPages): %d to %d", s.calls, lo, hi)
			}
			// Every window but the last was consumed: all its prefetched
			// pages are hits.
			last := tc.pages - s.at[len(s.at)-1]
			if want := s.prefetched - (last - 1); s.hits != want {
				t.Errorf("%d hits, want %d (%d prefetched, last window of %d never consumed)", s.hits, want, s.prefetched, last)
			}
		})
	}
}

// permutation returns the pages i*7919 mod 10007: consecutive faults are
// thousands of pages apart.
func permutation() []uint64 {
	const m = 10007
	ps := make([]uint64, m)
	for i := range ps {
		ps[i] = uint64(i) * 7919 % m
	}
	return ps
}

func TestRandomStaysAtMin(t *testing.T) {
	for _, cfg := range []Config{{}, {MinPages: 4}, {Streams: 1}, {Streams: 64, MinPages: 2, MaxPages: 32}} {
		s := newSim(t, cfg, 10007)
		for _, p := range permutation() {
			s.touch(p)
		}
		lo := cfg.Effective().MinPages
		for i, w := range s.windows {
			if w != lo {
				t.Fatalf("%+v: fault %d at page %d got window %d, want MinPages %d", cfg, i, s.at[i], w, lo)
			}
		}
		if s.hits != 0 {
			t.Errorf("%+v: %d hits for a random pattern, want 0", cfg, s.hits)
		}
		if want := (10007 + int(lo) - 1) / int(lo); s.calls < want {
			t.Errorf("%+v: %d faults, want at least %d", cfg, s.calls, want)
		}
	}
}

// TestRandomPCG: uniformly random faults on a large mapping almost never
// look sequential, so they cost almost no wasted pages.
func TestRandomPCG(t *testing.T) {
	const pages, faults = 1 << 20, 20000
	r := rand.New(rand.NewPCG(1, 2))
	s := newSim(t, Config{}, pages)
	for s.calls < faults {
		s.touch(r.Uint64N(pages))
	}
	big := 0
	for _, w := range s.windows {
		if w > 1 {
			big++
		}
	}
	if big > faults/100 {
		t.Errorf("%d of %d random faults got a window above MinPages, want under 1%%", big, faults)
	}
	if fetched := s.prefetched + uint64(s.calls); fetched > faults*102/100 {
		t.Errorf("%d pages fetched for %d random faults, want under 2%% extra", fetched, faults)
	}
}

// interleave runs threads round robin, each touching its own sequence of
// pages one per turn.
func interleave(s *sim, threads ...[]uint64) {
	for i := 0; ; i++ {
		done := true
		for _, th := range threads {
			if i < len(th) {
				s.touch(th[i])
				done = false
			}
		}
		if done {
			return
		}
	}
}

func seq(from, n uint64) []uint64 {
	ps := make([]uint64, n)
	for i := range ps {
		ps[i] = from + uint64(i)
	}
	return ps
}

func TestInterleavedStreams(t *testing.T) {
	const per = 20000
	for _, tc := range []struct {
		name    string
		cfg     Config
		streams int
		grow    bool
	}{
		{"2 streams in 4 slots", Config{}, 2, true},
		{"4 streams in 4 slots", Config{}, 4, true},
		{"6 streams in 8 slots", Config{Streams: 8}, 6, true},
		// More streams than slots: round-robin evicts every stream before
		// it faults again (documented), so every fault is random.
		{"6 streams in 4 slots", Config{}, 6, false},
		{"2 streams in 1 slot", Config{Streams: 1}, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.cfg, tc.streams*2*per)
			var threads [][]uint64
			for i := 0; i < tc.streams; i++ {
				threads = append(threads, seq(uint64(i)*2*per, per))
			}
			interleave(s, threads...)
			eff := tc.cfg.Effective()
			for i := 0; i < tc.streams; i++ {
				from := uint64(i) * 2 * per
				ws := s.windowsIn(from, from+per)
				if tc.grow {
					checkGrowth(t, "stream", ws, eff.MinPages, eff.MaxPages)
					if max := per/int(eff.MaxPages) + 10; len(ws) > max {
						t.Errorf("stream %d: %d faults for %d pages, want at most %d", i, len(ws), per, max)
					}
				} else {
					for j, w := range ws {
						if w != eff.MinPages {
							t.Fatalf("stream %d: window %d is %d, want %d", i, j, w, eff.MinPages)
						}
					}
				}
			}
		})
	}
}

// TestSequentialWithRandomNoise: a thread faulting at random places beside
// a sequential reader does not keep the reader's window from growing.
func TestSequentialWithRandomNoise(t *testing.T) {
	const per = 20000
	s := newSim(t, Config{}, 1<<20)
	r := rand.New(rand.NewPCG(3, 4))
	noise := make([]uint64, per)
	for i := range noise {
		noise[i] = 100000 + r.Uint64N(1<<20-100000)
	}
	interleave(s, seq(0, per), noise)
	checkGrowth(t, "reader", s.windowsIn(0, per), 1, 256)
}

func TestStrided(t *testing.T) {
	const pages = 8192
	for _, tc := range []struct {
		cfg    Config
		stride uint64
		grows  bool // to MaxPages, else stays at MinPages
	}{
		// Stride 2 is within the tolerance: it reads as sequential and
		// grows (half of each window is used, at 1/MaxPages the faults).
		{Config{}, 2, true},
		{Config{}, 3, false},
		{Config{}, 4, false},
		{Config{}, 16, false},
		{Config{}, 64, false},
		{Config{}, 1000, false},
		// With MinPages 4, stride 4 touches the first page of each window:
		// every window is consumed.
		{Config{MinPages: 4}, 4, true},
		{Config{MinPages: 4}, 3, false},
	} {
		s := newSim(t, tc.cfg, pages)
		for p := uint64(0); p < pages; p += tc.stride {
			s.touch(p)
		}
		eff := tc.cfg.Effective()
		if tc.grows {
			checkGrowth(t, "stride", s.windows, eff.MinPages, eff.MaxPages)
			continue
		}
		for i, w := range s.windows {
			if w != eff.MinPages {
				t.Fatalf("%+v stride %d: fault %d at %d got window %d, want MinPages %d", tc.cfg, tc.stride, i, s.at[i], w, eff.MinPages)
			}
		}
		if s.hits != 0 {
			t.Errorf("%+v stride %d: %d hits, want 0", tc.cfg, tc.stride, s.hits)
		}
	}
}

// grown returns a tracker whose one stream has window 256 at [255, 511),
// as after a sequential scan of pages 0..510.
func grown(t *testing.T) *Tracker {
	t.Helper()
	s := newSim(t, Config{}, 511)
	s.scan(0, 511)
	if last := s.windows[len(s.windows)-1]; last != 256 || s.at[len(s.at)-1] != 255 {
		t.Fatalf("setup: last window %d at %d, want 256 at 255", last, s.at[len(s.at)-1])
	}
	return &s.tr
}

// TestJumps: what a fault at each distance from a grown stream's window
// end [255, 511) gets.
func TestJumps(t *testing.T) {
	for _, tc := range []struct {
		name     string
		p        uint64
		n, hits  uint64
		next     uint64 // then a fault at the end of that window...
		nextN    uint64 // ...gets this window
		nextHits uint64
	}{
		{"at the end: consumed", 511, 256, 255, 511 + 256, 256, 255},
		{"within tolerance 16: consumed", 511 + 16, 256, 255, 527 + 256, 256, 255},
		{"past tolerance: wasted, halved", 511 + 17, 128, 0, 528 + 128, 256, 127},
		{"at the reach 256: wasted, halved", 511 + 256, 128, 0, 767 + 128, 256, 127},
		{"beyond the reach: random", 511 + 257, 1, 0, 768 + 1, 2, 0},
		{"backward: random", 100, 1, 0, 101, 2, 0},
		{"inside the window: random", 300, 1, 0, 301, 2, 0},
		{"far away: random", 1 << 40, 1, 0, 1<<40 + 1, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := grown(t)
			c := &Config{}
			n, hits := tr.Window(c, tc.p)
			if n != tc.n || hits != tc.hits {
				t.Fatalf("Window(%d) = %d, %d; want %d, %d", tc.p, n, hits, tc.n, tc.hits)
			}
			tr.Fetched(tc.p, n)
			n, hits = tr.Window(c, tc.next)
			if n != tc.nextN || hits != tc.nextHits {
				t.Fatalf("then Window(%d) = %d, %d; want %d, %d", tc.next, n, hits, tc.nextN, tc.nextHits)
			}
		})
	}
}

// TestHalvingFloor: repeated skips halve down to MinPages, not below.
func TestHalvingFloor(t *testing.T) {
	tr := grown(t)
	c := &Config{MinPages: 8}
	end, prev := uint64(511), uint64(256)
	for i, w := range []uint64{128, 64, 32, 16, 8, 8} {
		p := end + prev/2 + 1 // past the tolerance, within the reach
		n, hits := tr.Window(c, p)
		if n != w || hits != 0 {
			t.Fatalf("skip %d: Window(%d) = %d, %d; want %d, 0", i, p, n, hits, w)
		}
		tr.Fetched(p, n)
		end, prev = p+n, n
	}
}

func TestFetchedClipping(t *testing.T) {
	c := &Config{}
	type step struct {
		p, wantN, wantHits uint64
		fetch              uint64 // pages reported to Fetched
		fetchAt            uint64 // p for Fetched (0: same as p)
		noFetch            bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"clipped window ends early", []step{
			{p: 0, wantN: 1, fetch: 1},
			{p: 1, wantN: 2, fetch: 1}, // page 2 was present: end is 2
			{p: 3, wantN: 4, fetch: 4}, // just past the end: consumed, 0 hits (1 page fetched)
			{p: 7, wantN: 8, wantHits: 3, fetch: 3},
			{p: 10, wantN: 16, wantHits: 2, fetch: 16}, // the clipped end, not 15
		}},
		{"nothing fetched forgets the stream", []step{
			{p: 10, wantN: 1, fetch: 0},
			{p: 10, wantN: 1, fetch: 1}, // random again, not a continuation
			{p: 11, wantN: 2, fetch: 2},
		}},
		{"Fetched for another page is ignored", []step{
			{p: 20, wantN: 1, fetch: 5, fetchAt: 21},
			{p: 21, wantN: 2, fetch: 2}, // end was 21: the faulting page only
		}},
		{"no Fetched: the window is the faulting page", []step{
			{p: 30, wantN: 1, noFetch: true},
			{p: 31, wantN: 2, noFetch: true},
			{p: 32, wantN: 4, wantHits: 0, fetch: 4},
			{p: 36, wantN: 8, wantHits: 3, fetch: 8},
		}},
		{"more than asked", []step{
			{p: 40, wantN: 1, fetch: 10},
			{p: 50, wantN: 2, wantHits: 9, fetch: 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker
			for i, st := range tc.steps {
				n, hits := tr.Window(c, st.p)
				if n != st.wantN || hits != st.wantHits {
					t.Fatalf("step %d: Window(%d) = %d, %d; want %d, %d", i, st.p, n, hits, st.wantN, st.wantHits)
				}
				if st.noFetch {
					continue
				}
				at := st.p
				if st.fetchAt != 0 {
					at = st.fetchAt
				}
				tr.Fetched(at, st.fetch)
			}
		})
	}
}

func TestEdgeOfPageSpace(t *testing.T) {
	var tr Tracker
	c := &Config{}
	for _, p := range []uint64{math.MaxUint64 - 2, math.MaxUint64 - 1, math.MaxUint64, math.MaxUint64} {
		n, hits := tr.Window(c, p)
		if n < 1 || n > 256 || hits > 2 {
			t.Fatalf("Window(%#x) = %d, %d", p, n, hits)
		}
		tr.Fetched(p, 1000) // saturates instead of wrapping
	}
	n, hits := tr.Window(c, 0)
	if n != 1 || hits != 0 {
		t.Errorf("Window(0) after the end of the page space = %d, %d; want a random 1, 0", n, hits)
	}
}

func TestDisabled(t *testing.T) {
	s := newSim(t, Config{Disabled: true, MinPages: 4}, 3000)
	s.scan(0, 3000)
	if s.calls != 3000 || s.hits != 0 || s.prefetched != 0 {
		t.Errorf("disabled: %d faults, %d hits, %d prefetched for 3000 pages; want 3000, 0, 0", s.calls, s.hits, s.prefetched)
	}
	// Re-enabling starts from a clean state: nothing was recorded.
	var tr Tracker
	tr.Window(&Config{Disabled: true}, 5)
	if n, _ := tr.Window(&Config{}, 6); n != 1 {
		t.Errorf("first enabled fault after disabled ones got %d, want 1", n)
	}
}

func TestZeroValueAndReset(t *testing.T) {
	var tr Tracker
	c := &Config{}
	n0, _ := tr.Window(c, 0)
	tr.Fetched(0, n0)
	n1, _ := tr.Window(c, 1)
	tr.Fetched(1, n1)
	if n0 != 1 || n1 != 2 {
		t.Fatalf("zero Tracker: windows %d, %d; want 1, 2", n0, n1)
	}
	tr.Reset()
	if n, hits := tr.Window(c, 3); n != 1 || hits != 0 {
		t.Errorf("after Reset, Window at the old end = %d, %d; want 1, 0", n, hits)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg    Config
		errHas []string // nil: valid
	}{
		{Config{}, nil},
		{Config{Disabled: true}, nil},
		{Config{MinPages: 1, MaxPages: 1, Streams: 1}, nil},
		{Config{MinPages: MaxWindow, MaxPages: MaxWindow, Streams: MaxStreams}, nil},
		{Config{MinPages: 256}, nil},
		{Config{MinPages: 8, MaxPages: 4}, []string{"minimum window 8", "maximum window 4"}},
		{Config{MinPages: 300}, []string{"minimum window 300", "maximum window 256 pages (the default)"}},
		{Config{MaxPages: MaxWindow + 1}, []string{"1048577", "1048576"}},
		{Config{Streams: -1}, []string{"-1 stream", "1 to 64"}},
		{Config{Streams: 65}, []string{"65 stream", "1 to 64"}},
	} {
		err := tc.cfg.Validate()
		if tc.errHas == nil {
			if err != nil {
				t.Errorf("%+v: %v, want valid", tc.cfg, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v: valid, want an error", tc.cfg)
			continue
		}
		for _, s := range tc.errHas {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%+v: error %q does not mention %q", tc.cfg, err, s)
			}
		}
	}
}

func TestEffective(t *testing.T) {
	for _, tc := range []struct{ in, want Config }{
		{Config{}, Config{MinPages: 1, MaxPages: 256, Streams: 4}},
		{Config{MinPages: 3, MaxPages: 9, Streams: 2, Disabled: true}, Config{MinPages: 3, MaxPages: 9, Streams: 2, Disabled: true}},
		{Config{MinPages: 300}, Config{MinPages: 256, MaxPages: 256, Streams: 4}},
		{Config{MaxPages: 1 << 30, Streams: 100}, Config{MinPages: 1, MaxPages: MaxWindow, Streams: MaxStreams}},
		{Config{Streams: -5}, Config{MinPages: 1, MaxPages: 256, Streams: 1}},
	} {
		if got := tc.in.Effective(); got != tc.want {
			t.Errorf("%+v.Effective() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestInvalidConfigClamped: Window keeps its promises with a config that
// Validate rejects.
func TestInvalidConfigClamped(t *testing.T) {
	for _, cfg := range []Config{{MinPages: 8, MaxPages: 4}, {Streams: -3}, {Streams: 1000}, {MaxPages: 1 << 40}} {
		s := newSim(t, cfg, 1<<12)
		s.scan(0, 1<<12) // touch checks MinPages <= n <= MaxPages (effective)
		if s.calls == 0 {
			t.Fatalf("%+v: no faults", cfg)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	var tr Tracker
	c := &Config{Streams: MaxStreams}
	p := uint64(0)
	a := testing.AllocsPerRun(1000, func() {
		n, _ := tr.Window(c, p)
		tr.Fetched(p, n/2+1)
		p += n/2 + 1 + p%7
	})
	if a != 0 {
		t.Errorf("Window+Fetched: %v allocations per call, want 0", a)
	}
}

// FuzzTracker drives a Tracker like the server does (Window, then Fetched
// with a possibly clipped count, sometimes not at all, sometimes for a
// stray page) and checks the invariants: MinPages <= n <= MaxPages of the
// effective config (1 when disabled), and the total hits never exceed the
// total pages prefetched beyond the faulting pages.
func FuzzTracker(f *testing.F) {
	f.Add(uint8(0), uint16(0), int8(0), false, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint8(4), uint16(64), int8(2), false, []byte("\x00\x00\x00\x00\xff\x10\x80\x03\x03\x03"))
	f.Add(uint8(9), uint16(3), int8(-1), false, []byte("random bytes as faults"))
	f.Add(uint8(1), uint16(1000), int8(70), true, []byte{1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, lo uint8, hi uint16, streams int8, disabled bool, ops []byte) {
		cfg := Config{MinPages: uint64(lo), MaxPages: uint64(hi), Streams: int(streams), Disabled: disabled}
		eff := cfg.Effective()
		var tr Tracker
		var p, hits, prefetched uint64
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i], uint64(ops[i+1])
			switch op % 8 {
			case 0, 1, 2: // sequential-ish: just after the last window
				p += arg % 4
			case 3: // forward jump
				p += arg * 37
			case 4: // backward jump
				p -= min(p, arg*11)
			case 5: // far jump, near the top of the page space too
				p = arg << 56
			case 6: // a stray Fetched for some page
				k := arg % 16
				tr.Fetched(p+arg, k)
				prefetched += max(k, 1) - 1
				continue
			case 7:
				tr.Reset()
				continue
			}
			n, h := tr.Window(&cfg, p)
			if disabled {
				if n != 1 || h != 0 {
					t.Fatalf("disabled: Window(%d) = %d, %d", p, n, h)
				}
			} else if n < eff.MinPages || n > eff.MaxPages {
				t.Fatalf("Window(%d) = %d, outside [%d, %d] of %+v", p, n, eff.MinPages, eff.MaxPages, cfg)
			}
			hits += h
			if hits > prefetched {
				t.Fatalf("Window(%d): %d hits in total, only %d pages prefetched", p, hits, prefetched)
			}
			var k uint64
			switch arg % 5 {
			case 0: // no Fetched (a failed fetch)
				p++
				continue
			case 1: // clipped
				k = arg % (n + 1)
			default:
				k = n
			}
			tr.Fetched(p, k)
			prefetched += max(k, 1) - 1
			p += max(k, 1)
		}
	})
}

func BenchmarkWindowSequential(b *testing.B) {
	var tr Tracker
	c := &Config{}
	p := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		n, _ := tr.Window(c, p)
		tr.Fetched(p, n)
		p += n
	}
}

func BenchmarkWindowRandom64Streams(b *testing.B) {
	var tr Tracker
	c := &Config{Streams: MaxStreams}
	r := rand.New(rand.NewPCG(5, 6))
	b.ReportAllocs()
	for b.Loop() {
		p := r.Uint64N(1 << 30)
		n, _ := tr.Window(c, p)
		tr.Fetched(p, n)
	}
}

// TestAhead: once a stream is established, a reader waiting inside its
// last window gets the next window proposed (once: after Extended the
// stream is far enough ahead), the extended stream stays sequential, and
// streams on probation, readers far from a window's end, random faults and
// a disabled config get nothing.
func TestAhead(t *testing.T) {
	c := &Config{MaxPages: 16}
	var tr Tracker
	// A first fault: a stream on probation, nothing ahead.
	n, _ := tr.Window(c, 100)
	tr.Fetched(100, n)
	if _, k := tr.Ahead(c, 100); k != 0 {
		t.Fatalf("Ahead on a stream on probation proposed %d pages", k)
	}
	// Consume it: the stream grows to 2 pages [101, 103) and is established.
	n, _ = tr.Window(c, 101)
	if n != 2 {
		t.Fatalf("second sequential window %d, want 2", n)
	}
	tr.Fetched(101, n)
	start, k := tr.Ahead(c, 102)
	if start != 103 || k != 2 {
		t.Fatalf("Ahead in the last window: [%d, +%d), want [103, +2)", start, k)
	}
	tr.Extended(start, k)
	if _, k := tr.Ahead(c, 102); k != 0 {
		t.Fatalf("Ahead after Extended proposed %d more pages: the stream is a window ahead already", k)
	}
	// The reader goes on to the extended end: sequential, and the hits
	// count the extension too.
	n, hits := tr.Window(c, 105)
	if n != 4 || hits != 3 {
		t.Fatalf("fault at the extended end: window %d hits %d, want 4 and 3", n, hits)
	}
	tr.Fetched(105, n)
	// A reader far from the window's end, or outside every window, gets nothing.
	big := &Config{MaxPages: 64}
	var tb Tracker
	p := uint64(0)
	for i := 0; i < 8; i++ {
		n, _ := tb.Window(big, p)
		tb.Fetched(p, n)
		p += n
	}
	// The last window is [p-64, p).
	if s, k := tb.Ahead(big, p-64); k != 64 || s != p {
		t.Fatalf("Ahead at the window's first page (a window of 64 ends 64 pages on): [%d, +%d), want [%d, +64)", s, k, p)
	}
	tb.Extended(p, 64)
	if _, k := tb.Ahead(big, p-64); k != 0 {
		t.Fatalf("Ahead 128 pages before the stream's end proposed %d pages", k)
	}
	if _, k := tb.Ahead(big, p+1000); k != 0 {
		t.Fatalf("Ahead outside every window proposed %d pages", k)
	}
	if _, k := tb.Ahead(&Config{MaxPages: 64, Disabled: true}, p-1); k != 0 {
		t.Fatalf("Ahead with read-ahead disabled proposed %d pages", k)
	}
	// Extended of a start no stream ends at, or of 0 pages, changes nothing.
	before := tb
	tb.Extended(12345, 10)
	tb.Extended(p+64, 0)
	if tb != before {
		t.Fatal("Extended of an unknown start or of 0 pages changed the tracker")
	}
	a := testing.AllocsPerRun(1000, func() {
		s, k := tb.Ahead(big, p)
		tb.Extended(s, k)
	})
	if a != 0 {
		t.Errorf("Ahead+Extended: %v allocations per call, want 0", a)
	}
}
