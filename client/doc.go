// Package client is the Go client library of pagerd (DESIGN.md §4): it
// connects to the service's unix socket, opens VMOs (memfds that pagerd
// sends), maps them and registers the mappings with a userfaultfd that it
// hands to pagerd, which then resolves the process's page faults on them.
//
//	c, err := client.Dial(socket, nil)
//	v, err := c.Open("data", client.Create, 1<<20)
//	m, err := v.Map(0, v.Size(), true)
//	err = m.Populate(0, 4096, false) // fault in without the Go fault hazard
//	b := m.Bytes()                   // the pages, supplied by pagerd
//	n, err := v.Sync()               // write dirty pages back
//	err = c.Close()
//
// # Session
//
// A Client is one connection. Requests may be issued from many goroutines
// at once; one reader goroutine matches replies to requests by request id.
// Every request waits at most Options.RequestTimeout. Errors that pagerd
// reports are *zx.Error values (zx.StatusOf gives the status). When the
// session ends, Done is closed and every pending and later request fails
// with Err: an error wrapping ErrServerGone (pagerd died or dropped the
// connection) or ErrClosed (Close).
//
// # Mappings
//
// The client creates one userfaultfd per session, lazily, at the first Map,
// with ClientFeatures. Each mapping is mmap'd MAP_SHARED from the memfd,
// marked MADV_DONTFORK, registered on the uffd (MISSING, plus WP when
// writable) and then announced with RegisterMapping; the first one carries
// the uffd. Unmap reverses that: the uffd range is unregistered before
// UnregisterMapping is sent and the range is munmapped last.
//
// # Reads and writes without faulting
//
// VMO.ReadAt and VMO.WriteAt copy through a mapping of the whole VMO with
// process_vm_readv/process_vm_writev on this process: the kernel takes the
// faults (and waits for pagerd) inside the system call, so Go code never
// faults and a page that cannot be had is an error, not a signal.
// VMO.Attach registers a mapping the caller made itself from VMO.Fd, and
// VMO.Object wraps the VMO as an object of package vmo, which is how
// package syscalls (PagerdVmoOpen) and the C ABI (pagerd_vmo_open) give zx
// handles to pagerd VMOs.
//
// # The guard: never silent zeros
//
// If pagerd dies, the kernel does not fail the client's faults: were the
// client to close its uffd, every page pagerd had not supplied would read
// as zeros from the memfd; if nobody reads the uffd, faulting threads hang
// forever. So each Client keeps its own copy of the uffd and a guard, a C
// pthread that watches the socket (poll POLLRDHUP on a dup, reading
// nothing) and, once the session has ended, takes the uffd over: it wakes
// every registered range (faults that the dead server read but never
// answered would otherwise sleep forever), answers every missing-page
// fault with UFFDIO_POISON, so the access raises SIGBUS, and lets writes
// to present pages proceed. Being a pthread, the guard works even when the
// Go runtime cannot schedule anything (a goroutine stuck in a fault inside
// runtime assembly blocks every stop-the-world). See Mapping.Bytes for the
// Go fault hazard and Mapping.Populate for a way around it.
package client
