package proto

import (
	"fmt"
	"os"

	"github.com/pagerd/pagerd/zx"
)

// Negotiate picks the highest version in both [cmin, cmax] and [smin, smax];
// ok is false when the ranges do not overlap.
func Negotiate(cmin, cmax, smin, smax uint16) (v uint16, ok bool) {
	lo, hi := max(cmin, smin), min(cmax, smax)
	if lo > hi || hi == 0 {
		return 0, false
	}
	return hi, true
}

// ServerConfig is what the server offers in the handshake.
type ServerConfig struct {
	MinVersion, MaxVersion uint16 // 0: this library's MinVersion/MaxVersion
	PageSize               uint32 // 0: os.Getpagesize()
	Features               uint64
	Limits                 Limits
	// Refuse, if set, is the answer to a well-formed Hello instead of
	// Welcome (for example "too many clients"): the client's handshake
	// fails with it, and ServerHandshake returns it.
	Refuse error
}

// ServerHandshake reads the client's Hello and answers it with Welcome, or
// with Error (and returns an error) when the Hello is malformed, is not a
// Hello, or shares no version with the server. The caller sets deadlines,
// checks credentials before calling, and closes the connection on error.
// Hello.PID is informational: use the SO_PEERCRED pid (Conn.Cred).
func ServerHandshake(c *Conn, cfg ServerConfig) (*Hello, *Welcome, error) {
	if cfg.MinVersion == 0 {
		cfg.MinVersion = MinVersion
	}
	if cfg.MaxVersion == 0 {
		cfg.MaxVersion = MaxVersion
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = uint32(os.Getpagesize())
	}
	m, fds, err := c.Recv()
	if err != nil {
		if IsMalformed(err) {
			c.Send(ErrorFrom(0, err))
		}
		return nil, nil, err
	}
	closeFDs(fds) // none for a Hello; defensive
	h, ok := m.(*Hello)
	if !ok {
		err := &DecodeError{Kind: KindUnexpected, Type: m.Type(), Text: "first message must be Hello"}
		c.Send(ErrorFrom(m.RequestID(), err))
		return nil, nil, err
	}
	v, ok := Negotiate(h.MinVersion, h.MaxVersion, cfg.MinVersion, cfg.MaxVersion)
	if !ok {
		err := &zx.Error{Status: zx.ErrProtocolNotSupported, Text: fmt.Sprintf(
			"client speaks versions %d..%d, server %d..%d", h.MinVersion, h.MaxVersion, cfg.MinVersion, cfg.MaxVersion)}
		c.Send(ErrorFrom(h.RequestID(), err))
		return h, nil, err
	}
	if cfg.Refuse != nil {
		c.Send(ErrorFrom(h.RequestID(), cfg.Refuse))
		return h, nil, cfg.Refuse
	}
	w := &Welcome{ReqID: h.ReqID, Version: v, PageSize: cfg.PageSize, Features: cfg.Features, Limits: cfg.Limits}
	if err := c.Send(w); err != nil {
		return h, nil, err
	}
	return h, w, nil
}

// ClientHandshake sends h and waits for the server's answer. Zero fields of
// h default to: request id 1, HelloMagic, this library's version range, the
// caller's pid and page size. A server Error comes back as a *zx.Error.
func ClientHandshake(c *Conn, h Hello) (*Welcome, error) {
	if h.ReqID == 0 {
		h.ReqID = 1
	}
	if h.Magic == 0 {
		h.Magic = HelloMagic
	}
	if h.MinVersion == 0 && h.MaxVersion == 0 {
		h.MinVersion, h.MaxVersion = MinVersion, MaxVersion
	}
	if h.PID == 0 {
		h.PID = int32(os.Getpid())
	}
	if h.PageSize == 0 {
		h.PageSize = uint32(os.Getpagesize())
	}
	if err := c.Send(&h); err != nil {
		return nil, err
	}
	m, fds, err := c.Recv()
	if err != nil {
		return nil, err
	}
	closeFDs(fds)
	switch m := m.(type) {
	case *Error:
		return nil, &zx.Error{Status: m.Code, Text: "server: " + m.Text}
	case *Welcome:
		if m.ReqID != h.ReqID {
			return nil, &DecodeError{Kind: KindUnexpected, Type: TypeWelcome,
				Text: fmt.Sprintf("request id %d, sent %d", m.ReqID, h.ReqID)}
		}
		if m.Version < h.MinVersion || m.Version > h.MaxVersion {
			return nil, &DecodeError{Kind: KindUnexpected, Type: TypeWelcome,
				Text: fmt.Sprintf("server chose version %d outside %d..%d", m.Version, h.MinVersion, h.MaxVersion)}
		}
		return m, nil
	default:
		return nil, &DecodeError{Kind: KindUnexpected, Type: m.Type(), Text: "expected Welcome or Error"}
	}
}
