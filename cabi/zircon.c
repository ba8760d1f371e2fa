// libzircon's public functions: Zircon's calls, defined against the headers
// in include/zircon (so the compiler checks each definition against its
// declaration), on top of the Go functions of exports.go.
//
// Each wrapper owns the memory the Go side writes (locals for handles,
// packets, records, property values) and moves it from or to the caller's
// memory with pagerd_copy_in/pagerd_copy_out (ucopy.c), at the point where
// Zircon copies: inputs after the handle checks, outputs last. A bad pointer
// is ZX_ERR_INVALID_ARGS; the library never faults on it.

#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <time.h>
#include <zircon/process.h>
#include <zircon/status.h>
#include <zircon/syscalls.h>

#include "_cgo_export.h"
#include "cabi.h"

#define API __attribute__((visibility("default")))

// Also export each call under its vDSO-internal name, _zx_<name>.
#define ALIAS(name) \
  extern __typeof__(name) _##name __attribute__((alias(#name), visibility("default")))

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

// pagerd_put_handle: see cabi.h.
zx_status_t pagerd_put_handle(zx_status_t status, zx_handle_t h, zx_handle_t* out,
                              uintptr_t fence) {
  if (status != ZX_OK) {
    return status;
  }
  if (pagerd_copy_out(out, &h, sizeof h, fence) != 0) {
    pagerd_cabi_handle_close(h);
    return ZX_ERR_INVALID_ARGS;
  }
  return ZX_OK;
}

// ---- system and time ----------------------------------------------------------

API uint32_t zx_system_get_page_size(void) { return (uint32_t)ZX_PAGE_SIZE; }
ALIAS(zx_system_get_page_size);

API zx_time_t zx_clock_get_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return zx_time_from_timespec(ts);
}
ALIAS(zx_clock_get_monotonic);

API zx_time_t zx_deadline_after(zx_duration_t nanoseconds) {
  return zx_time_add_duration(zx_clock_get_monotonic(), nanoseconds);
}
ALIAS(zx_deadline_after);

API zx_status_t zx_nanosleep(zx_time_t deadline) {
  if (deadline <= 0) {
    return ZX_OK;  // in the past: the monotonic clock starts at boot
  }
  int saved = errno;
  struct timespec ts = zx_timespec_from_time(deadline);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
  errno = saved;
  return ZX_OK;
}
ALIAS(zx_nanosleep);

API const char* zx_status_get_string(zx_status_t status) {
  switch (status) {
#define CASE(s) \
  case s:       \
    return #s
    CASE(ZX_OK);
    CASE(ZX_ERR_INTERNAL);
    CASE(ZX_ERR_NOT_SUPPORTED);
    CASE(ZX_ERR_NO_RESOURCES);
    CASE(ZX_ERR_NO_MEMORY);
    CASE(ZX_ERR_INTERNAL_INTR_RETRY);
    CASE(ZX_ERR_INVALID_ARGS);
    CASE(ZX_ERR_BAD_HANDLE);
    CASE(ZX_ERR_WRONG_TYPE);
    CASE(ZX_ERR_BAD_SYSCALL);
    CASE(ZX_ERR_OUT_OF_RANGE);
    CASE(ZX_ERR_BUFFER_TOO_SMALL);
    CASE(ZX_ERR_BAD_STATE);
    CASE(ZX_ERR_TIMED_OUT);
    CASE(ZX_ERR_SHOULD_WAIT);
    CASE(ZX_ERR_CANCELED);
    CASE(ZX_ERR_PEER_CLOSED);
    CASE(ZX_ERR_NOT_FOUND);
    CASE(ZX_ERR_ALREADY_EXISTS);
    CASE(ZX_ERR_ALREADY_BOUND);
    CASE(ZX_ERR_UNAVAILABLE);
    CASE(ZX_ERR_ACCESS_DENIED);
    CASE(ZX_ERR_IO);
    CASE(ZX_ERR_IO_REFUSED);
    CASE(ZX_ERR_IO_DATA_INTEGRITY);
    CASE(ZX_ERR_IO_DATA_LOSS);
    CASE(ZX_ERR_IO_NOT_PRESENT);
    CASE(ZX_ERR_IO_OVERRUN);
    CASE(ZX_ERR_IO_MISSED_DEADLINE);
    CASE(ZX_ERR_IO_INVALID);
    CASE(ZX_ERR_BAD_PATH);
    CASE(ZX_ERR_NOT_DIR);
    CASE(ZX_ERR_NOT_FILE);
    CASE(ZX_ERR_FILE_BIG);
    CASE(ZX_ERR_NO_SPACE);
    CASE(ZX_ERR_NOT_EMPTY);
    CASE(ZX_ERR_STOP);
    CASE(ZX_ERR_NEXT);
    CASE(ZX_ERR_ASYNC);
    CASE(ZX_ERR_PROTOCOL_NOT_SUPPORTED);
    CASE(ZX_ERR_ADDRESS_UNREACHABLE);
    CASE(ZX_ERR_ADDRESS_IN_USE);
    CASE(ZX_ERR_NOT_CONNECTED);
    CASE(ZX_ERR_CONNECTION_REFUSED);
    CASE(ZX_ERR_CONNECTION_RESET);
    CASE(ZX_ERR_CONNECTION_ABORTED);
    CASE(ZX_ERR_INTERNAL_INTR_KILLED);
#undef CASE
  }
  return "(UNKNOWN)";
}
ALIAS(zx_status_get_string);

