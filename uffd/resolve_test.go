//go:build linux

package uffd

import (
	"errors"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestZeropage mirrors the selftests' zeropage test on anon and shmem: a
// missing page is filled with zeros, the result is the length, a second
// ZEROPAGE on it fails with EEXIST (result -EEXIST), and a faulter is woken.
func TestZeropage(t *testing.T) {
	u := newUFFD(t, FeatureMissingShmem)
	for _, mem := range []struct {
		name string
		b    []byte
	}{
		{"anon", mmapAnon(t, 2)},
		{"shmem", mmapShared(t, newMemfd(t, 2), 2)},
	} {
		t.Run(mem.name, func(t *testing.T) {
			b := mem.b
			if io := register(t, u, b, RegisterModeMissing); !io.Has(IoctlZeropage) {
				t.Fatalf("ioctls %v lack ZEROPAGE", io)
			}
			s := serve(t, u, nil)
			n, err := u.Zeropage(pageAddr(b, 0), pageSize, 0)
			if err != nil || n != pageSize {
				t.Fatalf("Zeropage = %d, %v; want %d, nil", n, err, pageSize)
			}
			n, err = u.Zeropage(pageAddr(b, 0), pageSize, 0)
			if !errors.Is(err, unix.EEXIST) || n != 0 {
				t.Errorf("second Zeropage = %d, %v; want 0, EEXIST", n, err)
			}
			// The raw result field holds -EEXIST.
			z := uffdioZeropage{rng: uffdioRange{uint64(pageAddr(b, 0)), uint64(pageSize)}}
			_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.Fd()), reqZeropage, uintptr(unsafe.Pointer(&z)))
			if e != unix.EEXIST || z.zeropage != -int64(unix.EEXIST) {
				t.Errorf("raw ZEROPAGE: errno %v result %d; want EEXIST, %d", e, z.zeropage, -int64(unix.EEXIST))
			}

			// A read fault on page 1, resolved with ZEROPAGE.
			fault := goPopulate(page(b, 1), false)
			m := s.next(t)
			flags, addr, _ := m.Pagefault()
			if m.Event() != EventPagefault || flags != 0 || uintptr(addr) != pageAddr(b, 1) {
				t.Fatalf("message %v, want a read PAGEFAULT at %#x", m.String(), pageAddr(b, 1))
			}
			if n, err := u.Zeropage(uintptr(addr), pageSize, 0); err != nil || n != pageSize {
				t.Fatalf("Zeropage for fault = %d, %v", n, err)
			}
			if r := await(t, fault, "faulter after ZEROPAGE"); r.err != nil {
				t.Fatalf("populate: %v", r.err)
			}
			s.stop()
			if err := u.Unregister(addrOf(b), uintptr(len(b))); err != nil {
				t.Fatal(err)
			}
			if i, ok := allBytes(b, 0); !ok {
				t.Errorf("byte %d is %#x, want 0", i, b[i])
			}
		})
	}
}

// TestCopyEEXISTPartial copies three pages over a present middle page on
// anon and shmem memory: the kernel copies the first page and stops; the
// count done comes back with the error, and a copy starting at the present
// page fails with EEXIST and count 0.
func TestCopyEEXISTPartial(t *testing.T) {
	u := newUFFD(t, FeatureMissingShmem)
	src := mmapAnon(t, 3)
	for i := 0; i < 3; i++ {
		fill(page(src, i), byte(0xA0+i))
	}
	for _, mem := range []struct {
		name string
		b    []byte
	}{
		{"anon", mmapAnon(t, 3)},
		{"shmem", mmapShared(t, newMemfd(t, 3), 3)},
	} {
		t.Run(mem.name, func(t *testing.T) {
			b := mem.b
			register(t, u, b, RegisterModeMissing)
			if n, err := u.Zeropage(pageAddr(b, 1), pageSize, 0); err != nil || n != pageSize {
				t.Fatalf("Zeropage page 1 = %d, %v", n, err)
			}
			n, err := u.Copy(pageAddr(b, 0), addrOf(src), 3*pageSize, 0)
			t.Logf("Copy of 3 pages over a present page 1: n=%#x err=%v", n, err)
			if n != pageSize {
				t.Errorf("partial Copy returned n=%#x, want %#x", n, pageSize)
			}
			if !errors.Is(err, unix.EAGAIN) {
				t.Errorf("partial Copy error %v, want EAGAIN (the kernel reports a short copy as EAGAIN)", err)
			}
			var ue *Error
			if errors.As(err, &ue) && ue.Done != pageSize {
				t.Errorf("Error.Done = %#x, want %#x", ue.Done, pageSize)
			}
			// Raw: the result field holds the positive count.
			c := uffdioCopy{dst: uint64(pageAddr(b, 1)), src: uint64(pageAddr(src, 1)), len: uint64(2 * pageSize)}
			_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.Fd()), reqCopy, uintptr(unsafe.Pointer(&c)))
			if e != unix.EEXIST || c.copy != -int64(unix.EEXIST) {
				t.Errorf("raw COPY at the present page: errno %v result %d; want EEXIST, -17", e, c.copy)
			}
			n, err = u.Copy(pageAddr(b, 1), pageAddr(src, 1), 2*pageSize, 0)
			if n != 0 || !errors.Is(err, unix.EEXIST) {
				t.Errorf("Copy at present page = %#x, %v; want 0, EEXIST", n, err)
			}
			// Skip the present page and copy the rest.
			if n, err := u.Copy(pageAddr(b, 2), pageAddr(src, 2), pageSize, 0); err != nil || n != pageSize {
				t.Errorf("Copy page 2 = %#x, %v", n, err)
			}
			if err := u.Unregister(addrOf(b), uintptr(len(b))); err != nil {
				t.Fatal(err)
			}
			for i, want := range []byte{0xA0, 0, 0xA2} {
				if j, ok := allBytes(page(b, i), want); !ok {
					t.Errorf("page %d byte %d = %#x, want %#x", i, j, page(b, i)[j], want)
				}
			}
		})
	}
}

