package vmo

import (
	"bytes"
	"math"
	"testing"

	"github.com/pagerd/pagerd/zx"
)

func TestReadWriteRoundTrip(t *testing.T) {
	v := newPlain(t, 3*pg, 0)
	data := bytes.Repeat([]byte("pagerd!"), 1000) // 7000 bytes, across a page boundary
	if err := v.Write(data, pg-100); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if err := v.Read(got, pg-100); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read back differs")
	}
	// The bytes around are still zero.
	edge := make([]byte, 100)
	if err := v.Read(edge, pg-200); err != nil || !bytes.Equal(edge[:100], make([]byte, 100)) {
		t.Fatalf("bytes before the write: %v %x", err, edge)
	}
	// Only the written pages (0, 1 and 2) are committed.
	if c := v.CommittedBytes(); c != 3*pg {
		t.Fatalf("committed %d, want %d", c, 3*pg)
	}
}

func TestReadHoleDoesNotCommit(t *testing.T) {
	v := newPlain(t, 4*pg, 0)
	buf := bytes.Repeat([]byte{0xff}, 4*pg)
	if err := v.Read(buf, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, make([]byte, 4*pg)) {
		t.Fatal("hole did not read as zeros")
	}
	if c := v.CommittedBytes(); c != 0 {
		t.Fatalf("reading a hole committed %d bytes", c)
	}
}

func TestReadWriteRange(t *testing.T) {
	v := newPlain(t, 2*pg, 0)
	cases := []struct {
		name string
		off  uint64
		n    int
		want zx.Status
	}{
		{"empty at 0", 0, 0, zx.ErrOk},
		{"empty at end", 2 * pg, 0, zx.ErrOk},
		{"empty beyond end", 2*pg + 1, 0, zx.ErrOutOfRange},
		{"whole", 0, 2 * pg, zx.ErrOk},
		{"last byte", 2*pg - 1, 1, zx.ErrOk},
		{"one past end", 2*pg - 1, 2, zx.ErrOutOfRange},
		{"at end", 2 * pg, 1, zx.ErrOutOfRange},
		{"offset overflow", math.MaxUint64, 2, zx.ErrOutOfRange},
		{"offset near max", math.MaxUint64 - 10, 0, zx.ErrOutOfRange},
	}
	for _, c := range cases {
		buf := make([]byte, c.n)
		wantStatus(t, "read "+c.name, v.Read(buf, c.off), c.want)
		wantStatus(t, "write "+c.name, v.Write(buf, c.off), c.want)
	}
	// A failed write changed nothing and did not grow the memfd.
	if v.Size() != 2*pg {
		t.Fatalf("size %#x after failed writes", v.Size())
	}
}
