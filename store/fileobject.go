package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// fileObject is an object kept in a local file with a redo journal beside
// it (or in a journal directory). It backs both FileStore and DirStore.
type fileObject struct {
	name     string
	readOnly bool

	mu       sync.RWMutex // reads share; writes, resizes and close exclude
	data     *os.File
	journal  *os.File // nil when read-only
	size     uint64
	broken   error // set when a write-back failed half way
	closed   bool
	recovery RecoveryResult
}

// openFileObject opens (creating if asked) dataPath and its journal at
// journalPath, locks the data file and recovers from the journal.
func openFileObject(name, dataPath, journalPath string, create, readOnly bool) (*fileObject, error) {
	flags := os.O_RDWR
	if readOnly {
		flags = os.O_RDONLY
	}
	flags |= syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	data, err := os.OpenFile(dataPath, flags, 0)
	created := false
	if errors.Is(err, os.ErrNotExist) && create {
		if readOnly {
			return nil, fmt.Errorf("%w: cannot create %q in a read-only store", ErrReadOnly, name)
		}
		data, err = os.OpenFile(dataPath, flags|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) { // lost a race with another creator
			data, err = os.OpenFile(dataPath, flags, 0)
		} else {
			created = err == nil
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: object %q (%s): %w", name, dataPath, ErrNotExist)
		}
		return nil, fmt.Errorf("store: opening object %q: %w", name, err)
	}
	o := &fileObject{name: name, readOnly: readOnly, data: data}
	ok := false
	defer func() {
		if !ok {
			o.data.Close()
			if o.journal != nil {
				o.journal.Close()
			}
		}
	}()
	st, err := data.Stat()
	if err != nil {
		return nil, fmt.Errorf("store: stat object %q: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("store: object %q (%s) is a %v, not a regular file", name, dataPath, st.Mode().Type())
	}
	how := syscall.LOCK_EX
	if readOnly {
		how = syscall.LOCK_SH
	}
	if err := syscall.Flock(int(data.Fd()), how|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("store: object %q (%s): %w", name, dataPath, ErrBusy)
		}
		return nil, fmt.Errorf("store: locking object %q: %w", name, err)
	}
	if created {
		if err := syncDir(filepath.Dir(dataPath)); err != nil {
			return nil, err
		}
	}
	if readOnly {
		// Never write, but refuse to serve a store that has a pending
		// journal: its data may be torn until recovered.
		if st, err := os.Stat(journalPath); err == nil && st.Size() > 0 {
			return nil, fmt.Errorf("%w: object %q has a non-empty journal %s; open it writable once to recover", ErrCorrupt, name, journalPath)
		}
	} else {
		j, err := os.OpenFile(journalPath, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if errors.Is(err, os.ErrNotExist) {
			j, err = os.OpenFile(journalPath, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
			if err == nil {
				err = syncDir(filepath.Dir(journalPath))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("store: opening journal of object %q: %w", name, err)
		}
		o.journal = j
		if o.recovery, err = recoverJournal(data, j); err != nil {
			return nil, err
		}
	}
	if st, err = data.Stat(); err != nil {
		return nil, fmt.Errorf("store: stat object %q: %w", name, err)
	}
	o.size = uint64(st.Size())
	ok = true
	return o, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: opening directory %s to sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: fsync directory %s: %w", dir, err)
	}
	return nil
}

func (o *fileObject) Name() string   { return o.name }
func (o *fileObject) ReadOnly() bool { return o.readOnly }

// LastRecovery reports what opening the object did with its journal.
func (o *fileObject) LastRecovery() RecoveryResult { return o.recovery }

func (o *fileObject) check() error {
	if o.closed {
		return fmt.Errorf("store: object %q: %w", o.name, ErrClosed)
	}
	return o.broken
}

func (o *fileObject) Size() (uint64, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if err := o.check(); err != nil {
		return 0, err
	}
	return o.size, nil
}

func (o *fileObject) ReadAt(p []byte, off uint64) (int, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if err := o.check(); err != nil {
		return 0, err
	}
	if off >= o.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	if off > 1<<62 {
		return 0, fmt.Errorf("store: object %q: read offset %#x too large", o.name, off)
	}
	n, err := o.data.ReadAt(p, int64(off))
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("store: reading object %q at %#x: %w", o.name, off, err)
	}
	return n, err
}

func (o *fileObject) WritePages(pages []Page) error {
	if o.readOnly {
		return fmt.Errorf("store: object %q: %w", o.name, ErrReadOnly)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.check(); err != nil {
		return err
	}
	if len(pages) == 0 {
		return nil
	}
	if err := checkPages(pages, o.size); err != nil {
		return fmt.Errorf("store: object %q: %w", o.name, err)
	}
	// 1. Journal the group and make it durable. Until the fdatasync
	// returns nothing in the data file has changed, so a crash before
	// then leaves all pages old (recovery discards the partial journal).
	buf := encodeJournal(pages, o.size)
	if _, err := o.journal.WriteAt(buf, 0); err != nil {
		// The data file is untouched; drop the partial journal.
		return o.fail(fmt.Errorf("store: writing journal of %q: %w", o.name, err), false)
	}
	if err := syscall.Fdatasync(int(o.journal.Fd())); err != nil {
		// The journal may or may not be durable: the group is in doubt,
		// so the object must be reopened (recovered) before more use.
		return o.fail(fmt.Errorf("store: fdatasync journal of %q: %w", o.name, err), true)
	}
	// 2. Write in place and sync. A crash here may tear pages; recovery
	// replays the committed journal over them.
	for _, p := range pages {
		if _, err := o.data.WriteAt(p.Data[:clipLen(p, o.size)], int64(p.Off)); err != nil {
			return o.fail(fmt.Errorf("store: writing object %q at %#x: %w", o.name, p.Off, err), true)
		}
	}
	if err := syscall.Fdatasync(int(o.data.Fd())); err != nil {
		return o.fail(fmt.Errorf("store: fdatasync object %q: %w", o.name, err), true)
	}
	// 3. Retire the journal. If this fails the group is still durable
	// (replay is idempotent), but the journal must not be appended to.
	if err := truncateJournal(o.journal); err != nil {
		return o.fail(err, true)
	}
	return nil
}

// fail records a failed write-back. If broken, the object refuses further
// use until reopened, because its data may be torn until the journal is
// replayed.
func (o *fileObject) fail(err error, broken bool) error {
	if broken {
		o.broken = fmt.Errorf("%w: %q: an earlier write-back failed: %v", ErrCorrupt, o.name, err)
	} else if terr := truncateJournal(o.journal); terr != nil {
		o.broken = fmt.Errorf("%w: %q: %v", ErrCorrupt, o.name, terr)
	}
	return err
}

func (o *fileObject) SetSize(n uint64) error {
	if o.readOnly {
		return fmt.Errorf("store: object %q: %w", o.name, ErrReadOnly)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.check(); err != nil {
		return err
	}
	if n > 1<<62 {
		return fmt.Errorf("store: object %q: size %d too large", o.name, n)
	}
	if err := o.data.Truncate(int64(n)); err != nil {
		return fmt.Errorf("store: resizing object %q to %d: %w", o.name, n, err)
	}
	if err := o.data.Sync(); err != nil {
		return o.fail(fmt.Errorf("store: fsync object %q after resize to %d: %w", o.name, n, err), true)
	}
	o.size = n
	return nil
}

func (o *fileObject) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("store: object %q: %w", o.name, ErrClosed)
	}
	o.closed = true
	var err error
	if o.journal != nil {
		err = o.journal.Close()
	}
	if derr := o.data.Close(); err == nil { // releases the flock
		err = derr
	}
	return err
}
