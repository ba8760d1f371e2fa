// zircon/types.h: Zircon's basic types and the option, op and signal values
// of the calls pagerd implements, with Zircon's names and numbers.
//
// Pager writeback types that older Zircon kept in zircon/syscalls-next.h
// (zx_vmo_dirty_range_t, ZX_VMO_DIRTY_RANGE_IS_ZERO) are here, as in newer
// Zircon; zircon/syscalls-next.h only includes zircon/syscalls.h.

#ifndef ZIRCON_TYPES_H_
#define ZIRCON_TYPES_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zircon/compiler.h>
#include <zircon/errors.h>
#include <zircon/limits.h>
#include <zircon/rights.h>
#include <zircon/time.h>

__BEGIN_CDECLS

// clang-format off

typedef uint32_t zx_handle_t;

// 0 is never a valid handle; the low two bits of a valid handle are always 1.
#define ZX_HANDLE_INVALID           ((zx_handle_t)0)
#define ZX_HANDLE_FIXED_BITS_MASK   ((zx_handle_t)0x3)

// ZX_OK or a negative ZX_ERR_* value (zircon/errors.h).
typedef int32_t zx_status_t;

// Clock ids.
typedef uint32_t zx_clock_t;
#define ZX_CLOCK_MONOTONIC        ((zx_clock_t)0)
#define ZX_CLOCK_BOOT             ((zx_clock_t)1)

typedef uint32_t zx_signals_t;

#define ZX_SIGNAL_NONE              ((zx_signals_t)0u)
#define ZX_USER_SIGNAL_ALL          ((zx_signals_t)0xff000000u)

// Implementation details (__ZX_* not intended for public consumption).
#define __ZX_OBJECT_SIGNAL_ALL      ((zx_signals_t)0x00ffffffu)
#define __ZX_OBJECT_READABLE        ((zx_signals_t)1u << 0)
#define __ZX_OBJECT_WRITABLE        ((zx_signals_t)1u << 1)
#define __ZX_OBJECT_PEER_CLOSED     ((zx_signals_t)1u << 2)
#define __ZX_OBJECT_SIGNALED        ((zx_signals_t)1u << 3)
#define __ZX_OBJECT_SIGNAL_4        ((zx_signals_t)1u << 4)
#define __ZX_OBJECT_SIGNAL_5        ((zx_signals_t)1u << 5)
#define __ZX_OBJECT_SIGNAL_6        ((zx_signals_t)1u << 6)
#define __ZX_OBJECT_SIGNAL_7        ((zx_signals_t)1u << 7)
#define __ZX_OBJECT_SIGNAL_8        ((zx_signals_t)1u << 8)
#define __ZX_OBJECT_SIGNAL_9        ((zx_signals_t)1u << 9)
#define __ZX_OBJECT_SIGNAL_10       ((zx_signals_t)1u << 10)
#define __ZX_OBJECT_SIGNAL_11       ((zx_signals_t)1u << 11)
#define __ZX_OBJECT_SIGNAL_12       ((zx_signals_t)1u << 12)
#define __ZX_OBJECT_SIGNAL_13       ((zx_signals_t)1u << 13)
#define __ZX_OBJECT_SIGNAL_14       ((zx_signals_t)1u << 14)
#define __ZX_OBJECT_SIGNAL_15       ((zx_signals_t)1u << 15)
#define __ZX_OBJECT_SIGNAL_16       ((zx_signals_t)1u << 16)
#define __ZX_OBJECT_SIGNAL_17       ((zx_signals_t)1u << 17)
#define __ZX_OBJECT_SIGNAL_18       ((zx_signals_t)1u << 18)
#define __ZX_OBJECT_SIGNAL_19       ((zx_signals_t)1u << 19)
#define __ZX_OBJECT_SIGNAL_20       ((zx_signals_t)1u << 20)
#define __ZX_OBJECT_SIGNAL_21       ((zx_signals_t)1u << 21)
#define __ZX_OBJECT_SIGNAL_22       ((zx_signals_t)1u << 22)
#define __ZX_OBJECT_HANDLE_CLOSED   ((zx_signals_t)1u << 23)

// User signals (settable by programs on objects that have them).
#define ZX_USER_SIGNAL_0            ((zx_signals_t)1u << 24)
#define ZX_USER_SIGNAL_1            ((zx_signals_t)1u << 25)
#define ZX_USER_SIGNAL_2            ((zx_signals_t)1u << 26)
#define ZX_USER_SIGNAL_3            ((zx_signals_t)1u << 27)
#define ZX_USER_SIGNAL_4            ((zx_signals_t)1u << 28)
#define ZX_USER_SIGNAL_5            ((zx_signals_t)1u << 29)
#define ZX_USER_SIGNAL_6            ((zx_signals_t)1u << 30)
#define ZX_USER_SIGNAL_7            ((zx_signals_t)1u << 31)

