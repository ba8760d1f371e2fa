// Compile-time checks of pagerd's Zircon headers: struct sizes and field
// offsets, and the numeric value of every name a pager program uses, against
// Zircon's (spec/zircon-pager.md §2). Included by abi_test.c (C11) and
// abi_cxx.cc (C++17), so both languages see the same layouts.

#ifndef PAGERD_TESTS_ABI_LAYOUT_H
#define PAGERD_TESTS_ABI_LAYOUT_H

#include <stddef.h>
#include <zircon/errors.h>
#include <zircon/process.h>
#include <zircon/rights.h>
#include <zircon/status.h>
#include <zircon/syscalls-next.h>
#include <zircon/syscalls.h>
#include <zircon/syscalls/object.h>
#include <zircon/syscalls/port.h>
#include <zircon/types.h>

#ifdef __cplusplus
#define ABI_ASSERT(cond) static_assert(cond, #cond)
#else
#define ABI_ASSERT(cond) _Static_assert(cond, #cond)
#endif

#define ABI_SIZE(type, n) ABI_ASSERT(sizeof(type) == (n))
#define ABI_OFF(type, field, n) ABI_ASSERT(offsetof(type, field) == (n))

// ---- basic types ----
ABI_SIZE(zx_handle_t, 4);
ABI_SIZE(zx_status_t, 4);
ABI_SIZE(zx_rights_t, 4);
ABI_SIZE(zx_signals_t, 4);
ABI_SIZE(zx_koid_t, 8);
ABI_SIZE(zx_time_t, 8);
ABI_SIZE(zx_duration_t, 8);
ABI_SIZE(zx_vaddr_t, 8);
ABI_SIZE(zx_vm_option_t, 4);
ABI_SIZE(zx_obj_type_t, 4);
ABI_SIZE(zx_packet_type_t, 4);
ABI_SIZE(zx_object_info_topic_t, 4);
ABI_ASSERT((zx_status_t)-1 < 0);  // signed
ABI_ASSERT((zx_time_t)-1 < 0);    // deadlines are signed 64-bit
ABI_ASSERT(ZX_TIME_INFINITE == INT64_MAX);
ABI_ASSERT(ZX_TIME_INFINITE_PAST == INT64_MIN);
ABI_ASSERT(ZX_HANDLE_INVALID == 0);
ABI_ASSERT(ZX_HANDLE_FIXED_BITS_MASK == 3);
ABI_ASSERT(ZX_PAGE_SIZE == 4096);
ABI_ASSERT(ZX_MAX_NAME_LEN == 32);

// ---- zx_port_packet_t (48 bytes) ----
ABI_SIZE(zx_port_packet_t, 48);
ABI_OFF(zx_port_packet_t, key, 0);
ABI_OFF(zx_port_packet_t, type, 8);
ABI_OFF(zx_port_packet_t, status, 12);
ABI_OFF(zx_port_packet_t, user, 16);
ABI_OFF(zx_port_packet_t, page_request, 16);
ABI_OFF(zx_port_packet_t, signal, 16);
ABI_SIZE(zx_packet_user_t, 32);
ABI_SIZE(zx_packet_signal_t, 32);
ABI_SIZE(zx_packet_guest_bell_t, 32);
ABI_SIZE(zx_packet_guest_mem_t, 32);
ABI_SIZE(zx_packet_guest_io_t, 32);
ABI_SIZE(zx_packet_guest_vcpu_t, 32);
ABI_SIZE(zx_packet_interrupt_t, 32);
ABI_SIZE(zx_packet_processor_power_level_transition_request_t, 32);
ABI_SIZE(zx_packet_page_request_t, 32);
ABI_OFF(zx_packet_page_request_t, command, 0);
ABI_OFF(zx_packet_page_request_t, flags, 2);
ABI_OFF(zx_packet_page_request_t, reserved0, 4);
ABI_OFF(zx_packet_page_request_t, offset, 8);
ABI_OFF(zx_packet_page_request_t, length, 16);
ABI_OFF(zx_packet_page_request_t, reserved1, 24);
// As offsets into the packet: command @16, flags @18, offset @24, length @32.
#define PAGE_REQUEST_AT(field) \
  (offsetof(zx_port_packet_t, page_request) + offsetof(zx_packet_page_request_t, field))
