// Child program of abi_test (started with fork + execv): a mapped access to a
// page the pager failed, or to a detached VMO, from a C thread.
//
//   sigbus_child fail-fresh|fail-go|detach-fresh|detach-go
//       No signal handler: the process must die of SIGBUS. "fresh": the
//       thread never called into the library; "go": it did first (the Go
//       runtime then keeps an M bound to it). Exit 3 if it survives.
//   sigbus_child handler-after
//       A SIGBUS handler installed by main (after the library loaded, as in
//       any program linked with -lzircon) catches the fault: exit 0.

#include "test_util.h"

static pager_fixture_t f;

static void fail_when_asked(void) {
  zx_packet_page_request_t req = expect_read(&f);
  REQUIRE_OK(zx_pager_op_range(f.pager, ZX_PAGER_OP_FAIL, f.vmo, req.offset, req.length,
                               (uint64_t)(int64_t)ZX_ERR_IO_DATA_INTEGRITY));
}

int main(int argc, char** argv) {
  g_test = "sigbus_child";
  alarm(30);
  if (argc != 2) {
    die("usage: sigbus_child MODE");
  }
  const char* mode = argv[1];
  fixture_init(&f, 2, 0);
  toucher_t t = {.addr = (volatile uint8_t*)(f.addr + ZX_PAGE_SIZE), .armed = 0};
  if (strcmp(mode, "handler-after") == 0) {
    install_fault_handler();
    t.armed = 1;
    toucher_start(&t);
    fail_when_asked();
    toucher_join(&t);
    if (t.fault.signo != SIGBUS) {
      fprintf(stderr, "sigbus_child: handler got signal %d\n", t.fault.signo);
      return 4;
    }
    return 0;
  }
  t.call_go_first = strstr(mode, "-go") != NULL;
  if (strncmp(mode, "detach", 6) == 0) {
    REQUIRE_OK(zx_pager_detach_vmo(f.pager, f.vmo));
    toucher_start(&t);
  } else if (strncmp(mode, "fail", 4) == 0) {
    toucher_start(&t);
    fail_when_asked();
  } else {
    die("unknown mode %s", mode);
  }
  toucher_join(&t);  // never returns: the process dies of SIGBUS
  fprintf(stderr, "sigbus_child %s: survived the access\n", mode);
  return 3;
}
