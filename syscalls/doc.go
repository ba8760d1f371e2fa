// Package syscalls is pagerd's flat, Zircon-shaped API: handles with
// per-handle rights over the objects of packages port, vmo and pager, and one
// function per zx_* call (PagerCreateVmo, PagerSupplyPages, VmoCreate,
// PortWait, ...). Each call checks its arguments in Zircon's order (alignment
// checks that come before handle lookups, then each handle: invalid →
// ZX_ERR_BAD_HANDLE, wrong type → ZX_ERR_WRONG_TYPE, missing right →
// ZX_ERR_ACCESS_DENIED) and returns a zx.Status, exactly as the C calls of
// zircon/syscalls.h do; the C ABI (libzircon) is a thin layer over it.
package syscalls
