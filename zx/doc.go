// Package zx holds Zircon's vocabulary as Go types: statuses, rights, object
// types, signals, option and op codes, and the byte layouts of the structures
// that cross the API (port packets, ZX_INFO_VMO, dirty ranges).
//
// It mirrors the C headers zircon/types.h, zircon/errors.h, zircon/rights.h,
// zircon/syscalls/port.h and zircon/syscalls/object.h, and the shape of
// Fuchsia's Go binding (package syscall/zx): Status with Err* constants and an
// *Error carrying a Status. Every value here is Zircon's own; nothing is
// Linux-specific. Every other package of pagerd imports it.
package zx
