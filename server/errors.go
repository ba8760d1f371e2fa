package server

import (
	"fmt"

	"github.com/pagerd/pagerd/zx"
)

var errStopping = &zx.Error{Status: zx.ErrBadState, Text: "pagerd is shutting down"}

func errTooManyClients(n int) error {
	return &zx.Error{Status: zx.ErrNoResources, Text: fmt.Sprintf("pagerd serves at most %d clients", n)}
}

func errKicked(why string) error {
	return &zx.Error{Status: zx.ErrBadState, Text: "connection closed: " + why}
}

func errf(st zx.Status, format string, args ...any) error {
	return &zx.Error{Status: st, Text: fmt.Sprintf(format, args...)}
}
