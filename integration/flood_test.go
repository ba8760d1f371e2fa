package integration

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/zx"
)

// Floods and out-of-range values: each is refused with a clear status,
// pagerd stays up and a well-behaved client is served meanwhile.

// rawConn is a handshaken protocol connection of the test process.
func rawConn(t *testing.T, sock string) (*proto.Conn, error) {
	t.Helper()
	conn, err := proto.Dial(sock, waitFor)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(waitFor))
	if _, err := proto.ClientHandshake(conn, proto.Hello{}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// healthyRead checks a fresh child client reads "x" correctly.
func healthyRead(t *testing.T, d *daemon, data []byte) {
	t.Helper()
	c := startChild(t, d.sock)
	c.must("dial")
	c.must("open x")
	c.must("map 0 " + itoa(len(data)))
	if r := c.must("read 0 " + itoa(len(data))); r.Sigbus || !bytes.Equal(r.bytes(), data) {
		t.Fatalf("healthy client: sigbus=%v, bytes differ=%v", r.Sigbus, !bytes.Equal(r.bytes(), data))
	}
	c.must("close")
}

// TestConnectionFlood: 200 connections at once against -max-clients 16:
// 16 are served, every other one is refused with NO_RESOURCES and closed;
// once they are gone a new client is served.
func TestConnectionFlood(t *testing.T) {
	dir := t.TempDir()
	data := pattern(2*page, 31)
	writeFile(t, dir, "x", data)
	d := startDaemon(t, dir, "-max-clients", "16", "-log-level", "error")
	const n = 200
	var (
		mu       sync.Mutex
		ok       []*proto.Conn
		refused  int
		otherErr []error
		wg       sync.WaitGroup
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := rawConn(t, d.sock)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok = append(ok, conn)
			case zx.StatusOf(err) == zx.ErrNoResources:
				refused++
			default:
				otherErr = append(otherErr, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d connections at once, -max-clients 16: %d served, %d refused with NO_RESOURCES, %d other errors", n, len(ok), refused, len(otherErr))
	if len(otherErr) > 0 {
		t.Fatalf("connections refused without NO_RESOURCES: %v", otherErr[0])
	}
	if len(ok) != 16 || refused != n-16 {
		t.Fatalf("%d served, %d refused; want 16 and %d", len(ok), refused, n-16)
	}
	// The served ones work.
	for i, conn := range ok {
		if err := conn.Send(&proto.Status{ReqID: 1}); err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		if m, _, err := conn.Recv(); err != nil || m.Type() != proto.TypeStatusReply {
			t.Fatalf("conn %d: status: %v %v", i, m, err)
		}
		conn.Close()
	}
	eventually(t, "the flood's sessions to end", func() bool { return metricValue(d.scrape(), "pagerd_clients") == 0 })
	healthyRead(t, d, data)
	if got := metricValue(d.scrape(), "pagerd_client_errors_total"); got < n-16 {
		t.Errorf("pagerd_client_errors_total = %v, want >= %d", got, n-16)
	}
}

// TestRequestFlood: a client sends 50,000 requests without reading a
// reply. pagerd must not stall on it: another client is served meanwhile,
// and the flooder is either answered in full or dropped, never hung.
func TestRequestFlood(t *testing.T) {
	dir := t.TempDir()
	data := pattern(2*page, 33)
	writeFile(t, dir, "x", data)
	d := startDaemon(t, dir, "-log-level", "error")
	conn, err := rawConn(t, d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 50000
	sent := 0
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			var m proto.Message = &proto.Status{ReqID: proto.ReqID(i)}
			if i%2 == 0 {
				m = &proto.OpenVMO{ReqID: proto.ReqID(i), Name: "nosuch"}
			}
			if err := conn.Send(m); err != nil {
				done <- err
				return
			}
			sent = i
		}
		done <- nil
	}()
	// While the flooder's socket fills up, a healthy client is served.
	healthyRead(t, d, data)
	// Drain: the flooder gets its replies (or is cut off), within the deadline.
	replies := 0
	conn.SetReadDeadline(time.Now().Add(waitFor))
	var rerr error
	for replies < n {
		m, fds, err := conn.Recv()
		for _, fd := range fds {
			unix.Close(fd)
		}
		if err != nil {
			rerr = err
			break
		}
		if m.Type() == proto.TypeError && m.RequestID() == 0 {
			rerr = errors.New(m.(*proto.Error).Text)
			break
		}
		replies++
	}
	serr := <-done
	t.Logf("request flood: %d of %d requests sent (%v), %d replies read (%v)", sent, n, serr, replies, rerr)
	if replies != n && rerr == nil {
		t.Fatalf("%d replies for %d requests", replies, n)
	}
	var ne interface{ Timeout() bool }
	if errors.As(rerr, &ne) && ne.Timeout() {
		t.Fatalf("the flooder's connection hung: neither answered nor closed within %v", waitFor)
	}
	if !d.alive() {
		t.Fatalf("pagerd died\n%s", d.logs())
	}
	healthyRead(t, d, data)
}

// TestOutOfRangeValues: huge, unaligned and overflowing offsets, lengths
// and sizes are refused with INVALID_ARGS or OUT_OF_RANGE (a value the
// decoder rejects ends the connection with INVALID_ARGS); nothing else
// happens, and pagerd serves on.
func TestOutOfRangeValues(t *testing.T) {
	dir := t.TempDir()
	data := pattern(4*page, 35)
	writeFile(t, dir, "x", data)
	d := startDaemon(t, dir, "-log-level", "error")

	// call sends m on a fresh connection that has "x" open and a registered
	// uffd range, and returns the status of the answer (ErrOk for a
	// non-error reply) and whether the connection was ended.
	call := func(what string, m func(vmo uint64, addr uint64) proto.Message, patches map[uint64]uint64) (zx.Status, bool) {
		t.Helper()
		conn, err := rawConn(t, d.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Send(&proto.OpenVMO{ReqID: 1, Name: "x"})
		r, fds, err := conn.Recv()
		if err != nil {
			t.Fatalf("%s: open: %v", what, err)
		}
		defer unix.Close(fds[0])
		vmo := r.(*proto.VMOOpened).VMOID
		// The library's encoder refuses what its decoder would: encode
		// marker values and patch the bad ones into the bytes.
		msg := m(vmo, 0x7f0000000000)
		b, err := proto.Marshal(msg)
		if err != nil {
			t.Fatalf("%s: marshal: %v", what, err)
		}
		for marker, bad := range patches {
			var mk, bd [8]byte
			binary.LittleEndian.PutUint64(mk[:], marker)
			binary.LittleEndian.PutUint64(bd[:], bad)
			b = bytes.Replace(b, mk[:], bd[:], 1)
		}
		if err := conn.SendRaw(b); err != nil {
			t.Fatalf("%s: send: %v", what, err)
		}
		r, rfds, err := conn.Recv()
		for _, fd := range rfds {
			unix.Close(fd)
		}
		if err != nil {
			t.Fatalf("%s: no answer: %v", what, err)
		}
		st := zx.ErrOk
		if e, ok := r.(*proto.Error); ok {
			st = e.Code
			if e.Text == "" {
				t.Errorf("%s: error %v without a text", what, st)
			}
		}
		// Did the connection survive?
		conn.Send(&proto.Status{ReqID: 99})
		_, _, err = conn.Recv()
		return st, err != nil
	}
	const huge = 1 << 63
	// Marker values, replaced in the encoded message by the bad ones.
	const (
		mLen = 0x5a5a5000
		mOff = 0xa5a5a000
		mAdr = 0x7e5a5a5a5000
	)
	for _, tc := range []struct {
		what    string
		m       func(vmo, addr uint64) proto.Message
		patches map[uint64]uint64
		want    []zx.Status
	}{
		{"mapping of unaligned length", func(v, a uint64) proto.Message {
			return &proto.RegisterMapping{ReqID: 2, VMOID: v, Addr: a, Length: mLen}
		}, map[uint64]uint64{mLen: page + 1}, []zx.Status{zx.ErrInvalidArgs}},
		{"mapping at an unaligned address", func(v, a uint64) proto.Message {
			return &proto.RegisterMapping{ReqID: 2, VMOID: v, Addr: mAdr, Length: page}
		}, map[uint64]uint64{mAdr: mAdr + 7}, []zx.Status{zx.ErrInvalidArgs}},
		{"mapping at an unaligned VMO offset", func(v, a uint64) proto.Message {
			return &proto.RegisterMapping{ReqID: 2, VMOID: v, Addr: a, Length: page, VMOOffset: mOff}
		}, map[uint64]uint64{mOff: 100}, []zx.Status{zx.ErrInvalidArgs}},
		{"mapping of length 0", func(v, a uint64) proto.Message {
			return &proto.RegisterMapping{ReqID: 2, VMOID: v, Addr: a, Length: mLen}
		}, map[uint64]uint64{mLen: 0}, []zx.Status{zx.ErrInvalidArgs}},
		{"mapping of a huge length", func(v, a uint64) proto.Message {
			return &proto.RegisterMapping{ReqID: 2, VMOID: v, Addr: a, Length: mLen}
		}, map[uint64]uint64{mLen: huge}, []zx.Status{zx.ErrInvalidArgs, zx.ErrOutOfRange, zx.ErrBadState}},
		{"mapping whose end overflows", func(v, a uint64) proto.Message {
			return &proto.RegisterMapping{ReqID: 2, VMOID: v, Addr: mAdr, Length: 2 * page}
		}, map[uint64]uint64{mAdr: ^uint64(0) &^ (page - 1)}, []zx.Status{zx.ErrInvalidArgs, zx.ErrOutOfRange}},
		{"mapping at a huge VMO offset", func(v, a uint64) proto.Message {
			return &proto.RegisterMapping{ReqID: 2, VMOID: v, Addr: a, Length: page, VMOOffset: mOff}
		}, map[uint64]uint64{mOff: huge}, []zx.Status{zx.ErrOutOfRange, zx.ErrInvalidArgs, zx.ErrBadState}},
		{"dirty ranges of a huge length", func(v, a uint64) proto.Message {
			return &proto.DirtyRanges{ReqID: 2, VMOID: v, Offset: 0, Length: mLen}
		}, map[uint64]uint64{mLen: huge}, []zx.Status{zx.ErrOutOfRange}},
		{"dirty ranges whose end overflows", func(v, a uint64) proto.Message {
			return &proto.DirtyRanges{ReqID: 2, VMOID: v, Offset: mOff, Length: mLen}
		}, map[uint64]uint64{mOff: huge, mLen: huge}, []zx.Status{zx.ErrInvalidArgs, zx.ErrOutOfRange}},
		{"create of a huge object", func(v, a uint64) proto.Message {
			return &proto.OpenVMO{ReqID: 2, Name: "big", Flags: proto.OpenCreate, CreateSize: mLen}
		}, map[uint64]uint64{mLen: huge}, []zx.Status{zx.ErrOutOfRange}},
		{"create of size 0", func(v, a uint64) proto.Message {
			return &proto.OpenVMO{ReqID: 2, Name: "zero", Flags: proto.OpenCreate, CreateSize: mLen}
		}, map[uint64]uint64{mLen: 0}, []zx.Status{zx.ErrInvalidArgs, zx.ErrOk}},
		{"a name that climbs out of the store", func(v, a uint64) proto.Message {
			return &proto.OpenVMO{ReqID: 2, Name: "zzzzzzzz"}
		}, map[uint64]uint64{leWord("zzzzzzzz"): leWord("../../xx")}, []zx.Status{zx.ErrInvalidArgs}},
	} {
		st, ended := call(tc.what, tc.m, tc.patches)
		okStatus := false
		for _, w := range tc.want {
			okStatus = okStatus || st == w
		}
		if !okStatus {
			t.Errorf("%s: %v, want one of %v", tc.what, st, tc.want)
		}
		t.Logf("%-36s → %v (connection ended: %v)", tc.what, st, ended)
	}
	if _, err := os.Stat(filepath.Join(dir, "big")); !os.IsNotExist(err) {
		t.Errorf("the refused create left an object in the store: %v", err)
	}
	if !d.alive() {
		t.Fatalf("pagerd died\n%s", d.logs())
	}
	healthyRead(t, d, data)
}

// leWord is the 8 bytes of s as a little-endian word.
func leWord(s string) uint64 { return binary.LittleEndian.Uint64([]byte(s)) }
