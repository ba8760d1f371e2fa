// pagerd C ABI test suite: libzircon used from a plain C11 program.
//
//   - the layouts and values of the headers (abi_layout.h, at compile time);
//   - status codes in Zircon's check order for a representative set of calls;
//   - bad pointers (NULL, unmapped, PROT_NONE, read-only for outputs, kernel
//     addresses) give ZX_ERR_INVALID_ARGS where Zircon copies, never a crash;
//   - C threads touching a mapped pager VMO are served end to end by a C
//     pager thread answering from its port;
//   - a mapped access to a failed (ZX_PAGER_OP_FAIL) or detached page raises
//     SIGBUS in the accessing thread, caught here with sigsetjmp/siglongjmp by
//     a handler installed after the library loaded;
//   - dirty tracking end to end: a C thread's write to a ZX_VMO_TRAP_DIRTY
//     VMO is a ZX_PAGER_VMO_DIRTY packet, ZX_PAGER_OP_DIRTY lets it go on,
//     zx_pager_query_dirty_ranges/zx_pager_query_vmo_stats report it;
//   - in children started with fork+exec: SIGBUS kills a program that has no
//     handler (fresh C threads and threads that called into Go), and reaches
//     a handler installed before the library was loaded (dlopen);
//   - the library keeps working after the process forks.
//
// Usage: abi_test [helper-dir [libzircon.so]]: helper-dir holds sigbus_child
// (sigbus_child_static for abi_test_static) and sigbus_dlopen, default this
// program's directory; the library for the dlopen case defaults to
// helper-dir/libzircon.so or helper-dir/../libzircon.so. Exit 0 if all pass.

#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "abi_layout.h"

#define PAGE ((uint64_t)ZX_PAGE_SIZE)

extern char** environ;

// Handle values that are never valid: handles are allocated upwards from 7.
#define BAD_H ((zx_handle_t)0x7ffffff3)
#define BAD_H2 ((zx_handle_t)0x7ffffff7)
#define BAD_H3 ((zx_handle_t)0x7ffffffb)

static char g_helper_dir[PATH_MAX];
static const char* g_child = "sigbus_child";  // sigbus_child_static for abi_test_static
static const char* g_lib_path;  // libzircon.so for the dlopen child

// ---- bad pointers -------------------------------------------------------------------

static void* g_none;      // a PROT_NONE page
static void* g_ro;        // a read-only page
// An address nothing maps: below where PIE programs, their heap and mmap
// live, above mmap_min_addr. (An address from munmap can be reused by the
// library's own mappings later.)
static void* const g_unmapped = (void*)0x100000;

#define N_BAD_IN 5
static void* bad_in[N_BAD_IN];    // unreadable: NULL, low, PROT_NONE, unmapped, kernel
#define N_BAD_OUT 6
static void* bad_out[N_BAD_OUT];  // unwritable: the same plus read-only

// A pointer to a local of a function that has returned: stack memory below
// the caller's frame, where the library's own frames live during a call.
static void* volatile g_dangling;
static __attribute__((noinline)) void make_dangling(void) {
  volatile uint8_t local[256];
  local[0] = 1;
  uintptr_t a = (uintptr_t)&local[64];
  __asm__ volatile("" : "+r"(a));  // hide it from -Wdangling-pointer: the point of the test
  g_dangling = (void*)a;
}

static void setup_bad_pointers(void) {
  g_none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  g_ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g_none == MAP_FAILED || g_ro == MAP_FAILED) {
    die("mmap");
  }
  if (msync(g_unmapped, PAGE, MS_ASYNC) == 0 || errno != ENOMEM) {
    die("%p is mapped", g_unmapped);
  }
  void* list[] = {NULL, (void*)0x10, g_none, g_unmapped, (void*)0xffff800000001000ULL, g_ro};
  memcpy(bad_in, list, sizeof bad_in);
  memcpy(bad_out, list, sizeof bad_out);
}

// ---- status strings, page size, time ---------------------------------------------------

static void test_system_and_time(void) {
  begin("system_and_time");
  CHECK(zx_system_get_page_size() == 4096, "page size %u", zx_system_get_page_size());
  CHECK(strcmp(zx_status_get_string(ZX_OK), "ZX_OK") == 0, "ZX_OK");
  CHECK(strcmp(zx_status_get_string(ZX_ERR_BAD_HANDLE), "ZX_ERR_BAD_HANDLE") == 0, "bad handle");
  CHECK(strcmp(zx_status_get_string(ZX_ERR_IO_DATA_INTEGRITY), "ZX_ERR_IO_DATA_INTEGRITY") == 0,
        "io data integrity");
  CHECK(strcmp(zx_status_get_string(ZX_ERR_INTERNAL_INTR_KILLED), "ZX_ERR_INTERNAL_INTR_KILLED") ==
            0,
        "intr killed");
  CHECK(strcmp(zx_status_get_string(-9999), "(UNKNOWN)") == 0, "unknown");
  CHECK(strcmp(_zx_status_get_string(ZX_ERR_TIMED_OUT), "ZX_ERR_TIMED_OUT") == 0, "_zx_ alias");

  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  zx_time_t t0 = zx_clock_get_monotonic();
  zx_time_t c = zx_time_from_timespec(ts);
  CHECK(t0 >= c && t0 - c < ZX_SEC(1), "zx_clock_get_monotonic is CLOCK_MONOTONIC: %lld vs %lld",
        (long long)t0, (long long)c);
  CHECK(zx_deadline_after(ZX_TIME_INFINITE) == ZX_TIME_INFINITE, "saturates up");
  CHECK(zx_deadline_after(ZX_TIME_INFINITE_PAST) == ZX_TIME_INFINITE_PAST ||
            zx_deadline_after(ZX_TIME_INFINITE_PAST) < 0,
        "saturates down");
  zx_time_t d = zx_deadline_after(ZX_MSEC(5));
  CHECK(d >= t0 + ZX_MSEC(5), "deadline_after adds");
  EXPECT_OK(zx_nanosleep(d));
  CHECK(zx_clock_get_monotonic() >= d, "nanosleep sleeps until the deadline");
  zx_time_t before = zx_clock_get_monotonic();
  EXPECT_OK(zx_nanosleep(0));
  EXPECT_OK(zx_nanosleep(ZX_TIME_INFINITE_PAST));
  CHECK(zx_clock_get_monotonic() - before < ZX_MSEC(100), "a past deadline returns at once");
}

// ---- handles ---------------------------------------------------------------------

static void test_handles(void) {
  begin("handles");
  zx_handle_t vmo, dup, rep, pager;
  EXPECT_OK(zx_handle_close(ZX_HANDLE_INVALID));
  EXPECT_STATUS(zx_handle_close(BAD_H), ZX_ERR_BAD_HANDLE);

  REQUIRE_OK(zx_vmo_create(PAGE, 0, &vmo));
  CHECK((vmo & ZX_HANDLE_FIXED_BITS_MASK) == ZX_HANDLE_FIXED_BITS_MASK, "low bits of %#x", vmo);
  EXPECT_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
  CHECK(dup != vmo && dup != ZX_HANDLE_INVALID, "new handle");
  EXPECT_STATUS(zx_handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS | ZX_RIGHT_RESIZE, &rep),
                ZX_ERR_INVALID_ARGS);  // more rights
  EXPECT_STATUS(zx_handle_duplicate(BAD_H, ZX_RIGHT_SAME_RIGHTS, &rep), ZX_ERR_BAD_HANDLE);

  // replace: the old handle is gone afterwards, the new one has the rights asked.
  EXPECT_OK(zx_handle_replace(dup, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE, &rep));
  EXPECT_STATUS(zx_handle_close(dup), ZX_ERR_BAD_HANDLE);
  zx_info_handle_basic_t info;
  EXPECT_OK(zx_object_get_info(rep, ZX_INFO_HANDLE_BASIC, &info, sizeof info, NULL, NULL));
  CHECK(info.rights == (ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE), "rights %#x", info.rights);
  CHECK(info.type == ZX_OBJ_TYPE_VMO, "type %u", info.type);
  // Replacing with more rights fails and still consumes the handle.
  zx_handle_t rep2 = 0;
  EXPECT_STATUS(zx_handle_replace(rep, ZX_RIGHT_WRITE, &rep2), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_handle_close(rep), ZX_ERR_BAD_HANDLE);

  // A pager handle has no DUPLICATE right.
  REQUIRE_OK(zx_pager_create(0, &pager));
  EXPECT_STATUS(zx_handle_duplicate(pager, ZX_RIGHT_SAME_RIGHTS, &dup), ZX_ERR_ACCESS_DENIED);
  EXPECT_OK(zx_object_get_info(pager, ZX_INFO_HANDLE_BASIC, &info, sizeof info, NULL, NULL));
  CHECK(info.rights == ZX_DEFAULT_PAGER_RIGHTS && info.type == ZX_OBJ_TYPE_PAGER,
        "pager rights %#x type %u", info.rights, info.type);
  EXPECT_OK(zx_handle_close(pager));
  EXPECT_OK(zx_handle_close(vmo));
}

// ---- ports -----------------------------------------------------------------------

