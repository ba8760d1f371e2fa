package bench

import "unsafe"

// unsafeSlice views [addr, addr+n) of memory outside the Go heap (mmap'd)
// as a byte slice.
func unsafeSlice(addr uintptr, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(nil), addr)), n)
}
