// zircon/syscalls/object.h: zx_object_get_info() topics and records,
// zx_object_get_property()/zx_object_set_property() properties.
//
// pagerd answers ZX_INFO_HANDLE_BASIC and ZX_INFO_VMO (and its older
// versions V1..V3, each a prefix of zx_info_vmo_t); every other topic is
// ZX_ERR_NOT_SUPPORTED. Properties: ZX_PROP_NAME and ZX_PROP_VMO_CONTENT_SIZE.

#ifndef ZIRCON_SYSCALLS_OBJECT_H_
#define ZIRCON_SYSCALLS_OBJECT_H_

#include <zircon/compiler.h>
#include <zircon/types.h>

__BEGIN_CDECLS

// clang-format off

// Versioned topics: the version is the upper 4 bits and starts counting at 0.
#define __ZX_INFO_TOPIC(t, v) ((zx_object_info_topic_t) ((t) | ((v) << 28)))

// Topics of zx_object_get_info(). (Topics whose versions are in flux in
// Zircon -- process maps and VMOs, task stats -- are left out.)
typedef uint32_t zx_object_info_topic_t;
#define ZX_INFO_NONE                        ((zx_object_info_topic_t)  0u)
#define ZX_INFO_HANDLE_VALID                ((zx_object_info_topic_t)  1u)
#define ZX_INFO_HANDLE_BASIC                ((zx_object_info_topic_t)  2u) // zx_info_handle_basic_t[1]
#define ZX_INFO_PROCESS                     __ZX_INFO_TOPIC(3u, 1u)        // zx_info_process_t[1]
#define ZX_INFO_PROCESS_THREADS             ((zx_object_info_topic_t)  4u) // zx_koid_t[n]
#define ZX_INFO_VMAR                        ((zx_object_info_topic_t)  7u) // zx_info_vmar_t[1]
#define ZX_INFO_JOB_CHILDREN                ((zx_object_info_topic_t)  8u) // zx_koid_t[n]
#define ZX_INFO_JOB_PROCESSES               ((zx_object_info_topic_t)  9u) // zx_koid_t[n]
#define ZX_INFO_THREAD                      ((zx_object_info_topic_t) 10u) // zx_info_thread_t[1]
#define ZX_INFO_THREAD_EXCEPTION_REPORT_V1  __ZX_INFO_TOPIC(11u, 0)
#define ZX_INFO_THREAD_EXCEPTION_REPORT     __ZX_INFO_TOPIC(11u, 1)
#define ZX_INFO_THREAD_STATS                ((zx_object_info_topic_t) 15u)
#define ZX_INFO_CPU_STATS                   ((zx_object_info_topic_t) 16u)
#define ZX_INFO_KMEM_STATS_V1               __ZX_INFO_TOPIC(17u, 0)
#define ZX_INFO_KMEM_STATS                  __ZX_INFO_TOPIC(17u, 1)
#define ZX_INFO_RESOURCE                    ((zx_object_info_topic_t) 18u)
#define ZX_INFO_HANDLE_COUNT                ((zx_object_info_topic_t) 19u)
#define ZX_INFO_BTI                         ((zx_object_info_topic_t) 20u)
#define ZX_INFO_PROCESS_HANDLE_STATS        ((zx_object_info_topic_t) 21u)
#define ZX_INFO_SOCKET                      ((zx_object_info_topic_t) 22u)
#define ZX_INFO_VMO_V1                      __ZX_INFO_TOPIC(23u, 0)        // zx_info_vmo_v1_t[1]
#define ZX_INFO_VMO_V2                      __ZX_INFO_TOPIC(23u, 1)        // zx_info_vmo_v2_t[1]
#define ZX_INFO_VMO_V3                      __ZX_INFO_TOPIC(23u, 2)        // zx_info_vmo_v3_t[1]
#define ZX_INFO_VMO                         __ZX_INFO_TOPIC(23u, 3)        // zx_info_vmo_t[1]
#define ZX_INFO_JOB                         ((zx_object_info_topic_t) 24u)
#define ZX_INFO_TIMER                       ((zx_object_info_topic_t) 25u)
#define ZX_INFO_STREAM                      ((zx_object_info_topic_t) 26u)
#define ZX_INFO_HANDLE_TABLE                ((zx_object_info_topic_t) 27u)
#define ZX_INFO_MSI                         ((zx_object_info_topic_t) 28u)
#define ZX_INFO_GUEST_STATS                 ((zx_object_info_topic_t) 29u)
#define ZX_INFO_TASK_RUNTIME_V1             __ZX_INFO_TOPIC(30u, 0)
#define ZX_INFO_TASK_RUNTIME                __ZX_INFO_TOPIC(30u, 1)
#define ZX_INFO_KMEM_STATS_EXTENDED         ((zx_object_info_topic_t) 31u)
#define ZX_INFO_VCPU                        ((zx_object_info_topic_t) 32u)
#define ZX_INFO_KMEM_STATS_COMPRESSION      ((zx_object_info_topic_t) 33u)
#define ZX_INFO_IOB                         ((zx_object_info_topic_t) 34u)
#define ZX_INFO_IOB_REGIONS                 ((zx_object_info_topic_t) 35u)
#define ZX_INFO_VMAR_MAPS                   ((zx_object_info_topic_t) 36u)

