package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// notifier tells systemd about pagerd's state (the sd_notify protocol: a
// datagram of newline-separated VAR=VALUE assignments sent to the unix
// socket named by $NOTIFY_SOCKET). Without $NOTIFY_SOCKET it does nothing.
type notifier struct {
	addr *net.UnixAddr // nil: not run by systemd with Type=notify
}

// newNotifier reads $NOTIFY_SOCKET: a path, or "@name" for an abstract
// socket. Other kinds of address (vsock:) are not supported.
func newNotifier() (*notifier, error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return &notifier{}, nil
	}
	if !strings.HasPrefix(name, "/") && !strings.HasPrefix(name, "@") {
		return &notifier{}, fmt.Errorf("NOTIFY_SOCKET=%q: only unix socket paths and @abstract names are supported", name)
	}
	// Go maps a leading '@' to an abstract socket address.
	return &notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}, nil
}

// enabled reports whether there is a service manager to tell.
func (n *notifier) enabled() bool { return n.addr != nil }

// notify sends the assignments (for example "READY=1") as one datagram.
func (n *notifier) notify(assignments ...string) error {
	if n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(strings.Join(assignments, "\n") + "\n")); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
