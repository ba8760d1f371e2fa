//go:build linux

package uffd

// Benchmarks for the dirty-tracking choice of pager VMOs without
// ZX_VMO_TRAP_DIRTY (sync WP vs WP_ASYNC + PAGEMAP_SCAN) on memfd
// (MAP_SHARED) mappings. Run with
//
//	go test -run '^$' -bench WPMode ./uffd/
//
// Writes to registered memory come from a C thread (package faulter); the
// write latencies are measured in C (faulter.Result.Elapsed), the ioctls
// (scan, collect) in Go around the system call. Every benchmark reports its
// numbers as custom metrics; ns/op is the wall time of a whole round,
// set-up included, and is not the figure of interest. Results and the
// recommendation: docs/DIRTY-TRACKING.md.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pagerd/pagerd/internal/faulter"
	"golang.org/x/sys/unix"
)

// wpmBench is a memfd region, populated (every PTE present), tracked by one
// of the modes:
//
//	sync:   MISSING|WP on a uffd without WP_ASYNC, protected, handler running
//	async:  MISSING|WP on a WP_ASYNC uffd, protected
//	none:   not registered (no tracking): a write to a present page does not
//	        fault (the baseline; a read fault on a MAP_SHARED memfd maps the
//	        page writable, so an untracked client never write-faults)
type wpmBench struct {
	mode  string
	u     *UFFD
	fd    int
	b     []byte
	base  uintptr
	pages int
	h     *wpmSyncHandler
	s     *wpmScanner
	ft    *faulter.Thread
}

var wpmModes = []string{"sync", "async", "none"}

func newWPMBench(tb testing.TB, mode string, pages int) *wpmBench {
	tb.Helper()
	w := &wpmBench{mode: mode, pages: pages}
	w.fd = newMemfd(tb, pages)
	// Allocate the page cache (zero pages) without writing through a
	// mapping.
	if err := unix.Fallocate(w.fd, 0, 0, int64(pages*PageSize)); err != nil {
		tb.Fatalf("fallocate: %v", err)
	}
	w.b = mmapShared(tb, w.fd, pages)
	w.base = addrOf(w.b)
	switch mode {
	case "sync":
		w.u = newUFFD(tb, wpmSyncFeatures)
	case "async":
		w.u = newUFFD(tb, wpmAsyncFeatures)
	}
	if w.u != nil {
		register(tb, w.u, w.b, RegisterModeMissing|RegisterModeWP)
	}
	if _, err := populate(w.b, true); err != nil {
		tb.Fatalf("populate: %v", err)
	}
	if w.u != nil {
		wpmProtect(tb, w.u, w.b)
	}
	if mode == "sync" {
		w.h = startWPMSyncHandler(tb, w.u, w.base, pages)
	}
	w.s = newWPMScanner(tb, 1<<16)
	w.ft = wpmFaulter(tb)
	return w
}

