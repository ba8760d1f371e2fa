// Package pagerdtest starts a real pagerd server inside a test process, on a
// directory store of given files, for tests of the packages that talk to
// pagerd (client, syscalls). The server serves from goroutines: the tests
// must take faults on its mappings from C threads or inside system calls
// (process_vm_readv, madvise), never from Go code.
package pagerdtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pagerd/pagerd/readahead"
	"github.com/pagerd/pagerd/server"
	"github.com/pagerd/pagerd/store"
)

// Server is a running pagerd server.
type Server struct {
	Dir  string // the store's directory: one file per object
	Sock string // the socket clients dial

	s    *server.Server
	done chan error
}

// Start serves files (object name → bytes) from a directory store, with
// read-ahead and periodic write-back off, until Stop or the end of the test.
func Start(t testing.TB, files map[string][]byte) *Server {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.OpenDir(dir, store.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "pagerd.sock")
	s, err := server.New(server.Config{Socket: sock, Store: st, StoreDesc: "test", WritebackInterval: -1,
		Readahead: readahead.Config{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Dir: dir, Sock: sock, s: s, done: make(chan error, 1)}
	go func() { srv.done <- s.Serve() }()
	t.Cleanup(func() {
		srv.Stop(t)
		st.Close()
	})
	return srv
}

// Stop closes the server (its clients' sessions end) and waits for it; a
// second Stop does nothing.
func (srv *Server) Stop(t testing.TB) {
	if srv.s == nil {
		return
	}
	srv.s.Close()
	select {
	case <-srv.done:
	case <-time.After(20 * time.Second):
		t.Errorf("pagerd did not stop within 20 s")
	}
	srv.s = nil
}
