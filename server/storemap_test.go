package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/readahead"
	"github.com/pagerd/pagerd/store"
	"github.com/pagerd/pagerd/uffd"
)

// TestCopyFromMappingBeyondEOF checks the kernel fact the store-mapping
// fill path relies on: UFFDIO_COPY whose source is a file mapping beyond
// the file's end fails with EFAULT (the kernel's own access is fixed up)
// instead of raising SIGBUS in this Go process, which would kill it; the
// pages up to the one holding the end are copied (zeros after the end).
func TestCopyFromMappingBeyondEOF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short")
	data := pattern(2*pageSize+100, 42)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	src, err := unix.Mmap(fd, 0, 8*pageSize, unix.PROT_READ, unix.MAP_SHARED) // 5 pages beyond the end
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(src)
	memfd, err := unix.MemfdCreate("dst", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(memfd)
	if err := unix.Ftruncate(memfd, 8*pageSize); err != nil {
		t.Fatal(err)
	}
	dst, err := unix.Mmap(memfd, 0, 8*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(dst)
	uf, err := uffd.New(windowFeatures)
	if err != nil {
		t.Fatal(err)
	}
	defer uf.Close()
	d := uintptr(unsafe.Pointer(unsafe.SliceData(dst)))
	s := uintptr(unsafe.Pointer(unsafe.SliceData(src)))
	if _, err := uf.Register(d, 8*pageSize, uffd.RegisterModeMissing); err != nil {
		t.Fatal(err)
	}
	// Pages 1..4: page 1 is whole, page 2 holds the end, 3 and 4 are
	// beyond it. The kernel copies up to the end and reports the partial
	// copy (EAGAIN, as copyIn expects); the next call, from the first page
	// beyond the end, fails with EFAULT.
	n, err := uf.Copy(d+pageSize, s+pageSize, 4*pageSize, uffd.CopyModeDontWake)
	if n != 2*pageSize || !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("COPY across the end of the source file: copied %d, error %v; want %d and EAGAIN", n, err, 2*pageSize)
	}
	if n2, err := uf.Copy(d+3*pageSize, s+3*pageSize, 2*pageSize, uffd.CopyModeDontWake); !errors.Is(err, unix.EFAULT) || n2 != 0 {
		t.Fatalf("COPY from the first page beyond the end: copied %d, error %v; want 0 and EFAULT", n2, err)
	}
	// Wholly beyond the end: EFAULT, nothing copied.
	if n, err := uf.Copy(d+5*pageSize, s+5*pageSize, pageSize, uffd.CopyModeDontWake); !errors.Is(err, unix.EFAULT) || n != 0 {
		t.Fatalf("COPY from beyond the end: copied %d, error %v; want 0 and EFAULT", n, err)
	}
	// What was copied is the file's bytes (read through the memfd, never
	// through a registered mapping).
	got := make([]byte, n)
	if _, err := unix.Pread(memfd, got, pageSize); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, n)
	copy(want, data[pageSize:])
	equalAt(t, "copied pages", got, want)
}

// TestStoreFileTruncatedUnderPagerd: fills copy straight from a mapping of
// the store file; when the file is truncated behind the store's back, the
// pages it no longer holds are never supplied as zeros — the reader gets
// SIGBUS, as with any store read error — pagerd survives (no SIGBUS in
// pagerd), and the pages still in the file are served.
func TestStoreFileTruncatedUnderPagerd(t *testing.T) {
	for _, ra := range []readahead.Config{{Disabled: true}, {}} {
		name := "ra-off"
		if !ra.Disabled {
			name = "ra-on"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.Readahead = ra })
			data := pattern(16*pageSize, 9)
			f.writeObject("trunc", data)
			c := f.dial()
			o, fd := c.mustOpen("trunc", 0)
			m := c.mustMap(o.VMOID, fd, 0, o.Size, false)
			f.s.mu.Lock()
			v := f.s.vmos["trunc"]
			f.s.mu.Unlock()
			if v == nil || v.src == 0 {
				t.Fatalf("the VMO of a directory store object has no store mapping (%v)", v)
			}
			equalAt(t, "page 0 before", readC(t, m.addr, pageSize).Data, data[:pageSize])
			if err := os.Truncate(filepath.Join(f.dir, "trunc"), 10*pageSize+10); err != nil {
				t.Fatal(err)
			}
			// A sequential scan up to the cut: with read-ahead its
			// windows reach past it, and still every page the file
			// holds arrives.
			r, err := faulter.TouchAt(m.addr+pageSize, 9*pageSize, pageSize, false, 0, waitFor)
			if err != nil || r.Signo != 0 {
				t.Fatalf("touch of pages 1-9, still in the file: %v %+v", err, r)
			}
			for _, p := range []int{1, 5, 9} {
				equalAt(t, "page after the cut", readC(t, m.addr+uintptr(p*pageSize), pageSize).Data, data[p*pageSize:(p+1)*pageSize])
			}
			// Page 10 is partly in the file, 11 and 15 not at all.
			for _, p := range []uintptr{10, 11, 15} {
				if r := readC(t, m.addr+p*pageSize, 8); !r.Sigbus {
					t.Fatalf("page %d, cut from the store file: %+v, want SIGBUS", p, r)
				}
			}
			// pagerd is alive and serves another client.
			c2 := f.dial()
			o2, fd2 := c2.mustOpen("trunc", 0)
			m2 := c2.mustMap(o2.VMOID, fd2, 0, o2.Size, false)
			equalAt(t, "page 3, second client", readC(t, m2.addr+3*pageSize, pageSize).Data, data[3*pageSize:4*pageSize])
		})
	}
}

