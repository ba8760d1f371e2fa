// Small helpers for pagerd's C ABI tests: expectations, C threads that touch
// memory and catch SIGBUS with sigsetjmp/siglongjmp, and a pager fixture.
// Header-only (static functions); every test program includes it once.

#ifndef PAGERD_TESTS_TEST_UTIL_H
#define PAGERD_TESTS_TEST_UTIL_H

#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zircon/syscalls.h>

// ---- expectations ---------------------------------------------------------------

static int g_failures;
static int g_checks;
static const char* g_test = "";

#define CHECK(cond, ...)                                              \
  do {                                                                \
    g_checks++;                                                       \
    if (!(cond)) {                                                    \
      g_failures++;                                                   \
      fprintf(stderr, "FAIL %s (%s:%d): %s: ", g_test, __FILE__,      \
              __LINE__, #cond);                                       \
      fprintf(stderr, __VA_ARGS__);                                   \
      fputc('\n', stderr);                                            \
    }                                                                 \
  } while (0)

// EXPECT_STATUS(call, want): the call returns exactly want.
#define EXPECT_STATUS(call, want)                                                  \
  do {                                                                             \
    zx_status_t got_ = (call);                                                     \
    zx_status_t want_ = (want);                                                    \
    CHECK(got_ == want_, "%s: got %s (%d), want %s (%d)", #call,                   \
          zx_status_get_string(got_), got_, zx_status_get_string(want_), want_);   \
  } while (0)

#define EXPECT_OK(call) EXPECT_STATUS(call, ZX_OK)

// Fatal: the test cannot go on.
#define REQUIRE_OK(call)                                                            \
  do {                                                                              \
    zx_status_t got_ = (call);                                                      \
    if (got_ != ZX_OK) {                                                            \
      fprintf(stderr, "FATAL %s (%s:%d): %s: %s\n", g_test, __FILE__, __LINE__,     \
              #call, zx_status_get_string(got_));                                   \
      exit(1);                                                                      \
    }                                                                               \
  } while (0)

// begin starts a test: names it in failure messages and in the log.
static __attribute__((unused)) void begin(const char* name) {
  g_test = name;
  fprintf(stderr, "--- %s\n", name);
}

static __attribute__((unused)) void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FATAL %s: ", g_test);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

// ---- SIGBUS/SIGSEGV on C threads ----------------------------------------------------

// The fault a thread took while armed (set by the handler on that thread).
typedef struct {
  int signo;
  int code;
  uintptr_t addr;
} fault_t;

static __thread sigjmp_buf* volatile tl_jb __attribute__((tls_model("initial-exec")));
static __thread fault_t* volatile tl_fault __attribute__((tls_model("initial-exec")));
static struct sigaction g_prev_bus, g_prev_segv;
static volatile int g_handler_calls;

// A program's handler next to the Go runtime: catch what the armed thread
// takes, chain everything else to the previous handler (the Go runtime's when
// installed after the library loaded), as include/README.md recommends.
static void catch_fault(int sig, siginfo_t* si, void* uc) {
  __atomic_add_fetch(&g_handler_calls, 1, __ATOMIC_SEQ_CST);
  sigjmp_buf* jb = tl_jb;
  if (jb != NULL) {
    tl_jb = NULL;
    tl_fault->signo = sig;
    tl_fault->code = si->si_code;
    tl_fault->addr = (uintptr_t)si->si_addr;
    siglongjmp(*jb, 1);
  }
  struct sigaction* prev = sig == SIGBUS ? &g_prev_bus : &g_prev_segv;
  if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction != NULL) {
    prev->sa_sigaction(sig, si, uc);
    return;
  }
  if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL &&
      prev->sa_handler != SIG_IGN) {
    prev->sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);  // no previous handler: die of the signal
  raise(sig);
}

static __attribute__((unused)) void install_fault_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = catch_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, &g_prev_bus) != 0 || sigaction(SIGSEGV, &sa, &g_prev_segv) != 0) {
    die("sigaction");
  }
}

// A C thread that reads (or writes) one byte, armed to catch a fault.
typedef struct {
  volatile uint8_t* addr;
  int write;
  uint8_t value;        // written, or read
  int call_go_first;    // call into the library first (binds a Go M to the thread)
  int armed;            // catch the fault (else it takes the process's path)
  fault_t fault;        // what it caught
  pthread_t thread;
} toucher_t;

