// zircon/process.h: the process's own handles. pagerd has one: the root VMAR,
// the address space of the calling process, in which zx_vmar_map() maps VMOs.

#ifndef ZIRCON_PROCESS_H_
#define ZIRCON_PROCESS_H_

#include <zircon/compiler.h>
#include <zircon/types.h>

__BEGIN_CDECLS

// Returns the handle of the process's root VMAR (rights ZX_DEFAULT_VMAR_RIGHTS
// plus READ, WRITE and EXECUTE). The handle is the process's: do not close it
// (if it is closed anyway, the next call returns a new one).
zx_handle_t zx_vmar_root_self(void);

__END_CDECLS

#endif  // ZIRCON_PROCESS_H_