static void test_ports(void) {
  begin("ports");
  zx_handle_t port, vmo;
  EXPECT_STATUS(zx_port_create(2, &port), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_port_create(ZX_PORT_BIND_TO_INTERRUPT, &port), ZX_ERR_NOT_SUPPORTED);
  REQUIRE_OK(zx_port_create(0, &port));
  zx_info_handle_basic_t info;
  EXPECT_OK(zx_object_get_info(port, ZX_INFO_HANDLE_BASIC, &info, sizeof info, NULL, NULL));
  CHECK(info.rights == ZX_DEFAULT_PORT_RIGHTS && info.type == ZX_OBJ_TYPE_PORT, "rights %#x",
        info.rights);

  zx_port_packet_t pkt, out;
  memset(&pkt, 0, sizeof pkt);
  pkt.key = 42;
  pkt.type = ZX_PKT_TYPE_PAGE_REQUEST;  // forced to USER
  pkt.status = ZX_ERR_IO;
  pkt.user.u64[0] = 0x1111222233334444ULL;
  pkt.user.u64[3] = 0x5555666677778888ULL;
  EXPECT_OK(zx_port_queue(port, &pkt));
  memset(&out, 0xcc, sizeof out);
  EXPECT_OK(zx_port_wait(port, ZX_TIME_INFINITE_PAST, &out));
  CHECK(out.key == 42 && out.type == ZX_PKT_TYPE_USER && out.status == ZX_ERR_IO,
        "key %llu type %u status %d", (unsigned long long)out.key, out.type, out.status);
  CHECK(out.user.u64[0] == pkt.user.u64[0] && out.user.u64[3] == pkt.user.u64[3], "payload");
  EXPECT_STATUS(zx_port_wait(port, 0, &out), ZX_ERR_TIMED_OUT);
  zx_time_t t0 = zx_clock_get_monotonic();
  EXPECT_STATUS(zx_port_wait(port, zx_deadline_after(ZX_MSEC(20)), &out), ZX_ERR_TIMED_OUT);
  CHECK(zx_clock_get_monotonic() - t0 >= ZX_MSEC(20), "waited until the deadline");

  // Handle checks: BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED (READ to wait, WRITE to queue).
  REQUIRE_OK(zx_vmo_create(PAGE, 0, &vmo));
  EXPECT_STATUS(zx_port_wait(BAD_H, 0, &out), ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_port_wait(vmo, 0, &out), ZX_ERR_WRONG_TYPE);
  EXPECT_STATUS(zx_port_queue(vmo, &pkt), ZX_ERR_WRONG_TYPE);
  zx_handle_t ro, wo;
  REQUIRE_OK(zx_handle_duplicate(port, ZX_RIGHT_READ, &ro));
  REQUIRE_OK(zx_handle_duplicate(port, ZX_RIGHT_WRITE, &wo));
  EXPECT_STATUS(zx_port_queue(ro, &pkt), ZX_ERR_ACCESS_DENIED);
  EXPECT_STATUS(zx_port_wait(wo, 0, &out), ZX_ERR_ACCESS_DENIED);
  // Ports are not waitable.
  EXPECT_STATUS(zx_object_wait_one(port, ZX_USER_SIGNAL_0, 0, NULL), ZX_ERR_ACCESS_DENIED);

  // Bad packet pointers: INVALID_ARGS after the handle checks; a wait with a
  // bad pointer neither blocks nor loses the queued packet.
  EXPECT_OK(zx_port_queue(port, &pkt));
  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_port_wait(port, ZX_TIME_INFINITE, (zx_port_packet_t*)bad_out[i]),
                  ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_port_wait(BAD_H, 0, (zx_port_packet_t*)bad_out[i]), ZX_ERR_BAD_HANDLE);
    EXPECT_STATUS(zx_port_wait(wo, 0, (zx_port_packet_t*)bad_out[i]), ZX_ERR_ACCESS_DENIED);
  }
  make_dangling();
  EXPECT_STATUS(zx_port_wait(port, 0, (zx_port_packet_t*)g_dangling), ZX_ERR_INVALID_ARGS);
  make_dangling();
  EXPECT_STATUS(zx_port_queue(port, (zx_port_packet_t*)g_dangling), ZX_ERR_INVALID_ARGS);
  EXPECT_OK(zx_port_wait(port, 0, &out));
  CHECK(out.key == 42, "the packet survived the bad waits");
  for (int i = 0; i < N_BAD_IN; i++) {
    EXPECT_STATUS(zx_port_queue(port, (const zx_port_packet_t*)bad_in[i]), ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_port_queue(BAD_H, (const zx_port_packet_t*)bad_in[i]), ZX_ERR_BAD_HANDLE);
    EXPECT_STATUS(zx_port_queue(ro, (const zx_port_packet_t*)bad_in[i]), ZX_ERR_ACCESS_DENIED);
  }
  EXPECT_OK(zx_port_queue(port, (const zx_port_packet_t*)g_ro));  // readable is enough
  EXPECT_OK(zx_port_wait(port, 0, &out));
  EXPECT_STATUS(zx_port_wait(port, 0, &out), ZX_ERR_TIMED_OUT);

  zx_handle_close(ro);
  zx_handle_close(wo);
  zx_handle_close(vmo);
  zx_handle_close(port);
}

// ---- VMOs ------------------------------------------------------------------------

static void test_vmos(void) {
  begin("vmos");
  zx_handle_t vmo, rsz, port, ro;
  EXPECT_STATUS(zx_vmo_create(PAGE, ZX_VMO_TRAP_DIRTY, &vmo), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_create(PAGE, 0x80000000u, &vmo), ZX_ERR_INVALID_ARGS);
  REQUIRE_OK(zx_vmo_create(5000, 0, &vmo));
  REQUIRE_OK(zx_port_create(0, &port));

  uint64_t size = 0;
  EXPECT_OK(zx_vmo_get_size(vmo, &size));
  CHECK(size == 2 * PAGE, "size rounded up: %llu", (unsigned long long)size);
  uint64_t content = 0;
  EXPECT_OK(zx_object_get_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &content, sizeof content));
  CHECK(content == 5000, "content size %llu", (unsigned long long)content);

  char msg[] = "pagerd";
  char back[sizeof msg];
  EXPECT_OK(zx_vmo_write(vmo, msg, 4090, sizeof msg));  // across the page boundary
  memset(back, 0, sizeof back);
  EXPECT_OK(zx_vmo_read(vmo, back, 4090, sizeof back));
  CHECK(memcmp(msg, back, sizeof msg) == 0, "read back '%s'", back);
  EXPECT_OK(zx_vmo_read(vmo, NULL, 0, 0));  // empty
  EXPECT_STATUS(zx_vmo_read(vmo, back, 2 * PAGE - 2, 4), ZX_ERR_OUT_OF_RANGE);
  EXPECT_STATUS(zx_vmo_write(vmo, back, UINT64_MAX - 1, 4), ZX_ERR_OUT_OF_RANGE);
  EXPECT_STATUS(zx_vmo_read(BAD_H, back, 0, 4), ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_vmo_read(port, back, 0, 4), ZX_ERR_WRONG_TYPE);
  REQUIRE_OK(zx_handle_duplicate(vmo, ZX_RIGHT_READ, &ro));
  EXPECT_STATUS(zx_vmo_write(ro, back, 0, 4), ZX_ERR_ACCESS_DENIED);
  EXPECT_OK(zx_vmo_read(ro, back, 0, 4));

  // A dangling pointer into this thread's dead stack.
  make_dangling();
  EXPECT_STATUS(zx_vmo_read(vmo, g_dangling, 0, 64), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_write(vmo, g_dangling, 0, 64), ZX_ERR_INVALID_ARGS);
  make_dangling();
  EXPECT_STATUS(zx_vmo_get_size(vmo, (uint64_t*)g_dangling), ZX_ERR_INVALID_ARGS);
  make_dangling();
  EXPECT_STATUS(zx_vmo_create(PAGE, 0, (zx_handle_t*)g_dangling), ZX_ERR_INVALID_ARGS);

  // Bad buffers: INVALID_ARGS, after the handle, right and range checks.
  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_vmo_read(vmo, bad_out[i], 0, 16), ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_vmo_read(BAD_H, bad_out[i], 0, 16), ZX_ERR_BAD_HANDLE);
    EXPECT_STATUS(zx_vmo_read(vmo, bad_out[i], 2 * PAGE, 16), ZX_ERR_OUT_OF_RANGE);
  }
  for (int i = 0; i < N_BAD_IN; i++) {
    EXPECT_STATUS(zx_vmo_write(vmo, bad_in[i], 0, 16), ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_vmo_write(ro, bad_in[i], 0, 16), ZX_ERR_ACCESS_DENIED);
  }
  EXPECT_OK(zx_vmo_write(vmo, g_ro, 0, 16));  // a read-only source is fine
  // A buffer that is good at the start and bad further on.
  uint8_t* two = (uint8_t*)mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                -1, 0);
  mprotect(two + PAGE, PAGE, PROT_NONE);
  EXPECT_STATUS(zx_vmo_read(vmo, two + PAGE - 8, 0, 16), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_write(vmo, two + PAGE - 8, 0, 16), ZX_ERR_INVALID_ARGS);
  EXPECT_OK(zx_vmo_read(vmo, two + PAGE - 8, 0, 8));
  munmap(two, 2 * PAGE);

  // Sizes and the get-size output pointer.
  EXPECT_STATUS(zx_vmo_set_size(vmo, 3 * PAGE), ZX_ERR_UNAVAILABLE);
  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_vmo_get_size(vmo, (uint64_t*)bad_out[i]), ZX_ERR_INVALID_ARGS);
  }
  REQUIRE_OK(zx_vmo_create(PAGE, ZX_VMO_RESIZABLE, &rsz));
  zx_info_handle_basic_t info;
  EXPECT_OK(zx_object_get_info(rsz, ZX_INFO_HANDLE_BASIC, &info, sizeof info, NULL, NULL));
  CHECK(info.rights == (ZX_DEFAULT_VMO_RIGHTS | ZX_RIGHT_RESIZE), "rights %#x", info.rights);
  EXPECT_OK(zx_vmo_set_size(rsz, 3 * PAGE + 1));
  EXPECT_OK(zx_vmo_get_size(rsz, &size));
  CHECK(size == 4 * PAGE, "resized to %llu", (unsigned long long)size);

  // op_range: COMMIT, unknown op, DECOMMIT, LOCK only on discardable VMOs.
  EXPECT_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 2 * PAGE, NULL, 0));
  EXPECT_STATUS(zx_vmo_op_range(vmo, 99, 0, PAGE, NULL, 0), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_op_range(ro, ZX_VMO_OP_COMMIT, 0, PAGE, NULL, 0), ZX_ERR_ACCESS_DENIED);
  EXPECT_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 2 * PAGE, NULL, 0));
  EXPECT_STATUS(zx_vmo_op_range(vmo, ZX_VMO_OP_LOCK, 0, 2 * PAGE, NULL, 0), ZX_ERR_NOT_SUPPORTED);
  zx_handle_t disc;
  REQUIRE_OK(zx_vmo_create(2 * PAGE, ZX_VMO_DISCARDABLE, &disc));
  zx_vmo_lock_state_t lock;
  memset(&lock, 0xcc, sizeof lock);
  EXPECT_OK(zx_vmo_op_range(disc, ZX_VMO_OP_LOCK, 0, 2 * PAGE, &lock, sizeof lock));
  CHECK(lock.offset == 0 && lock.size == 2 * PAGE && lock.discarded_size == 0, "lock state");
  EXPECT_OK(zx_vmo_op_range(disc, ZX_VMO_OP_UNLOCK, 0, 2 * PAGE, NULL, 0));
  EXPECT_STATUS(zx_vmo_op_range(disc, ZX_VMO_OP_LOCK, 0, 2 * PAGE, &lock, 8), ZX_ERR_INVALID_ARGS);
  for (int i = 0; i < N_BAD_OUT; i++) {
    // The lock is undone when its state cannot be written...
    EXPECT_STATUS(zx_vmo_op_range(disc, ZX_VMO_OP_LOCK, 0, 2 * PAGE, bad_out[i], sizeof lock),
                  ZX_ERR_INVALID_ARGS);
    // ... so the VMO is not locked now.
    EXPECT_STATUS(zx_vmo_op_range(disc, ZX_VMO_OP_UNLOCK, 0, 2 * PAGE, NULL, 0),
                  ZX_ERR_BAD_STATE);
  }

  // Children of a discardable VMO are not supported (see test_vmo_children).
  zx_handle_t child = ZX_HANDLE_INVALID;
  EXPECT_STATUS(zx_vmo_create_child(disc, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &child),
                ZX_ERR_NOT_SUPPORTED);
  CHECK(child == ZX_HANDLE_INVALID, "nothing written");

  zx_handle_close(disc);
  zx_handle_close(rsz);
  zx_handle_close(ro);
  zx_handle_close(port);
  zx_handle_close(vmo);
}

