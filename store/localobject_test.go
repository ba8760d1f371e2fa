package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReadAtNoWaitDoesNotWaitForWriteback: while a write-back holds the
// object (its journal write and fsyncs), ReadAtNoWait returns ErrWouldBlock
// at once instead of waiting (pagerd's fault loops call it); afterwards it
// reads the cached bytes.
func TestReadAtNoWaitDoesNotWaitForWriteback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.img")
	data := make([]byte, 2*4096)
	for i := range data {
		data[i] = byte(i * 3)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFile(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o := mustOpen(t, s, "", false)
	fo, ok := o.(*fileObject)
	if !ok {
		t.Fatalf("a file store object is a %T", o)
	}
	buf := make([]byte, 4096)
	fo.mu.Lock() // as WritePages does for its whole length
	_, err = fo.ReadAtNoWait(buf, 4096)
	fo.mu.Unlock()
	if !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("ReadAtNoWait during a write-back: %v, want ErrWouldBlock", err)
	}
	n, err := fo.ReadAtNoWait(buf, 4096)
	if err != nil && !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("ReadAtNoWait: %v", err)
	}
	if err == nil && (n != 4096 || string(buf) != string(data[4096:])) {
		t.Fatalf("ReadAtNoWait read %d bytes, equal %v", n, string(buf) == string(data[4096:]))
	}
}