ABI_ASSERT(PAGE_REQUEST_AT(command) == 16 && PAGE_REQUEST_AT(flags) == 18);
ABI_ASSERT(PAGE_REQUEST_AT(offset) == 24 && PAGE_REQUEST_AT(length) == 32);

ABI_ASSERT(ZX_PKT_TYPE_USER == 0x00);
ABI_ASSERT(ZX_PKT_TYPE_SIGNAL_ONE == 0x01);
ABI_ASSERT(ZX_PKT_TYPE_GUEST_BELL == 0x03);
ABI_ASSERT(ZX_PKT_TYPE_GUEST_MEM == 0x04);
ABI_ASSERT(ZX_PKT_TYPE_GUEST_IO == 0x05);
ABI_ASSERT(ZX_PKT_TYPE_GUEST_VCPU == 0x06);
ABI_ASSERT(ZX_PKT_TYPE_INTERRUPT == 0x07);
ABI_ASSERT(ZX_PKT_TYPE_PAGE_REQUEST == 0x09);
ABI_ASSERT(ZX_PAGER_VMO_READ == 0);
ABI_ASSERT(ZX_PAGER_VMO_COMPLETE == 1);
ABI_ASSERT(ZX_PAGER_VMO_DIRTY == 2);
ABI_ASSERT(ZX_PORT_BIND_TO_INTERRUPT == 1);
ABI_ASSERT(ZX_WAIT_ASYNC_ONCE == 0 && ZX_WAIT_ASYNC_TIMESTAMP == 1 && ZX_WAIT_ASYNC_EDGE == 2);

// ---- zx_info_vmo_t (ZX_INFO_VMO v4, 176 bytes) and its older versions ----
ABI_SIZE(zx_info_vmo_t, 176);
ABI_OFF(zx_info_vmo_t, koid, 0);
ABI_OFF(zx_info_vmo_t, name, 8);
ABI_OFF(zx_info_vmo_t, size_bytes, 40);
ABI_OFF(zx_info_vmo_t, parent_koid, 48);
ABI_OFF(zx_info_vmo_t, num_children, 56);
ABI_OFF(zx_info_vmo_t, num_mappings, 64);
ABI_OFF(zx_info_vmo_t, share_count, 72);
ABI_OFF(zx_info_vmo_t, flags, 80);
ABI_OFF(zx_info_vmo_t, padding1, 84);
ABI_OFF(zx_info_vmo_t, committed_bytes, 88);
ABI_OFF(zx_info_vmo_t, handle_rights, 96);
ABI_OFF(zx_info_vmo_t, cache_policy, 100);
ABI_OFF(zx_info_vmo_t, metadata_bytes, 104);
ABI_OFF(zx_info_vmo_t, committed_change_events, 112);
ABI_OFF(zx_info_vmo_t, populated_bytes, 120);
ABI_OFF(zx_info_vmo_t, committed_private_bytes, 128);
ABI_OFF(zx_info_vmo_t, populated_private_bytes, 136);
ABI_OFF(zx_info_vmo_t, committed_scaled_bytes, 144);
ABI_OFF(zx_info_vmo_t, populated_scaled_bytes, 152);
ABI_OFF(zx_info_vmo_t, committed_fractional_scaled_bytes, 160);
ABI_OFF(zx_info_vmo_t, populated_fractional_scaled_bytes, 168);
ABI_SIZE(zx_info_vmo_v3_t, 128);
ABI_SIZE(zx_info_vmo_v2_t, 120);
ABI_SIZE(zx_info_vmo_v1_t, 104);
ABI_OFF(zx_info_vmo_v1_t, cache_policy, 100);
ABI_OFF(zx_info_vmo_v3_t, populated_bytes, 120);

ABI_ASSERT(ZX_INFO_HANDLE_BASIC == 2);
ABI_ASSERT(ZX_INFO_VMO == 0x30000017u);
ABI_ASSERT(ZX_INFO_VMO_V3 == 0x20000017u);
ABI_ASSERT(ZX_INFO_VMO_V2 == 0x10000017u);
ABI_ASSERT(ZX_INFO_VMO_V1 == 0x17u);
ABI_ASSERT(ZX_INFO_VMO_TYPE_PAGED == 1u && ZX_INFO_VMO_TYPE(3u) == ZX_INFO_VMO_TYPE_PAGED);
ABI_ASSERT(ZX_INFO_VMO_RESIZABLE == 0x2u && ZX_INFO_VMO_IS_COW_CLONE == 0x4u);
ABI_ASSERT(ZX_INFO_VMO_VIA_HANDLE == 0x8u && ZX_INFO_VMO_VIA_MAPPING == 0x10u);
ABI_ASSERT(ZX_INFO_VMO_PAGER_BACKED == 0x20u && ZX_INFO_VMO_CONTIGUOUS == 0x40u);
ABI_ASSERT(ZX_INFO_VMO_DISCARDABLE == 0x80u && ZX_INFO_VMO_IMMUTABLE == 0x100u);
ABI_ASSERT(ZX_INFO_VMO_VIA_IOB_HANDLE == 0x200u);

