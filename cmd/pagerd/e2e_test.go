package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests build pagerd and pagerctl and run them as real
// processes. Every wait has a deadline.

const (
	buildTimeout = 5 * time.Minute
	startTimeout = 60 * time.Second // the demo store writes 64 MiB first
	cmdTimeout   = 60 * time.Second
	exitTimeout  = 60 * time.Second
)

var (
	binDir   string
	buildMu  sync.Mutex
	builtBin = map[string]string{}
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "pagerd-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// build compiles the command in pkg (relative to this directory) once per
// test binary and returns the executable's path.
func build(t *testing.T, pkg, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builtBin[name]; ok {
		return p
	}
	out := filepath.Join(binDir, name)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	builtBin[name] = out
	return out
}

// proc is a running pagerd whose JSON log lines are collected.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited
	err  error         // Wait's result, after done

	mu     sync.Mutex
	lines  []map[string]any
	stderr bytes.Buffer
	stdout bytes.Buffer
}

func startPagerd(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	bin := build(t, ".", "pagerd")
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"-log-format", "json"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var m map[string]any
			p.mu.Lock()
			p.stderr.Write(line)
			p.stderr.WriteByte('\n')
			if json.Unmarshal(line, &m) == nil {
				p.lines = append(p.lines, m)
			}
			p.mu.Unlock()
		}
	}()
	go func() {
		<-logsDone
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(exitTimeout):
				t.Errorf("pagerd pid %d did not die after SIGKILL", p.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("pagerd %q stderr:\n%s", args, p.logs())
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) out() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// waitLog waits for the n-th (from 1) log line whose msg is msg.
func (p *proc) waitLog(msg string, n int, timeout time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		seen := 0
		for _, l := range p.lines {
			if l["msg"] == msg {
				if seen++; seen == n {
					p.mu.Unlock()
					return l
				}
			}
		}
		p.mu.Unlock()
		select {
		case <-p.done:
			p.t.Fatalf("pagerd exited (%v) before logging %q", p.err, msg)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("pagerd did not log %q within %v", msg, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// findLog returns the first log line whose msg is msg, or nil.
func (p *proc) findLog(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

// wait waits for pagerd to exit and returns its exit status.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("pagerd did not exit within %v", timeout)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	p.t.Fatalf("pagerd: %v", p.err)
	return -1
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// runCmd runs a command to completion and returns its stdout, stderr and
// exit status.
func runCmd(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not finish within %v", filepath.Base(bin), args, cmdTimeout)
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %q: %v", filepath.Base(bin), args, err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// ctl runs pagerctl against sock and fails the test unless it succeeds.
func ctl(t *testing.T, sock string, args ...string) string {
	t.Helper()
	bin := build(t, "../pagerctl", "pagerctl")
	out, errOut, code := runCmd(t, bin, append([]string{"-socket", sock}, args...)...)
	if code != 0 {
		t.Fatalf("pagerctl %q: exit status %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

func mustContain(t *testing.T, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("%s does not contain %q:\n%s", what, s, text)
		}
	}
}

// notifyListener is a stand-in for systemd's notification socket.
func notifyListener(t *testing.T, path string) <-chan string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 16)
	go func() {
		defer close(ch)
		buf := make([]byte, 4096)
		for {
			n, _, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close() })
	return ch
}

func waitNotify(t *testing.T, ch <-chan string, want string) string {
	t.Helper()
	deadline := time.After(startTimeout)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("notify socket closed before %q", want)
			}
			for _, l := range strings.Split(m, "\n") {
				if l == want {
					return m
				}
			}
		case <-deadline:
			t.Fatalf("no %q on the notify socket within %v", want, startTimeout)
		}
	}
}

func waitOutput(t *testing.T, what string, get func() string, want string) {
	t.Helper()
	deadline := time.Now().Add(cmdTimeout)
	for !strings.Contains(get(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v; printed:\n%s", what, want, cmdTimeout, get())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: cmdTimeout}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s\n%s", addr, resp.Status, body)
	}
	return string(body)
}

// TestDaemon runs the demo service, uses it with pagerctl, scrapes its
// metrics, stops it with SIGTERM and starts it again to find its writes.
func TestDaemon(t *testing.T) {
	build(t, ".", "pagerd")
	ctlBin := build(t, "../pagerctl", "pagerctl")
	dir := t.TempDir()
	demo := filepath.Join(dir, "demo")
	sock := filepath.Join(dir, "pagerd.sock")
	notify := notifyListener(t, filepath.Join(dir, "notify.sock"))

	d := startPagerd(t, []string{"NOTIFY_SOCKET=" + filepath.Join(dir, "notify.sock")},
		"-demo", demo, "-socket", sock, "-metrics", "127.0.0.1:0")
	addr, _ := d.waitLog("metrics listening", 1, startTimeout)["addr"].(string)
	if addr == "" {
		t.Fatal("the metrics log line has no addr")
	}
	d.waitLog("pagerd ready", 1, startTimeout)
	ready := waitNotify(t, notify, "READY=1")
	mustContain(t, "the READY notification", ready, fmt.Sprintf("MAINPID=%d", d.cmd.Process.Pid))
	waitOutput(t, "pagerd's demo hint", d.out, "pagerctl -socket "+sock+" status")

	st, err := os.Lstat(sock)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Errorf("socket %s has mode %v, want a socket with 0600", sock, st.Mode())
	}

	// status, plain and JSON.
	out := ctl(t, sock, "status")
	absDemo, _ := filepath.Abs(demo)
	mustContain(t, "pagerctl status", out, "dir:"+absDemo, fmt.Sprintf("pid %d", d.cmd.Process.Pid), "open VMOs")
	var status struct {
		PID     int    `json:"pid"`
		Clients int    `json:"clients"`
		VMOs    int    `json:"vmos"`
		Store   string `json:"store"`
	}
	if err := json.Unmarshal([]byte(ctl(t, sock, "-json", "status")), &status); err != nil {
		t.Fatalf("pagerctl -json status: %v", err)
	}
	if status.PID != d.cmd.Process.Pid || status.Clients != 1 || status.VMOs != 0 || status.Store != "dir:"+absDemo {
		t.Errorf("pagerctl -json status = %+v, want pid %d, 1 client (pagerctl), 0 VMOs, store dir:%s", status, d.cmd.Process.Pid, absDemo)
	}
	mustContain(t, "pagerctl vmos", ctl(t, sock, "vmos"), "no VMOs open")

	// cat: a page of text, and a slice of the stream.
	if got := ctl(t, sock, "cat", demoText, "-offset", "8192", "-length", "4096"); got != string(demoPage(2)) {
		t.Errorf("cat page 2 of %s = %.80q..., want %.80q...", demoText, got, demoPage(2))
	}
	got := ctl(t, sock, "cat", demoStream, "-offset", "0x100000", "-length", "16")
	if want := "\x00\x00\x10\x00\x00\x00\x00\x00\x08\x00\x10\x00\x00\x00\x00\x00"; got != want {
		t.Errorf("cat of %s at 1 MiB = %q, want %q", demoStream, got, want)
	}
	mustContain(t, "pagerctl touch", ctl(t, sock, "touch", demoStream), "16384 page(s)")

	// touch -write: two pages of 'A', written back when pagerctl (the
	// VMO's last client) leaves.
	out = ctl(t, sock, "touch", demoScratch, "-length", "8192", "-write", "A")
	mustContain(t, "pagerctl touch -write", out, "wrote 'A'", "dirty now: [0x0, 0x2000)")
	if got := ctl(t, sock, "cat", demoScratch, "-length", "8192"); got != strings.Repeat("A", 8192) {
		t.Errorf("scratch after touch -write A: %.40q...", got)
	}

	// A client holding a dirty page: dirty shows it, SIGHUP writes it back.
	holder := exec.Command(ctlBin, "-socket", sock, "touch", demoScratch, "-offset", "16K", "-length", "4K", "-write", "B", "-hold", "2m")
	var holdOut bytes.Buffer
	var holdMu sync.Mutex
	holder.Stdout = lockedWriter{&holdMu, &holdOut}
	holder.Stderr = lockedWriter{&holdMu, &holdOut}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	holderDone := make(chan struct{})
	var holderErr error
	go func() { holderErr = holder.Wait(); close(holderDone) }()
	t.Cleanup(func() {
		holder.Process.Kill()
		select {
		case <-holderDone:
		case <-time.After(exitTimeout):
			t.Errorf("pagerctl touch -hold (pid %d) did not die after SIGKILL", holder.Process.Pid)
		}
	})
	waitOutput(t, "pagerctl touch -hold", func() string { holdMu.Lock(); defer holdMu.Unlock(); return holdOut.String() }, "holding")
	mustContain(t, "pagerctl dirty", ctl(t, sock, "dirty", demoScratch), "0x4000", "0x5000", "4.0 KiB dirty in 1 range")
	mustContain(t, "pagerctl vmos", ctl(t, sock, "vmos"), demoScratch, "rw")
	mustContain(t, "pagerctl clients", ctl(t, sock, "clients"), "*", fmt.Sprintf("%d", holder.Process.Pid))
	if out := ctl(t, sock, "stats", demoScratch); !regexp.MustCompile(`(?m)^dirty +4096 `).MatchString(out) {
		t.Errorf("pagerctl stats does not show 4096 dirty bytes:\n%s", out)
	}
	d.signal(syscall.SIGHUP)
	d.waitLog("SIGHUP: dirty pages written back", 1, cmdTimeout)
	mustContain(t, "pagerctl dirty after SIGHUP", ctl(t, sock, "dirty", demoScratch), "no dirty pages")
	if b, err := os.ReadFile(filepath.Join(demo, demoScratch)); err != nil || !bytes.Equal(b[16384:20480], bytes.Repeat([]byte("B"), 4096)) {
		t.Errorf("after SIGHUP the store's %s does not hold the 'B' page (err %v)", demoScratch, err)
	}
	// sync on a clean VMO writes nothing.
	mustContain(t, "pagerctl sync", ctl(t, sock, "sync", demoScratch), "wrote 0 B back")
	holder.Process.Signal(syscall.SIGTERM)
	select {
	case <-holderDone:
		if holderErr != nil {
			t.Errorf("pagerctl touch -hold after SIGTERM: %v", holderErr)
		}
	case <-time.After(exitTimeout):
		t.Fatal("pagerctl touch -hold did not exit after SIGTERM")
	}

	// Metrics: the engine's counters moved.
	body := scrape(t, addr)
	mustContain(t, "/metrics", body, "# TYPE pagerd_")
	if m := regexp.MustCompile(`(?m)^pagerd_supplied_bytes_total ([0-9.e+]+)$`).FindStringSubmatch(body); m == nil || m[1] == "0" {
		t.Errorf("/metrics: pagerd_supplied_bytes_total missing or zero after the reads:\n%s", body)
	}

	// A second pagerd on the same socket refuses to start.
	_, errOut, code := runCmd(t, build(t, ".", "pagerd"), "-store", "dir:"+dir, "-socket", sock, "-metrics", "off")
	if code != exitFailure {
		t.Errorf("a second pagerd on a live socket exited with %d, want %d; stderr:\n%s", code, exitFailure, errOut)
	}
	mustContain(t, "pagerctl status after the second pagerd", ctl(t, sock, "status"), "open VMOs")

	// SIGTERM: exit 0, the socket is gone, systemd was told.
	d.signal(syscall.SIGTERM)
	if code := d.wait(exitTimeout); code != 0 {
		t.Fatalf("pagerd exited with %d after SIGTERM, want 0", code)
	}
	waitNotify(t, notify, "STOPPING=1")
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still there after exit: %v", err)
	}
	d.waitLog("pagerd stopped cleanly: every dirty page was written back", 1, time.Second)
	b, err := os.ReadFile(filepath.Join(demo, demoScratch))
	if err != nil || !bytes.Equal(b[:8192], bytes.Repeat([]byte("A"), 8192)) {
		t.Errorf("after shutdown the store's %s does not start with 8 KiB of 'A' (err %v)", demoScratch, err)
	}
	if len(b) != demoScratchLen {
		t.Errorf("%s is %d bytes, want %d", demoScratch, len(b), demoScratchLen)
	}

	// Start again on the same demo directory: the writes are there, the
	// sample objects were left alone.
	d2 := startPagerd(t, nil, "-demo", demo, "-socket", sock, "-metrics", "off")
	d2.waitLog("pagerd ready", 1, startTimeout)
	if l := d2.findLog("demo store created"); l != nil {
		t.Errorf("restart re-created demo objects: %v", l)
	}
	if got := ctl(t, sock, "cat", demoScratch, "-length", "8192"); got != strings.Repeat("A", 8192) {
		t.Errorf("after a restart scratch starts with %.40q..., want 'A's", got)
	}
	if got := ctl(t, sock, "cat", demoScratch, "-offset", "16K", "-length", "4K"); got != strings.Repeat("B", 4096) {
		t.Errorf("after a restart scratch at 16 KiB is %.40q..., want 'B's", got)
	}
	d2.signal(syscall.SIGINT)
	if code := d2.wait(exitTimeout); code != 0 {
		t.Fatalf("pagerd exited with %d after SIGINT, want 0", code)
	}
}

