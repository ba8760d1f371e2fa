// zircon/syscalls.h: the Zircon calls pagerd implements on Linux, with
// Zircon's names, signatures and status codes. Link with -lzircon.
//
// This header brings in everything a pager program needs: the types and
// values (zircon/types.h, errors.h, rights.h, time.h), port packets
// (zircon/syscalls/port.h), object info and properties
// (zircon/syscalls/object.h), zx_vmar_root_self() (zircon/process.h) and
// zx_status_get_string() (zircon/status.h).
//
// Every call checks its arguments in Zircon's order: alignment checks that
// Zircon makes before looking at handles, then each handle (invalid:
// ZX_ERR_BAD_HANDLE; wrong object type: ZX_ERR_WRONG_TYPE; missing right:
// ZX_ERR_ACCESS_DENIED), then the rest. A pointer argument that cannot be
// read or written (NULL where a pointer is required, unmapped, PROT_NONE,
// read-only for an output) gives ZX_ERR_INVALID_ARGS at the point where
// Zircon would copy from or to it; the library never faults on it. Outputs are
// written last, as by Zircon: a call whose output pointer is bad has had its
// effect (a created object is closed again, a new mapping is unmapped).
//
// See include/README.md for threads, signals (SIGBUS on failed pages), fork
// and the Go runtime inside the library.

#ifndef ZIRCON_SYSCALLS_H_
#define ZIRCON_SYSCALLS_H_

#include <zircon/compiler.h>
#include <zircon/process.h>
#include <zircon/status.h>
#include <zircon/syscalls/object.h>
#include <zircon/syscalls/port.h>
#include <zircon/types.h>

__BEGIN_CDECLS

// ---- System ----------------------------------------------------------------

// The page size: always ZX_PAGE_SIZE (4096).
uint32_t zx_system_get_page_size(void);

// ---- Time ------------------------------------------------------------------

// The monotonic clock in nanoseconds (CLOCK_MONOTONIC).
zx_time_t zx_clock_get_monotonic(void);

// zx_clock_get_monotonic() + nanoseconds, saturating at ZX_TIME_INFINITE and
// ZX_TIME_INFINITE_PAST.
zx_time_t zx_deadline_after(zx_duration_t nanoseconds);

// Sleeps until deadline (monotonic clock); a past deadline returns at once,
// ZX_TIME_INFINITE never returns. Always ZX_OK.
zx_status_t zx_nanosleep(zx_time_t deadline);

// ---- Handles ---------------------------------------------------------------

// Closes a handle; ZX_HANDLE_INVALID is ZX_OK, an unknown handle
// ZX_ERR_BAD_HANDLE.
zx_status_t zx_handle_close(zx_handle_t handle);

// Needs ZX_RIGHT_DUPLICATE. rights must be a subset of the handle's
// (ZX_ERR_INVALID_ARGS otherwise) or ZX_RIGHT_SAME_RIGHTS.
zx_status_t zx_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out);

// Replaces handle by a new one with rights (a subset, or ZX_RIGHT_SAME_RIGHTS).
// handle is invalid afterwards, even when the call fails.
zx_status_t zx_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out);

// ---- Objects ---------------------------------------------------------------

// Waits until one of signals is asserted on the object (ZX_OK), deadline
// passes (ZX_ERR_TIMED_OUT) or the handle is closed (ZX_ERR_CANCELED). Needs
// ZX_RIGHT_WAIT. observed may be NULL.
zx_status_t zx_object_wait_one(zx_handle_t handle, zx_signals_t signals, zx_time_t deadline,
                               zx_signals_t* observed);

// Topics ZX_INFO_HANDLE_BASIC and ZX_INFO_VMO (ZX_INFO_VMO_V1..V3 too); any
// other topic is ZX_ERR_NOT_SUPPORTED. actual and avail may be NULL. A buffer
// smaller than the record: ZX_ERR_BUFFER_TOO_SMALL with *actual = 0,
// *avail = 1.
zx_status_t zx_object_get_info(zx_handle_t handle, uint32_t topic, void* buffer,
                               size_t buffer_size, size_t* actual, size_t* avail);