// TestPartialResults checks that ZEROPAGE, POISON and MOVE report a short
// count with EAGAIN when they stop at a present page, like COPY.
func TestPartialResults(t *testing.T) {
	u := newUFFD(t, FeaturePoison|FeatureMove)
	b := mmapAnon(t, 8)
	src := mmapAnon(t, 2)
	fill(src, 1)
	register(t, u, b, RegisterModeMissing)
	for _, i := range []int{1, 4, 7} {
		if _, err := u.Zeropage(pageAddr(b, i), pageSize, 0); err != nil {
			t.Fatal(err)
		}
	}
	n, err := u.Zeropage(pageAddr(b, 0), 2*pageSize, 0)
	if n != pageSize || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("Zeropage over [missing, present] = %#x, %v; want %#x, EAGAIN", n, err, pageSize)
	}
	n, err = u.Poison(pageAddr(b, 3), 2*pageSize, 0)
	if n != pageSize || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("Poison over [missing, present] = %#x, %v; want %#x, EAGAIN", n, err, pageSize)
	}
	n, err = u.Move(pageAddr(b, 6), addrOf(src), 2*pageSize, 0)
	t.Logf("Move over [missing, present]: n=%#x err=%v", n, err)
	if n != pageSize || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("Move over [missing, present] = %#x, %v; want %#x, EAGAIN", n, err, pageSize)
	}
}

// TestCopyFaults serves faults with Copy and CopyFrom, checks the fault
// message fields (address, WRITE flag, thread id) and the DONTWAKE + Wake
// path.
func TestCopyFaults(t *testing.T) {
	u := newUFFD(t, FeatureThreadID)
	b := mmapAnon(t, 3)
	register(t, u, b, RegisterModeMissing)
	s := serve(t, u, nil)
	src := make([]byte, PageSize)
	fill(src, 0x5A)

	// Write fault from a known thread.
	tidc, fault := goPopulateTid(page(b, 0), true)
	tid := <-tidc
	m := s.next(t)
	flags, addr, ptid := m.Pagefault()
	if m.Event() != EventPagefault || flags != PagefaultFlagWrite || uintptr(addr) != pageAddr(b, 0) || int(ptid) != tid {
		t.Errorf("message %v, want PAGEFAULT WRITE at %#x ptid %d", m.String(), pageAddr(b, 0), tid)
	}
	if n, err := u.CopyFrom(uintptr(addr), src, 0); err != nil || n != pageSize {
		t.Fatalf("CopyFrom = %d, %v", n, err)
	}
	if r := await(t, fault, "write faulter after COPY"); r.err != nil {
		t.Fatal(r.err)
	}

	// Read fault, resolved with DONTWAKE: the faulter stays blocked until Wake.
	fault = goPopulate(page(b, 1), false)
	m = s.next(t)
	flags, addr, _ = m.Pagefault()
	if flags != 0 || uintptr(addr) != pageAddr(b, 1) {
		t.Errorf("message %v, want a read PAGEFAULT at %#x", m.String(), pageAddr(b, 1))
	}
	if n, err := u.Copy(uintptr(addr), addrOf(src), pageSize, CopyModeDontWake); err != nil || n != pageSize {
		t.Fatalf("Copy DONTWAKE = %d, %v", n, err)
	}
	runtime.KeepAlive(src)
	if r, blocked := notDone(fault, 100*time.Millisecond); !blocked {
		// A signal can interrupt the sleeping faulter (madvise returns
		// EINTR and populate retries, finding the page present).
		if r.eintr == 0 {
			t.Errorf("faulter returned (%v) after a DONTWAKE copy without being woken", r.err)
		}
	} else {
		if err := u.Wake(pageAddr(b, 1), pageSize); err != nil {
			t.Fatal(err)
		}
		if r := await(t, fault, "faulter after WAKE"); r.err != nil {
			t.Fatal(r.err)
		}
	}
	s.none(t, 50*time.Millisecond)
	s.stop()
	if err := u.Unregister(addrOf(b), uintptr(len(b))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if j, ok := allBytes(page(b, i), 0x5A); !ok {
			t.Errorf("page %d byte %d = %#x", i, j, page(b, i)[j])
		}
	}
	// Error text names the operation, the range and the errno.
	_, err := u.Copy(pageAddr(b, 2)+1, addrOf(src), pageSize, CopyModeWP)
	t.Logf("misaligned Copy: %v", err)
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("misaligned Copy: %v, want EINVAL", err)
	}
}

