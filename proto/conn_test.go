package proto

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

const testTimeout = 10 * time.Second

// pair returns a connected (server, client) over a real socket in t.TempDir().
func pair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	l, err := Listen(filepath.Join(t.TempDir(), "pagerd.sock"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.SetDeadline(time.Now().Add(testTimeout))
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.Accept(); ch <- res{c, err} }()
	cli, err := Dial(l.Path(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, c := range []*Conn{r.c, cli} {
		c.SetDeadline(time.Now().Add(testTimeout))
		t.Cleanup(func() { c.Close() })
	}
	return r.c, cli
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func memfdWith(t *testing.T, data string) int {
	t.Helper()
	fd, err := unix.MemfdCreate("proto-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fd, []byte(data)); err != nil {
		t.Fatal(err)
	}
	return fd
}

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

func isCloexec(t *testing.T, fd int) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.FD_CLOEXEC != 0
}

// TestConnEveryMessage sends every sample message over a real socket, with a
// real memfd for VMOOpened and a real pipe for RegisterMapping's fd slot,
// and checks the fds work on the receiving side.
func TestConnEveryMessage(t *testing.T) {
	srv, cli := pair(t)
	for _, m := range samples() {
		var fds []int
		var pr int
		switch m.(type) {
		case *VMOOpened:
			fds = []int{memfdWith(t, "vmo contents")}
		case *RegisterMapping:
			if m.NumFDs() == 1 {
				var pw int
				pr, pw = pipe(t)
				fds = []int{pw}
			}
		}
		if err := cli.Send(m, fds...); err != nil {
			t.Fatalf("Send(%v): %v", m.Type(), err)
		}
		closeFDs(fds) // the message holds its own references
		got, gfds, err := srv.Recv()
		if err != nil {
			t.Fatalf("Recv(%v): %v", m.Type(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("got %#v, want %#v", got, m)
		}
		if len(gfds) != m.NumFDs() {
			t.Fatalf("%v: %d fds", m.Type(), len(gfds))
		}
		for _, fd := range gfds {
			if !isCloexec(t, fd) {
				t.Errorf("%v: received fd %d lacks FD_CLOEXEC", m.Type(), fd)
			}
		}
		switch m.(type) {
		case *VMOOpened:
			buf := make([]byte, 32)
			n, err := unix.Pread(gfds[0], buf, 0)
			if err != nil || string(buf[:n]) != "vmo contents" {
				t.Fatalf("memfd on the other side reads %q, %v", buf[:n], err)
			}
		case *RegisterMapping:
			if len(gfds) == 1 {
				if _, err := unix.Write(gfds[0], []byte("ping")); err != nil {
					t.Fatal(err)
				}
				unix.Close(gfds[0])
				gfds = nil
				data, err := io.ReadAll(os.NewFile(uintptr(pr), "pipe"))
				if err != nil || string(data) != "ping" {
					t.Fatalf("pipe read %q, %v", data, err)
				}
			}
		}
		closeFDs(gfds)
	}
}

func TestHandshake(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		cmin, cmax, smin, smax uint16
		want                   uint16 // 0: no overlap
	}{
		{"same", 1, 1, 1, 1, 1},
		{"overlap picks highest", 2, 5, 1, 3, 3},
		{"client older", 1, 2, 1, 7, 2},
		{"no overlap", 4, 6, 1, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := pair(t)
			limits := Limits{MaxVMOs: 8, MaxMappedBytes: 1 << 30, MaxOutstanding: 16}
			type res struct {
				h   *Hello
				w   *Welcome
				err error
			}
			ch := make(chan res, 1)
			go func() {
				h, w, err := ServerHandshake(srv, ServerConfig{MinVersion: tc.smin, MaxVersion: tc.smax,
					Features: FeatureTrapDirty, Limits: limits})
				ch <- res{h, w, err}
			}()
			w, err := ClientHandshake(cli, Hello{ReqID: 77, MinVersion: tc.cmin, MaxVersion: tc.cmax})
			r := <-ch
			if tc.want == 0 {
				if !errors.Is(err, zx.ErrProtocolNotSupported) || !errors.Is(r.err, zx.ErrProtocolNotSupported) {
					t.Fatalf("client %v, server %v; want ZX_ERR_PROTOCOL_NOT_SUPPORTED on both", err, r.err)
				}
				return
			}
			if err != nil || r.err != nil {
				t.Fatalf("client %v, server %v", err, r.err)
			}
			if w.Version != tc.want || r.w.Version != tc.want || w.RequestID() != 77 {
				t.Fatalf("version %d/%d id %d, want %d", w.Version, r.w.Version, w.RequestID(), tc.want)
			}
			if w.Limits != limits || w.Features != FeatureTrapDirty || w.PageSize != uint32(os.Getpagesize()) {
				t.Fatalf("welcome %#v", w)
			}
			if r.h.PID != int32(os.Getpid()) || r.h.PageSize != uint32(os.Getpagesize()) {
				t.Fatalf("hello %#v", r.h)
			}
		})
	}
}

func TestHandshakeRejectsNonHello(t *testing.T) {
	srv, cli := pair(t)
	ch := make(chan error, 1)
	go func() { _, _, err := ServerHandshake(srv, ServerConfig{}); ch <- err }()
	if err := cli.Send(&Sync{ReqID: 5, VMOID: 1}); err != nil {
		t.Fatal(err)
	}
	m, _, err := cli.Recv()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.(*Error)
	if !ok || e.Code != zx.ErrBadState || e.RequestID() != 5 {
		t.Fatalf("reply %#v", m)
	}
	if err := <-ch; !IsMalformed(err) {
		t.Fatalf("server: %v", err)
	}
}

func TestPeerCred(t *testing.T) {
	srv, cli := pair(t)
	for _, c := range []*Conn{srv, cli} {
		pid, uid, gid, err := PeerCred(c)
		if err != nil {
			t.Fatal(err)
		}
		if pid != int32(os.Getpid()) || uid != uint32(os.Geteuid()) || gid != uint32(os.Getegid()) {
			t.Fatalf("PeerCred = %d %d %d, want %d %d %d", pid, uid, gid, os.Getpid(), os.Geteuid(), os.Getegid())
		}
	}
	cred, err := (Allow{}).Check(srv)
	if err != nil || cred.PID != int32(os.Getpid()) {
		t.Fatalf("Check: %v %v", cred, err)
	}
}

func TestAllow(t *testing.T) {
	self := uint32(os.Geteuid())
	other := uint32(54321)
	if other == self {
		other++
	}
	a := Allow{UIDs: []uint32{1000}, GIDs: []uint32{2000}}
	for _, tc := range []struct {
		a    Allow
		c    Cred
		want bool
	}{
		{Allow{}, Cred{UID: 0, GID: 99}, true},
		{Allow{}, Cred{UID: self, GID: 99}, true},
		{Allow{}, Cred{UID: other, GID: 99}, false},
		{a, Cred{UID: 1000, GID: 1}, true},
		{a, Cred{UID: other, GID: 2000}, true},
		{a, Cred{UID: other, GID: 2001}, false},
	} {
		if got := tc.a.Permits(tc.c); got != tc.want {
			t.Errorf("%+v.Permits(%+v) = %v", tc.a, tc.c, got)
		}
	}
}

func TestListenMode(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode, want os.FileMode
	}{{0, 0o600}, {0o660, 0o660}} {
		path := filepath.Join(dir, "m"+tc.want.String()+".sock")
		l, err := Listen(path, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != tc.want {
			t.Fatalf("mode %v, want socket %v", fi.Mode(), tc.want)
		}
		l.Close()
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("socket left after Close: %v", err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("leftover files %v", ents)
	}
}

func TestListenStaleAndLive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")

	// A stale socket: bound, then closed without unlink.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	l, err := Listen(path, 0)
	if err != nil {
		t.Fatalf("Listen over stale socket: %v", err)
	}
	defer l.Close()

	// A live one is kept, and keeps working.
	if l2, err := Listen(path, 0); !errors.Is(err, zx.ErrAddressInUse) {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("Listen over live socket: %v", err)
	}
	l.SetDeadline(time.Now().Add(testTimeout))
	go func() {
		if c, err := Dial(path, testTimeout); err == nil {
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("first listener broken: %v", err)
	}
	c.Close()

	// A live stream socket is not replaced either.
	spath := filepath.Join(dir, "stream.sock")
	sl, err := net.Listen("unix", spath)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	if _, err := Listen(spath, 0); !errors.Is(err, zx.ErrAddressInUse) {
		t.Fatalf("Listen over live stream socket: %v", err)
	}

	// A regular file is never removed.
	fpath := filepath.Join(dir, "file")
	os.WriteFile(fpath, []byte("keep"), 0o644)
	if _, err := Listen(fpath, 0); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
	if b, err := os.ReadFile(fpath); err != nil || string(b) != "keep" {
		t.Fatalf("regular file damaged: %q %v", b, err)
	}
}

// sendRawFDs sends b with fds that are then closed locally, so the only
// references left are in flight.
func sendRawFDs(t *testing.T, c *Conn, b []byte, fds []int) {
	t.Helper()
	if err := c.SendRaw(b, fds...); err != nil {
		t.Fatal(err)
	}
	closeFDs(fds)
}

func TestExtraFDsClosed(t *testing.T) {
	srv, cli := pair(t)
	sync := mustMarshal(t, &Sync{ReqID: 1, VMOID: 2})
	opened := mustMarshal(t, &VMOOpened{ReqID: 1, VMOID: 2, Size: 10})
	for _, tc := range []struct {
		name string
		b    []byte
		n    int
		kind DecodeErrorKind
	}{
		{"fd on Sync", sync, 1, KindFDs},
		{"3 fds on Sync", sync, 3, KindFDs},
		{"2 fds on VMOOpened", opened, 2, KindFDs},
		{"fd on garbage", []byte("garbage"), 2, KindShort},
		{"9 fds (CTRUNC)", sync, recvFDs + 1, KindControl},
		{"20 fds (CTRUNC)", sync, 20, KindControl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countFDs(t)
			var reads, writes []int
			for range tc.n {
				r, w := pipe(t)
				reads, writes = append(reads, r), append(writes, w)
			}
			sendRawFDs(t, cli, tc.b, writes)
			m, fds, err := srv.Recv()
			var de *DecodeError
			if !errors.As(err, &de) || de.Kind != tc.kind || m != nil || fds != nil {
				t.Fatalf("Recv = %v, %v, %v; want kind %v", m, fds, err, tc.kind)
			}
			// Every write end was closed by Recv: the read ends see EOF.
			for _, r := range reads {
				var buf [1]byte
				unix.SetNonblock(r, true)
				n, err := unix.Read(r, buf[:])
				if n != 0 || err != nil {
					t.Fatalf("pipe write end still open somewhere: n=%d err=%v", n, err)
				}
				unix.Close(r)
			}
			// A leak shows as more fds; fewer is fine (the runtime or another
			// test's cleanup may close one meanwhile).
			if after := countFDs(t); after > before {
				t.Fatalf("fds before %d, after %d: leaked", before, after)
			}
		})
	}
	// The connection still works after rejected packets.
	if err := cli.Send(&Sync{ReqID: 3, VMOID: 4}); err != nil {
		t.Fatal(err)
	}
	if m, _, err := srv.Recv(); err != nil || m.(*Sync).VMOID != 4 {
		t.Fatalf("%v %v", m, err)
	}
}

func TestMissingFD(t *testing.T) {
	srv, cli := pair(t)
	if err := cli.Send(&VMOOpened{ReqID: 1, VMOID: 2}); !IsMalformed(err) {
		t.Fatalf("Send without the memfd: %v", err)
	}
	sendRawFDs(t, cli, mustMarshal(t, &VMOOpened{ReqID: 1, VMOID: 2}), nil)
	if _, _, err := srv.Recv(); !IsMalformed(err) {
		t.Fatalf("Recv of VMOOpened without fd: %v", err)
	}
}

func TestTooLargePacket(t *testing.T) {
	srv, cli := pair(t)
	before := countFDs(t)
	r, w := pipe(t)
	sendRawFDs(t, cli, raw(TypeError, 0, make([]byte, MaxMessageSize)), []int{w})
	var de *DecodeError
	if _, _, err := srv.Recv(); !errors.As(err, &de) || de.Kind != KindTooLarge {
		t.Fatalf("Recv of oversized packet: %v", err)
	}
	unix.Close(r)
	if after := countFDs(t); after > before {
		t.Fatalf("fds before %d, after %d: leaked", before, after)
	}
}

func TestDeadlineAndEOF(t *testing.T) {
	srv, cli := pair(t)
	srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, _, err := srv.Recv()
	if !errors.Is(err, os.ErrDeadlineExceeded) || IsMalformed(err) {
		t.Fatalf("Recv with deadline: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("deadline not honoured")
	}
	srv.SetReadDeadline(time.Now().Add(testTimeout))
	cli.Send(&Goodbye{})
	if m, _, err := srv.Recv(); err != nil || m.Type() != TypeGoodbye {
		t.Fatalf("%v %v", m, err)
	}
	cli.Close()
	if _, _, err := srv.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after peer close: %v", err)
	}
}

func TestDialNoListener(t *testing.T) {
	if _, err := Dial(filepath.Join(t.TempDir(), "none.sock"), time.Second); err == nil {
		t.Fatal("Dial succeeded with nothing listening")
	}
}
