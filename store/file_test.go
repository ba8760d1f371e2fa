package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func fill(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func mustOpen(t *testing.T, s Store, name string, create bool) Object {
	t.Helper()
	o, err := s.Open(name, create)
	if err != nil {
		t.Fatalf("Open(%q, %v): %v", name, create, err)
	}
	return o
}

func readAll(t *testing.T, o Object) []byte {
	t.Helper()
	n, err := o.Size()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	if got, err := o.ReadAt(buf, 0); uint64(got) != n || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt whole %d bytes: %d, %v", n, got, err)
	}
	return buf
}

func TestFileStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.img")
	s, err := OpenFile(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if names, err := s.List(); err != nil || len(names) != 0 {
		t.Fatalf("List before create = %v, %v; want empty", names, err)
	}
	if _, err := s.Open("", false); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Open missing without create: %v, want ErrNotExist", err)
	}
	if _, err := s.Open("other", true); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Open of a foreign name: %v, want ErrNotExist", err)
	}
	o := mustOpen(t, s, "", true)
	if o.Name() != "data.img" || o.ReadOnly() {
		t.Fatalf("Name %q ReadOnly %v", o.Name(), o.ReadOnly())
	}
	if names, _ := s.List(); !slices.Equal(names, []string{"data.img"}) {
		t.Fatalf("List = %v", names)
	}
	if n, _ := o.Size(); n != 0 {
		t.Fatalf("new object size %d", n)
	}
	if err := o.WritePages([]Page{{0, fill(1, PageSize)}}); !errors.Is(err, ErrInvalidPage) {
		t.Fatalf("write past size: %v, want ErrInvalidPage", err)
	}
	const size = 3*PageSize + 100 // not page-aligned: last page is clipped
	if err := o.SetSize(size); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, o); !bytes.Equal(got, make([]byte, size)) {
		t.Fatal("grown object is not zero")
	}
	err = o.WritePages([]Page{{0, fill('a', PageSize)}, {2 * PageSize, fill('c', 2*PageSize)}})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(fill('a', PageSize), make([]byte, PageSize), fill('c', PageSize+100))
	if got := readAll(t, o); !bytes.Equal(got, want) {
		t.Fatal("read after write differs")
	}
	if n, _ := o.Size(); n != size {
		t.Fatalf("write changed size to %d, want %d (clipped)", n, size)
	}
	// Short read at EOF.
	buf := make([]byte, PageSize)
	if n, err := o.ReadAt(buf, 3*PageSize); n != 100 || err != io.EOF || !bytes.Equal(buf[:n], fill('c', 100)) {
		t.Fatalf("ReadAt last page: %d, %v", n, err)
	}
	if n, err := o.ReadAt(buf, size); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at EOF: %d, %v", n, err)
	}
	for _, bad := range [][]Page{
		{{1, fill(1, PageSize)}},
		{{0, fill(1, 100)}},
		{{0, nil}},
		{{4 * PageSize, fill(1, PageSize)}},
	} {
		if err := o.WritePages(bad); !errors.Is(err, ErrInvalidPage) {
			t.Fatalf("WritePages(off %d len %d): %v, want ErrInvalidPage", bad[0].Off, len(bad[0].Data), err)
		}
	}
	// A second opener is refused while the first holds the object.
	if _, err := s.Open("", false); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Open: %v, want ErrBusy", err)
	}
	if err := o.SetSize(PageSize); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadAt(buf, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
	o = mustOpen(t, s, "data.img", false)
	defer o.Close()
	if got := readAll(t, o); !bytes.Equal(got, fill('a', PageSize)) {
		t.Fatal("content after shrink and reopen differs")
	}
	if st, err := os.Stat(path + JournalSuffix); err != nil || st.Size() != 0 {
		t.Fatalf("journal after clean write-back: %v, %v; want empty", st, err)
	}
}

func TestFileStoreReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro")
	if err := os.WriteFile(path, fill('x', PageSize), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFile(path, FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	o := mustOpen(t, s, "", false)
	if !o.ReadOnly() {
		t.Fatal("not read-only")
	}
	if err := o.WritePages([]Page{{0, fill(1, PageSize)}}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("WritePages: %v", err)
	}
	if err := o.SetSize(0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("SetSize: %v", err)
	}
	// Shared locks: two read-only openers are fine.
	o2 := mustOpen(t, s, "", false)
	o2.Close()
	o.Close()
	// A pending journal makes a read-only open fail rather than serve torn data.
	if err := os.WriteFile(path+JournalSuffix, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open("", false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read-only Open with pending journal: %v, want ErrCorrupt", err)
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing-dir", "f"), FileOptions{}); err == nil {
		t.Fatal("OpenFile with a missing parent directory succeeded")
	}
}

func TestDirStore(t *testing.T) {
	root := t.TempDir()
	s, err := OpenDir(root, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if names, err := s.List(); err != nil || len(names) != 0 {
		t.Fatalf("empty List = %v, %v", names, err)
	}
	if _, err := s.Open("a", false); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Open missing: %v", err)
	}
	for _, bad := range []string{"", ".", "..", "../x", "/etc/passwd", "a/b", "a\x00b", DefaultJournalDir, string(fill('n', 256))} {
		if _, err := s.Open(bad, true); !errors.Is(err, ErrInvalidName) {
			t.Fatalf("Open(%q): %v, want ErrInvalidName", bad, err)
		}
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open("link", false); err == nil {
		t.Fatal("Open followed a symlink")
	}
	if err := os.Mkdir(filepath.Join(root, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	objs := map[string]byte{"b": 'b', "a": 'a', ".dot": 'd'}
	for name, c := range objs {
		o := mustOpen(t, s, name, true) // lazy create
		if err := o.SetSize(2 * PageSize); err != nil {
			t.Fatal(err)
		}
		if err := o.WritePages([]Page{{PageSize, fill(c, PageSize)}}); err != nil {
			t.Fatal(err)
		}
		o.Close()
	}
	names, err := s.List()
	if err != nil || !slices.Equal(names, []string{".dot", "a", "b"}) {
		t.Fatalf("List = %v, %v (journal dir, symlinks and subdirs must be hidden)", names, err)
	}
	for name, c := range objs {
		o := mustOpen(t, s, name, false)
		if got := readAll(t, o); !bytes.Equal(got, slices.Concat(make([]byte, PageSize), fill(c, PageSize))) {
			t.Fatalf("object %q content differs", name)
		}
		o.Close()
		if st, err := os.Stat(filepath.Join(root, DefaultJournalDir, name+".journal")); err != nil || st.Size() != 0 {
			t.Fatalf("journal of %q: %v %v", name, st, err)
		}
	}
	// An external journal directory.
	jd := t.TempDir()
	s2, err := OpenDir(root, DirOptions{JournalDir: jd})
	if err != nil {
		t.Fatal(err)
	}
	o := mustOpen(t, s2, "c", true)
	o.Close()
	if _, err := os.Stat(filepath.Join(jd, "c.journal")); err != nil {
		t.Fatalf("external journal: %v", err)
	}
	s2.Close()
	if _, err := s2.Open("c", false); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open on closed store: %v", err)
	}
	ro, err := OpenDir(root, DirOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Open("new", true); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("create in read-only dir store: %v", err)
	}
	if _, err := OpenDir(filepath.Join(root, "a"), DirOptions{}); err == nil {
		t.Fatal("OpenDir on a regular file succeeded")
	}
}

// Concurrent readers never see a page half way between two versions
// (WritePages excludes readers), and -race sees no data race.
func TestFileObjectConcurrent(t *testing.T) {
	s, err := OpenFile(filepath.Join(t.TempDir(), "c"), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o := mustOpen(t, s, "", true)
	defer o.Close()
	if err := o.SetSize(4 * PageSize); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 4)
	for r := range 3 {
		go func() {
			buf := make([]byte, PageSize)
			for i := range 200 {
				off := uint64((i+r)%4) * PageSize
				if _, err := o.ReadAt(buf, off); err != nil {
					done <- err
					return
				}
				if !bytes.Equal(buf, fill(buf[0], PageSize)) {
					done <- errors.New("reader saw a mixed page")
					return
				}
			}
			done <- nil
		}()
	}
	go func() {
		for v := range 50 {
			if err := o.WritePages([]Page{{uint64(v%4) * PageSize, fill(byte(v), PageSize)}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 4 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("concurrent test hung")
		}
	}
}
