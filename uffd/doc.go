// Package uffd is a thin, exact Go binding of Linux userfaultfd(2) and the
// UFFDIO_* ioctls of <linux/userfaultfd.h>, written on golang.org/x/sys/unix
// without cgo. It also wraps the PAGEMAP_SCAN ioctl of /proc/PID/pagemap,
// which reads the state that UFFD_FEATURE_WP_ASYNC leaves behind.
//
// Names follow the kernel's: UFFD_FEATURE_X is FeatureX, UFFDIO_REGISTER_MODE_X
// is RegisterModeX, UFFDIO_X is the method X on *UFFD, UFFD_EVENT_X is EventX,
// and each ioctl's mode bits are a type of their own (CopyMode, MoveMode, ...)
// so that one ioctl's flags cannot be passed to another. Note that
// UFFDIO_WRITEPROTECT's bits are the other way round from the rest:
// WriteProtectModeWP is 1 and WriteProtectModeDontWake is 2.
//
// # Allocation and blocking
//
// The resolve ioctls (Copy, Zeropage, Move, WriteProtect, Continue, Poison,
// Wake) and Read and Wait do not allocate on success: their argument structs
// live on the stack and go to the kernel through unix.Syscall, which also
// releases the goroutine's P while the kernel works. A failure returns an
// *Error (one allocation) that unwraps to the raw unix.Errno, so
// errors.Is(err, unix.EEXIST) works.
//
// Addresses are uintptr because they usually belong to memory the Go runtime
// does not manage (mmap'd areas, or another process's address space when the
// uffd came from a client). A source address that points into Go memory is
// hidden from the garbage collector: keep the object alive (runtime.KeepAlive
// or runtime.Pinner), or use CopyFrom, which takes a []byte.
//
// # The Go fault hazard
//
// A goroutine must never load or store a page that is registered with a
// userfaultfd whose messages are served in the same process. A page fault is
// not a system call: the faulting thread sleeps in the kernel while the Go
// runtime still counts it as running with its P, so it cannot be preempted,
// and a stop-the-world (GC) waits for it forever while the handler goroutine
// is stopped — a deadlock. Fault such pages in from inside a system call
// instead (madvise MADV_POPULATE_READ / MADV_POPULATE_WRITE, pread/pwrite),
// or fault from another process. Pages that are known to be present, or
// ranges that were unregistered, can be accessed normally.
package uffd
