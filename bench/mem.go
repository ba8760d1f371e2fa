package bench

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// pageSize is the page size every row works in.
var pageSize = os.Getpagesize()

// region is an mmap'd range the Go side never touches unless it says so
// (see the Go fault hazard in the package doc).
type region struct {
	addr uintptr
	size int
}

// mmapAnon maps size bytes of private anonymous memory, read/write, without
// transparent huge pages (THP would turn 512 faults into one).
func mmapAnon(size int) (region, error) {
	a, _, e := unix.Syscall6(unix.SYS_MMAP, 0, uintptr(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE, ^uintptr(0), 0)
	if e != 0 {
		return region{}, fmt.Errorf("mmap %d anonymous bytes: %w", size, e)
	}
	r := region{addr: a, size: size}
	if err := r.madvise(unix.MADV_NOHUGEPAGE); err != nil {
		r.unmap()
		return region{}, err
	}
	return r, nil
}

// mmapShared maps size bytes of fd at offset 0, MAP_SHARED, with prot.
func mmapShared(fd int, size int, prot int) (region, error) {
	a, _, e := unix.Syscall6(unix.SYS_MMAP, 0, uintptr(size), uintptr(prot), unix.MAP_SHARED, uintptr(fd), 0)
	if e != 0 {
		return region{}, fmt.Errorf("mmap %d shared bytes of fd %d: %w", size, fd, e)
	}
	return region{addr: a, size: size}, nil
}

func (r region) unmap() {
	if r.addr != 0 {
		_, _, _ = unix.Syscall(unix.SYS_MUNMAP, r.addr, uintptr(r.size), 0)
	}
}

func (r region) madvise(advice int) error {
	return madvise(r.addr, r.size, advice)
}

func madvise(addr uintptr, size int, advice int) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(size), uintptr(advice))
		if e == unix.EINTR || e == unix.EAGAIN {
			continue
		}
		if e != 0 {
			return fmt.Errorf("madvise(%#x, %d, %d): %w", addr, size, advice, e)
		}
		return nil
	}
}

// populate faults the region in for writing from inside a system call
// (MADV_POPULATE_WRITE): safe for the Go side, and it leaves page tables
// and host-backed guest pages behind.
func (r region) populate() error { return r.madvise(unix.MADV_POPULATE_WRITE) }

// prefault populates the region, then drops its pages (MADV_DONTNEED): the
// next faults find page tables in place and take recently freed,
// host-backed pages. Do it before registering the region with a uffd.
func (r region) prefault() error {
	if err := r.populate(); err != nil {
		return err
	}
	return r.madvise(unix.MADV_DONTNEED)
}

// pages returns the addresses of pages [0, n) of the region.
func (r region) pages(n int) []uintptr {
	a := make([]uintptr, n)
	for i := range a {
		a[i] = r.addr + uintptr(i*pageSize)
	}
	return a
}

// warm makes the next size bytes of page allocations cheap. On this VM class
// a guest page the host has not backed yet costs 3-4 µs extra on first
// touch; populating a scratch area and freeing it leaves that many backed
// pages at the head of the guest's free lists, which the measurement that
// follows reuses.
func warm(size int) error {
	if size <= 0 {
		return nil
	}
	size = (size + pageSize - 1) &^ (pageSize - 1)
	r, err := mmapAnon(size)
	if err != nil {
		return err
	}
	defer r.unmap()
	return r.populate()
}

// fill writes b into every byte of the region. Only for memory no
// userfaultfd is registered on.
func (r region) fill(b byte) {
	s := r.bytes()
	for i := range s {
		s[i] = b
	}
}

// bytes returns the region as a byte slice. Only for memory no userfaultfd
// is registered on.
func (r region) bytes() []byte {
	return unsafeSlice(r.addr, r.size)
}

// newMemfd creates a memfd of size bytes.
func newMemfd(name string, size int) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("ftruncate memfd: %w", err)
	}
	return fd, nil
}

// punch drops [0, size) of a memfd's pages (they read as missing again).
func punch(fd int, size int) error {
	if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, int64(size)); err != nil {
		return fmt.Errorf("punching memfd: %w", err)
	}
	return nil
}
