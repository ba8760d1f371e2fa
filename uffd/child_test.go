//go:build linux

package uffd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv selects a helper role when the test binary is re-executed as a
// child process: the child owns the memory and the userfaultfd, faults or
// forks, and the parent test serves its uffd received over SCM_RIGHTS.
const childEnv = "PAGERD_UFFD_TEST_CHILD"

// childSock is the child's end of the socketpair (ExtraFiles[0]).
const childSock = 3

func TestMain(m *testing.M) {
	switch mode := os.Getenv(childEnv); mode {
	case "":
		os.Exit(m.Run())
	case "fork":
		os.Exit(childMain(childFork))
	case "fault":
		os.Exit(childMain(childFault))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", childEnv, mode)
		os.Exit(2)
	}
}

// childMain runs a child role and turns its error into an exit status.
func childMain(f func() error) int {
	tv := unix.NsecToTimeval(int64(testTimeout))
	unix.SetsockoptTimeval(childSock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := f(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// sendFd sends fd and payload over a unix socket.
func sendFd(sock, fd int, payload []byte) error {
	return unix.Sendmsg(sock, payload, unix.UnixRights(fd), nil, 0)
}

// recvFd receives one fd and its payload from a unix socket.
func recvFd(sock int) (int, []byte, error) {
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, nil, fmt.Errorf("control messages %v: %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, nil, fmt.Errorf("rights %v: %v", fds, err)
	}
	return fds[0], buf[:n], nil
}

// waitGo blocks until the parent sends its go byte.
func waitGo() error {
	var b [1]byte
	n, err := unix.Read(childSock, b[:])
	if err != nil || n != 1 {
		return fmt.Errorf("waiting for the parent: n=%d err=%v", n, err)
	}
	return nil
}

// child is a re-executed test binary in a helper role.
type child struct {
	cmd    *exec.Cmd
	sock   int
	stderr bytes.Buffer
	done   chan error
}

// startChild starts the test binary in the given role with a socketpair.
func startChild(t *testing.T, mode string) *child {
	t.Helper()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &child{sock: sp[0], done: make(chan error, 1)}
	f := os.NewFile(uintptr(sp[1]), "child-sock")
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childEnv+"="+mode)
	c.cmd.ExtraFiles = []*os.File{f}
	c.cmd.Stderr = &c.stderr
	c.cmd.Stdout = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	go func() { c.done <- c.cmd.Wait() }()
	tv := unix.NsecToTimeval(int64(testTimeout))
	unix.SetsockoptTimeval(c.sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
		}
		unix.Close(c.sock)
	})
	return c
}

// wait waits for the child to exit and fails the test unless it exited 0.
func (c *child) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("child: %v\n%s", err, c.stderr.String())
		}
	case <-time.After(testTimeout):
		c.cmd.Process.Kill()
		t.Fatalf("child did not exit within %v\n%s", testTimeout, c.stderr.String())
	}
}

// goAhead tells the child to continue.
func (c *child) goAhead(t *testing.T) {
	t.Helper()
	if _, err := unix.Write(c.sock, []byte{1}); err != nil {
		t.Fatal(err)
	}
}

// childFork registers memory with EVENT_FORK, hands the uffd to the parent
// and forks (a clone without CLONE_VM: Go's os/exec only copies the address
// space when it creates a user namespace). The clone returns only after the
// parent has read the FORK event.
func childFork() error {
	u, err := New(FeatureEventFork)
	if err != nil {
		return err
	}
	b, err := unix.Mmap(-1, 0, PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	if _, err := u.Register(addrOf(b), pageSize, RegisterModeMissing); err != nil {
		return err
	}
	var p [8]byte
	binary.NativeEndian.PutUint64(p[:], uint64(addrOf(b)))
	if err := sendFd(childSock, u.Fd(), p[:]); err != nil {
		return err
	}
	if err := waitGo(); err != nil {
		return err
	}
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("fork with CLONE_NEWUSER: %w", err)
		}
	}
	return nil
}