// ZX_PROP_NAME (char[ZX_MAX_NAME_LEN]) and ZX_PROP_VMO_CONTENT_SIZE
// (uint64_t). Needs ZX_RIGHT_GET_PROPERTY.
zx_status_t zx_object_get_property(zx_handle_t handle, uint32_t property, void* value,
                                   size_t value_size);

// ZX_PROP_NAME and ZX_PROP_VMO_CONTENT_SIZE. Needs ZX_RIGHT_SET_PROPERTY.
zx_status_t zx_object_set_property(zx_handle_t handle, uint32_t property, const void* value,
                                   size_t value_size);

// ---- Ports -----------------------------------------------------------------

// options: 0. (ZX_PORT_BIND_TO_INTERRUPT is ZX_ERR_NOT_SUPPORTED: pagerd has
// no interrupts.)
zx_status_t zx_port_create(uint32_t options, zx_handle_t* out);

// Queues a ZX_PKT_TYPE_USER packet (the type field is ignored). Needs
// ZX_RIGHT_WRITE.
zx_status_t zx_port_queue(zx_handle_t handle, const zx_port_packet_t* packet);

// Dequeues the oldest packet, waiting until deadline. Needs ZX_RIGHT_READ.
// One packet wakes one waiter.
zx_status_t zx_port_wait(zx_handle_t handle, zx_time_t deadline, zx_port_packet_t* packet);

// ---- VMOs ------------------------------------------------------------------

// options: ZX_VMO_RESIZABLE, ZX_VMO_DISCARDABLE, ZX_VMO_UNBOUNDED.
zx_status_t zx_vmo_create(uint64_t size, uint32_t options, zx_handle_t* out);

// Reads exactly buffer_size bytes. On a pager VMO, missing pages are requested
// from the pager (ZX_PAGER_VMO_READ) and the call waits for them.
zx_status_t zx_vmo_read(zx_handle_t handle, void* buffer, uint64_t offset, size_t buffer_size);

// Writes exactly buffer_size bytes (requesting missing pages on a pager VMO).
zx_status_t zx_vmo_write(zx_handle_t handle, const void* buffer, uint64_t offset,
                         size_t buffer_size);

zx_status_t zx_vmo_get_size(zx_handle_t handle, uint64_t* size);

// Needs ZX_RIGHT_WRITE and ZX_RIGHT_RESIZE; ZX_ERR_UNAVAILABLE for a VMO
// that is not resizable.
zx_status_t zx_vmo_set_size(zx_handle_t handle, uint64_t size);

// ZX_VMO_OP_*; buffer is the zx_vmo_lock_state_t of ZX_VMO_OP_LOCK.
zx_status_t zx_vmo_op_range(zx_handle_t handle, uint32_t op, uint64_t offset, uint64_t size,
                            void* buffer, size_t buffer_size);

// Needs ZX_RIGHT_DUPLICATE and ZX_RIGHT_READ. Exactly one of
// ZX_VMO_CHILD_SNAPSHOT, _SNAPSHOT_AT_LEAST_ON_WRITE, _SNAPSHOT_MODIFIED or
// _SLICE, optionally ZX_VMO_CHILD_RESIZABLE (not with a slice) and
// ZX_VMO_CHILD_NO_WRITE. Snapshots of plain VMOs are private copies (bytes
// past the parent's end read zero); a slice shares the parent's pages; a
// pager VMO (or a clone of one) takes only _SNAPSHOT_AT_LEAST_ON_WRITE: a
// copy-on-write clone whose missing pages are requested from the root's
// pager. Not supported: ZX_VMO_CHILD_REFERENCE and _SNAPSHOT_MODIFIED of
// pager VMOs (ZX_ERR_NOT_SUPPORTED). See docs/VMO-CHILDREN.md.
zx_status_t zx_vmo_create_child(zx_handle_t handle, uint32_t options, uint64_t offset,
                                uint64_t size, zx_handle_t* out);