// TestBadFlags: bad flags exit with status 2 and name the flag.
func TestBadFlags(t *testing.T) {
	bin := build(t, ".", "pagerd")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-bogus"}, []string{"-bogus"}},
		{[]string{"-workers", "many", "-demo"}, []string{"-workers", "many"}},
		{[]string{"-demo", t.TempDir(), "-metrics", "0.0.0.0:9464"}, []string{"-metrics 0.0.0.0:9464", "loopback"}},
		{[]string{"-store", "tape:/dev/st0"}, []string{"-store tape:/dev/st0"}},
		{nil, []string{"no store"}},
	} {
		out, errOut, code := runCmd(t, bin, tc.args...)
		if code != exitUsage {
			t.Errorf("pagerd %q exited with %d, want %d; stderr:\n%s", tc.args, code, exitUsage, errOut)
		}
		mustContain(t, fmt.Sprintf("stderr of pagerd %q", tc.args), errOut, append(tc.want, "pagerd -help")...)
		if out != "" {
			t.Errorf("pagerd %q printed to stdout: %q", tc.args, out)
		}
	}
	out, _, code := runCmd(t, bin, "-version")
	if code != 0 || !strings.HasPrefix(out, "pagerd ") {
		t.Errorf("pagerd -version: status %d, output %q", code, out)
	}
	out, _, code = runCmd(t, bin, "-help")
	if code != 0 || !strings.Contains(out, "-store") {
		t.Errorf("pagerd -help: status %d, output %q", code, out)
	}
}