// TestEventFork mirrors the selftests' fork part of the events test: a
// fork of the registered process sends FORK to the parent's uffd, reading
// it installs the child's new userfaultfd in the reader, and the forking
// process stays blocked in fork until the event is read.
func TestEventFork(t *testing.T) {
	c := startChild(t, "fork")
	fd, payload, err := recvFd(c.sock)
	if err != nil {
		t.Fatalf("receiving the child's uffd: %v\n%s", err, c.stderr.String())
	}
	u := FromFd(fd, FeatureEventFork)
	defer u.Close()
	if len(payload) != 8 {
		t.Fatalf("payload %d bytes", len(payload))
	}
	c.goAhead(t)
	// Let the fork block on its event for a moment: it must not finish.
	ur, _, err := u.Wait(-1, int(testTimeout/time.Millisecond))
	if err != nil || !ur {
		t.Fatalf("Wait for FORK = %v, %v\n%s", ur, err, c.stderr.String())
	}
	select {
	case err := <-c.done:
		c.done <- err
		t.Fatalf("child exited (%v) before its FORK event was read\n%s", err, c.stderr.String())
	case <-time.After(50 * time.Millisecond):
	}
	var msgs [4]Msg
	n, err := u.Read(msgs[:])
	if err != nil || n != 1 {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if msgs[0].Event() != EventFork {
		t.Fatalf("message %v, want FORK", msgs[0].String())
	}
	ufd := msgs[0].Fork()
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", ufd))
	t.Logf("FORK message: ufd=%d -> %q", ufd, link)
	if err != nil || !strings.Contains(link, "userfaultfd") {
		t.Errorf("FORK ufd %d is %q (%v), want a userfaultfd", ufd, link, err)
	}
	if fl, err := unix.FcntlInt(uintptr(ufd), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK == 0 {
		t.Errorf("child uffd flags %#x lack the parent's O_NONBLOCK", fl)
	}
	// The child's uffd is initialized with the parent's features: it polls.
	cu := FromFd(ufd, FeatureEventFork)
	if _, _, err := cu.Wait(-1, 0); err != nil {
		t.Errorf("Wait on the child's uffd: %v", err)
	}
	cu.Close()
	c.wait(t)
}

// childFault registers memory with THREAD_ID and EXACT_ADDRESS, hands the
// uffd to the parent, and touches the memory directly from a locked thread:
// a store at page 0 + 0x123 and a load at page 1 + 7. It is a separate
// process from the handler, so direct access is safe.
func childFault() error {
	u, err := New(FeatureThreadID | FeatureExactAddress)
	if err != nil {
		return err
	}
	b, err := unix.Mmap(-1, 0, 2*PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	if _, err := u.Register(addrOf(b), 2*pageSize, RegisterModeMissing); err != nil {
		return err
	}
	runtime.LockOSThread()
	var p [12]byte
	binary.NativeEndian.PutUint64(p[:], uint64(addrOf(b)))
	binary.NativeEndian.PutUint32(p[8:], uint32(unix.Gettid()))
	if err := sendFd(childSock, u.Fd(), p[:]); err != nil {
		return err
	}
	if err := waitGo(); err != nil {
		return err
	}
	b[0x123] = 0x99
	v := b[PageSize+7]
	if b[0] != 0x42 || b[0x123] != 0x99 || b[PageSize-1] != 0x42 || v != 0 || b[2*PageSize-1] != 0 {
		return fmt.Errorf("contents: %#x %#x %#x %#x %#x", b[0], b[0x123], b[PageSize-1], v, b[2*PageSize-1])
	}
	return nil
}

// TestChildFaults serves a separate process's faults: the messages carry
// the exact fault address (FeatureExactAddress), the WRITE flag for the
// store and none for the load, and the faulting thread's id
// (FeatureThreadID); COPY and ZEROPAGE into the other process's address
// space resolve them.
func TestChildFaults(t *testing.T) {
	c := startChild(t, "fault")
	fd, payload, err := recvFd(c.sock)
	if err != nil {
		t.Fatalf("receiving the child's uffd: %v\n%s", err, c.stderr.String())
	}
	u := FromFd(fd, FeatureThreadID|FeatureExactAddress)
	defer u.Close()
	if len(payload) != 12 {
		t.Fatalf("payload %d bytes", len(payload))
	}
	base := uintptr(binary.NativeEndian.Uint64(payload))
	tid := binary.NativeEndian.Uint32(payload[8:])
	src := mmapAnon(t, 1)
	fill(src, 0x42)
	c.goAhead(t)

	type want struct {
		addr  uintptr
		flags PagefaultFlags
	}
	wants := []want{{base + 0x123, PagefaultFlagWrite}, {base + pageSize + 7, 0}}
	got := 0
	var msgs [8]Msg
	deadline := time.Now().Add(testTimeout)
	for got < len(wants) && time.Now().Before(deadline) {
		if _, _, err := u.Wait(-1, 100); err != nil {
			t.Fatal(err)
		}
		n, err := u.Read(msgs[:])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs[:n] {
			flags, addr, ptid := m.Pagefault()
			if m.Event() != EventPagefault {
				t.Fatalf("message %v", m.String())
			}
			pg := uintptr(addr) &^ (pageSize - 1)
			var err error
			if pg == base {
				_, err = u.Copy(pg, addrOf(src), pageSize, 0)
			} else {
				_, err = u.Zeropage(pg, pageSize, 0)
			}
			if errors.Is(err, unix.EEXIST) {
				// A repeated fault (a signal withdrew and re-raised it).
				err = u.Wake(pg, pageSize)
			}
			if err != nil {
				t.Fatalf("resolving %v: %v", m.String(), err)
			}
			if got < len(wants) && uintptr(addr) == wants[got].addr {
				if flags != wants[got].flags || ptid != tid {
					t.Errorf("message %v, want flags %v ptid %d", m.String(), wants[got].flags, tid)
				}
				got++
			} else if got > 0 && uintptr(addr) == wants[got-1].addr {
				t.Logf("repeated fault %v", m.String())
			} else {
				t.Errorf("message %v, want a fault at %#x", m.String(), wants[got].addr)
			}
		}
	}
	if got != len(wants) {
		t.Fatalf("saw %d of %d faults\n%s", got, len(wants), c.stderr.String())
	}
	c.wait(t)
}
