// zircon/syscalls-next.h: older Zircon declared the pager writeback calls and
// types here (zx_pager_query_dirty_ranges, zx_pager_query_vmo_stats,
// zx_vmo_dirty_range_t, ZX_PAGER_OP_DIRTY, ...). With pagerd they are all in
// zircon/syscalls.h and zircon/types.h; this header only includes them, so
// programs written for either Zircon compile unchanged.

#ifndef ZIRCON_SYSCALLS_NEXT_H_
#define ZIRCON_SYSCALLS_NEXT_H_

#include <zircon/syscalls.h>

#endif  // ZIRCON_SYSCALLS_NEXT_H_
