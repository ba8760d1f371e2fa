// Command pagerbench measures pagerd's fault paths beside their baselines in
// one run on one machine and prints a table; -json and -svg write the full
// report and a plot of the latency distributions. See docs/BENCHMARKS.md.
//
//	go run ./cmd/pagerbench                       # every row, defaults (~1 min)
//	go run ./cmd/pagerbench -rows 'pager/' -n 50000
//	go run ./cmd/pagerbench -json bench.json -svg bench.svg
//	go run ./cmd/pagerbench -list
//	go run ./cmd/pagerbench -from bench.json -svg bench.svg  # replot a saved run
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/pagerd/pagerd/bench"
)

func main() {
	if bench.IsChild() {
		os.Exit(bench.ChildMain())
	}
	os.Exit(run())
}

func run() int {
	def := bench.DefaultConfig()
	n := flag.Int("n", def.N, "measured faults per fault row")
	warmup := flag.Int("warmup", def.Warmup, "untimed faults before the measured ones")
	duration := flag.Duration("duration", def.Duration, "cap on one row's measuring time")
	bulkMB := flag.Int64("bulkmb", def.BulkBytes>>20, "MiB each bulk row moves (iterations = this / size)")
	minIters := flag.Int("miniters", def.MinIters, "least iterations of a bulk row")
	fileMB := flag.Int64("filemb", def.FileSize>>20, "size in MiB of the file the kernel/file-* rows read")
	seqMB := flag.Int64("seqmb", def.SeqBytes>>20, "size in MiB of the object pagerd/seq-1g reads through pagerd (and kernel/file-seq-1g through mmap)")
	dir := flag.String("dir", "", "directory for the test file (default $TMPDIR or /tmp; use a real disk)")
	rowsRe := flag.String("rows", "", "run only rows whose name matches this regexp (plus their baselines)")
	noBase := flag.Bool("nobaselines", false, "with -rows: do not add the baselines of the selected rows")
	jsonOut := flag.String("json", "", "write the report as JSON to this file")
	svgOut := flag.String("svg", "", "write a plot of the latency distributions (SVG) to this file")
	list := flag.Bool("list", false, "list the rows and exit")
	notes := flag.Bool("notes", false, "also print every row's description and notes")
	quiet := flag.Bool("q", false, "no progress lines on stderr")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile of the run to this file")
	mutexProfile := flag.String("mutexprofile", "", "write a Go mutex contention profile of the run to this file")
	rowTimeout := flag.Duration("rowtimeout", 0, "abort if one row runs longer (default 10×duration + 2m)")
	from := flag.String("from", "", "measure nothing: print the table of (and -svg plot) a report saved with -json")
	flag.Parse()

	var re *regexp.Regexp
	if *rowsRe != "" {
		var err error
		if re, err = regexp.Compile(*rowsRe); err != nil {
			fmt.Fprintln(os.Stderr, "pagerbench: -rows:", err)
			return 2
		}
	}
	rows := bench.Select(re, !*noBase)
	if *list {
		for _, r := range rows {
			status := ""
			if r.Placeholder != "" {
				status = " [" + r.Placeholder + "]"
			}
			fmt.Printf("%-26s %s%s\n", r.Name, r.Desc, status)
		}
		return 0
	}
	if len(rows) == 0 && *from == "" {
		fmt.Fprintf(os.Stderr, "pagerbench: no row matches %q (see -list)\n", *rowsRe)
		return 2
	}
	cfg := def
	cfg.N, cfg.Warmup, cfg.Duration = *n, *warmup, *duration
	cfg.BulkBytes, cfg.MinIters, cfg.FileSize, cfg.Dir = *bulkMB<<20, *minIters, *fileMB<<20, *dir
	cfg.SeqBytes = *seqMB << 20
	cfg.RowTimeout = *rowTimeout
	if cfg.RowTimeout == 0 {
		cfg.RowTimeout = 10*cfg.Duration + 2*time.Minute
	}
	if cfg.N < 1 || cfg.Warmup < 0 || cfg.MinIters < 1 || cfg.Duration <= 0 || cfg.SeqBytes < 1<<20 {
		fmt.Fprintln(os.Stderr, "pagerbench: -n and -miniters must be ≥ 1, -warmup ≥ 0, -duration > 0, -seqmb ≥ 1")
		return 2
	}
	if !*quiet {
		cfg.Log = os.Stderr
	}
	if *cpuProfile != "" && *from == "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pagerbench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "pagerbench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	if *mutexProfile != "" && *from == "" {
		runtime.SetMutexProfileFraction(1)
		defer func() {
			if err := writeFile(*mutexProfile, func(f *os.File) error { return pprof.Lookup("mutex").WriteTo(f, 0) }); err != nil {
				fmt.Fprintln(os.Stderr, "pagerbench:", err)
			}
		}()
	}
	var rep *bench.Report
	if *from != "" {
		f, err := os.Open(*from)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pagerbench:", err)
			return 1
		}
		rep, err = bench.ReadJSON(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "pagerbench:", *from+":", err)
			return 1
		}
	} else {
		rep = bench.Run(cfg, rows)
	}

	if err := bench.WriteTable(os.Stdout, rep); err != nil {
		fmt.Fprintln(os.Stderr, "pagerbench:", err)
		return 1
	}
	if *notes {
		fmt.Println()
		bench.WriteNotes(os.Stdout, rep)
	}
	status := 0
	if *jsonOut != "" && *from == "" {
		if err := writeFile(*jsonOut, func(f *os.File) error { return bench.WriteJSON(f, rep) }); err != nil {
			fmt.Fprintln(os.Stderr, "pagerbench:", err)
			status = 1
		}
	}
	if *svgOut != "" {
		if err := writeFile(*svgOut, func(f *os.File) error { return bench.WriteSVG(f, rep) }); err != nil {
			fmt.Fprintln(os.Stderr, "pagerbench:", err)
			status = 1
		}
	}
	for _, r := range rep.Results {
		if len(r.Status) > 6 && r.Status[:6] == "error:" {
			status = 1
		}
	}
	return status
}

func writeFile(name string, fn func(*os.File) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
