package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pagerd/pagerd/client"
	"github.com/pagerd/pagerd/internal/faulter"
)

// Stress across processes: several client processes hammer pagerd at
// once for a while. Each reads random runs of shared read-only objects
// (checked against the store's bytes), writes whole pages it owns in a
// shared writable object with versioned content and reads them back
// (checked against its last write), populates ranges and syncs at random.
// At the end every page of the writable object in the store must hold its
// owner's last version: nothing lost, nothing torn, no zeros.

const (
	stressROObjects = 3
	stressROPages   = 96
	stressRWPages   = 64
)

// stressReport is what a stress child answers (base64 JSON in result.Data).
type stressReport struct {
	Reads, Writes, Syncs, Populates, PagesChecked int
	Last                                          map[int]uint64 // page -> last version written
	Errors                                        []string
}

// TestStressAcrossProcesses runs 4 client processes for
// PAGERD_STRESS_DURATION (default 3 s).
func TestStressAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("stress")
	}
	dur := budgetFrom("PAGERD_STRESS_DURATION", 3*time.Second)
	const clients = 4
	dir := t.TempDir()
	for i := 0; i < stressROObjects; i++ {
		writeFile(t, dir, fmt.Sprintf("ro-%d", i), pattern(stressROPages*page, uint64(100+i)))
	}
	writeFile(t, dir, "rw", pattern(stressRWPages*page, 200))
	d := startDaemon(t, dir, "-log-level", "warn", "-writeback-interval", "50ms", "-max-outstanding", "8")

	reports := make([]stressReport, clients)
	var wg sync.WaitGroup
	children := make([]*child, clients)
	for i := range children {
		children[i] = startChild(t, d.sock)
		children[i].must("dial")
	}
	start := time.Now()
	for i, c := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(fmt.Sprintf("stress %d %d %d", i, clients, dur.Milliseconds()))
		}()
	}
	wg.Wait()
	for i, c := range children {
		r := answerWithin(t, c, dur+2*waitFor)
		if !r.OK {
			t.Fatalf("stress child %d: %s", i, r.Err)
		}
		if err := json.Unmarshal(r.bytes(), &reports[i]); err != nil {
			t.Fatalf("stress child %d: report: %v", i, err)
		}
		c.must("close")
		c.send("exit")
	}
	took := time.Since(start)
	var total stressReport
	for i, rep := range reports {
		for _, e := range rep.Errors {
			t.Errorf("child %d: %s", i, e)
		}
		total.Reads += rep.Reads
		total.Writes += rep.Writes
		total.Syncs += rep.Syncs
		total.Populates += rep.Populates
		total.PagesChecked += rep.PagesChecked
	}
	t.Logf("%d client processes for %v: %d reads, %d page writes, %d populates, %d syncs; %d pages checked (%.0f pages/s)",
		clients, took.Round(time.Millisecond), total.Reads, total.Writes, total.Populates, total.Syncs, total.PagesChecked,
		float64(total.PagesChecked)/took.Seconds())
	if total.Writes == 0 || total.Reads == 0 {
		t.Fatalf("the stress did nothing: %+v", total)
	}
	// Every client has left: pagerd writes "rw" back and closes it.
	eventually(t, "pagerd to close the VMOs", func() bool { return metricValue(d.scrape(), "pagerd_vmos") == 0 })
	got, err := os.ReadFile(filepath.Join(dir, "rw"))
	if err != nil {
		t.Fatal(err)
	}
	orig := pattern(stressRWPages*page, 200)
	for p := 0; p < stressRWPages; p++ {
		owner := p % clients
		want := orig[p*page : (p+1)*page]
		if v, ok := reports[owner].Last[p]; ok {
			want = versionPage(p, v)
		}
		if !bytes.Equal(got[p*page:(p+1)*page], want) {
			t.Errorf("store page %d (owner %d): % x..., want % x...", p, owner, got[p*page:p*page+16], want[:16])
		}
	}
	if !d.alive() {
		t.Fatalf("pagerd died\n%s", d.logs())
	}
}

