package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loopbackServer serves h on 127.0.0.1 only.
func loopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// objectServer serves named byte slices with ServeContent (real Range,
// If-Match and ETag handling); content can be replaced to change the ETag.
type objectServer struct {
	mu      sync.Mutex
	objs    map[string][]byte
	gen     int
	ranges  atomic.Int32 // GETs with a Range header
	noHead  bool
	ignoreR bool // answer 200 with the full body, ignoring Range
	noETag  bool
}

func (s *objectServer) set(name string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[name] = b
	s.gen++
}

func (s *objectServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.objs[strings.TrimPrefix(r.URL.Path, "/bucket/")]
	gen := s.gen
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodHead && s.noHead {
		http.Error(w, "no HEAD", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("Range") != "" {
		s.ranges.Add(1)
	}
	if !s.noETag {
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, gen))
	}
	if s.ignoreR {
		r.Header.Del("Range")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i/PageSize)
	}
	return b
}

func newObjectServer(t *testing.T) (*objectServer, *httptest.Server) {
	os := &objectServer{objs: map[string][]byte{}}
	return os, loopbackServer(t, os)
}

func TestHTTPStoreRanges(t *testing.T) {
	for _, noHead := range []bool{false, true} {
		t.Run(fmt.Sprintf("noHead=%v", noHead), func(t *testing.T) {
			srv, hs := newObjectServer(t)
			srv.noHead = noHead
			data := pattern(5*PageSize + 123)
			srv.set("dir/obj.bin", data)
			srv.set("empty", nil)
			s, err := OpenHTTP(hs.URL+"/bucket", HTTPOptions{Timeout: 5 * time.Second, Names: []string{"empty", "dir/obj.bin"}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if names, err := s.List(); err != nil || len(names) != 2 || names[0] != "dir/obj.bin" {
				t.Fatalf("List = %v, %v", names, err)
			}
			if _, err := s.Open("missing", false); !errors.Is(err, ErrNotExist) {
				t.Fatalf("Open missing: %v", err)
			}
			if _, err := s.Open("x", true); !errors.Is(err, ErrReadOnly) {
				t.Fatalf("Open create: %v", err)
			}
			for _, bad := range []string{"", "../etc", "a//b", "a/./b", "a\x00"} {
				if _, err := s.Open(bad, false); !errors.Is(err, ErrInvalidName) {
					t.Fatalf("Open(%q): %v", bad, err)
				}
			}
			o, err := s.Open("dir/obj.bin", false)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			if n, err := o.Size(); err != nil || n != uint64(len(data)) {
				t.Fatalf("Size = %d, %v; want %d", n, err, len(data))
			}
			if !o.ReadOnly() || !errors.Is(o.WritePages([]Page{{0, fill(1, PageSize)}}), ErrReadOnly) || !errors.Is(o.SetSize(0), ErrReadOnly) {
				t.Fatal("HTTP object is writable")
			}
			buf := make([]byte, PageSize)
			for _, off := range []uint64{0, 2 * PageSize, 4*PageSize + 17} {
				n, err := o.ReadAt(buf, off)
				want := data[off:min(off+PageSize, uint64(len(data)))]
				if n != len(want) || !bytes.Equal(buf[:n], want) {
					t.Fatalf("ReadAt(%d) = %d bytes, %v; content match %v", off, n, err, bytes.Equal(buf[:n], want))
				}
				if (n < PageSize) != (err == io.EOF) {
					t.Fatalf("ReadAt(%d) = %d, %v: short read must be io.EOF", off, n, err)
				}
			}
			// The last, partial page: short read with io.EOF.
			n, err := o.ReadAt(buf, 5*PageSize)
			if n != 123 || err != io.EOF || !bytes.Equal(buf[:n], data[5*PageSize:]) {
				t.Fatalf("last page: %d, %v", n, err)
			}
			if n, err := o.ReadAt(buf, uint64(len(data))); n != 0 || err != io.EOF {
				t.Fatalf("ReadAt at EOF: %d, %v", n, err)
			}
			if srv.ranges.Load() < 4 {
				t.Fatalf("only %d range requests seen", srv.ranges.Load())
			}
			e, err := s.Open("empty", false)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := e.Size(); n != 0 {
				t.Fatalf("empty object size %d", n)
			}
		})
	}
}

func TestHTTPStoreFullBody(t *testing.T) {
	srv, hs := newObjectServer(t)
	srv.ignoreR = true
	data := pattern(3 * PageSize)
	srv.set("o", data)
	buf := make([]byte, PageSize)

	strict, _ := OpenHTTP(hs.URL+"/bucket/", HTTPOptions{Timeout: 5 * time.Second})
	o, err := strict.Open("o", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadAt(buf, PageSize); !errors.Is(err, ErrNoRanges) {
		t.Fatalf("200 to a range request: %v, want ErrNoRanges", err)
	}
	lax, _ := OpenHTTP(hs.URL+"/bucket/", HTTPOptions{Timeout: 5 * time.Second, AllowFullBody: true})
	o, err = lax.Open("o", false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := o.ReadAt(buf, PageSize); n != PageSize || err != nil || !bytes.Equal(buf, data[PageSize:2*PageSize]) {
		t.Fatalf("AllowFullBody ReadAt: %d, %v", n, err)
	}
}

func TestHTTPStoreChangedObject(t *testing.T) {
	for _, noETag := range []bool{false, true} {
		t.Run(fmt.Sprintf("noETag=%v", noETag), func(t *testing.T) {
			srv, hs := newObjectServer(t)
			srv.noETag = noETag
			srv.set("o", pattern(2*PageSize))
			s, _ := OpenHTTP(hs.URL+"/bucket", HTTPOptions{Timeout: 5 * time.Second})
			o, err := s.Open("o", false)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, PageSize)
			if _, err := o.ReadAt(buf, 0); err != nil {
				t.Fatal(err)
			}
			if noETag {
				// Without an ETag only a size change is detectable.
				srv.set("o", pattern(3*PageSize))
			} else {
				srv.set("o", bytes.Repeat([]byte{9}, 2*PageSize)) // same size, new ETag
			}
			if n, err := o.ReadAt(buf, PageSize); !errors.Is(err, ErrChanged) {
				t.Fatalf("read of changed object: %d, %v; want ErrChanged", n, err)
			}
		})
	}
}

func TestHTTPStoreErrorsAndTimeouts(t *testing.T) {
	var mode atomic.Int32 // 0 ok, 1 500 on GET, 2 hang, 3 short body, 4 wrong range
	release := make(chan struct{})
	defer close(release)
	data := pattern(2 * PageSize)
	hs := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			return
		}
		switch mode.Load() {
		case 1:
			http.Error(w, "boom", http.StatusInternalServerError)
		case 2:
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case 3:
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", PageSize-1, len(data)))
			w.Header().Set("Content-Length", fmt.Sprint(PageSize))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:100]) // then hang up
		case 4:
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 1-%d/%d", PageSize, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[1 : PageSize+1])
		}
	}))
	s, _ := OpenHTTP(hs.URL, HTTPOptions{Timeout: 300 * time.Millisecond})
	defer s.Close()
	if _, err := s.List(); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("List without names: %v", err)
	}
	o, err := s.Open("x", false)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, PageSize)
	for m, want := range map[int32]string{1: "500", 2: "timeout", 3: "body ended", 4: "got 1-4096"} {
		mode.Store(m)
		start := time.Now()
		n, err := o.ReadAt(buf, 0)
		if err == nil || !strings.Contains(err.Error(), want) && !(m == 2 && strings.Contains(err.Error(), "deadline")) {
			t.Fatalf("mode %d: ReadAt = %d, %v; want error mentioning %q", m, n, err, want)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("mode %d: error took %v", m, d)
		}
	}
	// A server that never answers Open either.
	hang := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	s2, _ := OpenHTTP(hang.URL, HTTPOptions{Timeout: 200 * time.Millisecond})
	start := time.Now()
	if _, err := s2.Open("x", false); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Open against a hung server: %v after %v", err, time.Since(start))
	}
	for _, bad := range []string{"ftp://x/", "127.0.0.1:80", "http://"} {
		if _, err := OpenHTTP(bad, HTTPOptions{}); err == nil {
			t.Fatalf("OpenHTTP(%q) succeeded", bad)
		}
	}
}
