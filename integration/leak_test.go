package integration

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pagerd/pagerd/client"
	"github.com/pagerd/pagerd/syscalls"
	"github.com/pagerd/pagerd/zx"
)

// Leak checks: file descriptors and memory stay flat over many
// create/destroy and connect/kill cycles. Each test warms up first (pools,
// the Go heap, lazily created objects), then measures before and after
// the cycles and logs the figures that docs/RELIABILITY.md quotes.

// cycles is the number of cycles: env (an integer) or def.
func cycles(env string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(env)); err == nil && n > 0 {
		return n
	}
	return def
}

// rssKiB is VmRSS of process pid in KiB.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("status of %d: %v", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("VmRSS of %d: %q", pid, rest)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS for %d", pid)
	return 0
}

// selfUsage is this process's fds, RSS and live Go heap after a GC.
func selfUsage(t *testing.T) (fds, rss int, heap uint64) {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fdCount(t, os.Getpid()), rssKiB(t, os.Getpid()), ms.HeapAlloc
}

// TestVMOCycleLeaks: 10,000 cycles, each creating a plain VMO (written,
// mapped, unmapped) and a pager VMO (a page supplied, mapped, unmapped,
// detached), closing both and draining the port: this process's fds come
// back to the same count and its memory does not grow.
func TestVMOCycleLeaks(t *testing.T) {
	n := cycles("PAGERD_LEAK_VMO_CYCLES", 10000)
	pg, st := syscalls.PagerCreate(0)
	if st != zx.ErrOk {
		t.Fatalf("pager_create: %v", st)
	}
	defer syscalls.HandleClose(pg)
	port, st := syscalls.PortCreate(0)
	if st != zx.ErrOk {
		t.Fatalf("port_create: %v", st)
	}
	defer syscalls.HandleClose(port)
	aux, st := syscalls.VmoCreate(page, 0)
	if st != zx.ErrOk {
		t.Fatalf("vmo_create aux: %v", st)
	}
	defer syscalls.HandleClose(aux)
	root := syscalls.VmarRootSelf()
	buf := pattern(page, 21)
	one := func(i int) {
		v, st := syscalls.VmoCreate(2*page, 0)
		if st != zx.ErrOk {
			t.Fatalf("cycle %d: vmo_create: %v", i, st)
		}
		if st := syscalls.VmoWrite(v, buf, page); st != zx.ErrOk {
			t.Fatalf("cycle %d: vmo_write: %v", i, st)
		}
		addr, st := syscalls.VmarMap(root, zx.VMPermRead|zx.VMPermWrite, 0, v, 0, 2*page)
		if st != zx.ErrOk {
			t.Fatalf("cycle %d: vmar_map: %v", i, st)
		}
		if st := syscalls.VmarUnmap(root, addr, 2*page); st != zx.ErrOk {
			t.Fatalf("cycle %d: vmar_unmap: %v", i, st)
		}
		if st := syscalls.HandleClose(v); st != zx.ErrOk {
			t.Fatalf("cycle %d: close: %v", i, st)
		}

		pv, st := syscalls.PagerCreateVmo(pg, 0, port, uint64(i), 2*page)
		if st != zx.ErrOk {
			t.Fatalf("cycle %d: pager_create_vmo: %v", i, st)
		}
		if st := syscalls.VmoWrite(aux, buf, 0); st != zx.ErrOk {
			t.Fatalf("cycle %d: aux write: %v", i, st)
		}
		if st := syscalls.PagerSupplyPages(pg, pv, 0, page, aux, 0); st != zx.ErrOk {
			t.Fatalf("cycle %d: supply_pages: %v", i, st)
		}
		got := make([]byte, 16)
		if st := syscalls.VmoRead(pv, got, 0); st != zx.ErrOk || string(got) != string(buf[:16]) {
			t.Fatalf("cycle %d: vmo_read of the supplied page: %v %x", i, st, got)
		}
		addr, st = syscalls.VmarMap(root, zx.VMPermRead, 0, pv, 0, 2*page)
		if st != zx.ErrOk {
			t.Fatalf("cycle %d: vmar_map pager VMO: %v", i, st)
		}
		if st := syscalls.VmarUnmap(root, addr, 2*page); st != zx.ErrOk {
			t.Fatalf("cycle %d: vmar_unmap pager VMO: %v", i, st)
		}
		if st := syscalls.PagerDetachVmo(pg, pv); st != zx.ErrOk {
			t.Fatalf("cycle %d: detach: %v", i, st)
		}
		if st := syscalls.HandleClose(pv); st != zx.ErrOk {
			t.Fatalf("cycle %d: close pager VMO: %v", i, st)
		}
		// Drain the port: the detach's COMPLETE packet (a port that is
		// never read would hold them, which is not a leak of ours).
		var pkt zx.PortPacket
		for syscalls.PortWait(port, 0, &pkt) == zx.ErrOk {
		}
	}
	for i := 0; i < 500; i++ {
		one(i)
	}
	fds0, rss0, heap0 := selfUsage(t)
	start := time.Now()
	for i := 0; i < n; i++ {
		one(500 + i)
	}
	took := time.Since(start)
	fds1, rss1, heap1 := selfUsage(t)
	t.Logf("%d VMO cycles (plain + pager) in %v: fds %d -> %d, RSS %d -> %d KiB, Go heap %d -> %d KiB",
		n, took.Round(time.Millisecond), fds0, fds1, rss0, rss1, heap0>>10, heap1>>10)
	if fds1 != fds0 {
		t.Errorf("fds: %d before %d cycles, %d after", fds0, n, fds1)
	}
	if grow := rss1 - rss0; grow > 8<<10 && !raceEnabled {
		t.Errorf("RSS grew by %d KiB over %d cycles", grow, n)
	}
	if heap1 > heap0+2<<20 {
		t.Errorf("Go heap grew from %d to %d KiB over %d cycles", heap0>>10, heap1>>10, n)
	}
}

