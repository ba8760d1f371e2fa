package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HTTPOptions configures OpenHTTP.
type HTTPOptions struct {
	// Client makes the requests; default a client with bounded
	// connections (MaxConnsPerHost 16) and dial/header timeouts.
	Client *http.Client
	// Timeout bounds each request, body included; default 30s.
	Timeout time.Duration
	// Names is what List returns; without it List is ErrUnsupported (plain
	// HTTP has no listing).
	Names []string
	// AllowFullBody accepts a server that ignores Range and answers 200
	// with the whole object: ReadAt then skips to the wanted slice, which
	// costs a download of everything before it per read. Off by default:
	// such a server is an ErrNoRanges error.
	AllowFullBody bool
}

// HTTPStore is a read-only store whose object "name" is the URL base/name,
// read with Range requests. It works with any server or object store that
// serves byte ranges (S3, GCS, nginx, net/http.ServeContent...).
//
// Open fetches the size and validator with HEAD (falling back to a
// bytes=0-0 GET when HEAD is refused). Every read sends If-Match with the
// ETag seen at Open (when it is a strong ETag) and checks the response's
// ETag and Content-Range total, so an object that changed under a reader
// is ErrChanged, never a mix of versions.
type HTTPStore struct {
	base   *url.URL
	client *http.Client
	opts   HTTPOptions

	mu     sync.Mutex
	closed bool
}

// OpenHTTP returns a store for objects under base (an http or https URL).
func OpenHTTP(base string, opts HTTPOptions) (*HTTPStore, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("store: HTTP store base URL %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("store: HTTP store base URL %q: want http:// or https:// with a host", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	c := opts.Client
	if c == nil {
		c = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxConnsPerHost:       16,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: opts.Timeout,
			DisableCompression:    true, // ranges are of the identity encoding
		}}
	}
	return &HTTPStore{base: u, client: c, opts: opts}, nil
}

func (s *HTTPStore) url(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: %q has an empty, \".\" or \"..\" path segment", ErrInvalidName, name)
		}
	}
	ref := &url.URL{Path: name}
	return s.base.ResolveReference(ref).String(), nil
}

// Open stats the object at base/name. create=true is ErrReadOnly.
func (s *HTTPStore) Open(name string, create bool) (Object, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("store: HTTP store %s: %w", s.base, ErrClosed)
	}
	if create {
		return nil, fmt.Errorf("store: HTTP store %s cannot create %q: %w", s.base, name, ErrReadOnly)
	}
	u, err := s.url(name)
	if err != nil {
		return nil, err
	}
	o := &httpObject{s: s, name: name, url: u}
	if err := o.stat(); err != nil {
		return nil, err
	}
	return o, nil
}

// List returns HTTPOptions.Names, sorted, or ErrUnsupported.
func (s *HTTPStore) List() ([]string, error) {
	if s.opts.Names == nil {
		return nil, fmt.Errorf("store: HTTP store %s cannot list objects: %w", s.base, ErrUnsupported)
	}
	names := append([]string(nil), s.opts.Names...)
	sort.Strings(names)
	return names, nil
}

// Close marks the store closed and drops idle connections.
func (s *HTTPStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("store: HTTP store %s: %w", s.base, ErrClosed)
	}
	s.closed = true
	s.client.CloseIdleConnections()
	return nil
}

type httpObject struct {
	s    *HTTPStore
	name string
	url  string

	size uint64
	etag string // as the server sent it; "" if none

	mu     sync.Mutex
	closed bool
}

func (o *httpObject) do(method string, rng string) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.s.opts.Timeout)
	req, err := http.NewRequestWithContext(ctx, method, o.url, nil)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("store: request for %s: %w", o.url, err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	if o.etag != "" && !strings.HasPrefix(o.etag, "W/") {
		req.Header.Set("If-Match", o.etag)
	}
	resp, err := o.s.client.Do(req)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("store: %s %s: %w", method, o.url, err)
	}
	return resp, cancel, nil
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func (o *httpObject) stat() error {
	resp, cancel, err := o.do(http.MethodHead, "")
	if err != nil {
		return err
	}
	defer cancel()
	drain(resp)
	switch {
	case resp.StatusCode == http.StatusOK && resp.ContentLength >= 0:
		o.size = uint64(resp.ContentLength)
		o.etag = resp.Header.Get("ETag")
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("store: HTTP object %q (%s): %s: %w", o.name, o.url, resp.Status, ErrNotExist)
	case resp.StatusCode >= 500:
		return fmt.Errorf("store: HEAD %s: server error %s", o.url, resp.Status)
	}
	// HEAD refused or without a length: ask for the first byte.
	resp, cancel2, err := o.do(http.MethodGet, "bytes=0-0")
	if err != nil {
		return err
	}
	defer cancel2()
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		_, _, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return fmt.Errorf("store: GET %s bytes=0-0: %w", o.url, err)
		}
		o.size = total
	case http.StatusOK: // ranges ignored (or an empty object): the length is the size
		if resp.ContentLength < 0 {
			return fmt.Errorf("store: cannot size %s: HEAD refused and GET has no Content-Length", o.url)
		}
		o.size = uint64(resp.ContentLength)
	case http.StatusRequestedRangeNotSatisfiable: // empty object: "bytes */0"
		if cr := resp.Header.Get("Content-Range"); cr != "bytes */0" {
			return fmt.Errorf("store: GET %s bytes=0-0: 416 with Content-Range %q", o.url, cr)
		}
		o.size = 0
	case http.StatusNotFound, http.StatusGone:
		return fmt.Errorf("store: HTTP object %q (%s): %s: %w", o.name, o.url, resp.Status, ErrNotExist)
	default:
		return fmt.Errorf("store: cannot size %s: HEAD and ranged GET answered %s", o.url, resp.Status)
	}
	o.etag = resp.Header.Get("ETag")
	return nil
}