// Cancellation (the handle was closed while waiting with it).
#define ZX_SIGNAL_HANDLE_CLOSED     __ZX_OBJECT_HANDLE_CLOSED

// VMO: asserted while the VMO has no children.
#define ZX_VMO_ZERO_CHILDREN        __ZX_OBJECT_SIGNALED

// Kernel object ids. The first 1024 are reserved.
typedef uint64_t zx_koid_t;
#define ZX_KOID_INVALID ((uint64_t) 0)
#define ZX_KOID_KERNEL  ((uint64_t) 1)
#define ZX_KOID_FIRST   ((uint64_t) 1024)

// Maximum number of wait items allowed for zx_object_wait_many().
#define ZX_WAIT_MANY_MAX_ITEMS ((size_t)64)

typedef struct zx_wait_item {
    zx_handle_t handle;
    zx_signals_t waitfor;
    zx_signals_t pending;
} zx_wait_item_t;

// VM Object creation options (zx_vmo_create, zx_pager_create_vmo).
#define ZX_VMO_RESIZABLE                 ((uint32_t)1u << 1)
#define ZX_VMO_DISCARDABLE               ((uint32_t)1u << 2)
#define ZX_VMO_TRAP_DIRTY                ((uint32_t)1u << 3)
#define ZX_VMO_UNBOUNDED                 ((uint32_t)1u << 4)

// VM Object opcodes (zx_vmo_op_range).
#define ZX_VMO_OP_COMMIT                 ((uint32_t)1u)
#define ZX_VMO_OP_DECOMMIT               ((uint32_t)2u)
#define ZX_VMO_OP_LOCK                   ((uint32_t)3u)
#define ZX_VMO_OP_UNLOCK                 ((uint32_t)4u)
// opcode 5 was ZX_VMO_OP_LOOKUP, but is now unused.
#define ZX_VMO_OP_CACHE_SYNC             ((uint32_t)6u)
#define ZX_VMO_OP_CACHE_INVALIDATE       ((uint32_t)7u)
#define ZX_VMO_OP_CACHE_CLEAN            ((uint32_t)8u)
#define ZX_VMO_OP_CACHE_CLEAN_INVALIDATE ((uint32_t)9u)
#define ZX_VMO_OP_ZERO                   ((uint32_t)10u)
#define ZX_VMO_OP_TRY_LOCK               ((uint32_t)11u)
#define ZX_VMO_OP_DONT_NEED              ((uint32_t)12u)
#define ZX_VMO_OP_ALWAYS_NEED            ((uint32_t)13u)
#define ZX_VMO_OP_PREFETCH               ((uint32_t)14u)

// |buffer| of zx_vmo_op_range() with ZX_VMO_OP_LOCK.
typedef struct zx_vmo_lock_state {
  uint64_t offset;
  uint64_t size;
  uint64_t discarded_offset;
  uint64_t discarded_size;
} zx_vmo_lock_state_t;

// VMAR opcodes (zx_vmar_op_range); they share the VMO ops' numbers.
#define ZX_VMAR_OP_COMMIT                ((uint32_t)1u)
#define ZX_VMAR_OP_DECOMMIT              ((uint32_t)2u)
#define ZX_VMAR_OP_MAP_RANGE             ((uint32_t)3u)
#define ZX_VMAR_OP_ZERO                  ((uint32_t)10u)
#define ZX_VMAR_OP_DONT_NEED             ((uint32_t)12u)
#define ZX_VMAR_OP_ALWAYS_NEED           ((uint32_t)13u)
#define ZX_VMAR_OP_PREFETCH              ((uint32_t)14u)

// Pager opcodes (zx_pager_op_range). There is no separate "begin zero range"
// op: ZX_PAGER_OP_WRITEBACK_BEGIN takes data = ZX_VMO_DIRTY_RANGE_IS_ZERO.
#define ZX_PAGER_OP_FAIL                 ((uint32_t)1u)
#define ZX_PAGER_OP_DIRTY                ((uint32_t)2u)
#define ZX_PAGER_OP_WRITEBACK_BEGIN      ((uint32_t)3u)
#define ZX_PAGER_OP_WRITEBACK_END        ((uint32_t)4u)

// Struct used by zx_pager_query_vmo_stats().
typedef struct zx_pager_vmo_stats {
  // ZX_PAGER_VMO_STATS_MODIFIED if the VMO was modified, or 0 otherwise.
  uint32_t modified;
} zx_pager_vmo_stats_t;

