package bench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// The plot: one panel per group of rows (kernel baselines, raw uffd
// handlers, the pager, scaling, bulk operations). Each panel has the CDF of
// every row's latencies on a log time axis (left) and the tail on log-log
// axes (right: the fraction of samples slower than x, so p99 is where a
// curve crosses 10^-2), with a legend naming each row and its median.

var panelTitles = map[string]string{
	panelKernel: "In-kernel faults (no userspace involved)",
	panelUffd:   "Raw userfaultfd round trips (MISSING + COPY, one page per fault)",
	panelPager:  "This project: the in-process pager",
	panelPagerd: "This project: pagerd across processes (client faults, pagerd serves from its store)",
	panelScale:  "Scaling: faulting threads and VMOs (per-fault latency)",
	panelBulk:   "Bulk: time per operation (64 KiB, 2 MiB, 64 MiB)",
}

var panelOrder = []string{panelKernel, panelUffd, panelPager, panelPagerd, panelScale, panelBulk}

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// Plot geometry.
const (
	svgW       = 1240
	panelH     = 330
	headerH    = 120
	plotTop    = 44 // panel title area
	plotH      = 230
	cdfX0      = 70
	plotW      = 400
	tailX0     = cdfX0 + plotW + 70
	legendX0   = tailX0 + plotW + 30
	legendLine = 17
)

