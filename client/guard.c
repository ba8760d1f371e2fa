// See guard.h and guard.go.

#define _GNU_SOURCE
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

// UFFDIO_POISON (Linux 6.6) may be newer than the installed headers.
#ifndef UFFDIO_POISON
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define _UFFDIO_POISON (0x08)
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

#define GUARD_STACK_SIZE (128 * 1024)
#define GUARD_BATCH 64
// After the takeover the guard wakes every registered range again this
// often, in case a straggler of the dead server read a fault message after
// the first wake.
#define GUARD_REWAKE_MS 1000

struct range {
	uintptr_t start;
	uint64_t len;
};

struct pgguard {
	pthread_t pt;
	int sock;    // dup of the connection socket; watched for hang-up
	int uffd;    // dup of the client's userfaultfd
	int stop_rd; // stop pipe
	int stop_wr;
	long pagesize;

	pthread_mutex_t mu; // ranges, started, tid
	pthread_cond_t cv;
	struct range *ranges;
	size_t nranges, cap;
	int started;
	int tid;

	// Counters (atomics).
	int32_t active;
	uint64_t wakes, faults, poisoned, unprotected, fallbacks;
};

static void bump(uint64_t *c) { __atomic_add_fetch(c, 1, __ATOMIC_RELAXED); }

static int do_wake(pgguard *g, uint64_t start, uint64_t len)
{
	struct uffdio_range r = {.start = start, .len = len};
	return ioctl(g->uffd, UFFDIO_WAKE, &r);
}

static int do_writeprotect(pgguard *g, uint64_t start, uint64_t len, uint64_t mode)
{
	struct uffdio_writeprotect wp = {.range = {.start = start, .len = len}, .mode = mode};
	return ioctl(g->uffd, UFFDIO_WRITEPROTECT, &wp);
}

static int do_poison(pgguard *g, uint64_t start, uint64_t len)
{
	struct uffdio_poison p = {.range = {.start = start, .len = len}, .mode = 0};
	return ioctl(g->uffd, UFFDIO_POISON, &p);
}

// wake_all wakes every thread waiting for a fault in a registered range:
// those whose message the dead server had read but never answered would
// otherwise sleep forever. A woken thread retries its access and, if the
// page is still missing, queues a new message, which the guard answers.
static void wake_all(pgguard *g)
{
	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; i < g->nranges; i++) {
		do_wake(g, g->ranges[i].start, g->ranges[i].len);
		bump(&g->wakes);
	}
	pthread_mutex_unlock(&g->mu);
}

static void answer(pgguard *g, const struct uffd_msg *m)
{
	if (m->event != UFFD_EVENT_PAGEFAULT)
		return; // the client enables no other event
	bump(&g->faults);
	uint64_t page = m->arg.pagefault.address & ~(uint64_t)(g->pagesize - 1);
	if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
		// A write to a present, protected page: let it through.
		if (do_writeprotect(g, page, g->pagesize, 0) == 0) {
			bump(&g->unprotected);
			return;
		}
	} else {
		// A missing page: nobody can supply it any more. A uffd-wp
		// marker on the empty PTE makes POISON fail with EEXIST, so
		// remove it first (without waking; the poison wakes). On a
		// range registered without WP this fails harmlessly.
		do_writeprotect(g, page, g->pagesize, UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
		if (do_poison(g, page, g->pagesize) == 0) {
			bump(&g->poisoned);
			return;
		}
	}
	// The page changed under us (EEXIST: it is present now) or the range
	// went away: wake the thread so it retries and faults again if it
	// must.
	do_wake(g, page, g->pagesize);
	bump(&g->fallbacks);
}

