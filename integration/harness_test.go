package integration

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagerd/pagerd/client"
	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/zx"
)

// Every test here runs pagerd as its own process (the binary built from
// cmd/pagerd) and clients as other processes: the test process itself
// (package client used directly) or child processes that re-run this test
// binary in "client mode" and obey commands on stdin.

const waitFor = 20 * time.Second

var binDir string

func TestMain(m *testing.M) {
	if mode := os.Getenv("PAGERD_IT_CHILD"); mode != "" {
		os.Exit(childMain())
	}
	dir, err := os.MkdirTemp("", "pagerd-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, cmd := range []string{"pagerd", "pagerctl"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "github.com/pagerd/pagerd/cmd/"+cmd).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", cmd, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a running pagerd process.
type daemon struct {
	t       *testing.T
	cmd     *exec.Cmd
	sock    string
	store   string
	metrics string
	log     *os.File
	exited  chan struct{}
	args    []string
}

// startDaemon runs pagerd serving the directory store dir with extra flags.
func startDaemon(t *testing.T, dir string, extra ...string) *daemon {
	t.Helper()
	run := t.TempDir()
	d := &daemon{t: t, sock: filepath.Join(run, "pagerd.sock"), store: dir}
	d.args = append([]string{"-store", "dir:" + dir, "-socket", d.sock, "-metrics", "127.0.0.1:0",
		"-metrics-addr-file", filepath.Join(run, "metrics.addr"), "-log-format", "json", "-writeback-interval", "off"}, extra...)
	d.start()
	t.Cleanup(d.kill)
	return d
}

func (d *daemon) start() {
	t := d.t
	t.Helper()
	os.Remove(filepath.Join(filepath.Dir(d.sock), "metrics.addr"))
	logf, err := os.CreateTemp(t.TempDir(), "pagerd-*.log")
	if err != nil {
		t.Fatal(err)
	}
	d.log = logf
	d.cmd = exec.Command(filepath.Join(binDir, "pagerd"), d.args...)
	d.cmd.Stderr = logf
	d.cmd.Stdout = logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.exited = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.exited) }()
	addrFile := filepath.Join(filepath.Dir(d.sock), "metrics.addr")
	deadline := time.Now().Add(waitFor)
	for {
		if _, err := os.Stat(d.sock); err == nil {
			if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
				d.metrics = strings.TrimSpace(string(b))
				return
			}
		}
		select {
		case <-d.exited:
			t.Fatalf("pagerd exited at start: %v\n%s", d.cmd.ProcessState, d.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pagerd did not start listening\n%s", d.logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (d *daemon) logs() string {
	b, _ := os.ReadFile(d.log.Name())
	return string(b)
}

// stop sends sig and waits for the exit; it returns the exit code.
func (d *daemon) stop(sig syscall.Signal) int {
	d.t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
	case <-time.After(waitFor):
		d.cmd.Process.Kill()
		<-d.exited
		d.t.Fatalf("pagerd did not exit after %v\n%s", sig, d.logs())
	}
	if ws, ok := d.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return d.cmd.ProcessState.ExitCode()
}

func (d *daemon) kill() {
	select {
	case <-d.exited:
	default:
		d.cmd.Process.Kill()
		<-d.exited
	}
}

func (d *daemon) alive() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// dial connects the test process as a client.
func (d *daemon) dial() *client.Client {
	d.t.Helper()
	c, err := client.Dial(d.sock, &client.Options{DialTimeout: waitFor, RequestTimeout: waitFor})
	if err != nil {
		d.t.Fatalf("dial: %v\n%s", err, d.logs())
	}
	d.t.Cleanup(func() { c.Close() })
	return c
}

// scrape returns the metrics page.
func (d *daemon) scrape() string {
	d.t.Helper()
	cl := http.Client{Timeout: waitFor}
	resp, err := cl.Get("http://" + d.metrics + "/metrics")
	if err != nil {
		d.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		d.t.Fatalf("scrape: %v %v", resp.Status, err)
	}
	return string(b)
}

// metricValue sums the samples of name whose labels contain every
// label="value" pair given.
func metricValue(page, name string, labels ...string) float64 {
	sum := 0.0
	for _, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// pattern is deterministic test content: every 8 bytes hold their offset
// xored with seed.
func pattern(size int, seed uint64) []byte {
	b := make([]byte, size)
	for off := 0; off+8 <= size; off += 8 {
		v := uint64(off) ^ seed
		for i := 0; i < 8; i++ {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	return b
}

// child is a client process driven over its stdin.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	lines chan string
	done  chan struct{}
}

// result is one answer of a child.
type result struct {
	OK     bool   `json:"ok"`
	Err    string `json:"err,omitempty"`
	Status int32  `json:"status,omitempty"`
	Sigbus bool   `json:"sigbus,omitempty"`
	Data   string `json:"data,omitempty"` // base64
	N      uint64 `json:"n,omitempty"`
	PID    int    `json:"pid,omitempty"`
}

func (r result) bytes() []byte {
	b, _ := base64.StdEncoding.DecodeString(r.Data)
	return b
}

func startChild(t *testing.T, sock string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PAGERD_IT_CHILD=1", "PAGERD_IT_SOCKET="+sock)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, in: in, lines: make(chan string, 16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(c.kill)
	if r := c.do("hello"); !r.OK {
		t.Fatalf("child: %s", r.Err)
	}
	return c
}

// send writes a command without waiting for the answer.
func (c *child) send(cmd string) {
	c.t.Helper()
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		c.t.Fatalf("child %q: %v", cmd, err)
	}
}

// answer waits for the next answer.
func (c *child) answer(what string) result {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("child %q: exited (%v)", what, c.cmd.ProcessState)
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			c.t.Fatalf("child %q: bad answer %q", what, line)
		}
		return r
	case <-time.After(waitFor):
		c.t.Fatalf("child %q: no answer in %v", what, waitFor)
	}
	return result{}
}

