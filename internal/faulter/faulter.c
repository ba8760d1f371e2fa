// See faulter.h and faulter.go.

#define _GNU_SOURCE
#include "faulter.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ALTSTACK_SIZE (64 * 1024)
#define THREAD_STACK_SIZE (256 * 1024)

struct fgate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open;
	int refs;
};

struct fthread {
	pthread_t pt;
	pthread_mutex_t mu;
	pthread_cond_t cmd_cv;  // the thread waits here for a command / quit
	pthread_cond_t done_cv; // waiters wait here for completion
	int refs;               // Go side + the thread itself
	int quit;
	int started;
	int start_err;
	int tid;

	// Current command (valid while seq_posted > seq_done), under mu.
	uint64_t seq_posted, seq_done;
	int op;
	uintptr_t addr;
	uint64_t len, stride;
	uint8_t value;
	void *buf;
	fgate *gate;

	// Result of the last command, under mu once seq_done was advanced.
	fresult res;

	// Written by the running command and by the signal handler on this
	// thread; read after siglongjmp, hence volatile.
	volatile uint64_t done;
	volatile int32_t sig_signo, sig_code, sig_errno;
	volatile uintptr_t sig_addr;
};

// Thread-local arming state. initial-exec so that reading it from a signal
// handler never allocates (this code may be linked into the executable or a
// shared object).
static __thread sigjmp_buf *volatile tl_jb
	__attribute__((tls_model("initial-exec")));
static __thread struct fthread *volatile tl_self
	__attribute__((tls_model("initial-exec")));

static struct sigaction old_bus, old_segv;
static pthread_mutex_t install_mu = PTHREAD_MUTEX_INITIALIZER;
static int installed;
static long pagesz;

long faulter_pagesize(void)
{
	if (pagesz == 0)
		pagesz = sysconf(_SC_PAGESIZE);
	return pagesz;
}

