// Package server is the pagerd engine: it serves VMOs from a backing store
// (package store) to client processes over a unix socket (package proto)
// and resolves the clients' page faults through their userfaultfds.
//
// # How a page gets to a client
//
// Every open VMO is a memfd that pagerd creates and sends to each client
// that opens it. pagerd also maps the memfd itself — the supply window —
// and registers that mapping with its own userfaultfd, which nobody reads:
// pagerd never touches the window, it only fills it with UFFDIO_COPY, which
// puts a page into the memfd's page cache atomically and never replaces a
// page that is already there (EEXIST). So a page becomes visible to every
// mapping of the VMO in every process at once, complete or not at all.
//
// A client maps the memfd, registers its mapping with its own userfaultfd
// (MISSING, and WP for writable mappings) and sends that uffd to pagerd
// with RegisterMapping. pagerd watches every client uffd from one epoll
// loop, hands page faults to a bounded pool of workers, and a worker:
//
//   - for a missing page, asks the read-ahead tracker of the mapping how
//     many pages to fetch, claims the absent ones (a page being fetched is
//     never fetched twice: later faults on it wait for the fetch), reads
//     them from the store in one call, copies them into the window in one
//     UFFDIO_COPY and wakes every thread that waited for them;
//   - for a write to a write-protected page (a writable mapping's page is
//     protected until it is first written, and again after each
//     write-back), marks the page dirty and lifts the protection in that
//     mapping, which wakes the writer.
//
// pagerd never reads or writes client memory: it uses ioctls on the
// client's uffd and pread on the memfd. A client's uffd is read by the
// epoll loop only; the client keeps a copy for its guard (see package
// client), which takes over when pagerd dies so that no fault is ever
// answered with a silent zero page.
//
// # Dirty pages and write-back
//
// Per page the VMO keeps: present, dirty, awaiting-clean, fetching.
// Write-back (periodic, on a client's Sync, and at Shutdown) follows
// DESIGN.md §5: under the VMO lock it write-protects every dirty page in
// every writable mapping and marks it awaiting-clean (BEGIN); it then
// preads the pages from the memfd and writes them to the store with
// store.Object.WritePages, which is journaled and fsynced (write, fsync);
// then every page still awaiting-clean — not written since BEGIN — becomes
// clean (END). A write after BEGIN faults, marks the page dirty again and
// so keeps it for the next write-back. A crash at any point leaves each
// page of the store old or new, never torn, and a page whose Sync returned
// is never lost.
//
// # Faults that cannot be served
//
// A store read error poisons the page in each waiting mapping
// (UFFDIO_POISON): the accessing thread gets SIGBUS, never zeros. The
// poison marker stays in that mapping until it is unmapped (other mappings
// ask again on their next access). A fault in a range the client never
// registered costs the client its connection, as do a malformed message
// and an fd that is not a userfaultfd; nobody else is affected.
//
// # Limits
//
// Per client: open VMOs and registered mapping bytes (requests beyond them
// are refused with ZX_ERR_NO_RESOURCES) and faults in flight: when a
// client has Limits.MaxOutstanding faults being served, its uffd is taken
// out of the epoll set until one completes, so its further faults wait in
// the kernel and cannot crowd out other clients.
package server
