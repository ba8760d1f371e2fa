package bench

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pagerd/pagerd/bench/internal/cbench"
	"github.com/pagerd/pagerd/pager"
	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

func TestMain(m *testing.M) {
	// The uffd/raw-xproc row re-executes the test binary as its child.
	if IsChild() {
		os.Exit(ChildMain())
	}
	os.Exit(m.Run())
}

// TestSmoke runs every row with a tiny configuration and checks that each
// produced sane numbers, so that the benchmark keeps working. A row that
// hangs (a fault never served) ends the test binary after rowTimeout.
func TestSmoke(t *testing.T) {
	const rowTimeout = 30 * time.Second
	cfg := SmokeConfig()
	cfg.Dir = t.TempDir()
	cfg.RowTimeout = rowTimeout
	if testing.Verbose() {
		cfg.Log = os.Stderr
	}
	start := time.Now()
	rep := Run(cfg, Rows())
	t.Logf("all %d rows in %v", len(rep.Results), time.Since(start).Round(time.Millisecond))

	byName := map[string]*Result{}
	for _, r := range rep.Results {
		byName[r.Name] = r
	}
	for _, row := range Rows() {
		r := byName[row.Name]
		switch {
		case r == nil:
			t.Errorf("%s: no result", row.Name)
		case row.Placeholder != "":
			if r.Status != row.Placeholder || r.Samples != 0 {
				t.Errorf("%s: placeholder reported %q with %d samples", row.Name, r.Status, r.Samples)
			}
		case !r.OK():
			t.Errorf("%s: %s", row.Name, r.Status)
		case r.Samples <= 0 || r.MedianNs <= 0:
			t.Errorf("%s: %d samples, median %d ns", row.Name, r.Samples, r.MedianNs)
		case !(r.MinNs <= r.MedianNs && r.MedianNs <= r.P99Ns && r.P99Ns <= r.P999Ns && r.P999Ns <= r.MaxNs):
			t.Errorf("%s: quantiles out of order: min %d median %d p99 %d p99.9 %d max %d", row.Name, r.MinNs, r.MedianNs, r.P99Ns, r.P999Ns, r.MaxNs)
		case r.GBPerSec <= 0:
			t.Errorf("%s: %v GB/s", row.Name, r.GBPerSec)
		case r.Threads > 0 && r.FaultsPerSec <= 0:
			t.Errorf("%s: fault row with %v faults/s", row.Name, r.FaultsPerSec)
		case row.Baseline != "" && byName[row.Baseline] != nil && byName[row.Baseline].OK() && r.Ratio <= 0:
			t.Errorf("%s: no ratio to its baseline %s", row.Name, row.Baseline)
		}
	}
	for _, g := range rep.Goals {
		if g.Status == "not measured" {
			t.Errorf("goal not measured: %s", g.Goal)
		}
	}

	// Every output format.
	var tbl bytes.Buffer
	if err := WriteTable(&tbl, rep); err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if !strings.Contains(tbl.String(), r.Name) {
			t.Errorf("table lacks row %s", r.Name)
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&js)
	if err != nil {
		t.Fatalf("reading the JSON back: %v", err)
	}
	if len(back.Results) != len(rep.Results) || back.Results[0].MedianNs != rep.Results[0].MedianNs {
		t.Errorf("JSON round trip lost rows")
	}
	var svg bytes.Buffer
	if err := WriteSVG(&svg, back); err != nil {
		t.Fatal(err)
	}
	checkXML(t, svg.Bytes())
	if n := strings.Count(svg.String(), "<polyline"); n < 2*len(rep.Results)-2*8 {
		t.Errorf("SVG has %d curves for %d rows", n, len(rep.Results))
	}
}

func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

func TestSelect(t *testing.T) {
	rows := Select(mustRe(t, "^pager/roundtrip$"), true)
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	got := strings.Join(names, ",")
	if got != "kernel/anon-write,uffd/raw-go,pager/roundtrip" {
		t.Errorf("Select with baselines = %s", got)
	}
	if rows := Select(mustRe(t, "^pager/roundtrip$"), false); len(rows) != 1 {
		t.Errorf("Select without baselines = %d rows", len(rows))
	}
	// Refs are added like baselines (the 1 GiB goal compares with three rows).
	names = nil
	for _, r := range Select(mustRe(t, "^pagerd/seq-1g$"), true) {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "mem/memcpy-2m,uffd/copy-2m,uffd/copy-shmem-2m,kernel/file-seq-1g,pagerd/seq-1g" {
		t.Errorf("Select of pagerd/seq-1g with baselines = %s", got)
	}
	names = nil
	seen := map[string]bool{}
	for _, r := range Rows() {
		if seen[r.Name] {
			t.Errorf("duplicate row %s", r.Name)
		}
		if r.Baseline != "" && !seen[r.Baseline] {
			t.Errorf("%s: baseline %s does not come before it", r.Name, r.Baseline)
		}
		if (r.Placeholder == "") == (r.run == nil) {
			t.Errorf("%s: needs exactly one of a run function and a placeholder", r.Name)
		}
		seen[r.Name] = true
	}
}

func TestQuantile(t *testing.T) {
	s := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 5}, {0.9, 9}, {0.99, 10}, {0.1, 1}, {1, 10}} {
		if got := quantile(s, c.q); got != c.want {
			t.Errorf("quantile(%v) = %d, want %d", c.q, got, c.want)
		}
	}
	ps, ns := quantileGrid(s)
	if len(ps) != len(ns) || ps[0] != 0 || ps[len(ps)-1] != 1 || ns[len(ns)-1] != 10 {
		t.Errorf("quantileGrid: %v %v", ps, ns)
	}
}

