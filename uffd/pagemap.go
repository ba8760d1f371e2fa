//go:build linux

package uffd

import (
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PageCategory is a set of PAGE_IS_* bits of <linux/fs.h>, the page
// categories PAGEMAP_SCAN matches and reports.
type PageCategory uint64

// The PAGE_IS_* categories.
const (
	PageIsWPAllowed PageCategory = 1 << 0 // PAGE_IS_WPALLOWED: async write protection (FeatureWPAsync) is set up for the page
	PageIsWritten   PageCategory = 1 << 1 // PAGE_IS_WRITTEN: written since it was write-protected (uffd-wp bit clear)
	PageIsFile      PageCategory = 1 << 2 // PAGE_IS_FILE: file or shmem backed
	PageIsPresent   PageCategory = 1 << 3 // PAGE_IS_PRESENT: present in memory
	PageIsSwapped   PageCategory = 1 << 4 // PAGE_IS_SWAPPED: swapped out
	PageIsPFNZero   PageCategory = 1 << 5 // PAGE_IS_PFNZERO: maps the zero page
	PageIsHuge      PageCategory = 1 << 6 // PAGE_IS_HUGE: THP or hugetlb backed
	PageIsSoftDirty PageCategory = 1 << 7 // PAGE_IS_SOFT_DIRTY: soft-dirty bit set
	PageIsGuard     PageCategory = 1 << 8 // PAGE_IS_GUARD: a guard region (MADV_GUARD_INSTALL, Linux 6.14+)
)

// Has reports whether every bit of x is set in c.
func (c PageCategory) Has(x PageCategory) bool { return c&x == x }

// String returns the set bits by name without the PAGE_IS_ prefix.
func (c PageCategory) String() string {
	return bitString(uint64(c), []string{"WPALLOWED", "WRITTEN", "FILE", "PRESENT", "SWAPPED", "PFNZERO", "HUGE", "SOFT_DIRTY", "GUARD"})
}

// ScanFlags are the flags of PAGEMAP_SCAN (PM_SCAN_*).
type ScanFlags uint64

// The PM_SCAN_* flags.
const (
	ScanWPMatching   ScanFlags = 1 << 0 // PM_SCAN_WP_MATCHING: write-protect the matched pages again (re-arm async WP)
	ScanCheckWPAsync ScanFlags = 1 << 1 // PM_SCAN_CHECK_WPASYNC: fail the scan on a page without async WP set up
)

// String returns the set bits by name.
func (f ScanFlags) String() string {
	return bitString(uint64(f), []string{"WP_MATCHING", "CHECK_WPASYNC"})
}

// PageRegion is struct page_region: the pages [Start, End) share
// Categories (masked by ScanArgs.ReturnMask).
type PageRegion struct {
	Start      uint64
	End        uint64
	Categories PageCategory
}

// ScanArgs are the inputs of PAGEMAP_SCAN (the input fields of struct
// pm_scan_arg). A page matches when (categories ^ CategoryInverted) has
// every bit of CategoryMask and, if CategoryAnyofMask is not 0, one of its
// bits.
type ScanArgs struct {
	Flags             ScanFlags
	Start, End        uintptr      // the address range to walk, page aligned
	MaxPages          uint64       // stop after this many matching pages (0: no limit)
	CategoryInverted  PageCategory // categories that match when clear
	CategoryMask      PageCategory // categories that must all match
	CategoryAnyofMask PageCategory // categories of which one must match (0: any page)
	ReturnMask        PageCategory // categories reported in PageRegion.Categories
}

// pmScanArg is struct pm_scan_arg.
type pmScanArg struct {
	size              uint64
	flags             uint64
	start             uint64
	end               uint64
	walkEnd           uint64
	vec               uint64
	vecLen            uint64
	maxPages          uint64
	categoryInverted  uint64
	categoryMask      uint64
	categoryAnyofMask uint64
	returnMask        uint64
}

// reqPagemapScan is PAGEMAP_SCAN, _IOWR('f', 16, struct pm_scan_arg).
const reqPagemapScan = (iocRead|iocWrite)<<iocDirShift | unsafe.Sizeof(pmScanArg{})<<iocSizeShift | 'f'<<8 | 16

// Bits of a /proc/PID/pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
const (
	PagemapSoftDirty uint64 = 1 << 55 // soft-dirty
	PagemapExclusive uint64 = 1 << 56 // page exclusively mapped
	PagemapUffdWP    uint64 = 1 << 57 // userfaultfd write-protected (also on empty PTEs with markers)
	PagemapFile      uint64 = 1 << 61 // file page or shared anon
	PagemapSwapped   uint64 = 1 << 62 // swapped
	PagemapPresent   uint64 = 1 << 63 // present
)

// OpenPagemap opens /proc/PID/pagemap read-only (pid 0: /proc/self/pagemap),
// the fd PagemapScan and ReadPagemap work on. Access to another process's
// pagemap is checked at open (ptrace read access).
func OpenPagemap(pid int) (int, error) {
	path := "/proc/self/pagemap"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/pagemap"
	}
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &Error{Op: "open " + path, Fd: -1, Err: err}
		}
		return fd, nil
	}
}

