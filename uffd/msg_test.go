//go:build linux

package uffd

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestMsgDecode decodes hand-built messages of every event.
func TestMsgDecode(t *testing.T) {
	var m Msg
	ne := binary.NativeEndian
	m[0] = byte(EventPagefault)
	ne.PutUint64(m[8:], uint64(PagefaultFlagWrite|PagefaultFlagMinor))
	ne.PutUint64(m[16:], 0x7f0000001234)
	ne.PutUint32(m[24:], 4242)
	if f, a, tid := m.Pagefault(); m.Event() != EventPagefault || f != PagefaultFlagWrite|PagefaultFlagMinor || a != 0x7f0000001234 || tid != 4242 {
		t.Errorf("Pagefault = %v %#x %d", f, a, tid)
	}
	if s := m.String(); s != "PAGEFAULT flags=WRITE|MINOR address=0x7f0000001234 ptid=4242" {
		t.Errorf("String = %q", s)
	}
	m = Msg{}
	m[0] = byte(EventFork)
	ne.PutUint32(m[8:], 17)
	if m.Event() != EventFork || m.Fork() != 17 {
		t.Errorf("Fork = %d", m.Fork())
	}
	m = Msg{}
	m[0] = byte(EventRemap)
	ne.PutUint64(m[8:], 0x1000)
	ne.PutUint64(m[16:], 0x9000)
	ne.PutUint64(m[24:], 0x3000)
	if f, to, l := m.Remap(); f != 0x1000 || to != 0x9000 || l != 0x3000 {
		t.Errorf("Remap = %#x %#x %#x", f, to, l)
	}
	for _, ev := range []Event{EventRemove, EventUnmap} {
		m = Msg{}
		m[0] = byte(ev)
		ne.PutUint64(m[8:], 0x4000)
		ne.PutUint64(m[16:], 0x6000)
		if s, e := m.Remove(); m.Event() != ev || s != 0x4000 || e != 0x6000 {
			t.Errorf("%v Remove = %#x %#x", ev, s, e)
		}
	}
	if unsafe.Sizeof(Msg{}) != MsgSize {
		t.Errorf("sizeof(Msg) = %d", unsafe.Sizeof(Msg{}))
	}
}

// TestReadEmpty checks that Read on an empty queue returns 0, nil, and
// that an empty buffer is 0, nil too.
func TestReadEmpty(t *testing.T) {
	u := newUFFD(t, 0)
	var msgs [4]Msg
	for i := 0; i < 3; i++ {
		if n, err := u.Read(msgs[:]); n != 0 || err != nil {
			t.Errorf("Read = %d, %v; want 0, nil", n, err)
		}
	}
	if n, err := u.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v", n, err)
	}
}

// TestWait checks Wait: timeout, the wake fd, the userfaultfd with a
// queued fault, and the POLLERR of a blocking userfaultfd.
func TestWait(t *testing.T) {
	u := newUFFD(t, 0)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)

	t0 := time.Now()
	ur, wr, err := u.Wait(efd, 50)
	if ur || wr || err != nil {
		t.Errorf("Wait timeout = %v, %v, %v", ur, wr, err)
	}
	if d := time.Since(t0); d < 45*time.Millisecond || d > testTimeout {
		t.Errorf("Wait(50ms) took %v", d)
	}
	if ur, wr, err := u.Wait(-1, 0); ur || wr || err != nil {
		t.Errorf("Wait(no wake fd, 0) = %v, %v, %v", ur, wr, err)
	}

	// Wake fd from another goroutine while Wait blocks forever.
	done := make(chan [2]bool, 1)
	go func() {
		ur, wr, err := u.Wait(efd, -1)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		done <- [2]bool{ur, wr}
	}()
	time.Sleep(20 * time.Millisecond)
	one := [8]byte{1}
	if _, err := unix.Write(efd, one[:]); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r[0] || !r[1] {
			t.Errorf("Wait after eventfd write = %v, want wake only", r)
		}
	case <-time.After(testTimeout):
		t.Fatal("Wait did not return after the wake fd became readable")
	}
	var cnt [8]byte
	unix.Read(efd, cnt[:])

	// A queued fault makes the uffd readable.
	b := mmapAnon(t, 1)
	register(t, u, b, RegisterModeMissing)
	fault := goPopulate(b, false)
	ur, wr, err = u.Wait(efd, int(testTimeout/time.Millisecond))
	if !ur || wr || err != nil {
		t.Errorf("Wait with a queued fault = %v, %v, %v", ur, wr, err)
	}
	var msgs [2]Msg
	n, err := u.Read(msgs[:])
	if n != 1 || err != nil {
		t.Errorf("Read = %d, %v", n, err)
	}
	if _, err := u.Zeropage(addrOf(b), pageSize, 0); err != nil {
		t.Fatal(err)
	}
	await(t, fault, "faulter")

	// A hung-up pipe counts as wake.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(p[1])
	if ur, wr, err := u.Wait(p[0], 1000); ur || !wr || err != nil {
		t.Errorf("Wait with a hung-up pipe = %v, %v, %v", ur, wr, err)
	}
	unix.Close(p[0])
	// A closed wake fd is an error.
	if _, _, err := u.Wait(p[0], 10); !errors.Is(err, unix.EBADF) {
		t.Errorf("Wait with a closed wake fd: %v, want EBADF", err)
	}

	// A blocking userfaultfd: poll reports POLLERR.
	fd, err := OpenRaw(OpenCloexec)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Handshake(fd, 0); err != nil {
		t.Fatal(err)
	}
	blocking := FromFd(fd, 0)
	defer blocking.Close()
	_, _, err = blocking.Wait(-1, 100)
	t.Logf("Wait on a blocking uffd: %v", err)
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("Wait on a blocking uffd: %v, want the POLLERR error", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	if ur, _, err := blocking.Wait(-1, 0); ur || err != nil {
		t.Errorf("Wait after SetNonblock = %v, %v", ur, err)
	}
}

