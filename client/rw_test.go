package client

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/internal/pagerdtest"
	"github.com/pagerd/pagerd/zx"
)

// These tests run against a real pagerd server in this process: the faults
// on the client's mappings are taken inside process_vm_readv/writev or by C
// threads, never by Go code.

func seqBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// TestReadAtWriteAt: ReadAt and WriteAt give and change the VMO's bytes,
// with io.ReaderAt's EOF rule and the range and access statuses.
func TestReadAtWriteAt(t *testing.T) {
	const ps = 4096
	data := seqBytes(5*ps+10, 3)
	srv := pagerdtest.Start(t, map[string][]byte{"d": data, "r": data})
	sock, dir := srv.Sock, srv.Dir
	c, err := Dial(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v := mustOpen(t, c, "d", 0)
	got := make([]byte, 2*ps)
	if n, err := v.ReadAt(got, ps+3); n != len(got) || err != nil || !bytes.Equal(got, data[ps+3:3*ps+3]) {
		t.Fatalf("ReadAt: %d %v equal=%v", n, err, bytes.Equal(got, data[ps+3:3*ps+3]))
	}
	// Up to the end of the VMO (6 pages: the object's bytes, then zeros).
	n, err := v.ReadAt(got, 5*ps)
	if n != ps || err != io.EOF || !bytes.Equal(got[:10], data[5*ps:]) || !bytes.Equal(got[10:ps], make([]byte, ps-10)) {
		t.Fatalf("ReadAt at the end: %d %v", n, err)
	}
	if n, err := v.ReadAt(got, 6*ps); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt past the end: %d %v", n, err)
	}
	if _, err := v.ReadAt(got, -1); zx.StatusOf(err) != zx.ErrInvalidArgs {
		t.Fatalf("ReadAt at -1: %v", err)
	}
	if n, err := v.WriteAt([]byte("hello"), 2*ps-2); n != 5 || err != nil {
		t.Fatalf("WriteAt: %d %v", n, err)
	}
	if _, err := v.WriteAt([]byte("xx"), 6*ps-1); zx.StatusOf(err) != zx.ErrOutOfRange {
		t.Fatalf("WriteAt across the end: %v", err)
	}
	back := make([]byte, 5)
	if _, err := v.ReadAt(back, 2*ps-2); err != nil || string(back) != "hello" {
		t.Fatalf("read back %q %v", back, err)
	}
	if w, err := v.Sync(); err != nil || w != 2*ps {
		t.Fatalf("Sync: %d %v (the write spans two pages)", w, err)
	}
	disk, _ := os.ReadFile(filepath.Join(dir, "d"))
	if string(disk[2*ps-2:2*ps+3]) != "hello" {
		t.Fatalf("store after Sync: %q", disk[2*ps-2:2*ps+3])
	}

	r := mustOpen(t, c, "r", ReadOnly)
	if _, err := r.WriteAt([]byte("x"), 0); zx.StatusOf(err) != zx.ErrAccessDenied {
		t.Fatalf("WriteAt on a read-only VMO: %v", err)
	}
	if _, err := r.ReadAt(got[:100], 4*ps); err != nil || !bytes.Equal(got[:100], data[4*ps:4*ps+100]) {
		t.Fatalf("ReadAt on a read-only VMO: %v", err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ReadAt(got, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
}

// TestAttach: a mapping made by the caller from Fd, attached, is served;
// bad arguments are refused; Unmap leaves it PROT_NONE for its owner.
func TestAttach(t *testing.T) {
	const ps = 4096
	data := seqBytes(4*ps, 9)
	sock := pagerdtest.Start(t, map[string][]byte{"d": data}).Sock
	c, err := Dial(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v := mustOpen(t, c, "d", 0)
	b, err := unix.Mmap(v.Fd(), ps, 2*ps, unix.PROT_READ|unix.PROT_WRITE, v.MapFlags())
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	addr := uintptr(unsafe.Pointer(&b[0]))
	wantStatus(t, "unaligned address", attachErr(v.Attach(addr+1, ps, 2*ps, true)), zx.ErrInvalidArgs)
	wantStatus(t, "unaligned offset", attachErr(v.Attach(addr, 100, 2*ps, true)), zx.ErrInvalidArgs)
	wantStatus(t, "beyond the VMO", attachErr(v.Attach(addr, 3*ps, 2*ps, true)), zx.ErrOutOfRange)
	m, err := v.Attach(addr, ps, 2*ps, true)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if r := cRead(t, addr+ps, ps); r.Signo != 0 || !bytes.Equal(r.Data, data[2*ps:3*ps]) {
		t.Fatalf("read through the attached mapping: signal %d", r.Signo)
	}
	if _, err := v.Object(); err != nil {
		t.Fatalf("Object: %v", err)
	}
	if _, err := v.Object(); zx.StatusOf(err) != zx.ErrBadState {
		t.Fatalf("a second Object: %v", err)
	}
	if err := m.Unmap(); err != nil {
		t.Fatal(err)
	}
	if r := cRead(t, addr, 1); r.Signo != int32(unix.SIGSEGV) {
		t.Fatalf("after Unmap: signal %d, want SIGSEGV (PROT_NONE)", r.Signo)
	}
}

func attachErr(_ *Mapping, err error) error { return err }

// TestReadAtFailureNotSticky: a page pagerd cannot load fails that ReadAt
// with ErrUnavailable (never zeros); once the store can give the page
// again, the next ReadAt of it gets it (failure is not sticky).
func TestReadAtFailureNotSticky(t *testing.T) {
	const ps = 4096
	data := seqBytes(8*ps, 5)
	srv := pagerdtest.Start(t, map[string][]byte{"d": data})
	c, err := Dial(srv.Sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v := mustOpen(t, c, "d", 0)
	path := filepath.Join(srv.Dir, "d")
	if err := os.Truncate(path, 2*ps); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, ps)
	if _, err := v.ReadAt(got, 6*ps); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ReadAt of a page cut from the store: %v, want ErrUnavailable", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := v.ReadAt(got, 6*ps); err != nil || n != ps || !bytes.Equal(got, data[6*ps:7*ps]) {
		t.Fatalf("ReadAt once the store has the page again: %d %v (equal %v)", n, err, bytes.Equal(got, data[6*ps:7*ps]))
	}
	// A write to a page that failed before is tracked: it is written back.
	if err := os.Truncate(path, 2*ps); err != nil {
		t.Fatal(err)
	}
	if _, err := v.WriteAt([]byte("x"), 5*ps); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("WriteAt of a page cut from the store: %v, want ErrUnavailable", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := v.WriteAt([]byte("x"), 5*ps); err != nil {
		t.Fatalf("WriteAt once the store has the page again: %v", err)
	}
	if n, err := v.Sync(); err != nil || n != ps {
		t.Fatalf("Sync: %d %v, want one page", n, err)
	}
	disk, _ := os.ReadFile(path)
	if disk[5*ps] != 'x' {
		t.Fatalf("the write after the failure did not reach the store")
	}
}