// TestMove mirrors the selftests' move test on anon memory: faults on the
// destination are served by moving source pages, the source becomes a hole;
// moving from a hole fails with ENOENT unless ALLOW_SRC_HOLES; MOVE onto a
// present page is EEXIST, and MOVE into shmem is EINVAL.
func TestMove(t *testing.T) {
	u := newUFFD(t, FeatureMove|FeatureMissingShmem)
	src := mmapAnon(t, 4)
	dst := mmapAnon(t, 4)
	for i := 0; i < 4; i++ {
		fill(page(src, i), byte(0x10+i))
	}
	register(t, u, dst, RegisterModeMissing)
	s := serve(t, u, nil)

	fault := goPopulate(page(dst, 0), false)
	m := s.next(t)
	flags, addr, _ := m.Pagefault()
	if flags != 0 || uintptr(addr) != pageAddr(dst, 0) {
		t.Fatalf("message %v", m.String())
	}
	if n, err := u.Move(uintptr(addr), pageAddr(src, 0), pageSize, 0); err != nil || n != pageSize {
		t.Fatalf("Move = %d, %v", n, err)
	}
	if r := await(t, fault, "faulter after MOVE"); r.err != nil {
		t.Fatal(r.err)
	}
	if e := pagemapEntry(t, pageAddr(src, 0)); e&PagemapPresent != 0 {
		t.Errorf("source page still present after MOVE (pagemap %#x)", e)
	}

	// Two pages at once (no fault pending: MOVE does not need one).
	if n, err := u.Move(pageAddr(dst, 1), pageAddr(src, 1), 2*pageSize, MoveModeDontWake); err != nil || n != 2*pageSize {
		t.Fatalf("Move 2 pages = %d, %v", n, err)
	}
	// Source page 0 is a hole now.
	n, err := u.Move(pageAddr(dst, 3), pageAddr(src, 0), pageSize, 0)
	t.Logf("Move from a hole: n=%d err=%v", n, err)
	if !errors.Is(err, unix.ENOENT) || n != 0 {
		t.Errorf("Move from a hole = %d, %v; want 0, ENOENT", n, err)
	}
	n, err = u.Move(pageAddr(dst, 3), pageAddr(src, 0), pageSize, MoveModeAllowSrcHoles)
	t.Logf("Move from a hole with ALLOW_SRC_HOLES: n=%d err=%v", n, err)
	if err != nil || n != pageSize {
		t.Errorf("Move ALLOW_SRC_HOLES = %d, %v; want %d, nil", n, err, pageSize)
	}
	if e := pagemapEntry(t, pageAddr(dst, 3)); e&PagemapPresent != 0 {
		t.Errorf("destination of a skipped hole is present (pagemap %#x)", e)
	}
	// Onto a present page.
	n, err = u.Move(pageAddr(dst, 0), pageAddr(src, 3), pageSize, 0)
	if !errors.Is(err, unix.EEXIST) || n != 0 {
		t.Errorf("Move onto a present page = %d, %v; want 0, EEXIST", n, err)
	}
	// Into shmem.
	shm := mmapShared(t, newMemfd(t, 1), 1)
	io := register(t, u, shm, RegisterModeMissing)
	n, err = u.Move(addrOf(shm), pageAddr(src, 3), pageSize, 0)
	t.Logf("shmem range ioctls %v; Move into shmem: n=%d err=%v", io, n, err)
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("Move into shmem: %v, want EINVAL", err)
	}

	s.stop()
	if err := u.Unregister(addrOf(dst), uintptr(len(dst))); err != nil {
		t.Fatal(err)
	}
	for i, want := range []byte{0x10, 0x11, 0x12, 0} {
		if j, ok := allBytes(page(dst, i), want); !ok {
			t.Errorf("dst page %d byte %d = %#x, want %#x", i, j, page(dst, i)[j], want)
		}
	}
	if j, ok := allBytes(page(src, 0), 0); !ok {
		t.Errorf("src page 0 byte %d = %#x after MOVE, want 0", j, src[j])
	}
	if j, ok := allBytes(page(src, 3), 0x13); !ok {
		t.Errorf("src page 3 byte %d = %#x, want 0x13 (failed moves must not touch it)", j, page(src, 3)[j])
	}
}

