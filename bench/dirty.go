package bench

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/zx"
)

// Dirty tracking round trips: the first write to a clean, write-protected
// page, the raw way (a userfaultfd write-protect handler lifting the
// protection) and through the pager (a DIRTY request answered with
// ZX_PAGER_OP_DIRTY).

// rawWPFeatures are what a write-protect handler on memfd memory needs.
const rawWPFeatures = uffd.FeaturePagefaultFlagWP | uffd.FeatureWPHugetlbfsShmem | uffd.FeatureMissingShmem

// rawWPRow measures the minimal raw write-protect round trip: a MAP_SHARED
// memfd mapping with every page present (allocated and mapped), registered
// MISSING|WP and protected whole; a C thread writes one byte to each page;
// the goroutine handler (goHandler) answers each write-protect fault with
// UFFDIO_WRITEPROTECT clearing the protection of that page, which wakes the
// writer.
func rawWPRow(e *env) (*measurement, error) {
	n := e.cfg.N + e.cfg.Warmup
	size := n * pageSize
	fd, err := newMemfd("pagerbench-wp", size)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.Fallocate(fd, 0, 0, int64(size)); err != nil {
		return nil, fmt.Errorf("fallocate memfd: %w", err)
	}
	r, err := mmapShared(fd, size, unix.PROT_READ|unix.PROT_WRITE)
	if err != nil {
		return nil, err
	}
	defer r.unmap()
	u, err := uffd.New(rawWPFeatures)
	if err != nil {
		return nil, err
	}
	defer u.Close()
	if _, err := u.Register(r.addr, uintptr(size), uffd.RegisterModeMissing|uffd.RegisterModeWP); err != nil {
		return nil, err
	}
	// Every page mapped and writable (the pages exist: no MISSING fault),
	// then protected: the next write to each is a write-protect fault.
	if err := r.populate(); err != nil {
		return nil, err
	}
	if err := u.WriteProtect(r.addr, uintptr(size), uffd.WriteProtectModeWP); err != nil {
		return nil, err
	}
	src, err := srcPage()
	if err != nil {
		return nil, err
	}
	defer src.unmap()
	h, err := startGoHandler(u, src.addr)
	if err != nil {
		return nil, err
	}
	m, err := touch(touchSpec{addrs: [][]uintptr{r.pages(n)}, warm: e.cfg.Warmup, write: true}, e.cfg.Duration, h.check)
	served := h.close()
	if err == nil {
		err = h.check()
	}
	if err != nil {
		return nil, err
	}
	wp := h.wpFaults.Load()
	if wp != served || wp != uint64(m.faults)+uint64(e.cfg.Warmup) {
		return nil, fmt.Errorf("raw WP handler: %d faults of which %d write-protect faults for %d measured writes", served, wp, m.faults)
	}
	m.note("handler lifted write protection %d times", wp)
	return m, nil
}

// pagerDirtyRow measures the DIRTY round trip of the in-process runtime: a
// ZX_VMO_TRAP_DIRTY pager VMO whose pages were all supplied in advance (so
// they are present and clean, and every mapping is write-protected); a C
// thread writes one byte to each page; each first write posts a DIRTY
// packet, a handler goroutine answers it with ZX_PAGER_OP_DIRTY of exactly
// that page, and the writer resumes.
func pagerDirtyRow(e *env) (*measurement, error) {
	n := e.cfg.N + e.cfg.Warmup
	s, err := newPagerSetupOpts(1, n, auxPrefill, zx.VMOTrapDirty)
	if err != nil {
		return nil, err
	}
	defer s.close()
	// Supply every page now (no faulter waits): they become present and
	// clean. The supplies consume the aux pages.
	if err := s.p.SupplyPages(s.vmos[0], 0, s.size, s.auxes[0], 0); err != nil {
		return nil, fmt.Errorf("supplying the whole VMO: %w", err)
	}
	s.serve(1)
	m, err := touch(touchSpec{addrs: [][]uintptr{s.addrsOf(0, n)}, warm: e.cfg.Warmup, write: true}, e.cfg.Duration, s.check)
	if err == nil {
		err = s.check()
	}
	if err != nil {
		return nil, err
	}
	// The handler counts a request after OP_DIRTY has woken the writer.
	want := uint64(m.faults) + uint64(e.cfg.Warmup)
	for deadline := time.Now().Add(5 * time.Second); s.dirties.Load() < want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if d := s.dirties.Load(); d != want || s.supplies.Load() != 0 {
		return nil, fmt.Errorf("%d DIRTY requests and %d READ requests answered for %d measured writes", d, s.supplies.Load(), m.faults)
	}
	m.note("%d DIRTY requests answered with OP_DIRTY, no READ request", s.dirties.Load())
	return m, nil
}
