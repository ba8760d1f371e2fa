package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/uffd"
)

// The uffd/raw-xproc row re-executes this binary as a child process. The
// child owns the memory and creates the userfaultfd (a uffd binds to its
// creator's mm), registers its mapping, sends the uffd to the parent with
// SCM_RIGHTS and faults from a C thread; the parent serves the faults with
// the same goroutine handler as uffd/raw-go. The child's latencies come
// back through a memfd shared with the parent.

// childEnv selects the child role; the values below carry its parameters.
const (
	childEnv         = "PAGERBENCH_CHILD"
	childEnvPages    = "PAGERBENCH_CHILD_PAGES"
	childEnvWarm     = "PAGERBENCH_CHILD_WARM"
	childEnvDuration = "PAGERBENCH_CHILD_DURATION"
)

// The child's fds: the socket and the results memfd (exec.Cmd.ExtraFiles).
const (
	childSockFd    = 3
	childResultsFd = 4
)

// Results memfd layout: faults, wall ns, sample count, then the samples,
// all int64.
const resultsHeader = 3

// IsChild reports whether this process was started as a child of a row
// (the raw-xproc faulter or a pagerd client).
// A main (or TestMain) using package bench must call ChildMain first thing
// when it is.
func IsChild() bool { return os.Getenv(childEnv) != "" }

// ChildMain runs the child role and returns the exit status.
func ChildMain() int {
	if err := childMain(); err != nil {
		fmt.Fprintln(os.Stderr, "pagerbench child:", err)
		return 1
	}
	return 0
}

