// pagerd's own calls in libzircon: open a VMO that the pagerd service serves
// and get a zx_handle_t for it. Everything else is Zircon's API: map it with
// zx_vmar_map, read and write it with zx_vmo_read/zx_vmo_write or through the
// mapping, close it with zx_handle_close. Not part of Zircon.

#ifndef PAGERD_PAGERD_H_
#define PAGERD_PAGERD_H_

#include <stdint.h>
#include <zircon/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// Flags of pagerd_vmo_open.
#define PAGERD_VMO_READ_ONLY ((uint32_t)1u)  // no ZX_RIGHT_WRITE; read-only mappings only
#define PAGERD_VMO_CREATE ((uint32_t)4u)     // create the object with create_size bytes if absent

// pagerd_vmo_open opens the VMO called name (1..255 bytes, printable, no
// '/') that the pagerd listening on the unix socket at socket_path serves
// (NULL: pagerd's default socket, $XDG_RUNTIME_DIR/pagerd/pagerd.sock, else
// /run/pagerd/pagerd.sock as root) and stores a handle to it in *out. The
// VMO behaves as a pager VMO whose pager is pagerd, in another process:
// a thread touching a page that is not there waits while pagerd supplies
// it; writes make pages dirty and pagerd writes them back (periodically,
// on pagerd_vmo_sync, when the last handle and mapping are gone, and when
// pagerd stops). If pagerd dies, a mapped access to a page it had not
// supplied raises SIGBUS and zx_vmo_read/zx_vmo_write fail; nothing ever
// reads as silent zeros. The handle has the default VMO rights (without
// ZX_RIGHT_WRITE for a read-only VMO); the VMO is not resizable. The
// process keeps one session per socket.
//
// Returns ZX_OK; ZX_ERR_INVALID_ARGS (a bad pointer, an unknown flag,
// create_size without PAGERD_VMO_CREATE, a bad name, a socket path longer
// than 107 bytes); ZX_ERR_UNAVAILABLE (no pagerd at the socket);
// ZX_ERR_NOT_FOUND (no such VMO); ZX_ERR_ACCESS_DENIED; ZX_ERR_NO_RESOURCES
// (pagerd's limits); ZX_ERR_OUT_OF_RANGE (create_size too large);
// ZX_ERR_IO (the store failed).
zx_status_t pagerd_vmo_open(const char* socket_path, const char* name, uint32_t flags,
                            uint64_t create_size, zx_handle_t* out);

// pagerd_vmo_sync writes the dirty pages of a VMO from pagerd_vmo_open back
// to pagerd's store (and syncs it) and stores the number of bytes written
// in *bytes_written (which may be NULL).
//
// Returns ZX_OK; ZX_ERR_BAD_HANDLE; ZX_ERR_WRONG_TYPE (not a VMO);
// ZX_ERR_NOT_SUPPORTED (a VMO that is not pagerd's); ZX_ERR_INVALID_ARGS
// (bytes_written not writable); ZX_ERR_PEER_CLOSED (pagerd is gone);
// ZX_ERR_IO (the store failed).
zx_status_t pagerd_vmo_sync(zx_handle_t vmo, uint64_t* bytes_written);

#ifdef __cplusplus
}
#endif

#endif  // PAGERD_PAGERD_H_
