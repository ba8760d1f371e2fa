// See cbench.h and cbench.go.

#define _GNU_SOURCE
#include "cbench.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cb_now_ns(void) { return now_ns(); }

// Every asynchronous signal blocked: they are for Go threads. The
// synchronous ones stay open so a bad access still crashes loudly.
static void async_mask(sigset_t *m)
{
	sigfillset(m);
	sigdelset(m, SIGBUS);
	sigdelset(m, SIGSEGV);
	sigdelset(m, SIGILL);
	sigdelset(m, SIGFPE);
	sigdelset(m, SIGTRAP);
	sigdelset(m, SIGSYS);
}

static int start_thread(pthread_t *pt, void *(*fn)(void *), void *arg, int cpu)
{
	pthread_attr_t attr;
	sigset_t mask;
	int rc;

	async_mask(&mask);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setsigmask_np(&attr, &mask);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof set, &set);
	}
	rc = pthread_create(pt, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}

// ---- timed touches ---------------------------------------------------------

// A start gate: every thread waits until the creator opens it (or cancels
// the run because a thread could not be created).
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open, cancel;
};

struct touch_arg {
	cb_job *job;
	struct gate *g;
};

static void *touch_main(void *p)
{
	struct touch_arg *a = p;
	cb_job *j = a->job;
	const uintptr_t *addrs = j->addrs;
	int64_t *lat = j->lat_ns;
	uint64_t n = j->n, sink = 0;

	// Fault the latency array in now, not between two timed touches.
	if (lat != NULL)
		memset(lat, 0, n * sizeof *lat);

	pthread_mutex_lock(&a->g->mu);
	while (!a->g->open && !a->g->cancel)
		pthread_cond_wait(&a->g->cv, &a->g->mu);
	int cancel = a->g->cancel;
	pthread_mutex_unlock(&a->g->mu);
	if (cancel)
		return NULL;

	// One clock read per touch (~20 ns, vDSO): a sample is the time from
	// the end of the previous touch to the end of this one, which adds the
	// loop's few ns (the latency array was faulted in above) to the touch.
	int64_t start = now_ns(), t0 = start, t1 = start;
	for (uint64_t i = 0; i < n; i++) {
		volatile uint8_t *b = (volatile uint8_t *)addrs[i];
		if (j->write)
			*b = (uint8_t)(i | 1);
		else
			sink ^= *b;
		t1 = now_ns();
		if (lat != NULL)
			lat[i] = t1 - t0;
		t0 = t1;
	}
	j->start_ns = start;
	j->end_ns = t1;
	j->sink = sink;
	return NULL;
}

int cb_touch(cb_job *jobs, int njobs)
{
	if (njobs <= 0 || njobs > 1024)
		return EINVAL;
	struct gate g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	pthread_t pts[njobs];
	struct touch_arg args[njobs];
	int rc = 0, started = 0;

	for (int i = 0; i < njobs; i++) {
		args[i].job = &jobs[i];
		args[i].g = &g;
		rc = start_thread(&pts[i], touch_main, &args[i], jobs[i].cpu);
		if (rc != 0)
			break;
		started++;
	}
	pthread_mutex_lock(&g.mu);
	if (rc != 0)
		g.cancel = 1;
	else
		g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	for (int i = 0; i < started; i++)
		pthread_join(pts[i], NULL);
	pthread_cond_destroy(&g.cv);
	pthread_mutex_destroy(&g.mu);
	return rc;
}

// ---- raw userfaultfd handler -------------------------------------------------

struct cb_handler {
	pthread_t pt;
	int uffd, efd;
	uintptr_t src;
	uint64_t ps;
	uint64_t faults, errors;
};

static void *handler_main(void *p)
{
	struct cb_handler *h = p;
	struct uffd_msg msgs[64];
	struct pollfd fds[2] = {
		{.fd = h->uffd, .events = POLLIN},
		{.fd = h->efd, .events = POLLIN},
	};

	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			h->errors++;
			break;
		}
		if (fds[1].revents)
			break;
		for (;;) {
			ssize_t r = read(h->uffd, msgs, sizeof msgs);
			if (r <= 0)
				break; // EAGAIN: drained (or a withdrawn message)
			int n = (int)(r / (ssize_t)sizeof msgs[0]);
			for (int i = 0; i < n; i++) {
				if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
					continue;
				uint64_t dst = msgs[i].arg.pagefault.address & ~(h->ps - 1);
				struct uffdio_copy c = {.dst = dst, .src = h->src, .len = h->ps, .mode = 0};
				for (;;) {
					if (ioctl(h->uffd, UFFDIO_COPY, &c) == 0)
						break;
					if (errno == EAGAIN || errno == EINTR) {
						c.copy = 0;
						continue;
					}
					if (errno == EEXIST) {
						struct uffdio_range rg = {.start = dst, .len = h->ps};
						ioctl(h->uffd, UFFDIO_WAKE, &rg);
					} else {
						h->errors++;
					}
					break;
				}
				h->faults++;
			}
		}
	}
	return NULL;
}

int cb_handler_start(cb_handler **out, int uffd, uintptr_t src, uint64_t pagesize, int cpu)
{
	struct cb_handler *h = calloc(1, sizeof *h);
	if (h == NULL)
		return ENOMEM;
	h->uffd = uffd;
	h->src = src;
	h->ps = pagesize;
	h->efd = eventfd(0, EFD_CLOEXEC);
	if (h->efd < 0) {
		int e = errno;
		free(h);
		return e;
	}
	int rc = start_thread(&h->pt, handler_main, h, cpu);
	if (rc != 0) {
		close(h->efd);
		free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void cb_handler_stop(cb_handler *h, uint64_t *faults, uint64_t *errors)
{
	uint64_t one = 1;
	while (write(h->efd, &one, sizeof one) < 0 && errno == EINTR)
		;
	pthread_join(h->pt, NULL);
	close(h->efd);
	*faults = h->faults;
	*errors = h->errors;
	free(h);
}

// ---- memcpy ------------------------------------------------------------------

int64_t cb_memcpy_ns(uintptr_t dst, uintptr_t src, size_t len)
{
	int64_t t0 = now_ns();
	memcpy((void *)dst, (const void *)src, len);
	__asm__ volatile("" ::: "memory");
	return now_ns() - t0;
}