// ---- object info, properties, wait -------------------------------------------------------

static void test_objects(void) {
  begin("objects");
  zx_handle_t vmo, port;
  REQUIRE_OK(zx_vmo_create(3 * PAGE, ZX_VMO_RESIZABLE, &vmo));
  REQUIRE_OK(zx_port_create(0, &port));

  // ZX_INFO_VMO (v4, 176 bytes); a canary after the record stays intact.
  struct {
    zx_info_vmo_t info;
    uint8_t canary[64];
  } buf;
  memset(&buf, 0xab, sizeof buf);
  size_t actual = 99, avail = 99;
  EXPECT_OK(zx_object_get_info(vmo, ZX_INFO_VMO, &buf, sizeof buf, &actual, &avail));
  CHECK(actual == 1 && avail == 1, "actual %zu avail %zu", actual, avail);
  CHECK(buf.info.size_bytes == 3 * PAGE, "size_bytes %llu",
        (unsigned long long)buf.info.size_bytes);
  CHECK(buf.info.koid >= ZX_KOID_FIRST, "koid %llu", (unsigned long long)buf.info.koid);
  CHECK(ZX_INFO_VMO_TYPE(buf.info.flags) == ZX_INFO_VMO_TYPE_PAGED, "paged");
  CHECK(buf.info.flags & ZX_INFO_VMO_RESIZABLE, "resizable flag %#x", buf.info.flags);
  CHECK(!(buf.info.flags & ZX_INFO_VMO_PAGER_BACKED), "not pager backed");
  CHECK(buf.info.handle_rights == (ZX_DEFAULT_VMO_RIGHTS | ZX_RIGHT_RESIZE), "rights %#x",
        buf.info.handle_rights);
  CHECK(buf.canary[0] == 0xab && buf.canary[63] == 0xab, "nothing written past the record");
  // Older versions write a prefix only.
  memset(&buf, 0xab, sizeof buf);
  EXPECT_OK(zx_object_get_info(vmo, ZX_INFO_VMO_V1, &buf, sizeof(zx_info_vmo_v1_t), NULL, NULL));
  CHECK(((uint8_t*)&buf)[104] == 0xab && buf.info.size_bytes == 3 * PAGE, "v1 is 104 bytes");
  memset(&buf, 0xab, sizeof buf);
  EXPECT_OK(zx_object_get_info(vmo, ZX_INFO_VMO_V3, &buf, sizeof buf, NULL, NULL));
  CHECK(((uint8_t*)&buf)[128] == 0xab, "v3 is 128 bytes");
  // Too small: BUFFER_TOO_SMALL with actual 0, avail 1, nothing written.
  memset(&buf, 0xab, sizeof buf);
  actual = avail = 99;
  EXPECT_STATUS(zx_object_get_info(vmo, ZX_INFO_VMO, &buf, 175, &actual, &avail),
                ZX_ERR_BUFFER_TOO_SMALL);
  CHECK(actual == 0 && avail == 1 && ((uint8_t*)&buf)[0] == 0xab, "too small: %zu %zu", actual,
        avail);
  actual = avail = 99;
  EXPECT_STATUS(zx_object_get_info(vmo, ZX_INFO_VMO, NULL, 0, &actual, &avail),
                ZX_ERR_BUFFER_TOO_SMALL);
  CHECK(actual == 0 && avail == 1, "count query");
  // Topic first, then handle, then type.
  EXPECT_STATUS(zx_object_get_info(BAD_H, 0x7777, &buf, sizeof buf, NULL, NULL),
                ZX_ERR_NOT_SUPPORTED);
  EXPECT_STATUS(zx_object_get_info(BAD_H, ZX_INFO_VMO, &buf, sizeof buf, NULL, NULL),
                ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_object_get_info(port, ZX_INFO_VMO, &buf, sizeof buf, NULL, NULL),
                ZX_ERR_WRONG_TYPE);
  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_object_get_info(vmo, ZX_INFO_VMO, bad_out[i], sizeof buf, NULL, NULL),
                  ZX_ERR_INVALID_ARGS);
    if (bad_out[i] != NULL) {  // NULL actual/avail mean "not wanted"
      EXPECT_STATUS(zx_object_get_info(vmo, ZX_INFO_VMO, &buf, sizeof buf, (size_t*)bad_out[i],
                                       NULL),
                    ZX_ERR_INVALID_ARGS);
      EXPECT_STATUS(zx_object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &buf, sizeof buf, NULL,
                                       (size_t*)bad_out[i]),
                    ZX_ERR_INVALID_ARGS);
    }
  }

  // Properties: content size and name.
  uint64_t cs = 1234;
  EXPECT_OK(zx_object_set_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &cs, sizeof cs));
  cs = 0;
  EXPECT_OK(zx_object_get_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &cs, sizeof cs));
  CHECK(cs == 1234, "content size %llu", (unsigned long long)cs);
  EXPECT_STATUS(zx_object_get_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &cs, 4),
                ZX_ERR_BUFFER_TOO_SMALL);
  EXPECT_STATUS(zx_object_set_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &cs, 4),
                ZX_ERR_BUFFER_TOO_SMALL);
  EXPECT_STATUS(zx_object_get_property(vmo, 9999, &cs, sizeof cs), ZX_ERR_NOT_SUPPORTED);
  EXPECT_STATUS(zx_object_get_property(port, ZX_PROP_VMO_CONTENT_SIZE, &cs, sizeof cs),
                ZX_ERR_ACCESS_DENIED);  // ports have no GET_PROPERTY
  const char name[] = "a-rather-long-vmo-name-that-gets-cut";
  EXPECT_OK(zx_object_set_property(vmo, ZX_PROP_NAME, name, sizeof name));
  char got[ZX_MAX_NAME_LEN + 8];
  memset(got, 0x7f, sizeof got);
  EXPECT_OK(zx_object_get_property(vmo, ZX_PROP_NAME, got, sizeof got));
  CHECK(strncmp(got, name, ZX_MAX_NAME_LEN - 1) == 0 && got[ZX_MAX_NAME_LEN - 1] == 0,
        "name '%.32s'", got);
  CHECK(got[ZX_MAX_NAME_LEN] == 0x7f, "32 bytes written");
  EXPECT_STATUS(zx_object_get_property(vmo, ZX_PROP_NAME, got, ZX_MAX_NAME_LEN - 1),
                ZX_ERR_BUFFER_TOO_SMALL);
  // Bad values: a NULL value is INVALID_ARGS before anything else (as in
  // Zircon); other bad values after the handle checks.
  EXPECT_STATUS(zx_object_get_property(BAD_H, ZX_PROP_NAME, NULL, 32), ZX_ERR_INVALID_ARGS);
  for (int i = 1; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_object_get_property(vmo, ZX_PROP_NAME, bad_out[i], 32), ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_object_get_property(BAD_H, ZX_PROP_NAME, bad_out[i], 32),
                  ZX_ERR_BAD_HANDLE);
  }
  for (int i = 1; i < N_BAD_IN; i++) {
    EXPECT_STATUS(zx_object_set_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, bad_in[i], 8),
                  ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_object_set_property(vmo, ZX_PROP_NAME, bad_in[i], 8), ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_object_set_property(BAD_H, ZX_PROP_NAME, bad_in[i], 8), ZX_ERR_BAD_HANDLE);
    EXPECT_STATUS(zx_object_set_property(port, ZX_PROP_NAME, bad_in[i], 8),
                  ZX_ERR_ACCESS_DENIED);
  }
  EXPECT_STATUS(zx_object_set_property(vmo, ZX_PROP_NAME, NULL, 8), ZX_ERR_INVALID_ARGS);

  // wait_one: a VMO without children has ZX_VMO_ZERO_CHILDREN.
  zx_signals_t obs = 0;
  EXPECT_OK(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE, &obs));
  CHECK(obs & ZX_VMO_ZERO_CHILDREN, "observed %#x", obs);
  obs = 0;
  EXPECT_STATUS(zx_object_wait_one(vmo, ZX_USER_SIGNAL_0, zx_deadline_after(ZX_MSEC(5)), &obs),
                ZX_ERR_TIMED_OUT);
  CHECK(obs & ZX_VMO_ZERO_CHILDREN, "observed on timeout %#x", obs);
  EXPECT_OK(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, 0, NULL));
  EXPECT_STATUS(zx_object_wait_one(BAD_H, ZX_VMO_ZERO_CHILDREN, 0, &obs), ZX_ERR_BAD_HANDLE);
  for (int i = 1; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, 0, (zx_signals_t*)bad_out[i]),
                  ZX_ERR_INVALID_ARGS);
  }

  zx_handle_close(port);
  zx_handle_close(vmo);
}

