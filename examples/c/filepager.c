// filepager: a file-backed pager written only against Zircon's API.
//
// The file's contents appear in a pager VMO that is mapped read-only. Nothing
// is read up front: reader threads touch the mapping, each touch of a missing
// page becomes a ZX_PAGER_VMO_READ packet on the pager's port, and the pager
// thread answers it: it reads the file into an aux VMO with zx_vmo_write and
// moves those pages into the VMO with zx_pager_supply_pages (plus some read
// ahead: a pager may supply more than it is asked for). Each reader checksums
// the mapping page by page, in its own order, against the file read with
// pread. When they are done the VMO is detached, the pager thread gets the
// VMO's ZX_PAGER_VMO_COMPLETE packet and exits.
//
// Build: cc -Iinclude examples/c/filepager.c -Lbuild/cabi -lzircon -lpthread
// Usage: filepager [-t threads] [-r readahead_pages] FILE
// Exit status 0 when every reader saw exactly the file's bytes.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zircon/syscalls.h>

#define KEY 0xf11e0000ULL
#define AUX_PAGES 64  // the most the pager supplies with one zx_pager_supply_pages

static struct {
  int fd;
  uint64_t file_size;  // bytes in the file
  uint64_t vmo_size;   // page-rounded
  uint64_t pages;
  uint64_t page_size;
  uint64_t readahead;  // pages supplied past a request, at most
  zx_handle_t pager, port, vmo, aux;
  const uint8_t* base;  // the mapping
  uint64_t* want;       // FNV-1a of each page of the file, zero-padded
  // pager thread statistics
  uint64_t requests, pages_requested, pages_supplied;
} g;

static void check(zx_status_t status, const char* what) {
  if (status != ZX_OK) {
    fprintf(stderr, "filepager: %s: %s\n", what, zx_status_get_string(status));
    exit(1);
  }
}

static uint64_t fnv1a(const uint8_t* p, uint64_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint64_t i = 0; i < n; i++) {
    h = (h ^ p[i]) * 0x100000001b3ULL;
  }
  return h;
}

// Reads file bytes [off, off + n) into buf; bytes past the end are zero.
static int read_file(uint8_t* buf, uint64_t off, uint64_t n) {
  memset(buf, 0, n);
  uint64_t done = 0;
  while (done < n && off + done < g.file_size) {
    ssize_t r = pread(g.fd, buf + done, n - done, (off_t)(off + done));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return -1;
    }
    done += (uint64_t)r;
  }
  return 0;
}

// ---- the pager thread -------------------------------------------------------------

// Supplies [off, off + len) from the file, AUX_PAGES at a time.
static zx_status_t supply(uint8_t* buf, uint64_t off, uint64_t len) {
  while (len > 0) {
    uint64_t n = len < AUX_PAGES * g.page_size ? len : AUX_PAGES * g.page_size;
    if (read_file(buf, off, n) != 0) {
      return ZX_ERR_IO;
    }
    zx_status_t status = zx_vmo_write(g.aux, buf, 0, n);
    if (status == ZX_OK) {
      // Pages already in the VMO (supplied by an earlier read ahead) are kept.
      status = zx_pager_supply_pages(g.pager, g.vmo, off, n, g.aux, 0);
    }
    if (status != ZX_OK) {
      return status;
    }
    g.pages_supplied += n / g.page_size;
    off += n;
    len -= n;
  }
  return ZX_OK;
}

static void* pager_thread(void* arg) {
  (void)arg;
  uint8_t* buf = malloc(AUX_PAGES * g.page_size);
  if (buf == NULL) {
    fprintf(stderr, "filepager: out of memory\n");
    exit(1);
  }
  for (;;) {
    zx_port_packet_t packet;
    check(zx_port_wait(g.port, ZX_TIME_INFINITE, &packet), "zx_port_wait");
    if (packet.type != ZX_PKT_TYPE_PAGE_REQUEST || packet.key != KEY) {
      continue;
    }
    const zx_packet_page_request_t* req = &packet.page_request;
    if (req->command == ZX_PAGER_VMO_COMPLETE) {
      break;  // the VMO was detached: no more requests
    }
    if (req->command != ZX_PAGER_VMO_READ) {
      continue;
    }
    g.requests++;
    g.pages_requested += req->length / g.page_size;
    uint64_t end = req->offset + req->length;
    uint64_t ahead = req->offset + g.readahead * g.page_size;
    if (ahead > end) {
      end = ahead < g.vmo_size ? ahead : g.vmo_size;
    }
    zx_status_t status = supply(buf, req->offset, end - req->offset);
    if (status != ZX_OK) {
      // The readers that wait for these pages get SIGBUS; say why first.
      fprintf(stderr, "filepager: supplying [%#" PRIx64 ", %#" PRIx64 "): %s\n", req->offset, end,
              zx_status_get_string(status));
      check(zx_pager_op_range(g.pager, ZX_PAGER_OP_FAIL, g.vmo, req->offset, req->length,
                              (uint64_t)(int64_t)ZX_ERR_IO),
            "zx_pager_op_range(FAIL)");
    }
  }
  free(buf);
  return NULL;
}

// ---- readers ---------------------------------------------------------------------

typedef struct {
  int index, count;
  uint64_t mismatches;
  uint64_t checksum;  // of the whole mapping, pages in file order
} reader_t;

