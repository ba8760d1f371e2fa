package integration

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/client"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/zx"
)

const page = 4096

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLazyReads: a client process reads pages of a store file through its
// mapping and gets the file's bytes; only what it touched (and read-ahead)
// is loaded, and the metrics count the faults.
func TestLazyReads(t *testing.T) {
	dir := t.TempDir()
	data := pattern(256*page, 0xabc)
	writeFile(t, dir, "disk.img", data)
	d := startDaemon(t, dir, "-readahead-off")
	c := startChild(t, d.sock)
	c.must("dial")
	c.must("open disk.img")
	c.must("map 0 " + itoa(256*page))
	for _, p := range []int{200, 3, 0, 255} {
		r := c.must("read " + itoa(p*page) + " " + itoa(page))
		if r.Sigbus || !bytes.Equal(r.bytes(), data[p*page:(p+1)*page]) {
			t.Fatalf("page %d: sigbus=%v, content differs", p, r.Sigbus)
		}
	}
	// From the test process: the VMO is only partly committed.
	vs, err := d.dial().VMOs()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Name != "disk.img" || vs[0].CommittedBytes != 4*page || vs[0].ReadFaults != 4 {
		t.Fatalf("VMOs %+v, want disk.img with 4 pages committed after 4 reads", vs)
	}
	m := d.scrape()
	if got := metricValue(m, "pagerd_requests_total", `kind="read"`); got < 4 {
		t.Fatalf("pagerd_requests_total{kind=read} = %v, want >= 4\n%s", got, m)
	}
	if got := metricValue(m, "pagerd_fault_latency_seconds_count", `kind="read"`); got < 4 {
		t.Fatalf("fault latency histogram count %v", got)
	}
	if got := metricValue(m, "pagerd_supplied_bytes_total"); got != 4*page {
		t.Fatalf("supplied bytes %v, want %d", got, 4*page)
	}
}

// TestSharedPagesBetweenClients: two client processes map one VMO; a page
// one of them loaded or wrote is seen by the other without a new fault.
func TestSharedPagesBetweenClients(t *testing.T) {
	dir := t.TempDir()
	data := pattern(16*page, 1)
	writeFile(t, dir, "shared", data)
	d := startDaemon(t, dir, "-readahead-off")
	a, b := startChild(t, d.sock), startChild(t, d.sock)
	for _, c := range []*child{a, b} {
		c.must("dial")
		c.must("open shared")
		c.must("map 0 " + itoa(16*page) + " w")
	}
	a.must("read " + itoa(5*page) + " 8")
	a.must("write " + itoa(7*page+100) + " hello-from-a")
	before := a.must("stats").N
	if r := b.must("read " + itoa(7*page+100) + " 12"); string(r.bytes()) != "hello-from-a" {
		t.Fatalf("b reads %q", r.bytes())
	}
	if r := b.must("read " + itoa(5*page) + " " + itoa(page)); !bytes.Equal(r.bytes(), data[5*page:6*page]) {
		t.Fatalf("b's page 5 differs")
	}
	if after := b.must("stats").N; after != before {
		t.Fatalf("read faults went from %d to %d: b's reads of pages a loaded were not shared", before, after)
	}
}

// TestWritebackSurvivesRestart: writes synced by a client, and writes
// written back by a graceful shutdown, are read by a new pagerd.
func TestWritebackSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	data := pattern(8*page, 2)
	writeFile(t, dir, "state", data)
	d := startDaemon(t, dir)
	c := startChild(t, d.sock)
	c.must("dial")
	c.must("open state")
	c.must("map 0 " + itoa(8*page) + " w")
	c.must("write 10 synced-write")
	if r := c.must("sync"); r.N != page {
		t.Fatalf("sync wrote %d bytes, want one page", r.N)
	}
	c.must("write " + itoa(6*page) + " shutdown-write")
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("pagerd exit code %d after SIGTERM\n%s", code, d.logs())
	}
	if _, err := os.Stat(d.sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	c.kill()
	d.start()
	c2 := startChild(t, d.sock)
	c2.must("dial")
	c2.must("open state")
	c2.must("map 0 " + itoa(8*page))
	if r := c2.must("read 10 12"); string(r.bytes()) != "synced-write" {
		t.Fatalf("after restart: %q", r.bytes())
	}
	if r := c2.must("read " + itoa(6*page) + " 14"); string(r.bytes()) != "shutdown-write" {
		t.Fatalf("after restart: %q", r.bytes())
	}
	if r := c2.must("read " + itoa(3*page) + " " + itoa(page)); !bytes.Equal(r.bytes(), data[3*page:4*page]) {
		t.Fatalf("an unwritten page changed")
	}
}