// ---- microbenchmarks of the hot paths (make bench) --------------------------

// BenchmarkRawRoundTrip is one fault through the minimal Go handler
// (uffd/raw-go): ns/op is the round trip seen by the faulting C thread.
func BenchmarkRawRoundTrip(b *testing.B) {
	r, err := mmapAnon(b.N * pageSize)
	if err != nil {
		b.Fatal(err)
	}
	defer r.unmap()
	if err := r.prefault(); err != nil {
		b.Fatal(err)
	}
	src, err := srcPage()
	if err != nil {
		b.Fatal(err)
	}
	defer src.unmap()
	u, err := uffd.New(0)
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Register(r.addr, uintptr(r.size), uffd.RegisterModeMissing); err != nil {
		b.Fatal(err)
	}
	h, err := startGoHandler(u, src.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer h.close()
	b.ReportAllocs()
	b.ResetTimer()
	if err := cbench.Touch([]cbench.Job{{Addrs: r.pages(b.N), CPU: -1}}); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if err := h.check(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPagerRoundTrip is one fault through the in-process runtime
// (pager/roundtrip): allocs/op counts every allocation of the fault
// reader, the port and the handler goroutine per fault.
func BenchmarkPagerRoundTrip(b *testing.B) {
	s, err := newPagerSetup(1, b.N, auxSparse)
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	s.serve(1)
	addrs := make([]uintptr, b.N)
	for i := range addrs {
		addrs[i] = s.addrs[0] + uintptr(i*pageSize)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := cbench.Touch([]cbench.Job{{Addrs: addrs, CPU: -1}}); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if err := s.check(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSupplyPage is supply_pages of one page with nobody waiting: the
// handler side's CPU cost per page (COPY, SEEK_DATA/SEEK_HOLE, WAKE-less
// resolve, aux punch), without any wake-up.
func BenchmarkSupplyPage(b *testing.B) {
	p, err := pager.New()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	const chunk = 4096 // pages per VMO: a new VMO (untimed) when one is full
	aux, err := vmo.Create(2*chunk*zx.PageSize, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer aux.OnZeroHandles()
	page := bytes.Repeat([]byte{0x5A}, zx.PageSize)
	var v *vmo.VMO
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pg := uint64(i % chunk)
		if pg == 0 {
			b.StopTimer()
			if v != nil {
				v.OnZeroHandles()
			}
			if v, err = p.CreateVMO(0, port.New(), 0, chunk*zx.PageSize); err != nil {
				b.Fatal(err)
			}
			for j := uint64(0); j < chunk; j++ {
				if err := aux.Write(page, 2*j*zx.PageSize); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		if err := p.SupplyPages(v, pg*zx.PageSize, zx.PageSize, aux, 2*pg*zx.PageSize); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if v != nil {
		v.OnZeroHandles()
	}
}

func mustRe(t *testing.T, s string) *regexp.Regexp {
	t.Helper()
	re, err := regexp.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return re
}

// BenchmarkPagerDirty is one DIRTY round trip through the in-process
// runtime (pager/dirty): a C thread's first write to a clean page of a
// TRAP_DIRTY VMO, the DIRTY packet, OP_DIRTY. allocs/op counts every
// allocation of the process per write (the set-up included).
func BenchmarkPagerDirty(b *testing.B) {
	s, err := newPagerSetupOpts(1, b.N, auxPrefill, zx.VMOTrapDirty)
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	if err := s.p.SupplyPages(s.vmos[0], 0, s.size, s.auxes[0], 0); err != nil {
		b.Fatal(err)
	}
	s.serve(1)
	addrs := s.addrsOf(0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	if err := cbench.Touch([]cbench.Job{{Addrs: addrs, Write: true, CPU: -1}}); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if err := s.check(); err != nil {
		b.Fatal(err)
	}
	// The handler counts a request after OP_DIRTY has woken the writer.
	for deadline := time.Now().Add(5 * time.Second); s.dirties.Load() < uint64(b.N) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if d := s.dirties.Load(); d != uint64(b.N) {
		b.Fatalf("%d DIRTY requests for %d writes", d, b.N)
	}
}

// BenchmarkPagerdRoundTrip is one single-page fault of a client process
// served by pagerd running in this process (pagerd/roundtrip). ns/op
// includes starting pagerd and the client; fault-ns is the client's median
// per fault and pagerd-allocs/fault counts the heap allocations of this
// process (pagerd) while the client faulted, which should be 0.
func BenchmarkPagerdRoundTrip(b *testing.B) {
	cfg := SmokeConfig()
	cfg.Dir, cfg.N, cfg.Warmup, cfg.Duration = b.TempDir(), b.N, 0, time.Hour
	e := &env{cfg: cfg}
	defer e.close()
	b.ReportAllocs()
	m, err := pagerdFaultRow(1, 1)(e)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	s := sortedCopy(m.samples)
	b.ReportMetric(float64(quantile(s, 0.5)), "fault-ns")
	b.ReportMetric(m.pagerdAllocs, "pagerd-allocs/fault")
}
