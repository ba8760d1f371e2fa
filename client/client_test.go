package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/zx"
)

func TestMain(m *testing.M) {
	if sock := os.Getenv(childEnvSocket); sock != "" {
		os.Exit(childServer(sock, os.Getenv(childEnvMode)))
	}
	os.Exit(m.Run())
}

// dial connects a client to f and closes it at the end of the test.
func dial(t *testing.T, f *fake, opt *Options) (*Client, *fakeConn) {
	t.Helper()
	c, err := Dial(f.path, opt)
	if err != nil {
		t.Fatalf("Dial(%s): %v", f.path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, f.conn(t)
}

func mustOpen(t *testing.T, c *Client, name string, flags OpenFlags) *VMO {
	t.Helper()
	v, err := c.Open(name, flags, 0)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	return v
}

func mustMap(t *testing.T, v *VMO, off, length uint64, writable bool) *Mapping {
	t.Helper()
	m, err := v.Map(off, length, writable)
	if err != nil {
		t.Fatalf("Map(%#x, %#x, %v) of %q: %v", off, length, writable, v.Name(), err)
	}
	return m
}

// wantStatus checks that err is a *zx.Error with status s.
func wantStatus(t *testing.T, what string, err error, s zx.Status) {
	t.Helper()
	var ze *zx.Error
	if !errors.As(err, &ze) || ze.Status != s || zx.StatusOf(err) != s {
		t.Errorf("%s: error %v (%T), want a *zx.Error with %v", what, err, err, s)
	}
}

// cRead reads n bytes at addr from a C thread.
func cRead(t *testing.T, addr uintptr, n int) faulter.Result {
	t.Helper()
	r, err := faulter.ReadAt(addr, n, waitFor)
	if err != nil {
		t.Fatalf("C read at %#x: %v", addr, err)
	}
	return r
}

// vmaFlags returns the VmFlags of the VMA that starts at addr in
// /proc/self/smaps, and whether there is one.
func vmaFlags(t *testing.T, addr uintptr) ([]string, bool) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatalf("smaps: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	in := false
	for s.Scan() {
		line := s.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			start, err := strconv.ParseUint(strings.SplitN(fields[0], "-", 2)[0], 16, 64)
			in = err == nil && uintptr(start) == addr
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:")), true
		}
	}
	return nil, false
}

func has(list []string, x string) bool {
	for _, s := range list {
		if s == x {
			return true
		}
	}
	return false
}

// countFDs returns the number of open fds of this process.
func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	return len(ents)
}

// guardThreads counts this process's threads named pagerd-guard.
func guardThreads(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatalf("reading /proc/self/task: %v", err)
	}
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(b)) == "pagerd-guard" {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitFor)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHandshakeAndAdmin(t *testing.T) {
	f := startFake(t)
	c, _ := dial(t, f, nil)
	w := c.Welcome()
	if w.Version != 1 || w.Limits.MaxVMOs != 7 || w.Limits.MaxMappedBytes != 1<<30 || w.Limits.MaxOutstanding != 33 ||
		w.Features&proto.FeaturePoison == 0 || w.PageSize != uint32(pageSize) {
		t.Errorf("Welcome = %+v", w)
	}
	st, err := c.Status()
	if err != nil || st.PID != int32(os.Getpid()) || st.Store != "fake" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	cs, err := c.Clients()
	if err != nil || len(cs) != 300 {
		t.Fatalf("Clients: %d, %v; want 300 (3 pages)", len(cs), err)
	}
	for i, ci := range cs {
		if ci.ID != uint64(i)+1 {
			t.Fatalf("client %d has id %d", i, ci.ID)
		}
	}
	vs, err := c.VMOs()
	if err != nil || len(vs) != 5 || vs[4].Name != "vmo-4" {
		t.Fatalf("VMOs = %+v, %v; want vmo-0..vmo-4 (3 pages)", vs, err)
	}
	select {
	case <-c.Done():
		t.Fatalf("session ended: %v", c.Err())
	default:
	}
	if c.Err() != nil {
		t.Errorf("Err of a live session = %v", c.Err())
	}
}

func TestDialErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Dial(filepath.Join(dir, "none.sock"), &Options{DialTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("Dial of a missing socket: %v", err)
	}
	if _, err := Dial(filepath.Join(dir, "x"), &Options{RequestTimeout: -1}); zx.StatusOf(err) != zx.ErrInvalidArgs {
		t.Errorf("Dial with a negative timeout: %v", err)
	}
	// A server that speaks other versions only.
	f, err := newFake(dir, t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.stop()
	f.mu.Lock()
	f.cfg.MinVersion, f.cfg.MaxVersion = 7, 9
	f.mu.Unlock()
	_, err = Dial(f.path, nil)
	wantStatus(t, "Dial of a server of versions 7..9", err, zx.ErrProtocolNotSupported)
}

// TestConcurrentRequests has many goroutines issue requests at once while
// the fake answers a batch of them in reverse order: each caller must get
// its own reply.
func TestConcurrentRequests(t *testing.T) {
	const n = 16
	f := startFake(t)
	f.addObj("obj", 64, 0, false)
	var mu sync.Mutex
	var held []*proto.DirtyRanges
	f.setHook(func(fc *fakeConn, m proto.Message, fds []int) bool {
		d, ok := m.(*proto.DirtyRanges)
		if !ok {
			return false
		}
		mu.Lock()
		held = append(held, d)
		batch := held
		if len(batch) == n {
			held = nil
		}
		mu.Unlock()
		if len(batch) == n {
			for i := n - 1; i >= 0; i-- {
				d := batch[i]
				fc.send(&proto.DirtyRangesReply{ReqID: proto.ReqID(d.RequestID()), VMOID: d.VMOID,
					Ranges: []proto.Range{{Offset: d.Offset, Length: d.Length, Options: d.RequestID()}}})
			}
		}
		return true
	})
	c, _ := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			off := uint64(i) * pageSize
			rs, err := v.DirtyRanges(off, pageSize)
			if err != nil || len(rs) != 1 || rs[0].Offset != off || rs[0].Length != pageSize {
				t.Errorf("goroutine %d: DirtyRanges(%#x) = %+v, %v", i, off, rs, err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := c.Status(); err != nil {
				t.Errorf("Status: %v", err)
			}
		}()
	}
	wg.Wait()
}

func TestDirtyRangesPaging(t *testing.T) {
	f := startFake(t)
	f.addObj("obj", 64, 0, false)
	var mu sync.Mutex
	var asked [][2]uint64
	f.setHook(func(fc *fakeConn, m proto.Message, fds []int) bool {
		d, ok := m.(*proto.DirtyRanges)
		if !ok {
			return false
		}
		mu.Lock()
		asked = append(asked, [2]uint64{d.Offset, d.Length})
		first := len(asked) == 1
		mu.Unlock()
		r := &proto.DirtyRangesReply{ReqID: proto.ReqID(d.RequestID()), VMOID: d.VMOID}
		if first {
			r.More = true
			r.Ranges = []proto.Range{{Offset: 0, Length: pageSize}, {Offset: 2 * pageSize, Length: pageSize}}
		} else {
			r.Ranges = []proto.Range{{Offset: 5 * pageSize, Length: 2 * pageSize}}
		}
		fc.send(r)
		return true
	})
	c, _ := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	rs, err := v.DirtyRanges(0, 16*pageSize)
	want := []proto.Range{{Offset: 0, Length: pageSize}, {Offset: 2 * pageSize, Length: pageSize}, {Offset: 5 * pageSize, Length: 2 * pageSize}}
	if err != nil || fmt.Sprint(rs) != fmt.Sprint(want) {
		t.Errorf("DirtyRanges = %+v, %v; want %+v", rs, err, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if wantAsked := [][2]uint64{{0, 16 * pageSize}, {3 * pageSize, 13 * pageSize}}; fmt.Sprint(asked) != fmt.Sprint(wantAsked) {
		t.Errorf("queries %v, want %v", asked, wantAsked)
	}
	if _, err := v.DirtyRanges(0, 0); zx.StatusOf(err) != zx.ErrInvalidArgs {
		t.Errorf("DirtyRanges of zero length: %v", err)
	}
}

func TestErrorReplies(t *testing.T) {
	f := startFake(t)
	f.addObj("obj", 4, 1, false)
	f.addObj("ro", 4, 1, true)
	f.setHook(func(fc *fakeConn, m proto.Message, fds []int) bool {
		if s, ok := m.(*proto.Stats); ok {
			fc.sendError(s.RequestID(), zx.ErrIO, "store read of VMO %d failed", s.VMOID)
			return true
		}
		return false
	})
	c, _ := dial(t, f, nil)

	_, err := c.Open("missing", 0, 0)
	wantStatus(t, "Open(missing)", err, zx.ErrNotFound)
	if err != nil && !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("Open(missing) error does not name the object: %v", err)
	}
	_, err = c.Open("a/b", 0, 0)
	wantStatus(t, "Open(a/b)", err, zx.ErrInvalidArgs)
	_, err = c.Open("obj", 1<<7, 0)
	wantStatus(t, "Open with unknown flags", err, zx.ErrInvalidArgs)
	_, err = c.Open("obj", 0, 4096)
	wantStatus(t, "Open with a size but no Create", err, zx.ErrInvalidArgs)

	v := mustOpen(t, c, "obj", 0)
	_, err = v.Stats()
	wantStatus(t, "Stats", err, zx.ErrIO)
	if err != nil && !strings.Contains(err.Error(), "store read of VMO") {
		t.Errorf("Stats error lost the server's text: %v", err)
	}
	_, err = v.Map(1, pageSize, false)
	wantStatus(t, "Map at offset 1", err, zx.ErrInvalidArgs)
	_, err = v.Map(0, 0, false)
	wantStatus(t, "Map of length 0", err, zx.ErrInvalidArgs)
	_, err = v.Map(2*pageSize, 4*pageSize, false)
	wantStatus(t, "Map beyond the end", err, zx.ErrOutOfRange)

	ro := mustOpen(t, c, "ro", 0)
	if !ro.ReadOnly() || v.ReadOnly() {
		t.Errorf("ReadOnly: ro %v, obj %v", ro.ReadOnly(), v.ReadOnly())
	}
	_, err = ro.Map(0, pageSize, true)
	wantStatus(t, "writable Map of a read-only VMO", err, zx.ErrAccessDenied)
	m := mustMap(t, ro, 0, 4*pageSize, false)
	if r := cRead(t, m.Addr(), 8); r.Faulted() || string(r.Data) != "AAAAAAAA" {
		t.Errorf("read of a present page of a read-only mapping: %+v", r)
	}
	if err := m.Populate(0, pageSize, true); zx.StatusOf(err) != zx.ErrAccessDenied {
		t.Errorf("Populate for writing of a read-only mapping: %v", err)
	}
	if err := m.Populate(0, 5*pageSize, false); zx.StatusOf(err) != zx.ErrOutOfRange {
		t.Errorf("Populate beyond the mapping: %v", err)
	}
}

// TestRegisterMapping checks the registration the fake receives: the uffd
// comes with the first RegisterMapping only and has ClientFeatures, and it
// really is the uffd the mappings are registered on — the fake serves a
// missing-page fault with UFFDIO_COPY and a write-protect fault by lifting
// the protection.
func TestRegisterMapping(t *testing.T) {
	f := startFake(t)
	obj := f.addObj("obj", 4, 1, false)
	f.addObj("other", 2, 0, false)
	c, fc := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	w := mustOpen(t, c, "other", 0)
	m1 := mustMap(t, v, 0, 4*pageSize, false)
	m2 := mustMap(t, v, 0, 4*pageSize, true)
	m3 := mustMap(t, w, pageSize, pageSize, false)
	regs := fc.registrations()
	want := []regRecord{{proto.MapAttachUFFD, 1}, {proto.MapWritable, 0}, {0, 0}}
	if fmt.Sprint(regs) != fmt.Sprint(want) {
		t.Fatalf("RegisterMapping flags/fds = %v, want %v", regs, want)
	}
	if m3.Offset() != pageSize || m3.Len() != pageSize || m3.Writable() || !m2.Writable() {
		t.Errorf("mapping accessors: m3 off %#x len %#x w %v; m2 w %v", m3.Offset(), m3.Len(), m3.Writable(), m2.Writable())
	}
	u := fc.uffd(t)
	// The uffd's features, as the kernel reports them.
	info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", u.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	var feats uint64
	for _, line := range strings.Split(string(info), "\n") {
		if rest, ok := strings.CutPrefix(line, "API:"); ok {
			parts := strings.Split(strings.TrimSpace(rest), ":")
			if len(parts) == 3 {
				feats, _ = strconv.ParseUint(parts[1], 16, 64)
			}
		}
	}
	if feats&uint64(ClientFeatures) != uint64(ClientFeatures) {
		t.Errorf("uffd features %#x (fdinfo %q) lack some of ClientFeatures %v", feats, info, ClientFeatures)
	}
	for _, m := range []*Mapping{m1, m2} {
		fl, ok := vmaFlags(t, m.Addr())
		if !ok || !has(fl, "um") || has(fl, "uw") != m.Writable() || !has(fl, "dc") {
			t.Errorf("mapping at %#x (writable %v): VmFlags %v; want um, dc (MADV_DONTFORK) and uw iff writable", m.Addr(), m.Writable(), fl)
		}
	}

	// A missing page: the fake supplies it with UFFDIO_COPY.
	th, err := faulter.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	p := th.Read(m1.Addr()+ps, 16)
	msg, err := nextFault(u, waitFor)
	if err != nil {
		t.Fatalf("waiting for the fault: %v", err)
	}
	flags, addr, _ := msg.Pagefault()
	if uintptr(addr) != m1.Addr()+ps || flags != 0 {
		t.Errorf("fault at %#x flags %v, want %#x, none", addr, flags, m1.Addr()+ps)
	}
	if _, err := u.CopyFrom(uintptr(addr), fill('Z'), 0); err != nil {
		t.Fatalf("UFFDIO_COPY: %v", err)
	}
	r, err := p.Wait(waitFor)
	if err != nil || r.Faulted() || !bytes.Equal(r.Data, bytes.Repeat([]byte{'Z'}, 16)) {
		t.Fatalf("read of the supplied page: %+v, %v", r, err)
	}
	// The writable mapping sees the same page (it is in the memfd now).
	if r := cRead(t, m2.Addr()+ps, 4); string(r.Data) != "ZZZZ" {
		t.Errorf("other mapping: %+v", r)
	}

	// A write to a present page of the writable mapping: a WP fault.
	p = th.Write(m2.Addr()+100, []byte("hello"))
	msg, err = nextFault(u, waitFor)
	if err != nil {
		t.Fatalf("waiting for the WP fault: %v", err)
	}
	flags, addr, _ = msg.Pagefault()
	if uintptr(addr) != m2.Addr() || !flags.Has(uffd.PagefaultFlagWP) {
		t.Errorf("write fault at %#x flags %v, want %#x, WP", addr, flags, m2.Addr())
	}
	if err := u.WriteProtect(uintptr(addr), uintptr(pageSize), 0); err != nil {
		t.Fatalf("unprotect: %v", err)
	}
	if r, err := p.Wait(waitFor); err != nil || r.Faulted() {
		t.Fatalf("write: %+v, %v", r, err)
	}
	got := make([]byte, 5)
	if _, err := unix.Pread(obj.fd, got, 100); err != nil || string(got) != "hello" {
		t.Errorf("memfd after the write: %q, %v", got, err)
	}
}

// TestMapFailureUndo: a refused RegisterMapping leaves nothing mapped or
// registered, and the next one attaches the uffd again (pagerd drops a uffd
// that came with a refused registration).
func TestMapFailureUndo(t *testing.T) {
	f := startFake(t)
	f.addObj("obj", 4, 0, false)
	refuse := true
	f.setHook(func(fc *fakeConn, m proto.Message, fds []int) bool {
		if r, ok := m.(*proto.RegisterMapping); ok && refuse {
			refuse = false
			fc.mu.Lock()
			fc.regs = append(fc.regs, regRecord{r.Flags, len(fds)})
			fc.mu.Unlock()
			closeFDs(fds)
			fc.sendError(r.RequestID(), zx.ErrNoResources, "client has %d bytes mapped", 0)
			return true
		}
		return false
	})
	c, fc := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	before := countFDs(t)
	_, err := v.Map(0, 4*pageSize, true)
	wantStatus(t, "refused Map", err, zx.ErrNoResources)
	maps, _ := os.ReadFile("/proc/self/maps")
	if bytes.Contains(maps, []byte("fake-obj")) {
		t.Errorf("the refused mapping is still mapped:\n%s", maps)
	}
	if n := countFDs(t); n != before+2 { // the client's uffd and the guard's dups stay
		t.Logf("fds: %d before the first Map, %d after", before, n)
	}
	m := mustMap(t, v, 0, 4*pageSize, true)
	regs := fc.registrations()
	want := []regRecord{{proto.MapAttachUFFD | proto.MapWritable, 1}, {proto.MapAttachUFFD | proto.MapWritable, 1}}
	if fmt.Sprint(regs) != fmt.Sprint(want) {
		t.Errorf("registrations %v, want %v", regs, want)
	}
	if err := m.Unmap(); err != nil {
		t.Errorf("Unmap: %v", err)
	}
}

// TestUnmapOrder: when pagerd receives UnregisterMapping, the range is
// still mapped but no longer registered with the uffd; it is unmapped
// after the reply.
func TestUnmapOrder(t *testing.T) {
	f := startFake(t)
	f.addObj("obj", 4, 0, false)
	type seen struct {
		mapped, um, uw bool
	}
	var mu sync.Mutex
	var at []seen
	f.mu.Lock()
	f.onUnregister = func(fc *fakeConn, rm *proto.RegisterMapping) {
		fl, ok := vmaFlags(t, uintptr(rm.Addr))
		mu.Lock()
		at = append(at, seen{ok, has(fl, "um"), has(fl, "uw")})
		mu.Unlock()
	}
	f.mu.Unlock()
	c, fc := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	m := mustMap(t, v, 0, 4*pageSize, true)
	if fl, ok := vmaFlags(t, m.Addr()); !ok || !has(fl, "um") || !has(fl, "uw") {
		t.Fatalf("registered mapping: VmFlags %v, %v", fl, ok)
	}
	if err := m.Unmap(); err != nil {
		t.Fatalf("Unmap: %v", err)
	}
	mu.Lock()
	if len(at) != 1 || !at[0].mapped || at[0].um || at[0].uw {
		t.Errorf("at UnregisterMapping: %+v; want mapped, not registered", at)
	}
	mu.Unlock()
	if _, ok := vmaFlags(t, m.Addr()); ok {
		t.Errorf("still mapped after Unmap")
	}
	if err := m.Unmap(); err != ErrClosed {
		t.Errorf("second Unmap: %v, want ErrClosed", err)
	}
	if err := m.Populate(0, pageSize, false); err != ErrClosed {
		t.Errorf("Populate after Unmap: %v, want ErrClosed", err)
	}
	if err := v.Close(); err != nil {
		t.Errorf("VMO Close: %v", err)
	}
	if err := v.Close(); err != ErrClosed {
		t.Errorf("second VMO Close: %v", err)
	}
	if _, err := v.Map(0, pageSize, false); err != ErrClosed {
		t.Errorf("Map after Close: %v", err)
	}
	var types []proto.Type
	for _, r := range fc.requests() {
		types = append(types, r.Type())
	}
	want := []proto.Type{proto.TypeOpenVMO, proto.TypeRegisterMapping, proto.TypeUnregisterMapping, proto.TypeCloseVMO}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("requests %v, want %v", types, want)
	}
}

// TestTimeoutAndLateReplies: a request without a reply times out with
// ZX_ERR_TIMED_OUT; a VMOOpened that arrives after its request gave up is
// closed again; the session goes on.
func TestTimeoutAndLateReplies(t *testing.T) {
	f := startFake(t)
	f.addObj("obj", 4, 0, false)
	f.addObj("late", 4, 0, false)
	f.setHook(func(fc *fakeConn, m proto.Message, fds []int) bool {
		switch m := m.(type) {
		case *proto.Stats:
			return true // never answered
		case *proto.OpenVMO:
			if m.Name == "late" {
				go func() {
					time.Sleep(500 * time.Millisecond)
					fc.handle(m, fds)
				}()
				return true
			}
		}
		return false
	})
	c, fc := dial(t, f, &Options{RequestTimeout: 200 * time.Millisecond})
	v := mustOpen(t, c, "obj", 0)
	start := time.Now()
	_, err := v.Stats()
	wantStatus(t, "unanswered Stats", err, zx.ErrTimedOut)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
	_, err = c.Open("late", 0, 0)
	wantStatus(t, "late Open", err, zx.ErrTimedOut)
	eventually(t, "CloseVMO of the late VMO", func() bool {
		for _, r := range fc.requests() {
			if cv, ok := r.(*proto.CloseVMO); ok && cv.VMOID == 2 {
				return true
			}
		}
		return false
	})
	if _, err := c.Status(); err != nil {
		t.Errorf("Status after the timeouts: %v", err)
	}
}

// TestConnectionLevelError: an Error with request id 0 ends the session;
// pending and later calls fail with ErrServerGone carrying its status.
func TestConnectionLevelError(t *testing.T) {
	f := startFake(t)
	f.addObj("obj", 4, 0, false)
	f.setHook(func(fc *fakeConn, m proto.Message, fds []int) bool {
		if _, ok := m.(*proto.Sync); ok {
			fc.sendError(0, zx.ErrBadState, "connection closed: kicked")
			fc.kill()
			return true
		}
		return false
	})
	c, _ := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	_, err := v.Sync()
	if !errors.Is(err, ErrServerGone) || zx.StatusOf(err) != zx.ErrBadState {
		t.Errorf("Sync: %v; want ErrServerGone with ZX_ERR_BAD_STATE", err)
	}
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatal("Done not closed")
	}
	if err := c.Err(); !errors.Is(err, ErrServerGone) || !strings.Contains(err.Error(), "kicked") {
		t.Errorf("Err = %v", err)
	}
	if _, err := c.Status(); !errors.Is(err, ErrServerGone) {
		t.Errorf("Status after the end: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after the end: %v", err)
	}
	if _, err := c.Status(); err != ErrClosed {
		t.Errorf("Status after Close: %v", err)
	}
}

