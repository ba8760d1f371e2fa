package client

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// ReadAt reads len(p) bytes of the VMO at offset off into p (io.ReaderAt),
// as zx_vmo_read does: pages pagerd has not supplied yet are requested and
// waited for. The bytes are copied by the kernel, with process_vm_readv
// from the client's own mapping of the whole VMO (made at the first ReadAt
// or WriteAt, and counted in pagerd's mapped-bytes limit), so the faults are
// taken inside that system call: the calling goroutine never faults, holds
// no P while pagerd serves the faults, and is safe from the Go fault hazard.
// p itself may be any memory, even a mapping of a pagerd VMO.
//
// A read that reaches past Size stops there and returns io.EOF with the
// bytes before it. A page pagerd cannot load, or any page it had not
// supplied when it died, fails the read with an error wrapping
// ErrUnavailable (and, once the session has ended, ErrServerGone); the
// count says how many bytes arrived before it.
func (v *VMO) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, zxErr(zx.ErrInvalidArgs, "read VMO %d (%q) at negative offset %d", v.id, v.name, off)
	}
	if uint64(off) >= v.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if rest := v.size - uint64(off); uint64(len(p)) > rest {
		p, eof = p[:rest], io.EOF
	}
	n, err := v.transfer(p, uint64(off), false)
	if err != nil {
		return n, err
	}
	return n, eof
}

// WriteAt writes p to the VMO at offset off (io.WriterAt), as zx_vmo_write
// does: absent pages are requested first and every written page becomes
// dirty in pagerd, to be written back. The kernel copies, with
// process_vm_writev into the client's own mapping of the VMO (see ReadAt),
// taking the write-protect faults that mark pages dirty inside the system
// call. A write to a read-only VMO is ZX_ERR_ACCESS_DENIED; one reaching
// past Size is ZX_ERR_OUT_OF_RANGE and writes nothing. Unavailable pages
// fail as in ReadAt.
func (v *VMO) WriteAt(p []byte, off int64) (int, error) {
	if v.readOnly {
		return 0, zxErr(zx.ErrAccessDenied, "write VMO %d (%q): the VMO is read-only", v.id, v.name)
	}
	if end := uint64(off) + uint64(len(p)); off < 0 || end < uint64(off) || end > v.size {
		return 0, zxErr(zx.ErrOutOfRange, "write VMO %d (%q): [%d, +%d) is outside its %#x bytes", v.id, v.name, off, len(p), v.size)
	}
	return v.transfer(p, uint64(off), true)
}

// ioMapping returns the client's own mapping of the whole VMO that ReadAt
// and WriteAt copy through, making it at the first call.
func (v *VMO) ioMapping() (*Mapping, error) {
	v.ioMu.Lock()
	defer v.ioMu.Unlock()
	if v.io != nil {
		return v.io, nil
	}
	m, err := v.Map(0, v.size, !v.readOnly)
	if err != nil {
		return nil, withContext(err, "mapping VMO %d (%q) for reads and writes", v.id, v.name)
	}
	v.io = m
	return m, nil
}

// transfer copies between p and [off, off+len(p)) of the VMO through the I/O
// mapping, with process_vm_readv or process_vm_writev on this process.
func (v *VMO) transfer(p []byte, off uint64, write bool) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	m, err := v.ioMapping()
	if err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.state.Load() != stateMapped {
		return 0, ErrClosed
	}
	pid := os.Getpid()
	done := 0
	for done < len(p) {
		local := []unix.Iovec{{Base: &p[done]}}
		local[0].SetLen(len(p) - done)
		remote := []unix.RemoteIovec{{Base: uintptr(m.ptr) + uintptr(off) + uintptr(done), Len: len(p) - done}}
		var n int
		var err error
		if write {
			n, err = unix.ProcessVMWritev(pid, local, remote, 0)
		} else {
			n, err = unix.ProcessVMReadv(pid, local, remote, 0)
		}
		if err == unix.EINTR {
			continue
		}
		if err == nil && n > 0 {
			done += n
			continue
		}
		v.unstick(m, off+uint64(done), err)
		return done, v.transferError(off+uint64(done), write, err)
	}
	return done, nil
}

// unstick clears what a failed page left in the I/O mapping, so that the
// next ReadAt or WriteAt of it asks pagerd again (a failure is not sticky,
// spec §3.4): pagerd answers a fault it cannot serve with a poison marker
// in the faulting mapping, which would otherwise fail every later access.
// Only a page that is not in the memfd is cleared: dropping the page-table
// entry of a present page would also drop its write-protection, and with
// it the next write's dirty tracking. Once the session has ended, the guard
// answers the next access with a new marker.
func (v *VMO) unstick(m *Mapping, off uint64, err error) {
	if !errors.Is(err, unix.EFAULT) && !errors.Is(err, unix.EHWPOISON) {
		return
	}
	ps := v.c.pageSize
	addr := uintptr(m.ptr) + uintptr(off&^(ps-1))
	var vec [1]byte
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, addr, uintptr(ps), uintptr(unsafe.Pointer(&vec[0]))); e != 0 || vec[0]&1 != 0 {
		return
	}
	unix.Syscall(unix.SYS_MADVISE, addr, uintptr(ps), unix.MADV_DONTNEED)
}

// transferError explains why process_vm_readv/writev stopped at off.
func (v *VMO) transferError(off uint64, write bool, err error) error {
	verb, call := "read", "process_vm_readv"
	if write {
		verb, call = "write", "process_vm_writev"
	}
	what := fmt.Sprintf("client: %s VMO %d (%q) at %#x", verb, v.id, v.name, off)
	if err == nil {
		err = io.ErrNoProgress
	}
	var errno unix.Errno
	if !errors.As(err, &errno) || (errno != unix.EFAULT && errno != unix.EHWPOISON) {
		return fmt.Errorf("%s: %w", what, os.NewSyscallError(call, err))
	}
	// A fault the kernel could not resolve: pagerd failed the page, or
	// it is gone and the guard poisoned it.
	if cerr := v.c.Err(); cerr != nil {
		return fmt.Errorf("%s: %w: %w: %w", what, ErrUnavailable, cerr, errno)
	}
	return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, errno)
}

// Fd returns the VMO's memfd, for Attach; it stays owned by the VMO and is
// closed by Close.
func (v *VMO) Fd() int { return v.fd }
