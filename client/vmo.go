package client

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/zx"
)

// OpenFlags are the flags of Client.Open.
type OpenFlags uint32

const (
	// ReadOnly opens the VMO for reading only: it can only be mapped
	// without write access. pagerd may also make a VMO read-only on its
	// own (a read-only object); VMO.ReadOnly reports the effective mode.
	ReadOnly = OpenFlags(proto.OpenReadOnly)
	// Create creates the object with createSize bytes if it does not
	// exist.
	Create = OpenFlags(proto.OpenCreate)

	openFlagsMask = ReadOnly | Create
)

// VMO is a VMO that pagerd serves and this client has open: a memfd whose
// pages pagerd supplies on first access through any of the client's
// mappings. Its methods may be called from many goroutines at once.
type VMO struct {
	c           *Client
	id          uint64
	name        string
	size        uint64
	contentSize uint64
	readOnly    bool
	fd          int // the memfd; closed by Close

	mu       sync.Mutex
	closed   bool
	object   bool // Object was called
	maps     map[*Mapping]struct{}
	inflight sync.WaitGroup // Map calls in progress

	ioMu sync.Mutex
	io   *Mapping      // the whole VMO, for ReadAt and WriteAt; made on first use
	gone chan struct{} // closed when Close has finished
}

// Open opens the VMO called name (1..255 bytes of printable UTF-8, no '/').
// With Create, an object that does not exist is created with createSize
// bytes (createSize must be 0 without Create). Errors from pagerd are
// *zx.Error: ZX_ERR_NOT_FOUND, ZX_ERR_ACCESS_DENIED, ZX_ERR_NO_RESOURCES
// (the client's VMO limit), ZX_ERR_IO.
func (c *Client) Open(name string, flags OpenFlags, createSize uint64) (*VMO, error) {
	if flags&^openFlagsMask != 0 {
		return nil, zxErr(zx.ErrInvalidArgs, "open %q: unknown flags %#x", name, uint32(flags&^openFlagsMask))
	}
	if flags&Create == 0 && createSize != 0 {
		return nil, zxErr(zx.ErrInvalidArgs, "open %q: createSize %d without Create", name, createSize)
	}
	if err := c.begin(); err != nil {
		return nil, err
	}
	defer c.inflight.Done()
	m, fds, err := c.roundTrip(&proto.OpenVMO{ReqID: c.newID(), Flags: uint32(flags), CreateSize: createSize, Name: name})
	if err != nil {
		return nil, withContext(err, "open %q", name)
	}
	r := m.(*proto.VMOOpened)
	fd := fds[0]
	if r.ContentSize > r.Size || r.Size%c.pageSize != 0 {
		unix.Close(fd)
		go c.discard(&proto.CloseVMO{ReqID: c.newID(), VMOID: r.VMOID})
		return nil, zxErr(zx.ErrIO, "open %q: pagerd sent size %d (page size %d) and content size %d", name, r.Size, c.pageSize, r.ContentSize)
	}
	readOnly := r.Flags&proto.OpenReadOnly != 0
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_ACCMODE == unix.O_RDONLY {
		readOnly = true
	}
	v := &VMO{
		c:           c,
		id:          r.VMOID,
		name:        name,
		size:        r.Size,
		contentSize: r.ContentSize,
		readOnly:    readOnly,
		fd:          fd,
		maps:        make(map[*Mapping]struct{}),
		gone:        make(chan struct{}),
	}
	c.mu.Lock()
	c.vmos[v] = struct{}{}
	c.mu.Unlock()
	return v, nil
}

// ID returns the VMO's id in this session.
func (v *VMO) ID() uint64 { return v.id }

// Name returns the name it was opened with.
func (v *VMO) Name() string { return v.name }

// Size returns the VMO's size in bytes (a multiple of the page size).
func (v *VMO) Size() uint64 { return v.size }

// ContentSize returns the object's size in bytes when it was opened
// (at most Size; the bytes past it read as zeros).
func (v *VMO) ContentSize() uint64 { return v.contentSize }

// ReadOnly reports whether the VMO can only be mapped read-only.
func (v *VMO) ReadOnly() bool { return v.readOnly }

// begin registers a Map in progress unless the VMO or the client is
// closed; the caller must call v.finish.
func (v *VMO) begin() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if err := v.c.begin(); err != nil {
		return err
	}
	v.inflight.Add(1)
	return nil
}

func (v *VMO) finish() {
	v.inflight.Done()
	v.c.inflight.Done()
}

