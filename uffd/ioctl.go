//go:build linux

package uffd

import "unsafe"

// The struct layouts of <linux/userfaultfd.h>. Every field is a __u64 or
// __s64, so Go lays them out exactly like the kernel on every 64-bit and
// 32-bit Linux. The result fields (copy, zeropage, mapped, updated, move) are
// signed: a count of bytes done, or a negated errno.

// uffdioAPI is struct uffdio_api.
type uffdioAPI struct {
	api      uint64
	features uint64
	ioctls   uint64
}

// uffdioRange is struct uffdio_range.
type uffdioRange struct {
	start uint64
	len   uint64
}

// uffdioRegister is struct uffdio_register.
type uffdioRegister struct {
	rng    uffdioRange
	mode   uint64
	ioctls uint64
}

// uffdioCopy is struct uffdio_copy.
type uffdioCopy struct {
	dst  uint64
	src  uint64
	len  uint64
	mode uint64
	copy int64
}

// uffdioZeropage is struct uffdio_zeropage.
type uffdioZeropage struct {
	rng      uffdioRange
	mode     uint64
	zeropage int64
}

// uffdioWriteprotect is struct uffdio_writeprotect.
type uffdioWriteprotect struct {
	rng  uffdioRange
	mode uint64
}

// uffdioContinue is struct uffdio_continue.
type uffdioContinue struct {
	rng    uffdioRange
	mode   uint64
	mapped int64
}

// uffdioPoison is struct uffdio_poison.
type uffdioPoison struct {
	rng     uffdioRange
	mode    uint64
	updated int64
}

// uffdioMove is struct uffdio_move.
type uffdioMove struct {
	dst  uint64
	src  uint64
	len  uint64
	mode uint64
	move int64
}

// APIVersion is UFFD_API, the only API version the kernel accepts in
// UFFDIO_API.
const APIVersion = 0xAA

// The ioctl type byte: UFFDIO and USERFAULTFD_IOC are both 0xAA.
const uffdioMagic = 0xAA

// The ioctl command numbers (_UFFDIO_*): bit n of an Ioctls mask says that
// the ioctl with number n is available.
const (
	nrRegister     = 0x00
	nrUnregister   = 0x01
	nrWake         = 0x02
	nrCopy         = 0x03
	nrZeropage     = 0x04
	nrMove         = 0x05
	nrWriteprotect = 0x06
	nrContinue     = 0x07
	nrPoison       = 0x08
	nrAPI          = 0x3F
)

// The ioctl request numbers, built like the kernel's _IO/_IOR/_IOWR macros.
// UFFDIO_UNREGISTER and UFFDIO_WAKE are _IOR although the kernel reads the
// struct (a historical mistake kept for ABI compatibility).
const (
	reqUserfaultfdNew = iocNone<<iocDirShift | uffdioMagic<<8 | 0x00
	reqAPI            = (iocRead|iocWrite)<<iocDirShift | unsafe.Sizeof(uffdioAPI{})<<iocSizeShift | uffdioMagic<<8 | nrAPI
	reqRegister       = (iocRead|iocWrite)<<iocDirShift | unsafe.Sizeof(uffdioRegister{})<<iocSizeShift | uffdioMagic<<8 | nrRegister
	reqUnregister     = iocRead<<iocDirShift | unsafe.Sizeof(uffdioRange{})<<iocSizeShift | uffdioMagic<<8 | nrUnregister
	reqWake           = iocRead<<iocDirShift | unsafe.Sizeof(uffdioRange{})<<iocSizeShift | uffdioMagic<<8 | nrWake
	reqCopy           = (iocRead|iocWrite)<<iocDirShift | unsafe.Sizeof(uffdioCopy{})<<iocSizeShift | uffdioMagic<<8 | nrCopy
	reqZeropage       = (iocRead|iocWrite)<<iocDirShift | unsafe.Sizeof(uffdioZeropage{})<<iocSizeShift | uffdioMagic<<8 | nrZeropage
	reqMove           = (iocRead|iocWrite)<<iocDirShift | unsafe.Sizeof(uffdioMove{})<<iocSizeShift | uffdioMagic<<8 | nrMove
	reqWriteprotect   = (iocRead|iocWrite)<<iocDirShift | unsafe.Sizeof(uffdioWriteprotect{})<<iocSizeShift | uffdioMagic<<8 | nrWriteprotect
	reqContinue       = (iocRead|iocWrite)<<iocDirShift | unsafe.Sizeof(uffdioContinue{})<<iocSizeShift | uffdioMagic<<8 | nrContinue
	reqPoison         = (iocRead|iocWrite)<<iocDirShift | unsafe.Sizeof(uffdioPoison{})<<iocSizeShift | uffdioMagic<<8 | nrPoison
)

// Ioctls is a bitmask of available ioctls as the kernel reports it in
// struct uffdio_api.ioctls (after UFFDIO_API) and struct
// uffdio_register.ioctls (after UFFDIO_REGISTER): bit n is set when the ioctl
// with command number n (_UFFDIO_*) may be used.
type Ioctls uint64

// The Ioctls bits, 1 << _UFFDIO_*.
const (
	IoctlRegister     Ioctls = 1 << nrRegister     // UFFDIO_REGISTER
	IoctlUnregister   Ioctls = 1 << nrUnregister   // UFFDIO_UNREGISTER
	IoctlWake         Ioctls = 1 << nrWake         // UFFDIO_WAKE
	IoctlCopy         Ioctls = 1 << nrCopy         // UFFDIO_COPY
	IoctlZeropage     Ioctls = 1 << nrZeropage     // UFFDIO_ZEROPAGE
	IoctlMove         Ioctls = 1 << nrMove         // UFFDIO_MOVE
	IoctlWriteProtect Ioctls = 1 << nrWriteprotect // UFFDIO_WRITEPROTECT
	IoctlContinue     Ioctls = 1 << nrContinue     // UFFDIO_CONTINUE
	IoctlPoison       Ioctls = 1 << nrPoison       // UFFDIO_POISON
	IoctlAPI          Ioctls = 1 << nrAPI          // UFFDIO_API
)

var ioctlNames = func() (n [64]string) {
	n[nrRegister] = "REGISTER"
	n[nrUnregister] = "UNREGISTER"
	n[nrWake] = "WAKE"
	n[nrCopy] = "COPY"
	n[nrZeropage] = "ZEROPAGE"
	n[nrMove] = "MOVE"
	n[nrWriteprotect] = "WRITEPROTECT"
	n[nrContinue] = "CONTINUE"
	n[nrPoison] = "POISON"
	n[nrAPI] = "API"
	return n
}()

// Has reports whether every bit of x is set in i.
func (i Ioctls) Has(x Ioctls) bool { return i&x == x }

// String returns the set bits by their kernel names without the UFFDIO_
// prefix, joined by "|"; unknown bits are printed in hex.
func (i Ioctls) String() string { return bitString(uint64(i), ioctlNames[:]) }
