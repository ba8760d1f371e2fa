// Package bench measures pagerd's fault paths beside the baselines they must
// be judged against, all in one run on one machine: in-kernel faults, a
// plain file mmap, minimal raw userfaultfd handlers (in this process, in C,
// across processes), bulk UFFDIO_COPY / UFFDIO_MOVE / memcpy, and this
// project's pager (single-page round trip, zx_vmo_read, several faulting
// threads, many VMOs, supply_pages of large runs). Every row reports the
// median, p99 and p99.9 latency, faults/s, GB/s and its ratio to a baseline
// row measured in the same run; the report is a table, JSON and an SVG plot
// of the latency distributions. cmd/pagerbench is the command;
// docs/BENCHMARKS.md explains every row.
//
// The Go fault hazard: no goroutine here ever loads or stores memory that is
// registered with a userfaultfd served in this process. Faults are taken by
// C pthreads (package bench/internal/cbench), by a child process, or never
// (bulk ioctls move pages the Go side does not touch).
package bench

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Config sets how much every row measures.
type Config struct {
	// N is the number of measured faults per fault row (per row, spread
	// over its faulting threads). p99.9 needs a few thousand at least.
	N int
	// Warmup faults are taken and discarded before the measured ones.
	Warmup int
	// Duration caps the measuring time of one row: a fault row stops at
	// the first batch boundary after it, a bulk row after the iteration
	// in progress (it still does at least MinIters).
	Duration time.Duration
	// BulkBytes is how many bytes each bulk row moves in total
	// (iterations = BulkBytes / size, at least MinIters).
	BulkBytes int64
	// MinIters is the least number of iterations of a bulk row.
	MinIters int
	// FileSize is the size of the file the kernel/file-* rows map.
	FileSize int64
	// SeqBytes is the size of the object pagerd/seq-1g reads through
	// pagerd (and kernel/file-seq-1g through a plain mmap); 1 GiB by
	// default.
	SeqBytes int64
	// Dir holds the temporary file ("" = os.TempDir()). Use a directory on
	// a real disk: on tmpfs the "cold" rows are not cold.
	Dir string
	// Log receives progress lines (nil: none).
	Log io.Writer
	// RowTimeout, if set, ends the process (exit status 3) when one row
	// runs longer: a fault that is never served blocks a C thread for
	// good, and nothing else can end it.
	RowTimeout time.Duration
}

// DefaultConfig is what `go run ./cmd/pagerbench` measures: about a minute
// on 2 vCPUs.
func DefaultConfig() Config {
	return Config{
		N:         20000,
		Warmup:    500,
		Duration:  5 * time.Second,
		BulkBytes: 1 << 30,
		MinIters:  5,
		FileSize:  256 << 20,
		SeqBytes:  1 << 30,
	}
}

// SmokeConfig is a very small configuration for tests.
func SmokeConfig() Config {
	return Config{
		N:         64,
		Warmup:    8,
		Duration:  time.Second,
		BulkBytes: 4 << 20,
		MinIters:  2,
		FileSize:  8 << 20,
		SeqBytes:  4 << 20,
	}
}

// Metric says which number a row's ratio compares.
type Metric string

const (
	// ByMedian: row median / baseline median (above 1 = slower).
	ByMedian Metric = "median"
	// ByFaultsPerSec: row faults/s / baseline faults/s (above 1 = faster).
	ByFaultsPerSec Metric = "faults/s"
	// ByGBPerSec: row GB/s / baseline GB/s (above 1 = faster).
	ByGBPerSec Metric = "GB/s"
)

// Row is one line of the report.
type Row struct {
	Name     string // "group/what", e.g. "pager/roundtrip"
	Desc     string // one line: what is measured
	Panel    string // which plot panel shows it
	Baseline string // the row it is compared with ("" for none)
	RatioBy  Metric
	// Refs are further rows a goal compares this row with; Select adds
	// them like baselines.
	Refs []string
	// Placeholder, when set, says why the row is not measured yet.
	Placeholder string

	run func(*env) (*measurement, error)
}

// Group is the part of the name before the slash.
func (r *Row) Group() string {
	for i := 0; i < len(r.Name); i++ {
		if r.Name[i] == '/' {
			return r.Name[:i]
		}
	}
	return r.Name
}

// measurement is what a row's run function returns.
type measurement struct {
	samples []int64 // ns per fault (fault rows) or per operation (bulk rows)
	faults  int64   // faults (page touches) measured; 0 for bulk rows
	bytes   int64   // bytes moved during the measured time
	wallNs  int64   // measured time: the throughput denominator
	threads int     // faulting threads (fault rows)
	notes   []string
	// startNs and endNs (CLOCK_MONOTONIC, fault rows) are the start of the
	// first measured batch and the end of the last: the span over which
	// several processes' faults/s are added up.
	startNs, endNs int64
	// pagerdAllocs (pagerd rows) is the heap allocations of the process
	// running pagerd, per touch, while the clients faulted.
	pagerdAllocs float64
}

func (m *measurement) note(format string, args ...any) {
	m.notes = append(m.notes, fmt.Sprintf(format, args...))
}

// env is what a run shares between rows.
type env struct {
	cfg     Config
	file    *testFile // lazily created for the kernel/file-* rows
	pd      *pdStore  // lazily created for the pagerd rows
	tmpDirs []string  // removed by close
}

func (e *env) logf(format string, args ...any) {
	if e.cfg.Log != nil {
		fmt.Fprintf(e.cfg.Log, format+"\n", args...)
	}
}

