// The headers compiled as C++17 (-pedantic -Werror): the same layout checks
// as the C11 build, constexpr time helpers, extern "C" linkage (this program
// links against libzircon and calls it).

#include <cstdio>
#include <cstring>

#include "abi_layout.h"

static_assert(zx_duration_from_sec(2) == 2000000000, "constexpr time helpers");
static_assert(zx_time_add_duration(ZX_TIME_INFINITE, 1) == ZX_TIME_INFINITE, "saturating");
static_assert(zx_time_sub_duration(ZX_TIME_INFINITE_PAST, 1) == ZX_TIME_INFINITE_PAST,
              "saturating");
static_assert(ZX_SEC(3) == 3000000000LL && ZX_MSEC(1) == 1000000, "ZX_SEC, ZX_MSEC");

int main() {
  zx_handle_t vmo = ZX_HANDLE_INVALID;
  if (zx_vmo_create(ZX_PAGE_SIZE, 0, &vmo) != ZX_OK) {
    std::fprintf(stderr, "abi_cxx: zx_vmo_create failed\n");
    return 1;
  }
  const char msg[] = "c++";
  char back[sizeof msg] = {};
  zx_status_t st = zx_vmo_write(vmo, msg, 0, sizeof msg);
  if (st == ZX_OK) {
    st = zx_vmo_read(vmo, back, 0, sizeof back);
  }
  zx_port_packet_t pkt{};
  pkt.page_request.command = ZX_PAGER_VMO_READ;
  zx_handle_close(vmo);
  if (st != ZX_OK || std::strcmp(msg, back) != 0 || pkt.page_request.command != 0) {
    std::fprintf(stderr, "abi_cxx: %s\n", zx_status_get_string(st));
    return 1;
  }
  std::printf("abi_cxx: ok\n");
  return 0;
}
