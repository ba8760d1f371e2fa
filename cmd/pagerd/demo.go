package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The demo store's objects.
const (
	demoText       = "pages.txt"   // 64 pages of text, each starting "page N of pages.txt"
	demoTextPages  = 64            //
	demoStream     = "stream.bin"  // 64 MiB; every 8-byte little-endian word holds its own offset
	demoStreamSize = 64 << 20      //
	demoScratch    = "scratch.bin" // 1 MiB of zeros to write to
	demoScratchLen = 1 << 20       //
	demoPageSize   = 4096
)

// demoPage returns page n of the demo text object: a header line naming
// the page, then filler lines, exactly one page long and ending in '\n'.
func demoPage(n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "page %d of %s\n", n, demoText)
	for line := 1; b.Len() < demoPageSize; line++ {
		fmt.Fprintf(&b, "  line %02d of page %d: served by pagerd through userfaultfd\n", line, n)
	}
	p := []byte(b.String())[:demoPageSize]
	p[demoPageSize-1] = '\n'
	return p
}

// streamWord is the content of the demo stream at offset off (a multiple of 8).
func streamWord(off uint64) uint64 { return off }

// makeDemo creates the demo store in dir, leaving any object that already
// exists alone (so what a demo session wrote survives a restart). It
// returns the objects it created.
func makeDemo(dir string) (created []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("demo directory: %w", err)
	}
	objects := []struct {
		name  string
		write func(*bufio.Writer) error
		size  int64
	}{
		{demoText, func(w *bufio.Writer) error {
			for n := 0; n < demoTextPages; n++ {
				if _, err := w.Write(demoPage(n)); err != nil {
					return err
				}
			}
			return nil
		}, 0},
		{demoStream, func(w *bufio.Writer) error {
			var word [8]byte
			for off := uint64(0); off < demoStreamSize; off += 8 {
				binary.LittleEndian.PutUint64(word[:], streamWord(off))
				if _, err := w.Write(word[:]); err != nil {
					return err
				}
			}
			return nil
		}, 0},
		{demoScratch, nil, demoScratchLen},
	}
	for _, obj := range objects {
		path := filepath.Join(dir, obj.name)
		if _, err := os.Lstat(path); err == nil {
			continue
		} else if !os.IsNotExist(err) {
			return created, err
		}
		if err := writeAtomically(path, obj.write, obj.size); err != nil {
			return created, fmt.Errorf("demo object %s: %w", obj.name, err)
		}
		created = append(created, obj.name)
	}
	return created, nil
}

// writeAtomically creates path with the content write produces (or, when
// write is nil, size zero bytes), through a temporary file renamed into
// place, so a crash never leaves a half-written object.
func writeAtomically(path string, write func(*bufio.Writer) error, size int64) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if write != nil {
		w := bufio.NewWriterSize(f, 1<<20)
		if err := write(w); err != nil {
			return fail(err)
		}
		if err := w.Flush(); err != nil {
			return fail(err)
		}
	} else if err := f.Truncate(size); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