// ---- zx_info_handle_basic_t (32 bytes) ----
ABI_SIZE(zx_info_handle_basic_t, 32);
ABI_OFF(zx_info_handle_basic_t, koid, 0);
ABI_OFF(zx_info_handle_basic_t, rights, 8);
ABI_OFF(zx_info_handle_basic_t, type, 12);
ABI_OFF(zx_info_handle_basic_t, related_koid, 16);
ABI_OFF(zx_info_handle_basic_t, reserved, 24);

// ---- pager writeback types ----
ABI_SIZE(zx_vmo_dirty_range_t, 24);
ABI_OFF(zx_vmo_dirty_range_t, offset, 0);
ABI_OFF(zx_vmo_dirty_range_t, length, 8);
ABI_OFF(zx_vmo_dirty_range_t, options, 16);
ABI_SIZE(zx_pager_vmo_stats_t, 4);
ABI_SIZE(zx_vmo_lock_state_t, 32);
ABI_ASSERT(ZX_VMO_DIRTY_RANGE_IS_ZERO == 1u);
ABI_ASSERT(ZX_PAGER_VMO_STATS_MODIFIED == 1u);
ABI_ASSERT(ZX_PAGER_RESET_VMO_STATS == 1u);
ABI_ASSERT(ZX_PAGER_OP_FAIL == 1u && ZX_PAGER_OP_DIRTY == 2u);
ABI_ASSERT(ZX_PAGER_OP_WRITEBACK_BEGIN == 3u && ZX_PAGER_OP_WRITEBACK_END == 4u);

// ---- status codes (§2.1) ----
ABI_ASSERT(ZX_OK == 0);
ABI_ASSERT(ZX_ERR_INTERNAL == -1 && ZX_ERR_NOT_SUPPORTED == -2 && ZX_ERR_NO_RESOURCES == -3);
ABI_ASSERT(ZX_ERR_NO_MEMORY == -4 && ZX_ERR_INTERNAL_INTR_RETRY == -6);
ABI_ASSERT(ZX_ERR_INVALID_ARGS == -10 && ZX_ERR_BAD_HANDLE == -11 && ZX_ERR_WRONG_TYPE == -12);
ABI_ASSERT(ZX_ERR_BAD_SYSCALL == -13 && ZX_ERR_OUT_OF_RANGE == -14);
ABI_ASSERT(ZX_ERR_BUFFER_TOO_SMALL == -15);
ABI_ASSERT(ZX_ERR_BAD_STATE == -20 && ZX_ERR_TIMED_OUT == -21 && ZX_ERR_SHOULD_WAIT == -22);
ABI_ASSERT(ZX_ERR_CANCELED == -23 && ZX_ERR_PEER_CLOSED == -24 && ZX_ERR_NOT_FOUND == -25);
ABI_ASSERT(ZX_ERR_ALREADY_EXISTS == -26 && ZX_ERR_ALREADY_BOUND == -27);
ABI_ASSERT(ZX_ERR_UNAVAILABLE == -28 && ZX_ERR_ACCESS_DENIED == -30);
ABI_ASSERT(ZX_ERR_IO == -40 && ZX_ERR_IO_REFUSED == -41 && ZX_ERR_IO_DATA_INTEGRITY == -42);
ABI_ASSERT(ZX_ERR_IO_DATA_LOSS == -43 && ZX_ERR_IO_NOT_PRESENT == -44);
ABI_ASSERT(ZX_ERR_IO_OVERRUN == -45 && ZX_ERR_IO_MISSED_DEADLINE == -46);
ABI_ASSERT(ZX_ERR_IO_INVALID == -47);
ABI_ASSERT(ZX_ERR_BAD_PATH == -50 && ZX_ERR_NOT_DIR == -51 && ZX_ERR_NOT_FILE == -52);
ABI_ASSERT(ZX_ERR_FILE_BIG == -53 && ZX_ERR_NO_SPACE == -54 && ZX_ERR_NOT_EMPTY == -55);
ABI_ASSERT(ZX_ERR_STOP == -60 && ZX_ERR_NEXT == -61 && ZX_ERR_ASYNC == -62);
ABI_ASSERT(ZX_ERR_PROTOCOL_NOT_SUPPORTED == -70 && ZX_ERR_ADDRESS_UNREACHABLE == -71);
ABI_ASSERT(ZX_ERR_ADDRESS_IN_USE == -72 && ZX_ERR_NOT_CONNECTED == -73);
ABI_ASSERT(ZX_ERR_CONNECTION_REFUSED == -74 && ZX_ERR_CONNECTION_RESET == -75);
ABI_ASSERT(ZX_ERR_CONNECTION_ABORTED == -76 && ZX_ERR_INTERNAL_INTR_KILLED == -502);