static void* reader_thread(void* arg) {
  reader_t* r = arg;
  uint64_t* got = malloc(g.pages * sizeof *got);
  if (got == NULL) {
    fprintf(stderr, "filepager: out of memory\n");
    exit(1);
  }
  // Each reader starts at its own place and goes round: faults from several
  // threads on different pages are outstanding at once.
  uint64_t first = g.pages * (uint64_t)r->index / (uint64_t)r->count;
  for (uint64_t i = 0; i < g.pages; i++) {
    uint64_t page = (first + i) % g.pages;
    got[page] = fnv1a(g.base + page * g.page_size, g.page_size);
  }
  uint64_t sum = 0xcbf29ce484222325ULL;
  for (uint64_t page = 0; page < g.pages; page++) {
    if (got[page] != g.want[page]) {
      if (r->mismatches++ < 3) {
        fprintf(stderr, "filepager: reader %d: page %" PRIu64 " differs from the file\n",
                r->index, page);
      }
    }
    sum = (sum ^ got[page]) * 0x100000001b3ULL;
  }
  r->checksum = sum;
  free(got);
  return NULL;
}

int main(int argc, char** argv) {
  int threads = 4;
  g.readahead = 16;
  int opt;
  while ((opt = getopt(argc, argv, "t:r:")) != -1) {
    switch (opt) {
      case 't':
        threads = atoi(optarg);
        break;
      case 'r':
        g.readahead = strtoull(optarg, NULL, 0);
        break;
      default:
        goto usage;
    }
  }
  if (optind != argc - 1 || threads < 1 || threads > 256) {
  usage:
    fprintf(stderr, "usage: filepager [-t threads] [-r readahead_pages] FILE\n");
    return 2;
  }
  const char* path = argv[optind];
  g.fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (g.fd < 0 || fstat(g.fd, &st) != 0) {
    fprintf(stderr, "filepager: %s: %s\n", path, strerror(errno));
    return 1;
  }
  if (st.st_size == 0) {
    fprintf(stderr, "filepager: %s is empty\n", path);
    return 1;
  }
  g.page_size = zx_system_get_page_size();
  g.file_size = (uint64_t)st.st_size;
  g.pages = (g.file_size + g.page_size - 1) / g.page_size;
  g.vmo_size = g.pages * g.page_size;

  // What the readers must see: the file, page by page, zero-padded.
  g.want = malloc(g.pages * sizeof *g.want);
  uint8_t* page = malloc(g.page_size);
  if (g.want == NULL || page == NULL) {
    fprintf(stderr, "filepager: out of memory\n");
    return 1;
  }
  for (uint64_t i = 0; i < g.pages; i++) {
    if (read_file(page, i * g.page_size, g.page_size) != 0) {
      fprintf(stderr, "filepager: %s: read error\n", path);
      return 1;
    }
    g.want[i] = fnv1a(page, g.page_size);
  }
  free(page);

  // The pager, its port, the VMO (content size = the file's size) and its
  // read-only mapping; the aux VMO that carries pages to the VMO.
  check(zx_pager_create(0, &g.pager), "zx_pager_create");
  check(zx_port_create(0, &g.port), "zx_port_create");
  check(zx_pager_create_vmo(g.pager, 0, g.port, KEY, g.file_size, &g.vmo), "zx_pager_create_vmo");
  check(zx_object_set_property(g.vmo, ZX_PROP_NAME, "filepager", sizeof "filepager"),
        "zx_object_set_property");
  check(zx_vmo_create(AUX_PAGES * g.page_size, 0, &g.aux), "zx_vmo_create");
  zx_vaddr_t addr;
  check(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, g.vmo, 0, g.vmo_size, &addr),
        "zx_vmar_map");
  g.base = (const uint8_t*)addr;

  pthread_t pager;
  pthread_create(&pager, NULL, pager_thread, NULL);

  zx_time_t start = zx_clock_get_monotonic();
  pthread_t* tids = calloc((size_t)threads, sizeof *tids);
  reader_t* readers = calloc((size_t)threads, sizeof *readers);
  for (int i = 0; i < threads; i++) {
    readers[i] = (reader_t){.index = i, .count = threads};
    pthread_create(&tids[i], NULL, reader_thread, &readers[i]);
  }
  uint64_t mismatches = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(tids[i], NULL);
    mismatches += readers[i].mismatches;
    if (readers[i].checksum != readers[0].checksum) {
      mismatches++;
    }
  }
  zx_duration_t elapsed = zx_clock_get_monotonic() - start;

  // Done: unmap, detach (the pager thread gets ZX_PAGER_VMO_COMPLETE), close.
  check(zx_vmar_unmap(zx_vmar_root_self(), addr, g.vmo_size), "zx_vmar_unmap");
  check(zx_pager_detach_vmo(g.pager, g.vmo), "zx_pager_detach_vmo");
  pthread_join(pager, NULL);
  zx_info_vmo_t info;
  check(zx_object_get_info(g.vmo, ZX_INFO_VMO, &info, sizeof info, NULL, NULL),
        "zx_object_get_info");
  zx_handle_close(g.vmo);
  zx_handle_close(g.aux);
  zx_handle_close(g.port);
  zx_handle_close(g.pager);
  close(g.fd);

  double ms = (double)elapsed / 1e6;
  printf("filepager: %s: %" PRIu64 " bytes, %" PRIu64 " pages, %d readers in %.1f ms\n", path,
         g.file_size, g.pages, threads, ms);
  printf("filepager: %" PRIu64 " READ requests for %" PRIu64 " pages; %" PRIu64
         " pages supplied (read ahead %" PRIu64 "); VMO '%s' flags %#x\n",
         g.requests, g.pages_requested, g.pages_supplied, g.readahead, info.name, info.flags);
  if (mismatches != 0 || g.requests == 0) {
    printf("filepager: FAILED: %" PRIu64 " mismatches\n", mismatches);
    return 1;
  }
  printf("filepager: ok: every reader saw the file (checksum %016" PRIx64 ")\n",
         readers[0].checksum);
  free(readers);
  free(tids);
  free(g.want);
  return 0;
}
