// C side of package faulter: dedicated pthreads that perform memory accesses
// on request, and a SIGBUS/SIGSEGV handler that turns a fault on an armed
// faulter thread into a command result (and chains to the previous handler,
// normally Go's, everywhere else).

#ifndef PAGERD_FAULTER_H
#define PAGERD_FAULTER_H

#include <stdint.h>

enum {
	FOP_READ = 1,
	FOP_WRITE = 2,
	FOP_TOUCH_READ = 3,
	FOP_TOUCH_WRITE = 4,
};

typedef struct fthread fthread;
typedef struct fgate fgate;

// Snapshot of a finished command.
typedef struct fresult {
	uint64_t seq;
	int32_t signo; // 0, SIGBUS or SIGSEGV
	int32_t code;  // si_code
	int32_t err;   // si_errno
	int32_t pad;
	uintptr_t addr;     // si_addr
	uint64_t done;      // bytes (read/write) or touches completed
	int64_t elapsed_ns; // CLOCK_MONOTONIC around the access only
	void *buf;          // the command's buffer (read destination)
} fresult;

// Installs the SIGBUS and SIGSEGV handlers (idempotent). Returns 0 or an errno.
int faulter_install(void);

// Creates a faulter thread; stores its gettid() in *tid. Returns 0 or an errno.
int faulter_start(fthread **out, int *tid);

// Posts a command; returns its sequence number (> 0), or 0 if a command is
// still in flight or the thread is quitting. buf is owned by the caller.
uint64_t faulter_post(fthread *t, int op, uintptr_t addr, uint64_t len,
		      uint64_t stride, uint8_t value, void *buf, fgate *gate);

// Waits up to timeout_ns (<= 0: just polls) for command seq to finish.
// Returns 1 and fills *out if it has finished, 0 if not, -1 if it has
// finished but its result was already replaced by a newer command's.
int faulter_wait(fthread *t, uint64_t seq, int64_t timeout_ns, fresult *out);

// Tells an idle thread to exit and joins it (fast: it is idle).
void faulter_quit_join(fthread *t);

// Tells a busy thread to exit once its command finishes; does not block.
void faulter_quit_detach(fthread *t);

// Drops the caller's reference to t; the last reference frees it.
void faulter_release(fthread *t);

// A gate holds back the accesses of up to n commands until it is opened.
fgate *faulter_gate_new(int n);
void faulter_gate_drop(fgate *g); // a command that was never posted
void faulter_gate_open(fgate *g); // opens and drops the creator's reference

long faulter_pagesize(void);

// For tests: bit 0 = our handler is installed for sig, bit 1 = the chained
// (previous) handler is an SA_SIGINFO handler.
int faulter_handler_state(int sig);

#endif