// watch waits until the socket reports that pagerd is gone (1) or the
// guard is told to stop (0).
static int watch(pgguard *g)
{
	struct pollfd p[2] = {
		{.fd = g->sock, .events = POLLRDHUP},
		{.fd = g->stop_rd, .events = POLLIN},
	};
	for (;;) {
		p[0].revents = p[1].revents = 0;
		int n = poll(p, 2, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 1; // cannot watch any more: fail safe
		}
		if (p[1].revents)
			return 0;
		if (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
			return 1;
	}
}

// serve answers the uffd until the guard is told to stop.
static void serve(pgguard *g)
{
	struct uffd_msg msgs[GUARD_BATCH];
	struct pollfd p[2] = {
		{.fd = g->uffd, .events = POLLIN},
		{.fd = g->stop_rd, .events = POLLIN},
	};
	for (;;) {
		p[0].revents = p[1].revents = 0;
		int n = poll(p, 2, GUARD_REWAKE_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = 0; // fall through to a re-wake, then poll again
		}
		if (p[1].revents)
			return;
		if (n == 0) {
			wake_all(g);
			continue;
		}
		if (p[0].revents & (POLLERR | POLLNVAL)) {
			// Not expected for an initialized, non-blocking uffd.
			// Keep waking, which at least never lets a thread sleep
			// forever; wait for the stop request.
			p[0].fd = -1;
			continue;
		}
		for (;;) {
			ssize_t r = read(g->uffd, msgs, sizeof msgs);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break; // EAGAIN: drained (or a withdrawn message)
			size_t k = (size_t)r / sizeof msgs[0];
			for (size_t i = 0; i < k; i++)
				answer(g, &msgs[i]);
			if (k < GUARD_BATCH)
				break;
		}
	}
}

static void *guard_main(void *arg)
{
	pgguard *g = arg;
	pthread_setname_np(pthread_self(), "pagerd-guard");
	pthread_mutex_lock(&g->mu);
	g->tid = (int)syscall(SYS_gettid);
	g->started = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);

	if (!watch(g))
		return NULL;
	__atomic_store_n(&g->active, 1, __ATOMIC_RELEASE);
	wake_all(g);
	serve(g);
	return NULL;
}

int pgguard_start(int sockfd, int uffd, pgguard **out)
{
	int err;
	int pfd[2];
	pgguard *g = calloc(1, sizeof *g);
	if (g == NULL) {
		close(sockfd);
		close(uffd);
		return ENOMEM;
	}
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) != 0) {
		err = errno;
		close(sockfd);
		close(uffd);
		free(g);
		return err;
	}
	g->sock = sockfd;
	g->uffd = uffd;
	g->stop_rd = pfd[0];
	g->stop_wr = pfd[1];
	g->pagesize = sysconf(_SC_PAGESIZE);
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, GUARD_STACK_SIZE);
	// The thread inherits a fully blocked signal mask: process-directed
	// signals are left to Go's threads.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&g->pt, &attr, guard_main, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		close(g->sock);
		close(g->uffd);
		close(g->stop_rd);
		close(g->stop_wr);
		pthread_mutex_destroy(&g->mu);
		pthread_cond_destroy(&g->cv);
		free(g);
		return err;
	}
	pthread_mutex_lock(&g->mu);
	while (!g->started)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	*out = g;
	return 0;
}

int pgguard_add(pgguard *g, uintptr_t start, uint64_t len)
{
	pthread_mutex_lock(&g->mu);
	if (g->nranges == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		struct range *r = realloc(g->ranges, cap * sizeof *r);
		if (r == NULL) {
			pthread_mutex_unlock(&g->mu);
			return ENOMEM;
		}
		g->ranges = r;
		g->cap = cap;
	}
	g->ranges[g->nranges].start = start;
	g->ranges[g->nranges].len = len;
	g->nranges++;
	pthread_mutex_unlock(&g->mu);
	return 0;
}

void pgguard_remove(pgguard *g, uintptr_t start, uint64_t len)
{
	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; i < g->nranges; i++) {
		if (g->ranges[i].start == start && g->ranges[i].len == len) {
			g->ranges[i] = g->ranges[g->nranges - 1];
			g->nranges--;
			break;
		}
	}
	pthread_mutex_unlock(&g->mu);
}

void pgguard_stop(pgguard *g)
{
	char b = 1;
	while (write(g->stop_wr, &b, 1) < 0 && errno == EINTR)
		;
	pthread_join(g->pt, NULL);
	close(g->sock);
	close(g->uffd);
	close(g->stop_rd);
	close(g->stop_wr);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g->ranges);
	free(g);
}

void pgguard_get_stats(pgguard *g, pgguard_stats *out)
{
	memset(out, 0, sizeof *out);
	out->active = __atomic_load_n(&g->active, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&g->mu);
	out->tid = g->tid;
	pthread_mutex_unlock(&g->mu);
	out->wakes = __atomic_load_n(&g->wakes, __ATOMIC_RELAXED);
	out->faults = __atomic_load_n(&g->faults, __ATOMIC_RELAXED);
	out->poisoned = __atomic_load_n(&g->poisoned, __ATOMIC_RELAXED);
	out->unprotected = __atomic_load_n(&g->unprotected, __ATOMIC_RELAXED);
	out->fallbacks = __atomic_load_n(&g->fallbacks, __ATOMIC_RELAXED);
}
