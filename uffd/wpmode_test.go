//go:build linux

package uffd

// Semantics of the two ways pagerd can track dirtiness of pager VMOs
// created without ZX_VMO_TRAP_DIRTY, on memfd (MAP_SHARED) mappings:
//
//   - sync WP: the uffd has no WP_ASYNC; the first write to a protected
//     page sends a message, the handler records the page dirty and
//     unprotects it (UFFDIO_WRITEPROTECT mode 0, which wakes);
//   - async WP: the uffd has UFFD_FEATURE_WP_ASYNC; the kernel resolves the
//     write itself and the dirty set is read with PAGEMAP_SCAN
//     (PAGE_IS_WRITTEN), re-armed with PM_SCAN_WP_MATCHING.
//
// Registered memory is only ever touched from C threads (package faulter)
// or from inside system calls (pwrite on the memfd, madvise), never by a
// goroutine. The benchmarks are in wpmode_bench_test.go; the findings in
// docs/DIRTY-TRACKING.md.

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/pagerd/pagerd/internal/faulter"
	"golang.org/x/sys/unix"
)

// Feature sets of the two modes (memfd mappings need the shmem features).
const (
	wpmSyncFeatures  = FeaturePagefaultFlagWP | FeatureWPHugetlbfsShmem | FeatureMissingShmem
	wpmAsyncFeatures = wpmSyncFeatures | FeatureWPAsync
)

// wpmAllCats are the categories wpmCats reports.
const wpmAllCats = PageIsWPAllowed | PageIsWritten | PageIsPresent | PageIsSwapped | PageIsFile | PageIsPFNZero

// wpmScanner runs PAGEMAP_SCAN on /proc/self/pagemap with a reusable
// region vector.
type wpmScanner struct {
	pm  int
	vec []PageRegion
}

func newWPMScanner(tb testing.TB, vecLen int) *wpmScanner {
	tb.Helper()
	pm, err := OpenPagemap(0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(pm) })
	return &wpmScanner{pm: pm, vec: make([]PageRegion, vecLen)}
}

// scan walks [start, end) with a (Start/End overwritten) and calls out for
// every region. A full vector is continued from the end of its last region
// (walk_end is unreliable with 1000+ regions on 6.18). It returns the number
// of PAGEMAP_SCAN calls made.
func (s *wpmScanner) scan(start, end uintptr, a ScanArgs, out func(PageRegion)) (calls int, err error) {
	for start < end {
		a.Start, a.End = start, end
		n, _, err := PagemapScan(s.pm, &a, s.vec)
		calls++
		if err != nil {
			return calls, err
		}
		if out != nil {
			for _, r := range s.vec[:n] {
				out(r)
			}
		}
		if n < len(s.vec) {
			break
		}
		start = uintptr(s.vec[n-1].End)
	}
	return calls, nil
}

