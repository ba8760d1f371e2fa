package vmo

import (
	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// Mapping is one mapping of a VMO in the root VMAR: [Addr, Addr+Len) shows
// the VMO's bytes from Offset on. Priv belongs to the VMO's Source (set in
// Source.Mapped). A mapping keeps its VMO alive.
type Mapping struct {
	VMO    *VMO
	Addr   uintptr
	Len    uint64
	Offset uint64
	Perms  uint32 // ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE
	Priv   any

	canMap uint32 // the ZX_VM_PERM_* bits the handles' rights allowed at map time
}

// End is the first address after the mapping.
func (m *Mapping) End() uintptr { return m.Addr + uintptr(m.Len) }

// CanMap returns the permissions (ZX_VM_PERM_* bits) that the handles used
// to create the mapping allowed: zx_vmar_op_range COMMIT, DECOMMIT and ZERO
// need write, PREFETCH needs read.
func (m *Mapping) CanMap() uint32 { return m.canMap }

const permMask = zx.VMPermRead | zx.VMPermWrite | zx.VMPermExecute

func protOf(perms uint32) uintptr {
	prot := unix.PROT_NONE
	if perms&zx.VMPermRead != 0 {
		prot |= unix.PROT_READ
	}
	if perms&zx.VMPermWrite != 0 {
		prot |= unix.PROT_WRITE
	}
	if perms&zx.VMPermExecute != 0 {
		prot |= unix.PROT_EXEC
	}
	return uintptr(prot)
}

func mmapRaw(addr uintptr, length uint64, prot uintptr, flags uintptr, fd int, off uint64) (uintptr, unix.Errno) {
	a, _, errno := unix.Syscall6(unix.SYS_MMAP, addr, uintptr(length), prot, flags, uintptr(fd), uintptr(off))
	return a, errno
}

func munmapRaw(addr uintptr, length uint64) {
	if length > 0 {
		_, _, _ = unix.Syscall(unix.SYS_MUNMAP, addr, uintptr(length), 0)
	}
}

// dontFork applies MADV_DONTFORK: a forked child must never reach the memfd
// through an inherited, unregistered copy of the mapping (for a pager VMO it
// would silently create zero pages).
func dontFork(addr uintptr, length uint64) unix.Errno {
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(length), unix.MADV_DONTFORK)
	return errno
}