// do runs one command and returns its answer.
func (c *child) do(cmd string) result {
	c.t.Helper()
	c.send(cmd)
	return c.answer(cmd)
}

// must runs a command that must succeed.
func (c *child) must(cmd string) result {
	c.t.Helper()
	r := c.do(cmd)
	if !r.OK {
		c.t.Fatalf("child %q: %s", cmd, r.Err)
	}
	return r
}

func (c *child) kill() {
	select {
	case <-c.done:
	default:
		c.cmd.Process.Kill()
		<-c.done
	}
}

// childMain is a client process: it executes one command per stdin line
// and answers with one JSON line. Memory is accessed by C threads so a
// SIGBUS is caught and reported rather than fatal.
func childMain() int {
	out := json.NewEncoder(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	var (
		c  *client.Client
		v  *client.VMO
		m  *client.Mapping
		bg chan faulter.Result
	)
	sock := os.Getenv("PAGERD_IT_SOCKET")
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		arg := func(i int) uint64 {
			if i >= len(f) {
				return 0
			}
			n, _ := strconv.ParseUint(f[i], 0, 64)
			return n
		}
		var r result
		var err error
		switch f[0] {
		case "hello":
			r.PID = os.Getpid()
		case "dial":
			c, err = client.Dial(sock, &client.Options{DialTimeout: waitFor, RequestTimeout: waitFor})
		case "open": // open NAME [ro|create SIZE]
			var flags client.OpenFlags
			var size uint64
			if len(f) > 2 && f[2] == "ro" {
				flags = client.ReadOnly
			}
			if len(f) > 3 && f[2] == "create" {
				flags, size = client.Create, arg(3)
			}
			v, err = c.Open(f[1], flags, size)
		case "map": // map OFF LEN [w]
			m, err = v.Map(arg(1), arg(2), len(f) > 3 && f[3] == "w")
		case "read": // read OFF LEN: a C thread reads the mapping
			var fr faulter.Result
			fr, err = faulter.ReadAt(m.Addr()+uintptr(arg(1)), int(arg(2)), waitFor)
			r.Sigbus = fr.Sigbus
			r.Data = base64.StdEncoding.EncodeToString(fr.Data)
		case "write": // write OFF TEXT: a C thread writes
			var fr faulter.Result
			fr, err = faulter.WriteAt(m.Addr()+uintptr(arg(1)), []byte(f[2]), waitFor)
			r.Sigbus = fr.Sigbus
		case "readasync": // start a C-thread read and answer at once; its result is dropped
			go faulter.ReadAt(m.Addr()+uintptr(arg(1)), int(arg(2)), time.Hour)
		case "readbg": // start a C-thread read; readwait answers with its result
			ch := make(chan faulter.Result, 1)
			addr, n := m.Addr()+uintptr(arg(1)), int(arg(2))
			go func() {
				fr, err := faulter.ReadAt(addr, n, waitFor)
				if err != nil {
					fr.Data = []byte(err.Error())
				}
				ch <- fr
			}()
			bg = ch
		case "readwait":
			fr := <-bg
			r.Sigbus = fr.Sigbus
			r.Data = base64.StdEncoding.EncodeToString(fr.Data)
		case "populate": // populate OFF LEN [w]
			err = m.Populate(arg(1), arg(2), len(f) > 3 && f[3] == "w")
		case "sync":
			r.N, err = v.Sync()
		case "stats": // answers the VMO's read-fault count
			s, e := v.Stats()
			r.N, err = s.ReadFaults, e
		case "unmap":
			err = m.Unmap()
		case "close":
			err = c.Close()
		case "stress": // stress ID N MILLISECONDS: see childStress
			var sr result
			sr, err = childStress(c, int(arg(1)), int(arg(2)), arg(3))
			r.Data = sr.Data
		case "exit":
			return 0
		default:
			err = fmt.Errorf("unknown command %q", f[0])
		}
		if err != nil {
			r.Err = err.Error()
			r.Status = int32(zx.StatusOf(err))
		} else {
			r.OK = true
		}
		out.Encode(r)
	}
	return 0
}