// TestWriteProtect covers the WP fault path: a page installed with
// COPY_MODE_WP, a write fault with FLAG_WRITE|FLAG_WP, and the swapped
// UFFDIO_WRITEPROTECT mode bits: WriteProtectModeDontWake alone removes the
// protection without waking (checked through the pagemap uffd-wp bit), Wake
// then releases the faulter, and WriteProtect(0) unprotects and wakes.
func TestWriteProtect(t *testing.T) {
	u := newUFFD(t, FeaturePagefaultFlagWP)
	b := mmapAnon(t, 1)
	io := register(t, u, b, RegisterModeMissing|RegisterModeWP)
	if !io.Has(IoctlWriteProtect | IoctlCopy) {
		t.Fatalf("ioctls %v", io)
	}
	s := serve(t, u, nil)
	src := mmapAnon(t, 1)
	fill(src, 0x77)
	if n, err := u.Copy(addrOf(b), addrOf(src), pageSize, CopyModeWP); err != nil || n != pageSize {
		t.Fatalf("Copy WP = %d, %v", n, err)
	}
	if e := pagemapEntry(t, addrOf(b)); e&PagemapUffdWP == 0 || e&PagemapPresent == 0 {
		t.Fatalf("after COPY_MODE_WP pagemap %#x lacks present|uffd-wp", e)
	}
	// A read does not fault.
	if _, err := populate(b, false); err != nil {
		t.Fatalf("read of a WP page: %v", err)
	}
	s.none(t, 20*time.Millisecond)

	for round := 0; round < 2; round++ {
		fault := goPopulate(b, true)
		m := s.next(t)
		flags, addr, _ := m.Pagefault()
		if m.Event() != EventPagefault || flags != PagefaultFlagWrite|PagefaultFlagWP || uintptr(addr) != addrOf(b) {
			t.Fatalf("round %d: message %v, want PAGEFAULT WRITE|WP at %#x", round, m.String(), addrOf(b))
		}
		if round == 0 {
			// DONTWAKE (bit 1) alone: unprotect, no wake.
			if err := u.WriteProtect(addrOf(b), pageSize, WriteProtectModeDontWake); err != nil {
				t.Fatal(err)
			}
			if e := pagemapEntry(t, addrOf(b)); e&PagemapUffdWP != 0 {
				t.Fatalf("WriteProtectModeDontWake left the page protected (pagemap %#x): mode bits swapped?", e)
			}
			if r, blocked := notDone(fault, 100*time.Millisecond); !blocked && r.eintr == 0 {
				t.Errorf("faulter returned (%v) after a DONTWAKE unprotect", r.err)
			} else if blocked {
				if err := u.Wake(addrOf(b), pageSize); err != nil {
					t.Fatal(err)
				}
				await(t, fault, "faulter after WAKE")
			}
			// WP (bit 0): protect again.
			if err := u.WriteProtect(addrOf(b), pageSize, WriteProtectModeWP); err != nil {
				t.Fatal(err)
			}
			if e := pagemapEntry(t, addrOf(b)); e&PagemapUffdWP == 0 {
				t.Fatalf("WriteProtectModeWP did not protect (pagemap %#x)", e)
			}
		} else {
			if err := u.WriteProtect(addrOf(b), pageSize, 0); err != nil {
				t.Fatal(err)
			}
			if r := await(t, fault, "faulter after unprotect"); r.err != nil {
				t.Fatal(r.err)
			}
		}
	}
	// Unprotected now: writes do not fault.
	if _, err := populate(b, true); err != nil {
		t.Fatal(err)
	}
	s.none(t, 20*time.Millisecond)
	// WRITEPROTECT on a range registered without WP.
	b2 := mmapAnon(t, 1)
	register(t, u, b2, RegisterModeMissing)
	if err := u.WriteProtect(addrOf(b2), pageSize, WriteProtectModeWP); err == nil {
		t.Errorf("WriteProtect on a MISSING-only range succeeded")
	} else {
		t.Logf("WriteProtect on a MISSING-only range: %v", err)
	}
	s.stop()
	u.Unregister(addrOf(b), pageSize)
	if j, ok := allBytes(b, 0x77); !ok {
		t.Errorf("byte %d = %#x", j, b[j])
	}
}