// WriteSVG draws the report's latency distributions as an SVG document.
func WriteSVG(w io.Writer, rep *Report) error {
	bw := bufio.NewWriter(w)
	var panels []string
	byPanel := map[string][]*Result{}
	for _, r := range rep.Results {
		if !r.OK() || len(r.QuantileNs) == 0 {
			continue
		}
		if byPanel[r.Panel] == nil {
			panels = append(panels, r.Panel)
		}
		byPanel[r.Panel] = append(byPanel[r.Panel], r)
	}
	ordered := []string{}
	for _, p := range panelOrder {
		if byPanel[p] != nil {
			ordered = append(ordered, p)
		}
	}
	for _, p := range panels {
		if _, known := panelTitles[p]; !known {
			ordered = append(ordered, p)
		}
	}
	height := headerH + len(ordered)*panelH + 20
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`+"\n", svgW, height, svgW, height)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	m := rep.Machine
	text(bw, 20, 28, 18, "bold", "start", "pagerbench: fault latency distributions")
	text(bw, 20, 50, 12, "normal", "start", fmt.Sprintf("%s · %s · %d CPUs (GOMAXPROCS %d) · kernel %s · %s · n=%d per fault row",
		rep.Started.Format("2006-01-02 15:04"), m.CPU, m.CPUs, m.GOMAXPROCS, m.Kernel, m.GoVersion, rep.Config.N))
	y := 72
	for _, g := range rep.Goals {
		if g.Status == "not measured" {
			continue
		}
		color := "#2ca02c"
		if g.Status != "met" {
			color = "#d62728"
		}
		fmt.Fprintf(bw, `<text x="20" y="%d" fill="%s">%s</text>`+"\n", y, color,
			html.EscapeString(fmt.Sprintf("goal %s: %.2f× — %s", g.Status, g.Value, g.Goal)))
		y += 15
	}
	byName := map[string]*Result{}
	for _, r := range rep.Results {
		byName[r.Name] = r
	}
	for i, p := range ordered {
		// Baselines shown in another panel are drawn here too, in grey,
		// so every row can be read against its baseline.
		var refs []*Result
		in := map[string]bool{}
		for _, r := range byPanel[p] {
			in[r.Name] = true
		}
		for _, r := range byPanel[p] {
			if b := byName[r.Baseline]; b != nil && b.OK() && len(b.QuantileNs) > 0 && !in[b.Name] {
				in[b.Name] = true
				refs = append(refs, b)
			}
		}
		drawPanel(bw, headerH+i*panelH, p, byPanel[p], refs)
	}
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

func text(w io.Writer, x, y, size int, weight, anchor, s string) {
	fmt.Fprintf(w, `<text x="%d" y="%d" font-size="%d" font-weight="%s" text-anchor="%s">%s</text>`+"\n", x, y, size, weight, anchor, html.EscapeString(s))
}

// style returns a row's stroke color and dash pattern.
func style(panel string, i int, r *Result) (string, string) {
	if panel != panelBulk {
		return palette[i%len(palette)], ""
	}
	kind := r.Name[:strings.LastIndexByte(r.Name, '-')]
	kinds := []string{"mem/memcpy", "uffd/copy", "uffd/copy-shmem", "uffd/move", "pager/supply", "pagerd/supply"}
	color := palette[7]
	for k, name := range kinds {
		if kind == name {
			color = palette[k%len(palette)]
		}
	}
	dash := ""
	switch {
	case strings.HasSuffix(r.Name, "-2m"):
		dash = "6,3"
	case strings.HasSuffix(r.Name, "-64m"):
		dash = "2,2"
	}
	return color, dash
}

func drawPanel(w io.Writer, top int, panel string, own, refs []*Result) {
	rows := append(append([]*Result(nil), own...), refs...)
	title := panelTitles[panel]
	if title == "" {
		title = panel
	}
	text(w, 20, top+22, 14, "bold", "start", title)
	// Time axis: whole decades around every sample.
	lo, hi := math.Inf(1), math.Inf(-1)
	maxN := 0
	for _, r := range rows {
		lo = math.Min(lo, float64(max(r.QuantileNs[0], 1)))
		hi = math.Max(hi, float64(r.QuantileNs[len(r.QuantileNs)-1]))
		maxN = max(maxN, r.Samples)
	}
	dLo, dHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dHi <= dLo {
		dHi = dLo + 1
	}
	y0 := top + plotTop
	xOf := func(x0 int, ns int64) float64 {
		v := math.Log10(math.Max(float64(ns), 1))
		return float64(x0) + (v-dLo)/(dHi-dLo)*plotW
	}
	// Tail axis: 1 down to 10^-k, k enough for the largest sample count.
	k := math.Max(2, math.Ceil(math.Log10(float64(max(maxN, 10)))))
	yCDF := func(p float64) float64 { return float64(y0) + (1-p)*plotH }
	yTail := func(q float64) float64 { return float64(y0) + (-math.Log10(q))/k*plotH }

	for _, x0 := range []int{cdfX0, tailX0} {
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", x0, y0, plotW, plotH)
		for d := dLo; d <= dHi; d++ {
			x := float64(x0) + (d-dLo)/(dHi-dLo)*plotW
			fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, y0, x, y0+plotH)
			text(w, int(x), y0+plotH+15, 11, "normal", "middle", decadeLabel(int(d)))
			for s := 2; s < 10 && d < dHi; s++ {
				xs := float64(x0) + (d+math.Log10(float64(s))-dLo)/(dHi-dLo)*plotW
				fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888"/>`+"\n", xs, y0+plotH, xs, y0+plotH-4)
			}
		}
		text(w, x0+plotW/2, y0+plotH+31, 11, "normal", "middle", "latency per fault / operation (log scale)")
	}
	for _, p := range []float64{0, 0.25, 0.5, 0.75, 1} {
		y := yCDF(p)
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", cdfX0, y, cdfX0+plotW, y)
		text(w, cdfX0-6, int(y)+4, 11, "normal", "end", fmt.Sprintf("%.2g", p))
	}
	text(w, cdfX0, y0-6, 11, "normal", "start", "CDF: fraction of samples ≤ x")
	for e := 0; e <= int(k); e++ {
		y := yTail(math.Pow(10, -float64(e)))
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", tailX0, y, tailX0+plotW, y)
		label := "1"
		if e > 0 {
			label = fmt.Sprintf("1e-%d", e)
		}
		text(w, tailX0-6, int(y)+4, 11, "normal", "end", label)
		if pl := percentileLabel(e); pl != "" {
			text(w, tailX0+plotW-4, int(y)-3, 10, "normal", "end", pl)
		}
	}
	text(w, tailX0, y0-6, 11, "normal", "start", "tail: fraction of samples > x (log)")

	for i, r := range rows {
		color, dash := style(panel, i, r)
		ref := i >= len(own)
		if ref {
			color, dash = "#555", []string{"1,3", "6,3", "2,2,6,2"}[(i-len(own))%3]
		}
		dashAttr := ""
		if dash != "" {
			dashAttr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		var cdf, tail strings.Builder
		for j, ns := range r.QuantileNs {
			p := r.QuantileP[j]
			fmt.Fprintf(&cdf, "%.1f,%.1f ", xOf(cdfX0, ns), yCDF(p))
			// The tail curve: P(X > x) just below the p-quantile is 1-p.
			if q := 1 - p; q > 0 && q >= math.Pow(10, -k) {
				fmt.Fprintf(&tail, "%.1f,%.1f ", xOf(tailX0, ns), yTail(q))
			}
		}
		// The maximum: one sample (1/n) is slower than anything before it.
		if n := len(r.QuantileNs); n > 0 && r.Samples > 0 {
			if q := 1 / float64(r.Samples); q >= math.Pow(10, -k) {
				fmt.Fprintf(&tail, "%.1f,%.1f ", xOf(tailX0, r.QuantileNs[n-1]), yTail(q))
			}
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`+"\n", color, dashAttr, cdf.String())
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`+"\n", color, dashAttr, tail.String())
		fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", xOf(cdfX0, r.MedianNs), yCDF(0.5), color)
		// Legend.
		ly := y0 + 8 + i*legendLine
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/>`+"\n", legendX0, ly, legendX0+22, ly, color, dashAttr)
		label := fmt.Sprintf("%s  %s", r.Name, fmtNs(r.MedianNs))
		if ref {
			label += " (baseline)"
		}
		text(w, legendX0+28, ly+4, 11, "normal", "start", label)
	}
	text(w, legendX0, y0-6, 11, "normal", "start", "row and median (dot on the CDF)")
}

func decadeLabel(d int) string {
	switch {
	case d < 3:
		return fmt.Sprintf("%dns", int(math.Pow(10, float64(d))))
	case d < 6:
		return fmt.Sprintf("%dµs", int(math.Pow(10, float64(d-3))))
	case d < 9:
		return fmt.Sprintf("%dms", int(math.Pow(10, float64(d-6))))
	default:
		return fmt.Sprintf("%ds", int(math.Pow(10, float64(d-9))))
	}
}

func percentileLabel(e int) string {
	switch e {
	case 1:
		return "p90"
	case 2:
		return "p99"
	case 3:
		return "p99.9"
	case 4:
		return "p99.99"
	}
	return ""
}
