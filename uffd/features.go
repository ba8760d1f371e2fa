//go:build linux

package uffd

import (
	"strconv"
	"strings"
)

// Features is a set of UFFD_FEATURE_* bits, as exchanged in the features field
// of struct uffdio_api during the UFFDIO_API handshake.
type Features uint64

// The UFFD_FEATURE_* bits of <linux/userfaultfd.h>, in header order.
const (
	// FeaturePagefaultFlagWP is UFFD_FEATURE_PAGEFAULT_FLAG_WP: write-protect
	// mode (UFFDIO_REGISTER_MODE_WP, UFFDIO_WRITEPROTECT) on anonymous memory.
	FeaturePagefaultFlagWP Features = 1 << 0
	// FeatureEventFork is UFFD_FEATURE_EVENT_FORK: fork(2) of the registered
	// process sends EventFork with a new uffd for the child. Needs
	// CAP_SYS_PTRACE at UFFDIO_API time (EPERM otherwise).
	FeatureEventFork Features = 1 << 1
	// FeatureEventRemap is UFFD_FEATURE_EVENT_REMAP: mremap(2) of a
	// registered range sends EventRemap.
	FeatureEventRemap Features = 1 << 2
	// FeatureEventRemove is UFFD_FEATURE_EVENT_REMOVE: MADV_DONTNEED and
	// MADV_REMOVE on a registered range send EventRemove.
	FeatureEventRemove Features = 1 << 3
	// FeatureMissingHugetlbfs is UFFD_FEATURE_MISSING_HUGETLBFS: MISSING
	// mode works on hugetlbfs.
	FeatureMissingHugetlbfs Features = 1 << 4
	// FeatureMissingShmem is UFFD_FEATURE_MISSING_SHMEM: MISSING mode works
	// on shmem (tmpfs, memfd).
	FeatureMissingShmem Features = 1 << 5
	// FeatureEventUnmap is UFFD_FEATURE_EVENT_UNMAP: munmap(2) (and mremap
	// shrinking) of a registered range sends EventUnmap.
	FeatureEventUnmap Features = 1 << 6
	// FeatureSigbus is UFFD_FEATURE_SIGBUS: faults raise SIGBUS in the
	// faulting thread instead of queueing EventPagefault.
	FeatureSigbus Features = 1 << 7
	// FeatureThreadID is UFFD_FEATURE_THREAD_ID: EventPagefault carries the
	// faulting thread's id (Msg.Pagefault's ptid).
	FeatureThreadID Features = 1 << 8
	// FeatureMinorHugetlbfs is UFFD_FEATURE_MINOR_HUGETLBFS: MINOR mode and
	// UFFDIO_CONTINUE on hugetlbfs.
	FeatureMinorHugetlbfs Features = 1 << 9
	// FeatureMinorShmem is UFFD_FEATURE_MINOR_SHMEM: MINOR mode and
	// UFFDIO_CONTINUE on shmem.
	FeatureMinorShmem Features = 1 << 10
	// FeatureExactAddress is UFFD_FEATURE_EXACT_ADDRESS: the fault address is
	// not masked to the page.
	FeatureExactAddress Features = 1 << 11
	// FeatureWPHugetlbfsShmem is UFFD_FEATURE_WP_HUGETLBFS_SHMEM: WP mode on
	// hugetlbfs and shmem (where empty PTEs are protected too).
	FeatureWPHugetlbfsShmem Features = 1 << 12
	// FeatureWPUnpopulated is UFFD_FEATURE_WP_UNPOPULATED: UFFDIO_WRITEPROTECT
	// also protects empty PTEs of anonymous memory.
	FeatureWPUnpopulated Features = 1 << 13
	// FeaturePoison is UFFD_FEATURE_POISON: UFFDIO_POISON is available.
	FeaturePoison Features = 1 << 14
	// FeatureWPAsync is UFFD_FEATURE_WP_ASYNC: the kernel resolves WP faults
	// itself (no messages); read the result with PAGEMAP_SCAN. It implies
	// FeatureWPUnpopulated.
	FeatureWPAsync Features = 1 << 15
	// FeatureMove is UFFD_FEATURE_MOVE: UFFDIO_MOVE is available.
	FeatureMove Features = 1 << 16
)

// KnownFeatures is every feature bit this package has a name for.
const KnownFeatures = FeaturePagefaultFlagWP | FeatureEventFork | FeatureEventRemap |
	FeatureEventRemove | FeatureMissingHugetlbfs | FeatureMissingShmem |
	FeatureEventUnmap | FeatureSigbus | FeatureThreadID | FeatureMinorHugetlbfs |
	FeatureMinorShmem | FeatureExactAddress | FeatureWPHugetlbfsShmem |
	FeatureWPUnpopulated | FeaturePoison | FeatureWPAsync | FeatureMove

var featureNames = [...]string{
	"PAGEFAULT_FLAG_WP", "EVENT_FORK", "EVENT_REMAP", "EVENT_REMOVE",
	"MISSING_HUGETLBFS", "MISSING_SHMEM", "EVENT_UNMAP", "SIGBUS",
	"THREAD_ID", "MINOR_HUGETLBFS", "MINOR_SHMEM", "EXACT_ADDRESS",
	"WP_HUGETLBFS_SHMEM", "WP_UNPOPULATED", "POISON", "WP_ASYNC", "MOVE",
}

// Has reports whether every bit of x is set in f.
func (f Features) Has(x Features) bool { return f&x == x }

// String returns the set bits by their kernel names without the UFFD_FEATURE_
// prefix, joined by "|" ("0" for none); unknown bits are printed in hex.
func (f Features) String() string { return bitString(uint64(f), featureNames[:]) }

// bitString names the set bits of v from names (bit i is names[i]) and
// appends any remaining bits as one hex number.
func bitString(v uint64, names []string) string {
	if v == 0 {
		return "0"
	}
	var b strings.Builder
	for i, name := range names {
		if name == "" || v&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(name)
		v &^= 1 << i
	}
	if v != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x")
		b.WriteString(strconv.FormatUint(v, 16))
	}
	return b.String()
}