// usable returns ErrClosed once the VMO or the client was closed.
func (v *VMO) usable() error {
	v.mu.Lock()
	closed := v.closed
	v.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return v.c.usable()
}

// Sync asks pagerd to write every dirty page of the VMO back to its store
// and waits until that is durable; it returns the bytes written.
func (v *VMO) Sync() (written uint64, err error) {
	if err := v.usable(); err != nil {
		return 0, err
	}
	m, fds, err := v.c.roundTrip(&proto.Sync{ReqID: v.c.newID(), VMOID: v.id})
	closeFDs(fds)
	if err != nil {
		return 0, withContext(err, "sync VMO %d (%q)", v.id, v.name)
	}
	return m.(*proto.Synced).BytesWritten, nil
}

// Stats returns pagerd's counters for the VMO.
func (v *VMO) Stats() (proto.StatsReply, error) {
	if err := v.usable(); err != nil {
		return proto.StatsReply{}, err
	}
	m, fds, err := v.c.roundTrip(&proto.Stats{ReqID: v.c.newID(), VMOID: v.id})
	closeFDs(fds)
	if err != nil {
		return proto.StatsReply{}, withContext(err, "stats of VMO %d (%q)", v.id, v.name)
	}
	return *m.(*proto.StatsReply), nil
}

// DirtyRanges returns the dirty ranges of [offset, offset+length) of the
// VMO, sorted, asking pagerd as many times as it takes.
func (v *VMO) DirtyRanges(offset, length uint64) ([]proto.Range, error) {
	if length == 0 {
		return nil, zxErr(zx.ErrInvalidArgs, "dirty ranges of VMO %d (%q): zero length at offset %#x", v.id, v.name, offset)
	}
	end := offset + length
	if end < offset {
		return nil, zxErr(zx.ErrOutOfRange, "dirty ranges of VMO %d (%q): offset %#x + length %#x overflows", v.id, v.name, offset, length)
	}
	if err := v.usable(); err != nil {
		return nil, err
	}
	var out []proto.Range
	for off := offset; ; {
		m, fds, err := v.c.roundTrip(&proto.DirtyRanges{ReqID: v.c.newID(), VMOID: v.id, Offset: off, Length: end - off})
		closeFDs(fds)
		if err != nil {
			return nil, withContext(err, "dirty ranges of VMO %d (%q) in [%#x, %#x)", v.id, v.name, off, end)
		}
		r := m.(*proto.DirtyRangesReply)
		out = append(out, r.Ranges...)
		if !r.More {
			return out, nil
		}
		if len(r.Ranges) == 0 {
			return nil, zxErr(zx.ErrIO, "dirty ranges of VMO %d (%q): pagerd said more but sent no range for [%#x, %#x)", v.id, v.name, off, end)
		}
		last := r.Ranges[len(r.Ranges)-1]
		next := last.Offset + last.Length
		if next >= end {
			return out, nil
		}
		if next <= off {
			return nil, zxErr(zx.ErrIO, "dirty ranges of VMO %d (%q): pagerd's last range [%#x, +%#x) does not advance past %#x", v.id, v.name, last.Offset, last.Length, off)
		}
		off = next
	}
}

// Close unmaps the VMO's mappings (see Mapping.Unmap), tells pagerd to
// close the VMO and closes its memfd. Map calls in progress finish first.
// If the session has already ended, the local resources are still
// released and Close returns nil. A second Close returns ErrClosed.
func (v *VMO) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return ErrClosed
	}
	v.closed = true
	v.mu.Unlock()
	defer close(v.gone)
	v.inflight.Wait()

	v.mu.Lock()
	maps := make([]*Mapping, 0, len(v.maps))
	for m := range v.maps {
		maps = append(maps, m)
	}
	v.mu.Unlock()
	var errs []error
	for _, m := range maps {
		if err := m.Unmap(); err == ErrClosed {
			<-m.gone // being unmapped by another goroutine
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	_, fds, err := v.c.roundTrip(&proto.CloseVMO{ReqID: v.c.newID(), VMOID: v.id})
	closeFDs(fds)
	if err != nil && !sessionGone(err) {
		errs = append(errs, withContext(err, "close VMO %d (%q)", v.id, v.name))
	}
	unix.Close(v.fd)
	v.c.mu.Lock()
	delete(v.c.vmos, v)
	v.c.mu.Unlock()
	return errors.Join(errs...)
}