// parseContentRange parses "bytes first-last/total".
func parseContentRange(s string) (first, last, total uint64, err error) {
	bad := fmt.Errorf("bad Content-Range %q", s)
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	if first, err = strconv.ParseUint(a, 10, 64); err != nil {
		return 0, 0, 0, bad
	}
	if last, err = strconv.ParseUint(b, 10, 64); err != nil || last < first {
		return 0, 0, 0, bad
	}
	if total, err = strconv.ParseUint(tot, 10, 64); err != nil || last >= total {
		return 0, 0, 0, fmt.Errorf("bad Content-Range %q (unknown or inconsistent total)", s)
	}
	return first, last, total, nil
}

func (o *httpObject) Name() string   { return o.name }
func (o *httpObject) ReadOnly() bool { return true }

// Size is the size seen at Open; a later change shows up as ErrChanged on
// ReadAt.
func (o *httpObject) Size() (uint64, error) {
	if o.isClosed() {
		return 0, fmt.Errorf("store: HTTP object %q: %w", o.name, ErrClosed)
	}
	return o.size, nil
}

func (o *httpObject) isClosed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

func (o *httpObject) ReadAt(p []byte, off uint64) (int, error) {
	if o.isClosed() {
		return 0, fmt.Errorf("store: HTTP object %q: %w", o.name, ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= o.size {
		return 0, io.EOF
	}
	want := uint64(len(p))
	short := false
	if off+want > o.size {
		want, short = o.size-off, true
	}
	last := off + want - 1
	resp, cancel, err := o.do(http.MethodGet, fmt.Sprintf("bytes=%d-%d", off, last))
	if err != nil {
		return 0, err
	}
	defer cancel()
	defer drain(resp)
	if et := resp.Header.Get("ETag"); o.etag != "" && et != "" && et != o.etag {
		return 0, fmt.Errorf("store: HTTP object %q: ETag %s, opened as %s: %w", o.name, et, o.etag, ErrChanged)
	}
	var body io.Reader
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, l, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return 0, fmt.Errorf("store: GET %s range %d-%d: %w", o.url, off, last, err)
		}
		if total != o.size {
			return 0, fmt.Errorf("store: HTTP object %q: size %d, opened as %d: %w", o.name, total, o.size, ErrChanged)
		}
		if first != off || l != last {
			return 0, fmt.Errorf("store: GET %s asked bytes %d-%d, got %d-%d", o.url, off, last, first, l)
		}
		body = resp.Body
	case http.StatusOK:
		if !o.s.opts.AllowFullBody {
			return 0, fmt.Errorf("store: GET %s range %d-%d answered 200 with the whole object: %w", o.url, off, last, ErrNoRanges)
		}
		if resp.ContentLength >= 0 && uint64(resp.ContentLength) != o.size {
			return 0, fmt.Errorf("store: HTTP object %q: size %d, opened as %d: %w", o.name, resp.ContentLength, o.size, ErrChanged)
		}
		if _, err := io.CopyN(io.Discard, resp.Body, int64(off)); err != nil {
			return 0, fmt.Errorf("store: GET %s: skipping to %d in a full body: %w", o.url, off, err)
		}
		body = resp.Body
	case http.StatusPreconditionFailed:
		return 0, fmt.Errorf("store: HTTP object %q: If-Match %s failed: %w", o.name, o.etag, ErrChanged)
	case http.StatusRequestedRangeNotSatisfiable:
		return 0, fmt.Errorf("store: HTTP object %q: range %d-%d not satisfiable (%s), opened with size %d: %w", o.name, off, last, resp.Header.Get("Content-Range"), o.size, ErrChanged)
	case http.StatusNotFound, http.StatusGone:
		return 0, fmt.Errorf("store: HTTP object %q is gone (%s): %w", o.name, resp.Status, ErrChanged)
	default:
		return 0, fmt.Errorf("store: GET %s range %d-%d: %s", o.url, off, last, resp.Status)
	}
	n, err := io.ReadFull(body, p[:want])
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("store: GET %s range %d-%d: body ended after %d of %d bytes", o.url, off, last, n, want)
		} else {
			err = fmt.Errorf("store: GET %s range %d-%d: %w", o.url, off, last, err)
		}
		return n, err
	}
	if short {
		return n, io.EOF
	}
	return n, nil
}

func (o *httpObject) WritePages([]Page) error {
	return fmt.Errorf("store: HTTP object %q: %w", o.name, ErrReadOnly)
}

func (o *httpObject) SetSize(uint64) error {
	return fmt.Errorf("store: HTTP object %q: %w", o.name, ErrReadOnly)
}

func (o *httpObject) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("store: HTTP object %q: %w", o.name, ErrClosed)
	}
	o.closed = true
	return nil
}