// Values for zx_pager_vmo_stats.modified.
#define ZX_PAGER_VMO_STATS_MODIFIED     ((uint32_t)1u)

// Options for zx_pager_query_vmo_stats().
#define ZX_PAGER_RESET_VMO_STATS        ((uint32_t)1u)

// Range type of zx_pager_query_dirty_ranges() (syscalls-next.h in older Zircon).
typedef struct zx_vmo_dirty_range {
  // The range [offset, offset + length).
  uint64_t offset;
  uint64_t length;
  // ZX_VMO_DIRTY_RANGE_IS_ZERO: the range reads as zeros.
  uint64_t options;
} zx_vmo_dirty_range_t;

// Options of zx_vmo_dirty_range_t (and data of ZX_PAGER_OP_WRITEBACK_BEGIN).
#define ZX_VMO_DIRTY_RANGE_IS_ZERO ((uint64_t)1u)

// VM Object child options (zx_vmo_create_child).
#define ZX_VMO_CHILD_SNAPSHOT             ((uint32_t)1u << 0)
#define ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE ((uint32_t)1u << 4)
#define ZX_VMO_CHILD_RESIZABLE            ((uint32_t)1u << 2)
#define ZX_VMO_CHILD_SLICE                ((uint32_t)1u << 3)
#define ZX_VMO_CHILD_NO_WRITE             ((uint32_t)1u << 5)
#define ZX_VMO_CHILD_REFERENCE            ((uint32_t)1u << 6)
#define ZX_VMO_CHILD_SNAPSHOT_MODIFIED    ((uint32_t)1u << 7)

typedef uint32_t zx_vm_option_t;
// Mapping flags of zx_vmar_map().
#define ZX_VM_PERM_READ             ((zx_vm_option_t)(1u << 0))
#define ZX_VM_PERM_WRITE            ((zx_vm_option_t)(1u << 1))
#define ZX_VM_PERM_EXECUTE          ((zx_vm_option_t)(1u << 2))
#define ZX_VM_COMPACT               ((zx_vm_option_t)(1u << 3))
#define ZX_VM_SPECIFIC              ((zx_vm_option_t)(1u << 4))
#define ZX_VM_SPECIFIC_OVERWRITE    ((zx_vm_option_t)(1u << 5))
#define ZX_VM_CAN_MAP_SPECIFIC      ((zx_vm_option_t)(1u << 6))
#define ZX_VM_CAN_MAP_READ          ((zx_vm_option_t)(1u << 7))
#define ZX_VM_CAN_MAP_WRITE         ((zx_vm_option_t)(1u << 8))
#define ZX_VM_CAN_MAP_EXECUTE       ((zx_vm_option_t)(1u << 9))
#define ZX_VM_MAP_RANGE             ((zx_vm_option_t)(1u << 10))
#define ZX_VM_REQUIRE_NON_RESIZABLE ((zx_vm_option_t)(1u << 11))
#define ZX_VM_ALLOW_FAULTS          ((zx_vm_option_t)(1u << 12))
#define ZX_VM_OFFSET_IS_UPPER_LIMIT ((zx_vm_option_t)(1u << 13))
#define ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED ((zx_vm_option_t)(1u << 14))
#define ZX_VM_FAULT_BEYOND_STREAM_SIZE     ((zx_vm_option_t)(1u << 15))

#define ZX_VM_ALIGN_BASE            24
#define ZX_VM_ALIGN_1KB             ((zx_vm_option_t)(10u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_2KB             ((zx_vm_option_t)(11u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_4KB             ((zx_vm_option_t)(12u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_8KB             ((zx_vm_option_t)(13u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_16KB            ((zx_vm_option_t)(14u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_32KB            ((zx_vm_option_t)(15u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_64KB            ((zx_vm_option_t)(16u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_128KB           ((zx_vm_option_t)(17u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_256KB           ((zx_vm_option_t)(18u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_512KB           ((zx_vm_option_t)(19u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_1MB             ((zx_vm_option_t)(20u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_2MB             ((zx_vm_option_t)(21u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_4MB             ((zx_vm_option_t)(22u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_8MB             ((zx_vm_option_t)(23u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_16MB            ((zx_vm_option_t)(24u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_32MB            ((zx_vm_option_t)(25u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_64MB            ((zx_vm_option_t)(26u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_128MB           ((zx_vm_option_t)(27u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_256MB           ((zx_vm_option_t)(28u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_512MB           ((zx_vm_option_t)(29u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_1GB             ((zx_vm_option_t)(30u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_2GB             ((zx_vm_option_t)(31u << ZX_VM_ALIGN_BASE))
#define ZX_VM_ALIGN_4GB             ((zx_vm_option_t)(32u << ZX_VM_ALIGN_BASE))

