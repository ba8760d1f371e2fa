// C side of the client's guard: a pthread that watches the connection to
// pagerd and, once pagerd is gone, answers every page fault on the
// client's userfaultfd so that no access reads a silent zero page and no
// thread sleeps forever. It needs no Go scheduling, so it works while the
// Go runtime is stuck (a goroutine blocked in a fault inside runtime
// assembly stalls every stop-the-world). See guard.go.

#ifndef PAGERD_CLIENT_GUARD_H
#define PAGERD_CLIENT_GUARD_H

#include <stdint.h>

typedef struct pgguard pgguard;

// Counters, for tests and diagnostics.
typedef struct pgguard_stats {
	int32_t active;       // 1 once the guard has taken over the uffd
	int32_t tid;          // the guard thread's kernel tid
	uint64_t wakes;       // UFFDIO_WAKE calls over registered ranges
	uint64_t faults;      // page-fault messages read after the takeover
	uint64_t poisoned;    // missing faults answered with UFFDIO_POISON
	uint64_t unprotected; // write-protect faults answered by lifting WP
	uint64_t fallbacks;   // faults that could only be woken (ioctl failed)
} pgguard_stats;

// Starts a guard thread. sockfd (a dup of the connection's socket) and
// uffd (a dup of the client's userfaultfd) become the guard's and are
// closed by pgguard_stop (or here, on failure). Returns 0 or an errno.
int pgguard_start(int sockfd, int uffd, pgguard **out);

// Adds or removes a registered range [start, start+len). Returns 0 or an
// errno (ENOMEM).
int pgguard_add(pgguard *g, uintptr_t start, uint64_t len);
void pgguard_remove(pgguard *g, uintptr_t start, uint64_t len);

// Stops the thread, joins it, closes the guard's fds and frees g.
void pgguard_stop(pgguard *g);

void pgguard_get_stats(pgguard *g, pgguard_stats *out);

#endif
