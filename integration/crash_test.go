package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pagerd/pagerd/client"
	"github.com/pagerd/pagerd/internal/faulter"
)

// Fault injection: pagerd SIGKILLed at random moments of its write-back.
// The store must then hold, page by page, either the version that was
// there before that write-back or the one being written (never a mix of
// two versions within a page), and every page whose Sync returned must
// keep the synced version.

const crashPages = 48

// budgetFrom returns how long a reliability test may run: the duration in
// env (a Go duration), else def. `make stress DURATION=...` sets it.
func budgetFrom(env string, def time.Duration) time.Duration {
	if s := os.Getenv(env); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
	}
	return def
}

// versionPage is page p at version v: 256 copies of the 16-byte record
// (p, v), so any mix of two versions within the page is detected.
func versionPage(p int, v uint64) []byte {
	b := make([]byte, page)
	for off := 0; off < page; off += 16 {
		binary.LittleEndian.PutUint64(b[off:], uint64(p))
		binary.LittleEndian.PutUint64(b[off+8:], v)
	}
	return b
}

// pageVersion decodes a page written by versionPage; ok is false if the
// page is torn or belongs to another page.
func pageVersion(p int, b []byte) (v uint64, ok bool) {
	v = binary.LittleEndian.Uint64(b[8:])
	return v, bytes.Equal(b, versionPage(p, v))
}

// TestKillDuringWriteback repeats: write new versions of a random group
// of pages through a mapping, sometimes Sync (acknowledged), write another
// group, start a write-back (Sync in the background, and the periodic one
// every few ms) and SIGKILL pagerd a random moment later; restart pagerd
// and read every page back through it.
func TestKillDuringWriteback(t *testing.T) {
	if testing.Short() {
		t.Skip("kills pagerd repeatedly")
	}
	budget := budgetFrom("PAGERD_CRASH_DURATION", 6*time.Second)
	dir := t.TempDir()
	var initial []byte
	for p := 0; p < crashPages; p++ {
		initial = append(initial, versionPage(p, 0)...)
	}
	writeFile(t, dir, "db", initial)
	d := startDaemon(t, dir, "-writeback-interval", "3ms", "-log-level", "warn")

	durable := make([]uint64, crashPages) // version each page must hold at least
	next := uint64(1)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var rounds, acked, newer, older int
	deadline := time.Now().Add(budget)
	for rounds < 200 && time.Now().Before(deadline) {
		rounds++
		c, err := client.Dial(d.sock, &client.Options{DialTimeout: waitFor, RequestTimeout: waitFor})
		if err != nil {
			t.Fatalf("round %d: dial: %v\n%s", rounds, err, d.logs())
		}
		v, err := c.Open("db", 0, 0)
		if err != nil {
			t.Fatalf("round %d: open: %v", rounds, err)
		}
		m, err := v.Map(0, crashPages*page, true)
		if err != nil {
			t.Fatalf("round %d: map: %v", rounds, err)
		}
		write := func(group []int, ver uint64) {
			for _, p := range group {
				r, err := faulter.WriteAt(m.Addr()+uintptr(p*page), versionPage(p, ver), waitFor)
				if err != nil || r.Sigbus {
					t.Fatalf("round %d: write of page %d: %v sigbus=%v", rounds, p, err, r.Sigbus)
				}
			}
		}
		// 1. A group written and synced: acknowledged.
		if rng.IntN(2) == 0 {
			g, ver := randomGroup(rng), next
			next++
			write(g, ver)
			if _, err := v.Sync(); err != nil {
				t.Fatalf("round %d: sync: %v", rounds, err)
			}
			for _, p := range g {
				durable[p] = ver
			}
			acked++
		}
		// 2. A group written, then a write-back cut short by SIGKILL.
		inflight, ver := randomGroup(rng), next
		next++
		write(inflight, ver)
		go v.Sync() // fails once pagerd is gone
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
		d.kill()
		c.Close()

		d.start()
		got := readAll(t, d)
		inGroup := map[int]bool{}
		for _, p := range inflight {
			inGroup[p] = true
		}
		for p := 0; p < crashPages; p++ {
			gv, ok := pageVersion(p, got[p*page:(p+1)*page])
			switch {
			case !ok:
				t.Fatalf("round %d: page %d is torn or misplaced after the kill: % x ...", rounds, p, got[p*page:p*page+32])
			case gv == durable[p]:
				if inGroup[p] {
					older++
				}
			case inGroup[p] && gv == ver:
				newer++
				durable[p] = ver
			default:
				t.Fatalf("round %d: page %d holds version %d; allowed: %d (durable) or, in flight, %v: %d",
					rounds, p, gv, durable[p], inGroup[p], ver)
			}
		}
	}
	t.Logf("%d kills of pagerd during write-back: %d synced groups survived; in-flight pages found new %d times, old %d times; no torn page",
		rounds, acked, newer, older)
	if rounds < 5 {
		t.Fatalf("only %d rounds in %v", rounds, budget)
	}
	if newer == 0 || older == 0 {
		// Both outcomes must occur, or the kill never lands inside a
		// write-back and the test proves nothing.
		t.Errorf("in-flight pages: new %d, old %d times: the kills do not land inside write-backs", newer, older)
	}
}