// pages returns the indices (relative to b) of the pages of b matching a.
func (s *wpmScanner) pages(tb testing.TB, b []byte, a ScanArgs) []int {
	tb.Helper()
	base := addrOf(b)
	var idx []int
	_, err := s.scan(base, base+uintptr(len(b)), a, func(r PageRegion) {
		for p := r.Start; p < r.End; p += uint64(pageSize) {
			idx = append(idx, int((uintptr(p)-base)/pageSize))
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return idx
}

// written returns the pages of b reporting PAGE_IS_WRITTEN; with rearm the
// scan also write-protects them again (PM_SCAN_WP_MATCHING).
func (s *wpmScanner) written(tb testing.TB, b []byte, rearm bool) []int {
	tb.Helper()
	a := ScanArgs{CategoryMask: PageIsWritten, ReturnMask: PageIsWritten}
	if rearm {
		a.Flags = ScanWPMatching
	}
	return s.pages(tb, b, a)
}

// empty returns the pages of b whose PTE is none: neither present nor a
// swap entry or marker. In a range armed with UFFDIO_WRITEPROTECT on shmem
// every PTE is either present or a uffd-wp marker, so a none PTE is a page
// that was written (protection dropped) and then zapped.
func (s *wpmScanner) empty(tb testing.TB, b []byte, rearm bool) []int {
	tb.Helper()
	a := ScanArgs{
		CategoryInverted: PageIsPresent | PageIsSwapped,
		CategoryMask:     PageIsPresent | PageIsSwapped,
		ReturnMask:       PageIsPresent | PageIsSwapped,
	}
	if rearm {
		a.Flags = ScanWPMatching
	}
	return s.pages(tb, b, a)
}

// cats returns the categories of every page of b.
func (s *wpmScanner) cats(tb testing.TB, b []byte) []PageCategory {
	tb.Helper()
	base := addrOf(b)
	c := make([]PageCategory, len(b)/PageSize)
	_, err := s.scan(base, base+uintptr(len(b)), ScanArgs{ReturnMask: wpmAllCats}, func(r PageRegion) {
		for p := r.Start; p < r.End; p += uint64(pageSize) {
			c[(uintptr(p)-base)/pageSize] = r.Categories
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// wpmFaulter starts a faulter thread, closed at cleanup.
func wpmFaulter(tb testing.TB) *faulter.Thread {
	tb.Helper()
	ft, err := faulter.Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ft.Close)
	return ft
}

// wpmTouch has ft touch one byte per page of [addr, addr+length) (a write
// of v if write) and returns the result; it fails the test on a timeout.
func wpmTouch(tb testing.TB, ft *faulter.Thread, addr, length uintptr, write bool, v byte) faulter.Result {
	tb.Helper()
	r, err := ft.Touch(addr, length, 0, write, v).Wait(testTimeout)
	if err != nil {
		tb.Fatalf("touch [%#x, +%#x) write=%v: %v", addr, length, write, err)
	}
	return r
}

// wpmWrite writes v to every page of [addr, addr+length) from ft and fails
// the test if the access faulted.
func wpmWrite(tb testing.TB, ft *faulter.Thread, addr, length uintptr, v byte) {
	tb.Helper()
	if r := wpmTouch(tb, ft, addr, length, true, v); r.Faulted() {
		tb.Fatalf("write [%#x, +%#x): signal %d at %#x", addr, length, r.Signo, r.Addr)
	}
}

// wpmRead reads every page of [addr, addr+length) from ft.
func wpmRead(tb testing.TB, ft *faulter.Thread, addr, length uintptr) {
	tb.Helper()
	if r := wpmTouch(tb, ft, addr, length, false, 0); r.Faulted() {
		tb.Fatalf("read [%#x, +%#x): signal %d at %#x", addr, length, r.Signo, r.Addr)
	}
}

// wpmFillMemfd gives every page of the memfd a page-cache page (pwrite of
// v, a system call: it never goes through a user mapping).
func wpmFillMemfd(tb testing.TB, fd, pages int, v byte) {
	tb.Helper()
	buf := make([]byte, 64*PageSize)
	fill(buf, v)
	for off := 0; off < pages*PageSize; off += len(buf) {
		n := min(len(buf), pages*PageSize-off)
		if _, err := unix.Pwrite(fd, buf[:n], int64(off)); err != nil {
			tb.Fatalf("pwrite memfd: %v", err)
		}
	}
}

// wpmMemfdByte reads byte 0 of page i of the memfd with pread.
func wpmMemfdByte(tb testing.TB, fd, i int) byte {
	tb.Helper()
	var b [1]byte
	if _, err := unix.Pread(fd, b[:], int64(i*PageSize)); err != nil {
		tb.Fatalf("pread memfd: %v", err)
	}
	return b[0]
}

// wpmProtect write-protects all of b.
func wpmProtect(tb testing.TB, u *UFFD, b []byte) {
	tb.Helper()
	if err := u.WriteProtect(addrOf(b), uintptr(len(b)), WriteProtectModeWP); err != nil {
		tb.Fatal(err)
	}
}

// wpmAsyncSetup returns a memfd of pages pages with page-cache contents, a
// MAP_SHARED mapping of it registered WP on a WP_ASYNC uffd, with the first
// present pages populated (present PTEs) and the rest only in the page
// cache, all of it write-protected, and a scanner.
func wpmAsyncSetup(t *testing.T, pages, present int) (u *UFFD, fd int, b []byte, s *wpmScanner) {
	t.Helper()
	u = newUFFD(t, wpmAsyncFeatures)
	fd = newMemfd(t, pages)
	wpmFillMemfd(t, fd, pages, 0xAA)
	b = mmapShared(t, fd, pages)
	register(t, u, b, RegisterModeWP)
	if present > 0 {
		if _, err := populate(b[:present*PageSize], true); err != nil {
			t.Fatalf("MADV_POPULATE_WRITE: %v", err)
		}
	}
	wpmProtect(t, u, b)
	s = newWPMScanner(t, 64)
	return u, fd, b, s
}

func wpmEqual(tb testing.TB, what string, got, want []int) {
	tb.Helper()
	if got == nil {
		got = []int{}
	}
	if want == nil {
		want = []int{}
	}
	if !slices.Equal(got, want) {
		tb.Errorf("%s: pages %v, want %v", what, got, want)
	}
}

func wpmLogCats(tb testing.TB, what string, c []PageCategory) {
	tb.Helper()
	s := ""
	for i, x := range c {
		s += fmt.Sprintf(" %d:%v", i, x)
	}
	tb.Logf("%s:%s", what, s)
}

// TestWPModeAsyncWrittenOnce is finding (1): after a WP_ASYNC protect, a
// page written once reports PAGE_IS_WRITTEN, a page never written does not,
// and no message is sent. It holds for pages that were present when
// protected and for pages that were only in the page cache (uffd-wp marker
// on an empty PTE).
func TestWPModeAsyncWrittenOnce(t *testing.T) {
	const pages, present = 8, 4
	u, fd, b, s := wpmAsyncSetup(t, pages, present)
	srv := serve(t, u, nil)
	ft := wpmFaulter(t)

	c := s.cats(t, b)
	wpmLogCats(t, "after protect", c)
	for i, x := range c {
		if x.Has(PageIsWritten) || !x.Has(PageIsWPAllowed) {
			t.Errorf("page %d after protect: %v, want WPALLOWED and not WRITTEN", i, x)
		}
		if i < present && !x.Has(PageIsPresent) {
			t.Errorf("page %d: %v, want PRESENT", i, x)
		}
		if i >= present && (x.Has(PageIsPresent) || !x.Has(PageIsSwapped)) {
			t.Errorf("page %d: %v, want a marker (SWAPPED, not PRESENT)", i, x)
		}
	}
	wpmEqual(t, "fresh protect: written", s.written(t, b, false), nil)

	// Page 1 is present, page 6 is a marker over a page-cache page.
	wpmWrite(t, ft, pageAddr(b, 1), pageSize, 0x11)
	wpmWrite(t, ft, pageAddr(b, 6), pageSize, 0x66)
	srv.none(t, 20*time.Millisecond)
	wpmEqual(t, "after writing pages 1 and 6: written", s.written(t, b, false), []int{1, 6})
	// A second write changes nothing; a scan without WP_MATCHING is
	// idempotent.
	wpmWrite(t, ft, pageAddr(b, 1), pageSize, 0x12)
	wpmEqual(t, "after a second write to page 1: written", s.written(t, b, false), []int{1, 6})
	if got := wpmMemfdByte(t, fd, 1); got != 0x12 {
		t.Errorf("memfd page 1 = %#x, want 0x12", got)
	}
	if got := wpmMemfdByte(t, fd, 6); got != 0x66 {
		t.Errorf("memfd page 6 = %#x, want 0x66", got)
	}
	wpmLogCats(t, "after writes", s.cats(t, b))
}

// TestWPModeAsyncReadOnly is finding (2): reading protected pages, including
// pages mapped in from the page cache by the read, does not make them
// written; the new PTEs are installed protected.
func TestWPModeAsyncReadOnly(t *testing.T) {
	const pages, present = 8, 2
	u, _, b, s := wpmAsyncSetup(t, pages, present)
	srv := serve(t, u, nil)
	ft := wpmFaulter(t)

	wpmRead(t, ft, addrOf(b), uintptr(len(b)))
	srv.none(t, 20*time.Millisecond)
	wpmEqual(t, "after reading every page: written", s.written(t, b, false), nil)
	c := s.cats(t, b)
	wpmLogCats(t, "after reads", c)
	for i, x := range c {
		if !x.Has(PageIsPresent) {
			t.Errorf("page %d after read: %v, want PRESENT", i, x)
		}
		if e := pagemapEntry(t, pageAddr(b, i)); e&PagemapUffdWP == 0 {
			t.Errorf("page %d after read: pagemap %#x lacks the uffd-wp bit", i, e)
		}
	}
	// And a write after the read is seen.
	wpmWrite(t, ft, pageAddr(b, 5), pageSize, 1)
	wpmEqual(t, "after writing page 5: written", s.written(t, b, false), []int{5})
}

// TestWPModeAsyncZap is finding (3): what zapping a PTE (MADV_DONTNEED on
// the mapping, fallocate(PUNCH_HOLE) on the memfd) does to the written state.
//
//   - A protected, unwritten page keeps a uffd-wp marker: it does not report
//     written, a read maps it back protected, and its next write is seen.
//   - A written page has no protection left, so the zap leaves a none PTE
//     (no marker), and the kernel reports a none PTE in a WP_ASYNC range as
//     PAGE_IS_WRITTEN (neither PRESENT nor SWAPPED): the written state is
//     not lost. A read maps the page back unprotected (still written). The
//     same holds when the zap frees the whole page table (a 2 MiB range).
//   - PM_SCAN_WP_MATCHING re-arms none PTEs with markers.
//
// MADV_DONTNEED keeps the data in the memfd; PUNCH_HOLE discards it.
func TestWPModeAsyncZap(t *testing.T) {
	const pages = 12
	u, fd, b, s := wpmAsyncSetup(t, pages, pages)
	srv := serve(t, u, nil)
	ft := wpmFaulter(t)

	dontneed := func(i int) {
		t.Helper()
		if err := unix.Madvise(page(b, i), unix.MADV_DONTNEED); err != nil {
			t.Fatalf("MADV_DONTNEED page %d: %v", i, err)
		}
	}
	punch := func(i int) {
		t.Helper()
		if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(i*PageSize), int64(PageSize)); err != nil {
			t.Fatalf("PUNCH_HOLE page %d: %v", i, err)
		}
	}

	// Unwritten pages 2 (DONTNEED) and 3 (PUNCH_HOLE).
	dontneed(2)
	punch(3)
	// Written pages 4, 6, 8 (DONTNEED) and 5, 7 (PUNCH_HOLE); 9 written and
	// left alone.
	for _, i := range []int{4, 5, 6, 7, 8, 9} {
		wpmWrite(t, ft, pageAddr(b, i), pageSize, byte(0x40+i))
	}
	wpmEqual(t, "before zapping: written", s.written(t, b, false), []int{4, 5, 6, 7, 8, 9})
	for _, i := range []int{4, 6, 8} {
		dontneed(i)
	}
	for _, i := range []int{5, 7} {
		punch(i)
	}
	c := s.cats(t, b)
	wpmLogCats(t, "after zaps", c)
	for _, i := range []int{2, 3} {
		if c[i] != PageIsWPAllowed|PageIsSwapped {
			t.Errorf("unwritten zapped page %d: %v, want a uffd-wp marker (WPALLOWED|SWAPPED)", i, c[i])
		}
	}
	for _, i := range []int{4, 5, 6, 7, 8} {
		if c[i] != PageIsWPAllowed|PageIsWritten {
			t.Errorf("written zapped page %d: %v, want a none PTE reported written (WPALLOWED|WRITTEN)", i, c[i])
		}
	}
	wpmEqual(t, "after zapping: written", s.written(t, b, false), []int{4, 5, 6, 7, 8, 9})
	wpmEqual(t, "after zapping: none PTEs", s.empty(t, b, false), []int{4, 5, 6, 7, 8})
	if got := wpmMemfdByte(t, fd, 4); got != 0x44 {
		t.Errorf("memfd page 4 after DONTNEED = %#x, want 0x44", got)
	}
	if got := wpmMemfdByte(t, fd, 5); got != 0 {
		t.Errorf("memfd page 5 after PUNCH_HOLE = %#x, want 0", got)
	}

	// Unwritten zapped pages: a read maps them protected (not written); a
	// write is seen (for the punched page it allocates a new page).
	wpmRead(t, ft, pageAddr(b, 2), 2*pageSize)
	wpmEqual(t, "after reading pages 2, 3: written", s.written(t, b, false), []int{4, 5, 6, 7, 8, 9})
	wpmWrite(t, ft, pageAddr(b, 3), pageSize, 0x33)
	wpmEqual(t, "after writing page 3: written", s.written(t, b, false), []int{3, 4, 5, 6, 7, 8, 9})

	// Zapped written pages read in again are mapped unprotected: still
	// written, now present.
	wpmRead(t, ft, pageAddr(b, 4), 2*pageSize)
	c = s.cats(t, b)
	wpmLogCats(t, "after re-reading 4, 5", c)
	for _, i := range []int{4, 5} {
		if !c[i].Has(PageIsPresent | PageIsWritten) {
			t.Errorf("re-read zapped written page %d: %v, want PRESENT|WRITTEN", i, c[i])
		}
	}

	// One WP_MATCHING collect re-arms all of it: present pages get the
	// uffd-wp bit, none PTEs get markers.
	wpmEqual(t, "collect", s.written(t, b, true), []int{3, 4, 5, 6, 7, 8, 9})
	wpmEqual(t, "after collect: written", s.written(t, b, false), nil)
	wpmEqual(t, "after collect: none PTEs", s.empty(t, b, false), nil)
	c = s.cats(t, b)
	wpmLogCats(t, "after collect", c)
	for _, i := range []int{6, 7, 8} {
		if c[i] != PageIsWPAllowed|PageIsSwapped {
			t.Errorf("page %d after collect: %v, want a marker", i, c[i])
		}
	}
	wpmWrite(t, ft, pageAddr(b, 6), pageSize, 0x66)
	wpmWrite(t, ft, pageAddr(b, 7), pageSize, 0x77)
	wpmEqual(t, "after writing 6, 7: written", s.written(t, b, false), []int{6, 7})
	srv.none(t, 20*time.Millisecond)
}

// TestWPModeAsyncZapTable is finding (3) when MADV_DONTNEED empties a whole
// page table (2 MiB of written pages; CONFIG_PT_RECLAIM may free the table):
// the pages still report written. The same range unwritten keeps markers.
func TestWPModeAsyncZapTable(t *testing.T) {
	const huge = 2 << 20
	const pages = 2 * huge / 4096
	u := newUFFD(t, wpmAsyncFeatures)
	fd := newMemfd(t, pages)
	wpmFillMemfd(t, fd, pages, 0xAA)
	// A 2 MiB-aligned mapping of the memfd: reserve 3 huge pages, map over.
	res, err := unix.Mmap(-1, 0, 3*huge, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(res) })
	at := (addrOf(res) + huge - 1) &^ (huge - 1)
	p, err := unix.MmapPtr(fd, 0, unsafe.Add(unsafe.Pointer(&res[0]), at-addrOf(res)), 2*huge, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil || uintptr(p) != at {
		t.Fatalf("mmap fixed at %#x: %p %v", at, p, err)
	}
	b := unsafe.Slice((*byte)(p), 2*huge)
	register(t, u, b, RegisterModeWP)
	if _, err := populate(b, true); err != nil {
		t.Fatal(err)
	}
	wpmProtect(t, u, b)
	s := newWPMScanner(t, 64)
	ft := wpmFaulter(t)

	// First 2 MiB written, second not; then both dropped.
	wpmWrite(t, ft, at, huge, 1)
	if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	var want []int
	for i := 0; i < pages/2; i++ {
		want = append(want, i)
	}
	wpmEqual(t, "after DONTNEED of 2 MiB written + 2 MiB unwritten: written", s.written(t, b, false), want)
	wpmEqual(t, "none PTEs", s.empty(t, b, false), want)
	wpmEqual(t, "collect", s.written(t, b, true), want)
	wpmEqual(t, "after collect", s.written(t, b, false), nil)
	wpmWrite(t, ft, at+5*pageSize, pageSize, 2)
	wpmWrite(t, ft, at+huge+7*pageSize, pageSize, 2)
	wpmEqual(t, "after two writes", s.written(t, b, false), []int{5, pages/2 + 7})
}

// TestWPModeAsyncUnarmed: tracking starts with the first UFFDIO_WRITEPROTECT;
// before it every page of a WP_ASYNC registration reports written (a none PTE
// or an unprotected present PTE).
func TestWPModeAsyncUnarmed(t *testing.T) {
	const pages = 4
	u := newUFFD(t, wpmAsyncFeatures)
	fd := newMemfd(t, pages)
	wpmFillMemfd(t, fd, pages, 0xAA)
	b := mmapShared(t, fd, pages)
	register(t, u, b, RegisterModeWP)
	if _, err := populate(b[:2*PageSize], false); err != nil {
		t.Fatal(err)
	}
	s := newWPMScanner(t, 64)
	wpmLogCats(t, "registered, never protected", s.cats(t, b))
	wpmEqual(t, "before protect: written", s.written(t, b, false), []int{0, 1, 2, 3})
	wpmProtect(t, u, b)
	wpmEqual(t, "after protect: written", s.written(t, b, false), nil)
}

// TestWPModeAsyncRearm is finding (4): PM_SCAN_WP_MATCHING reports the
// written pages and protects them again in the same call, so the next
// write to them is seen again.
func TestWPModeAsyncRearm(t *testing.T) {
	const pages = 16
	u, _, b, s := wpmAsyncSetup(t, pages, pages)
	srv := serve(t, u, nil)
	ft := wpmFaulter(t)

	wpmWrite(t, ft, pageAddr(b, 3), 3*pageSize, 1) // 3, 4, 5
	wpmWrite(t, ft, pageAddr(b, 9), pageSize, 1)
	wpmEqual(t, "collect", s.written(t, b, true), []int{3, 4, 5, 9})
	wpmEqual(t, "second collect", s.written(t, b, true), nil)
	for _, i := range []int{3, 4, 5, 9} {
		if e := pagemapEntry(t, pageAddr(b, i)); e&PagemapUffdWP == 0 || e&PagemapPresent == 0 {
			t.Errorf("page %d after WP_MATCHING: pagemap %#x, want present and uffd-wp", i, e)
		}
	}
	wpmWrite(t, ft, pageAddr(b, 4), pageSize, 2)
	wpmWrite(t, ft, pageAddr(b, 15), pageSize, 2)
	wpmEqual(t, "collect after rewriting 4 and writing 15", s.written(t, b, true), []int{4, 15})
	wpmEqual(t, "final collect", s.written(t, b, true), nil)
	srv.none(t, 20*time.Millisecond)
}

// TestWPModeAsyncPerMapping is finding (5): the written state lives in the
// PTEs of one mapping. A write through mapping A is not seen in mapping B of
// the same memfd (both registered and protected), and writes that do not go
// through a protected mapping — an unregistered mapping, pwrite(2) on the
// memfd — are seen by no scan at all.
func TestWPModeAsyncPerMapping(t *testing.T) {
	const pages = 8
	u := newUFFD(t, wpmAsyncFeatures)
	fd := newMemfd(t, pages)
	wpmFillMemfd(t, fd, pages, 0xAA)
	a := mmapShared(t, fd, pages)
	bm := mmapShared(t, fd, pages)
	c := mmapShared(t, fd, pages) // not registered
	for _, m := range [][]byte{a, bm} {
		register(t, u, m, RegisterModeWP)
		if _, err := populate(m, true); err != nil {
			t.Fatal(err)
		}
		wpmProtect(t, u, m)
	}
	s := newWPMScanner(t, 64)
	srv := serve(t, u, nil)
	ft := wpmFaulter(t)

	wpmWrite(t, ft, pageAddr(a, 1), pageSize, 0x11)
	wpmWrite(t, ft, pageAddr(bm, 2), pageSize, 0x22)
	wpmWrite(t, ft, pageAddr(c, 3), pageSize, 0x33)
	if _, err := unix.Pwrite(fd, []byte{0x44}, int64(4*PageSize)); err != nil {
		t.Fatal(err)
	}
	wpmEqual(t, "mapping A: written", s.written(t, a, false), []int{1})
	wpmEqual(t, "mapping B: written", s.written(t, bm, false), []int{2})
	// The data is shared, the tracking is not.
	for i, want := range map[int]byte{1: 0x11, 2: 0x22, 3: 0x33, 4: 0x44} {
		if got := wpmMemfdByte(t, fd, i); got != want {
			t.Errorf("memfd page %d = %#x, want %#x", i, got, want)
		}
	}
	srv.none(t, 20*time.Millisecond)
}

// TestWPModeAsyncUnmap: the written state lives in the mapping's PTEs, so
// removing the mapping removes it. When a client munmaps a tracked range,
// UFFD_EVENT_UNMAP arrives only after the PTEs are gone: a scan of the range
// at that point finds nothing, although the memfd holds the written data.
// (The zap hazard of async WP is VMA removal — munmap, exit, mremap — not
// PTE zaps.)
func TestWPModeAsyncUnmap(t *testing.T) {
	const pages = 8
	fd := newMemfd(t, pages)
	wpmFillMemfd(t, fd, pages, 0xAA)
	// The mapping before the uffd, so that at cleanup the uffd is closed
	// before the munmap (an unread UNMAP event would block it).
	b := mmapShared(t, fd, pages)
	u := newUFFD(t, wpmAsyncFeatures|FeatureEventUnmap)
	register(t, u, b, RegisterModeWP)
	if _, err := populate(b, true); err != nil {
		t.Fatal(err)
	}
	wpmProtect(t, u, b)
	s := newWPMScanner(t, 64)
	ft := wpmFaulter(t)
	wpmWrite(t, ft, pageAddr(b, 5), pageSize, 0x55)
	wpmEqual(t, "before munmap: written", s.written(t, b, false), []int{5})

	type seen struct {
		start, end uint64
		regions    int
		err        error
	}
	got := make(chan seen, 1)
	srv := serve(t, u, func(m *Msg) {
		if m.Event() != EventUnmap {
			return
		}
		start, end := m.Remove()
		n := 0
		_, err := s.scan(uintptr(start), uintptr(end), ScanArgs{CategoryMask: PageIsWritten, ReturnMask: PageIsWritten}, func(PageRegion) { n++ })
		got <- seen{start, end, n, err}
	})
	// munmap the upper half (a system call: it waits for the event to be
	// read, from a goroutine that is safe).
	done := make(chan error, 1)
	go func() {
		_, _, e := unix.Syscall(unix.SYS_MUNMAP, pageAddr(b, 4), 4*pageSize, 0)
		if e != 0 {
			done <- e
			return
		}
		done <- nil
	}()
	select {
	case r := <-got:
		if r.start != uint64(pageAddr(b, 4)) || r.end != uint64(pageAddr(b, 8)) {
			t.Errorf("UNMAP [%#x, %#x), want [%#x, %#x)", r.start, r.end, pageAddr(b, 4), pageAddr(b, 8))
		}
		if r.err != nil || r.regions != 0 {
			t.Errorf("scan at the UNMAP event: %d written regions, err %v; want 0 (PTEs already gone)", r.regions, r.err)
		}
	case <-time.After(testTimeout):
		t.Fatal("no UNMAP event")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("munmap: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("munmap did not return")
	}
	srv.stop()
	if got := wpmMemfdByte(t, fd, 5); got != 0x55 {
		t.Errorf("memfd page 5 = %#x, want 0x55 (the data survives, its written state does not)", got)
	}
	// The same range mapped again starts unarmed (everything reports
	// written, a conservative answer), and clean once protected.
	p2, err := unix.MmapPtr(fd, 4*int64(PageSize), unsafe.Add(unsafe.Pointer(&b[0]), 4*PageSize), 4*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil || uintptr(p2) != pageAddr(b, 4) {
		t.Fatalf("re-mmap: %p %v", p2, err)
	}
	register(t, u, b[4*PageSize:], RegisterModeWP)
	wpmEqual(t, "re-mapped, unarmed: written", s.written(t, b[4*PageSize:], false), []int{0, 1, 2, 3})
	wpmProtect(t, u, b[4*PageSize:])
	wpmEqual(t, "re-mapped, armed: written", s.written(t, b[4*PageSize:], false), nil)
}

// TestWPModeAsyncMissing is finding (6): on a WP_ASYNC uffd a range can be
// registered MISSING|WP; faults on holes still arrive as messages (WRITE
// flag for writes, never the WP flag), UFFDIO_COPY and UFFDIO_POISON resolve
// them, and write-protect faults send nothing. A page supplied with
// COPY_MODE_WP for a write fault reports written (the retried write hits the
// async protection); for a read fault it does not. Without COPY_MODE_WP the
// page is mapped unprotected and reports written either way. UFFDIO_POISON
// fails with EEXIST on a protected hole (its uffd-wp marker is not a none
// PTE) and works once the page is unprotected; a poison marker reports
// written, and stays a poison (SIGBUS) after a WP_MATCHING scan.
func TestWPModeAsyncMissing(t *testing.T) {
	const pages = 8
	u := newUFFD(t, wpmAsyncFeatures|FeaturePoison)
	fd := newMemfd(t, pages) // all holes
	wpmFillMemfd(t, fd, 1, 0xAA)
	// Page 0 in the page cache; 1..7 holes.
	b := mmapShared(t, fd, pages)
	io := register(t, u, b, RegisterModeMissing|RegisterModeWP)
	for _, want := range []Ioctls{IoctlCopy, IoctlWriteProtect, IoctlPoison} {
		if !io.Has(want) {
			t.Errorf("register ioctls %v lack %v", io, want)
		}
	}
	wpmProtect(t, u, b)
	s := newWPMScanner(t, 64)

	src := mmapAnon(t, 1)
	fill(src, 0x5A)
	var mu sync.Mutex
	var faults []string
	srv := serve(t, u, func(m *Msg) {
		if m.Event() != EventPagefault {
			return
		}
		flags, addr, _ := m.Pagefault()
		i := int((uintptr(addr) - addrOf(b)) / pageSize)
		mu.Lock()
		faults = append(faults, fmt.Sprintf("%d:%v", i, flags))
		mu.Unlock()
		var err error
		switch i {
		case 1, 2:
			_, err = u.Copy(pageAddr(b, i), addrOf(src), pageSize, CopyModeWP)
		case 3:
			_, err = u.Copy(pageAddr(b, i), addrOf(src), pageSize, 0)
		case 4:
			// The hole carries a uffd-wp marker, and POISON wants a
			// none PTE: EEXIST. Unprotect the page first (removes the
			// marker; DONTWAKE, the poison wakes).
			if _, err := u.Poison(pageAddr(b, i), pageSize, 0); errnoOf(err) != unix.EEXIST {
				t.Errorf("POISON on a protected hole: %v, want EEXIST", err)
			}
			if err = u.WriteProtect(pageAddr(b, i), pageSize, WriteProtectModeDontWake); err == nil {
				_, err = u.Poison(pageAddr(b, i), pageSize, 0)
			}
		default:
			t.Errorf("unexpected fault on page %d (%v)", i, flags)
		}
		if err != nil {
			t.Errorf("resolving page %d: %v", i, err)
		}
	})
	ft := wpmFaulter(t)

	wpmWrite(t, ft, pageAddr(b, 1), pageSize, 0x11) // MISSING write, COPY WP
	m := srv.next(t)
	if flags, _, _ := m.Pagefault(); m.Event() != EventPagefault || !flags.Has(PagefaultFlagWrite) || flags.Has(PagefaultFlagWP) {
		t.Errorf("write to a hole: %v, want PAGEFAULT WRITE without WP", m.String())
	}
	wpmRead(t, ft, pageAddr(b, 2), pageSize) // MISSING read, COPY WP
	m = srv.next(t)
	if flags, _, _ := m.Pagefault(); m.Event() != EventPagefault || flags != 0 {
		t.Errorf("read of a hole: %v, want PAGEFAULT with no flags", m.String())
	}
	wpmRead(t, ft, pageAddr(b, 3), pageSize) // MISSING read, COPY without WP
	srv.next(t)
	r := wpmTouch(t, ft, pageAddr(b, 4), pageSize, true, 1) // POISON
	srv.next(t)
	if !r.Sigbus || r.Addr != pageAddr(b, 4) {
		t.Errorf("poisoned page: %+v, want SIGBUS at %#x", r, pageAddr(b, 4))
	}
	wpmWrite(t, ft, pageAddr(b, 0), pageSize, 0x01) // page-cache page under a marker: async WP, no message
	srv.none(t, 20*time.Millisecond)

	// Page 4 holds a poison marker, a swap-type entry without the uffd-wp
	// bit: it reports written (harmless: it has no data).
	wpmEqual(t, "written", s.written(t, b, false), []int{0, 1, 3, 4})
	if got := wpmMemfdByte(t, fd, 1); got != 0x11 {
		t.Errorf("memfd page 1 = %#x, want 0x11", got)
	}
	if got := wpmMemfdByte(t, fd, 2); got != 0x5A {
		t.Errorf("memfd page 2 = %#x, want 0x5a (copied)", got)
	}
	c := s.cats(t, b)
	wpmLogCats(t, "final", c)
	mu.Lock()
	t.Logf("faults: %v", faults)
	mu.Unlock()
	// A write to the page read in with COPY_MODE_WP is seen; re-arm works.
	wpmWrite(t, ft, pageAddr(b, 2), pageSize, 0x22)
	wpmEqual(t, "collect", s.written(t, b, true), []int{0, 1, 2, 3, 4})
	wpmEqual(t, "after collect", s.written(t, b, false), nil)
	wpmLogCats(t, "after collect", s.cats(t, b))
	// Re-arming does not turn the poison into something else.
	r = wpmTouch(t, ft, pageAddr(b, 4), pageSize, false, 0)
	if !r.Sigbus || r.Addr != pageAddr(b, 4) {
		t.Errorf("poisoned page after re-arm: %+v, want SIGBUS at %#x", r, pageAddr(b, 4))
	}
	srv.none(t, 20*time.Millisecond)
}

// wpmSyncHandler is the sync-WP fault handler: a goroutine that polls the
// uffd, records each WP-faulting page dirty and unprotects it
// (UFFDIO_WRITEPROTECT mode 0, which wakes the faulter).
type wpmSyncHandler struct {
	u     *UFFD
	base  uintptr
	pages int
	efd   int
	done  chan struct{}

	mu     sync.Mutex
	dirty  []uint64 // bitmap, under mu
	faults int64    // WP faults handled, under mu
	err    error    // first error, under mu
}

// startWPMSyncHandler starts a handler for the pages at base; stopped at
// cleanup.
func startWPMSyncHandler(tb testing.TB, u *UFFD, base uintptr, pages int) *wpmSyncHandler {
	tb.Helper()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		tb.Fatal(err)
	}
	h := &wpmSyncHandler{u: u, base: base, pages: pages, efd: efd, done: make(chan struct{}), dirty: make([]uint64, (pages+63)/64)}
	go h.loop()
	tb.Cleanup(func() {
		if err := h.stop(); err != nil {
			tb.Error(err)
		}
	})
	return h
}

func (h *wpmSyncHandler) fail(err error) {
	h.mu.Lock()
	if h.err == nil {
		h.err = err
	}
	h.mu.Unlock()
}

func (h *wpmSyncHandler) loop() {
	defer close(h.done)
	var msgs [64]Msg
	for {
		ur, wr, err := h.u.Wait(h.efd, -1)
		if err != nil {
			h.fail(err)
			return
		}
		if wr {
			return
		}
		if !ur {
			continue
		}
		n, err := h.u.Read(msgs[:])
		if err != nil {
			h.fail(err)
			return
		}
		for i := range msgs[:n] {
			m := &msgs[i]
			flags, addr, _ := m.Pagefault()
			if m.Event() != EventPagefault || !flags.Has(PagefaultFlagWP) {
				h.fail(fmt.Errorf("sync handler: unexpected message %v", m.String()))
				continue
			}
			pa := uintptr(addr) &^ (pageSize - 1)
			p := int((pa - h.base) / pageSize)
			if pa < h.base || p >= h.pages {
				h.fail(fmt.Errorf("sync handler: fault outside the region: %v", m.String()))
				continue
			}
			h.mu.Lock()
			h.dirty[p/64] |= 1 << (p % 64)
			h.faults++
			h.mu.Unlock()
			if err := h.u.WriteProtect(pa, pageSize, 0); err != nil {
				h.fail(err)
			}
		}
	}
}

func (h *wpmSyncHandler) stop() error {
	if h.efd < 0 {
		return nil
	}
	one := [8]byte{1}
	unix.Write(h.efd, one[:])
	select {
	case <-h.done:
	case <-time.After(testTimeout):
		return fmt.Errorf("sync handler did not stop within %v", testTimeout)
	}
	unix.Close(h.efd)
	h.efd = -1
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// collect returns the dirty pages recorded since the last collect (as runs
// [start, end) of page indices) and clears the record. With rearm (the
// WRITEBACK_BEGIN step) it then write-protects each run again. The order
// matters: the record is swapped first and the runs are protected after, so
// a write landing in between is either in these runs already (the page was
// unprotected) or faults and is recorded in the new record. Protecting first
// would lose a page that faults between the protect and the swap (recorded
// in the old record, unprotected again, and silent afterwards).
func (h *wpmSyncHandler) collect(rearm bool, runs [][2]int) ([][2]int, error) {
	h.mu.Lock()
	dirty := h.dirty
	h.dirty = make([]uint64, len(dirty))
	err := h.err
	h.mu.Unlock()
	runs = runs[:0]
	for w, word := range dirty {
		for word != 0 {
			p := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if n := len(runs); n > 0 && runs[n-1][1] == p {
				runs[n-1][1] = p + 1
			} else {
				runs = append(runs, [2]int{p, p + 1})
			}
		}
	}
	if rearm {
		for _, r := range runs {
			if e := h.u.WriteProtect(h.base+uintptr(r[0])*pageSize, uintptr(r[1]-r[0])*pageSize, WriteProtectModeWP); e != nil && err == nil {
				err = e
			}
		}
	}
	return runs, err
}

func (h *wpmSyncHandler) faultCount() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.faults
}

// TestWPModeSync checks the sync-WP side used by the benchmark: the first
// write to each protected page is one message with the WP flag, the handler
// records and unprotects it, later writes are free, and re-protecting the
// collected runs makes the next write fault again. Unlike async WP, a zap
// of a written page loses nothing: the record is pagerd's.
func TestWPModeSync(t *testing.T) {
	const pages = 16
	u := newUFFD(t, wpmSyncFeatures)
	if u.Features().Has(FeatureWPAsync) {
		t.Fatal("sync uffd has WP_ASYNC")
	}
	fd := newMemfd(t, pages)
	wpmFillMemfd(t, fd, pages, 0xAA)
	b := mmapShared(t, fd, pages)
	register(t, u, b, RegisterModeMissing|RegisterModeWP)
	if _, err := populate(b[:8*PageSize], true); err != nil {
		t.Fatal(err)
	}
	wpmProtect(t, u, b)
	h := startWPMSyncHandler(t, u, addrOf(b), pages)
	ft := wpmFaulter(t)

	wpmWrite(t, ft, pageAddr(b, 1), 2*pageSize, 1) // present pages 1, 2
	wpmWrite(t, ft, pageAddr(b, 10), pageSize, 1)  // marker over a page-cache page
	wpmWrite(t, ft, pageAddr(b, 1), 2*pageSize, 2) // no new fault
	wpmRead(t, ft, pageAddr(b, 12), 4*pageSize)    // reads never fault
	if n := h.faultCount(); n != 3 {
		t.Errorf("%d WP faults, want 3", n)
	}
	if err := unix.Madvise(page(b, 10), unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	runs, err := h.collect(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{1, 3}, {10, 11}}; !slices.Equal(runs, want) {
		t.Errorf("dirty runs %v, want %v", runs, want)
	}
	wpmWrite(t, ft, pageAddr(b, 2), pageSize, 3)
	wpmWrite(t, ft, pageAddr(b, 10), pageSize, 3)
	if n := h.faultCount(); n != 5 {
		t.Errorf("%d WP faults after re-arm, want 5", n)
	}
	runs, err = h.collect(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{2, 3}, {10, 11}}; !slices.Equal(runs, want) {
		t.Errorf("dirty runs %v, want %v", runs, want)
	}
}
