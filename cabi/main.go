// Command cabi is libzircon, pagerd's C ABI: built with -buildmode=c-shared
// (build/cabi/libzircon.so) and -buildmode=c-archive (build/cabi/libzircon.a),
// it exports Zircon's calls (zx_pager_create, zx_vmo_read, zx_port_wait, ...)
// with the names, signatures and layouts of the headers in include/zircon.
//
// The public zx_* functions are written in C (zircon.c), against those
// headers, so the compiler checks every definition against its declaration.
// They validate user pointers and move data in and out of the caller's memory
// with copies that never fault (ucopy.c), and call the Go functions exported
// here (pagerd_cabi_*, exports.go), which hand package syscalls pointers to
// the C wrappers' own locals, or user buffers that only the kernel touches
// (the pread/pwrite of zx_vmo_read/zx_vmo_write). No Go code loads or stores
// caller memory, so a bad pointer is ZX_ERR_INVALID_ARGS and never a fault
// inside the library, and a buffer that is itself a mapping of a pager VMO
// never blocks a Go thread in a page fault (the Go fault hazard).
//
// See include/README.md for the contract with C programs: threads, SIGBUS on
// failed pages, signal handlers next to the Go runtime, fork.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -std=gnu11 -fvisibility=hidden -Wall -Wextra
#include <stddef.h>
#include <stdint.h>
*/
import "C"

// main is required by -buildmode=c-shared and c-archive; it never runs.
func main() {}
