// Package kabi exports the userfaultfd and PAGEMAP_SCAN ABI values as the C
// compiler sees them in <linux/userfaultfd.h> and <linux/fs.h>, for the
// uffd package's layout test. Values the installed header lacks (Debian
// bookworm's linux-libc-dev is 6.1) are declared here exactly as in the
// newest kernel header and computed with the same _IO/_IOR/_IOWR macros;
// such entries are marked Fallback.
//
// Only tests import this package; package uffd itself has no cgo.
package kabi

/*
#include <stddef.h>
#include <sys/ioctl.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <linux/fs.h>

struct kabi_entry {
	const char *name;
	unsigned long long value;
	int fallback;
};

// ---- Fallbacks for what linux-libc-dev 6.1 lacks (values from Linux 6.18). ----

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1<<13)
#define FB_UFFD_FEATURE_WP_UNPOPULATED 1
#else
#define FB_UFFD_FEATURE_WP_UNPOPULATED 0
#endif

#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1<<14)
#define FB_UFFD_FEATURE_POISON 1
#else
#define FB_UFFD_FEATURE_POISON 0
#endif

#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1<<15)
#define FB_UFFD_FEATURE_WP_ASYNC 1
#else
#define FB_UFFD_FEATURE_WP_ASYNC 0
#endif

#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1<<16)
#define FB_UFFD_FEATURE_MOVE 1
#else
#define FB_UFFD_FEATURE_MOVE 0
#endif

#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1<<1)
#define FB_UFFDIO_CONTINUE_MODE_WP 1
#else
#define FB_UFFDIO_CONTINUE_MODE_WP 0
#endif

#ifndef UFFDIO_MOVE
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
	__u64 mode;
	__s64 move;
};
#define _UFFDIO_MOVE (0x05)
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1<<0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1<<1)
#define FB_MOVE 1
#else
#define FB_MOVE 0
#endif

#ifndef UFFDIO_POISON
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define _UFFDIO_POISON (0x08)
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1<<0)
#define FB_POISON 1
#else
#define FB_POISON 0
#endif

#ifndef PAGEMAP_SCAN
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};
struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)
#define FB_PAGEMAP 1
#else
#define FB_PAGEMAP 0
#endif

#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD (1 << 8)
#define FB_PAGE_IS_GUARD 1
#else
#define FB_PAGE_IS_GUARD 0
#endif

#define V(x) { #x, (unsigned long long)(x), 0 }
#define F(x, fb) { #x, (unsigned long long)(x), fb }
#define SZ(t) { "sizeof(" #t ")", (unsigned long long)sizeof(t), 0 }
#define SZF(t, fb) { "sizeof(" #t ")", (unsigned long long)sizeof(t), fb }
#define OFF(t, m) { "offsetof(" #t ", " #m ")", (unsigned long long)offsetof(t, m), 0 }
#define OFFF(t, m, fb) { "offsetof(" #t ", " #m ")", (unsigned long long)offsetof(t, m), fb }

static const struct kabi_entry kabi_entries[] = {
	// API, open, ioctl numbers.
	V(UFFD_API),
	V(USERFAULTFD_IOC),
	V(USERFAULTFD_IOC_NEW),
	V(UFFDIO),
	V(UFFD_USER_MODE_ONLY),
	V(_UFFDIO_REGISTER),
	V(_UFFDIO_UNREGISTER),
	V(_UFFDIO_WAKE),
	V(_UFFDIO_COPY),
	V(_UFFDIO_ZEROPAGE),
	F(_UFFDIO_MOVE, FB_MOVE),
	V(_UFFDIO_WRITEPROTECT),
	V(_UFFDIO_CONTINUE),
	F(_UFFDIO_POISON, FB_POISON),
	V(_UFFDIO_API),
	V(UFFDIO_API),
	V(UFFDIO_REGISTER),
	V(UFFDIO_UNREGISTER),
	V(UFFDIO_WAKE),
	V(UFFDIO_COPY),
	V(UFFDIO_ZEROPAGE),
	F(UFFDIO_MOVE, FB_MOVE),
	V(UFFDIO_WRITEPROTECT),
	V(UFFDIO_CONTINUE),
	F(UFFDIO_POISON, FB_POISON),

	// Features.
	V(UFFD_FEATURE_PAGEFAULT_FLAG_WP),
	V(UFFD_FEATURE_EVENT_FORK),
	V(UFFD_FEATURE_EVENT_REMAP),
	V(UFFD_FEATURE_EVENT_REMOVE),
	V(UFFD_FEATURE_MISSING_HUGETLBFS),
	V(UFFD_FEATURE_MISSING_SHMEM),
	V(UFFD_FEATURE_EVENT_UNMAP),
	V(UFFD_FEATURE_SIGBUS),
	V(UFFD_FEATURE_THREAD_ID),
	V(UFFD_FEATURE_MINOR_HUGETLBFS),
	V(UFFD_FEATURE_MINOR_SHMEM),
	V(UFFD_FEATURE_EXACT_ADDRESS),
	V(UFFD_FEATURE_WP_HUGETLBFS_SHMEM),
	F(UFFD_FEATURE_WP_UNPOPULATED, FB_UFFD_FEATURE_WP_UNPOPULATED),
	F(UFFD_FEATURE_POISON, FB_UFFD_FEATURE_POISON),
	F(UFFD_FEATURE_WP_ASYNC, FB_UFFD_FEATURE_WP_ASYNC),
	F(UFFD_FEATURE_MOVE, FB_UFFD_FEATURE_MOVE),

	// Events and fault flags.
	V(UFFD_EVENT_PAGEFAULT),
	V(UFFD_EVENT_FORK),
	V(UFFD_EVENT_REMAP),
	V(UFFD_EVENT_REMOVE),
	V(UFFD_EVENT_UNMAP),
	V(UFFD_PAGEFAULT_FLAG_WRITE),
	V(UFFD_PAGEFAULT_FLAG_WP),
	V(UFFD_PAGEFAULT_FLAG_MINOR),

	// Modes.
	V(UFFDIO_REGISTER_MODE_MISSING),
	V(UFFDIO_REGISTER_MODE_WP),
	V(UFFDIO_REGISTER_MODE_MINOR),
	V(UFFDIO_COPY_MODE_DONTWAKE),
	V(UFFDIO_COPY_MODE_WP),
	V(UFFDIO_ZEROPAGE_MODE_DONTWAKE),
	V(UFFDIO_WRITEPROTECT_MODE_WP),
	V(UFFDIO_WRITEPROTECT_MODE_DONTWAKE),
	V(UFFDIO_CONTINUE_MODE_DONTWAKE),
	F(UFFDIO_CONTINUE_MODE_WP, FB_UFFDIO_CONTINUE_MODE_WP),
	F(UFFDIO_MOVE_MODE_DONTWAKE, FB_MOVE),
	F(UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, FB_MOVE),
	F(UFFDIO_POISON_MODE_DONTWAKE, FB_POISON),

	// Struct sizes and offsets.
	SZ(struct uffd_msg),
	OFF(struct uffd_msg, event),
	OFF(struct uffd_msg, arg),
	OFF(struct uffd_msg, arg.pagefault.flags),
	OFF(struct uffd_msg, arg.pagefault.address),
	OFF(struct uffd_msg, arg.pagefault.feat.ptid),
	OFF(struct uffd_msg, arg.fork.ufd),
	OFF(struct uffd_msg, arg.remap.from),
	OFF(struct uffd_msg, arg.remap.to),
	OFF(struct uffd_msg, arg.remap.len),
	OFF(struct uffd_msg, arg.remove.start),
	OFF(struct uffd_msg, arg.remove.end),
	SZ(struct uffdio_api),
	OFF(struct uffdio_api, api),
	OFF(struct uffdio_api, features),
	OFF(struct uffdio_api, ioctls),
	SZ(struct uffdio_range),
	OFF(struct uffdio_range, start),
	OFF(struct uffdio_range, len),
	SZ(struct uffdio_register),
	OFF(struct uffdio_register, range),
	OFF(struct uffdio_register, mode),
	OFF(struct uffdio_register, ioctls),
	SZ(struct uffdio_copy),
	OFF(struct uffdio_copy, dst),
	OFF(struct uffdio_copy, src),
	OFF(struct uffdio_copy, len),
	OFF(struct uffdio_copy, mode),
	OFF(struct uffdio_copy, copy),
	SZ(struct uffdio_zeropage),
	OFF(struct uffdio_zeropage, range),
	OFF(struct uffdio_zeropage, mode),
	OFF(struct uffdio_zeropage, zeropage),
	SZ(struct uffdio_writeprotect),
	OFF(struct uffdio_writeprotect, range),
	OFF(struct uffdio_writeprotect, mode),
	SZ(struct uffdio_continue),
	OFF(struct uffdio_continue, range),
	OFF(struct uffdio_continue, mode),
	OFF(struct uffdio_continue, mapped),
	SZF(struct uffdio_poison, FB_POISON),
	OFFF(struct uffdio_poison, range, FB_POISON),
	OFFF(struct uffdio_poison, mode, FB_POISON),
	OFFF(struct uffdio_poison, updated, FB_POISON),
	SZF(struct uffdio_move, FB_MOVE),
	OFFF(struct uffdio_move, dst, FB_MOVE),
	OFFF(struct uffdio_move, src, FB_MOVE),
	OFFF(struct uffdio_move, len, FB_MOVE),
	OFFF(struct uffdio_move, mode, FB_MOVE),
	OFFF(struct uffdio_move, move, FB_MOVE),

	// PAGEMAP_SCAN (<linux/fs.h>).
	F(PAGEMAP_SCAN, FB_PAGEMAP),
	F(PM_SCAN_WP_MATCHING, FB_PAGEMAP),
	F(PM_SCAN_CHECK_WPASYNC, FB_PAGEMAP),
	F(PAGE_IS_WPALLOWED, FB_PAGEMAP),
	F(PAGE_IS_WRITTEN, FB_PAGEMAP),
	F(PAGE_IS_FILE, FB_PAGEMAP),
	F(PAGE_IS_PRESENT, FB_PAGEMAP),
	F(PAGE_IS_SWAPPED, FB_PAGEMAP),
	F(PAGE_IS_PFNZERO, FB_PAGEMAP),
	F(PAGE_IS_HUGE, FB_PAGEMAP),
	F(PAGE_IS_SOFT_DIRTY, FB_PAGEMAP),
	F(PAGE_IS_GUARD, FB_PAGE_IS_GUARD),
	SZF(struct page_region, FB_PAGEMAP),
	OFFF(struct page_region, start, FB_PAGEMAP),
	OFFF(struct page_region, end, FB_PAGEMAP),
	OFFF(struct page_region, categories, FB_PAGEMAP),
	SZF(struct pm_scan_arg, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, size, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, flags, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, start, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, end, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, walk_end, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, vec, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, vec_len, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, max_pages, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, category_inverted, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, category_mask, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, category_anyof_mask, FB_PAGEMAP),
	OFFF(struct pm_scan_arg, return_mask, FB_PAGEMAP),
};

static const struct kabi_entry *kabi_get(int i) { return &kabi_entries[i]; }
static int kabi_count(void) { return sizeof(kabi_entries) / sizeof(kabi_entries[0]); }
*/
import "C"

// Entry is one ABI value: Name is the C expression (a macro name, or
// "sizeof(struct x)", "offsetof(struct x, field)"), Value its value as the C
// compiler computed it, and Fallback reports that the installed header
// lacked it and this package's own declaration (copied from Linux 6.18's
// uapi header) was used.
type Entry struct {
	Name     string
	Value    uint64
	Fallback bool
}

// Entries returns every ABI value, in header order.
func Entries() []Entry {
	n := int(C.kabi_count())
	out := make([]Entry, n)
	for i := range out {
		e := C.kabi_get(C.int(i))
		out[i] = Entry{Name: C.GoString(e.name), Value: uint64(e.value), Fallback: e.fallback != 0}
	}
	return out
}
