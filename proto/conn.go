package proto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// DefaultSocketMode is the socket file's mode when Listen is given 0.
const DefaultSocketMode os.FileMode = 0o600

// DefaultSocket is where pagerd listens unless told otherwise, and where
// clients look for it: under $XDG_RUNTIME_DIR when it is set, else
// /run/pagerd/pagerd.sock as root and /tmp/pagerd-<uid>/pagerd.sock
// otherwise.
func DefaultSocket() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "pagerd", "pagerd.sock")
	}
	if os.Geteuid() == 0 {
		return "/run/pagerd/pagerd.sock"
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("pagerd-%d", os.Geteuid()), "pagerd.sock")
}

// recvFDs is how many fds Recv has room for. More than MaxFDs so that a
// peer sending too many is seen (and its fds closed) rather than silently
// cut off; beyond this the kernel drops the rest and sets MSG_CTRUNC.
const recvFDs = 8

// Listener accepts pagerd connections on a SOCK_SEQPACKET unix socket.
type Listener struct {
	l    *net.UnixListener
	path string
	dev  uint64
	ino  uint64

	closeOnce sync.Once
	closeErr  error
}

// Listen binds a SOCK_SEQPACKET socket at path with file mode mode
// (DefaultSocketMode if 0) and listens on it.
//
// A socket already at path is replaced only if it is stale (connecting to it
// fails with ECONNREFUSED); a live one yields an error matching
// zx.ErrAddressInUse, and a non-socket file at path is never touched. The
// socket is bound under a temporary name, chmod'ed, and renamed over path,
// so it never exists at path with a wider mode and the stale socket is
// replaced atomically. Two daemons racing on the same stale path are not
// arbitrated (the later rename wins); use a lock file for that.
func Listen(path string, mode os.FileMode) (*Listener, error) {
	if mode == 0 {
		mode = DefaultSocketMode
	}
	if err := checkStale(path); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fdOpen := true
	defer func() {
		if fdOpen {
			unix.Close(fd)
		}
	}()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp"+strconv.Itoa(os.Getpid()))
	_ = os.Remove(tmp) // our own leftover from a crash with the same pid
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: tmp}); err != nil {
		return nil, &os.PathError{Op: "bind", Path: tmp, Err: err}
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if err := os.Chmod(tmp, mode.Perm()); err != nil {
		return nil, err
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(tmp, &st); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: tmp, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	nl, err := net.FileListener(f) // dups fd
	fdOpen = false
	f.Close() // closes fd
	if err != nil {
		return nil, err
	}
	ul, isUnix := nl.(*net.UnixListener)
	if !isUnix {
		nl.Close()
		return nil, fmt.Errorf("proto: listener is %T", nl)
	}
	if err := os.Rename(tmp, path); err != nil {
		ul.Close()
		return nil, err
	}
	ok = true
	return &Listener{l: ul, path: path, dev: st.Dev, ino: st.Ino}, nil
}

// checkStale removes nothing; it fails unless path is absent or a stale socket.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return &zx.Error{Status: zx.ErrAlreadyExists, Text: path + " exists and is not a socket"}
	}
	for _, typ := range []int{unix.SOCK_SEQPACKET, unix.SOCK_STREAM, unix.SOCK_DGRAM} {
		fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		unix.Close(fd)
		switch {
		case err == nil, errors.Is(err, unix.EAGAIN): // EAGAIN: live, backlog full
			return &zx.Error{Status: zx.ErrAddressInUse, Text: path + " has a live listener"}
		case errors.Is(err, unix.EPROTOTYPE): // live socket of another type
			continue
		case errors.Is(err, unix.ECONNREFUSED):
			return nil
		default:
			return &os.PathError{Op: "connect", Path: path, Err: err}
		}
	}
	return &zx.Error{Status: zx.ErrAddressInUse, Text: path + " is bound by a socket of another type"}
}

// Accept waits for a connection (subject to SetDeadline).
func (l *Listener) Accept() (*Conn, error) {
	c, err := l.l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	return newConn(c)
}

// SetDeadline sets the Accept deadline.
func (l *Listener) SetDeadline(t time.Time) error { return l.l.SetDeadline(t) }

// Path is the socket's path.
func (l *Listener) Path() string { return l.path }

// Close stops listening and removes the socket file if it is still ours
// (not already replaced by another listener).
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		var st unix.Stat_t
		if unix.Lstat(l.path, &st) == nil && st.Dev == l.dev && st.Ino == l.ino {
			os.Remove(l.path)
		}
		l.closeErr = l.l.Close()
	})
	return l.closeErr
}