// rearm makes pages [p, p+n) clean again (untimed set-up between rounds).
func (w *wpmBench) rearm(tb testing.TB, p, n int) {
	tb.Helper()
	addr, length := w.base+uintptr(p)*pageSize, uintptr(n)*pageSize
	switch w.mode {
	case "sync", "async":
		if err := w.u.WriteProtect(addr, length, WriteProtectModeWP); err != nil {
			tb.Fatal(err)
		}
		if w.h != nil {
			if _, err := w.h.collect(false, nil); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// write has the C thread write one byte to every stride-th page of [p,
// p+n) and returns the time it took in C.
func (w *wpmBench) write(tb testing.TB, p, n, stride int) time.Duration {
	tb.Helper()
	r, err := w.ft.Touch(w.base+uintptr(p)*pageSize, uintptr(n)*pageSize, uintptr(stride)*pageSize, true, 1).Wait(testTimeout)
	if err != nil {
		tb.Fatalf("write: %v", err)
	}
	if r.Faulted() {
		tb.Fatalf("write: signal %d at %#x", r.Signo, r.Addr)
	}
	return r.Elapsed
}

// wpmStats summarizes per-page latencies.
type wpmStats struct {
	samples []time.Duration
	total   time.Duration // sum of the timed spans
	pages   int           // pages written in them
}

func (s *wpmStats) add(d time.Duration, pages int) {
	s.samples = append(s.samples, d/time.Duration(pages))
	s.total += d
	s.pages += pages
}

func wpmPct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func (s *wpmStats) report(b *testing.B, prefix string) {
	sorted := slices.Clone(s.samples)
	slices.Sort(sorted)
	b.ReportMetric(float64(wpmPct(sorted, 0.5).Nanoseconds()), prefix+"p50-ns/page")
	b.ReportMetric(float64(wpmPct(sorted, 0.99).Nanoseconds()), prefix+"p99-ns/page")
	if s.total > 0 {
		b.ReportMetric(float64(s.pages)/s.total.Seconds(), prefix+"pages/s")
	}
}

// BenchmarkWPModeFirstWrite: the cost of the first write to a clean page.
//
//	1page:    one page per round; latency of that write
//	64pages:  a 64-page run written by one command; per-page = run/64
//	16MiB:    4096 pages written by one command (stride one page); per-page
//	          = region/4096 (throughput)
//	16MiB-each: 4096 pages, one command per page: the per-page latency
//	          distribution of a region written page by page
func BenchmarkWPModeFirstWrite(b *testing.B) {
	const regionPages = 4096
	for _, mode := range wpmModes {
		b.Run(mode, func(b *testing.B) {
			w := newWPMBench(b, mode, regionPages)
			b.Run("1page", func(b *testing.B) {
				var st wpmStats
				f0 := w.faultCount()
				for i := 0; i < b.N; i++ {
					p := i % regionPages
					w.rearm(b, p, 1)
					st.add(w.write(b, p, 1, 1), 1)
				}
				st.report(b, "")
				w.check(b, f0, &st)
			})
			b.Run("64pages", func(b *testing.B) {
				var st wpmStats
				f0 := w.faultCount()
				for i := 0; i < b.N; i++ {
					p := (i * 64) % regionPages
					w.rearm(b, p, 64)
					st.add(w.write(b, p, 64, 1), 64)
				}
				st.report(b, "")
				w.check(b, f0, &st)
			})
			b.Run("16MiB", func(b *testing.B) {
				var st wpmStats
				f0 := w.faultCount()
				for i := 0; i < b.N; i++ {
					w.rearm(b, 0, regionPages)
					st.add(w.write(b, 0, regionPages, 1), regionPages)
				}
				st.report(b, "")
				w.check(b, f0, &st)
			})
			b.Run("16MiB-each", func(b *testing.B) {
				var st wpmStats
				f0 := w.faultCount()
				for i := 0; i < b.N; i++ {
					w.rearm(b, 0, regionPages)
					for p := 0; p < regionPages; p++ {
						st.add(w.write(b, p, 1, 1), 1)
					}
				}
				st.report(b, "")
				w.check(b, f0, &st)
			})
		})
	}
}

// check verifies (outside the timed spans) that the mode saw the writes:
// the sync handler took one fault per page written since faults0, the
// async scan reports written pages.
func (w *wpmBench) check(b *testing.B, faults0 int64, st *wpmStats) {
	b.Helper()
	switch w.mode {
	case "sync":
		if got := w.h.faultCount() - faults0; got != int64(st.pages) {
			b.Errorf("sync: %d WP faults for %d first writes", got, st.pages)
		}
	case "async":
		n := 0
		if _, err := w.s.scan(w.base, w.base+uintptr(w.pages)*pageSize, ScanArgs{CategoryMask: PageIsWritten, ReturnMask: PageIsWritten}, func(r PageRegion) {
			n += int((r.End - r.Start) / uint64(pageSize))
		}); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Errorf("async: no page reports written after the round")
		}
	}
}

func (w *wpmBench) faultCount() int64 {
	if w.h == nil {
		return 0
	}
	return w.h.faultCount()
}

// wpmPattern returns the stride (in pages) that writes pct percent of the
// region (0: nothing).
func wpmPattern(pct int) int {
	switch pct {
	case 0:
		return 0
	case 100:
		return 1
	}
	return 100 / pct
}

// BenchmarkWPModeScan: PAGEMAP_SCAN for PAGE_IS_WRITTEN over 16 MiB and
// 1 GiB async-WP regions (every page present and protected) with 0, 1 %
// (every 100th page) and 100 % of the pages written, without (scan) and
// with PM_SCAN_WP_MATCHING (scan+wp, which also re-protects them, so each
// round writes the pattern again first; those writes are not in scan-ns).
// wp-range is UFFDIO_WRITEPROTECT of the whole region (the re-arm a sync-WP
// design would do at writeback begin) for comparison.
func BenchmarkWPModeScan(b *testing.B) {
	for _, size := range []struct {
		name  string
		pages int
	}{{"16MiB", 4096}, {"1GiB", 1 << 18}} {
		b.Run(size.name, func(b *testing.B) {
			w := newWPMBench(b, "async", size.pages)
			end := w.base + uintptr(size.pages)*pageSize
			for _, pct := range []int{0, 1, 100} {
				stride := wpmPattern(pct)
				want := 0
				if stride > 0 {
					want = (size.pages + stride - 1) / stride
				}
				dirty := func(b *testing.B) {
					if stride > 0 {
						w.write(b, 0, size.pages, stride)
					}
				}
				scan := func(b *testing.B, flags ScanFlags) (time.Duration, int, int) {
					n := 0
					t0 := time.Now()
					calls, err := w.s.scan(w.base, end, ScanArgs{Flags: flags, CategoryMask: PageIsWritten, ReturnMask: PageIsWritten}, func(r PageRegion) {
						n += int((r.End - r.Start) / uint64(pageSize))
					})
					d := time.Since(t0)
					if err != nil {
						b.Fatal(err)
					}
					return d, n, calls
				}
				b.Run(fmt.Sprintf("%d%%/scan", pct), func(b *testing.B) {
					w.rearm(b, 0, size.pages)
					dirty(b)
					var total time.Duration
					for i := 0; i < b.N; i++ {
						d, n, _ := scan(b, 0)
						if n != want {
							b.Fatalf("scan found %d written pages, want %d", n, want)
						}
						total += d
					}
					b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "scan-ns")
					b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/float64(size.pages), "ns/region-page")
				})
				b.Run(fmt.Sprintf("%d%%/scan+wp", pct), func(b *testing.B) {
					w.rearm(b, 0, size.pages)
					var total time.Duration
					for i := 0; i < b.N; i++ {
						dirty(b)
						d, n, _ := scan(b, ScanWPMatching)
						if n != want {
							b.Fatalf("scan+wp found %d written pages, want %d", n, want)
						}
						total += d
					}
					b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "scan-ns")
					b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/float64(size.pages), "ns/region-page")
				})
				b.Run(fmt.Sprintf("%d%%/wp-range", pct), func(b *testing.B) {
					w.rearm(b, 0, size.pages)
					var total time.Duration
					for i := 0; i < b.N; i++ {
						dirty(b)
						t0 := time.Now()
						if err := w.u.WriteProtect(w.base, uintptr(size.pages)*pageSize, WriteProtectModeWP); err != nil {
							b.Fatal(err)
						}
						total += time.Since(t0)
					}
					b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "wp-ns")
				})
			}
		})
	}
}