// ---- VMARs -------------------------------------------------------------------------

static uint64_t num_mappings(zx_handle_t vmo) {
  zx_info_vmo_t info;
  REQUIRE_OK(zx_object_get_info(vmo, ZX_INFO_VMO, &info, sizeof info, NULL, NULL));
  return info.num_mappings;
}

static void test_vmars(void) {
  begin("vmars");
  zx_handle_t root = zx_vmar_root_self();
  CHECK(root == zx_vmar_root_self(), "one root VMAR handle");
  zx_info_handle_basic_t info;
  EXPECT_OK(zx_object_get_info(root, ZX_INFO_HANDLE_BASIC, &info, sizeof info, NULL, NULL));
  CHECK(info.type == ZX_OBJ_TYPE_VMAR, "type %u", info.type);
  CHECK((info.rights & ZX_DEFAULT_VMAR_RIGHTS) == ZX_DEFAULT_VMAR_RIGHTS, "rights %#x",
        info.rights);

  zx_handle_t vmo, nomap;
  REQUIRE_OK(zx_vmo_create(2 * PAGE, 0, &vmo));
  zx_vaddr_t addr = 0;
  EXPECT_OK(zx_vmar_map(root, ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, vmo, 0, 2 * PAGE, &addr));
  CHECK(addr != 0 && addr % PAGE == 0, "addr %#lx", (unsigned long)addr);
  CHECK(num_mappings(vmo) == 1, "one mapping");
  ((volatile char*)addr)[5] = 'z';
  char c = 0;
  EXPECT_OK(zx_vmo_read(vmo, &c, 5, 1));
  CHECK(c == 'z', "mapping and VMO share pages");
  EXPECT_OK(zx_vmar_op_range(root, ZX_VMAR_OP_COMMIT, addr, 2 * PAGE, NULL, 0));
  EXPECT_STATUS(zx_vmar_op_range(root, ZX_VMAR_OP_COMMIT, addr, 2 * PAGE, &c, 1),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmar_op_range(root, 77, addr, 2 * PAGE, NULL, 0), ZX_ERR_INVALID_ARGS);
  EXPECT_OK(zx_vmar_unmap(root, addr, 2 * PAGE));
  CHECK(num_mappings(vmo) == 0, "unmapped");

  // Order: VMAR handle, VMO handle, MAP right, permissions.
  EXPECT_STATUS(zx_vmar_map(BAD_H, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &addr), ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_vmar_map(vmo, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &addr), ZX_ERR_WRONG_TYPE);
  EXPECT_STATUS(zx_vmar_map(root, ZX_VM_PERM_READ, 0, BAD_H, 0, PAGE, &addr), ZX_ERR_BAD_HANDLE);
  REQUIRE_OK(zx_handle_duplicate(vmo, ZX_RIGHT_READ | ZX_RIGHT_WRITE, &nomap));
  EXPECT_STATUS(zx_vmar_map(root, ZX_VM_PERM_READ, 0, nomap, 0, PAGE, &addr),
                ZX_ERR_ACCESS_DENIED);
  EXPECT_STATUS(zx_vmar_map(root, ZX_VM_PERM_WRITE, 0, vmo, 0, PAGE, &addr), ZX_ERR_INVALID_ARGS);

  // A mapping whose address cannot be reported is destroyed again.
  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_vmar_map(root, ZX_VM_PERM_READ, 0, vmo, 0, 2 * PAGE, (zx_vaddr_t*)bad_out[i]),
                  ZX_ERR_INVALID_ARGS);
    CHECK(num_mappings(vmo) == 0, "mapping %d undone: %llu", i,
          (unsigned long long)num_mappings(vmo));
  }
  zx_handle_close(nomap);
  zx_handle_close(vmo);
}

// ---- pager calls: check order ------------------------------------------------------------