// ---- rights (§2.2) ----
ABI_ASSERT(ZX_RIGHT_NONE == 0 && ZX_RIGHT_DUPLICATE == 0x1 && ZX_RIGHT_TRANSFER == 0x2);
ABI_ASSERT(ZX_RIGHT_READ == 0x4 && ZX_RIGHT_WRITE == 0x8 && ZX_RIGHT_EXECUTE == 0x10);
ABI_ASSERT(ZX_RIGHT_MAP == 0x20 && ZX_RIGHT_GET_PROPERTY == 0x40 && ZX_RIGHT_SET_PROPERTY == 0x80);
ABI_ASSERT(ZX_RIGHT_ENUMERATE == 0x100 && ZX_RIGHT_DESTROY == 0x200);
ABI_ASSERT(ZX_RIGHT_SET_POLICY == 0x400 && ZX_RIGHT_GET_POLICY == 0x800);
ABI_ASSERT(ZX_RIGHT_SIGNAL == 0x1000 && ZX_RIGHT_SIGNAL_PEER == 0x2000);
ABI_ASSERT(ZX_RIGHT_WAIT == 0x4000 && ZX_RIGHT_INSPECT == 0x8000);
ABI_ASSERT(ZX_RIGHT_MANAGE_JOB == 0x10000 && ZX_RIGHT_MANAGE_PROCESS == 0x20000);
ABI_ASSERT(ZX_RIGHT_MANAGE_THREAD == 0x40000 && ZX_RIGHT_APPLY_PROFILE == 0x80000);
ABI_ASSERT(ZX_RIGHT_MANAGE_SOCKET == 0x100000 && ZX_RIGHT_OP_CHILDREN == 0x200000);
ABI_ASSERT(ZX_RIGHT_RESIZE == 0x400000 && ZX_RIGHT_ATTACH_VMO == 0x800000);
ABI_ASSERT(ZX_RIGHT_MANAGE_VMO == 0x1000000 && ZX_RIGHT_SAME_RIGHTS == 0x80000000u);
ABI_ASSERT(ZX_RIGHTS_BASIC == 0xC003 && ZX_RIGHTS_IO == 0xC && ZX_RIGHTS_PROPERTY == 0xC0);
ABI_ASSERT(ZX_DEFAULT_VMO_RIGHTS == 0xD0EF);
ABI_ASSERT(ZX_DEFAULT_PAGER_RIGHTS == 0x1808002);
ABI_ASSERT(ZX_DEFAULT_PORT_RIGHTS == 0x800F);
ABI_ASSERT(ZX_DEFAULT_VMAR_RIGHTS == 0x208003);

// ---- object types and signals (§2.3) ----
ABI_ASSERT(ZX_OBJ_TYPE_PROCESS == 1 && ZX_OBJ_TYPE_THREAD == 2 && ZX_OBJ_TYPE_VMO == 3);
ABI_ASSERT(ZX_OBJ_TYPE_CHANNEL == 4 && ZX_OBJ_TYPE_EVENT == 5 && ZX_OBJ_TYPE_PORT == 6);
ABI_ASSERT(ZX_OBJ_TYPE_VMAR == 18 && ZX_OBJ_TYPE_PAGER == 28);
ABI_ASSERT(ZX_VMO_ZERO_CHILDREN == 0x8);
ABI_ASSERT(ZX_SIGNAL_HANDLE_CLOSED == (1u << 23));
ABI_ASSERT(ZX_USER_SIGNAL_0 == (1u << 24) && ZX_USER_SIGNAL_7 == (1u << 31));
ABI_ASSERT(ZX_USER_SIGNAL_ALL == 0xff000000u);
ABI_ASSERT(ZX_THREAD_STATE_BLOCKED_PAGER == 0x0903);