// TestServerGoneFailsPending: pagerd dies while requests wait.
func TestServerGoneFailsPending(t *testing.T) {
	f := startFake(t)
	f.addObj("obj", 4, 0, false)
	got := make(chan *fakeConn, 1)
	f.setHook(func(fc *fakeConn, m proto.Message, fds []int) bool {
		if _, ok := m.(*proto.Sync); ok {
			select {
			case got <- fc:
			default:
			}
			return true
		}
		return false
	})
	c, _ := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			_, err := v.Sync()
			errs <- err
		}()
	}
	(<-got).kill()
	for i := 0; i < 4; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrServerGone) {
				t.Errorf("pending Sync: %v, want ErrServerGone", err)
			}
		case <-time.After(waitFor):
			t.Fatal("pending Sync not failed")
		}
	}
	if !errors.Is(c.Err(), ErrServerGone) {
		t.Errorf("Err = %v", c.Err())
	}
}

// TestProtocolViolation: a reply of the wrong type ends the session.
func TestProtocolViolation(t *testing.T) {
	f := startFake(t)
	f.addObj("obj", 4, 0, false)
	f.setHook(func(fc *fakeConn, m proto.Message, fds []int) bool {
		if s, ok := m.(*proto.Stats); ok {
			fc.send(&proto.Synced{ReqID: proto.ReqID(s.RequestID()), VMOID: s.VMOID})
			return true
		}
		return false
	})
	c, fc := dial(t, f, nil)
	v := mustOpen(t, c, "obj", 0)
	_, err := v.Stats()
	if !errors.Is(err, ErrServerGone) || !strings.Contains(err.Error(), "Synced") {
		t.Errorf("Stats answered with Synced: %v", err)
	}
	select {
	case <-fc.gone: // the client shut the socket down: the fake saw EOF
	case <-time.After(waitFor):
		t.Error("the fake did not see the connection end")
	}
}

