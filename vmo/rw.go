package vmo

import (
	"math/bits"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// inRange reports whether [off, off+n) lies within size (Zircon's InRange:
// the end may not overflow).
func inRange(off, n, size uint64) bool {
	end, carry := bits.Add64(off, n, 0)
	return carry == 0 && end <= size
}

func (v *VMO) checkRange(what string, off, n uint64) error {
	if !inRange(off, n, v.Size()) {
		return errf(zx.ErrOutOfRange, "%s [%#x, +%#x) beyond VMO size %#x", what, off, n, v.Size())
	}
	return nil
}

// Read is zx_vmo_read after the rights check: exactly len(p) bytes from off,
// OUT_OF_RANGE if any byte is beyond the size. A plain VMO reads the memfd
// (a hole reads as zeros and stays a hole); a pager VMO asks its Source.
func (v *VMO) Read(p []byte, off uint64) error {
	if err := v.acquire(); err != nil {
		return err
	}
	defer v.release()
	if v.src != nil {
		if err := v.checkRange("read", off, uint64(len(p))); err != nil {
			return err
		}
		if len(p) == 0 {
			return nil
		}
		return v.src.Read(v, p, off)
	}
	v.rw.RLock()
	defer v.rw.RUnlock()
	if err := v.checkRange("read", off, uint64(len(p))); err != nil {
		return err
	}
	return v.pread(p, off)
}

// Write is zx_vmo_write after the rights check: exactly len(p) bytes at off,
// OUT_OF_RANGE if any byte is beyond the size.
func (v *VMO) Write(p []byte, off uint64) error {
	if err := v.acquire(); err != nil {
		return err
	}
	defer v.release()
	if v.src != nil {
		if err := v.checkRange("write", off, uint64(len(p))); err != nil {
			return err
		}
		if len(p) == 0 {
			return nil
		}
		return v.src.Write(v, p, off)
	}
	v.rw.RLock()
	defer v.rw.RUnlock()
	if err := v.checkRange("write", off, uint64(len(p))); err != nil {
		return err
	}
	return v.pwrite(p, off)
}

// pread and pwrite move whole buffers; the caller holds a use and has
// checked the range (the memfd is exactly Size() bytes long).
func (v *VMO) pread(p []byte, off uint64) error {
	fd := v.res.fd
	for done := 0; done < len(p); {
		n, err := unix.Pread(fd, p[done:], int64(v.base+off)+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return errnoErr(err, "pread VMO %d at %#x", v.koid, off+uint64(done))
		}
		if n == 0 {
			return errf(zx.ErrOutOfRange, "read of VMO %d at %#x: end of memfd", v.koid, off+uint64(done))
		}
		done += n
	}
	return nil
}

func (v *VMO) pwrite(p []byte, off uint64) error {
	fd := v.res.fd
	for done := 0; done < len(p); {
		n, err := unix.Pwrite(fd, p[done:], int64(v.base+off)+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return errnoErr(err, "pwrite VMO %d at %#x", v.koid, off+uint64(done))
		}
		done += n
	}
	return nil
}