// TestReadBatch queues several faults and reads them with one Read.
func TestReadBatch(t *testing.T) {
	u := newUFFD(t, 0)
	const pages = 4
	b := mmapAnon(t, pages)
	register(t, u, b, RegisterModeMissing)
	var faults []<-chan faultResult
	for i := 0; i < pages; i++ {
		faults = append(faults, goPopulate(page(b, i), false))
	}
	seen := map[uint64]bool{}
	var msgs [8]Msg
	deadline := time.Now().Add(testTimeout)
	for len(seen) < pages && time.Now().Before(deadline) {
		if _, _, err := u.Wait(-1, 100); err != nil {
			t.Fatal(err)
		}
		n, err := u.Read(msgs[:])
		if err != nil {
			t.Fatal(err)
		}
		if n > 1 {
			t.Logf("one Read returned %d messages", n)
		}
		for _, m := range msgs[:n] {
			_, a, _ := m.Pagefault()
			seen[a] = true
		}
	}
	if len(seen) != pages {
		t.Fatalf("saw faults at %d pages, want %d", len(seen), pages)
	}
	if _, err := u.Zeropage(addrOf(b), uintptr(len(b)), 0); err != nil {
		t.Fatal(err)
	}
	for i, f := range faults {
		if r := await(t, f, "faulter"); r.err != nil {
			t.Errorf("faulter %d: %v", i, r.err)
		}
	}
}