func (e *env) close() {
	if e.file != nil {
		e.file.close()
		e.file = nil
	}
	for _, d := range e.tmpDirs {
		os.RemoveAll(d)
	}
	e.tmpDirs, e.pd = nil, nil
}

// Rows returns every row in report order (a baseline always comes before
// the rows compared with it).
func Rows() []*Row { return allRows() }

// Select returns the rows whose name matches re, plus the baselines they
// need (transitively) when withBaselines is set, in report order.
func Select(re *regexp.Regexp, withBaselines bool) []*Row {
	rows := Rows()
	byName := map[string]*Row{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	want := map[string]bool{}
	var add func(name string)
	add = func(name string) {
		if want[name] {
			return
		}
		want[name] = true
		if r := byName[name]; r != nil && withBaselines {
			if r.Baseline != "" {
				add(r.Baseline)
			}
			for _, ref := range r.Refs {
				add(ref)
			}
		}
	}
	for _, r := range rows {
		if re == nil || re.MatchString(r.Name) {
			add(r.Name)
		}
	}
	var out []*Row
	for _, r := range rows {
		if want[r.Name] {
			out = append(out, r)
		}
	}
	return out
}

// Report is the outcome of a run.
type Report struct {
	Started  time.Time `json:"started"`
	Elapsed  float64   `json:"elapsed_s"`
	Machine  Machine   `json:"machine"`
	Config   ConfigOut `json:"config"`
	Results  []*Result `json:"rows"`
	Goals    []Goal    `json:"goals"`
	Load     *Load     `json:"load,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
}

// ConfigOut is Config as recorded in the JSON.
type ConfigOut struct {
	N         int     `json:"n"`
	Warmup    int     `json:"warmup"`
	Duration  float64 `json:"duration_s"`
	BulkBytes int64   `json:"bulk_bytes"`
	MinIters  int     `json:"min_iters"`
	FileSize  int64   `json:"file_size"`
	SeqBytes  int64   `json:"seq_bytes"`
	Dir       string  `json:"dir"`
}

// Run measures rows in order and returns the report. A row that fails is
// reported with its error; the others still run.
func Run(cfg Config, rows []*Row) *Report {
	rep := &Report{Started: time.Now(), Machine: machineInfo()}
	rep.Config = ConfigOut{N: cfg.N, Warmup: cfg.Warmup, Duration: cfg.Duration.Seconds(),
		BulkBytes: cfg.BulkBytes, MinIters: cfg.MinIters, FileSize: cfg.FileSize, SeqBytes: cfg.SeqBytes, Dir: cfg.Dir}
	e := &env{cfg: cfg}
	defer e.close()
	cpu0, cpuOK := sampleCPU()
	byName := map[string]*Result{}
	for _, r := range rows {
		res := &Result{Name: r.Name, Group: r.Group(), Desc: r.Desc, Panel: r.Panel, Baseline: r.Baseline, RatioBy: r.RatioBy}
		switch {
		case r.Placeholder != "":
			res.Status = r.Placeholder
		default:
			e.logf("running %s ...", r.Name)
			t0 := time.Now()
			var watchdog *time.Timer
			if cfg.RowTimeout > 0 {
				name := r.Name
				watchdog = time.AfterFunc(cfg.RowTimeout, func() {
					fmt.Fprintf(os.Stderr, "pagerbench: row %s did not finish within %v (a fault never served?); giving up\n", name, cfg.RowTimeout)
					os.Exit(3)
				})
			}
			m, err := r.run(e)
			if watchdog != nil {
				watchdog.Stop()
			}
			runtime.GC() // keep one row's garbage out of the next row's measurement
			if err != nil {
				res.Status = "error: " + err.Error()
				e.logf("  %s: %v", r.Name, err)
			} else {
				res.fill(m)
				e.logf("  %s: median %s p99 %s (%d samples, %.1fs)", r.Name, fmtNs(res.MedianNs), fmtNs(res.P99Ns), res.Samples, time.Since(t0).Seconds())
			}
		}
		if b := byName[r.Baseline]; b != nil && res.Status == "ok" && b.Status == "ok" {
			res.Ratio = ratio(r.RatioBy, res, b)
		}
		byName[r.Name] = res
		rep.Results = append(rep.Results, res)
	}
	rep.Goals = evalGoals(byName)
	rep.Elapsed = time.Since(rep.Started).Seconds()
	if cpu1, ok := sampleCPU(); ok && cpuOK {
		l := loadBetween(cpu0, cpu1, runtime.NumCPU())
		rep.Load = &l
		if l.OtherBusy > 0.10 || l.Steal > 0.05 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the machine was busy during the run (%v): expect noisier numbers", l))
		}
	}
	return rep
}

// Machine describes where the run happened.
type Machine struct {
	Kernel     string `json:"kernel"`
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go"`
	MemTotal   string `json:"mem_total"`
	Hostname   string `json:"hostname"`
}

func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = procField(string(b), "model name")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = procField(string(b), "MemTotal")
	}
	m.Hostname, _ = os.Hostname()
	return m
}

func procField(s, key string) string {
	for len(s) > 0 {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		if len(line) > len(key) && line[:len(key)] == key {
			if i := strings.IndexByte(line, ':'); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return ""
}

// sortedCopy returns the samples sorted ascending.
func sortedCopy(s []int64) []int64 {
	c := append([]int64(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c
}
