package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// faultAroundPages is the kernel's default fault-around window (64 KiB):
// a read fault on a file page already in the page cache maps the cached
// pages of the whole aligned window.
const faultAroundPages = 16

// anonRow measures first touches of private anonymous memory: in-kernel
// faults that allocate a zeroed page (write) or map the shared zero page
// (read).
func anonRow(write bool) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		n := e.cfg.N + e.cfg.Warmup
		r, err := mmapAnon(n * pageSize)
		if err != nil {
			return nil, err
		}
		defer r.unmap()
		if err := r.prefault(); err != nil {
			return nil, err
		}
		return touch(touchSpec{addrs: [][]uintptr{r.pages(n)}, warm: e.cfg.Warmup, write: write}, e.cfg.Duration, nil)
	}
}

// testFile is the file the kernel/file-* rows read through mmap.
type testFile struct {
	path string
	fd   int
	size int64
}

func (e *env) testFile() (*testFile, error) {
	if e.file != nil {
		return e.file, nil
	}
	dir := e.cfg.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "pagerbench-*.dat")
	if err != nil {
		return nil, err
	}
	size := e.cfg.FileSize &^ int64(faultAroundPages*pageSize-1)
	if size <= 0 {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("file size %d is below %d", e.cfg.FileSize, faultAroundPages*pageSize)
	}
	e.logf("  writing a %d MiB test file in %s", size>>20, dir)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	e.file = &testFile{path: f.Name(), fd: fd, size: size}
	return e.file, nil
}

func (f *testFile) close() {
	unix.Close(f.fd)
	os.Remove(f.path)
}

// cache reads the whole file so every page is in the page cache.
func (f *testFile) cache() error {
	buf := make([]byte, 1<<20)
	for off := int64(0); off < f.size; off += int64(len(buf)) {
		if _, err := unix.Pread(f.fd, buf, off); err != nil {
			return fmt.Errorf("reading the test file: %w", err)
		}
	}
	return nil
}

// evict drops the file's pages from the page cache (they are clean: the
// file was synced) and returns how many pages stayed resident.
func (f *testFile) evict() (int, error) {
	if err := unix.Fdatasync(f.fd); err != nil {
		return 0, err
	}
	if err := unix.Fadvise(f.fd, 0, f.size, unix.FADV_DONTNEED); err != nil {
		return 0, fmt.Errorf("fadvise DONTNEED: %w", err)
	}
	return f.resident()
}

// resident counts the file's pages in the page cache (mincore on a fresh
// mapping).
func (f *testFile) resident() (int, error) {
	r, err := mmapShared(f.fd, int(f.size), unix.PROT_READ)
	if err != nil {
		return 0, err
	}
	defer r.unmap()
	vec := make([]byte, int(f.size)/pageSize)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, r.addr, uintptr(r.size), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return 0, fmt.Errorf("mincore: %w", e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n, nil
}

// fileRow measures loads through a fresh read-only MAP_SHARED mapping of
// the test file: sequential (every page in order; fault-around maps 16
// cached pages per fault) or random (one random page in each 64 KiB
// fault-around window, windows in random order, so every touch faults).
// cold evicts the file first: the faults then read from disk with the
// kernel's readahead.
func fileRow(random, cold bool) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		f, err := e.testFile()
		if err != nil {
			return nil, err
		}
		r, err := mmapShared(f.fd, int(f.size), unix.PROT_READ)
		if err != nil {
			return nil, err
		}
		defer r.unmap()
		filePages := int(f.size) / pageSize
		var addrs []uintptr
		if random {
			wins := filePages / faultAroundPages
			rng := rand.New(rand.NewPCG(1, 2))
			for _, w := range rng.Perm(wins) {
				pg := w*faultAroundPages + rng.IntN(faultAroundPages)
				addrs = append(addrs, r.addr+uintptr(pg*pageSize))
			}
		} else {
			addrs = r.pages(filePages)
		}
		// Cold rows take no untimed warm-up: it would read ahead for the
		// measured touches. Cached rows warm up on the first pages.
		warmN := 0
		if !cold {
			warmN = e.cfg.Warmup
			if len(addrs) < e.cfg.N+warmN {
				warmN = len(addrs) / 10
			}
		}
		addrs = addrs[:min(len(addrs), e.cfg.N+warmN)]
		var m *measurement
		if cold {
			if err := warm(int(f.size)); err != nil {
				return nil, err
			}
			res, err := f.evict()
			if err != nil {
				return nil, err
			}
			m, err = touch(touchSpec{addrs: [][]uintptr{addrs}}, e.cfg.Duration, nil)
			if err != nil {
				return nil, err
			}
			m.note("%d of %d file pages resident after eviction", res, filePages)
		} else {
			if err := f.cache(); err != nil {
				return nil, err
			}
			m, err = touch(touchSpec{addrs: [][]uintptr{addrs}, warm: warmN}, e.cfg.Duration, nil)
			if err != nil {
				return nil, err
			}
		}
		m.note("%d MiB file in %s", f.size>>20, dirOf(f.path))
		return m, nil
	}
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "."
}