static void chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
	if (old->sa_flags & SA_SIGINFO) {
		if (old->sa_sigaction != NULL) {
			old->sa_sigaction(sig, si, uc);
			return;
		}
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	// No real previous handler (or it was SIG_IGN, which cannot be
	// honoured for a synchronous fault): die from the signal like the
	// default action would.
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

static void handler(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = tl_jb;
	if (jb != NULL) {
		struct fthread *t = tl_self;
		tl_jb = NULL;
		t->sig_signo = sig;
		t->sig_code = si->si_code;
		t->sig_errno = si->si_errno;
		t->sig_addr = (uintptr_t)si->si_addr;
		siglongjmp(*jb, 1);
	}
	chain(sig, si, uc);
}

int faulter_install(void)
{
	int rc = 0;
	pthread_mutex_lock(&install_mu);
	if (installed)
		goto out;
	faulter_pagesize();
	// Read the old actions first and only then install ours, so that the
	// chain target is valid before our handler can ever run.
	if (sigaction(SIGBUS, NULL, &old_bus) != 0 ||
	    sigaction(SIGSEGV, NULL, &old_segv) != 0) {
		rc = errno;
		goto out;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	// SA_ONSTACK: required by Go for handlers that may run on Go threads.
	// SA_NODEFER: a faulter thread leaves the handler by siglongjmp.
	// SA_RESTART: Go's own handlers use it; keep syscall semantics intact.
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
	// Like Go's handler: block everything else while handling.
	sigfillset(&sa.sa_mask);
	sigdelset(&sa.sa_mask, SIGBUS);
	sigdelset(&sa.sa_mask, SIGSEGV);
	if (sigaction(SIGBUS, &sa, NULL) != 0) {
		rc = errno;
		goto out;
	}
	if (sigaction(SIGSEGV, &sa, NULL) != 0) {
		rc = errno;
		sigaction(SIGBUS, &old_bus, NULL);
		goto out;
	}
	installed = 1;
out:
	pthread_mutex_unlock(&install_mu);
	return rc;
}

static void gate_unref_locked_and_unlock(fgate *g)
{
	int r = --g->refs;
	pthread_mutex_unlock(&g->mu);
	if (r == 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
	}
}

fgate *faulter_gate_new(int n)
{
	fgate *g = calloc(1, sizeof *g);
	if (g == NULL)
		return NULL;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->refs = n + 1;
	return g;
}

void faulter_gate_drop(fgate *g)
{
	pthread_mutex_lock(&g->mu);
	gate_unref_locked_and_unlock(g);
}

void faulter_gate_open(fgate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = 1;
	pthread_cond_broadcast(&g->cv);
	gate_unref_locked_and_unlock(g);
}

static void gate_pass(fgate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	gate_unref_locked_and_unlock(g);
}

static void release(struct fthread *t)
{
	pthread_mutex_lock(&t->mu);
	int r = --t->refs;
	pthread_mutex_unlock(&t->mu);
	if (r == 0) {
		pthread_cond_destroy(&t->cmd_cv);
		pthread_cond_destroy(&t->done_cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
	}
}

void faulter_release(fthread *t) { release(t); }

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

#define barrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)

// Runs one command; called on the faulter thread without t->mu held.
static void run(struct fthread *t, int op, uintptr_t addr, uint64_t len,
		uint64_t stride, uint8_t value, uint8_t *buf, fresult *r)
{
	sigjmp_buf jb;
	struct timespec t0, t1;
	uint64_t ps = (uint64_t)pagesz;

	t->done = 0;
	t->sig_signo = 0;
	t->sig_code = 0;
	t->sig_errno = 0;
	t->sig_addr = 0;
	if (stride == 0)
		stride = ps;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	// savemask=1: siglongjmp restores this thread's signal mask.
	if (sigsetjmp(jb, 1) == 0) {
		tl_jb = &jb;
		barrier();
		switch (op) {
		case FOP_READ:
		case FOP_WRITE: {
			uint64_t off = 0;
			while (off < len) {
				uintptr_t a = addr + off;
				uint64_t chunk = ps - (a & (ps - 1));
				if (chunk > len - off)
					chunk = len - off;
				// Touch the first byte of the page-bounded chunk
				// on its own, so a fault is reported exactly at
				// a, and done stays exact (whole chunks only).
				if (op == FOP_READ) {
					buf[off] = *(volatile uint8_t *)a;
					barrier();
					memcpy(buf + off, (const void *)a, chunk);
				} else {
					*(volatile uint8_t *)a = buf[off];
					barrier();
					memcpy((void *)a, buf + off, chunk);
				}
				barrier();
				off += chunk;
				t->done = off;
			}
			break;
		}
		case FOP_TOUCH_READ:
		case FOP_TOUCH_WRITE: {
			uint64_t off = 0, n = 0;
			uint8_t sink = 0;
			while (off < len) {
				volatile uint8_t *p = (volatile uint8_t *)(addr + off);
				if (op == FOP_TOUCH_WRITE)
					*p = value;
				else
					sink ^= *p;
				barrier();
				t->done = ++n;
				if (stride > len - off)
					break;
				off += stride;
			}
			(void)sink;
			break;
		}
		}
		barrier();
		tl_jb = NULL;
	}
	// Reached normally or via siglongjmp from handler (which disarmed).
	clock_gettime(CLOCK_MONOTONIC, &t1);

	r->signo = t->sig_signo;
	r->code = t->sig_code;
	r->err = t->sig_errno;
	r->addr = t->sig_addr;
	r->done = t->done;
	r->elapsed_ns = ts_ns(&t1) - ts_ns(&t0);
	r->buf = buf;
}

static void *thread_main(void *arg)
{
	struct fthread *t = arg;
	void *alt = malloc(ALTSTACK_SIZE);
	stack_t ss;
	int err = 0;

	if (alt == NULL) {
		err = ENOMEM;
	} else {
		memset(&ss, 0, sizeof ss);
		ss.ss_sp = alt;
		ss.ss_size = ALTSTACK_SIZE;
		if (sigaltstack(&ss, NULL) != 0)
			err = errno;
	}
	tl_self = t;

	pthread_mutex_lock(&t->mu);
	t->tid = gettid();
	t->start_err = err;
	t->started = 1;
	pthread_cond_broadcast(&t->done_cv);
	if (err != 0) {
		pthread_mutex_unlock(&t->mu);
		free(alt);
		return NULL; // creator joins and frees
	}
	for (;;) {
		while (!t->quit && t->seq_posted == t->seq_done)
			pthread_cond_wait(&t->cmd_cv, &t->mu);
		if (t->seq_posted == t->seq_done)
			break; // quit and idle
		int op = t->op;
		uintptr_t addr = t->addr;
		uint64_t len = t->len, stride = t->stride;
		uint8_t value = t->value;
		void *buf = t->buf;
		fgate *gate = t->gate;
		uint64_t seq = t->seq_posted;
		pthread_mutex_unlock(&t->mu);

		if (gate != NULL)
			gate_pass(gate);
		fresult r;
		memset(&r, 0, sizeof r);
		run(t, op, addr, len, stride, value, buf, &r);
		r.seq = seq;

		pthread_mutex_lock(&t->mu);
		t->res = r;
		t->seq_done = seq;
		pthread_cond_broadcast(&t->done_cv);
	}
	pthread_mutex_unlock(&t->mu);

	memset(&ss, 0, sizeof ss);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	free(alt);
	release(t);
	return NULL;
}

int faulter_start(fthread **out, int *tid)
{
	int rc;
	if ((rc = faulter_install()) != 0)
		return rc;
	struct fthread *t = calloc(1, sizeof *t);
	if (t == NULL)
		return ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cmd_cv, &ca);
	pthread_cond_init(&t->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	t->refs = 2;

	// The thread starts with every asynchronous signal blocked (they are
	// for Go threads to handle), but with the synchronous fault signals
	// open, whatever the mask of the creating Go thread is.
	sigset_t mask;
	sigfillset(&mask);
	sigdelset(&mask, SIGBUS);
	sigdelset(&mask, SIGSEGV);
	sigdelset(&mask, SIGILL);
	sigdelset(&mask, SIGFPE);
	sigdelset(&mask, SIGTRAP);
	sigdelset(&mask, SIGSYS);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
	pthread_attr_setsigmask_np(&attr, &mask);
	rc = pthread_create(&t->pt, &attr, thread_main, t);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		t->refs = 1;
		release(t);
		return rc;
	}
	pthread_mutex_lock(&t->mu);
	while (!t->started)
		pthread_cond_wait(&t->done_cv, &t->mu);
	rc = t->start_err;
	*tid = t->tid;
	pthread_mutex_unlock(&t->mu);
	if (rc != 0) {
		pthread_join(t->pt, NULL);
		t->refs = 1;
		release(t);
		return rc;
	}
	*out = t;
	return 0;
}

uint64_t faulter_post(fthread *t, int op, uintptr_t addr, uint64_t len,
		      uint64_t stride, uint8_t value, void *buf, fgate *gate)
{
	uint64_t seq = 0;
	pthread_mutex_lock(&t->mu);
	if (!t->quit && t->seq_posted == t->seq_done) {
		t->op = op;
		t->addr = addr;
		t->len = len;
		t->stride = stride;
		t->value = value;
		t->buf = buf;
		t->gate = gate;
		seq = ++t->seq_posted;
		pthread_cond_signal(&t->cmd_cv);
	}
	pthread_mutex_unlock(&t->mu);
	return seq;
}

int faulter_wait(fthread *t, uint64_t seq, int64_t timeout_ns, fresult *out)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ns > 0) {
		dl.tv_sec += timeout_ns / 1000000000;
		dl.tv_nsec += timeout_ns % 1000000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
	}
	int done = 0;
	pthread_mutex_lock(&t->mu);
	for (;;) {
		if (t->seq_done >= seq) {
			done = 1;
			break;
		}
		if (timeout_ns <= 0)
			break;
		int rc = pthread_cond_timedwait(&t->done_cv, &t->mu, &dl);
		if (rc == ETIMEDOUT) {
			done = t->seq_done >= seq;
			break;
		}
	}
	// Only the result of the newest command is kept; a new command is
	// never posted before the Go side collected the previous one.
	if (done && t->res.seq == seq)
		*out = t->res;
	else if (done)
		done = -1;
	pthread_mutex_unlock(&t->mu);
	return done;
}

void faulter_quit_join(fthread *t)
{
	pthread_mutex_lock(&t->mu);
	t->quit = 1;
	pthread_cond_signal(&t->cmd_cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->pt, NULL);
}

void faulter_quit_detach(fthread *t)
{
	pthread_mutex_lock(&t->mu);
	t->quit = 1;
	pthread_cond_signal(&t->cmd_cv);
	pthread_mutex_unlock(&t->mu);
	pthread_detach(t->pt);
}

int faulter_handler_state(int sig)
{
	// Bit 0: our handler is installed for sig.
	// Bit 1: the handler we chain to takes siginfo (Go's does).
	struct sigaction cur;
	int st = 0;
	if (sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == handler)
		st |= 1;
	struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction != NULL)
		st |= 2;
	return st;
}
