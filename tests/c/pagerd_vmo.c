// VMOs of the pagerd service through Zircon's API: pagerd_vmo_open gives a
// zx_handle_t, and zx_vmo_read/zx_vmo_write, zx_vmar_map/zx_vmar_unmap and
// plain loads and stores through the mapping work on it, served by a pagerd
// in another process. scripts/cabi-test.sh starts that pagerd on a directory
// store holding "data" and "ro" (the same 10 pages + 123 bytes) and runs
//   pagerd_vmo SOCKET STORE_DIR PAGERD_PID
// The last test kills pagerd (SIGKILL) and checks that nothing reads as
// zeros afterwards.

#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pagerd/pagerd.h>
#include <time.h>
#include <zircon/process.h>

#define PAGE 4096u
#define DATA_SIZE (10u * PAGE + 123u)

static const char* g_sock;
static const char* g_dir;
static pid_t g_pagerd;
static uint8_t g_data[DATA_SIZE];

static void read_file(const char* name, uint8_t* buf, size_t n, off_t off) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    die("open %s: %s", path, strerror(errno));
  }
  ssize_t got = pread(fd, buf, n, off);
  close(fd);
  if (got != (ssize_t)n) {
    die("pread %s: %zd of %zu bytes", path, got, n);
  }
}

// touch reads (or writes) one byte from a C thread armed to catch a fault;
// returns the signal it took (0 if none).
static int touch(volatile uint8_t* addr, int write, uint8_t* value) {
  toucher_t t;
  memset(&t, 0, sizeof t);
  t.addr = addr;
  t.write = write;
  t.value = value ? *value : 0;
  t.armed = 1;
  toucher_start(&t);
  toucher_join(&t);
  if (value) {
    *value = t.value;
  }
  return t.fault.signo;
}

static void test_read_write(void) {
  begin("read, write, map, split, sync");
  zx_handle_t vmo;
  REQUIRE_OK(pagerd_vmo_open(g_sock, "data", 0, 0, &vmo));
  uint64_t size = 0;
  EXPECT_OK(zx_vmo_get_size(vmo, &size));
  CHECK(size == 11 * PAGE, "size %llu", (unsigned long long)size);

  static uint8_t buf[3 * PAGE + 17];
  EXPECT_OK(zx_vmo_read(vmo, buf, 2 * PAGE + 5, sizeof buf));
  CHECK(memcmp(buf, g_data + 2 * PAGE + 5, sizeof buf) == 0, "zx_vmo_read: bytes differ");

  zx_vaddr_t addr = 0;
  REQUIRE_OK(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, vmo, 0,
                         11 * PAGE, &addr));
  uint8_t* p = (uint8_t*)addr;
  // Loads by this thread and by another one fault and are served by pagerd.
  CHECK(memcmp(p + 8 * PAGE, g_data + 8 * PAGE, PAGE) == 0, "page 8 through the mapping");
  uint8_t v = 0;
  CHECK(touch(p + 4 * PAGE + 9, 0, &v) == 0 && v == g_data[4 * PAGE + 9], "page 4 from a thread");
  // A store through the mapping is seen by zx_vmo_read, and sync writes it back.
  static const char msg[] = "stored through a mapping from C";
  memcpy(p + 6 * PAGE + 100, msg, sizeof msg);
  char back[sizeof msg];
  EXPECT_OK(zx_vmo_read(vmo, back, 6 * PAGE + 100, sizeof back));
  CHECK(memcmp(back, msg, sizeof msg) == 0, "zx_vmo_read after a store: %.31s", back);
  static const char msg2[] = "and through zx_vmo_write";
  EXPECT_OK(zx_vmo_write(vmo, msg2, 9 * PAGE - 3, sizeof msg2));
  CHECK(memcmp(p + 9 * PAGE - 3, msg2, sizeof msg2) == 0, "a zx_vmo_write seen through the mapping");
  uint64_t written = 0;
  EXPECT_OK(pagerd_vmo_sync(vmo, &written));
  CHECK(written >= 2 * PAGE, "sync wrote %llu bytes", (unsigned long long)written);
  char disk[sizeof msg];
  read_file("data", (uint8_t*)disk, sizeof disk, 6 * PAGE + 100);
  CHECK(memcmp(disk, msg, sizeof msg) == 0, "the store after sync");

  // Split: unmap pages [2, 4); the pieces stay served, the hole faults.
  EXPECT_OK(zx_vmar_unmap(zx_vmar_root_self(), addr + 2 * PAGE, 2 * PAGE));
  CHECK(touch(p + 3 * PAGE, 0, NULL) == SIGSEGV, "the hole");
  CHECK(memcmp(p + PAGE, g_data + PAGE, PAGE) == 0, "page 1 after the split");
  CHECK(memcmp(p + 5 * PAGE, g_data + 5 * PAGE, PAGE) == 0, "page 5 after the split");
  CHECK(memcmp(p + 10 * PAGE, g_data + 10 * PAGE, 123) == 0, "the last page after the split");
  EXPECT_OK(zx_vmar_unmap(zx_vmar_root_self(), addr, 2 * PAGE));
  EXPECT_OK(zx_vmar_unmap(zx_vmar_root_self(), addr + 4 * PAGE, 7 * PAGE));
  EXPECT_OK(zx_handle_close(vmo));
}

