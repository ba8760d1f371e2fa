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
// The Go fault hazard: nothing in this package ever loads or stores memory
// of a registered mapping or of a supply window. Pages move by ioctl, data by
// pread/pwrite on the memfd, and only for pages the table says are present.
package pager