static void test_pager_checks(void) {
  begin("pager_checks");
  zx_handle_t pager, port, vmo, plain, aux, h;
  EXPECT_STATUS(zx_pager_create(1, &pager), ZX_ERR_INVALID_ARGS);
  REQUIRE_OK(zx_pager_create(0, &pager));
  REQUIRE_OK(zx_port_create(0, &port));
  REQUIRE_OK(zx_vmo_create(4 * PAGE, 0, &plain));
  REQUIRE_OK(zx_vmo_create(4 * PAGE, 0, &aux));

  // create_vmo: pager handle, port handle, options, size.
  EXPECT_STATUS(zx_pager_create_vmo(BAD_H, 0, BAD_H2, 1, PAGE, &h), ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_pager_create_vmo(port, 0, port, 1, PAGE, &h), ZX_ERR_WRONG_TYPE);
  zx_handle_t weak_pager;  // pager handles cannot be duplicated: replace a second pager's
  zx_handle_t pager2;
  REQUIRE_OK(zx_pager_create(0, &pager2));
  REQUIRE_OK(zx_handle_replace(pager2, ZX_RIGHT_MANAGE_VMO, &weak_pager));
  EXPECT_STATUS(zx_pager_create_vmo(weak_pager, 0, port, 1, PAGE, &h), ZX_ERR_ACCESS_DENIED);
  EXPECT_STATUS(zx_pager_create_vmo(pager, 0, BAD_H, 1, PAGE, &h), ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_pager_create_vmo(pager, 0, plain, 1, PAGE, &h), ZX_ERR_WRONG_TYPE);
  zx_handle_t ro_port;
  REQUIRE_OK(zx_handle_duplicate(port, ZX_RIGHT_READ, &ro_port));
  EXPECT_STATUS(zx_pager_create_vmo(pager, 0, ro_port, 1, PAGE, &h), ZX_ERR_ACCESS_DENIED);
  EXPECT_STATUS(zx_pager_create_vmo(pager, ~0u, port, 1, PAGE, &h), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_create_vmo(pager, 0, port, 1, UINT64_MAX - PAGE + 2, &h),
                ZX_ERR_OUT_OF_RANGE);
  REQUIRE_OK(zx_pager_create_vmo(pager, 0, port, 7, 4 * PAGE, &vmo));
  zx_info_vmo_t vi;
  EXPECT_OK(zx_object_get_info(vmo, ZX_INFO_VMO, &vi, sizeof vi, NULL, NULL));
  CHECK(vi.flags & ZX_INFO_VMO_PAGER_BACKED, "pager backed: flags %#x", vi.flags);
  CHECK(vi.handle_rights == ZX_DEFAULT_VMO_RIGHTS, "rights %#x", vi.handle_rights);
  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_pager_create_vmo(pager, 0, port, 8, PAGE, (zx_handle_t*)bad_out[i]),
                  ZX_ERR_INVALID_ARGS);
  }
  // The VMOs created for the bad out pointers were destroyed: their COMPLETE
  // packets (key 8) are the only ones in the port.
  zx_port_packet_t pkt;
  int completes = 0;
  while (zx_port_wait(port, zx_deadline_after(ZX_MSEC(200)), &pkt) == ZX_OK) {
    CHECK(pkt.key == 8 && pkt.page_request.command == ZX_PAGER_VMO_COMPLETE, "key %llu cmd %u",
          (unsigned long long)pkt.key, pkt.page_request.command);
    completes++;
  }
  CHECK(completes == N_BAD_OUT, "%d COMPLETE packets", completes);

  // supply_pages: alignment before any handle, then pager, VMO, ownership
  // (before the aux handle), aux rights.
  EXPECT_STATUS(zx_pager_supply_pages(BAD_H, BAD_H2, 1, PAGE, BAD_H3, 0), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_supply_pages(BAD_H, BAD_H2, 0, PAGE + 1, BAD_H3, 0),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_supply_pages(BAD_H, BAD_H2, 0, PAGE, BAD_H3, 8), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_supply_pages(BAD_H, vmo, 0, PAGE, aux, 0), ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_pager_supply_pages(port, vmo, 0, PAGE, aux, 0), ZX_ERR_WRONG_TYPE);
  EXPECT_STATUS(zx_pager_supply_pages(pager, BAD_H, 0, PAGE, aux, 0), ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_pager_supply_pages(pager, plain, 0, PAGE, ZX_HANDLE_INVALID, 0),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_supply_pages(pager, vmo, 0, PAGE, BAD_H, 0), ZX_ERR_BAD_HANDLE);
  zx_handle_t aux_ro;
  REQUIRE_OK(zx_handle_duplicate(aux, ZX_RIGHT_READ, &aux_ro));
  EXPECT_STATUS(zx_pager_supply_pages(pager, vmo, 0, PAGE, aux_ro, 0), ZX_ERR_ACCESS_DENIED);
  EXPECT_STATUS(zx_pager_supply_pages(pager, vmo, 4 * PAGE, PAGE, aux, 0), ZX_ERR_OUT_OF_RANGE);
  EXPECT_OK(zx_pager_supply_pages(pager, vmo, 0, 0, aux, 0));

  // op_range: alignment, handles, ownership, op, FAIL's data, range.
  EXPECT_STATUS(zx_pager_op_range(BAD_H, ZX_PAGER_OP_FAIL, BAD_H2, 1, PAGE, (uint64_t)ZX_ERR_IO),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_op_range(BAD_H, ZX_PAGER_OP_FAIL, vmo, 0, PAGE, (uint64_t)ZX_ERR_IO),
                ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_pager_op_range(pager, ZX_PAGER_OP_FAIL, plain, 0, PAGE, (uint64_t)ZX_ERR_IO),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_op_range(pager, 0, vmo, 0, PAGE, 0), ZX_ERR_NOT_SUPPORTED);
  EXPECT_STATUS(zx_pager_op_range(pager, 99, vmo, 0, PAGE, 0), ZX_ERR_NOT_SUPPORTED);
  const uint64_t bad_data[] = {0x11ffffffffULL, (uint64_t)(int64_t)ZX_ERR_INTERNAL, 100, 0,
                               (uint64_t)(uint32_t)ZX_ERR_IO /* not sign-extended */};
  for (size_t i = 0; i < sizeof bad_data / sizeof bad_data[0]; i++) {
    EXPECT_STATUS(zx_pager_op_range(pager, ZX_PAGER_OP_FAIL, vmo, 0, PAGE, bad_data[i]),
                  ZX_ERR_INVALID_ARGS);
  }
  const zx_status_t ok_codes[] = {ZX_ERR_IO, ZX_ERR_IO_DATA_INTEGRITY, ZX_ERR_BAD_STATE,
                                  ZX_ERR_NO_SPACE, ZX_ERR_BUFFER_TOO_SMALL};
  for (size_t i = 0; i < sizeof ok_codes / sizeof ok_codes[0]; i++) {
    EXPECT_OK(zx_pager_op_range(pager, ZX_PAGER_OP_FAIL, vmo, 0, PAGE,
                                (uint64_t)(int64_t)ok_codes[i]));
  }
  EXPECT_STATUS(zx_pager_op_range(pager, ZX_PAGER_OP_FAIL, vmo, 4 * PAGE, PAGE,
                                  (uint64_t)(int64_t)ZX_ERR_IO),
                ZX_ERR_OUT_OF_RANGE);
  // DIRTY needs data 0, then a ZX_VMO_TRAP_DIRTY VMO (NOT_SUPPORTED otherwise).
  EXPECT_STATUS(zx_pager_op_range(pager, ZX_PAGER_OP_DIRTY, vmo, 0, PAGE, 1), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_op_range(pager, ZX_PAGER_OP_DIRTY, vmo, 0, PAGE, 0),
                ZX_ERR_NOT_SUPPORTED);
  // Writeback: BEGIN takes data 0 or IS_ZERO, END data 0; clean ranges are no-ops.
  EXPECT_OK(zx_pager_op_range(pager, ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, 0, PAGE, 0));
  EXPECT_OK(zx_pager_op_range(pager, ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, 0, PAGE,
                              ZX_VMO_DIRTY_RANGE_IS_ZERO));
  EXPECT_STATUS(zx_pager_op_range(pager, ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, 0, PAGE, 2),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_op_range(pager, ZX_PAGER_OP_WRITEBACK_END, vmo, 0, PAGE, 1),
                ZX_ERR_INVALID_ARGS);
  EXPECT_OK(zx_pager_op_range(pager, ZX_PAGER_OP_WRITEBACK_END, vmo, 0, PAGE, 0));
  // Queries: handles (pager MANAGE_VMO, VMO READ), ownership, range.
  zx_vmo_dirty_range_t ranges[4];
  size_t actual = 99, avail = 99;
  EXPECT_OK(zx_pager_query_dirty_ranges(pager, vmo, 0, 4 * PAGE, ranges, sizeof ranges, &actual,
                                        &avail));
  CHECK(actual == 0 && avail == 0, "clean VMO: actual %zu avail %zu", actual, avail);
  EXPECT_STATUS(zx_pager_query_dirty_ranges(BAD_H, vmo, 0, PAGE, ranges, sizeof ranges, NULL,
                                            NULL),
                ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_pager_query_dirty_ranges(pager, plain, 0, PAGE, ranges, sizeof ranges, NULL,
                                            NULL),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_query_dirty_ranges(pager, vmo, 0, 5 * PAGE, ranges, sizeof ranges, NULL,
                                            NULL),
                ZX_ERR_OUT_OF_RANGE);
  zx_pager_vmo_stats_t stats;
  EXPECT_OK(zx_pager_query_vmo_stats(pager, vmo, 0, &stats, sizeof stats));
  CHECK(stats.modified == 0, "not modified");
  EXPECT_STATUS(zx_pager_query_vmo_stats(pager, vmo, 0, &stats, 3), ZX_ERR_BUFFER_TOO_SMALL);
  EXPECT_STATUS(zx_pager_query_vmo_stats(pager, vmo, 2, &stats, sizeof stats),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_pager_query_vmo_stats(pager, plain, 0, &stats, sizeof stats),
                ZX_ERR_INVALID_ARGS);
  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_pager_query_vmo_stats(pager, vmo, 0, bad_out[i], sizeof stats),
                  ZX_ERR_INVALID_ARGS);
  }

  // detach: both rights on the pager, WRITE on the VMO, own VMOs only, twice is OK.
  EXPECT_STATUS(zx_pager_detach_vmo(weak_pager, vmo), ZX_ERR_ACCESS_DENIED);
  EXPECT_STATUS(zx_pager_detach_vmo(pager, plain), ZX_ERR_INVALID_ARGS);
  zx_handle_t vmo_ro;
  REQUIRE_OK(zx_handle_duplicate(vmo, ZX_RIGHT_READ, &vmo_ro));
  EXPECT_STATUS(zx_pager_detach_vmo(pager, vmo_ro), ZX_ERR_ACCESS_DENIED);
  EXPECT_OK(zx_pager_detach_vmo(pager, vmo));
  EXPECT_OK(zx_pager_detach_vmo(pager, vmo));
  EXPECT_OK(zx_port_wait(port, zx_deadline_after(ZX_SEC(5)), &pkt));
  CHECK(pkt.key == 7 && pkt.type == ZX_PKT_TYPE_PAGE_REQUEST &&
            pkt.page_request.command == ZX_PAGER_VMO_COMPLETE && pkt.page_request.offset == 0 &&
            pkt.page_request.length == 0,
        "one COMPLETE after detach: key %llu cmd %u", (unsigned long long)pkt.key,
        pkt.page_request.command);
  EXPECT_STATUS(zx_port_wait(port, zx_deadline_after(ZX_MSEC(50)), &pkt), ZX_ERR_TIMED_OUT);
  char b;
  EXPECT_STATUS(zx_vmo_read(vmo, &b, 0, 1), ZX_ERR_BAD_STATE);

  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_pager_create(0, (zx_handle_t*)bad_out[i]), ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_port_create(0, (zx_handle_t*)bad_out[i]), ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_vmo_create(PAGE, 0, (zx_handle_t*)bad_out[i]), ZX_ERR_INVALID_ARGS);
    EXPECT_STATUS(zx_handle_duplicate(plain, ZX_RIGHT_SAME_RIGHTS, (zx_handle_t*)bad_out[i]),
                  ZX_ERR_INVALID_ARGS);
  }
  // A replace with a bad out pointer still consumes the handle.
  zx_handle_t victim;
  REQUIRE_OK(zx_handle_duplicate(plain, ZX_RIGHT_SAME_RIGHTS, &victim));
  EXPECT_STATUS(zx_handle_replace(victim, ZX_RIGHT_SAME_RIGHTS, (zx_handle_t*)g_ro),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_handle_close(victim), ZX_ERR_BAD_HANDLE);

  zx_handle_close(vmo_ro);
  zx_handle_close(aux_ro);
  zx_handle_close(ro_port);
  zx_handle_close(weak_pager);
  zx_handle_close(vmo);
  zx_handle_close(aux);
  zx_handle_close(plain);
  zx_handle_close(port);
  zx_handle_close(pager);
}

