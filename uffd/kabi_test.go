//go:build linux && cgo

package uffd

import (
	"testing"
	"unsafe"

	"github.com/pagerd/pagerd/uffd/internal/kabi"
)

// goABI is every ABI value of this package, keyed by the C expression that
// internal/kabi evaluates.
func goABI() map[string]uint64 {
	var msg Msg
	_ = msg
	return map[string]uint64{
		"UFFD_API":            APIVersion,
		"USERFAULTFD_IOC":     uffdioMagic,
		"USERFAULTFD_IOC_NEW": uint64(reqUserfaultfdNew),
		"UFFDIO":              uffdioMagic,
		"UFFD_USER_MODE_ONLY": OpenUserModeOnly,

		"_UFFDIO_REGISTER":     nrRegister,
		"_UFFDIO_UNREGISTER":   nrUnregister,
		"_UFFDIO_WAKE":         nrWake,
		"_UFFDIO_COPY":         nrCopy,
		"_UFFDIO_ZEROPAGE":     nrZeropage,
		"_UFFDIO_MOVE":         nrMove,
		"_UFFDIO_WRITEPROTECT": nrWriteprotect,
		"_UFFDIO_CONTINUE":     nrContinue,
		"_UFFDIO_POISON":       nrPoison,
		"_UFFDIO_API":          nrAPI,

		"UFFDIO_API":          uint64(reqAPI),
		"UFFDIO_REGISTER":     uint64(reqRegister),
		"UFFDIO_UNREGISTER":   uint64(reqUnregister),
		"UFFDIO_WAKE":         uint64(reqWake),
		"UFFDIO_COPY":         uint64(reqCopy),
		"UFFDIO_ZEROPAGE":     uint64(reqZeropage),
		"UFFDIO_MOVE":         uint64(reqMove),
		"UFFDIO_WRITEPROTECT": uint64(reqWriteprotect),
		"UFFDIO_CONTINUE":     uint64(reqContinue),
		"UFFDIO_POISON":       uint64(reqPoison),

		"UFFD_FEATURE_PAGEFAULT_FLAG_WP":  uint64(FeaturePagefaultFlagWP),
		"UFFD_FEATURE_EVENT_FORK":         uint64(FeatureEventFork),
		"UFFD_FEATURE_EVENT_REMAP":        uint64(FeatureEventRemap),
		"UFFD_FEATURE_EVENT_REMOVE":       uint64(FeatureEventRemove),
		"UFFD_FEATURE_MISSING_HUGETLBFS":  uint64(FeatureMissingHugetlbfs),
		"UFFD_FEATURE_MISSING_SHMEM":      uint64(FeatureMissingShmem),
		"UFFD_FEATURE_EVENT_UNMAP":        uint64(FeatureEventUnmap),
		"UFFD_FEATURE_SIGBUS":             uint64(FeatureSigbus),
		"UFFD_FEATURE_THREAD_ID":          uint64(FeatureThreadID),
		"UFFD_FEATURE_MINOR_HUGETLBFS":    uint64(FeatureMinorHugetlbfs),
		"UFFD_FEATURE_MINOR_SHMEM":        uint64(FeatureMinorShmem),
		"UFFD_FEATURE_EXACT_ADDRESS":      uint64(FeatureExactAddress),
		"UFFD_FEATURE_WP_HUGETLBFS_SHMEM": uint64(FeatureWPHugetlbfsShmem),
		"UFFD_FEATURE_WP_UNPOPULATED":     uint64(FeatureWPUnpopulated),
		"UFFD_FEATURE_POISON":             uint64(FeaturePoison),
		"UFFD_FEATURE_WP_ASYNC":           uint64(FeatureWPAsync),
		"UFFD_FEATURE_MOVE":               uint64(FeatureMove),

		"UFFD_EVENT_PAGEFAULT":         uint64(EventPagefault),
		"UFFD_EVENT_FORK":              uint64(EventFork),
		"UFFD_EVENT_REMAP":             uint64(EventRemap),
		"UFFD_EVENT_REMOVE":            uint64(EventRemove),
		"UFFD_EVENT_UNMAP":             uint64(EventUnmap),
		"UFFD_PAGEFAULT_FLAG_WRITE":    uint64(PagefaultFlagWrite),
		"UFFD_PAGEFAULT_FLAG_WP":       uint64(PagefaultFlagWP),
		"UFFD_PAGEFAULT_FLAG_MINOR":    uint64(PagefaultFlagMinor),
		"UFFDIO_REGISTER_MODE_MISSING": uint64(RegisterModeMissing),
		"UFFDIO_REGISTER_MODE_WP":      uint64(RegisterModeWP),
		"UFFDIO_REGISTER_MODE_MINOR":   uint64(RegisterModeMinor),

		"UFFDIO_COPY_MODE_DONTWAKE":         uint64(CopyModeDontWake),
		"UFFDIO_COPY_MODE_WP":               uint64(CopyModeWP),
		"UFFDIO_ZEROPAGE_MODE_DONTWAKE":     uint64(ZeropageModeDontWake),
		"UFFDIO_WRITEPROTECT_MODE_WP":       uint64(WriteProtectModeWP),
		"UFFDIO_WRITEPROTECT_MODE_DONTWAKE": uint64(WriteProtectModeDontWake),
		"UFFDIO_CONTINUE_MODE_DONTWAKE":     uint64(ContinueModeDontWake),
		"UFFDIO_CONTINUE_MODE_WP":           uint64(ContinueModeWP),
		"UFFDIO_MOVE_MODE_DONTWAKE":         uint64(MoveModeDontWake),
		"UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES":  uint64(MoveModeAllowSrcHoles),
		"UFFDIO_POISON_MODE_DONTWAKE":       uint64(PoisonModeDontWake),

		"sizeof(struct uffd_msg)":                            uint64(unsafe.Sizeof(msg)),
		"offsetof(struct uffd_msg, event)":                   msgOffEvent,
		"offsetof(struct uffd_msg, arg)":                     msgOffFlags,
		"offsetof(struct uffd_msg, arg.pagefault.flags)":     msgOffFlags,
		"offsetof(struct uffd_msg, arg.pagefault.address)":   msgOffAddress,
		"offsetof(struct uffd_msg, arg.pagefault.feat.ptid)": msgOffPtid,
		"offsetof(struct uffd_msg, arg.fork.ufd)":            msgOffUfd,
		"offsetof(struct uffd_msg, arg.remap.from)":          msgOffRemapFrom,
		"offsetof(struct uffd_msg, arg.remap.to)":            msgOffRemapTo,
		"offsetof(struct uffd_msg, arg.remap.len)":           msgOffRemapLen,
		"offsetof(struct uffd_msg, arg.remove.start)":        msgOffStart,
		"offsetof(struct uffd_msg, arg.remove.end)":          msgOffEnd,
		"sizeof(struct uffdio_api)":                          uint64(unsafe.Sizeof(uffdioAPI{})),
		"offsetof(struct uffdio_api, api)":                   uint64(unsafe.Offsetof(uffdioAPI{}.api)),
		"offsetof(struct uffdio_api, features)":              uint64(unsafe.Offsetof(uffdioAPI{}.features)),
		"offsetof(struct uffdio_api, ioctls)":                uint64(unsafe.Offsetof(uffdioAPI{}.ioctls)),
		"sizeof(struct uffdio_range)":                        uint64(unsafe.Sizeof(uffdioRange{})),
		"offsetof(struct uffdio_range, start)":               uint64(unsafe.Offsetof(uffdioRange{}.start)),
		"offsetof(struct uffdio_range, len)":                 uint64(unsafe.Offsetof(uffdioRange{}.len)),
		"sizeof(struct uffdio_register)":                     uint64(unsafe.Sizeof(uffdioRegister{})),
		"offsetof(struct uffdio_register, range)":            uint64(unsafe.Offsetof(uffdioRegister{}.rng)),
		"offsetof(struct uffdio_register, mode)":             uint64(unsafe.Offsetof(uffdioRegister{}.mode)),
		"offsetof(struct uffdio_register, ioctls)":           uint64(unsafe.Offsetof(uffdioRegister{}.ioctls)),
		"sizeof(struct uffdio_copy)":                         uint64(unsafe.Sizeof(uffdioCopy{})),
		"offsetof(struct uffdio_copy, dst)":                  uint64(unsafe.Offsetof(uffdioCopy{}.dst)),
		"offsetof(struct uffdio_copy, src)":                  uint64(unsafe.Offsetof(uffdioCopy{}.src)),
		"offsetof(struct uffdio_copy, len)":                  uint64(unsafe.Offsetof(uffdioCopy{}.len)),
		"offsetof(struct uffdio_copy, mode)":                 uint64(unsafe.Offsetof(uffdioCopy{}.mode)),
		"offsetof(struct uffdio_copy, copy)":                 uint64(unsafe.Offsetof(uffdioCopy{}.copy)),
		"sizeof(struct uffdio_zeropage)":                     uint64(unsafe.Sizeof(uffdioZeropage{})),
		"offsetof(struct uffdio_zeropage, range)":            uint64(unsafe.Offsetof(uffdioZeropage{}.rng)),
		"offsetof(struct uffdio_zeropage, mode)":             uint64(unsafe.Offsetof(uffdioZeropage{}.mode)),
		"offsetof(struct uffdio_zeropage, zeropage)":         uint64(unsafe.Offsetof(uffdioZeropage{}.zeropage)),
		"sizeof(struct uffdio_writeprotect)":                 uint64(unsafe.Sizeof(uffdioWriteprotect{})),
		"offsetof(struct uffdio_writeprotect, range)":        uint64(unsafe.Offsetof(uffdioWriteprotect{}.rng)),
		"offsetof(struct uffdio_writeprotect, mode)":         uint64(unsafe.Offsetof(uffdioWriteprotect{}.mode)),
		"sizeof(struct uffdio_continue)":                     uint64(unsafe.Sizeof(uffdioContinue{})),
		"offsetof(struct uffdio_continue, range)":            uint64(unsafe.Offsetof(uffdioContinue{}.rng)),
		"offsetof(struct uffdio_continue, mode)":             uint64(unsafe.Offsetof(uffdioContinue{}.mode)),
		"offsetof(struct uffdio_continue, mapped)":           uint64(unsafe.Offsetof(uffdioContinue{}.mapped)),
		"sizeof(struct uffdio_poison)":                       uint64(unsafe.Sizeof(uffdioPoison{})),
		"offsetof(struct uffdio_poison, range)":              uint64(unsafe.Offsetof(uffdioPoison{}.rng)),
		"offsetof(struct uffdio_poison, mode)":               uint64(unsafe.Offsetof(uffdioPoison{}.mode)),
		"offsetof(struct uffdio_poison, updated)":            uint64(unsafe.Offsetof(uffdioPoison{}.updated)),
		"sizeof(struct uffdio_move)":                         uint64(unsafe.Sizeof(uffdioMove{})),
		"offsetof(struct uffdio_move, dst)":                  uint64(unsafe.Offsetof(uffdioMove{}.dst)),
		"offsetof(struct uffdio_move, src)":                  uint64(unsafe.Offsetof(uffdioMove{}.src)),
		"offsetof(struct uffdio_move, len)":                  uint64(unsafe.Offsetof(uffdioMove{}.len)),
		"offsetof(struct uffdio_move, mode)":                 uint64(unsafe.Offsetof(uffdioMove{}.mode)),
		"offsetof(struct uffdio_move, move)":                 uint64(unsafe.Offsetof(uffdioMove{}.move)),

		"PAGEMAP_SCAN":          uint64(reqPagemapScan),
		"PM_SCAN_WP_MATCHING":   uint64(ScanWPMatching),
		"PM_SCAN_CHECK_WPASYNC": uint64(ScanCheckWPAsync),
		"PAGE_IS_WPALLOWED":     uint64(PageIsWPAllowed),
		"PAGE_IS_WRITTEN":       uint64(PageIsWritten),
		"PAGE_IS_FILE":          uint64(PageIsFile),
		"PAGE_IS_PRESENT":       uint64(PageIsPresent),
		"PAGE_IS_SWAPPED":       uint64(PageIsSwapped),
		"PAGE_IS_PFNZERO":       uint64(PageIsPFNZero),
		"PAGE_IS_HUGE":          uint64(PageIsHuge),
		"PAGE_IS_SOFT_DIRTY":    uint64(PageIsSoftDirty),
		"PAGE_IS_GUARD":         uint64(PageIsGuard),

		"sizeof(struct page_region)":                        uint64(unsafe.Sizeof(PageRegion{})),
		"offsetof(struct page_region, start)":               uint64(unsafe.Offsetof(PageRegion{}.Start)),
		"offsetof(struct page_region, end)":                 uint64(unsafe.Offsetof(PageRegion{}.End)),
		"offsetof(struct page_region, categories)":          uint64(unsafe.Offsetof(PageRegion{}.Categories)),
		"sizeof(struct pm_scan_arg)":                        uint64(unsafe.Sizeof(pmScanArg{})),
		"offsetof(struct pm_scan_arg, size)":                uint64(unsafe.Offsetof(pmScanArg{}.size)),
		"offsetof(struct pm_scan_arg, flags)":               uint64(unsafe.Offsetof(pmScanArg{}.flags)),
		"offsetof(struct pm_scan_arg, start)":               uint64(unsafe.Offsetof(pmScanArg{}.start)),
		"offsetof(struct pm_scan_arg, end)":                 uint64(unsafe.Offsetof(pmScanArg{}.end)),
		"offsetof(struct pm_scan_arg, walk_end)":            uint64(unsafe.Offsetof(pmScanArg{}.walkEnd)),
		"offsetof(struct pm_scan_arg, vec)":                 uint64(unsafe.Offsetof(pmScanArg{}.vec)),
		"offsetof(struct pm_scan_arg, vec_len)":             uint64(unsafe.Offsetof(pmScanArg{}.vecLen)),
		"offsetof(struct pm_scan_arg, max_pages)":           uint64(unsafe.Offsetof(pmScanArg{}.maxPages)),
		"offsetof(struct pm_scan_arg, category_inverted)":   uint64(unsafe.Offsetof(pmScanArg{}.categoryInverted)),
		"offsetof(struct pm_scan_arg, category_mask)":       uint64(unsafe.Offsetof(pmScanArg{}.categoryMask)),
		"offsetof(struct pm_scan_arg, category_anyof_mask)": uint64(unsafe.Offsetof(pmScanArg{}.categoryAnyofMask)),
		"offsetof(struct pm_scan_arg, return_mask)":         uint64(unsafe.Offsetof(pmScanArg{}.returnMask)),
	}
}