// TestEventsRemapRemoveUnmap mirrors the selftests' events test for the
// in-process events: MADV_DONTNEED (anon) and MADV_REMOVE (memfd) send
// REMOVE, mremap sends REMAP and the range stays registered at its new
// address (followed by an UNMAP of the old range), munmap sends UNMAP. Each
// syscall blocks until its events are read.
func TestEventsRemapRemoveUnmap(t *testing.T) {
	u := newUFFD(t, FeatureEventRemap|FeatureEventRemove|FeatureEventUnmap|FeatureMissingShmem)
	s := serve(t, u, func(m *Msg) {
		if m.Event() == EventPagefault {
			_, a, _ := m.Pagefault()
			if _, err := u.Zeropage(uintptr(a), pageSize, 0); err != nil {
				t.Errorf("Zeropage: %v", err)
			}
		}
	})
	syscallDone := func(f func() error) <-chan error {
		ch := make(chan error, 1)
		go func() { ch <- f() }()
		return ch
	}
	wait := func(ch <-chan error, what string) {
		t.Helper()
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("%s still blocked", what)
		}
	}

	// Raw mappings whose cleanup follows what mremap and munmap did to them
	// (unix.Munmap on a moved slice would unmap whatever lives there now).
	var live []struct {
		p unsafe.Pointer
		n uintptr
	}
	mapRaw := func(pages int) []byte {
		p, err := unix.MmapPtr(-1, 0, nil, uintptr(pages)*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatal(err)
		}
		return unsafe.Slice((*byte)(p), pages*PageSize)
	}
	t.Cleanup(func() {
		for _, l := range live {
			unix.MunmapPtr(l.p, l.n)
		}
	})

	// REMOVE on anon.
	b := mapRaw(4)
	target := mapRaw(4) // reserves the address; MREMAP_FIXED replaces it
	live = append(live, struct {
		p unsafe.Pointer
		n uintptr
	}{unsafe.Pointer(&target[0]), 2 * pageSize})
	register(t, u, b, RegisterModeMissing)
	wait(syscallDone(func() error { return unix.Madvise(b[PageSize:3*PageSize], unix.MADV_DONTNEED) }), "MADV_DONTNEED")
	m := s.next(t)
	if st, en := m.Remove(); m.Event() != EventRemove || uintptr(st) != pageAddr(b, 1) || uintptr(en) != pageAddr(b, 3) {
		t.Errorf("message %v, want REMOVE [%#x, %#x)", m.String(), pageAddr(b, 1), pageAddr(b, 3))
	}

	// REMOVE on memfd with MADV_REMOVE.
	shm := mmapShared(t, newMemfd(t, 2), 2)
	register(t, u, shm, RegisterModeMissing)
	wait(syscallDone(func() error { return unix.Madvise(shm, unix.MADV_REMOVE) }), "MADV_REMOVE")
	m = s.next(t)
	if st, en := m.Remove(); m.Event() != EventRemove || uintptr(st) != addrOf(shm) || uintptr(en) != addrOf(shm)+2*pageSize {
		t.Errorf("message %v, want REMOVE of the memfd mapping", m.String())
	}
	if err := u.Unregister(addrOf(shm), uintptr(len(shm))); err != nil {
		t.Fatal(err)
	}

	// REMAP: move the 4 anon pages onto target.
	var moved unsafe.Pointer
	wait(syscallDone(func() error {
		var err error
		moved, err = unix.MremapPtr(unsafe.Pointer(&b[0]), uintptr(len(b)), unsafe.Pointer(&target[0]), uintptr(len(target)), unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED)
		return err
	}), "mremap")
	m = s.next(t)
	from, to, length := m.Remap()
	if m.Event() != EventRemap || uintptr(from) != addrOf(b) || uintptr(to) != addrOf(target) || uintptr(length) != uintptr(len(b)) {
		t.Errorf("message %v, want REMAP %#x -> %#x len %#x", m.String(), addrOf(b), addrOf(target), len(b))
	}
	if moved != unsafe.Pointer(&target[0]) {
		t.Fatalf("mremap moved to %p, want %#x", moved, addrOf(target))
	}
	// With EVENT_UNMAP, the move also reports the old range as unmapped,
	// after the REMAP.
	m = s.next(t)
	if st, en := m.Remove(); m.Event() != EventUnmap || uintptr(st) != addrOf(b) || uintptr(en) != addrOf(b)+uintptr(len(b)) {
		t.Errorf("message %v, want UNMAP of the old range [%#x, %#x)", m.String(), addrOf(b), addrOf(b)+uintptr(len(b)))
	}
	// The new range is registered.
	fault := goPopulate(page(target, 2), false)
	m = s.next(t)
	if _, a, _ := m.Pagefault(); m.Event() != EventPagefault || uintptr(a) != pageAddr(target, 2) {
		t.Errorf("message %v, want PAGEFAULT at the remapped address %#x", m.String(), pageAddr(target, 2))
	}
	await(t, fault, "faulter on the remapped range")

	// UNMAP of the upper half of the remapped range.
	wait(syscallDone(func() error { return unix.MunmapPtr(unsafe.Pointer(&target[2*PageSize]), 2*pageSize) }), "munmap")
	m = s.next(t)
	if st, en := m.Remove(); m.Event() != EventUnmap || uintptr(st) != pageAddr(target, 2) || uintptr(en) != pageAddr(target, 4) {
		t.Errorf("message %v, want UNMAP [%#x, %#x)", m.String(), pageAddr(target, 2), pageAddr(target, 4))
	}
	if err := u.Unregister(addrOf(target), 2*pageSize); err != nil {
		t.Fatal(err)
	}
	s.none(t, 20*time.Millisecond)
}