// TestWPUnpopulated mirrors the selftests' wp-unpopulated test: with
// WP_UNPOPULATED an empty anon PTE can be protected (a marker shows in the
// pagemap), unprotected, zapped by MADV_DONTNEED; a read maps the zero page
// without a message, and a write to a protected empty page is a WP fault.
func TestWPUnpopulated(t *testing.T) {
	u := newUFFD(t, FeaturePagefaultFlagWP|FeatureWPUnpopulated)
	b := mmapAnon(t, 1)
	register(t, u, b, RegisterModeWP)
	s := serve(t, u, nil)
	a := addrOf(b)
	wp := func(on bool) {
		t.Helper()
		var mode WriteProtectMode
		if on {
			mode = WriteProtectModeWP
		}
		if err := u.WriteProtect(a, pageSize, mode); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want bool, what string) {
		t.Helper()
		e := pagemapEntry(t, a)
		if (e&PagemapUffdWP != 0) != want {
			t.Errorf("%s: pagemap %#x, want uffd-wp=%v", what, e, want)
		}
	}
	wp(true)
	check(true, "protect empty PTE")
	wp(false)
	check(false, "unprotect marker")
	wp(true)
	if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	check(false, "MADV_DONTNEED on marker")
	if _, err := populate(b, true); err != nil {
		t.Fatal(err)
	}
	check(false, "write after marker removed")
	s.none(t, 20*time.Millisecond)
	if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	wp(true)
	if _, err := populate(b, false); err != nil {
		t.Fatal(err)
	}
	s.none(t, 20*time.Millisecond)
	check(true, "read of a protected empty page keeps the protection")
	fault := goPopulate(b, true)
	m := s.next(t)
	flags, addr, _ := m.Pagefault()
	if flags != PagefaultFlagWrite|PagefaultFlagWP || uintptr(addr) != a {
		t.Errorf("message %v, want PAGEFAULT WRITE|WP at %#x", m.String(), a)
	}
	wp(false)
	if r := await(t, fault, "faulter after unprotect"); r.err != nil {
		t.Fatal(r.err)
	}
}

// TestWPAnonIgnoresEmptyPTE checks the default: without WP_UNPOPULATED,
// write-protecting an empty anon page sets no marker and a write to it does
// not fault.
func TestWPAnonIgnoresEmptyPTE(t *testing.T) {
	u := newUFFD(t, FeaturePagefaultFlagWP)
	b := mmapAnon(t, 1)
	register(t, u, b, RegisterModeWP)
	s := serve(t, u, nil)
	if err := u.WriteProtect(addrOf(b), pageSize, WriteProtectModeWP); err != nil {
		t.Fatal(err)
	}
	if e := pagemapEntry(t, addrOf(b)); e&PagemapUffdWP != 0 {
		t.Errorf("pagemap %#x: empty PTE protected without WP_UNPOPULATED", e)
	}
	if _, err := populate(b, true); err != nil {
		t.Fatal(err)
	}
	s.none(t, 20*time.Millisecond)
}

