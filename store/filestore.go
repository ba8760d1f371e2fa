package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// JournalSuffix is appended to a file store's path to name its journal
// when FileOptions.JournalPath is empty.
const JournalSuffix = ".pagerd-journal"

// FileOptions configures OpenFile.
type FileOptions struct {
	// JournalPath is where the redo journal lives; default path +
	// JournalSuffix. It must be on a file system that honours fsync and
	// must not be shared with another object.
	JournalPath string
	// ReadOnly opens the file read-only: WritePages and SetSize fail with
	// ErrReadOnly, and a pending journal is an error (ErrCorrupt) rather
	// than being replayed.
	ReadOnly bool
}

// FileStore is a store with exactly one object: the file at its path,
// named by the file's base name. The file is paged in lazily by ReadAt and
// written back through the journal.
type FileStore struct {
	path, journal, name string
	readOnly            bool

	mu     sync.Mutex
	closed bool
}

// OpenFile returns a store for the file at path. The file need not exist
// yet: Open(name, true) creates it.
func OpenFile(path string, opts FileOptions) (*FileStore, error) {
	if path == "" {
		return nil, fmt.Errorf("store: file store path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: file store path %q: %w", path, err)
	}
	s := &FileStore{path: abs, journal: opts.JournalPath, name: filepath.Base(abs), readOnly: opts.ReadOnly}
	if s.journal == "" {
		s.journal = abs + JournalSuffix
	}
	if st, err := os.Stat(filepath.Dir(abs)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("store: file store %q: parent directory is missing or not a directory (%v)", path, err)
	}
	return s, nil
}

// Open opens the store's one object. name must be "" or the file's base
// name.
func (s *FileStore) Open(name string, create bool) (Object, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("store: file store %s: %w", s.path, ErrClosed)
	}
	if name != "" && name != s.name {
		return nil, fmt.Errorf("store: file store %s has only object %q, not %q: %w", s.path, s.name, name, ErrNotExist)
	}
	return openFileObject(s.name, s.path, s.journal, create, s.readOnly)
}

// List returns the file's name if the file exists.
func (s *FileStore) List() ([]string, error) {
	if _, err := os.Lstat(s.path); err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("store: file store %s: %w", s.path, err)
	}
	return []string{s.name}, nil
}

// Close marks the store closed; open objects are unaffected.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("store: file store %s: %w", s.path, ErrClosed)
	}
	s.closed = true
	return nil
}