// TestStartFailure: a store that cannot be opened is exit status 1, with
// the reason logged.
func TestStartFailure(t *testing.T) {
	dir := t.TempDir()
	p := startPagerd(t, nil, "-store", "dir:"+filepath.Join(dir, "missing"), "-socket", filepath.Join(dir, "s.sock"), "-metrics", "off")
	if code := p.wait(exitTimeout); code != exitFailure {
		t.Errorf("pagerd with a missing store directory exited with %d, want %d", code, exitFailure)
	}
	mustContain(t, "pagerd's log", p.logs(), "cannot open the store", "missing")
	if _, err := os.Lstat(filepath.Join(dir, "s.sock")); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

// TestShutdownWritebackFailure: dirty pages that cannot be written back in
// time make pagerd exit with status 1 and say so.
func TestShutdownWritebackFailure(t *testing.T) {
	ctlBin := build(t, "../pagerctl", "pagerctl")
	dir := t.TempDir()
	sock := filepath.Join(dir, "pagerd.sock")
	d := startPagerd(t, nil, "-demo", filepath.Join(dir, "demo"), "-socket", sock, "-metrics", "off",
		"-writeback-interval", "off", "-shutdown-timeout", "1ns")
	d.waitLog("pagerd ready", 1, startTimeout)

	// A client keeps a dirty page (its VMO stays open, so nothing writes
	// it back before the shutdown).
	holder := exec.Command(ctlBin, "-socket", sock, "touch", demoScratch, "-length", "4K", "-write", "Z", "-hold", "2m")
	var out bytes.Buffer
	var mu sync.Mutex
	holder.Stdout = lockedWriter{&mu, &out}
	holder.Stderr = lockedWriter{&mu, &out}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	holderDone := make(chan struct{})
	go func() { holder.Wait(); close(holderDone) }()
	t.Cleanup(func() {
		holder.Process.Kill()
		select {
		case <-holderDone:
		case <-time.After(exitTimeout):
			t.Errorf("pagerctl touch -hold (pid %d) did not die after SIGKILL", holder.Process.Pid)
		}
	})
	waitOutput(t, "pagerctl touch -hold", func() string { mu.Lock(); defer mu.Unlock(); return out.String() }, "holding")
	mustContain(t, "pagerctl dirty", ctl(t, sock, "dirty", demoScratch), "4.0 KiB dirty")

	d.signal(syscall.SIGTERM)
	if code := d.wait(exitTimeout); code != exitFailure {
		t.Fatalf("pagerd exited with %d after a failed write-back, want %d", code, exitFailure)
	}
	d.waitLog("shutdown: write-back failed; the dirty pages not written are lost", 1, time.Second)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still there after exit: %v", err)
	}
}