func childMain() error {
	switch role := os.Getenv(childEnv); role {
	case "xproc":
	case pagerdRole:
		return pagerdChildMain()
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	// Die with the parent rather than fault forever.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	n, err1 := strconv.Atoi(os.Getenv(childEnvPages))
	warmN, err2 := strconv.Atoi(os.Getenv(childEnvWarm))
	dur, err3 := time.ParseDuration(os.Getenv(childEnvDuration))
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	tv := unix.Timeval{Sec: 120}
	_ = unix.SetsockoptTimeval(childSockFd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	r, err := mmapAnon(n * pageSize)
	if err != nil {
		return err
	}
	if err := r.prefault(); err != nil {
		return err
	}
	u, err := uffd.New(0)
	if err != nil {
		return err
	}
	if _, err := u.Register(r.addr, uintptr(r.size), uffd.RegisterModeMissing); err != nil {
		return err
	}
	if err := warm(r.size); err != nil {
		return err
	}
	var p [16]byte
	binary.NativeEndian.PutUint64(p[0:], uint64(r.addr))
	binary.NativeEndian.PutUint64(p[8:], uint64(r.size))
	if err := retryEINTR(func() error { return unix.Sendmsg(childSockFd, p[:], unix.UnixRights(u.Fd()), nil, 0) }); err != nil {
		return fmt.Errorf("sending the uffd: %w", err)
	}
	// Only the parent holds the uffd now: if it dies, the last fd closes
	// and the faults resolve (as zero pages) instead of hanging.
	if err := u.Close(); err != nil {
		return err
	}
	var b [1]byte
	if k, err := sockRead(childSockFd, b[:]); err != nil || k != 1 {
		return fmt.Errorf("waiting for the parent: n=%d err=%v", k, err)
	}
	m, err := touch(touchSpec{addrs: [][]uintptr{r.pages(n)}, warm: warmN}, dur, nil)
	if err != nil {
		return err
	}
	res, err := mmapShared(childResultsFd, (resultsHeader+n)*8, unix.PROT_READ|unix.PROT_WRITE)
	if err != nil {
		return err
	}
	out := unsafe.Slice((*int64)(unsafe.Pointer(&res.bytes()[0])), resultsHeader+n)
	out[0], out[1], out[2] = m.faults, m.wallNs, int64(len(m.samples))
	copy(out[resultsHeader:], m.samples)
	res.unmap()
	if _, err := sockWrite(childSockFd, []byte{2}); err != nil {
		return err
	}
	return nil
}

// xprocRow measures the raw handler across processes (see above).
func xprocRow(e *env) (*measurement, error) {
	n := e.cfg.N + e.cfg.Warmup
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	sock := sp[0]
	defer unix.Close(sock)
	childSock := os.NewFile(uintptr(sp[1]), "pagerbench-child-sock")
	resFd, err := newMemfd("pagerbench-results", (resultsHeader+n)*8)
	if err != nil {
		childSock.Close()
		return nil, err
	}
	resFile := os.NewFile(uintptr(resFd), "pagerbench-results")
	defer resFile.Close()

	exe, err := os.Executable()
	if err != nil {
		childSock.Close()
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(childEnviron(),
		childEnv+"=xproc",
		childEnvPages+"="+strconv.Itoa(n),
		childEnvWarm+"="+strconv.Itoa(e.cfg.Warmup),
		childEnvDuration+"="+e.cfg.Duration.String())
	cmd.ExtraFiles = []*os.File{childSock, resFile}
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		childSock.Close()
		return nil, err
	}
	childSock.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	reaped := false
	defer func() {
		if !reaped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	childErr := func(err error) error {
		return fmt.Errorf("%w (child: %s)", err, stderr.String())
	}
	tv := unix.Timeval{Sec: int64(e.cfg.Duration/time.Second) + 60}
	_ = unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	fd, err := recvFd(sock)
	if err != nil {
		return nil, childErr(fmt.Errorf("receiving the child's uffd: %w", err))
	}
	u := uffd.FromFd(fd, 0)
	defer u.Close()
	src, err := srcPage()
	if err != nil {
		return nil, err
	}
	defer src.unmap()
	h, err := startGoHandler(u, src.addr)
	if err != nil {
		return nil, err
	}
	if _, err := sockWrite(sock, []byte{1}); err != nil {
		h.close()
		return nil, childErr(err)
	}
	var b [1]byte
	k, rerr := sockRead(sock, b[:])
	served := h.close()
	if err := h.check(); err != nil {
		return nil, err
	}
	if rerr != nil || k != 1 {
		return nil, childErr(fmt.Errorf("waiting for the child: n=%d err=%v", k, rerr))
	}
	err = <-exited
	reaped = true
	if err != nil {
		return nil, childErr(err)
	}
	res, err := mmapShared(resFd, (resultsHeader+n)*8, unix.PROT_READ)
	if err != nil {
		return nil, err
	}
	defer res.unmap()
	in := unsafe.Slice((*int64)(unsafe.Pointer(&res.bytes()[0])), resultsHeader+n)
	cnt := int(in[2])
	if cnt < 0 || cnt > n {
		return nil, fmt.Errorf("child reported %d samples", cnt)
	}
	m := &measurement{faults: in[0], wallNs: in[1], threads: 1, samples: append([]int64(nil), in[resultsHeader:resultsHeader+cnt]...)}
	m.bytes = m.faults * int64(pageSize)
	m.note("handler (parent) served %d faults of the child", served)
	return m, nil
}

// lockedBuffer collects a child's output; it may be read (for an error
// message) while exec's copying goroutine still writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns the output so far, trimmed.
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(bytes.TrimSpace(l.b.Bytes()))
}

// childEnviron is this process's environment for a child, with the race
// detector (if the binary has it) told not to sleep a second at exit.
func childEnviron() []string {
	return append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// retryEINTR calls fn until it fails with something other than EINTR: the
// Go runtime's preemption signal (SIGURG) interrupts blocking system calls.
func retryEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}

// sockRead is read(2) on a control socket, retried on EINTR.
func sockRead(fd int, b []byte) (n int, err error) {
	err = retryEINTR(func() error { n, err = unix.Read(fd, b); return err })
	return n, err
}

// sockWrite is write(2) on a control socket, retried on EINTR.
func sockWrite(fd int, b []byte) (n int, err error) {
	err = retryEINTR(func() error { n, err = unix.Write(fd, b); return err })
	return n, err
}

// recvFd receives one fd from a unix socket.
func recvFd(sock int) (int, error) {
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	var oobn int
	err := retryEINTR(func() (err error) {
		_, oobn, _, _, err = unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		return err
	})
	if err != nil {
		return -1, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("control messages %d: %v", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("rights %v: %v", fds, err)
	}
	return fds[0], nil
}
