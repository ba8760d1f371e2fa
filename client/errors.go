package client

import (
	"errors"
	"fmt"

	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/zx"
)

var (
	// ErrServerGone is wrapped by every error that ends a session from
	// pagerd's side: the socket closed or reset (pagerd died or dropped
	// the connection), a connection-level Error or a Goodbye from pagerd,
	// or a protocol violation by pagerd. Once the session has ended this
	// way, every pending and later request fails with it, wrapped with
	// the cause. Client.Err returns it.
	ErrServerGone = errors.New("client: pagerd is gone")
	// ErrUnavailable is wrapped by Mapping.Populate's error when a page
	// of the range cannot be made present: pagerd could not load it
	// (store error), or pagerd is gone and the guard poisoned it. The
	// error also wraps the errno (unix.EHWPOISON or unix.EFAULT).
	ErrUnavailable = errors.New("client: page unavailable")
	// ErrClosed is returned by calls on a Client, VMO or Mapping that was
	// closed (or unmapped) by this process, and by requests that were
	// pending when Client.Close ended the session.
	ErrClosed = errors.New("client: closed")
)

// zxErr returns a *zx.Error with status s and a formatted text.
func zxErr(s zx.Status, format string, args ...any) error {
	return &zx.Error{Status: s, Text: fmt.Sprintf(format, args...)}
}

// withContext prefixes err's text with what was being done. A *zx.Error
// stays a *zx.Error (same status), so zx.StatusOf and errors.As keep
// working; any other error is wrapped.
func withContext(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	if ze, ok := err.(*zx.Error); ok {
		if ze.Text == "" {
			return &zx.Error{Status: ze.Status, Text: what}
		}
		return &zx.Error{Status: ze.Status, Text: what + ": " + ze.Text}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// fromReply converts a server's Error reply.
func fromReply(e *proto.Error) error {
	return &zx.Error{Status: e.Code, Text: e.Text}
}

// sessionGone reports whether err says the session ended (so a request
// that only releases server-side state has nothing left to do).
func sessionGone(err error) bool {
	return errors.Is(err, ErrServerGone) || errors.Is(err, ErrClosed)
}
