package proto

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode: Decode never panics, every failure is a *DecodeError, and
// whatever decodes re-encodes to exactly the input and decodes to the same
// message. Seeds live in testdata/fuzz/FuzzDecode (regenerate with
// PAGERD_WRITE_SEEDS=1 go test -run TestWriteFuzzSeeds ./proto/).
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, nfds uint8) {
		n := int(nfds % 4)
		m, err := Decode(data, n)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || m != nil {
				t.Fatalf("Decode error %v (%T), message %v", err, err, m)
			}
			_ = de.Error()
			return
		}
		if m.NumFDs() != n {
			t.Fatalf("decoded %v with %d fds, it takes %d", m.Type(), n, m.NumFDs())
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal of decoded %#v: %v", m, err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", data, b)
		}
		m2, err := Decode(b, n)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("decode(encode(m)) = %#v, %v; want %#v", m2, err, m)
		}
	})
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("PAGERD_WRITE_SEEDS") == "" {
		t.Skip("set PAGERD_WRITE_SEEDS=1 to regenerate testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte, nfds int) {
		s := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nuint8(%d)\n", strconv.Quote(string(b)), nfds)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range samples() {
		write(fmt.Sprintf("valid-%02d-%s", i, m.Type()), mustMarshal(t, m), m.NumFDs())
	}
	for _, tc := range badInputs(t) {
		if len(tc.b) > 4096 {
			continue
		}
		name := strings.NewReplacer(" ", "-", ">", "gt", "(", "", ")", "").Replace(tc.name)
		write("invalid-"+name, tc.b, tc.nfds)
	}
}

func TestFuzzSeedsPresent(t *testing.T) {
	ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzDecode"))
	if err != nil {
		t.Fatal(err)
	}
	valid, invalid := 0, 0
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), "valid-"):
			valid++
		case strings.HasPrefix(e.Name(), "invalid-"):
			invalid++
		}
	}
	if valid < len(samples()) || invalid < 10 {
		t.Fatalf("seed corpus has %d valid and %d invalid seeds", valid, invalid)
	}
}