// BenchmarkWPModeEndToEnd: "write N pages, then collect the dirty set and
// re-arm" (the WRITEBACK_BEGIN step), for both modes, N pages spread evenly
// over a 16 MiB or 1 GiB region (all present and clean at the start of a
// round).
//
//	sync:  the C thread's writes fault one by one to the handler goroutine;
//	       collect = take the handler's bitmap, coalesce runs, re-protect
//	       each run (UFFDIO_WRITEPROTECT)
//	async: the writes are resolved by the kernel; collect = PAGEMAP_SCAN
//	       PAGE_IS_WRITTEN with PM_SCAN_WP_MATCHING
//
// write-ns is measured in C, collect-ns in Go, total-ns is their sum.
func BenchmarkWPModeEndToEnd(b *testing.B) {
	for _, size := range []struct {
		name  string
		pages int
	}{{"16MiB", 4096}, {"1GiB", 1 << 18}} {
		b.Run(size.name, func(b *testing.B) {
			for _, mode := range []string{"sync", "async"} {
				b.Run(mode, func(b *testing.B) {
					w := newWPMBench(b, mode, size.pages)
					ns := []int{1, 64, size.pages / 100, size.pages}
					for _, n := range ns {
						name := fmt.Sprintf("N=%d", n)
						switch n {
						case size.pages / 100:
							name += "(1%)"
						case size.pages:
							name += "(100%)"
						}
						b.Run(name, func(b *testing.B) {
							w.rearm(b, 0, size.pages)
							stride := size.pages / n
							var write, collect time.Duration
							var runs [][2]int
							for i := 0; i < b.N; i++ {
								write += w.write(b, 0, stride*n, stride)
								t0 := time.Now()
								got := 0
								switch mode {
								case "sync":
									var err error
									runs, err = w.h.collectRearm(runs)
									if err != nil {
										b.Fatal(err)
									}
									for _, r := range runs {
										got += r[1] - r[0]
									}
								case "async":
									if _, err := w.s.scan(w.base, w.base+uintptr(size.pages)*pageSize, ScanArgs{Flags: ScanWPMatching, CategoryMask: PageIsWritten, ReturnMask: PageIsWritten}, func(r PageRegion) {
										got += int((r.End - r.Start) / uint64(pageSize))
									}); err != nil {
										b.Fatal(err)
									}
								}
								collect += time.Since(t0)
								if got != n {
									b.Fatalf("collected %d dirty pages, want %d", got, n)
								}
							}
							b.ReportMetric(float64(write.Nanoseconds())/float64(b.N), "write-ns")
							b.ReportMetric(float64(collect.Nanoseconds())/float64(b.N), "collect-ns")
							b.ReportMetric(float64((write+collect).Nanoseconds())/float64(b.N), "total-ns")
							b.ReportMetric(float64((write+collect).Nanoseconds())/float64(b.N)/float64(n), "total-ns/page")
						})
					}
				})
			}
		})
	}
}

// collectRearm is the sync-WP collect: take the record, then re-protect
// each dirty run with its own UFFDIO_WRITEPROTECT. (Re-protecting the whole
// region in one call instead costs as much as changing every PTE even when
// few are unprotected: see wp-range in BenchmarkWPModeScan.)
func (h *wpmSyncHandler) collectRearm(runs [][2]int) ([][2]int, error) {
	return h.collect(true, runs)
}
