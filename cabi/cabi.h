// Internal declarations shared by the C files of libzircon (not installed).

#ifndef PAGERD_CABI_H
#define PAGERD_CABI_H

#include <stddef.h>
#include <stdint.h>

// PAGERD_FENCE, evaluated in a public zx_* function, is the lowest address of
// its caller's stack frame: above the function's saved frame pointer and
// return address. Stack memory of the calling thread below it is not the
// caller's (it is dead, or the library's own live frames), so a pointer into
// it is a bad pointer even though it is mapped.
#define PAGERD_FENCE ((uintptr_t)__builtin_frame_address(0) + 2 * sizeof(void*))

// Moves n bytes between the library's memory and the caller's without ever
// faulting: return 0, or -1 if any byte of the caller's range cannot be read
// (copy_in) or written (copy_out). NULL is such a range when n > 0; so is any
// range that overlaps the calling thread's stack below fence.
int pagerd_copy_in(void* dst, const void* user_src, size_t n, uintptr_t fence);
int pagerd_copy_out(void* user_dst, const void* src, size_t n, uintptr_t fence);

// Returns 0 if every byte of the caller's [p, p+n) can be read (or written,
// if write), without touching it; -1 otherwise. n == 0 is always 0.
int pagerd_probe(const void* p, size_t n, int write, uintptr_t fence);

// Classifies the caller's [p, p+n) against the calling thread's stack:
// 1 if it lies in the caller's own frames (above fence: mapped, writable, no
// probe needed), -1 if it overlaps the stack below fence or wraps around the
// address space (a buffer no call may touch), 0 otherwise or when n == 0.
int pagerd_classify(const void* p, size_t n, uintptr_t fence);

// pagerd_put_handle returns status unless it is ZX_OK; then it stores the
// new handle h into the caller's *out, or closes h again when out is not
// writable (the object is destroyed, as when Zircon fails the copy-out) and
// returns ZX_ERR_INVALID_ARGS.
int32_t pagerd_put_handle(int32_t status, uint32_t h, uint32_t* out, uintptr_t fence);

#endif