static void test_read_only(void) {
  begin("read-only");
  zx_handle_t vmo;
  REQUIRE_OK(pagerd_vmo_open(g_sock, "ro", PAGERD_VMO_READ_ONLY, 0, &vmo));
  zx_info_handle_basic_t info;
  EXPECT_OK(zx_object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &info, sizeof info, NULL, NULL));
  CHECK((info.rights & ZX_RIGHT_WRITE) == 0 && (info.rights & ZX_RIGHT_READ) != 0,
        "rights %#x", info.rights);
  EXPECT_STATUS(zx_vmo_write(vmo, "x", 0, 1), ZX_ERR_ACCESS_DENIED);
  zx_vaddr_t addr = 0;
  EXPECT_STATUS(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, vmo, 0,
                            PAGE, &addr),
                ZX_ERR_ACCESS_DENIED);
  REQUIRE_OK(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, vmo, 0, 11 * PAGE, &addr));
  CHECK(memcmp((uint8_t*)addr + 7 * PAGE, g_data + 7 * PAGE, PAGE) == 0, "page 7");
  uint8_t v = 1;
  CHECK(touch((uint8_t*)addr, 1, &v) == SIGSEGV, "a store to a read-only mapping");
  EXPECT_OK(zx_vmar_unmap(zx_vmar_root_self(), addr, 11 * PAGE));
  EXPECT_OK(zx_handle_close(vmo));
}

