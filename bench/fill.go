package bench

import (
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/uffd"
)

// fillRow measures what one pagerd read-ahead fill of size bytes costs
// without any fault or wake-up around it: the data comes from the
// sequential rows' store file (in the page cache) and lands in missing
// pages of a memfd mapping (MISSING_SHMEM) with UFFDIO_COPY — either, like
// pagerd, by pread(2) into a buffer and a COPY from the buffer, or
// (fromMap) by a COPY straight from a read-only mapping of the file, which
// saves one copy. Successive iterations read successive size-byte chunks
// of the file (wrapping around), so the source is not hot in the CPU
// caches; the destination is punched empty between iterations.
func fillRow(size int, fromMap bool) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		obj := e.seqSize()
		st, err := e.pagerdStore(pdSeqObj, obj)
		if err != nil {
			return nil, err
		}
		chunks := int(obj) / size
		if chunks < 1 {
			return nil, fmt.Errorf("the %d-byte sequential object is smaller than %d bytes", obj, size)
		}
		fd, err := unix.Open(filepath.Join(st.dir, pdSeqObj), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		var src, buf region
		if fromMap {
			if src, err = mmapShared(fd, chunks*size, unix.PROT_READ); err != nil {
				return nil, err
			}
			defer src.unmap()
			// pagerd would keep the file mapped: page tables in place.
			if err := src.madvise(unix.MADV_POPULATE_READ); err != nil {
				return nil, err
			}
		} else {
			if buf, err = mmapAnon(size); err != nil {
				return nil, err
			}
			defer buf.unmap()
			if err := buf.populate(); err != nil {
				return nil, err
			}
		}
		dfd, err := newMemfd("pagerbench-fill", size)
		if err != nil {
			return nil, err
		}
		defer unix.Close(dfd)
		dst, err := mmapShared(dfd, size, unix.PROT_READ|unix.PROT_WRITE)
		if err != nil {
			return nil, err
		}
		defer dst.unmap()
		if err := dst.populate(); err != nil {
			return nil, err
		}
		reset := func() error { return punch(dfd, size) }
		if err := reset(); err != nil {
			return nil, err
		}
		u, err := uffd.New(uffd.FeatureMissingShmem)
		if err != nil {
			return nil, err
		}
		defer u.Close()
		if _, err := u.Register(dst.addr, uintptr(size), uffd.RegisterModeMissing); err != nil {
			return nil, err
		}
		i := 0
		m, err := e.bulkLoop(size, reset, func() (int64, error) {
			off := (i % chunks) * size
			i++
			t0 := time.Now()
			if fromMap {
				err := copyAll(u, dst.addr, src.addr+uintptr(off), uintptr(size))
				return time.Since(t0).Nanoseconds(), err
			}
			b := buf.bytes()
			for done := 0; done < size; {
				n, err := unix.Pread(fd, b[done:], int64(off+done))
				if err != nil {
					return 0, fmt.Errorf("pread: %w", err)
				}
				if n == 0 {
					return 0, fmt.Errorf("pread: end of file at %d", off+done)
				}
				done += n
			}
			err := copyAll(u, dst.addr, buf.addr, uintptr(size))
			return time.Since(t0).Nanoseconds(), err
		})
		if err != nil {
			return nil, err
		}
		m.note("source: %d MiB store file, %d chunks", obj>>20, chunks)
		return m, nil
	}
}
