package pager

import (
	"runtime"
	"testing"

	"github.com/pagerd/pagerd/zx"
)

// The per-fault path (fault message → request → packet → supply → wake)
// must not allocate in the steady state. This serves real faults from a C
// thread, supplying from one pre-filled aux VMO, and counts the heap
// allocations of the whole process per fault.
func TestFaultPathDoesNotAllocate(t *testing.T) {
	const pages = 256
	f := newFixture(t, pages, 0)
	aux := newAux(t, pages*ps)
	th := thread(t)
	serve := func(first, n int) {
		acc := th.Touch(f.addr+uintptr(first)*ps, uintptr(n)*ps, ps, false, 0)
		for i := 0; i < n; i++ {
			pkt, err := f.port.Wait(zx.DeadlineAfter(zx.Duration(deadline)), nil)
			if err != nil {
				t.Fatalf("fault %d: %v", i, err)
			}
			req := pkt.PageRequest()
			if err := aux.Write(pageOfOnes[:], req.Offset); err != nil {
				t.Fatal(err)
			}
			if err := f.p.SupplyPages(f.v, req.Offset, req.Length, aux, req.Offset); err != nil {
				t.Fatal(err)
			}
		}
		if r := done(t, acc); r.Faulted() {
			t.Fatalf("access faulted: %+v", r)
		}
	}
	serve(0, 16) // warm up: free lists, slices and timers reach their steady size
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	serve(16, pages-16)
	runtime.ReadMemStats(&after)
	perFault := float64(after.Mallocs-before.Mallocs) / float64(pages-16)
	t.Logf("%.2f heap allocations per fault (whole process)", perFault)
	if raceEnabled {
		t.Skip("allocation counts are only meaningful without -race")
	}
	if perFault >= 0.25 {
		t.Fatalf("%.2f allocations per fault; the fault path must not allocate", perFault)
	}
}

var pageOfOnes = func() (b [ps]byte) {
	for i := range b {
		b[i] = 1
	}
	return
}()