static void test_errors(void) {
  begin("bad inputs");
  zx_handle_t vmo = ZX_HANDLE_INVALID;
  EXPECT_STATUS(pagerd_vmo_open(g_sock, NULL, 0, 0, &vmo), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(pagerd_vmo_open(g_sock, (const char*)8, 0, 0, &vmo), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(pagerd_vmo_open((const char*)8, "data", 0, 0, &vmo), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(pagerd_vmo_open(g_sock, "data", 0, 0, NULL), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(pagerd_vmo_open(g_sock, "data", 0, 0, (zx_handle_t*)8), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(pagerd_vmo_open(g_sock, "data", 0x100, 0, &vmo), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(pagerd_vmo_open(g_sock, "data", 0, PAGE, &vmo), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(pagerd_vmo_open(g_sock, "a/b", 0, 0, &vmo), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(pagerd_vmo_open(g_sock, "missing", 0, 0, &vmo), ZX_ERR_NOT_FOUND);
  EXPECT_STATUS(pagerd_vmo_open("/nonexistent/pagerd.sock", "data", 0, 0, &vmo),
                ZX_ERR_UNAVAILABLE);
  char longpath[300];
  memset(longpath, 'x', sizeof longpath - 1);
  longpath[0] = '/';
  longpath[sizeof longpath - 1] = '\0';
  EXPECT_STATUS(pagerd_vmo_open(longpath, "data", 0, 0, &vmo), ZX_ERR_INVALID_ARGS);
  char longname[300];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  EXPECT_STATUS(pagerd_vmo_open(g_sock, longname, 0, 0, &vmo), ZX_ERR_INVALID_ARGS);
  CHECK(vmo == ZX_HANDLE_INVALID, "a failed open wrote a handle");

  EXPECT_STATUS(pagerd_vmo_sync(0x12345, NULL), ZX_ERR_BAD_HANDLE);
  zx_handle_t plain;
  REQUIRE_OK(zx_vmo_create(PAGE, 0, &plain));
  EXPECT_STATUS(pagerd_vmo_sync(plain, NULL), ZX_ERR_NOT_SUPPORTED);
  EXPECT_OK(zx_handle_close(plain));

  // Create makes the object with zeros; written pages reach the store.
  REQUIRE_OK(pagerd_vmo_open(g_sock, "created", PAGERD_VMO_CREATE, 3 * PAGE, &vmo));
  uint8_t z[64];
  memset(z, 0xff, sizeof z);
  EXPECT_OK(zx_vmo_read(vmo, z, 2 * PAGE, sizeof z));
  static const uint8_t zeros[64];
  CHECK(memcmp(z, zeros, sizeof z) == 0, "a created VMO reads zeros");
  EXPECT_OK(zx_vmo_write(vmo, "new", PAGE, 3));
  EXPECT_STATUS(pagerd_vmo_sync(vmo, (uint64_t*)8), ZX_ERR_INVALID_ARGS);
  EXPECT_OK(pagerd_vmo_sync(vmo, NULL));
  char disk[3];
  read_file("created", (uint8_t*)disk, 3, PAGE);
  CHECK(memcmp(disk, "new", 3) == 0, "the created object after sync");
  EXPECT_OK(zx_handle_close(vmo));
}

static zx_time_t now(void) { return zx_clock_get_monotonic(); }

// pagerd killed: supplied pages stay, the others fail — SIGBUS through a
// mapping, an error from zx_vmo_read — and never read as zeros.
static void test_pagerd_death(void) {
  begin("pagerd killed");
  zx_handle_t vmo;
  REQUIRE_OK(pagerd_vmo_open(g_sock, "ro", PAGERD_VMO_READ_ONLY, 0, &vmo));
  zx_vaddr_t addr = 0;
  REQUIRE_OK(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, vmo, 0, 11 * PAGE, &addr));
  uint8_t* p = (uint8_t*)addr;
  CHECK(memcmp(p, g_data, PAGE) == 0, "page 0 before");
  uint8_t b;
  EXPECT_OK(zx_vmo_read(vmo, &b, 1, 1));
  if (kill(g_pagerd, SIGKILL) != 0) {
    die("kill %d: %s", (int)g_pagerd, strerror(errno));
  }
  zx_status_t s = ZX_OK;
  zx_time_t deadline = now() + ZX_SEC(20);
  uint8_t buf[8];
  while (now() < deadline) {
    s = zx_vmo_read(vmo, buf, 5 * PAGE, sizeof buf);
    if (s != ZX_OK) {
      break;
    }
    CHECK(memcmp(buf, g_data + 5 * PAGE, sizeof buf) == 0, "page 5 read as other bytes");
    zx_nanosleep(zx_deadline_after(ZX_MSEC(10)));
  }
  CHECK(s == ZX_ERR_IO || s == ZX_ERR_PEER_CLOSED, "zx_vmo_read after pagerd died: %s",
        zx_status_get_string(s));
  uint8_t v = 0;
  CHECK(touch(p + 9 * PAGE, 0, &v) == SIGBUS, "an unsupplied page through the mapping");
  CHECK(touch(p + 1, 0, &v) == 0 && v == g_data[1], "a supplied page after pagerd died");
  zx_vmar_unmap(zx_vmar_root_self(), addr, 11 * PAGE);
  zx_handle_close(vmo);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s SOCKET STORE_DIR PAGERD_PID\n", argv[0]);
    return 2;
  }
  g_sock = argv[1];
  g_dir = argv[2];
  g_pagerd = (pid_t)atoi(argv[3]);
  read_file("data", g_data, DATA_SIZE, 0);
  (void)zx_vmar_root_self();  // the library (and the Go runtime) first,
  install_fault_handler();    // then our handler, chaining to Go's
  test_read_write();
  test_read_only();
  test_errors();
  test_pagerd_death();
  fprintf(stderr, "pagerd_vmo: %d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