// gatedStore blocks ReadAt of offsets at or past gate until open is
// closed (a slow remote store); it is not a store.LocalObject, so every
// read goes through ReadAt on a worker.
type gatedStore struct {
	store.Store
	gate uint64
	open chan struct{}
}

type gatedObject struct {
	store.Object
	s *gatedStore
}

func (s *gatedStore) Open(name string, create bool) (store.Object, error) {
	o, err := s.Store.Open(name, create)
	if err != nil {
		return nil, err
	}
	return &gatedObject{o, s}, nil
}

func (o *gatedObject) ReadAt(p []byte, off uint64) (int, error) {
	if off+uint64(len(p)) > o.s.gate {
		<-o.s.open
	}
	return o.Object.ReadAt(p, off)
}

// TestReadaheadWakesBeforeWindowLands: with a read-ahead window of 64
// pages, the faulting thread is woken once the head of the run (its page
// and the few after it) is there, while the rest of the window is still
// being read from a store that blocks; a thread reaching a page of the
// rest waits for it and gets the store's bytes once the store answers;
// WaitFills returns when everything landed.
func TestReadaheadWakesBeforeWindowLands(t *testing.T) {
	dir := t.TempDir()
	ds, err := store.OpenDir(dir, store.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gs := &gatedStore{Store: ds, gate: headPages * pageSize, open: make(chan struct{})}
	opened := false
	defer func() {
		if !opened {
			close(gs.open)
		}
	}()
	f := newFixtureStore(t, dir, gs, func(c *Config) { c.Readahead = readahead.Config{MinPages: 64, MaxPages: 64} })
	data := pattern(128*pageSize, 21)
	f.writeObject("slow", data)
	c := f.dial()
	o, fd := c.mustOpen("slow", 0)
	m := c.mustMap(o.VMOID, fd, 0, o.Size, false)
	// Page 0: its run is [0, 64); only the head [0, headPages) can be read.
	equalAt(t, "page 0", readC(t, m.addr, pageSize).Data, data[:pageSize])
	if got := c.stats(o.VMOID).CommittedBytes; got != headPages*pageSize {
		t.Fatalf("committed %d bytes while the store holds back the rest of the window, want the head's %d", got, headPages*pageSize)
	}
	th, err := faulter.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	pending := th.Read(m.addr+40*pageSize, pageSize)
	time.Sleep(50 * time.Millisecond)
	if pending.Done() {
		t.Fatal("a read of page 40 returned while the store still held it back")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if err := f.s.WaitFills(ctx); err == nil {
		t.Fatal("WaitFills returned nil with a fill blocked in the store")
	}
	cancel()
	close(gs.open)
	opened = true
	r, err := pending.Wait(waitFor)
	if err != nil || r.Signo != 0 {
		t.Fatalf("read of page 40 after the store answered: %v %+v", err, r)
	}
	equalAt(t, "page 40", r.Data, data[40*pageSize:41*pageSize])
	ctx, cancel = context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := f.s.WaitFills(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.stats(o.VMOID).CommittedBytes; got < 64*pageSize {
		t.Fatalf("committed %d bytes after the fills landed, want the whole window's %d at least", got, 64*pageSize)
	}
}