static void* toucher_main(void* arg) {
  toucher_t* t = (toucher_t*)arg;
  if (t->call_go_first) {
    zx_handle_t h = zx_vmar_root_self();  // any call into the Go side
    (void)h;
  }
  sigjmp_buf jb;
  if (t->armed) {
    tl_fault = &t->fault;
    if (sigsetjmp(jb, 1) != 0) {
      return NULL;  // faulted: t->fault is set
    }
    tl_jb = &jb;
  }
  if (t->write) {
    *t->addr = t->value;
  } else {
    t->value = *t->addr;
  }
  tl_jb = NULL;
  return NULL;
}

static __attribute__((unused)) void toucher_start(toucher_t* t) {
  if (pthread_create(&t->thread, NULL, toucher_main, t) != 0) {
    die("pthread_create");
  }
}

static __attribute__((unused)) void toucher_join(toucher_t* t) { pthread_join(t->thread, NULL); }

// ---- fixtures -------------------------------------------------------------------

typedef struct {
  zx_handle_t pager, port, vmo, aux;
  uint64_t key, size;
  zx_vaddr_t addr;  // mapping of vmo, read/write
} pager_fixture_t;

static __attribute__((unused)) void fixture_init(pager_fixture_t* f, uint64_t pages,
                                                 uint32_t options) {
  memset(f, 0, sizeof *f);
  f->key = 0x5eedULL;
  f->size = pages * ZX_PAGE_SIZE;
  REQUIRE_OK(zx_pager_create(0, &f->pager));
  REQUIRE_OK(zx_port_create(0, &f->port));
  REQUIRE_OK(zx_pager_create_vmo(f->pager, options, f->port, f->key, f->size, &f->vmo));
  REQUIRE_OK(zx_vmo_create(f->size, 0, &f->aux));
  REQUIRE_OK(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, f->vmo, 0,
                         f->size, &f->addr));
}

static __attribute__((unused)) void fixture_fini(pager_fixture_t* f) {
  if (f->addr != 0) {
    zx_vmar_unmap(zx_vmar_root_self(), f->addr, f->size);
  }
  zx_handle_close(f->vmo);
  zx_handle_close(f->aux);
  zx_handle_close(f->port);
  zx_handle_close(f->pager);
  memset(f, 0, sizeof *f);
}

// Waits up to 10 s for a READ packet; returns its page request.
static __attribute__((unused)) zx_packet_page_request_t expect_read(pager_fixture_t* f) {
  zx_port_packet_t pkt;
  memset(&pkt, 0, sizeof pkt);
  zx_status_t st = zx_port_wait(f->port, zx_deadline_after(ZX_SEC(10)), &pkt);
  if (st != ZX_OK) {
    die("zx_port_wait for a READ: %s", zx_status_get_string(st));
  }
  CHECK(pkt.key == f->key, "key %#llx", (unsigned long long)pkt.key);
  CHECK(pkt.type == ZX_PKT_TYPE_PAGE_REQUEST, "type %u", pkt.type);
  CHECK(pkt.status == ZX_OK, "status %d", pkt.status);
  CHECK(pkt.page_request.command == ZX_PAGER_VMO_READ, "command %u", pkt.page_request.command);
  CHECK(pkt.page_request.flags == 0, "flags %u", pkt.page_request.flags);
  return pkt.page_request;
}

// Supplies [off, off+len) of f->vmo with bytes (off + i) / page + seed.
static __attribute__((unused)) void supply_pattern(pager_fixture_t* f, uint64_t off, uint64_t len,
                                                   uint8_t seed) {
  uint8_t* buf = (uint8_t*)malloc(len);
  if (buf == NULL) {
    die("malloc");
  }
  for (uint64_t i = 0; i < len; i++) {
    buf[i] = (uint8_t)((off + i) / ZX_PAGE_SIZE + seed);
  }
  REQUIRE_OK(zx_vmo_write(f->aux, buf, 0, len));
  REQUIRE_OK(zx_pager_supply_pages(f->pager, f->vmo, off, len, f->aux, 0));
  free(buf);
}

#endif  // PAGERD_TESTS_TEST_UTIL_H
