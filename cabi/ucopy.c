// Access to the caller's memory that never faults: see cabi.h.
//
// Three kinds of caller ranges:
//   - in the caller's own stack frames (between the fence of the zx_* call
//     and the top of the calling thread's stack): mapped, writable and in
//     use, so they are copied with memcpy and no system call. Most fixed-size
//     inputs and outputs are such locals (a zx_port_packet_t, a zx_handle_t);
//   - overlapping the calling thread's stack below the fence: memory that is
//     dead for the caller or holds the library's own live frames. Writing it
//     would corrupt the library, so it is a bad pointer;
//   - anywhere else: copied with process_vm_readv/process_vm_writev on the
//     calling process. The kernel walks the page tables (faulting pages in,
//     including pages of pager VMOs, which then wait for their pager) and
//     returns EFAULT or a short count instead of raising SIGSEGV/SIGBUS. A
//     process may always use them on itself, whatever the ptrace policy
//     (Yama). Where a seccomp filter forbids them (ENOSYS, EPERM), the library
//     falls back to pagerd_probe then memcpy, which is safe unless the program
//     unmaps the buffer concurrently with the call.
// Probes use madvise(MADV_POPULATE_READ/WRITE) (Linux 5.14+): the kernel
// populates the range as an access would, but returns ENOMEM (unmapped),
// EINVAL (no permission) or EFAULT (an access would raise SIGBUS) instead of
// signalling.
//
// The calling thread's stack is known only while the thread runs on it (not
// on a signal stack or a coroutine stack); elsewhere every range takes the
// system call paths. errno is preserved: zx_* calls do not set it.

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cabi.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE_MASK_ ((uintptr_t)4095)

// process_vm_* refused (seccomp) or absent. (Built with
// -DPAGERD_CABI_NO_VM_RW to test the fallback.)
#ifdef PAGERD_CABI_NO_VM_RW
static int vm_rw_unavailable = 1;
#else
static int vm_rw_unavailable;
#endif

// The calling thread's stack [lo, hi), learnt on its first call; lo == hi
// when it could not be learnt.
static __thread uintptr_t tl_stack_lo, tl_stack_hi;
static __thread int tl_stack_known;

enum { ELSEWHERE = 0, CALLER_STACK = 1, BAD = -1 };

static __attribute__((noinline)) int classify(const void* p, size_t n, uintptr_t fence) {
  uintptr_t a = (uintptr_t)p, end;
  if (__builtin_add_overflow(a, n, &end)) {
    return BAD;
  }
  if (!tl_stack_known) {
    pthread_attr_t attr;
    void* addr;
    size_t size;
    int saved = errno;
    tl_stack_known = 1;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        tl_stack_lo = (uintptr_t)addr;
        tl_stack_hi = (uintptr_t)addr + size;
      }
      pthread_attr_destroy(&attr);
    }
    errno = saved;
  }
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  if (sp < tl_stack_lo || sp >= tl_stack_hi || fence < sp || fence > tl_stack_hi) {
    return ELSEWHERE;  // not running on the thread's stack
  }
  if (end <= tl_stack_lo || a >= tl_stack_hi) {
    return ELSEWHERE;
  }
  if (a >= fence && end <= tl_stack_hi) {
    return CALLER_STACK;
  }
  return BAD;
}

int pagerd_classify(const void* p, size_t n, uintptr_t fence) {
  return n > 0 ? classify(p, n, fence) : ELSEWHERE;
}

int pagerd_probe(const void* p, size_t n, int write, uintptr_t fence) {
  if (n == 0) {
    return 0;
  }
  if (p == NULL) {
    return -1;
  }
  switch (classify(p, n, fence)) {
    case CALLER_STACK:
      return 0;
    case BAD:
      return -1;
  }
  uintptr_t start = (uintptr_t)p, end = start + n;
  if (__builtin_add_overflow(end, PAGE_MASK_, &end)) {
    return -1;
  }
  start &= ~PAGE_MASK_;
  end &= ~PAGE_MASK_;
  int saved = errno, rc;
  do {
    rc = madvise((void*)start, end - start, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
  } while (rc != 0 && errno == EINTR);
  errno = saved;
  return rc == 0 ? 0 : -1;
}

// Returns 1 if the copy was attempted (result in *rc), 0 if process_vm_*
// cannot be used in this process.
static int vm_copy(void* local, void* remote, size_t n, int to_remote, int* rc) {
  if (__atomic_load_n(&vm_rw_unavailable, __ATOMIC_RELAXED)) {
    return 0;
  }
  struct iovec l = {local, n}, r = {remote, n};
  // getpid() on every call: a cached pid would name the parent after fork.
  ssize_t got = to_remote ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
                          : process_vm_readv(getpid(), &l, 1, &r, 1, 0);
  if (got == (ssize_t)n) {
    *rc = 0;
    return 1;
  }
  if (got >= 0 || (errno != ENOSYS && errno != EPERM)) {
    *rc = -1;  // EFAULT (nothing copied) or a short copy
    return 1;
  }
  __atomic_store_n(&vm_rw_unavailable, 1, __ATOMIC_RELAXED);
  return 0;
}

int pagerd_copy_in(void* dst, const void* user_src, size_t n, uintptr_t fence) {
  if (n == 0) {
    return 0;
  }
  if (user_src == NULL) {
    return -1;
  }
  switch (classify(user_src, n, fence)) {
    case CALLER_STACK:
      memcpy(dst, user_src, n);
      return 0;
    case BAD:
      return -1;
  }
  int saved = errno, rc;
  if (!vm_copy(dst, (void*)user_src, n, 0, &rc)) {
    rc = pagerd_probe(user_src, n, 0, fence);
    if (rc == 0) {
      memcpy(dst, user_src, n);
    }
  }
  errno = saved;
  return rc;
}

int pagerd_copy_out(void* user_dst, const void* src, size_t n, uintptr_t fence) {
  if (n == 0) {
    return 0;
  }
  if (user_dst == NULL) {
    return -1;
  }
  switch (classify(user_dst, n, fence)) {
    case CALLER_STACK:
      memcpy(user_dst, src, n);
      return 0;
    case BAD:
      return -1;
  }
  int saved = errno, rc;
  if (!vm_copy((void*)src, user_dst, n, 1, &rc)) {
    rc = pagerd_probe(user_dst, n, 1, fence);
    if (rc == 0) {
      memcpy(user_dst, src, n);
    }
  }
  errno = saved;
  return rc;
}
