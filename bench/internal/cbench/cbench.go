// Package cbench is the C side of the pagerd benchmarks: memory touches timed
// one by one on dedicated pthreads, a minimal userfaultfd handler thread, and
// a timed memcpy.
//
// Why not internal/faulter: a faulter.Thread times a whole command (Elapsed),
// so a latency distribution would need one command, and two cross-thread
// wake-ups, per fault. Here one C thread touches a whole list of addresses
// back to back and records the time of every touch (clock_gettime on the
// vDSO, ~20 ns), which is both a per-fault distribution and a throughput.
//
// The touching threads are C pthreads invisible to the Go scheduler, so they
// may block in userfaultfd faults served by goroutines of the same process
// (the Go fault hazard: a goroutine must never do that). They block every
// asynchronous signal; a SIGBUS or SIGSEGV on them kills the process, which
// is what a benchmark should do when a fault is not served.
package cbench

/*
#cgo CFLAGS: -O2 -Wall
#include "cbench.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"
)

// Job is one faulting thread's work for Touch.
type Job struct {
	Addrs []uintptr // touched one byte each, in order
	Write bool      // store a byte (else load one)
	CPU   int       // pin the thread to this CPU; -1 for no pinning
	Lat   []int64   // out: ns per touch; len(Addrs) entries, or nil

	Start, End int64 // out: CLOCK_MONOTONIC ns before the first and after the last touch
}

// Touch runs each job on a new C pthread; the threads start touching
// together and Touch returns when all have finished. It blocks in C (the
// goroutine holds no P meanwhile).
func Touch(jobs []Job) error {
	if len(jobs) == 0 {
		return errors.New("cbench: no jobs")
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	cj := make([]C.cb_job, len(jobs))
	for i := range jobs {
		j := &jobs[i]
		if j.Lat != nil && len(j.Lat) < len(j.Addrs) {
			return fmt.Errorf("cbench: job %d: %d latency slots for %d addresses", i, len(j.Lat), len(j.Addrs))
		}
		c := &cj[i]
		c.n = C.uint64_t(len(j.Addrs))
		if len(j.Addrs) > 0 {
			pin.Pin(&j.Addrs[0])
			c.addrs = (*C.uintptr_t)(unsafe.Pointer(&j.Addrs[0]))
		}
		if len(j.Lat) > 0 && len(j.Addrs) > 0 {
			pin.Pin(&j.Lat[0])
			c.lat_ns = (*C.int64_t)(unsafe.Pointer(&j.Lat[0]))
		}
		if j.Write {
			c.write = 1
		}
		c.cpu = C.int32_t(j.CPU)
	}
	if rc := C.cb_touch(&cj[0], C.int(len(cj))); rc != 0 {
		return fmt.Errorf("cbench: starting touch threads: %w", syscall.Errno(rc))
	}
	for i := range jobs {
		jobs[i].Start, jobs[i].End = int64(cj[i].start_ns), int64(cj[i].end_ns)
	}
	return nil
}

// Handler is a C pthread serving a userfaultfd: poll, read, UFFDIO_COPY of
// one page per fault.
type Handler struct{ h *C.cb_handler }

// StartHandler starts a handler thread for uffd (non-blocking, handshake
// done) that copies the page at src into every faulting page. cpu pins it
// (-1: no pinning).
func StartHandler(uffd int, src uintptr, pageSize int, cpu int) (*Handler, error) {
	var h *C.cb_handler
	if rc := C.cb_handler_start(&h, C.int(uffd), C.uintptr_t(src), C.uint64_t(pageSize), C.int(cpu)); rc != 0 {
		return nil, fmt.Errorf("cbench: starting the C handler: %w", syscall.Errno(rc))
	}
	return &Handler{h: h}, nil
}

// Stop stops and joins the handler thread and returns how many faults it
// served and how many ioctls failed (other than EEXIST).
func (h *Handler) Stop() (faults, errs uint64) {
	var f, e C.uint64_t
	C.cb_handler_stop(h.h, &f, &e)
	h.h = nil
	return uint64(f), uint64(e)
}

// MemcpyNs copies n bytes from src to dst (C memory or mmap'd memory) with
// memcpy and returns how long that took in ns.
func MemcpyNs(dst, src uintptr, n int) int64 {
	return int64(C.cb_memcpy_ns(C.uintptr_t(dst), C.uintptr_t(src), C.size_t(n)))
}

// NowNs is CLOCK_MONOTONIC in ns, the clock of Job.Start and Job.End.
func NowNs() int64 { return int64(C.cb_now_ns()) }
