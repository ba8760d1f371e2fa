package bench

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/bench/internal/cbench"
	"github.com/pagerd/pagerd/uffd"
)

// iterations is how many times a bulk row repeats an operation of size
// bytes.
func (e *env) iterations(size int) int {
	return max(e.cfg.MinIters, int(e.cfg.BulkBytes/int64(size)))
}

// bulkLoop runs op (timed) iters times, with reset (untimed) before each
// run and one untimed warm-up run first, stopping early at the duration
// cap once MinIters runs are done. op returns the ns it took.
func (e *env) bulkLoop(size int, reset func() error, op func() (int64, error)) (*measurement, error) {
	iters := e.iterations(size)
	m := &measurement{}
	deadline := time.Now().Add(e.cfg.Duration)
	for i := -1; i < iters; i++ {
		if i >= e.cfg.MinIters && time.Now().After(deadline) {
			break
		}
		if err := reset(); err != nil {
			return nil, err
		}
		ns, err := op()
		if err != nil {
			return nil, err
		}
		if i < 0 {
			continue // warm-up
		}
		m.samples = append(m.samples, ns)
		m.wallNs += ns
		m.bytes += int64(size)
	}
	return m, nil
}

// memcpyRow measures memcpy between two populated buffers (C memcpy).
func memcpyRow(size int) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		src, err := mmapAnon(size)
		if err != nil {
			return nil, err
		}
		defer src.unmap()
		dst, err := mmapAnon(size)
		if err != nil {
			return nil, err
		}
		defer dst.unmap()
		if err := errors.Join(src.populate(), dst.populate()); err != nil {
			return nil, err
		}
		src.fill(0x5A)
		return e.bulkLoop(size, func() error { return nil }, func() (int64, error) {
			return cbench.MemcpyNs(dst.addr, src.addr, size), nil
		})
	}
}

// copyRow measures one UFFDIO_COPY of size bytes from a populated buffer
// into missing pages of a registered range: private anonymous memory, or a
// MAP_SHARED memfd mapping (shmem: what supply_pages fills). The
// destination is emptied between runs (MADV_DONTNEED / hole punch).
func copyRow(size int, shmem bool) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		src, err := mmapAnon(size)
		if err != nil {
			return nil, err
		}
		defer src.unmap()
		if err := src.populate(); err != nil {
			return nil, err
		}
		src.fill(0x5A)
		var dst region
		var features uffd.Features
		var reset func() error
		if shmem {
			fd, err := newMemfd("pagerbench-copy", size)
			if err != nil {
				return nil, err
			}
			defer unix.Close(fd)
			if dst, err = mmapShared(fd, size, unix.PROT_READ|unix.PROT_WRITE); err != nil {
				return nil, err
			}
			if err := dst.populate(); err != nil {
				dst.unmap()
				return nil, err
			}
			features = uffd.FeatureMissingShmem
			reset = func() error { return punch(fd, size) }
		} else {
			if dst, err = mmapAnon(size); err != nil {
				return nil, err
			}
			if err := dst.populate(); err != nil {
				dst.unmap()
				return nil, err
			}
			reset = func() error { return dst.madvise(unix.MADV_DONTNEED) }
		}
		defer dst.unmap()
		if err := reset(); err != nil {
			return nil, err
		}
		u, err := uffd.New(features)
		if err != nil {
			return nil, err
		}
		defer u.Close()
		if _, err := u.Register(dst.addr, uintptr(size), uffd.RegisterModeMissing); err != nil {
			return nil, err
		}
		return e.bulkLoop(size, reset, func() (int64, error) {
			t0 := time.Now()
			err := copyAll(u, dst.addr, src.addr, uintptr(size))
			return time.Since(t0).Nanoseconds(), err
		})
	}
}

// copyAll issues UFFDIO_COPY until the whole range is copied.
func copyAll(u *uffd.UFFD, dst, src, size uintptr) error {
	for done := uintptr(0); done < size; {
		n, err := u.Copy(dst+done, src+done, size-done, 0)
		done += n
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return err
		}
	}
	return nil
}

// moveRow measures one UFFDIO_MOVE of size bytes of populated 4 KiB pages
// (no THP) from an anonymous buffer into missing pages of a registered
// anonymous range of the same process. The source is populated again and
// the destination emptied between runs.
func moveRow(size int) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		src, err := mmapAnon(size)
		if err != nil {
			return nil, err
		}
		defer src.unmap()
		dst, err := mmapAnon(size)
		if err != nil {
			return nil, err
		}
		defer dst.unmap()
		if err := dst.prefault(); err != nil {
			return nil, err
		}
		u, err := uffd.New(uffd.FeatureMove)
		if err != nil {
			return nil, err
		}
		defer u.Close()
		if _, err := u.Register(dst.addr, uintptr(size), uffd.RegisterModeMissing); err != nil {
			return nil, err
		}
		reset := func() error {
			return errors.Join(dst.madvise(unix.MADV_DONTNEED), src.populate())
		}
		return e.bulkLoop(size, reset, func() (int64, error) {
			t0 := time.Now()
			for done := uintptr(0); done < uintptr(size); {
				n, err := u.Move(dst.addr+done, src.addr+done, uintptr(size)-done, 0)
				done += n
				if err != nil && !errors.Is(err, unix.EAGAIN) {
					return 0, fmt.Errorf("UFFDIO_MOVE: %w", err)
				}
			}
			return time.Since(t0).Nanoseconds(), nil
		})
	}
}
