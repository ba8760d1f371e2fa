package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Goal is one of the performance goals, judged on one run.
type Goal struct {
	Goal   string  `json:"goal"`
	Value  float64 `json:"value"`          // the measured ratio
	Limit  float64 `json:"limit"`          // the bound it must meet
	AtMost bool    `json:"at_most"`        // Value ≤ Limit (else ≥)
	Status string  `json:"status"`         // "met", "missed", or "not measured"
	Detail string  `json:"detail"`         // the numbers behind it
	Also   string  `json:"also,omitempty"` // a second comparison for context
}

// Off is how far the value is from the limit, as a factor ≥ 1 when the goal
// is missed: value/limit for an upper bound, limit/value for a lower one.
func (g Goal) Off() float64 {
	if g.Value <= 0 || g.Limit <= 0 {
		return 0
	}
	if g.AtMost {
		return g.Value / g.Limit
	}
	return g.Limit / g.Value
}

func evalGoals(res map[string]*Result) []Goal {
	get := func(name string) *Result {
		if r := res[name]; r != nil && r.OK() {
			return r
		}
		return nil
	}
	var gs []Goal
	judge := func(g Goal, ok bool) Goal {
		switch {
		case !ok:
			g.Status = "not measured"
		case (g.AtMost && g.Value <= g.Limit) || (!g.AtMost && g.Value >= g.Limit):
			g.Status = "met"
		default:
			g.Status = "missed"
		}
		return g
	}

	rt, raw := get("pager/roundtrip"), get("uffd/raw-go")
	g := Goal{Goal: "in-process single-page round trip median ≤ 1.3× the raw same-process handler (pager/roundtrip vs uffd/raw-go)", Limit: 1.3, AtMost: true}
	if rt != nil && raw != nil {
		g.Value = float64(rt.MedianNs) / float64(raw.MedianNs)
		g.Detail = fmt.Sprintf("%s vs %s", fmtNs(rt.MedianNs), fmtNs(raw.MedianNs))
		// The raw handler's median depends on whether the kernel keeps it on
		// the faulter's vCPU: compare with both pinned placements and memfd.
		var also []string
		for _, b := range []struct{ name, what string }{
			{"uffd/raw-c-samecpu", "raw handler, same vCPU"},
			{"uffd/raw-c-crosscpu", "raw handler, other vCPU"},
			{"uffd/raw-go-memfd", "raw handler on memfd"},
		} {
			if x := get(b.name); x != nil {
				also = append(also, fmt.Sprintf("%.2f× vs %s (%s, %s)", float64(rt.MedianNs)/float64(x.MedianNs), b.name, b.what, fmtNs(x.MedianNs)))
			}
		}
		g.Also = strings.Join(also, "; ")
	}
	gs = append(gs, judge(g, rt != nil && raw != nil))

	g = Goal{Goal: "in-process round trip p99 ≤ 3× its median (pager/roundtrip)", Limit: 3, AtMost: true}
	if rt != nil {
		g.Value = float64(rt.P99Ns) / float64(rt.MedianNs)
		g.Detail = fmt.Sprintf("p99 %s, median %s", fmtNs(rt.P99Ns), fmtNs(rt.MedianNs))
		if raw != nil {
			g.Also = fmt.Sprintf("the raw handler's own p99/median: %.2f×", float64(raw.P99Ns)/float64(raw.MedianNs))
		}
	}
	gs = append(gs, judge(g, rt != nil))

	sup, cp, cpShmem := get("pager/supply-2m"), get("uffd/copy-2m"), get("uffd/copy-shmem-2m")
	g = Goal{Goal: "supply_pages of 2 MiB ≥ 0.9× a raw UFFDIO_COPY of 2 MiB (pager/supply-2m vs uffd/copy-2m, GB/s)", Limit: 0.9}
	if sup != nil && cp != nil {
		g.Value = sup.GBPerSec / cp.GBPerSec
		g.Detail = fmt.Sprintf("%s vs %s GB/s", fmtGB(sup.GBPerSec), fmtGB(cp.GBPerSec))
		if cpShmem != nil {
			g.Also = fmt.Sprintf("vs UFFDIO_COPY of 2 MiB into memfd pages (uffd/copy-shmem-2m, %s GB/s): %.2f×", fmtGB(cpShmem.GBPerSec), sup.GBPerSec/cpShmem.GBPerSec)
		}
	}
	gs = append(gs, judge(g, sup != nil && cp != nil))

	t1, t2 := get("pager/threads-1"), get("pager/threads-2")
	g = Goal{Goal: "faults/s with 2 faulting threads ≥ 1.6× one thread (pager/threads-2 vs pager/threads-1)", Limit: 1.6}
	if t1 != nil && t2 != nil {
		g.Value = t2.FaultsPerSec / t1.FaultsPerSec
		g.Detail = fmt.Sprintf("%s vs %s faults/s", fmtRate(t2.FaultsPerSec), fmtRate(t1.FaultsPerSec))
		if r1, r2 := get("uffd/raw-go"), get("uffd/raw-go-2t"); r1 != nil && r2 != nil {
			g.Also = fmt.Sprintf("the raw handler with 2 threads (uffd/raw-go-2t vs uffd/raw-go): %.2f×", r2.FaultsPerSec/r1.FaultsPerSec)
		}
	}
	gs = append(gs, judge(g, t1 != nil && t2 != nil))

	// DIRTY: the round-trip goal applied to write-protect faults.
	dt, rawWP := get("pager/dirty"), get("uffd/raw-wp")
	g = Goal{Goal: "DIRTY round trip median ≤ 1.3× the raw write-protect handler (pager/dirty vs uffd/raw-wp; the round-trip goal applied to DIRTY)", Limit: 1.3, AtMost: true}
	if dt != nil && rawWP != nil {
		g.Value = float64(dt.MedianNs) / float64(rawWP.MedianNs)
		g.Detail = fmt.Sprintf("%s vs %s", fmtNs(dt.MedianNs), fmtNs(rawWP.MedianNs))
		var also []string
		if rt != nil {
			also = append(also, fmt.Sprintf("the READ round trip pager/roundtrip: %s (DIRTY is %.2f× it)", fmtNs(rt.MedianNs), float64(dt.MedianNs)/float64(rt.MedianNs)))
		}
		if pd := get("pagerd/dirty"); pd != nil {
			also = append(also, fmt.Sprintf("pagerd's dirty path (pagerd/dirty, across processes): %s, %.2f× the raw handler", fmtNs(pd.MedianNs), float64(pd.MedianNs)/float64(rawWP.MedianNs)))
		}
		g.Also = strings.Join(also, "; ")
	}
	gs = append(gs, judge(g, dt != nil && rawWP != nil))

	// pagerd across processes.
	prt, xraw := get("pagerd/roundtrip"), get("uffd/raw-xproc")
	g = Goal{Goal: "pagerd single-page round trip median ≤ 1.3× the raw cross-process handler (pagerd/roundtrip vs uffd/raw-xproc)", Limit: 1.3, AtMost: true}
	if prt != nil && xraw != nil {
		g.Value = float64(prt.MedianNs) / float64(xraw.MedianNs)
		g.Detail = fmt.Sprintf("%s vs %s", fmtNs(prt.MedianNs), fmtNs(xraw.MedianNs))
		var also []string
		for _, b := range []struct{ name, what string }{
			{"uffd/raw-c-samecpu", "raw handler, same vCPU"},
			{"uffd/raw-c-crosscpu", "raw handler, other vCPU"},
		} {
			if x := get(b.name); x != nil {
				also = append(also, fmt.Sprintf("%.2f× vs %s (%s, %s)", float64(prt.MedianNs)/float64(x.MedianNs), b.name, b.what, fmtNs(x.MedianNs)))
			}
		}
		g.Also = strings.Join(also, "; ")
	}
	gs = append(gs, judge(g, prt != nil && xraw != nil))

	g = Goal{Goal: "pagerd round trip p99 ≤ 3× its median (pagerd/roundtrip)", Limit: 3, AtMost: true}
	if prt != nil {
		g.Value = float64(prt.P99Ns) / float64(prt.MedianNs)
		g.Detail = fmt.Sprintf("p99 %s, median %s", fmtNs(prt.P99Ns), fmtNs(prt.MedianNs))
		if xraw != nil {
			g.Also = fmt.Sprintf("the raw cross-process handler's own p99/median: %.2f×", float64(xraw.P99Ns)/float64(xraw.MedianNs))
		}
	}
	gs = append(gs, judge(g, prt != nil))

	seq := get("pagerd/seq-prefetch")
	g = Goal{Goal: "effective cost per page of a sequential scan through pagerd with prefetch ≤ 0.15× the raw single-page round trip (pagerd/seq-prefetch ns/page vs uffd/raw-xproc median)", Limit: 0.15, AtMost: true}
	if seq != nil && xraw != nil && seq.FaultsPerSec > 0 {
		perPage := 1e9 / seq.FaultsPerSec
		g.Value = perPage / float64(xraw.MedianNs)
		g.Detail = fmt.Sprintf("%s per page vs %s", fmtNs(int64(perPage)), fmtNs(xraw.MedianNs))
		var also []string
		if xraw.FaultsPerSec > 0 {
			also = append(also, fmt.Sprintf("%.2f× the raw handler's mean cost per fault (%s)", perPage*xraw.FaultsPerSec/1e9, fmtNs(int64(1e9/xraw.FaultsPerSec))))
		}
		if prt != nil && prt.FaultsPerSec > 0 {
			also = append(also, fmt.Sprintf("%.2f× pagerd's own single-page mean cost (%s)", perPage*prt.FaultsPerSec/1e9, fmtNs(int64(1e9/prt.FaultsPerSec))))
		}
		g.Also = strings.Join(also, "; ")
	}
	gs = append(gs, judge(g, seq != nil && xraw != nil && seq.FaultsPerSec > 0))

	big, cp2 := get("pagerd/seq-1g"), cp
	g = Goal{Goal: "sequential read of a file-backed VMO through pagerd ≥ 0.7× raw UFFDIO_COPY bandwidth (pagerd/seq-1g vs uffd/copy-2m, GB/s)", Limit: 0.7}
	if big != nil && cp2 != nil {
		g.Value = big.GBPerSec / cp2.GBPerSec
		g.Detail = fmt.Sprintf("%s vs %s GB/s", fmtGB(big.GBPerSec), fmtGB(cp2.GBPerSec))
		var also []string
		if cpShmem != nil {
			also = append(also, fmt.Sprintf("%.2f× a COPY of 2 MiB into memfd pages (uffd/copy-shmem-2m, %s GB/s)", big.GBPerSec/cpShmem.GBPerSec, fmtGB(cpShmem.GBPerSec)))
		}
		if mm := get("kernel/file-seq-1g"); mm != nil {
			also = append(also, fmt.Sprintf("%.2f× a plain mmap of the same file (kernel/file-seq-1g, %s GB/s)", big.GBPerSec/mm.GBPerSec, fmtGB(mm.GBPerSec)))
		}
		g.Also = strings.Join(also, "; ")
	}
	gs = append(gs, judge(g, big != nil && cp2 != nil))

	pt2 := get("pagerd/threads-2")
	g = Goal{Goal: "pagerd faults/s with 2 faulting threads ≥ 1.6× one thread (pagerd/threads-2 vs pagerd/roundtrip)", Limit: 1.6}
	if prt != nil && pt2 != nil {
		g.Value = pt2.FaultsPerSec / prt.FaultsPerSec
		g.Detail = fmt.Sprintf("%s vs %s faults/s", fmtRate(pt2.FaultsPerSec), fmtRate(prt.FaultsPerSec))
		if c16 := get("pagerd/clients-16"); c16 != nil {
			g.Also = fmt.Sprintf("16 client processes (pagerd/clients-16): %s faults/s, %.2f× one thread", fmtRate(c16.FaultsPerSec), c16.FaultsPerSec/prt.FaultsPerSec)
		}
	}
	gs = append(gs, judge(g, prt != nil && pt2 != nil))
	return gs
}

