package metrics

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Listen opens a TCP listener for the metrics endpoint on addr (HOST:PORT;
// port 0 picks a free port). Unless allowRemote is true it refuses, with an
// error naming addr, a host that is not a loopback IP (127.0.0.0/8, ::1) or
// "localhost": an empty host or 0.0.0.0 would publish the metrics (client
// ids, VMO counts, process details) to every network the machine is on. A
// "localhost" that resolves to a non-loopback address is refused too.
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %q is not HOST:PORT: %v", addr, err)
	}
	isLocalhost := strings.EqualFold(host, "localhost")
	if !allowRemote && !isLocalhost {
		switch ip := net.ParseIP(host); {
		case host == "":
			return nil, fmt.Errorf("metrics address %q has no host, so it would listen on every interface; give a loopback IP or localhost, or allow remote access", addr)
		case ip == nil || !ip.IsLoopback():
			return nil, fmt.Errorf("metrics address %q: host %q is not a loopback IP or localhost, so the metrics would be reachable from other machines; give a loopback address or allow remote access", addr, host)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: cannot listen on %q: %w", addr, err)
	}
	if !allowRemote && isLocalhost {
		if ta, ok := l.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			got := l.Addr().String()
			l.Close()
			return nil, fmt.Errorf("metrics address %q: %q resolved to %s, which is not a loopback address", addr, host, got)
		}
	}
	return l, nil
}

// Serve serves the metrics on l in a new goroutine and returns the
// *http.Server: GET /metrics is Handler, GET / is a plain-text page that
// points to /metrics, anything else is 404 (or 405 for another method). It
// serves until the server is closed (Close or Shutdown, which also close
// l); the goroutine then ends with nil. Use Start to learn how serving
// ended. Works on a nil *Metrics (/metrics then answers 503).
func (m *Metrics) Serve(l net.Listener) *http.Server {
	srv, _ := m.Start(l)
	return srv
}

// Start is Serve that also returns a channel that receives the serving
// goroutine's result once and is then closed: nil after Close or Shutdown
// of the returned server, otherwise the error that stopped http.Server.Serve
// (for example l closed directly).
func (m *Metrics) Start(l net.Listener) (*http.Server, <-chan error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "pagerd\n\nmetrics: /metrics (Prometheus text format)\n")
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
		close(done)
	}()
	return srv, done
}
