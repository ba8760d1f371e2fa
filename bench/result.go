package bench

import (
	"fmt"
	"math"
	"sort"
)

// Result is one row of the report.
type Result struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	Desc  string `json:"desc"`
	Panel string `json:"panel"`
	// Status is "ok", "error: ...", or why the row is not measured yet
	// ("not yet: ...", "pagerd not built yet").
	Status string `json:"status"`

	Samples  int     `json:"samples"`
	Threads  int     `json:"threads,omitempty"`
	MinNs    int64   `json:"min_ns"`
	MedianNs int64   `json:"median_ns"`
	MeanNs   float64 `json:"mean_ns"`
	P90Ns    int64   `json:"p90_ns"`
	P99Ns    int64   `json:"p99_ns"`
	P999Ns   int64   `json:"p999_ns"`
	MaxNs    int64   `json:"max_ns"`
	// FaultsPerSec is faults (page touches) per second of measured time,
	// all faulting threads together; 0 for rows without faults.
	FaultsPerSec float64 `json:"faults_per_s"`
	// GBPerSec is bytes made present (or copied) per second, 1e9 bytes.
	GBPerSec float64 `json:"gb_per_s"`

	Baseline string  `json:"baseline,omitempty"`
	RatioBy  Metric  `json:"ratio_by,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"` // 0: no ratio (no baseline, or it did not run)

	Notes []string `json:"notes,omitempty"`

	// The latency distribution for plots: QuantileNs[i] is the
	// QuantileP[i] quantile (a grid dense in the tail).
	QuantileP  []float64 `json:"quantile_p,omitempty"`
	QuantileNs []int64   `json:"quantile_ns,omitempty"`
}

// OK reports whether the row was measured.
func (r *Result) OK() bool { return r.Status == "ok" }

func (r *Result) fill(m *measurement) {
	r.Status = "ok"
	r.Notes = m.notes
	r.Threads = m.threads
	s := sortedCopy(m.samples)
	r.Samples = len(s)
	if len(s) == 0 {
		r.Status = "error: no samples"
		return
	}
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	r.MeanNs = sum / float64(len(s))
	r.MinNs, r.MaxNs = s[0], s[len(s)-1]
	r.MedianNs = quantile(s, 0.5)
	r.P90Ns = quantile(s, 0.9)
	r.P99Ns = quantile(s, 0.99)
	r.P999Ns = quantile(s, 0.999)
	if m.wallNs > 0 {
		secs := float64(m.wallNs) / 1e9
		if m.faults > 0 {
			r.FaultsPerSec = float64(m.faults) / secs
		}
		r.GBPerSec = float64(m.bytes) / secs / 1e9
	}
	r.QuantileP, r.QuantileNs = quantileGrid(s)
}

// quantile is the nearest-rank q-quantile of sorted s.
func quantile(s []int64, q float64) int64 {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(s)))) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

// quantileGrid samples the distribution of sorted s for plotting: 101
// evenly spaced quantiles plus a logarithmic grid towards the maximum
// (1-10^-1 ... 1-1/n), then the maximum.
func quantileGrid(s []int64) ([]float64, []int64) {
	n := len(s)
	var ps []float64
	for i := 0; i <= 100; i++ {
		ps = append(ps, float64(i)/100)
	}
	for x := 1.0; x < math.Log10(float64(n)); x += 0.05 {
		ps = append(ps, 1-math.Pow(10, -x))
	}
	ps = append(ps, 1)
	sort.Float64s(ps)
	var outP []float64
	var outNs []int64
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		outP = append(outP, p)
		if p == 0 {
			outNs = append(outNs, s[0])
		} else {
			outNs = append(outNs, quantile(s, p))
		}
	}
	return outP, outNs
}

// ratio compares a row with its baseline by the row's metric.
func ratio(by Metric, r, b *Result) float64 {
	var num, den float64
	switch by {
	case ByMedian:
		num, den = float64(r.MedianNs), float64(b.MedianNs)
	case ByFaultsPerSec:
		num, den = r.FaultsPerSec, b.FaultsPerSec
	case ByGBPerSec:
		num, den = r.GBPerSec, b.GBPerSec
	}
	if num <= 0 || den <= 0 {
		return 0
	}
	return num / den
}

// fmtNs prints a duration in ns with three significant digits.
func fmtNs(ns int64) string {
	v := float64(ns)
	switch {
	case ns <= 0:
		return "-"
	case v < 1e3:
		return fmt.Sprintf("%dns", ns)
	case v < 1e6:
		return sig3(v/1e3) + "µs"
	case v < 1e9:
		return sig3(v/1e6) + "ms"
	default:
		return sig3(v/1e9) + "s"
	}
}

// sig3 prints v (≥ 1) with three significant digits.
func sig3(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// fmtRate prints a rate with a k/M suffix.
func fmtRate(v float64) string {
	switch {
	case v <= 0:
		return "-"
	case v < 1e3:
		return fmt.Sprintf("%.0f", v)
	case v < 1e6:
		return sig3(v/1e3) + "k"
	default:
		return sig3(v/1e6) + "M"
	}
}

func fmtGB(v float64) string {
	switch {
	case v <= 0:
		return "-"
	case v < 0.01:
		return fmt.Sprintf("%.4f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}