// WriteTable prints the report as a human table.
func WriteTable(w io.Writer, rep *Report) error {
	m := rep.Machine
	fmt.Fprintf(w, "pagerbench: %s, %d CPUs (GOMAXPROCS %d), kernel %s, %s; n=%d per fault row, %.0fs\n\n",
		m.CPU, m.CPUs, m.GOMAXPROCS, m.Kernel, m.GoVersion, rep.Config.N, rep.Elapsed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "row\tsamples\tmedian\tp99\tp99.9\tfaults/s\tGB/s\tvs baseline\tbaseline\t")
	for _, r := range rep.Results {
		if !r.OK() {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\t  (%s)\n", r.Name, orDash(r.Baseline), r.Status)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, r.Samples,
			fmtNs(r.MedianNs), fmtNs(r.P99Ns), fmtNs(r.P999Ns), fmtRate(r.FaultsPerSec), fmtGB(r.GBPerSec),
			fmtRatio(r), orDash(r.Baseline))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nvs baseline: \"1.25× med\" = median 1.25 times the baseline's (slower above 1);")
	fmt.Fprintln(w, "\"1.70× f/s\" / \"0.90× GB/s\" = throughput relative to the baseline (faster above 1).")
	fmt.Fprintln(w, "\nGoals (ratios within this run):")
	unmeasured := 0
	for _, g := range rep.Goals {
		op := "≥"
		if g.AtMost {
			op = "≤"
		}
		if g.Status == "not measured" {
			unmeasured++
			continue
		}
		by := ""
		if g.Status == "missed" {
			by = fmt.Sprintf(", missed by a factor %.2f", g.Off())
		}
		fmt.Fprintf(w, "  [%s] %.2f× (want %s %.2f×%s; %s) %s\n", g.Status, g.Value, op, g.Limit, by, g.Detail, g.Goal)
		if g.Also != "" {
			fmt.Fprintf(w, "      also: %s\n", g.Also)
		}
	}
	if unmeasured > 0 {
		fmt.Fprintf(w, "  (%d goal(s) not measured: their rows were not selected, or failed)\n", unmeasured)
	}
	if rep.Load != nil {
		fmt.Fprintf(w, "\nDuring the run: %v.\n", rep.Load)
	}
	for _, s := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
	return nil
}

// WriteNotes prints every row's description and notes.
func WriteNotes(w io.Writer, rep *Report) {
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%s: %s", r.Name, r.Desc)
		if len(r.Notes) > 0 {
			fmt.Fprintf(w, " [%s]", strings.Join(r.Notes, "; "))
		}
		fmt.Fprintln(w)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtRatio(r *Result) string {
	if r.Ratio <= 0 {
		return "-"
	}
	unit := map[Metric]string{ByMedian: "med", ByFaultsPerSec: "f/s", ByGBPerSec: "GB/s"}[r.RatioBy]
	return fmt.Sprintf("%.2f× %s", r.Ratio, unit)
}

// ReadJSON reads a report written by WriteJSON. The goals are evaluated
// again from the rows (so a report saved by an older version gets the
// current goal texts).
func ReadJSON(r io.Reader) (*Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, err
	}
	byName := map[string]*Result{}
	for _, x := range rep.Results {
		byName[x.Name] = x
	}
	rep.Goals = evalGoals(byName)
	return &rep, nil
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