// answerWithin waits up to d for c's next answer.
func answerWithin(t *testing.T, c *child, d time.Duration) result {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			t.Fatalf("child exited (%v)", c.cmd.ProcessState)
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("child: bad answer %q", line)
		}
		return r
	case <-time.After(d):
		t.Fatalf("child: no answer in %v", d)
	}
	return result{}
}

// childStress is the stress workload of client id of n, run for ms
// milliseconds in a child process; c is its connection. The answer's Data
// is a stressReport.
func childStress(c *client.Client, id, n int, ms uint64) (result, error) {
	rep := stressReport{Last: map[int]uint64{}}
	fail := func(format string, args ...any) {
		if len(rep.Errors) < 20 {
			rep.Errors = append(rep.Errors, fmt.Sprintf(format, args...))
		}
	}
	type ro struct {
		m    *client.Mapping
		data []byte
	}
	var ros []ro
	for i := 0; i < stressROObjects; i++ {
		v, err := c.Open(fmt.Sprintf("ro-%d", i), client.ReadOnly, 0)
		if err != nil {
			return result{}, err
		}
		m, err := v.Map(0, stressROPages*page, false)
		if err != nil {
			return result{}, err
		}
		ros = append(ros, ro{m, pattern(stressROPages*page, uint64(100+i))})
	}
	rwv, err := c.Open("rw", 0, 0)
	if err != nil {
		return result{}, err
	}
	rw, err := rwv.Map(0, stressRWPages*page, true)
	if err != nil {
		return result{}, err
	}
	orig := pattern(stressRWPages*page, 200)
	var mine []int
	for p := id; p < stressRWPages; p += n {
		mine = append(mine, p)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(id)))
	seq := uint64(id) << 32
	deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
	for time.Now().Before(deadline) {
		switch op := rng.IntN(100); {
		case op < 45: // read a run of a read-only object
			o := ros[rng.IntN(len(ros))]
			p := rng.IntN(stressROPages)
			k := 1 + rng.IntN(min(16, stressROPages-p))
			r, err := faulter.ReadAt(o.m.Addr()+uintptr(p*page), k*page, waitFor)
			rep.Reads++
			switch {
			case err != nil || r.Sigbus:
				fail("read ro [%d,+%d): %v sigbus=%v", p, k, err, r.Sigbus)
			case !bytes.Equal(r.Data, o.data[p*page:(p+k)*page]):
				fail("read ro [%d,+%d): wrong bytes", p, k)
			}
			rep.PagesChecked += k
		case op < 75: // write one of my pages
			p := mine[rng.IntN(len(mine))]
			seq++
			r, err := faulter.WriteAt(rw.Addr()+uintptr(p*page), versionPage(p, seq), waitFor)
			rep.Writes++
			if err != nil || r.Sigbus {
				fail("write page %d: %v sigbus=%v", p, err, r.Sigbus)
				continue
			}
			rep.Last[p] = seq
		case op < 92: // read my page back
			p := mine[rng.IntN(len(mine))]
			want := orig[p*page : (p+1)*page]
			if v, ok := rep.Last[p]; ok {
				want = versionPage(p, v)
			}
			r, err := faulter.ReadAt(rw.Addr()+uintptr(p*page), page, waitFor)
			rep.Reads++
			rep.PagesChecked++
			if err != nil || r.Sigbus || !bytes.Equal(r.Data, want) {
				fail("read back page %d: %v sigbus=%v equal=%v", p, err, r.Sigbus, bytes.Equal(r.Data, want))
			}
		case op < 97: // populate a run of a read-only object
			o := ros[rng.IntN(len(ros))]
			p := rng.IntN(stressROPages)
			k := 1 + rng.IntN(stressROPages-p)
			if err := o.m.Populate(uint64(p*page), uint64(k*page), false); err != nil {
				fail("populate [%d,+%d): %v", p, k, err)
			}
			rep.Populates++
		default:
			if _, err := rwv.Sync(); err != nil {
				fail("sync: %v", err)
			}
			rep.Syncs++
		}
	}
	if _, err := rwv.Sync(); err != nil {
		fail("final sync: %v", err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return result{}, err
	}
	return result{Data: base64.StdEncoding.EncodeToString(b)}, nil
}
