// Package pager is Zircon's userspace pager on Linux: zx_pager_create,
// zx_pager_create_vmo, zx_pager_supply_pages, zx_pager_op_range and
// zx_pager_detach_vmo, with the request semantics of Zircon's PageSource and
// PagerProxy.
//
// How a fault becomes a packet: every mapping of a pager VMO in this process
// is registered with the process's userfaultfd (MISSING mode, memfd-backed).
// A thread touching an absent page blocks in the kernel; the fault reader
// goroutine reads the message, finds the mapping (a lock-free sorted table)
// and hands the page to the VMO's request tracker, which posts a
// ZX_PAGER_VMO_READ packet on the VMO's port. zx_pager_supply_pages copies
// the aux VMO's pages into the VMO's supply window (a mapping of the same
// memfd registered with the same userfaultfd) with UFFDIO_COPY, which fills
// the memfd's page cache atomically, then wakes the faulters. zx_vmo_read,
// zx_vmo_write and COMMIT never fault: they consult the page-state table,
// request the maximal absent run and wait on the same request objects.
//
// Failure (ZX_PAGER_OP_FAIL, detach, pager close) of a thread blocked in a
// mapped fault: a fault taken in user mode is failed alone, by a SIGBUS sent
// to that thread while it waits (sigbus.go), so the next access, by it or
// any other thread, faults as usual; a fault taken inside a system call
// gets a temporary UFFDIO_POISON marker instead (EFAULT), cleared by the
// reaper. A detach drops clean pages only after it has stopped and counted
// the writes its dirty tracking could not yet see (settle.go).
//
// Copy-on-write clones (zx_vmo_create_child with
// ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, clone.go) are run by the same
// code: a clone has its own memfd, table, tracker and registered mappings,
// and its proxy, instead of posting packets, fetches absent pages from the
// parent's Read path (which, for the root, requests them from the pager with
// the root's key and offsets) and copies them in with UFFDIO_COPY. So there
// is one fault loop, and the root never sees a clone's writes. Why, and what
// differs from Zircon: clone.go and docs/VMO-CHILDREN.md.
//
// The Go fault hazard: nothing in this package ever loads or stores memory
// of a registered mapping or of a supply window. Pages move by ioctl, data by
// pread/pwrite on the memfd, and only for pages the table says are present.
package pager