// TestDaemonKilledClientGetsSigbus: when pagerd dies, a client's access to
// a page it never got raises SIGBUS (never zeros, never a hang), also for
// a fault pagerd had already read; present pages stay readable; API calls
// fail with ErrServerGone.
func TestDaemonKilledClientGetsSigbus(t *testing.T) {
	dir := t.TempDir()
	data := pattern(16*page, 3)
	writeFile(t, dir, "img", data)
	d := startDaemon(t, dir, "-readahead-off")
	c := startChild(t, d.sock)
	c.must("dial")
	c.must("open img")
	c.must("map 0 " + itoa(16*page) + " w")
	c.must("read " + itoa(2*page) + " 8")
	d.stop(syscall.SIGKILL)
	r := c.must("read " + itoa(9*page) + " 8")
	if !r.Sigbus {
		t.Fatalf("read of an unsupplied page after pagerd died: %+v, want SIGBUS", r)
	}
	r = c.must("read " + itoa(2*page) + " " + itoa(page))
	if r.Sigbus || !bytes.Equal(r.bytes(), data[2*page:3*page]) {
		t.Fatalf("a present page after pagerd died: sigbus=%v", r.Sigbus)
	}
	if r := c.do("populate " + itoa(10*page) + " " + itoa(page)); r.OK || !strings.Contains(r.Err, "unavailable") {
		t.Fatalf("populate after pagerd died: %+v", r)
	}
	if r := c.do("sync"); r.OK || !strings.Contains(r.Err, "gone") {
		t.Fatalf("sync after pagerd died: %+v", r)
	}
}

// TestDaemonKilledMidFault: pagerd dies while it is fetching a client's
// page (it has read the fault and will never answer): the client's guard
// wakes the thread and it gets SIGBUS.
func TestDaemonKilledMidFault(t *testing.T) {
	data := pattern(16*page, 8)
	h := &slowHTTP{data: data, block: [2]int64{5 * page, 6 * page}, entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer close(h.release)
	d := startHTTPDaemon(t, srv.URL, "obj")
	c := startChild(t, d.sock)
	c.must("dial")
	c.must("open obj")
	c.must("map 0 " + itoa(16*page))
	c.must("readbg " + itoa(5*page) + " 8")
	select {
	case <-h.entered:
	case <-time.After(waitFor):
		t.Fatal("the fault never reached the store")
	}
	d.stop(syscall.SIGKILL)
	if r := c.must("readwait"); !r.Sigbus {
		t.Fatalf("the fault pagerd died on: %+v, want SIGBUS", r)
	}
}

// slowHTTP serves objects over HTTP with range support; reads that touch
// the block range wait until released.
type slowHTTP struct {
	data    []byte
	mu      sync.Mutex
	block   [2]int64
	entered chan struct{}
	release chan struct{}
}

func (h *slowHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var lo, hi int64
	if _, err := fmtSscanf(r.Header.Get("Range"), "bytes=%d-%d", &lo, &hi); err == nil {
		h.mu.Lock()
		blocked := lo < h.block[1] && hi >= h.block[0]
		h.mu.Unlock()
		if blocked {
			select {
			case h.entered <- struct{}{}:
			default:
			}
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			}
		}
	}
	http.ServeContent(w, r, "obj", time.Unix(1, 0), bytes.NewReader(h.data))
}

