package main

// The Go half of include/pagerd/pagerd.h (pagerd.c holds the C half).

/*
#include <stdint.h>
*/
import "C"

import (
	"unsafe"

	"github.com/pagerd/pagerd/syscalls"
	"github.com/pagerd/pagerd/zx"
)

// pagerd_cabi_pagerd_vmo_open: sock (possibly empty: the default socket) and
// name are NUL-terminated copies in the wrapper's memory.
//
//export pagerd_cabi_pagerd_vmo_open
func pagerd_cabi_pagerd_vmo_open(sock, name *C.char, flags uint32, size uint64, out unsafe.Pointer) int32 {
	h, s := syscalls.PagerdVmoOpen(C.GoString(sock), C.GoString(name), flags, size)
	put(out, h)
	return st(s)
}

//export pagerd_cabi_pagerd_vmo_sync
func pagerd_cabi_pagerd_vmo_sync(h uint32, written unsafe.Pointer) int32 {
	n, s := syscalls.PagerdVmoSync(zx.Handle(h))
	*(*uint64)(written) = n
	return st(s)
}
