// Package store holds the backing stores that pagerd serves VMOs from: a
// single file, a directory of files (one object per file, created on
// demand), and a read-only HTTP source that reads with range requests.
//
// A Store is a source of named Objects. An Object is a byte array with a
// size that the pager reads page by page (ReadAt) and writes back whole
// pages at a time (WritePages). The interfaces are small so that other
// stores (block devices, object-store APIs) can be added.
//
// # Write-back and crash safety
//
// A plain pwrite of a 4 KiB page is not atomic across a crash (power loss
// can leave a torn page). Writable stores therefore keep a redo journal per
// object and WritePages runs, for each group of pages:
//
//  1. append one record per page (offset, length, CRC-32C, data) and a
//     commit record (count, CRC-32C of everything before it) to the
//     journal, then fdatasync the journal — the group is now durable;
//  2. write the pages in place, then fdatasync the data file;
//  3. truncate the journal to zero and fdatasync it.
//
// Opening an object recovers it first: a journal with a valid commit record
// (every checksum matching) is replayed into the data file (replay is
// idempotent); anything else — a partial record, a missing commit, a bad
// checksum — is a group whose WritePages never returned, and is discarded.
// So after a crash at any point every page reads entirely old or entirely
// new content (in fact every group is all-old or all-new), and a page whose
// WritePages returned nil is never lost.
//
// This is the store half of the service's BEGIN → write → fsync → END
// write-back (DESIGN.md §5): the service calls WritePages between
// WRITEBACK_BEGIN and WRITEBACK_END, and ends the write-back only after
// WritePages returned nil.
//
// An object is locked (flock) while open, so two openers — in one process
// or two — cannot interleave journals; the second gets ErrBusy.
package store

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/pagerd/pagerd/zx"
)

// PageSize is the unit of WritePages: page offsets and lengths must be
// multiples of it.
const PageSize = zx.PageSize

// Errors returned by stores, wrapped with details; test with errors.Is.
var (
	// ErrNotExist: no object has that name (and create was false). It is
	// fs.ErrNotExist, so os.IsNotExist-style checks work too.
	ErrNotExist = fs.ErrNotExist
	// ErrReadOnly: the store or object cannot be written.
	ErrReadOnly = errors.New("store: read-only")
	// ErrInvalidName: the object name is not allowed (path traversal,
	// separators, NUL, reserved names).
	ErrInvalidName = errors.New("store: invalid object name")
	// ErrInvalidPage: a Page is not page-aligned, has a bad length, or lies
	// past the object's size.
	ErrInvalidPage = errors.New("store: invalid page")
	// ErrBusy: the object is already open (in this or another process).
	ErrBusy = errors.New("store: object is already open")
	// ErrClosed: the store or object was closed.
	ErrClosed = errors.New("store: closed")
	// ErrChanged: a remote object changed since it was opened (its ETag or
	// size differs); no data from the new version is returned.
	ErrChanged = errors.New("store: object changed since open")
	// ErrNoRanges: an HTTP server ignored a range request and answered with
	// the full body.
	ErrNoRanges = errors.New("store: server does not support range requests")
	// ErrUnsupported: the store cannot do this operation (e.g. List on an
	// HTTP source configured without names).
	ErrUnsupported = errors.ErrUnsupported
	// ErrCorrupt: the object is unusable because an earlier write-back
	// failed half way; reopen it to recover from its journal.
	ErrCorrupt = errors.New("store: object needs recovery")
)

// Store is a source of named objects. A file store has exactly one.
type Store interface {
	// Open opens the object called name. If it does not exist, Open
	// creates it (empty) when create is true and the store is writable,
	// and otherwise fails with ErrNotExist (or ErrReadOnly when create
	// was asked of a read-only store).
	Open(name string, create bool) (Object, error)
	// List returns the names of the store's objects, sorted. Internal
	// files (journals) are never listed.
	List() ([]string, error)
	// Close releases the store. Objects already open stay usable until
	// they are closed themselves.
	Close() error
}

// Object is one named, sized array of bytes. Its methods are safe for
// concurrent use.
type Object interface {
	Name() string
	// Size returns the object's size in bytes. It need not be a multiple
	// of PageSize.
	Size() (uint64, error)
	// ReadAt reads len(p) bytes at off. It returns n < len(p) only with
	// an error; at the end of the object the error is io.EOF (n may be
	// > 0). The store does not zero-fill: zero-filling the rest of the
	// last page past Size is the caller's (the pager's) job.
	ReadAt(p []byte, off uint64) (int, error)
	// ReadOnly reports whether WritePages and SetSize always fail with
	// ErrReadOnly.
	ReadOnly() bool
	// WritePages writes whole pages atomically as a group: after a crash
	// at any point each page (indeed the whole group) reads either its old
	// or its new content, never a torn mix, and once WritePages returns nil
	// every page is durable. Page offsets and lengths must be multiples of
	// PageSize. A page that reaches past Size is clipped to Size (the
	// object's size changes only with SetSize); a page starting at or past
	// Size is ErrInvalidPage. Pages are applied in order, so a later page
	// wins where two overlap.
	WritePages(pages []Page) error
	// SetSize grows (with zeros) or shrinks the object; durable on return.
	SetSize(n uint64) error
	Close() error
}

// Page is one write-back unit: Off is page-aligned and len(Data) is a
// non-zero multiple of PageSize (a run of contiguous pages may be one Page).
type Page struct {
	Off  uint64
	Data []byte
}

func checkPages(pages []Page, size uint64) error {
	for i, p := range pages {
		switch {
		case p.Off%PageSize != 0:
			return fmt.Errorf("%w: page %d offset %#x is not a multiple of %d", ErrInvalidPage, i, p.Off, PageSize)
		case len(p.Data) == 0 || len(p.Data)%PageSize != 0:
			return fmt.Errorf("%w: page %d at %#x has length %d, want a non-zero multiple of %d", ErrInvalidPage, i, p.Off, len(p.Data), PageSize)
		case p.Off >= size:
			return fmt.Errorf("%w: page %d at %#x starts at or past the object size %d", ErrInvalidPage, i, p.Off, size)
		case p.Off+uint64(len(p.Data)) < p.Off:
			return fmt.Errorf("%w: page %d at %#x length %d overflows", ErrInvalidPage, i, p.Off, len(p.Data))
		}
	}
	return nil
}

var (
	_ Store  = (*FileStore)(nil)
	_ Store  = (*DirStore)(nil)
	_ Store  = (*HTTPStore)(nil)
	_ Object = (*fileObject)(nil)
	_ Object = (*httpObject)(nil)
)
