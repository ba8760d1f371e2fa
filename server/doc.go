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
// with RegisterMapping. For a missing page pagerd asks the read-ahead
// tracker of the mapping how many pages to fetch, claims the absent ones
// (a page being fetched is never fetched twice: later faults on it wait
// for the fetch), copies them into the window and wakes every thread that
// waited for them. For a write to a write-protected page (a writable
// mapping's page is protected until it is first written, and again after
// each write-back) it marks the page dirty and lifts the protection in
// that mapping, which wakes the writer.
//
// pagerd never reads or writes client memory: it uses ioctls on the
// client's uffd and pread on the memfd. A client's uffd is read by the
// fault loops only; the client keeps a copy for its guard (see package
// client), which takes over when pagerd dies so that no fault is ever
// answered with a silent zero page.
//
// # The fault path
//
// On this class of machine a fault's cost is mostly wake-ups: waking a
// thread on an idle vCPU costs tens of µs, the page copy a few. So the
// thread that reads a fault serves it whenever that cannot block, and
// only what may block goes to another thread.
//
// Fault loops. There is one per P (up to maxLoops), each blocked in
// epoll_wait on its own epoll set. A client's uffd is watched by one loop
// (its slot's) while its faults come from one thread, so a lone faulting
// thread always wakes the same loop thread and the two can ping-pong on
// one vCPU. When its faults come from several threads (the uffd message's
// thread id; multiAfter changes of thread), every loop watches it, with
// EPOLLEXCLUSIVE, its own loop first: a fault wakes the first loop that
// is idle in epoll_wait, so a second thread's fault is served while the
// first loop is busy. A long streak from one thread (streakSingle) puts it
// back on one loop. A loop reads one fault at a time and serves it on its
// own thread (serveInline) when that cannot block:
//
//   - a write-protect fault (a few ioctls under the VMO lock);
//   - a missing page of a store object that is a local file, when the
//     head of its run (below) is in the page cache: preadv2 with
//     RWF_NOWAIT reads it without ever waiting for storage.
//
// Everything else goes to a pool of worker goroutines: a fault outside
// every registered mapping (it may end the client's session), a VMO whose
// lock is held (a write-back may hold it a while: the loop only tries the
// lock), a store that is not a local file (HTTP), and a head whose bytes
// are not cached (as a fill job: the fault is already recorded as its
// waiter).
//
// Runs, heads and background fills. The run of a missing-page fault is the
// read-ahead window (twice the window once the stream is sequential: this
// window and the next). Its head — the faulting page and up to headPages-1
// after it — is fetched first and the faulter is woken as soon as it
// lands; the rest of the run is cut into fills of chunkPages, queued in
// order for the workers (a run of more than maxPieces pieces has its last
// piece cut further as it is fetched: runFill fetches the first chunk and
// offers the rest to the other workers), so the client reads the head
// while the workers fill the rest, on both vCPUs, from the run's start.
// A thread that reaches a page still being fetched waits for the piece
// holding it, and tells the read-ahead tracker that the reader caught up
// (readahead.Tracker.Ahead): the stream's next window is claimed and
// queued at once, like Linux's PG_readahead marker, so a sequential reader
// keeps a window in flight ahead of it. Faults go before background fills
// in the workers (two queues, faults first). No worker ever blocks on a
// full fill queue: it runs the fill itself.
//
// Copies. A fill of a local-file object copies straight from a read-only
// shared mapping of the store file (store.LocalObject.MapData) into the
// supply window with one UFFDIO_COPY: one copy instead of pread into a
// buffer and COPY from there. Go code never loads from that mapping: a
// page beyond the file's end (the file truncated behind the store's back)
// raises SIGBUS on a user access, which would kill pagerd, while the
// kernel's own read (the COPY's source) fails with EFAULT. A fill checks
// the file's size first (fstat) and takes the pread path where the file
// is shorter than the object was at open, so the pages the file still
// holds are supplied and the missing ones fail (SIGBUS for the reader, as
// for any store error) instead of being copied as zeros; an EFAULT from a
// truncation racing with the check falls back to the pread path too. The
// mapping shares the store's page cache, so write-back (which pwrites the
// file in place after its journal) is seen by later fills; no page that is
// present in the VMO is ever fetched again while it is open. The head
// read on a loop thread uses pread (RWF_NOWAIT is the page-cache check);
// HTTP stores always pread into the worker's buffer.
//
// Nothing on this path allocates (fills and their waiter slices are
// recycled per VMO, jobs travel by value) or logs, except when a store
// read fails.
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
// out of the epoll sets until one completes, so its further faults wait in
// the kernel and cannot crowd out other clients.
package server
