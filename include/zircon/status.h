// zircon/status.h: names of status codes.

#ifndef ZIRCON_STATUS_H_
#define ZIRCON_STATUS_H_

#include <zircon/compiler.h>
#include <zircon/types.h>

__BEGIN_CDECLS

// Returns the name of a status code ("ZX_OK", "ZX_ERR_TIMED_OUT", ...) as a
// static string; "(UNKNOWN)" for a value that is not a ZX_ERR_* code.
const char* zx_status_get_string(zx_status_t status);
const char* _zx_status_get_string(zx_status_t status);

__END_CDECLS

#endif  // ZIRCON_STATUS_H_
