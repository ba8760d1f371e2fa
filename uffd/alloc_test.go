//go:build linux

package uffd

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestZeroAllocs asserts that Copy, Zeropage, Wake, WriteProtect, Read and
// Wait do not allocate on a real userfaultfd, Read both on an empty queue
// and with real fault messages.
func TestZeroAllocs(t *testing.T) {
	u := newUFFD(t, FeaturePagefaultFlagWP)
	const pages = 256
	b := mmapAnon(t, pages)
	register(t, u, b, RegisterModeMissing|RegisterModeWP)
	src := mmapAnon(t, 1)
	var firstErr error
	note := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	next := 0
	check := func(name string, f func()) {
		t.Helper()
		firstErr = nil
		a := testing.AllocsPerRun(100, f)
		if firstErr != nil {
			t.Errorf("%s: %v", name, firstErr)
		}
		if a != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, a)
		}
	}
	check("Copy", func() {
		_, err := u.Copy(pageAddr(b, next), addrOf(src), pageSize, 0)
		next++
		note(err)
	})
	check("Zeropage", func() {
		_, err := u.Zeropage(pageAddr(b, next), pageSize, 0)
		next++
		note(err)
	})
	wp := WriteProtectModeWP
	check("WriteProtect", func() {
		note(u.WriteProtect(pageAddr(b, 0), pageSize, wp))
		wp ^= WriteProtectModeWP
	})
	check("Wake", func() { note(u.Wake(addrOf(b), uintptr(len(b)))) })
	var msgs [1]Msg
	check("Read (empty queue)", func() {
		n, err := u.Read(msgs[:])
		note(err)
		if n != 0 && firstErr == nil {
			firstErr = unix.EBADMSG
		}
	})
	check("Wait (timeout 0)", func() {
		_, _, err := u.Wait(-1, 0)
		note(err)
	})

	// Real messages: a faulter blocked on a missing page faults again each
	// time it is woken without the page being supplied.
	last := pages - 1
	fault := goPopulate(page(b, last), false)
	check("Wait+Read+Wake (fault messages)", func() {
		ur, _, err := u.Wait(-1, int(testTimeout/time.Millisecond))
		note(err)
		if !ur && firstErr == nil {
			firstErr = unix.ETIMEDOUT
			return
		}
		n, err := u.Read(msgs[:])
		note(err)
		if n == 1 {
			if _, a, _ := msgs[0].Pagefault(); uintptr(a) != pageAddr(b, last) && firstErr == nil {
				firstErr = unix.EBADMSG
			}
		}
		note(u.Wake(pageAddr(b, last), pageSize))
	})
	if _, err := u.Zeropage(pageAddr(b, last), pageSize, 0); err != nil {
		t.Fatal(err)
	}
	if r := await(t, fault, "faulter"); r.err != nil {
		t.Fatal(r.err)
	}

	// The failure path allocates the *Error.
	a := testing.AllocsPerRun(10, func() { u.Copy(pageAddr(b, 0), addrOf(src), pageSize, 0) })
	t.Logf("Copy failing with EEXIST: %v allocations per call", a)
}

// benchArea is a registered anonymous area for benchmarks that fill pages;
// reset drops the pages so they can be filled again.
type benchArea struct {
	u    *UFFD
	b    []byte
	next int
}

const benchPages = 1024

func newBenchArea(b *testing.B, mode RegisterMode, f Features) *benchArea {
	u := newUFFD(b, f)
	a := &benchArea{u: u, b: mmapAnon(b, benchPages)}
	register(b, u, a.b, mode)
	return a
}

// page returns the next fresh page, resetting the area when it runs out.
func (a *benchArea) page(b *testing.B) uintptr {
	if a.next == benchPages {
		b.StopTimer()
		if err := unix.Madvise(a.b, unix.MADV_DONTNEED); err != nil {
			b.Fatal(err)
		}
		a.next = 0
		b.StartTimer()
	}
	p := pageAddr(a.b, a.next)
	a.next++
	return p
}

func BenchmarkCopy(b *testing.B) {
	a := newBenchArea(b, RegisterModeMissing, 0)
	src := mmapAnon(b, 1)
	fill(src, 1)
	b.ReportAllocs()
	b.SetBytes(int64(PageSize))
	for b.Loop() {
		if _, err := a.u.Copy(a.page(b), addrOf(src), pageSize, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkZeropage(b *testing.B) {
	a := newBenchArea(b, RegisterModeMissing, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.u.Zeropage(a.page(b), pageSize, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteProtectToggle(b *testing.B) {
	a := newBenchArea(b, RegisterModeWP, FeaturePagefaultFlagWP)
	if _, err := populate(a.b[:PageSize], true); err != nil {
		b.Fatal(err)
	}
	mode := WriteProtectModeWP
	b.ReportAllocs()
	for b.Loop() {
		if err := a.u.WriteProtect(addrOf(a.b), pageSize, mode); err != nil {
			b.Fatal(err)
		}
		mode ^= WriteProtectModeWP
	}
}

func BenchmarkWake(b *testing.B) {
	a := newBenchArea(b, RegisterModeMissing, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.u.Wake(addrOf(a.b), pageSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadEmpty(b *testing.B) {
	u := newUFFD(b, 0)
	var msgs [8]Msg
	b.ReportAllocs()
	for b.Loop() {
		if n, err := u.Read(msgs[:]); n != 0 || err != nil {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkFaultRoundTrip measures one MISSING fault served by COPY: a
// goroutine faults pages in with MADV_POPULATE_READ; the benchmark loop
// waits, reads the message and copies the page.
func BenchmarkFaultRoundTrip(b *testing.B) {
	a := newBenchArea(b, RegisterModeMissing, 0)
	src := mmapAnon(b, 1)
	fill(src, 2)
	reset := make(chan struct{})
	roundDone := make(chan struct{})
	stop := make(chan struct{})
	faulterDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if i == benchPages {
				select {
				case roundDone <- struct{}{}:
				case <-stop:
					faulterDone <- nil
					return
				}
				select {
				case <-reset:
				case <-stop:
					faulterDone <- nil
					return
				}
				i = 0
			}
			select {
			case <-stop:
				faulterDone <- nil
				return
			default:
			}
			if _, err := populate(page(a.b, i), false); err != nil {
				faulterDone <- err
				return
			}
		}
	}()
	var msgs [4]Msg
	served := 0
	b.ReportAllocs()
	for b.Loop() {
		for {
			if _, _, err := a.u.Wait(-1, int(testTimeout/time.Millisecond)); err != nil {
				b.Fatal(err)
			}
			n, err := a.u.Read(msgs[:1])
			if err != nil {
				b.Fatal(err)
			}
			if n == 1 {
				break
			}
		}
		_, addr, _ := msgs[0].Pagefault()
		if _, err := a.u.Copy(uintptr(addr), addrOf(src), pageSize, 0); err != nil {
			b.Fatal(err)
		}
		served++
		if served == benchPages {
			b.StopTimer()
			select {
			case <-roundDone:
			case <-time.After(testTimeout):
				b.Fatal("faulter did not finish its round")
			}
			if err := unix.Madvise(a.b, unix.MADV_DONTNEED); err != nil {
				b.Fatal(err)
			}
			served = 0
			reset <- struct{}{}
			b.StartTimer()
		}
	}
	close(stop)
	// Release a faulter that may be blocked on its next page.
	if err := a.u.Unregister(addrOf(a.b), uintptr(len(a.b))); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-faulterDone:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(testTimeout):
		b.Fatal("faulter did not stop")
	}
}