// ---- VMARs -----------------------------------------------------------------

// Maps len bytes of vmo at vmo_offset into the process (handle: the root
// VMAR). A mapping of a pager VMO is served by the library's fault reader:
// any thread may touch it; a page the pager fails raises SIGBUS in the thread
// that touches it.
zx_status_t zx_vmar_map(zx_handle_t handle, zx_vm_option_t options, size_t vmar_offset,
                        zx_handle_t vmo, uint64_t vmo_offset, size_t len,
                        zx_vaddr_t* mapped_addr);

zx_status_t zx_vmar_unmap(zx_handle_t handle, zx_vaddr_t addr, size_t len);

// ZX_VMAR_OP_*; buffer must be NULL / buffer_size 0.
zx_status_t zx_vmar_op_range(zx_handle_t handle, uint32_t op, zx_vaddr_t address, size_t size,
                             void* buffer, size_t buffer_size);

// ---- Pagers ----------------------------------------------------------------

// options: 0. Rights: ZX_DEFAULT_PAGER_RIGHTS (no DUPLICATE, no WAIT).
zx_status_t zx_pager_create(uint32_t options, zx_handle_t* out);

// options: ZX_VMO_RESIZABLE, ZX_VMO_TRAP_DIRTY, ZX_VMO_UNBOUNDED. The VMO posts
// ZX_PKT_TYPE_PAGE_REQUEST packets with key to port.
zx_status_t zx_pager_create_vmo(zx_handle_t pager, uint32_t options, zx_handle_t port,
                                uint64_t key, uint64_t size, zx_handle_t* out);

zx_status_t zx_pager_detach_vmo(zx_handle_t pager, zx_handle_t vmo);

// Moves aux_vmo's pages [aux_offset, aux_offset + length) into pager_vmo at
// offset (pages already present are kept); the aux range is decommitted.
zx_status_t zx_pager_supply_pages(zx_handle_t pager, zx_handle_t pager_vmo, uint64_t offset,
                                  uint64_t length, zx_handle_t aux_vmo, uint64_t aux_offset);

// ZX_PAGER_OP_FAIL with data = ZX_ERR_IO, ZX_ERR_IO_DATA_INTEGRITY,
// ZX_ERR_BAD_STATE, ZX_ERR_NO_SPACE or ZX_ERR_BUFFER_TOO_SMALL sign-extended to
// 64 bits (anything else: ZX_ERR_INVALID_ARGS); ZX_PAGER_OP_DIRTY (data 0,
// ZX_VMO_TRAP_DIRTY VMOs); ZX_PAGER_OP_WRITEBACK_BEGIN (data 0 or
// ZX_VMO_DIRTY_RANGE_IS_ZERO); ZX_PAGER_OP_WRITEBACK_END (data 0).
zx_status_t zx_pager_op_range(zx_handle_t pager, uint32_t op, zx_handle_t pager_vmo,
                              uint64_t offset, uint64_t length, uint64_t data);

// Fills buffer with zx_vmo_dirty_range_t entries (as many as fit; a buffer too
// small for one is not an error). actual and avail may be NULL; avail is only
// counted when asked for.
zx_status_t zx_pager_query_dirty_ranges(zx_handle_t pager, zx_handle_t pager_vmo,
                                        uint64_t offset, uint64_t length, void* buffer,
                                        size_t buffer_size, size_t* actual, size_t* avail);

// buffer: a zx_pager_vmo_stats_t. options: 0 or ZX_PAGER_RESET_VMO_STATS.
zx_status_t zx_pager_query_vmo_stats(zx_handle_t pager, zx_handle_t pager_vmo, uint32_t options,
                                     void* buffer, size_t buffer_size);

// ---- The same calls under their vDSO-internal names ------------------------