// Sentinel for an invalid or missing CPU.
#define ZX_INFO_INVALID_CPU             ((uint32_t)0xFFFFFFFFu)

// clang-format on

// ZX_INFO_HANDLE_BASIC (32 bytes).
typedef struct zx_info_handle_basic {
  // The unique id of the object the handle refers to.
  zx_koid_t koid;
  // The handle's rights.
  zx_rights_t rights;
  // The object type: ZX_OBJ_TYPE_VMO, ZX_OBJ_TYPE_PORT, ZX_OBJ_TYPE_PAGER, ...
  zx_obj_type_t type;
  // The koid of a related object (0 for every object pagerd has).
  zx_koid_t related_koid;
  uint32_t reserved;
  uint8_t padding1[4];
} zx_info_handle_basic_t;

// ZX_INFO_VMAR.
typedef struct zx_info_vmar {
  uintptr_t base;
  size_t len;
} zx_info_vmar_t;

// clang-format off

// zx_info_vmo_t.flags.
// The VMO is backed by RAM (pagerd VMOs always are).
#define ZX_INFO_VMO_TYPE_PAGED              (1u<<0)
// The VMO points to a physical address range.
#define ZX_INFO_VMO_TYPE_PHYSICAL           (0u<<0)
// ZX_INFO_VMO_TYPE(flags) == ZX_INFO_VMO_TYPE_PAGED or ZX_INFO_VMO_TYPE_PHYSICAL.
#define ZX_INFO_VMO_TYPE(flags)             ((flags) & (1u<<0))
// The VMO is resizable.
#define ZX_INFO_VMO_RESIZABLE               (1u<<1)
// The VMO is a copy-on-write clone.
#define ZX_INFO_VMO_IS_COW_CLONE            (1u<<2)
// The information was obtained through a handle.
#define ZX_INFO_VMO_VIA_HANDLE              (1u<<3)
// The information was obtained through a mapping.
#define ZX_INFO_VMO_VIA_MAPPING             (1u<<4)
// The VMO was created by zx_pager_create_vmo() or is a clone of one.
#define ZX_INFO_VMO_PAGER_BACKED            (1u<<5)
// The VMO is contiguous.
#define ZX_INFO_VMO_CONTIGUOUS              (1u<<6)
// The VMO is discardable.
#define ZX_INFO_VMO_DISCARDABLE             (1u<<7)
// The VMO is immutable and has been since creation.
#define ZX_INFO_VMO_IMMUTABLE               (1u<<8)
// The information was obtained through an IOB handle.
#define ZX_INFO_VMO_VIA_IOB_HANDLE          (1u<<9)

// clang-format on

// ZX_INFO_VMO (version 4, 176 bytes).
typedef struct zx_info_vmo {
  // The koid of this VMO.
  zx_koid_t koid;
  // The name of this VMO (ZX_PROP_NAME).
  char name[ZX_MAX_NAME_LEN];
  // The size of this VMO (page aligned).
  uint64_t size_bytes;
  // If this VMO is a child, the koid of its parent; otherwise 0.
  zx_koid_t parent_koid;
  // The number of children of this VMO.
  size_t num_children;
  // The number of times this VMO is currently mapped.
  size_t num_mappings;
  // An estimate of the number of address spaces this VMO is mapped into.
  size_t share_count;
  // Bitwise OR of ZX_INFO_VMO_* values.
  uint32_t flags;
  uint8_t padding1[4];
  // The memory currently committed to this VMO (resident pages only).
  uint64_t committed_bytes;
  // If flags & ZX_INFO_VMO_VIA_HANDLE, the handle's rights.
  zx_rights_t handle_rights;
  // One of ZX_CACHE_POLICY_*.
  uint32_t cache_policy;
  // Kernel memory used to track this VMO.
  uint64_t metadata_bytes;
  // Times the kernel, without a request, changed what committed_bytes reports.
  uint64_t committed_change_events;
  // The content populated in this VMO.
  uint64_t populated_bytes;
  // Pages accessible only by this VMO (USS).
  uint64_t committed_private_bytes;
  uint64_t populated_private_bytes;
  // Pages scaled by how many VMOs share them (PSS), with 63-bit fractions.
  uint64_t committed_scaled_bytes;
  uint64_t populated_scaled_bytes;
  uint64_t committed_fractional_scaled_bytes;
  uint64_t populated_fractional_scaled_bytes;
} zx_info_vmo_t;

// ZX_INFO_VMO_V3 (128 bytes): zx_info_vmo_t up to populated_bytes.
typedef struct zx_info_vmo_v3 {
  zx_koid_t koid;
  char name[ZX_MAX_NAME_LEN];
  uint64_t size_bytes;
  zx_koid_t parent_koid;
  size_t num_children;
  size_t num_mappings;
  size_t share_count;
  uint32_t flags;
  uint8_t padding1[4];
  uint64_t committed_bytes;
  zx_rights_t handle_rights;
  uint32_t cache_policy;
  uint64_t metadata_bytes;
  uint64_t committed_change_events;
  uint64_t populated_bytes;
} zx_info_vmo_v3_t;