// TestClientCycleLeaks: 1,000 client processes, each connecting, opening
// and mapping a VMO and starting a read, SIGKILLed at once; and 2,000
// VMOs created through pagerd and closed. pagerd's fds come back to their
// count and its memory stays flat.
func TestClientCycleLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 client processes")
	}
	kills := cycles("PAGERD_LEAK_CLIENT_CYCLES", 1000)
	creates := cycles("PAGERD_LEAK_PAGERD_VMOS", 2000)
	dir := t.TempDir()
	data := pattern(4*page, 23)
	writeFile(t, dir, "x", data)
	d := startDaemon(t, dir, "-log-level", "warn")
	pid := d.cmd.Process.Pid

	cycle := func() {
		c := startChild(t, d.sock)
		c.send("dial")
		c.send("open x")
		c.send("map 0 " + itoa(4*page))
		c.send("readasync 0 " + itoa(4*page))
		c.answer("dial")
		c.answer("open")
		c.answer("map")
		c.kill()
	}
	settle := func() (int, int) {
		// The last killed session ends asynchronously.
		eventually(t, "pagerd's sessions of killed clients to end", func() bool {
			return metricValue(d.scrape(), "pagerd_clients") == 0
		})
		return fdCount(t, pid), rssKiB(t, pid)
	}
	for i := 0; i < 50; i++ {
		cycle()
	}
	fds0, rss0 := settle()
	start := time.Now()
	for i := 0; i < kills; i++ {
		cycle()
	}
	took := time.Since(start)
	fds1, rss1 := settle()
	fds1 = fdsSettle(t, pid, fds0)
	t.Logf("%d client connect/kill cycles in %v: pagerd fds %d -> %d, RSS %d -> %d KiB", kills, took.Round(time.Millisecond), fds0, fds1, rss0, rss1)
	if fds1 != fds0 {
		t.Errorf("pagerd fds: %d before %d killed clients, %d after", fds0, kills, fds1)
	}
	if grow := rss1 - rss0; grow > 8<<10 {
		t.Errorf("pagerd RSS grew by %d KiB over %d killed clients", grow, kills)
	}

	// VMOs created and closed through pagerd.
	c, err := client.Dial(d.sock, &client.Options{DialTimeout: waitFor, RequestTimeout: waitFor})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	openClose := func(i int) {
		v, err := c.Open(fmt.Sprintf("obj-%d", i%64), client.Create, 2*page)
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		if err := v.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	for i := 0; i < 200; i++ {
		openClose(i)
	}
	vfds0, vrss0 := settleVMOs(t, d)
	start = time.Now()
	for i := 0; i < creates; i++ {
		openClose(i)
	}
	took = time.Since(start)
	vfds1, vrss1 := settleVMOs(t, d)
	vfds1 = fdsSettle(t, pid, vfds0)
	t.Logf("%d VMO open(create)/close cycles through pagerd in %v: pagerd fds %d -> %d, RSS %d -> %d KiB", creates, took.Round(time.Millisecond), vfds0, vfds1, vrss0, vrss1)
	if vfds1 != vfds0 {
		t.Errorf("pagerd fds: %d before %d VMO cycles, %d after", vfds0, creates, vfds1)
	}
	if grow := vrss1 - vrss0; grow > 8<<10 {
		t.Errorf("pagerd RSS grew by %d KiB over %d VMO cycles", grow, creates)
	}
}

// settleVMOs waits until pagerd has closed every VMO (each closes in the
// background after its write-back) and returns its fds and RSS.
func settleVMOs(t *testing.T, d *daemon) (int, int) {
	t.Helper()
	eventually(t, "pagerd to close its VMOs", func() bool { return metricValue(d.scrape(), "pagerd_vmos") == 0 })
	time.Sleep(20 * time.Millisecond)
	return fdCount(t, d.cmd.Process.Pid), rssKiB(t, d.cmd.Process.Pid)
}

// fdsSettle waits up to a few seconds for process pid's fd count to come
// back to want (sessions and VMOs are closed in the background) and
// returns the last count.
func fdsSettle(t *testing.T, pid, want int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := fdCount(t, pid)
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
