//go:build linux && !ppc64 && !ppc64le && !mips && !mipsle && !mips64 && !mips64le

package uffd

// The generic _IOC encoding of <asm-generic/ioctl.h> (x86, arm64, riscv64,
// s390x, loong64, ...): 2 direction bits at the top, 14 size bits.
const (
	iocNone      = 0
	iocWrite     = 1
	iocRead      = 2
	iocSizeBits  = 14
	iocDirShift  = 30
	iocSizeShift = 16
)
