// Child program of abi_test: a program that installs its SIGBUS handler
// BEFORE libzircon is loaded (it is not linked with it: it dlopen()s it), so
// the Go runtime starts in the library's constructor with the program's
// handler already in place, saves it, and forwards to it the SIGBUS that a C
// thread takes on a failed page. Both a fresh C thread and one that called
// into the library first are checked.
//
// Usage: sigbus_dlopen /path/to/libzircon.so   Exit 0 when the handler got
// both faults.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zircon/syscalls.h>

static struct {
  zx_status_t (*pager_create)(uint32_t, zx_handle_t*);
  zx_status_t (*port_create)(uint32_t, zx_handle_t*);
  zx_status_t (*pager_create_vmo)(zx_handle_t, uint32_t, zx_handle_t, uint64_t, uint64_t,
                                  zx_handle_t*);
  zx_handle_t (*vmar_root_self)(void);
  zx_status_t (*vmar_map)(zx_handle_t, zx_vm_option_t, size_t, zx_handle_t, uint64_t, size_t,
                          zx_vaddr_t*);
  zx_status_t (*port_wait)(zx_handle_t, zx_time_t, zx_port_packet_t*);
  zx_status_t (*pager_op_range)(zx_handle_t, uint32_t, zx_handle_t, uint64_t, uint64_t, uint64_t);
  zx_time_t (*deadline_after)(zx_duration_t);
  const char* (*status_get_string)(zx_status_t);
} zx;

static void fatal(const char* what) {
  fprintf(stderr, "sigbus_dlopen: %s\n", what);
  exit(1);
}

static __thread sigjmp_buf* volatile tl_jb __attribute__((tls_model("initial-exec")));
static volatile int g_caught;

static void on_fault(int sig, siginfo_t* si, void* uc) {
  (void)si, (void)uc;
  sigjmp_buf* jb = tl_jb;
  if (sig == SIGBUS && jb != NULL) {
    tl_jb = NULL;
    g_caught++;
    siglongjmp(*jb, 1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

typedef struct {
  volatile uint8_t* addr;
  int call_go_first;
  int faulted;
} touch_t;

static void* touch(void* arg) {
  touch_t* t = (touch_t*)arg;
  if (t->call_go_first) {
    (void)zx.vmar_root_self();
  }
  sigjmp_buf jb;
  if (sigsetjmp(jb, 1) != 0) {
    t->faulted = 1;
    return NULL;
  }
  tl_jb = &jb;
  (void)*t->addr;
  tl_jb = NULL;
  return NULL;
}

#define SYM(field, name)                     \
  do {                                       \
    *(void**)&zx.field = dlsym(lib, name);   \
    if (zx.field == NULL) fatal("dlsym " name); \
  } while (0)

int main(int argc, char** argv) {
  alarm(30);
  if (argc != 2) {
    fatal("usage: sigbus_dlopen LIBZIRCON");
  }
  struct sigaction sa, cur;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, NULL) != 0) {
    fatal("sigaction");
  }

  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "sigbus_dlopen: dlopen: %s\n", dlerror());
    return 1;
  }
  SYM(pager_create, "zx_pager_create");
  SYM(port_create, "zx_port_create");
  SYM(pager_create_vmo, "zx_pager_create_vmo");
  SYM(vmar_root_self, "zx_vmar_root_self");
  SYM(vmar_map, "zx_vmar_map");
  SYM(port_wait, "zx_port_wait");
  SYM(pager_op_range, "zx_pager_op_range");
  SYM(deadline_after, "zx_deadline_after");
  SYM(status_get_string, "zx_status_get_string");

  // The Go runtime replaced our handler with its own (and saved ours).
  sigaction(SIGBUS, NULL, &cur);
  if (cur.sa_sigaction == on_fault) {
    fatal("the library did not install its SIGBUS handler: nothing is being forwarded");
  }

  zx_handle_t pager, port, vmo;
  zx_vaddr_t addr;
  if (zx.pager_create(0, &pager) != ZX_OK || zx.port_create(0, &port) != ZX_OK ||
      zx.pager_create_vmo(pager, 0, port, 1, 2 * ZX_PAGE_SIZE, &vmo) != ZX_OK ||
      zx.vmar_map(zx.vmar_root_self(), ZX_VM_PERM_READ, 0, vmo, 0, 2 * ZX_PAGE_SIZE, &addr) !=
          ZX_OK) {
    fatal("setup");
  }
  for (int go = 0; go < 2; go++) {
    touch_t t = {(volatile uint8_t*)(addr + (uint64_t)go * ZX_PAGE_SIZE), go, 0};
    pthread_t th;
    pthread_create(&th, NULL, touch, &t);
    zx_port_packet_t pkt;
    zx_status_t st = zx.port_wait(port, zx.deadline_after(ZX_SEC(10)), &pkt);
    if (st != ZX_OK || pkt.page_request.command != ZX_PAGER_VMO_READ) {
      fprintf(stderr, "sigbus_dlopen: port_wait: %s\n", zx.status_get_string(st));
      return 1;
    }
    st = zx.pager_op_range(pager, ZX_PAGER_OP_FAIL, vmo, pkt.page_request.offset,
                           pkt.page_request.length, (uint64_t)(int64_t)ZX_ERR_IO);
    if (st != ZX_OK) {
      fatal("op_range");
    }
    pthread_join(th, NULL);
    if (!t.faulted) {
      fprintf(stderr, "sigbus_dlopen: thread (go=%d) did not fault\n", go);
      return 1;
    }
  }
  if (g_caught != 2) {
    fprintf(stderr, "sigbus_dlopen: handler caught %d faults, want 2\n", g_caught);
    return 1;
  }
  return 0;
}
