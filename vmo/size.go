package vmo

import (
	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// Size returns the page-rounded size (an atomic load; no lock needed).
func (v *VMO) Size() uint64 { return v.size.Load() }

// StoreSize records a new page-rounded size. The Source calls it from Resize
// once the memfd has its new length.
func (v *VMO) StoreSize(n uint64) { v.size.Store(n) }

// SetSize is zx_vmo_set_size after the rights check, in Zircon's order: a
// size whose page rounding overflows is OUT_OF_RANGE, a VMO created without
// ZX_VMO_RESIZABLE is UNAVAILABLE, a size beyond MaxSize is OUT_OF_RANGE.
// The VMO gets the rounded size and the content size becomes size; the bytes
// from size to the end of its page read as zero afterwards. A plain VMO
// ftruncates its memfd (pages beyond the new size are dropped, a grown range
// reads zero); a pager VMO calls Source.Resize, then zeroes the partial last
// page with Source.Write (as Zircon, a failure of that zeroing is ignored).
// Children whose Source is a ParentResizeObserver hear of the new size.
func (v *VMO) SetSize(size uint64) error {
	rounded, ok := PageRoundUp(size)
	if !ok {
		return errf(zx.ErrOutOfRange, "size %#x overflows when rounded to pages", size)
	}
	if !v.Resizable() {
		return errf(zx.ErrUnavailable, "VMO %d is not resizable", v.koid)
	}
	if rounded > MaxSize {
		return errf(zx.ErrOutOfRange, "size %#x is too large (max %#x)", size, MaxSize)
	}
	if err := v.acquire(); err != nil {
		return err
	}
	defer v.release()
	v.resizeMu.Lock()
	defer v.resizeMu.Unlock()
	if v.src != nil {
		if err := v.src.Resize(v, rounded); err != nil {
			return err
		}
		if rounded > size {
			_ = v.src.Write(v, make([]byte, rounded-size), size)
		}
		v.setContentSize(size)
		v.parentResized(rounded)
		return nil
	}
	v.rw.Lock()
	defer v.rw.Unlock()
	if err := unix.Ftruncate(v.res.fd, int64(rounded)); err != nil {
		return errnoErr(err, "resize VMO %d to %#x", v.koid, rounded)
	}
	v.StoreSize(rounded)
	v.res.mu.Lock()
	if v.res.imapSize != rounded {
		v.res.unmapInternalLocked() // remapped at the next WithInternalMapping
	}
	v.res.mu.Unlock()
	if rounded > size {
		_ = v.zeroPartial(pageRoundDown(size), size, rounded)
	}
	v.setContentSize(size)
	v.parentResized(rounded)
	return nil
}

// ContentSize is ZX_PROP_VMO_CONTENT_SIZE: the byte size of the content,
// independent of the page-rounded size.
func (v *VMO) ContentSize() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.contentSize
}

func (v *VMO) setContentSize(n uint64) {
	v.mu.Lock()
	v.contentSize = n
	v.mu.Unlock()
}

// SetContentSize sets ZX_PROP_VMO_CONTENT_SIZE as Zircon's kernel does
// (VmObjectDispatcher::SetContentSize): any value is accepted, even one
// beyond the VMO size, and when n is below the size the range [n, size) is
// zeroed (as ZX_VMO_OP_ZERO would: pager VMOs go through their Source; as in
// Zircon, a failure of that zeroing does not undo the new content size).
func (v *VMO) SetContentSize(n uint64) error {
	if err := v.acquire(); err != nil {
		return err
	}
	defer v.release()
	v.resizeMu.Lock()
	defer v.resizeMu.Unlock()
	if size := v.Size(); n < size {
		if v.src != nil {
			_ = v.zeroPaged(n, size)
		} else {
			v.rw.RLock()
			if size := v.Size(); n < size {
				_ = v.zeroPlain(n, size)
			}
			v.rw.RUnlock()
		}
	}
	v.setContentSize(n)
	return nil
}