// ---- faults served end to end --------------------------------------------------------------

// A C pager thread: answers READ packets by supplying the pattern of
// supply_pattern until it gets a user packet.
typedef struct {
  pager_fixture_t* f;
  int reads;
  uint64_t pages;
} server_t;

static void* server_main(void* arg) {
  server_t* s = (server_t*)arg;
  for (;;) {
    zx_port_packet_t pkt;
    zx_status_t st = zx_port_wait(s->f->port, zx_deadline_after(ZX_SEC(20)), &pkt);
    if (st != ZX_OK) {
      die("server: zx_port_wait: %s", zx_status_get_string(st));
    }
    if (pkt.type == ZX_PKT_TYPE_USER) {
      return NULL;
    }
    if (pkt.type != ZX_PKT_TYPE_PAGE_REQUEST || pkt.page_request.command != ZX_PAGER_VMO_READ) {
      continue;
    }
    s->reads++;
    s->pages += pkt.page_request.length / PAGE;
    supply_pattern(s->f, pkt.page_request.offset, pkt.page_request.length, 0x40);
  }
}

static void test_fault_served(void) {
  begin("fault_served");
  pager_fixture_t f;
  fixture_init(&f, 16, 0);

  // One page, step by step: the packet's fields and bytes.
  toucher_t t = {.addr = (volatile uint8_t*)(f.addr + 5 * PAGE + 7), .armed = 1};
  toucher_start(&t);
  zx_packet_page_request_t req = expect_read(&f);
  CHECK(req.offset == 5 * PAGE && req.length == PAGE, "request [%#llx, +%#llx)",
        (unsigned long long)req.offset, (unsigned long long)req.length);
  CHECK(req.reserved0 == 0 && req.reserved1 == 0, "reserved fields are 0");
  supply_pattern(&f, req.offset, req.length, 0x40);
  toucher_join(&t);
  CHECK(t.fault.signo == 0, "no fault: signal %d", t.fault.signo);
  CHECK(t.value == 0x45, "read %#x", t.value);
  // The aux range was decommitted by the supply.
  zx_info_vmo_t info;
  EXPECT_OK(zx_object_get_info(f.aux, ZX_INFO_VMO, &info, sizeof info, NULL, NULL));
  CHECK(info.committed_bytes == 0, "aux committed %llu", (unsigned long long)info.committed_bytes);

  // Many C threads (fresh ones and ones bound to Go), a C pager thread.
  server_t s = {.f = &f};
  pthread_t server;
  pthread_create(&server, NULL, server_main, &s);
  toucher_t ts[15];
  for (int i = 0; i < 15; i++) {
    int page = i < 5 ? i : i + 1;  // page 5 is present
    memset(&ts[i], 0, sizeof ts[i]);
    ts[i].addr = (volatile uint8_t*)(f.addr + (uint64_t)page * PAGE + (uint64_t)i * 13);
    ts[i].write = i % 3 == 0;
    ts[i].value = 0xee;
    ts[i].call_go_first = i % 2;
    ts[i].armed = 1;
    toucher_start(&ts[i]);
  }
  for (int i = 0; i < 15; i++) {
    toucher_join(&ts[i]);
    int page = i < 5 ? i : i + 1;
    CHECK(ts[i].fault.signo == 0, "thread %d faulted: %d", i, ts[i].fault.signo);
    if (!ts[i].write) {
      CHECK(ts[i].value == (uint8_t)(page + 0x40), "thread %d read %#x", i, ts[i].value);
    }
  }
  zx_port_packet_t quit;
  memset(&quit, 0, sizeof quit);
  EXPECT_OK(zx_port_queue(f.port, &quit));
  pthread_join(server, NULL);
  // (Duplicate requests are legal, so at least one page per thread.)
  CHECK(s.pages >= 15, "15 pages requested, got %llu in %d packets", (unsigned long long)s.pages,
        s.reads);
  // The written bytes are in the VMO.
  for (int i = 0; i < 15; i += 3) {
    int page = i < 5 ? i : i + 1;
    uint8_t b = 0;
    EXPECT_OK(zx_vmo_read(f.vmo, &b, (uint64_t)page * PAGE + (uint64_t)i * 13, 1));
    CHECK(b == 0xee, "write of thread %d: %#x", i, b);
  }
  // zx_vmo_read of a present range needs no packet; of a mapping, neither.
  uint8_t buf[64];
  EXPECT_OK(zx_vmo_read(f.vmo, buf, 5 * PAGE, sizeof buf));
  CHECK(buf[0] == 0x45, "vmo_read %#x", buf[0]);
  // A zx_vmo_write whose source is the mapping of a pager VMO (the kernel
  // copies it; nothing blocks in Go).
  EXPECT_OK(zx_vmo_write(f.aux, (const void*)(f.addr + 5 * PAGE), 0, PAGE));
  EXPECT_OK(zx_vmo_read(f.aux, buf, 0, 1));
  CHECK(buf[0] == 0x45, "aux from mapping %#x", buf[0]);
  fixture_fini(&f);
}

// ---- SIGBUS on failed and detached pages ----------------------------------------------------

static void test_sigbus(void) {
  begin("sigbus");
  pager_fixture_t f;
  fixture_init(&f, 4, 0);
  for (int go = 0; go < 2; go++) {
    int calls = g_handler_calls;
    uint64_t page = 1 + (uint64_t)go;
    toucher_t t = {.addr = (volatile uint8_t*)(f.addr + page * PAGE + 100), .armed = 1,
                   .call_go_first = go};
    toucher_start(&t);
    zx_packet_page_request_t req = expect_read(&f);
    CHECK(req.offset == page * PAGE && req.length == PAGE, "request %#llx",
          (unsigned long long)req.offset);
    EXPECT_OK(zx_pager_op_range(f.pager, ZX_PAGER_OP_FAIL, f.vmo, req.offset, req.length,
                                (uint64_t)(int64_t)ZX_ERR_IO));
    toucher_join(&t);
    CHECK(t.fault.signo == SIGBUS, "thread (go=%d) got signal %d", go, t.fault.signo);
    CHECK(t.fault.addr == f.addr + page * PAGE + 100 || t.fault.addr == f.addr + page * PAGE,
          "si_addr %#lx", (unsigned long)t.fault.addr);
    CHECK(g_handler_calls > calls, "the program's handler ran");
  }
  // Failure is not sticky: once the failed thread has gone on (the library
  // clears the page's poison marker within milliseconds), the page is
  // requested again and can be supplied.
  zx_nanosleep(zx_deadline_after(ZX_MSEC(50)));
  toucher_t t = {.addr = (volatile uint8_t*)(f.addr + PAGE), .armed = 1};
  toucher_start(&t);
  zx_packet_page_request_t req = expect_read(&f);
  supply_pattern(&f, req.offset, req.length, 0x10);
  toucher_join(&t);
  CHECK(t.fault.signo == 0 && t.value == 0x11, "after fail: signal %d value %#x", t.fault.signo,
        t.value);

  // A detached VMO: an access that needs the pager raises SIGBUS.
  EXPECT_OK(zx_pager_detach_vmo(f.pager, f.vmo));
  toucher_t d = {.addr = (volatile uint8_t*)(f.addr + 3 * PAGE), .armed = 1, .call_go_first = 1};
  toucher_start(&d);
  toucher_join(&d);
  CHECK(d.fault.signo == SIGBUS, "detached page: signal %d", d.fault.signo);
  fixture_fini(&f);
}

// ---- VMO children (zx_vmo_create_child) -----------------------------------------------

static uint64_t num_children(zx_handle_t vmo) {
  zx_info_vmo_t info;
  memset(&info, 0, sizeof info);
  EXPECT_OK(zx_object_get_info(vmo, ZX_INFO_VMO, &info, sizeof info, NULL, NULL));
  return info.num_children;
}