// TestKernelABI compares every struct size, field offset, ioctl number and
// constant of this package with what the C compiler computes from the
// installed <linux/userfaultfd.h> and <linux/fs.h> (with declarations from
// Linux 6.18 for what the installed header lacks).
func TestKernelABI(t *testing.T) {
	goVals := goABI()
	seen := map[string]bool{}
	var fromHeader, fromFallback []string
	for _, e := range kabi.Entries() {
		if seen[e.Name] {
			t.Errorf("kabi lists %s twice", e.Name)
		}
		seen[e.Name] = true
		if e.Fallback {
			fromFallback = append(fromFallback, e.Name)
		} else {
			fromHeader = append(fromHeader, e.Name)
		}
		g, ok := goVals[e.Name]
		if !ok {
			t.Errorf("%s = %#x in C has no Go counterpart in the test table", e.Name, e.Value)
			continue
		}
		if g != e.Value {
			t.Errorf("%s: Go %#x, C %#x (fallback=%v)", e.Name, g, e.Value, e.Fallback)
		}
	}
	for name := range goVals {
		if !seen[name] {
			t.Errorf("%s is in the Go table but internal/kabi does not check it", name)
		}
	}
	t.Logf("%d values from the system headers: %v", len(fromHeader), fromHeader)
	t.Logf("%d values from the fallback declarations (missing from the installed header): %v", len(fromFallback), fromFallback)

	// Spot-check the documented numbers, independently of the header.
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"UFFDIO_API", uint64(reqAPI), 0xC018AA3F},
		{"UFFDIO_REGISTER", uint64(reqRegister), 0xC020AA00},
		{"UFFDIO_UNREGISTER", uint64(reqUnregister), 0x8010AA01},
		{"UFFDIO_WAKE", uint64(reqWake), 0x8010AA02},
		{"UFFDIO_COPY", uint64(reqCopy), 0xC028AA03},
		{"UFFDIO_ZEROPAGE", uint64(reqZeropage), 0xC020AA04},
		{"UFFDIO_MOVE", uint64(reqMove), 0xC028AA05},
		{"UFFDIO_WRITEPROTECT", uint64(reqWriteprotect), 0xC018AA06},
		{"UFFDIO_CONTINUE", uint64(reqContinue), 0xC020AA07},
		{"UFFDIO_POISON", uint64(reqPoison), 0xC020AA08},
		{"USERFAULTFD_IOC_NEW", uint64(reqUserfaultfdNew), 0xAA00},
		{"PAGEMAP_SCAN", uint64(reqPagemapScan), 0xC0606610},
	} {
		if iocDirShift == 30 && c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}
