package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// DefaultJournalDir is the directory, inside a directory store's root, that
// holds its journals when DirOptions.JournalDir is empty. It is hidden from
// List and cannot be opened as an object.
const DefaultJournalDir = ".pagerd-journal"

// DirOptions configures OpenDir.
type DirOptions struct {
	// JournalDir holds one journal per object (<name>.journal). A
	// relative path is taken inside the root; default DefaultJournalDir.
	// It must be on the same machine's durable storage as the root.
	JournalDir string
	// ReadOnly: no object can be created or written.
	ReadOnly bool
}

// DirStore is a store whose objects are the regular files directly inside
// one directory. Names are flat: no separators, no "." or "..", no NUL.
type DirStore struct {
	root, journalDir string
	hidden           string // base name to hide from List ("" if outside root)
	readOnly         bool

	mu     sync.Mutex
	closed bool
}

// OpenDir returns a store for the existing directory root, creating the
// journal directory unless read-only.
func OpenDir(root string, opts DirOptions) (*DirStore, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store: directory store %q: %w", root, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("store: directory store %q: %w", root, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("store: directory store %q is not a directory", root)
	}
	jd := opts.JournalDir
	if jd == "" {
		jd = DefaultJournalDir
	}
	if !filepath.IsAbs(jd) {
		jd = filepath.Join(abs, jd)
	}
	s := &DirStore{root: abs, journalDir: jd, readOnly: opts.ReadOnly}
	if filepath.Dir(jd) == abs {
		s.hidden = filepath.Base(jd)
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(jd, 0o755); err != nil {
			return nil, fmt.Errorf("store: creating journal directory %s: %w", jd, err)
		}
		if err := syncDir(filepath.Dir(jd)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ValidName reports why name cannot name an object in a directory store,
// or nil if it can.
func (s *DirStore) ValidName(name string) error {
	why := ""
	switch {
	case name == "":
		why = "is empty"
	case name == "." || name == "..":
		why = "is a relative directory reference"
	case strings.ContainsRune(name, 0):
		why = "contains NUL"
	case strings.ContainsRune(name, '/'):
		why = "contains a path separator"
	case len(name) > 255:
		why = fmt.Sprintf("is %d bytes long (max 255)", len(name))
	case s.hidden != "" && name == s.hidden:
		why = "is the reserved journal directory"
	}
	if why != "" {
		return fmt.Errorf("%w: %q %s", ErrInvalidName, name, why)
	}
	return nil
}

// Open opens the object name (the file root/name), creating it empty if
// create is true and it does not exist.
func (s *DirStore) Open(name string, create bool) (Object, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("store: directory store %s: %w", s.root, ErrClosed)
	}
	if err := s.ValidName(name); err != nil {
		return nil, err
	}
	return openFileObject(name, filepath.Join(s.root, name), filepath.Join(s.journalDir, name+".journal"), create, s.readOnly)
}

// List returns the names of the regular files in the root, sorted; the
// journal directory and anything that is not a regular file are skipped.
func (s *DirStore) List() ([]string, error) {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("store: listing directory store %s: %w", s.root, err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && e.Name() != s.hidden {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Close marks the store closed; open objects are unaffected.
func (s *DirStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("store: directory store %s: %w", s.root, ErrClosed)
	}
	s.closed = true
	return nil
}
