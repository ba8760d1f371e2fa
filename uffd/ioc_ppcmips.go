//go:build linux && (ppc64 || ppc64le || mips || mipsle || mips64 || mips64le)

package uffd

// The _IOC encoding of powerpc and mips: 3 direction bits at the top,
// 13 size bits, and _IOC_NONE is 1.
const (
	iocNone      = 1
	iocWrite     = 4
	iocRead      = 2
	iocSizeBits  = 13
	iocDirShift  = 29
	iocSizeShift = 16
)