// TestClientKilledMidFault: a client killed while pagerd is fetching its
// page costs nobody else anything: pagerd stays up and serves the page to
// the next client.
func TestClientKilledMidFault(t *testing.T) {
	data := pattern(64*page, 4)
	h := &slowHTTP{data: data, block: [2]int64{8 * page, 9 * page}, entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(h)
	defer srv.Close()
	d := startHTTPDaemon(t, srv.URL, "obj")

	victim := startChild(t, d.sock)
	victim.must("dial")
	victim.must("open obj")
	victim.must("map 0 " + itoa(64*page))
	victim.must("readasync " + itoa(8*page) + " 8")
	select {
	case <-h.entered:
	case <-time.After(waitFor):
		t.Fatal("the victim's fault never reached the store")
	}
	victim.kill()
	close(h.release)
	c := startChild(t, d.sock)
	c.must("dial")
	c.must("open obj")
	c.must("map 0 " + itoa(64*page))
	for _, p := range []int{8, 20} {
		r := c.must("read " + itoa(p*page) + " " + itoa(page))
		if r.Sigbus || !bytes.Equal(r.bytes(), data[p*page:(p+1)*page]) {
			t.Fatalf("page %d after the victim died: sigbus=%v", p, r.Sigbus)
		}
	}
	if !d.alive() {
		t.Fatalf("pagerd died\n%s", d.logs())
	}
	// The victim's session is gone.
	eventually(t, "the victim's session to end", func() bool {
		cs, err := d.dial().Clients()
		return err == nil && len(cs) <= 2
	})
}

// TestBadInputsCostOnlyTheirConnection: a pipe sent as the uffd, a
// malformed packet and a range never registered each end that client's
// connection with an error; the service keeps serving others.
func TestBadInputsCostOnlyTheirConnection(t *testing.T) {
	dir := t.TempDir()
	data := pattern(4*page, 5)
	writeFile(t, dir, "x", data)
	d := startDaemon(t, dir)

	raw := func() *proto.Conn {
		conn, err := proto.Dial(d.sock, waitFor)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := proto.ClientHandshake(conn, proto.Hello{}); err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(waitFor))
		return conn
	}
	closedAfterError := func(conn *proto.Conn, want zx.Status) {
		t.Helper()
		sawStatus := false
		for {
			m, fds, err := conn.Recv()
			for _, fd := range fds {
				unix.Close(fd)
			}
			if err != nil {
				if !sawStatus {
					t.Fatalf("connection closed without an Error %v: %v", want, err)
				}
				return
			}
			if e, ok := m.(*proto.Error); ok && e.Code == want {
				sawStatus = true
			}
		}
	}

	// 1. A pipe instead of a uffd.
	conn := raw()
	conn.Send(&proto.OpenVMO{ReqID: 1, Name: "x"})
	m, fds, err := conn.Recv()
	if err != nil {
		t.Fatal(err)
	}
	memfd := fds[0]
	defer unix.Close(memfd)
	b, err := unix.Mmap(memfd, 0, page, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	var p [2]int
	unix.Pipe2(p[:], unix.O_CLOEXEC)
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	conn.Send(&proto.RegisterMapping{ReqID: 2, VMOID: m.(*proto.VMOOpened).VMOID, Addr: uint64(addrOf(b)), Length: page,
		Flags: proto.MapAttachUFFD}, p[0])
	closedAfterError(conn, zx.ErrWrongType)

	// 2. A malformed packet.
	conn = raw()
	conn.SendRaw([]byte("PGRD\x01\x00\x11\x00garbage"))
	closedAfterError(conn, zx.ErrInvalidArgs)

	// 3. A fault in a range registered with the uffd but not with pagerd.
	c := startChild(t, d.sock)
	c.must("dial")
	c.must("open x")
	c.must("map 0 " + itoa(page))
	// (the child cannot register a rogue range through package client;
	// the in-process server tests cover it: server.TestFaultOutsideRegistration)

	// 4. Limits: the per-client VMO limit. (A second daemon needs its own
	// store: a directory store locks each open file against other pagerds.)
	dir2 := t.TempDir()
	writeFile(t, dir2, "x", data)
	d2 := startDaemon(t, dir2, "-max-vmos", "1", "-max-mapped", "8192")
	cl := d2.dial()
	v, err := cl.Open("x", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Open("x", 0, 0); zx.StatusOf(err) != zx.ErrNoResources {
		t.Fatalf("second open with -max-vmos 1: %v", err)
	}
	if _, err := v.Map(0, 4*page, false); zx.StatusOf(err) != zx.ErrNoResources {
		t.Fatalf("mapping 16 KiB with -max-mapped 8192: %v", err)
	}
	if _, err := v.Map(0, 2*page, false); err != nil {
		t.Fatalf("mapping within the limit: %v", err)
	}

	// The service still serves everyone.
	if r := c.must("read 0 " + itoa(page)); r.Sigbus || !bytes.Equal(r.bytes(), data[:page]) {
		t.Fatalf("healthy client after bad inputs: sigbus=%v", r.Sigbus)
	}
	out, err := exec.Command(filepath.Join(binDir, "pagerctl"), "-socket", d.sock, "status").CombinedOutput()
	if err != nil {
		t.Fatalf("pagerctl status: %v\n%s", err, out)
	}
	if !d.alive() {
		t.Fatal("pagerd died")
	}
	m2 := d.scrape()
	if got := metricValue(m2, "pagerd_client_errors_total"); got < 2 {
		t.Fatalf("pagerd_client_errors_total = %v, want >= 2", got)
	}
}

// TestPagerctl: the command-line tool lists VMOs and clients, cats and
// touches pages, shows dirty ranges and syncs.
func TestPagerctl(t *testing.T) {
	dir := t.TempDir()
	data := pattern(8*page, 6)
	writeFile(t, dir, "f", data)
	d := startDaemon(t, dir)
	ctl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(binDir, "pagerctl"), append([]string{"-socket", d.sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("pagerctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if got := ctl("cat", "f", "-offset", itoa(page), "-length", itoa(page)); got != string(data[page:2*page]) {
		t.Fatalf("pagerctl cat: %d bytes, differ", len(got))
	}
	// pagerd writes a VMO back and drops it when its last client closes
	// it; a child holding it open keeps the dirty page in pagerd's cache.
	holder := startChild(t, d.sock)
	holder.must("dial")
	holder.must("open f")
	ctl("touch", "f", "-offset", itoa(3*page), "-length", itoa(page), "-write", "0x41")
	if out := ctl("dirty", "f"); !strings.Contains(out, itoa(3*page)) && !strings.Contains(out, "0x3000") {
		t.Fatalf("pagerctl dirty after a touch -write: %q", out)
	}
	ctl("sync", "f")
	onDisk, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk[3*page:4*page], bytes.Repeat([]byte{0x41}, page)) {
		t.Fatalf("store page 3 after touch -write and sync: %q...", onDisk[3*page:3*page+8])
	}
	if out := ctl("vmos"); !strings.Contains(out, "f") {
		t.Fatalf("pagerctl vmos: %q", out)
	}
	if out := ctl("status"); !strings.Contains(out, "dir:") && !strings.Contains(out, dir) {
		t.Fatalf("pagerctl status does not name the store: %q", out)
	}
	cmd := exec.Command(filepath.Join(binDir, "pagerctl"), "-socket", d.sock, "cat", "nosuch")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "NOT_FOUND") {
		t.Fatalf("pagerctl cat of a missing VMO: %v %q", err, out)
	}
}

// TestClientLibraryInProcess: the test process as a client (pagerd is
// another process, so Go code may touch the mapping).
func TestClientLibraryInProcess(t *testing.T) {
	dir := t.TempDir()
	data := pattern(32*page, 7)
	writeFile(t, dir, "lib", data)
	d := startDaemon(t, dir)
	c := d.dial()
	v, err := c.Open("lib", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.Map(0, v.Size(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Populate(0, v.Size(), false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Bytes(), data) {
		t.Fatal("mapping differs from the store")
	}
	if err := m.Populate(4*page, page, true); err != nil {
		t.Fatal(err)
	}
	copy(m.Bytes()[4*page:], "go-write")
	rs, err := v.DirtyRanges(0, v.Size())
	if err != nil || len(rs) != 1 || rs[0].Offset != 4*page || rs[0].Length != page {
		t.Fatalf("dirty ranges %+v %v", rs, err)
	}
	if n, err := v.Sync(); err != nil || n != page {
		t.Fatalf("sync: %d %v", n, err)
	}
	st, err := v.Stats()
	if err != nil || st.DirtyBytes != 0 || st.CommittedBytes != v.Size() {
		t.Fatalf("stats %+v %v", st, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Sync(); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("sync after close: %v", err)
	}
}

// startHTTPDaemon runs pagerd serving the named objects of an HTTP server.
func startHTTPDaemon(t *testing.T, url string, names string) *daemon {
	t.Helper()
	run := t.TempDir()
	d := &daemon{t: t, sock: filepath.Join(run, "pagerd.sock")}
	d.args = []string{"-store", "http:" + url, "-names", names, "-socket", d.sock, "-metrics", "127.0.0.1:0",
		"-metrics-addr-file", filepath.Join(run, "metrics.addr"), "-readahead-off", "-log-format", "json"}
	d.start()
	t.Cleanup(d.kill)
	return d
}

func itoa(n int) string { return strconv.Itoa(n) }

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func fmtSscanf(s, format string, args ...any) (int, error) { return fmt.Sscanf(s, format, args...) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