// ZX_INFO_VMO_V2 (120 bytes).
typedef struct zx_info_vmo_v2 {
  zx_koid_t koid;
  char name[ZX_MAX_NAME_LEN];
  uint64_t size_bytes;
  zx_koid_t parent_koid;
  size_t num_children;
  size_t num_mappings;
  size_t share_count;
  uint32_t flags;
  uint8_t padding1[4];
  uint64_t committed_bytes;
  zx_rights_t handle_rights;
  uint32_t cache_policy;
  uint64_t metadata_bytes;
  uint64_t committed_change_events;
} zx_info_vmo_v2_t;

// ZX_INFO_VMO_V1 (104 bytes).
typedef struct zx_info_vmo_v1 {
  zx_koid_t koid;
  char name[ZX_MAX_NAME_LEN];
  uint64_t size_bytes;
  zx_koid_t parent_koid;
  size_t num_children;
  size_t num_mappings;
  size_t share_count;
  uint32_t flags;
  uint8_t padding1[4];
  uint64_t committed_bytes;
  zx_rights_t handle_rights;
  uint32_t cache_policy;
} zx_info_vmo_v1_t;

// clang-format off

// Object properties.
// Argument is a char[ZX_MAX_NAME_LEN].
#define ZX_PROP_NAME                        ((uint32_t) 3u)
#if defined(__x86_64__)
// Argument is a uintptr_t.
#define ZX_PROP_REGISTER_GS                 ((uint32_t) 2u)
#define ZX_PROP_REGISTER_FS                 ((uint32_t) 4u)
#endif
#define ZX_PROP_PROCESS_DEBUG_ADDR          ((uint32_t) 5u)
#define ZX_PROP_PROCESS_VDSO_BASE_ADDRESS   ((uint32_t) 6u)
#define ZX_PROP_PROCESS_BREAK_ON_LOAD       ((uint32_t) 7u)
#define ZX_PROP_PROCESS_HW_TRACE_CONTEXT_ID ((uint32_t) 8u)
#define ZX_PROP_SOCKET_RX_THRESHOLD         12u
#define ZX_PROP_SOCKET_TX_THRESHOLD         13u
#define ZX_PROP_JOB_KILL_ON_OOM             15u
#define ZX_PROP_EXCEPTION_STATE             16u
// The size of the content of a VMO, in bytes: independent of (and possibly
// larger or smaller than) the VMO's page-rounded size. Argument is a uint64_t.
#define ZX_PROP_VMO_CONTENT_SIZE            17u
#define ZX_PROP_EXCEPTION_STRATEGY          18u
#define ZX_PROP_STREAM_MODE_APPEND          19u

// Thread states (zx_info_thread_t.state), for reference: a thread blocked on
// a pager is ZX_THREAD_STATE_BLOCKED_PAGER on Zircon.
typedef uint32_t zx_thread_state_t;
#define ZX_THREAD_STATE_NEW                 ((zx_thread_state_t) 0x0000u)
#define ZX_THREAD_STATE_RUNNING             ((zx_thread_state_t) 0x0001u)
#define ZX_THREAD_STATE_SUSPENDED           ((zx_thread_state_t) 0x0002u)
#define ZX_THREAD_STATE_BLOCKED             ((zx_thread_state_t) 0x0003u)
#define ZX_THREAD_STATE_DYING               ((zx_thread_state_t) 0x0004u)
#define ZX_THREAD_STATE_DEAD                ((zx_thread_state_t) 0x0005u)
#define ZX_THREAD_STATE_BLOCKED_EXCEPTION   ((zx_thread_state_t) 0x0103u)
#define ZX_THREAD_STATE_BLOCKED_SLEEPING    ((zx_thread_state_t) 0x0203u)
#define ZX_THREAD_STATE_BLOCKED_FUTEX       ((zx_thread_state_t) 0x0303u)
#define ZX_THREAD_STATE_BLOCKED_PORT        ((zx_thread_state_t) 0x0403u)
#define ZX_THREAD_STATE_BLOCKED_CHANNEL     ((zx_thread_state_t) 0x0503u)
#define ZX_THREAD_STATE_BLOCKED_WAIT_ONE    ((zx_thread_state_t) 0x0603u)
#define ZX_THREAD_STATE_BLOCKED_WAIT_MANY   ((zx_thread_state_t) 0x0703u)
#define ZX_THREAD_STATE_BLOCKED_INTERRUPT   ((zx_thread_state_t) 0x0803u)
#define ZX_THREAD_STATE_BLOCKED_PAGER       ((zx_thread_state_t) 0x0903u)
#define ZX_THREAD_STATE_BASIC(n) ((n) & 0xff)

// clang-format on

__END_CDECLS

#endif  // ZIRCON_SYSCALLS_OBJECT_H_