// TestMinorContinue mirrors the selftests' minor test on shmem: a page
// filled through an unregistered alias mapping of the memfd faults MINOR in
// the registered mapping, CONTINUE maps it (a second CONTINUE is EEXIST); a
// page not in the page cache does not fault in MINOR-only mode. With
// MINOR|WP, CONTINUE_MODE_WP maps the page protected.
func TestMinorContinue(t *testing.T) {
	u := newUFFD(t, FeatureMinorShmem|FeaturePagefaultFlagWP|FeatureWPHugetlbfsShmem)
	fd := newMemfd(t, 3)
	alias := mmapShared(t, fd, 3)
	reg := mmapShared(t, fd, 3)
	io := register(t, u, reg, RegisterModeMinor)
	if !io.Has(IoctlContinue) {
		t.Fatalf("ioctls %v lack CONTINUE", io)
	}
	s := serve(t, u, nil)
	fill(page(alias, 0), 0xC3)

	fault := goPopulate(page(reg, 0), false)
	m := s.next(t)
	flags, addr, _ := m.Pagefault()
	if flags != PagefaultFlagMinor || uintptr(addr) != pageAddr(reg, 0) {
		t.Fatalf("message %v, want PAGEFAULT MINOR at %#x", m.String(), pageAddr(reg, 0))
	}
	if n, err := u.Continue(uintptr(addr), pageSize, 0); err != nil || n != pageSize {
		t.Fatalf("Continue = %d, %v", n, err)
	}
	if r := await(t, fault, "faulter after CONTINUE"); r.err != nil {
		t.Fatal(r.err)
	}
	n, err := u.Continue(pageAddr(reg, 0), pageSize, 0)
	if !errors.Is(err, unix.EEXIST) || n != 0 {
		t.Errorf("second Continue = %d, %v; want 0, EEXIST", n, err)
	}
	// Page 1 is not in the page cache: MINOR mode does not trap it.
	if _, err := populate(page(reg, 1), false); err != nil {
		t.Fatal(err)
	}
	s.none(t, 20*time.Millisecond)

	// MINOR|WP and CONTINUE_MODE_WP on page 2.
	s.stop()
	if err := u.Unregister(addrOf(reg), uintptr(len(reg))); err != nil {
		t.Fatal(err)
	}
	if j, ok := allBytes(page(reg, 0), 0xC3); !ok {
		t.Errorf("page 0 byte %d = %#x through the registered mapping", j, page(reg, 0)[j])
	}
	register(t, u, page(reg, 2), RegisterModeMinor|RegisterModeWP)
	fill(page(alias, 2), 0xD4)
	if n, err := u.Continue(pageAddr(reg, 2), pageSize, ContinueModeWP); err != nil || n != pageSize {
		t.Fatalf("Continue WP = %d, %v", n, err)
	}
	if e := pagemapEntry(t, pageAddr(reg, 2)); e&PagemapUffdWP == 0 || e&PagemapPresent == 0 {
		t.Errorf("after CONTINUE_MODE_WP pagemap %#x lacks present|uffd-wp", e)
	}
	s2 := serve(t, u, nil)
	fault = goPopulate(page(reg, 2), true)
	m = s2.next(t)
	if flags, addr, _ := m.Pagefault(); flags != PagefaultFlagWrite|PagefaultFlagWP || uintptr(addr) != pageAddr(reg, 2) {
		t.Errorf("message %v, want WRITE|WP at %#x", m.String(), pageAddr(reg, 2))
	}
	if err := u.WriteProtect(pageAddr(reg, 2), pageSize, 0); err != nil {
		t.Fatal(err)
	}
	await(t, fault, "faulter after unprotect")
}