// ReadPagemap reads the pagemap entries of len(entries) pages starting at
// the page of addr from a pagemap fd (pread(2) at addr/PageSize*8).
func ReadPagemap(pagemapFd int, addr uintptr, entries []uint64) error {
	if len(entries) == 0 {
		return nil
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&entries[0])), len(entries)*8)
	off := int64(addr/uintptr(PageSize)) * 8
	for len(buf) > 0 {
		n, err := unix.Pread(pagemapFd, buf, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &Error{Op: "pread pagemap", Fd: pagemapFd, Start: addr, Len: uintptr(len(entries) * PageSize), Err: err}
		}
		if n == 0 {
			return &Error{Op: "pread pagemap (short)", Fd: pagemapFd, Start: addr, Len: uintptr(len(entries) * PageSize), Err: unix.EIO}
		}
		buf = buf[n:]
		off += int64(n)
	}
	return nil
}

// PagemapScan runs the PAGEMAP_SCAN ioctl (Linux 6.7+) on a pagemap fd: it
// walks [a.Start, a.End), fills regions with runs of matching pages, and
// returns how many it filled and where the walk stopped (walk_end). With
// ScanWPMatching it also write-protects the matched pages (the async-WP
// "get dirty and re-arm" operation). The walk stops early when regions is
// full or MaxPages is reached; continue from walkEnd. Linux 6.18 reports a
// wrong walk_end when a scan returns 1000 or more regions: treat a result
// with fewer regions than len(regions) as complete. It does not allocate.
func PagemapScan(pagemapFd int, a *ScanArgs, regions []PageRegion) (n int, walkEnd uintptr, err error) {
	s := pmScanArg{
		size:              uint64(unsafe.Sizeof(pmScanArg{})),
		flags:             uint64(a.Flags),
		start:             uint64(a.Start),
		end:               uint64(a.End),
		vecLen:            uint64(len(regions)),
		maxPages:          a.MaxPages,
		categoryInverted:  uint64(a.CategoryInverted),
		categoryMask:      uint64(a.CategoryMask),
		categoryAnyofMask: uint64(a.CategoryAnyofMask),
		returnMask:        uint64(a.ReturnMask),
	}
	if len(regions) > 0 {
		s.vec = uint64(uintptr(unsafe.Pointer(&regions[0])))
	}
	// No retry on EINTR: the kernel returns it only for a fatal signal, and
	// with ScanWPMatching part of the range may already be re-protected.
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(pagemapFd), reqPagemapScan, uintptr(unsafe.Pointer(&s)))
	runtime.KeepAlive(regions)
	if e != 0 {
		return 0, uintptr(s.walkEnd), &Error{Op: "PAGEMAP_SCAN", Fd: pagemapFd, Start: a.Start, Len: a.End - a.Start, Mode: a.Flags, Err: e}
	}
	return int(r), uintptr(s.walkEnd), nil
}