// TestCloseOrderly: Close unregisters and unmaps every mapping, closes
// every VMO, says Goodbye, stops the guard, and leaks no fd and no thread.
func TestCloseOrderly(t *testing.T) {
	f := startFake(t)
	f.addObj("a", 4, 1, false)
	f.addObj("b", 4, 0, false)
	fds0 := countFDs(t)
	guards0 := guardThreads(t)
	c, fc := dial(t, f, nil)
	va := mustOpen(t, c, "a", 0)
	vb := mustOpen(t, c, "b", 0)
	ms := []*Mapping{mustMap(t, va, 0, 4*pageSize, true), mustMap(t, va, pageSize, pageSize, false), mustMap(t, vb, 0, 2*pageSize, false)}
	if n := guardThreads(t); n != guards0+1 {
		t.Errorf("%d guard threads with one client, want %d", n, guards0+1)
	}
	if st := c.guardStats(); st.Active || st.Tid == 0 {
		t.Errorf("guard of a live session: %+v", st)
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if c.Err() != ErrClosed {
		t.Errorf("Err after Close = %v, want ErrClosed", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after Close")
	}
	for _, m := range ms {
		if _, ok := vmaFlags(t, m.Addr()); ok {
			t.Errorf("mapping at %#x still mapped after Close", m.Addr())
		}
	}
	// Requests in order: every UnregisterMapping of a VMO before its
	// CloseVMO, Goodbye last.
	reqs := fc.requests()
	open := map[uint64]int{} // vmo id -> registered mappings
	mapVMO := map[uint64]uint64{}
	var next uint64 = 2 // fake ids: vmos 1, 2, mappings 3, 4, 5
	for _, r := range reqs {
		switch r := r.(type) {
		case *proto.RegisterMapping:
			next++
			mapVMO[next] = r.VMOID
			open[r.VMOID]++
		case *proto.UnregisterMapping:
			open[mapVMO[r.MappingID]]--
		case *proto.CloseVMO:
			if open[r.VMOID] != 0 {
				t.Errorf("CloseVMO %d with %d mappings still registered", r.VMOID, open[r.VMOID])
			}
		}
	}
	if last := reqs[len(reqs)-1]; last.Type() != proto.TypeGoodbye {
		t.Errorf("last request %v, want Goodbye (all: %v)", last.Type(), reqs)
	}
	if n := len(reqs); n != 2+3+3+2+1 {
		t.Errorf("%d requests, want 11", n)
	}
	eventually(t, "fds back to the count before Dial", func() bool { return countFDs(t) == fds0 })
	if n := guardThreads(t); n != guards0 {
		t.Errorf("%d guard threads after Close, want %d", n, guards0)
	}
	// Everything is closed now.
	if _, err := c.Open("a", 0, 0); err != ErrClosed {
		t.Errorf("Open after Close: %v", err)
	}
	if _, err := va.Sync(); err != ErrClosed {
		t.Errorf("Sync after Close: %v", err)
	}
	if err := ms[0].Unmap(); err != ErrClosed {
		t.Errorf("Unmap after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseIdle: a client whose guard never had anything to do closes at
// once and leaks nothing; so does one that never mapped (no guard).
func TestCloseIdle(t *testing.T) {
	f := startFake(t)
	f.addObj("a", 4, 0, false)
	for _, mapIt := range []bool{false, true} {
		fds0 := countFDs(t)
		guards0 := guardThreads(t)
		c, err := Dial(f.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.conn(t)
		v := mustOpen(t, c, "a", 0)
		if mapIt {
			mustMap(t, v, 0, pageSize, false)
		}
		start := time.Now()
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Close (mapped %v) took %v", mapIt, d)
		}
		eventually(t, "fds back", func() bool { return countFDs(t) == fds0 })
		if n := guardThreads(t); n != guards0 {
			t.Errorf("mapped %v: %d guard threads after Close, want %d", mapIt, n, guards0)
		}
	}
}

// TestSyncStatsCreate covers the remaining requests against the fake.
func TestSyncStatsCreate(t *testing.T) {
	f := startFake(t)
	c, _ := dial(t, f, nil)
	v, err := c.Open("new", Create, 3*pageSize+1)
	if err != nil {
		t.Fatal(err)
	}
	if v.Size() != 4*pageSize || v.Name() != "new" || v.ID() == 0 || v.ReadOnly() {
		t.Errorf("created VMO: size %#x name %q id %d ro %v", v.Size(), v.Name(), v.ID(), v.ReadOnly())
	}
	if n, err := v.Sync(); err != nil || n != 3*pageSize {
		t.Errorf("Sync = %d, %v", n, err)
	}
	st, err := v.Stats()
	if err != nil || st.VMOID != v.ID() || st.Size != v.Size() || st.ReadFaults != 5 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
}