// randomGroup is 1 to 8 distinct pages.
func randomGroup(rng *rand.Rand) []int {
	seen := map[int]bool{}
	var g []int
	for range 1 + rng.IntN(8) {
		p := rng.IntN(crashPages)
		if !seen[p] {
			seen[p] = true
			g = append(g, p)
		}
	}
	return g
}

// readAll reads the whole "db" VMO through pagerd (a C thread faults it in).
func readAll(t *testing.T, d *daemon) []byte {
	t.Helper()
	c, err := client.Dial(d.sock, &client.Options{DialTimeout: waitFor, RequestTimeout: waitFor})
	if err != nil {
		t.Fatalf("dial after restart: %v\n%s", err, d.logs())
	}
	defer c.Close()
	v, err := c.Open("db", client.ReadOnly, 0)
	if err != nil {
		t.Fatalf("open after restart: %v", err)
	}
	m, err := v.Map(0, crashPages*page, false)
	if err != nil {
		t.Fatalf("map after restart: %v", err)
	}
	r, err := faulter.ReadAt(m.Addr(), crashPages*page, waitFor)
	if err != nil || r.Sigbus {
		t.Fatalf("read after restart: %v sigbus=%v", err, r.Sigbus)
	}
	return r.Data
}

// TestClientKilledMidWriteback: a client process writes pages and asks for
// a sync; it is SIGKILLed at a random moment (before, during or after the
// write-back). Every page it finished writing must reach the store (pagerd
// writes a VMO back when its last client goes), and pagerd serves on.
func TestClientKilledMidWriteback(t *testing.T) {
	if testing.Short() {
		t.Skip("kills clients repeatedly")
	}
	dir := t.TempDir()
	const pages = 16
	writeFile(t, dir, "w", make([]byte, pages*page))
	d := startDaemon(t, dir, "-log-level", "warn")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	for round := 1; round <= 12; round++ {
		c := startChild(t, d.sock)
		c.must("dial")
		c.must("open w")
		c.must("map 0 " + itoa(pages*page) + " w")
		// Each page gets a word naming the round; the child's write is
		// done when its answer arrives.
		word := fmt.Sprintf("round-%03d", round)
		for p := 0; p < pages; p++ {
			if r := c.must("write " + itoa(p*page) + " " + word); r.Sigbus {
				t.Fatalf("round %d: write sigbus", round)
			}
		}
		c.send("sync")
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		c.kill()
		// The VMO closes when the dead client's session ends, and its
		// close writes it back; wait for the store to show it.
		eventually(t, "the killed client's pages reach the store", func() bool {
			b, err := os.ReadFile(filepath.Join(dir, "w"))
			if err != nil {
				return false
			}
			for p := 0; p < pages; p++ {
				if !bytes.HasPrefix(b[p*page:], []byte(word)) {
					return false
				}
			}
			return true
		})
	}
	if !d.alive() {
		t.Fatalf("pagerd died\n%s", d.logs())
	}
}

// TestClientKilledMidHandshake: clients killed at random moments of their
// start (before, during and after the handshake and the first Open/Map)
// cost pagerd nothing: it stays up, serves a new client, and ends with as
// many open fds as it started with.
func TestClientKilledMidHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("kills clients repeatedly")
	}
	dir := t.TempDir()
	data := pattern(4*page, 11)
	writeFile(t, dir, "x", data)
	d := startDaemon(t, dir, "-log-level", "warn")
	base := fdCount(t, d.cmd.Process.Pid)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	for i := 0; i < 20; i++ {
		c := startChild(t, d.sock)
		c.send("dial")
		c.send("open x")
		c.send("map 0 " + itoa(4*page))
		c.send("readasync 0 " + itoa(4*page))
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		c.kill()
	}
	c := startChild(t, d.sock)
	c.must("dial")
	c.must("open x")
	c.must("map 0 " + itoa(4*page))
	if r := c.must("read 0 " + itoa(4*page)); r.Sigbus || !bytes.Equal(r.bytes(), data) {
		t.Fatalf("a healthy client after 20 killed ones: sigbus=%v", r.Sigbus)
	}
	c.must("close")
	c.kill()
	eventually(t, "pagerd's fds back to "+strconv.Itoa(base), func() bool { return fdCount(t, d.cmd.Process.Pid) == base })
}

// fdCount is the number of open fds of process pid.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatalf("fds of %d: %v", pid, err)
	}
	return len(es)
}