uint32_t _zx_system_get_page_size(void);
zx_time_t _zx_clock_get_monotonic(void);
zx_time_t _zx_deadline_after(zx_duration_t nanoseconds);
zx_status_t _zx_nanosleep(zx_time_t deadline);
zx_status_t _zx_handle_close(zx_handle_t handle);
zx_status_t _zx_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out);
zx_status_t _zx_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out);
zx_status_t _zx_object_wait_one(zx_handle_t handle, zx_signals_t signals, zx_time_t deadline,
                                zx_signals_t* observed);
zx_status_t _zx_object_get_info(zx_handle_t handle, uint32_t topic, void* buffer,
                                size_t buffer_size, size_t* actual, size_t* avail);
zx_status_t _zx_object_get_property(zx_handle_t handle, uint32_t property, void* value,
                                    size_t value_size);
zx_status_t _zx_object_set_property(zx_handle_t handle, uint32_t property, const void* value,
                                    size_t value_size);
zx_status_t _zx_port_create(uint32_t options, zx_handle_t* out);
zx_status_t _zx_port_queue(zx_handle_t handle, const zx_port_packet_t* packet);
zx_status_t _zx_port_wait(zx_handle_t handle, zx_time_t deadline, zx_port_packet_t* packet);
zx_status_t _zx_vmo_create(uint64_t size, uint32_t options, zx_handle_t* out);
zx_status_t _zx_vmo_read(zx_handle_t handle, void* buffer, uint64_t offset, size_t buffer_size);
zx_status_t _zx_vmo_write(zx_handle_t handle, const void* buffer, uint64_t offset,
                          size_t buffer_size);
zx_status_t _zx_vmo_get_size(zx_handle_t handle, uint64_t* size);
zx_status_t _zx_vmo_set_size(zx_handle_t handle, uint64_t size);
zx_status_t _zx_vmo_op_range(zx_handle_t handle, uint32_t op, uint64_t offset, uint64_t size,
                             void* buffer, size_t buffer_size);
zx_status_t _zx_vmo_create_child(zx_handle_t handle, uint32_t options, uint64_t offset,
                                 uint64_t size, zx_handle_t* out);
zx_status_t _zx_vmar_map(zx_handle_t handle, zx_vm_option_t options, size_t vmar_offset,
                         zx_handle_t vmo, uint64_t vmo_offset, size_t len,
                         zx_vaddr_t* mapped_addr);
zx_status_t _zx_vmar_unmap(zx_handle_t handle, zx_vaddr_t addr, size_t len);
zx_status_t _zx_vmar_op_range(zx_handle_t handle, uint32_t op, zx_vaddr_t address, size_t size,
                              void* buffer, size_t buffer_size);
zx_status_t _zx_pager_create(uint32_t options, zx_handle_t* out);
zx_status_t _zx_pager_create_vmo(zx_handle_t pager, uint32_t options, zx_handle_t port,
                                 uint64_t key, uint64_t size, zx_handle_t* out);
zx_status_t _zx_pager_detach_vmo(zx_handle_t pager, zx_handle_t vmo);
zx_status_t _zx_pager_supply_pages(zx_handle_t pager, zx_handle_t pager_vmo, uint64_t offset,
                                   uint64_t length, zx_handle_t aux_vmo, uint64_t aux_offset);
zx_status_t _zx_pager_op_range(zx_handle_t pager, uint32_t op, zx_handle_t pager_vmo,
                               uint64_t offset, uint64_t length, uint64_t data);
zx_status_t _zx_pager_query_dirty_ranges(zx_handle_t pager, zx_handle_t pager_vmo,
                                         uint64_t offset, uint64_t length, void* buffer,
                                         size_t buffer_size, size_t* actual, size_t* avail);
zx_status_t _zx_pager_query_vmo_stats(zx_handle_t pager, zx_handle_t pager_vmo,
                                      uint32_t options, void* buffer, size_t buffer_size);

__END_CDECLS

#endif  // ZIRCON_SYSCALLS_H_
