//go:build linux

package uffd

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWPAsyncPagemapScan covers UFFD_FEATURE_WP_ASYNC with PAGEMAP_SCAN:
// after WRITEPROTECT the kernel resolves writes itself (no messages), the
// written pages show as PAGE_IS_WRITTEN, and a scan with PM_SCAN_WP_MATCHING
// reports them and protects them again.
func TestWPAsyncPagemapScan(t *testing.T) {
	u := newUFFD(t, FeatureWPAsync|FeaturePagefaultFlagWP)
	const pages = 8
	b := mmapAnon(t, pages)
	register(t, u, b, RegisterModeWP)
	s := serve(t, u, nil)
	if err := u.WriteProtect(addrOf(b), uintptr(len(b)), WriteProtectModeWP); err != nil {
		t.Fatal(err)
	}
	pm, err := OpenPagemap(0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pm)

	scan := func(flags ScanFlags) []PageRegion {
		t.Helper()
		regions := make([]PageRegion, 16)
		n, end, err := PagemapScan(pm, &ScanArgs{
			Flags:        flags,
			Start:        addrOf(b),
			End:          addrOf(b) + uintptr(len(b)),
			CategoryMask: PageIsWritten,
			ReturnMask:   PageIsWritten,
		}, regions)
		if err != nil {
			t.Fatal(err)
		}
		if end != addrOf(b)+uintptr(len(b)) {
			t.Errorf("walk_end %#x, want %#x", end, addrOf(b)+uintptr(len(b)))
		}
		return regions[:n]
	}
	if r := scan(0); len(r) != 0 {
		t.Errorf("fresh protected range: written regions %v", r)
	}
	// Writes to pages 2, 3 and 6: no messages.
	for _, i := range []int{2, 3, 6} {
		if _, err := populate(page(b, i), true); err != nil {
			t.Fatal(err)
		}
	}
	s.none(t, 20*time.Millisecond)
	want := []PageRegion{
		{uint64(pageAddr(b, 2)), uint64(pageAddr(b, 4)), PageIsWritten},
		{uint64(pageAddr(b, 6)), uint64(pageAddr(b, 7)), PageIsWritten},
	}
	got := scan(ScanWPMatching)
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("written regions %+v, want %+v", got, want)
	}
	if r := scan(0); len(r) != 0 {
		t.Errorf("after WP_MATCHING: written regions %+v, want none", r)
	}
	if e := pagemapEntry(t, pageAddr(b, 2)); e&PagemapUffdWP == 0 {
		t.Errorf("page 2 not protected again (pagemap %#x)", e)
	}

	// Every category, one region per run; the pages hold what was written.
	regions := make([]PageRegion, 16)
	n, _, err := PagemapScan(pm, &ScanArgs{
		Start:      addrOf(b),
		End:        addrOf(b) + uintptr(len(b)),
		ReturnMask: PageIsWPAllowed | PageIsWritten | PageIsPresent | PageIsPFNZero | PageIsFile,
	}, regions)
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []PageRegion{
		{uint64(pageAddr(b, 0)), uint64(pageAddr(b, 2)), PageIsWPAllowed},
		{uint64(pageAddr(b, 2)), uint64(pageAddr(b, 4)), PageIsWPAllowed | PageIsPresent},
		{uint64(pageAddr(b, 4)), uint64(pageAddr(b, 6)), PageIsWPAllowed},
		{uint64(pageAddr(b, 6)), uint64(pageAddr(b, 7)), PageIsWPAllowed | PageIsPresent},
		{uint64(pageAddr(b, 7)), uint64(pageAddr(b, 8)), PageIsWPAllowed},
	}
	if n != len(wantAll) {
		t.Errorf("%d regions, want %d", n, len(wantAll))
	}
	for i, r := range regions[:n] {
		t.Logf("[%#x, %#x) %v", r.Start, r.End, r.Categories)
		if i < len(wantAll) && r != wantAll[i] {
			t.Errorf("region %d = %+v, want %+v", i, r, wantAll[i])
		}
	}
	// Bad arguments.
	if _, _, err := PagemapScan(pm, &ScanArgs{Start: addrOf(b) + 1, End: addrOf(b) + pageSize}, regions); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unaligned scan: %v, want EINVAL", err)
	}
}