// Virtual address.
typedef uintptr_t zx_vaddr_t;
// Physical addresses.
typedef uintptr_t zx_paddr_t;
typedef uintptr_t zx_gpaddr_t;
// Offset.
typedef uint64_t zx_off_t;

// Vectorized I/O.
typedef struct zx_iovec {
  void* buffer;
  size_t capacity;
} zx_iovec_t;

// Maximum length of an object name (ZX_PROP_NAME), including the NUL.
#define ZX_MAX_NAME_LEN              ((size_t)32u)

// Cache policies (zx_info_vmo_t.cache_policy; pagerd VMOs are CACHED).
#define ZX_CACHE_POLICY_CACHED              ((uint32_t)0u)
#define ZX_CACHE_POLICY_UNCACHED            ((uint32_t)1u)
#define ZX_CACHE_POLICY_UNCACHED_DEVICE     ((uint32_t)2u)
#define ZX_CACHE_POLICY_WRITE_COMBINING     ((uint32_t)3u)
#define ZX_CACHE_POLICY_MASK                ((uint32_t)3u)

typedef uint32_t zx_obj_type_t;

#define ZX_OBJ_TYPE_NONE              ((zx_obj_type_t)0u)
#define ZX_OBJ_TYPE_PROCESS           ((zx_obj_type_t)1u)
#define ZX_OBJ_TYPE_THREAD            ((zx_obj_type_t)2u)
#define ZX_OBJ_TYPE_VMO               ((zx_obj_type_t)3u)
#define ZX_OBJ_TYPE_CHANNEL           ((zx_obj_type_t)4u)
#define ZX_OBJ_TYPE_EVENT             ((zx_obj_type_t)5u)
#define ZX_OBJ_TYPE_PORT              ((zx_obj_type_t)6u)
#define ZX_OBJ_TYPE_INTERRUPT         ((zx_obj_type_t)9u)
#define ZX_OBJ_TYPE_PCI_DEVICE        ((zx_obj_type_t)11u)
#define ZX_OBJ_TYPE_DEBUGLOG          ((zx_obj_type_t)12u)
#define ZX_OBJ_TYPE_SOCKET            ((zx_obj_type_t)14u)
#define ZX_OBJ_TYPE_RESOURCE          ((zx_obj_type_t)15u)
#define ZX_OBJ_TYPE_EVENTPAIR         ((zx_obj_type_t)16u)
#define ZX_OBJ_TYPE_JOB               ((zx_obj_type_t)17u)
#define ZX_OBJ_TYPE_VMAR              ((zx_obj_type_t)18u)
#define ZX_OBJ_TYPE_FIFO              ((zx_obj_type_t)19u)
#define ZX_OBJ_TYPE_GUEST             ((zx_obj_type_t)20u)
#define ZX_OBJ_TYPE_VCPU              ((zx_obj_type_t)21u)
#define ZX_OBJ_TYPE_TIMER             ((zx_obj_type_t)22u)
#define ZX_OBJ_TYPE_IOMMU             ((zx_obj_type_t)23u)
#define ZX_OBJ_TYPE_BTI               ((zx_obj_type_t)24u)
#define ZX_OBJ_TYPE_PROFILE           ((zx_obj_type_t)25u)
#define ZX_OBJ_TYPE_PMT               ((zx_obj_type_t)26u)
#define ZX_OBJ_TYPE_SUSPEND_TOKEN     ((zx_obj_type_t)27u)
#define ZX_OBJ_TYPE_PAGER             ((zx_obj_type_t)28u)
#define ZX_OBJ_TYPE_EXCEPTION         ((zx_obj_type_t)29u)
#define ZX_OBJ_TYPE_CLOCK             ((zx_obj_type_t)30u)
#define ZX_OBJ_TYPE_STREAM            ((zx_obj_type_t)31u)
#define ZX_OBJ_TYPE_MSI               ((zx_obj_type_t)32u)
#define ZX_OBJ_TYPE_IOB               ((zx_obj_type_t)33u)
#define ZX_OBJ_TYPE_COUNTER           ((zx_obj_type_t)34u)

// The system ABI commits to having no more than 64 object types.
#define ZX_OBJ_TYPE_UPPER_BOUND     ((zx_obj_type_t)64u)

// clang-format on

__END_CDECLS

#endif  // ZIRCON_TYPES_H_