static void test_vmo_children(void) {
  begin("vmo_children");
  zx_handle_t vmo, port, no_read, child = ZX_HANDLE_INVALID;
  REQUIRE_OK(zx_vmo_create(4 * PAGE, 0, &vmo));
  REQUIRE_OK(zx_port_create(0, &port));
  REQUIRE_OK(zx_handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_READ, &no_read));
  uint8_t page[PAGE];
  for (uint64_t i = 0; i < 4; i++) {
    memset(page, (int)(0x10 + i), sizeof page);
    REQUIRE_OK(zx_vmo_write(vmo, page, i * PAGE, PAGE));
  }

  // Statuses in Zircon's order: size, NO_WRITE|RESIZABLE, handle, options, range.
  EXPECT_STATUS(zx_vmo_create_child(BAD_H, ZX_VMO_CHILD_SNAPSHOT, 0, UINT64_MAX, &child),
                ZX_ERR_OUT_OF_RANGE);
  EXPECT_STATUS(zx_vmo_create_child(BAD_H,
                                    ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_NO_WRITE |
                                        ZX_VMO_CHILD_RESIZABLE,
                                    0, PAGE, &child),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_create_child(BAD_H, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &child),
                ZX_ERR_BAD_HANDLE);
  EXPECT_STATUS(zx_vmo_create_child(port, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &child),
                ZX_ERR_WRONG_TYPE);
  EXPECT_STATUS(zx_vmo_create_child(no_read, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &child),
                ZX_ERR_ACCESS_DENIED);
  EXPECT_STATUS(zx_vmo_create_child(vmo, 0, 0, PAGE, &child), ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_SLICE, 0, PAGE,
                                    &child),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_RESIZABLE, 0, PAGE,
                                    &child),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 100, PAGE, &child),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 3 * PAGE, 2 * PAGE, &child),
                ZX_ERR_INVALID_ARGS);
  EXPECT_STATUS(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, UINT64_MAX & ~(PAGE - 1), PAGE,
                                    &child),
                ZX_ERR_OUT_OF_RANGE);
  CHECK(child == ZX_HANDLE_INVALID, "no handle written on failure");
  // A bad out pointer: the child is made and closed again.
  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, (zx_handle_t*)bad_out[i]),
                  ZX_ERR_INVALID_ARGS);
  }
  CHECK(num_children(vmo) == 0, "children left behind: %llu",
        (unsigned long long)num_children(vmo));

  // A snapshot is a private copy both ways; past the parent's end it reads zero.
  zx_handle_t snap, slice;
  REQUIRE_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, PAGE, 4 * PAGE, &snap));
  memset(page, 0xaa, sizeof page);
  EXPECT_OK(zx_vmo_write(vmo, page, PAGE, PAGE));
  uint8_t b[4] = {0};
  EXPECT_OK(zx_vmo_read(snap, b, 0, 1));
  EXPECT_OK(zx_vmo_read(snap, b + 1, 2 * PAGE, 1));
  EXPECT_OK(zx_vmo_read(snap, b + 2, 3 * PAGE, 1));
  CHECK(b[0] == 0x11 && b[1] == 0x13 && b[2] == 0, "snapshot bytes %#x %#x %#x", b[0], b[1], b[2]);
  EXPECT_OK(zx_vmo_write(snap, "\x5a", PAGE, 1));
  EXPECT_OK(zx_vmo_read(vmo, b, 2 * PAGE, 1));
  CHECK(b[0] == 0x12, "parent changed by the snapshot: %#x", b[0]);
  zx_info_handle_basic_t hb;
  EXPECT_OK(zx_object_get_info(snap, ZX_INFO_HANDLE_BASIC, &hb, sizeof hb, NULL, NULL));
  CHECK(hb.rights == ZX_DEFAULT_VMO_RIGHTS, "snapshot rights %#x", hb.rights);

  // A slice shares pages both ways, through mappings too.
  REQUIRE_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 2 * PAGE, 2 * PAGE, &slice));
  zx_vaddr_t saddr = 0, paddr = 0;
  REQUIRE_OK(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, slice, 0,
                         2 * PAGE, &saddr));
  REQUIRE_OK(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, vmo, 0,
                         4 * PAGE, &paddr));
  *(volatile uint8_t*)saddr = 0x77;
  EXPECT_OK(zx_vmo_read(vmo, b, 2 * PAGE, 1));
  CHECK(b[0] == 0x77, "parent does not see the slice's mapped write: %#x", b[0]);
  EXPECT_OK(zx_vmo_write(vmo, "\x66", 3 * PAGE + 5, 1));
  CHECK(*(volatile uint8_t*)(saddr + PAGE + 5) == 0x66, "slice mapping does not see the parent");
  *(volatile uint8_t*)(paddr + 3 * PAGE) = 0x44;
  EXPECT_OK(zx_vmo_read(slice, b, PAGE, 1));
  CHECK(b[0] == 0x44, "slice does not see the parent's mapped write: %#x", b[0]);
  EXPECT_STATUS(zx_vmo_read(slice, b, 2 * PAGE, 1), ZX_ERR_OUT_OF_RANGE);

  // ZX_INFO_VMO and ZX_VMO_ZERO_CHILDREN.
  zx_info_vmo_t pi, si;
  EXPECT_OK(zx_object_get_info(vmo, ZX_INFO_VMO, &pi, sizeof pi, NULL, NULL));
  EXPECT_OK(zx_object_get_info(snap, ZX_INFO_VMO, &si, sizeof si, NULL, NULL));
  CHECK(pi.num_children == 2, "num_children %llu", (unsigned long long)pi.num_children);
  CHECK(si.parent_koid == pi.koid && (si.flags & ZX_INFO_VMO_IS_COW_CLONE) != 0,
        "snapshot parent %llu flags %#x", (unsigned long long)si.parent_koid, si.flags);
  zx_signals_t obs = 0;
  EXPECT_STATUS(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, 0, &obs), ZX_ERR_TIMED_OUT);
  EXPECT_OK(zx_handle_close(snap));
  EXPECT_OK(zx_handle_close(slice));
  EXPECT_STATUS(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, 0, &obs), ZX_ERR_TIMED_OUT);
  EXPECT_OK(zx_vmar_unmap(zx_vmar_root_self(), saddr, 2 * PAGE));  // the slice's last mapping
  EXPECT_OK(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, zx_deadline_after(ZX_SEC(5)), &obs));
  EXPECT_OK(zx_vmar_unmap(zx_vmar_root_self(), paddr, 4 * PAGE));

  // A clone of a pager VMO, read from a C thread: the root's READ, its key
  // and offset; the clone's writes stay out of the root.
  pager_fixture_t f;
  fixture_init(&f, 4, 0);
  zx_handle_t clone;
  EXPECT_STATUS(zx_vmo_create_child(f.vmo, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &child),
                ZX_ERR_NOT_SUPPORTED);
  REQUIRE_OK(zx_vmo_create_child(f.vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, PAGE, 2 * PAGE,
                                 &clone));
  zx_vaddr_t caddr = 0;
  REQUIRE_OK(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, clone, 0,
                         2 * PAGE, &caddr));
  toucher_t t = {.addr = (volatile uint8_t*)(caddr + PAGE + 9), .armed = 1};
  toucher_start(&t);
  zx_packet_page_request_t req = expect_read(&f);
  CHECK(req.offset == 2 * PAGE && req.length == PAGE, "clone request [%#llx, +%#llx)",
        (unsigned long long)req.offset, (unsigned long long)req.length);
  supply_pattern(&f, req.offset, req.length, 0x30);
  toucher_join(&t);
  CHECK(t.fault.signo == 0 && t.value == 0x32, "clone read: signal %d value %#x", t.fault.signo,
        t.value);
  toucher_t w = {.addr = (volatile uint8_t*)(caddr + PAGE + 9), .write = 1, .value = 0xc3,
                 .armed = 1, .call_go_first = 1};
  toucher_start(&w);
  toucher_join(&w);
  CHECK(w.fault.signo == 0, "clone write: signal %d", w.fault.signo);
  EXPECT_OK(zx_vmo_read(f.vmo, b, 2 * PAGE + 9, 1));
  CHECK(b[0] == 0x32, "root changed by the clone write: %#x", b[0]);
  EXPECT_OK(zx_vmo_read(clone, b, PAGE + 9, 1));
  CHECK(b[0] == 0xc3, "clone read back %#x", b[0]);
  size_t actual = 1, avail = 1;
  EXPECT_STATUS(zx_pager_query_dirty_ranges(f.pager, clone, 0, PAGE, NULL, 0, &actual, &avail),
                ZX_ERR_INVALID_ARGS);
  EXPECT_OK(zx_pager_query_dirty_ranges(f.pager, f.vmo, 0, 4 * PAGE, NULL, 0, &actual, &avail));
  CHECK(avail == 0, "root has %zu dirty ranges after clone writes", avail);
  EXPECT_OK(zx_object_get_info(clone, ZX_INFO_VMO, &si, sizeof si, NULL, NULL));
  CHECK((si.flags & ZX_INFO_VMO_PAGER_BACKED) != 0, "clone flags %#x", si.flags);
  EXPECT_OK(zx_vmar_unmap(zx_vmar_root_self(), caddr, 2 * PAGE));
  EXPECT_OK(zx_handle_close(clone));
  fixture_fini(&f);

  zx_handle_close(no_read);
  zx_handle_close(port);
  zx_handle_close(vmo);
}

// ---- dirty tracking through the ABI ------------------------------------------------------