// ---- handles ------------------------------------------------------------------

API zx_status_t zx_handle_close(zx_handle_t handle) { return pagerd_cabi_handle_close(handle); }
ALIAS(zx_handle_close);

API zx_status_t zx_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out) {
  zx_handle_t h = ZX_HANDLE_INVALID;
  zx_status_t status = pagerd_cabi_handle_duplicate(handle, rights, &h);
  return pagerd_put_handle(status, h, out, PAGERD_FENCE);
}
ALIAS(zx_handle_duplicate);

API zx_status_t zx_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out) {
  zx_handle_t h = ZX_HANDLE_INVALID;
  zx_status_t status = pagerd_cabi_handle_replace(handle, rights, &h);
  return pagerd_put_handle(status, h, out, PAGERD_FENCE);
}
ALIAS(zx_handle_replace);

// ---- objects ------------------------------------------------------------------

API zx_status_t zx_object_wait_one(zx_handle_t handle, zx_signals_t signals, zx_time_t deadline,
                                   zx_signals_t* observed) {
  const uintptr_t fence = PAGERD_FENCE;
  zx_signals_t obs = 0;
  zx_status_t status = pagerd_cabi_object_wait_one(handle, signals, deadline, &obs);
  // Zircon reports the observed signals whenever the wait itself ran.
  if ((status == ZX_OK || status == ZX_ERR_TIMED_OUT || status == ZX_ERR_CANCELED) &&
      observed != NULL && pagerd_copy_out(observed, &obs, sizeof obs, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  return status;
}
ALIAS(zx_object_wait_one);

API zx_status_t zx_object_get_info(zx_handle_t handle, uint32_t topic, void* buffer,
                                   size_t buffer_size, size_t* actual, size_t* avail) {
  const uintptr_t fence = PAGERD_FENCE;
  union {
    zx_info_vmo_t vmo;
    zx_info_handle_basic_t basic;
  } rec;
  memset(&rec, 0, sizeof rec);
  size_t got = 0, total = 0, rec_size = 0;
  zx_status_t status = pagerd_cabi_object_get_info(
      handle, topic, &rec, min_size(buffer_size, sizeof rec), &got, &total, &rec_size);
  if (status != ZX_OK && status != ZX_ERR_BUFFER_TOO_SMALL) {
    return status;
  }
  // As Zircon: the record, then actual, then avail; BUFFER_TOO_SMALL still
  // reports actual = 0 and avail = 1.
  if (got > 0 && pagerd_copy_out(buffer, &rec, rec_size, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  if (actual != NULL && pagerd_copy_out(actual, &got, sizeof got, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  if (avail != NULL && pagerd_copy_out(avail, &total, sizeof total, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  return status;
}
ALIAS(zx_object_get_info);

API zx_status_t zx_object_get_property(zx_handle_t handle, uint32_t property, void* value,
                                       size_t value_size) {
  const uintptr_t fence = PAGERD_FENCE;
  if (value == NULL) {
    return pagerd_cabi_object_get_property(handle, property, NULL, 0, &(size_t){0});
  }
  union {
    char name[ZX_MAX_NAME_LEN];
    uint64_t u64;
  } local;
  memset(&local, 0, sizeof local);
  size_t out_size = 0;
  zx_status_t status = pagerd_cabi_object_get_property(
      handle, property, &local, min_size(value_size, sizeof local), &out_size);
  if (status == ZX_OK && pagerd_copy_out(value, &local, out_size, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  return status;
}
ALIAS(zx_object_get_property);

API zx_status_t zx_object_set_property(zx_handle_t handle, uint32_t property, const void* value,
                                       size_t value_size) {
  const uintptr_t fence = PAGERD_FENCE;
  if (value == NULL) {
    return pagerd_cabi_object_set_property(handle, property, NULL, 0);
  }
  union {
    char name[ZX_MAX_NAME_LEN];
    uint64_t u64;
  } local;
  memset(&local, 0, sizeof local);
  // How many bytes Zircon reads for each property: a name is cut to
  // ZX_MAX_NAME_LEN - 1 bytes; a content size is one uint64_t (a shorter
  // value is BUFFER_TOO_SMALL without reading it); nothing for the rest.
  size_t n = 0, pass = min_size(value_size, sizeof local);
  if (property == ZX_PROP_NAME) {
    n = pass = min_size(value_size, ZX_MAX_NAME_LEN - 1);
  } else if (property == ZX_PROP_VMO_CONTENT_SIZE && value_size >= sizeof(uint64_t)) {
    n = pass = sizeof(uint64_t);
  }
  if (pagerd_copy_in(&local, value, n, fence) != 0) {
    zx_status_t status = pagerd_cabi_handle_check(handle, ZX_OBJ_TYPE_NONE, ZX_RIGHT_SET_PROPERTY);
    return status != ZX_OK ? status : ZX_ERR_INVALID_ARGS;
  }
  return pagerd_cabi_object_set_property(handle, property, &local, pass);
}
ALIAS(zx_object_set_property);

// ---- ports --------------------------------------------------------------------

API zx_status_t zx_port_create(uint32_t options, zx_handle_t* out) {
  zx_handle_t h = ZX_HANDLE_INVALID;
  zx_status_t status = pagerd_cabi_port_create(options, &h);
  return pagerd_put_handle(status, h, out, PAGERD_FENCE);
}
ALIAS(zx_port_create);

API zx_status_t zx_port_queue(zx_handle_t handle, const zx_port_packet_t* packet) {
  const uintptr_t fence = PAGERD_FENCE;
  zx_port_packet_t local;
  if (pagerd_copy_in(&local, packet, sizeof local, fence) != 0) {
    return pagerd_cabi_port_queue(handle, NULL);  // the handle checks, then INVALID_ARGS
  }
  return pagerd_cabi_port_queue(handle, &local);
}
ALIAS(zx_port_queue);

API zx_status_t zx_port_wait(zx_handle_t handle, zx_time_t deadline, zx_port_packet_t* packet) {
  const uintptr_t fence = PAGERD_FENCE;
  // An unwritable packet is found before waiting, so no packet is lost to it
  // (Zircon would dequeue one and then fail the copy-out).
  if (pagerd_probe(packet, sizeof *packet, 1, fence) != 0) {
    return pagerd_cabi_port_wait(handle, deadline, NULL);  // the handle checks, then INVALID_ARGS
  }
  zx_port_packet_t local;
  zx_status_t status = pagerd_cabi_port_wait(handle, deadline, &local);
  if (status == ZX_OK && pagerd_copy_out(packet, &local, sizeof local, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;  // unmapped meanwhile: the packet is lost, as in Zircon
  }
  return status;
}
ALIAS(zx_port_wait);

// ---- VMOs ---------------------------------------------------------------------

API zx_status_t zx_vmo_create(uint64_t size, uint32_t options, zx_handle_t* out) {
  zx_handle_t h = ZX_HANDLE_INVALID;
  zx_status_t status = pagerd_cabi_vmo_create(size, options, &h);
  return pagerd_put_handle(status, h, out, PAGERD_FENCE);
}
ALIAS(zx_vmo_create);

// zx_vmo_read and zx_vmo_write hand the buffer to Go with where it lies
// (pagerd_classify, computed here where the caller's frame is known). Go
// checks the handle and the range, then rejects a buffer on this thread's
// stack below the caller's frame, probes one that is not in the caller's own
// frames (MADV_POPULATE_*, as pagerd_probe), and lets the kernel copy it with
// pread/pwrite.
API zx_status_t zx_vmo_read(zx_handle_t handle, void* buffer, uint64_t offset, size_t buffer_size) {
  int where = pagerd_classify(buffer, buffer_size, PAGERD_FENCE);
  return pagerd_cabi_vmo_read(handle, buffer, offset, buffer_size, where);
}
ALIAS(zx_vmo_read);

API zx_status_t zx_vmo_write(zx_handle_t handle, const void* buffer, uint64_t offset,
                             size_t buffer_size) {
  int where = pagerd_classify(buffer, buffer_size, PAGERD_FENCE);
  return pagerd_cabi_vmo_write(handle, (void*)buffer, offset, buffer_size, where);
}
ALIAS(zx_vmo_write);

API zx_status_t zx_vmo_get_size(zx_handle_t handle, uint64_t* size) {
  const uintptr_t fence = PAGERD_FENCE;
  uint64_t s = 0;
  zx_status_t status = pagerd_cabi_vmo_get_size(handle, &s);
  if (status == ZX_OK && pagerd_copy_out(size, &s, sizeof s, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  return status;
}
ALIAS(zx_vmo_get_size);

API zx_status_t zx_vmo_set_size(zx_handle_t handle, uint64_t size) {
  return pagerd_cabi_vmo_set_size(handle, size);
}
ALIAS(zx_vmo_set_size);

API zx_status_t zx_vmo_op_range(zx_handle_t handle, uint32_t op, uint64_t offset, uint64_t size,
                                void* buffer, size_t buffer_size) {
  const uintptr_t fence = PAGERD_FENCE;
  zx_vmo_lock_state_t lock;
  memset(&lock, 0, sizeof lock);
  zx_status_t status = pagerd_cabi_vmo_op_range(handle, op, offset, size, &lock,
                                                min_size(buffer_size, sizeof lock));
  if (status == ZX_OK && op == ZX_VMO_OP_LOCK &&
      pagerd_copy_out(buffer, &lock, sizeof lock, fence) != 0) {
    // As Zircon: a lock whose state cannot be reported is undone.
    pagerd_cabi_vmo_op_range(handle, ZX_VMO_OP_UNLOCK, offset, size, NULL, 0);
    return ZX_ERR_INVALID_ARGS;
  }
  return status;
}
ALIAS(zx_vmo_op_range);

// The child is made first; if *out cannot be written it is closed again
// (INVALID_ARGS), as for every call that returns a new handle.
API zx_status_t zx_vmo_create_child(zx_handle_t handle, uint32_t options, uint64_t offset,
                                    uint64_t size, zx_handle_t* out) {
  zx_handle_t h = ZX_HANDLE_INVALID;
  zx_status_t status = pagerd_cabi_vmo_create_child(handle, options, offset, size, &h);
  return pagerd_put_handle(status, h, out, PAGERD_FENCE);
}
ALIAS(zx_vmo_create_child);

// ---- VMARs --------------------------------------------------------------------

API zx_handle_t zx_vmar_root_self(void) { return pagerd_cabi_vmar_root_self(); }

API zx_status_t zx_vmar_map(zx_handle_t handle, zx_vm_option_t options, size_t vmar_offset,
                            zx_handle_t vmo, uint64_t vmo_offset, size_t len,
                            zx_vaddr_t* mapped_addr) {
  const uintptr_t fence = PAGERD_FENCE;
  uintptr_t addr = 0;
  zx_status_t status =
      pagerd_cabi_vmar_map(handle, options, vmar_offset, vmo, vmo_offset, len, &addr);
  if (status != ZX_OK) {
    return status;
  }
  if (pagerd_copy_out(mapped_addr, &addr, sizeof addr, fence) != 0) {
    // As Zircon: the mapping is destroyed when its address cannot be reported.
    pagerd_cabi_vmar_unmap(handle, addr, (len + ZX_PAGE_MASK) & ~(uint64_t)ZX_PAGE_MASK);
    return ZX_ERR_INVALID_ARGS;
  }
  return ZX_OK;
}
ALIAS(zx_vmar_map);

API zx_status_t zx_vmar_unmap(zx_handle_t handle, zx_vaddr_t addr, size_t len) {
  return pagerd_cabi_vmar_unmap(handle, addr, len);
}
ALIAS(zx_vmar_unmap);

API zx_status_t zx_vmar_op_range(zx_handle_t handle, uint32_t op, zx_vaddr_t address, size_t size,
                                 void* buffer, size_t buffer_size) {
  (void)buffer;  // unused by every VMAR op; a non-zero buffer_size is INVALID_ARGS
  return pagerd_cabi_vmar_op_range(handle, op, address, size, buffer_size);
}
ALIAS(zx_vmar_op_range);

// ---- pagers -------------------------------------------------------------------

API zx_status_t zx_pager_create(uint32_t options, zx_handle_t* out) {
  zx_handle_t h = ZX_HANDLE_INVALID;
  zx_status_t status = pagerd_cabi_pager_create(options, &h);
  return pagerd_put_handle(status, h, out, PAGERD_FENCE);
}
ALIAS(zx_pager_create);

API zx_status_t zx_pager_create_vmo(zx_handle_t pager, uint32_t options, zx_handle_t port,
                                    uint64_t key, uint64_t size, zx_handle_t* out) {
  zx_handle_t h = ZX_HANDLE_INVALID;
  zx_status_t status = pagerd_cabi_pager_create_vmo(pager, options, port, key, size, &h);
  return pagerd_put_handle(status, h, out, PAGERD_FENCE);
}
ALIAS(zx_pager_create_vmo);

API zx_status_t zx_pager_detach_vmo(zx_handle_t pager, zx_handle_t vmo) {
  return pagerd_cabi_pager_detach_vmo(pager, vmo);
}
ALIAS(zx_pager_detach_vmo);

API zx_status_t zx_pager_supply_pages(zx_handle_t pager, zx_handle_t pager_vmo, uint64_t offset,
                                      uint64_t length, zx_handle_t aux_vmo, uint64_t aux_offset) {
  return pagerd_cabi_pager_supply_pages(pager, pager_vmo, offset, length, aux_vmo, aux_offset);
}
ALIAS(zx_pager_supply_pages);

API zx_status_t zx_pager_op_range(zx_handle_t pager, uint32_t op, zx_handle_t pager_vmo,
                                  uint64_t offset, uint64_t length, uint64_t data) {
  return pagerd_cabi_pager_op_range(pager, op, pager_vmo, offset, length, data);
}
ALIAS(zx_pager_op_range);

// The entries are copied to buffer by the Go side (their number is not known
// here); actual and avail (each optional) are written after them, as in
// Zircon, and avail is only computed when it is asked for.
API zx_status_t zx_pager_query_dirty_ranges(zx_handle_t pager, zx_handle_t pager_vmo,
                                            uint64_t offset, uint64_t length, void* buffer,
                                            size_t buffer_size, size_t* actual, size_t* avail) {
  const uintptr_t fence = PAGERD_FENCE;
  size_t got = 0, total = 0;
  zx_status_t status = pagerd_cabi_pager_query_dirty_ranges(
      pager, pager_vmo, offset, length, buffer, buffer_size, avail != NULL, &got, &total, fence);
  if (status != ZX_OK) {
    return status;
  }
  if (actual != NULL && pagerd_copy_out(actual, &got, sizeof got, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  if (avail != NULL && pagerd_copy_out(avail, &total, sizeof total, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  return ZX_OK;
}
ALIAS(zx_pager_query_dirty_ranges);

API zx_status_t zx_pager_query_vmo_stats(zx_handle_t pager, zx_handle_t pager_vmo,
                                         uint32_t options, void* buffer, size_t buffer_size) {
  const uintptr_t fence = PAGERD_FENCE;
  zx_pager_vmo_stats_t stats;
  memset(&stats, 0, sizeof stats);
  zx_status_t status =
      pagerd_cabi_pager_query_vmo_stats(pager, pager_vmo, options, &stats, buffer_size);
  if (status == ZX_OK && pagerd_copy_out(buffer, &stats, sizeof stats, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;  // as in Zircon, a reset has happened anyway
  }
  return status;
}
ALIAS(zx_pager_query_vmo_stats);
