// libzircon's pagerd calls (include/pagerd/pagerd.h), on top of the Go
// functions of pagerd.go. As in zircon.c, caller memory is moved with
// copies that never fault; a bad pointer is ZX_ERR_INVALID_ARGS.

#define _GNU_SOURCE
#include <pagerd/pagerd.h>
#include <string.h>
#include <zircon/syscalls.h>

#include "_cgo_export.h"
#include "cabi.h"

#define API __attribute__((visibility("default")))

enum {
  kMaxSocketPath = 107,  // sizeof(sockaddr_un.sun_path) - 1
  kMaxName = 255,        // pagerd's longest VMO name
};

// copy_in_string copies the caller's NUL-terminated string at user into
// dst (cap bytes, NUL included), a chunk at a time so that no chunk crosses
// into a page the string does not reach. Returns 0, or -1 for a bad pointer
// or a string that does not fit.
static int copy_in_string(char* dst, size_t cap, const char* user, uintptr_t fence) {
  size_t n = 0;
  while (n < cap) {
    uintptr_t at = (uintptr_t)user + n;
    size_t chunk = 4096 - (at & 4095);
    if (chunk > cap - n) {
      chunk = cap - n;
    }
    if (pagerd_copy_in(dst + n, user + n, chunk, fence) != 0) {
      return -1;
    }
    if (memchr(dst + n, '\0', chunk) != NULL) {
      return 0;
    }
    n += chunk;
  }
  return -1;
}

API zx_status_t pagerd_vmo_open(const char* socket_path, const char* name, uint32_t flags,
                                uint64_t create_size, zx_handle_t* out) {
  const uintptr_t fence = PAGERD_FENCE;
  char sock[kMaxSocketPath + 1] = {0};
  char nm[kMaxName + 1];
  if (socket_path != NULL && copy_in_string(sock, sizeof sock, socket_path, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  if (name == NULL || copy_in_string(nm, sizeof nm, name, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  // The handle goes out last; check that it can before opening anything.
  if (pagerd_probe(out, sizeof *out, 1, fence) != 0 || out == NULL) {
    return ZX_ERR_INVALID_ARGS;
  }
  zx_handle_t h = ZX_HANDLE_INVALID;
  zx_status_t status = pagerd_cabi_pagerd_vmo_open(sock, nm, flags, create_size, &h);
  return pagerd_put_handle(status, h, out, fence);
}

API zx_status_t pagerd_vmo_sync(zx_handle_t vmo, uint64_t* bytes_written) {
  const uintptr_t fence = PAGERD_FENCE;
  uint64_t n = 0;
  zx_status_t status = pagerd_cabi_pagerd_vmo_sync(vmo, &n);
  if (status != ZX_OK) {
    return status;
  }
  if (bytes_written != NULL && pagerd_copy_out(bytes_written, &n, sizeof n, fence) != 0) {
    return ZX_ERR_INVALID_ARGS;
  }
  return ZX_OK;
}