// ---- VMO options, ops, child options (§2.5, §2.6, §2.8) ----
ABI_ASSERT(ZX_VMO_RESIZABLE == 0x2 && ZX_VMO_DISCARDABLE == 0x4);
ABI_ASSERT(ZX_VMO_TRAP_DIRTY == 0x8 && ZX_VMO_UNBOUNDED == 0x10);
ABI_ASSERT(ZX_VMO_OP_COMMIT == 1 && ZX_VMO_OP_DECOMMIT == 2 && ZX_VMO_OP_LOCK == 3);
ABI_ASSERT(ZX_VMO_OP_UNLOCK == 4 && ZX_VMO_OP_CACHE_SYNC == 6);
ABI_ASSERT(ZX_VMO_OP_CACHE_INVALIDATE == 7 && ZX_VMO_OP_CACHE_CLEAN == 8);
ABI_ASSERT(ZX_VMO_OP_CACHE_CLEAN_INVALIDATE == 9 && ZX_VMO_OP_ZERO == 10);
ABI_ASSERT(ZX_VMO_OP_TRY_LOCK == 11 && ZX_VMO_OP_DONT_NEED == 12);
ABI_ASSERT(ZX_VMO_OP_ALWAYS_NEED == 13 && ZX_VMO_OP_PREFETCH == 14);
ABI_ASSERT(ZX_VMAR_OP_COMMIT == 1 && ZX_VMAR_OP_DECOMMIT == 2 && ZX_VMAR_OP_MAP_RANGE == 3);
ABI_ASSERT(ZX_VMAR_OP_ZERO == 10 && ZX_VMAR_OP_DONT_NEED == 12);
ABI_ASSERT(ZX_VMAR_OP_ALWAYS_NEED == 13 && ZX_VMAR_OP_PREFETCH == 14);
ABI_ASSERT(ZX_VMO_CHILD_SNAPSHOT == 0x1 && ZX_VMO_CHILD_RESIZABLE == 0x4);
ABI_ASSERT(ZX_VMO_CHILD_SLICE == 0x8 && ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE == 0x10);
ABI_ASSERT(ZX_VMO_CHILD_NO_WRITE == 0x20 && ZX_VMO_CHILD_REFERENCE == 0x40);
ABI_ASSERT(ZX_VMO_CHILD_SNAPSHOT_MODIFIED == 0x80);

// ---- VMAR mapping options ----
ABI_ASSERT(ZX_VM_PERM_READ == 0x1 && ZX_VM_PERM_WRITE == 0x2 && ZX_VM_PERM_EXECUTE == 0x4);
ABI_ASSERT(ZX_VM_COMPACT == 0x8 && ZX_VM_SPECIFIC == 0x10 && ZX_VM_SPECIFIC_OVERWRITE == 0x20);
ABI_ASSERT(ZX_VM_CAN_MAP_SPECIFIC == 0x40 && ZX_VM_CAN_MAP_READ == 0x80);
ABI_ASSERT(ZX_VM_CAN_MAP_WRITE == 0x100 && ZX_VM_CAN_MAP_EXECUTE == 0x200);
ABI_ASSERT(ZX_VM_MAP_RANGE == 0x400 && ZX_VM_REQUIRE_NON_RESIZABLE == 0x800);
ABI_ASSERT(ZX_VM_ALLOW_FAULTS == 0x1000 && ZX_VM_OFFSET_IS_UPPER_LIMIT == 0x2000);
ABI_ASSERT(ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED == 0x4000);
ABI_ASSERT(ZX_VM_ALIGN_4KB == (12u << 24) && ZX_VM_ALIGN_2MB == (21u << 24));

// ---- properties ----
ABI_ASSERT(ZX_PROP_NAME == 3 && ZX_PROP_VMO_CONTENT_SIZE == 17);
ABI_ASSERT(ZX_CACHE_POLICY_CACHED == 0);

#endif  // PAGERD_TESTS_ABI_LAYOUT_H