static void test_dirty(void) {
  begin("dirty");
  pager_fixture_t f;
  fixture_init(&f, 4, ZX_VMO_TRAP_DIRTY);
  supply_pattern(&f, 0, 2 * PAGE, 0x30);

  // A C thread writes to a clean page of a TRAP_DIRTY VMO: a DIRTY packet.
  toucher_t t = {.addr = (volatile uint8_t*)(f.addr + PAGE + 9), .write = 1, .value = 0x99,
                 .armed = 1};
  toucher_start(&t);
  zx_port_packet_t pkt;
  EXPECT_OK(zx_port_wait(f.port, zx_deadline_after(ZX_SEC(10)), &pkt));
  CHECK(pkt.type == ZX_PKT_TYPE_PAGE_REQUEST && pkt.key == f.key &&
            pkt.page_request.command == ZX_PAGER_VMO_DIRTY && pkt.page_request.offset == PAGE &&
            pkt.page_request.length == PAGE,
        "DIRTY packet: type %u cmd %u [%#llx, +%#llx)", pkt.type, pkt.page_request.command,
        (unsigned long long)pkt.page_request.offset, (unsigned long long)pkt.page_request.length);
  EXPECT_OK(zx_pager_op_range(f.pager, ZX_PAGER_OP_DIRTY, f.vmo, PAGE, PAGE, 0));
  toucher_join(&t);
  CHECK(t.fault.signo == 0, "writer faulted: %d", t.fault.signo);
  uint8_t b = 0;
  EXPECT_OK(zx_vmo_read(f.vmo, &b, PAGE + 9, 1));
  CHECK(b == 0x99, "written byte %#x", b);

  // The dirty range, counted, listed, and not copied to a bad buffer.
  zx_vmo_dirty_range_t ranges[4];
  memset(ranges, 0xcc, sizeof ranges);
  size_t actual = 99, avail = 99;
  EXPECT_OK(zx_pager_query_dirty_ranges(f.pager, f.vmo, 0, f.size, NULL, 0, &actual, &avail));
  CHECK(actual == 0 && avail == 1, "count: actual %zu avail %zu", actual, avail);
  EXPECT_OK(zx_pager_query_dirty_ranges(f.pager, f.vmo, 0, f.size, ranges, 8, &actual, NULL));
  CHECK(actual == 0, "a buffer too small for one entry is not an error");
  EXPECT_OK(zx_pager_query_dirty_ranges(f.pager, f.vmo, 0, f.size, ranges, sizeof ranges, &actual,
                                        &avail));
  CHECK(actual == 1 && avail == 1 && ranges[0].offset == PAGE && ranges[0].length == PAGE &&
            ranges[0].options == 0,
        "ranges: %zu/%zu {%#llx, %#llx, %llu}", actual, avail,
        (unsigned long long)ranges[0].offset, (unsigned long long)ranges[0].length,
        (unsigned long long)ranges[0].options);
  CHECK(((uint8_t*)&ranges[1])[0] == 0xcc, "one entry written");
  for (int i = 0; i < N_BAD_OUT; i++) {
    EXPECT_STATUS(zx_pager_query_dirty_ranges(f.pager, f.vmo, 0, f.size, bad_out[i],
                                              sizeof ranges, NULL, NULL),
                  ZX_ERR_INVALID_ARGS);
    if (bad_out[i] != NULL) {
      EXPECT_STATUS(zx_pager_query_dirty_ranges(f.pager, f.vmo, 0, f.size, ranges, sizeof ranges,
                                                (size_t*)bad_out[i], NULL),
                    ZX_ERR_INVALID_ARGS);
    }
  }

  // Modified, once (RESET clears it).
  zx_pager_vmo_stats_t stats = {0};
  EXPECT_OK(zx_pager_query_vmo_stats(f.pager, f.vmo, ZX_PAGER_RESET_VMO_STATS, &stats,
                                     sizeof stats));
  CHECK(stats.modified == ZX_PAGER_VMO_STATS_MODIFIED, "modified %u", stats.modified);
  EXPECT_OK(zx_pager_query_vmo_stats(f.pager, f.vmo, 0, &stats, sizeof stats));
  CHECK(stats.modified == 0, "reset: %u", stats.modified);

  // Write-back: BEGIN, END: clean again.
  EXPECT_OK(zx_pager_op_range(f.pager, ZX_PAGER_OP_WRITEBACK_BEGIN, f.vmo, 0, f.size, 0));
  EXPECT_OK(zx_pager_op_range(f.pager, ZX_PAGER_OP_WRITEBACK_END, f.vmo, 0, f.size, 0));
  EXPECT_OK(zx_pager_query_dirty_ranges(f.pager, f.vmo, 0, f.size, ranges, sizeof ranges, &actual,
                                        &avail));
  CHECK(actual == 0 && avail == 0, "clean after write-back: %zu %zu", actual, avail);
  // DIRTY on a page that was never supplied is NOT_FOUND.
  EXPECT_STATUS(zx_pager_op_range(f.pager, ZX_PAGER_OP_DIRTY, f.vmo, 3 * PAGE, PAGE, 0),
                ZX_ERR_NOT_FOUND);
  fixture_fini(&f);
}

// ---- children: fork and exec --------------------------------------------------------------

// Runs helper with args in a child made by fork + execv; returns its wait status.
static int run_child(const char* helper, char* const* args) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", g_helper_dir, helper);
  char* argv[8] = {path};
  for (int i = 0; args[i] != NULL && i < 6; i++) {
    argv[i + 1] = args[i];
  }
  pid_t pid = fork();
  if (pid < 0) {
    die("fork: %s", strerror(errno));
  }
  if (pid == 0) {
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    execv(path, argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

static const char* describe(int status) {
  static char buf[64];
  if (WIFEXITED(status)) {
    snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    snprintf(buf, sizeof buf, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  } else {
    snprintf(buf, sizeof buf, "status %#x", status);
  }
  return buf;
}

static void test_children(void) {
  begin("children");
  // No handler: the process dies of SIGBUS (not of Go's crash report, exit 2).
  const char* modes[] = {"fail-fresh", "fail-go", "detach-fresh", "detach-go"};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    char* args[] = {(char*)modes[i], NULL};
    int status = run_child(g_child, args);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "%s %s: %s", g_child, modes[i],
          describe(status));
  }
  // A handler installed after the library loaded, in a child: reached.
  char* handled[] = {"handler-after", NULL};
  int status = run_child(g_child, handled);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s handler-after: %s", g_child,
        describe(status));
  // A handler installed before the library was loaded (dlopen): reached.
  if (g_lib_path != NULL) {
    char* args[] = {(char*)g_lib_path, NULL};
    status = run_child("sigbus_dlopen", args);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sigbus_dlopen: %s", describe(status));
  }
  // posix_spawn (vfork-style) of a program using the library.
  char spawn_path[PATH_MAX + 64];
  snprintf(spawn_path, sizeof spawn_path, "%s/%s", g_helper_dir, g_child);
  char* spawn_argv[] = {spawn_path, "handler-after", NULL};
  pid_t pid;
  CHECK(posix_spawn(&pid, spawn_path, NULL, NULL, spawn_argv, environ) == 0, "posix_spawn");
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "spawned child: %s", describe(status));

  // fork without exec: the child may exit; pager mappings are not inherited
  // (a child touching one takes SIGSEGV: nothing is mapped there); the
  // parent's library goes on.
  pager_fixture_t f;
  fixture_init(&f, 2, 0);
  pid = fork();
  if (pid == 0) {
    _exit(7);
  }
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7, "plain child: %s", describe(status));
  pid = fork();
  if (pid == 0) {
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    signal(SIGSEGV, SIG_DFL);  // not the parent's handler chain: no Go in the child
    signal(SIGBUS, SIG_DFL);
    (void)*(volatile uint8_t*)f.addr;
    _exit(0);
  }
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child touching a pager mapping: %s",
        describe(status));
  toucher_t t = {.addr = (volatile uint8_t*)f.addr, .armed = 1};
  toucher_start(&t);
  zx_packet_page_request_t req = expect_read(&f);
  supply_pattern(&f, req.offset, req.length, 0x20);
  toucher_join(&t);
  CHECK(t.fault.signo == 0 && t.value == 0x20, "served after fork: %#x", t.value);
  fixture_fini(&f);
}

int main(int argc, char** argv) {
  alarm(120);  // never hang CI
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    die("readlink /proc/self/exe");
  }
  self[n] = 0;
  if (strstr(self, "_static") != NULL) {
    g_child = "sigbus_child_static";  // the same library linked from libzircon.a
  }
  snprintf(g_helper_dir, sizeof g_helper_dir, "%s", argc > 1 ? argv[1] : dirname(self));
  static char lib[PATH_MAX + 32];
  if (argc > 2) {
    snprintf(lib, sizeof lib, "%s", argv[2]);
  } else {
    snprintf(lib, sizeof lib, "%s/libzircon.so", g_helper_dir);
    if (access(lib, R_OK) != 0) {
      snprintf(lib, sizeof lib, "%s/../libzircon.so", g_helper_dir);
    }
  }
  if (access(lib, R_OK) == 0) {
    g_lib_path = lib;
  } else {
    fprintf(stderr, "note: %s not found: the dlopen case is skipped\n", lib);
  }

  setup_bad_pointers();
  install_fault_handler();  // after the library loaded: chains to Go's handler

  test_system_and_time();
  test_handles();
  test_ports();
  test_vmos();
  test_objects();
  test_vmars();
  test_pager_checks();
  test_fault_served();
  test_sigbus();
  test_dirty();
  test_vmo_children();
  test_children();

  if (g_failures != 0) {
    fprintf(stderr, "abi_test: %d of %d checks FAILED\n", g_failures, g_checks);
    return 1;
  }
  printf("abi_test: all %d checks passed\n", g_checks);
  return 0;
}