// Conn is one SOCK_SEQPACKET connection: one message per packet, with its
// fds as SCM_RIGHTS. Send and Recv may be called from different goroutines;
// concurrent Sends are safe (each packet is atomic), concurrent Recvs are
// safe but their order is unspecified.
type Conn struct {
	c  *net.UnixConn
	rc syscall.RawConn
}

func newConn(c *net.UnixConn) (*Conn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Conn{c: c, rc: rc}, nil
}

// Dial connects to the pagerd socket at path within timeout (0: no timeout).
func Dial(path string, timeout time.Duration) (*Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(context.Background(), "unixpacket", path)
	if err != nil {
		return nil, err
	}
	return newConn(c.(*net.UnixConn))
}

// NewConn wraps an already-connected SOCK_SEQPACKET unix socket (for
// example one end of a socketpair). It takes ownership of c.
func NewConn(c *net.UnixConn) (*Conn, error) { return newConn(c) }

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// SetDeadline, SetReadDeadline and SetWriteDeadline bound Send and Recv;
// an expired deadline yields an error matching os.ErrDeadlineExceeded.
func (c *Conn) SetDeadline(t time.Time) error      { return c.c.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.c.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.c.SetWriteDeadline(t) }

// SyscallConn exposes the socket (for PeerCred and tests).
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// Send encodes m and sends it with fds, which must number m.NumFDs(). The
// fds stay owned by the caller (the kernel dups them into the message).
func (c *Conn) Send(m Message, fds ...int) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	if len(fds) != m.NumFDs() {
		return &DecodeError{Kind: KindFDs, Type: m.Type(), Text: fmt.Sprintf("sending %d fds, message takes %d", len(fds), m.NumFDs())}
	}
	return c.SendRaw(b, fds...)
}

// SendRaw sends b as one packet with fds, unchecked. It exists for tests
// and tools; use Send.
func (c *Conn) SendRaw(b []byte, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	var n int
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		n, serr = unix.SendmsgN(int(fd), b, oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return &net.OpError{Op: "sendmsg", Net: "unixpacket", Err: os.NewSyscallError("sendmsg", err)}
	}
	if n != len(b) {
		return &net.OpError{Op: "sendmsg", Net: "unixpacket", Err: fmt.Errorf("short send %d of %d", n, len(b))}
	}
	return nil
}

// Recv receives and decodes one message. On success the fds (exactly
// m.NumFDs(), close-on-exec) belong to the caller. On any error every fd
// that arrived has been closed and fds is nil. A malformed packet
// (including one larger than MaxMessageSize, or one with too many or too
// few fds) gives a *DecodeError (IsMalformed); the peer closing gives
// io.EOF; anything else is an I/O error. A zero-length packet reads as EOF.
func (c *Conn) Recv() (Message, []int, error) {
	b, fds, err := c.RecvRaw()
	if err != nil {
		return nil, nil, err
	}
	m, err := Decode(b, len(fds))
	if err != nil {
		closeFDs(fds)
		return nil, nil, err
	}
	return m, fds, nil
}

// RecvRaw receives one packet and its fds without decoding it, with the
// same truncation checks and fd hygiene as Recv.
func (c *Conn) RecvRaw() ([]byte, []int, error) {
	buf := make([]byte, MaxMessageSize)
	oob := make([]byte, unix.CmsgSpace(recvFDs*4))
	var n, oobn, flags int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, nil, &net.OpError{Op: "recvmsg", Net: "unixpacket", Err: os.NewSyscallError("recvmsg", err)}
	}
	fds, cerr := parseRights(oob[:oobn])
	switch {
	case cerr != nil:
		closeFDs(fds)
		return nil, nil, cerr
	case flags&unix.MSG_CTRUNC != 0:
		closeFDs(fds)
		return nil, nil, &DecodeError{Kind: KindControl, Text: fmt.Sprintf("control data truncated (more than %d fds)", recvFDs)}
	case flags&unix.MSG_TRUNC != 0:
		closeFDs(fds)
		return nil, nil, &DecodeError{Kind: KindTooLarge, Text: fmt.Sprintf("packet larger than %d bytes", MaxMessageSize)}
	case n == 0 && len(fds) == 0:
		return nil, nil, io.EOF
	}
	return buf[:n:n], fds, nil
}

// parseRights returns every fd in the control data; on error the fds found
// so far are still returned so the caller can close them.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, &DecodeError{Kind: KindControl, Text: err.Error()}
	}
	var fds []int
	var bad error
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			bad = &DecodeError{Kind: KindControl, Text: fmt.Sprintf("unexpected control message level %d type %d", msgs[i].Header.Level, msgs[i].Header.Type)}
			continue
		}
		f, err := unix.ParseUnixRights(&msgs[i])
		fds = append(fds, f...)
		if err != nil && bad == nil {
			bad = &DecodeError{Kind: KindControl, Text: err.Error()}
		}
	}
	return fds, bad
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
