// C side of package cbench: timed memory touches on dedicated pthreads, a
// minimal userfaultfd handler thread, and a timed memcpy. See cbench.go.

#ifndef PAGERD_CBENCH_H
#define PAGERD_CBENCH_H

#include <stddef.h>
#include <stdint.h>

// One faulting thread's work: touch addrs[0..n) in order, one byte each,
// and record how long each touch took.
typedef struct cb_job {
	const uintptr_t *addrs;
	uint64_t n;
	int32_t write; // 1: store a byte; 0: load a byte
	int32_t cpu;   // pin the thread to this CPU, or -1
	int64_t *lat_ns; // n entries: ns per touch (may be NULL)
	int64_t start_ns; // out: CLOCK_MONOTONIC before the first touch
	int64_t end_ns;   // out: CLOCK_MONOTONIC after the last touch
	uint64_t sink;    // out: xor of the bytes loaded
} cb_job;

// Runs every job on its own new pthread (async signals blocked), released
// together through a barrier, and joins them. Returns 0 or an errno.
int cb_touch(cb_job *jobs, int njobs);

typedef struct cb_handler cb_handler;

// Starts a pthread that serves userfaultfd uffd (O_NONBLOCK, API done):
// poll(2), read(2) up to 64 messages, UFFDIO_COPY one page from src to each
// faulting page (UFFDIO_WAKE on EEXIST). Returns 0 or an errno.
int cb_handler_start(cb_handler **out, int uffd, uintptr_t src, uint64_t pagesize, int cpu);

// Stops and joins the handler; returns the faults served and the ioctl
// errors seen (other than EEXIST) through the out parameters.
void cb_handler_stop(cb_handler *h, uint64_t *faults, uint64_t *errors);

// One memcpy of len bytes, timed (ns).
int64_t cb_memcpy_ns(uintptr_t dst, uintptr_t src, size_t len);

// CLOCK_MONOTONIC in ns.
int64_t cb_now_ns(void);

#endif