// TestPoison mirrors the selftests' poison test: POISON marks a missing
// page; a second POISON is EEXIST; MADV_POPULATE_* of it fails with
// EHWPOISON without a message; a load raises SIGBUS at the page; POISON in
// answer to a fault wakes the faulter with EHWPOISON; MADV_DONTNEED drops
// the marker so the page faults to the userfaultfd again; ZEROPAGE onto a
// poisoned page is EEXIST but COPY replaces the poison.
func TestPoison(t *testing.T) {
	u := newUFFD(t, FeaturePoison)
	b := mmapAnon(t, 4)
	io := register(t, u, b, RegisterModeMissing)
	if !io.Has(IoctlPoison | IoctlCopy) {
		t.Fatalf("ioctls %v lack POISON", io)
	}
	var poisoned atomic.Bool // poison page 1 on its first fault only
	s := serve(t, u, func(m *Msg) {
		if m.Event() != EventPagefault {
			return
		}
		if _, a, _ := m.Pagefault(); uintptr(a) == pageAddr(b, 1) && poisoned.CompareAndSwap(false, true) {
			if n, err := u.Poison(uintptr(a), pageSize, 0); err != nil || n != pageSize {
				t.Errorf("Poison for a fault = %d, %v", n, err)
			}
		}
	})
	n, err := u.Poison(pageAddr(b, 0), pageSize, 0)
	if err != nil || n != pageSize {
		t.Fatalf("Poison = %d, %v", n, err)
	}
	n, err = u.Poison(pageAddr(b, 0), pageSize, 0)
	if !errors.Is(err, unix.EEXIST) || n != 0 {
		t.Errorf("second Poison = %d, %v; want 0, EEXIST", n, err)
	}
	_, perr := populate(page(b, 0), false)
	t.Logf("MADV_POPULATE_READ of a poisoned page: %v (%s)", perr, unix.ErrnoName(errnoOf(perr)))
	if !errors.Is(perr, unix.EHWPOISON) {
		t.Fatalf("populate of a poisoned page: %v, want EHWPOISON", perr)
	}
	_, pwerr := populate(page(b, 0), true)
	t.Logf("MADV_POPULATE_WRITE of a poisoned page: %v (%s)", pwerr, unix.ErrnoName(errnoOf(pwerr)))
	if !errors.Is(pwerr, unix.EHWPOISON) {
		t.Fatalf("populate-write of a poisoned page: %v, want EHWPOISON", pwerr)
	}
	s.none(t, 20*time.Millisecond)

	// A direct load raises SIGBUS at once (no uffd wait), so it is safe
	// from Go: populate just proved the page does not wait for a handler.
	addr, ok := touchFault(page(b, 0))
	if !ok {
		t.Errorf("load of a poisoned page did not fault")
	} else if addr != pageAddr(b, 0) {
		t.Errorf("SIGBUS at %#x, want %#x", addr, pageAddr(b, 0))
	}

	// Poison in answer to a fault: the faulter fails.
	fault := goPopulate(page(b, 1), false)
	m := s.next(t)
	if _, a, _ := m.Pagefault(); uintptr(a) != pageAddr(b, 1) {
		t.Fatalf("message %v", m.String())
	}
	r := await(t, fault, "faulter after POISON")
	t.Logf("faulter woken onto a poisoned page: %v (%s)", r.err, unix.ErrnoName(errnoOf(r.err)))
	if !errors.Is(r.err, unix.EHWPOISON) {
		t.Errorf("faulter woken onto a poisoned page: %v, want EHWPOISON", r.err)
	}

	// MADV_DONTNEED drops the marker; the page faults to the uffd again.
	if err := unix.Madvise(page(b, 1), unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if e := pagemapEntry(t, pageAddr(b, 1)); e != 0 {
		t.Errorf("pagemap after DONTNEED of a poisoned page: %#x, want 0", e)
	}
	fault = goPopulate(page(b, 1), false)
	m = s.next(t)
	if _, a, _ := m.Pagefault(); uintptr(a) != pageAddr(b, 1) {
		t.Fatalf("message %v, want a fault on the formerly poisoned page", m.String())
	}
	if n, err := u.Zeropage(pageAddr(b, 1), pageSize, 0); err != nil || n != pageSize {
		t.Fatalf("Zeropage = %d, %v", n, err)
	}
	if r := await(t, fault, "faulter after ZEROPAGE"); r.err != nil {
		t.Fatal(r.err)
	}

	// ZEROPAGE onto the poisoned page 0 is EEXIST, but COPY replaces the
	// poison (COPY treats PTE markers as empty; ZEROPAGE does not).
	n, err = u.Zeropage(pageAddr(b, 0), pageSize, 0)
	t.Logf("Zeropage onto a poisoned page: n=%d err=%v", n, err)
	if !errors.Is(err, unix.EEXIST) || n != 0 {
		t.Errorf("Zeropage onto a poisoned page = %d, %v; want 0, EEXIST", n, err)
	}
	src := mmapAnon(t, 1)
	fill(src, 0x61)
	n, err = u.Copy(pageAddr(b, 0), addrOf(src), pageSize, 0)
	t.Logf("Copy onto a poisoned page: n=%d err=%v", n, err)
	if err != nil || n != pageSize {
		t.Errorf("Copy onto a poisoned page = %d, %v; want it to replace the poison", n, err)
	}
	if _, err := populate(page(b, 0), false); err != nil {
		t.Errorf("populate after the poison was replaced: %v", err)
	}
	s.stop()
	if err := u.Unregister(addrOf(b), uintptr(len(b))); err != nil {
		t.Fatal(err)
	}
	if j, ok := allBytes(page(b, 0), 0x61); !ok {
		t.Errorf("page 0 byte %d = %#x after COPY over the poison", j, b[j])
	}
}

// touchFault loads the first byte of b with SetPanicOnFault and returns the
// fault address if the load faulted. Only for memory that faults at once
// (SIGBUS/SIGSEGV), never for memory that would wait for a uffd handler.
func touchFault(b []byte) (addr uintptr, faulted bool) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if e, ok := r.(interface{ Addr() uintptr }); ok {
			addr, faulted = e.Addr(), true
			return
		}
		panic(r)
	}()
	p := (*byte)(unsafe.Pointer(&b[0]))
	sink = *p
	return 0, false
}

var sink byte

// TestSigbus mirrors the selftests' sigbus test: with FeatureSigbus a
// missing page raises SIGBUS instead of queueing a message; MADV_POPULATE
// fails; after COPY the page is readable.
func TestSigbus(t *testing.T) {
	u := newUFFD(t, FeatureSigbus)
	b := mmapAnon(t, 2)
	register(t, u, b, RegisterModeMissing)
	s := serve(t, u, nil)
	_, err := populate(page(b, 0), false)
	t.Logf("MADV_POPULATE_READ with FeatureSigbus: %v (%s)", err, unix.ErrnoName(errnoOf(err)))
	if !errors.Is(err, unix.EFAULT) {
		t.Errorf("populate with FeatureSigbus: %v, want EFAULT", err)
	}
	s.none(t, 20*time.Millisecond)
	var msgs [1]Msg
	if n, err := u.Read(msgs[:]); n != 0 || err != nil {
		t.Errorf("Read = %d, %v; want 0, nil", n, err)
	}
	// Safe to touch: populate proved that faults raise SIGBUS.
	addr, ok := touchFault(page(b, 1))
	if !ok || addr != pageAddr(b, 1) {
		t.Errorf("load of a missing page: faulted=%v at %#x, want SIGBUS at %#x", ok, addr, pageAddr(b, 1))
	}
	src := mmapAnon(t, 1)
	fill(src, 9)
	if n, err := u.Copy(pageAddr(b, 0), addrOf(src), pageSize, 0); err != nil || n != pageSize {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	if _, err := populate(page(b, 0), false); err != nil {
		t.Errorf("populate after COPY: %v", err)
	}
	if page(b, 0)[100] != 9 {
		t.Errorf("page content %d after COPY", page(b, 0)[100])
	}
}

// TestMmapChanging mirrors the selftests' mmap-changing test: while a REMOVE
// event is queued and unread, COPY, ZEROPAGE, MOVE, POISON and WRITEPROTECT
// fail with EAGAIN (the result field, where there is one, holds -EAGAIN) and
// change nothing; after the event is read and the remover returns, they work.
func TestMmapChanging(t *testing.T) {
	u := newUFFD(t, FeatureEventRemove|FeatureMove|FeaturePoison|FeaturePagefaultFlagWP)
	b := mmapAnon(t, 6)
	src := mmapAnon(t, 2)
	fill(src, 0x33)
	register(t, u, b, RegisterModeMissing|RegisterModeWP)
	if n, err := u.Copy(pageAddr(b, 0), addrOf(src), pageSize, 0); err != nil || n != pageSize {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	removed := make(chan error, 1)
	go func() { removed <- unix.Madvise(page(b, 0), unix.MADV_DONTNEED) }()
	ur, _, err := u.Wait(-1, int(testTimeout/time.Millisecond))
	if err != nil || !ur {
		t.Fatalf("Wait for the REMOVE event = %v, %v", ur, err)
	}

	c := uffdioCopy{dst: uint64(pageAddr(b, 1)), src: uint64(addrOf(src)), len: uint64(pageSize)}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(u.Fd()), reqCopy, uintptr(unsafe.Pointer(&c)))
	if e != unix.EAGAIN || c.copy != -int64(unix.EAGAIN) {
		t.Errorf("raw COPY: errno %v result %d; want EAGAIN, %d", e, c.copy, -int64(unix.EAGAIN))
	}
	if n, err := u.Copy(pageAddr(b, 1), addrOf(src), pageSize, 0); n != 0 || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("Copy = %d, %v; want 0, EAGAIN", n, err)
	}
	if n, err := u.Zeropage(pageAddr(b, 2), pageSize, 0); n != 0 || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("Zeropage = %d, %v; want 0, EAGAIN", n, err)
	}
	if n, err := u.Move(pageAddr(b, 3), pageAddr(src, 1), pageSize, 0); n != 0 || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("Move = %d, %v; want 0, EAGAIN", n, err)
	}
	if n, err := u.Poison(pageAddr(b, 4), pageSize, 0); n != 0 || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("Poison = %d, %v; want 0, EAGAIN", n, err)
	}
	if err := u.WriteProtect(pageAddr(b, 0), pageSize, WriteProtectModeWP); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("WriteProtect = %v; want EAGAIN", err)
	}
	if err := u.Wake(pageAddr(b, 0), pageSize); err != nil {
		t.Errorf("Wake while an event is pending: %v (WAKE does not check mmap_changing)", err)
	}
	select {
	case err := <-removed:
		t.Fatalf("MADV_DONTNEED returned (%v) before its REMOVE event was read", err)
	default:
	}
	var msgs [4]Msg
	n, err := u.Read(msgs[:])
	if err != nil || n != 1 {
		t.Fatalf("Read = %d, %v", n, err)
	}
	start, end := msgs[0].Remove()
	if msgs[0].Event() != EventRemove || uintptr(start) != pageAddr(b, 0) || uintptr(end) != pageAddr(b, 1) {
		t.Errorf("message %v, want REMOVE [%#x, %#x)", msgs[0].String(), pageAddr(b, 0), pageAddr(b, 1))
	}
	select {
	case err := <-removed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("MADV_DONTNEED still blocked after its event was read")
	}
	for i := 1; i <= 4; i++ {
		if e := pagemapEntry(t, pageAddr(b, i)); e&PagemapPresent != 0 {
			t.Errorf("page %d present after the EAGAIN ioctls (pagemap %#x)", i, e)
		}
	}
	if n, err := u.Copy(pageAddr(b, 1), addrOf(src), pageSize, 0); err != nil || n != pageSize {
		t.Errorf("Copy after the event = %d, %v", n, err)
	}
	if n, err := u.Move(pageAddr(b, 3), pageAddr(src, 1), pageSize, 0); err != nil || n != pageSize {
		t.Errorf("Move after the event = %d, %v", n, err)
	}
}
