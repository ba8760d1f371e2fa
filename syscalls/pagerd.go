package syscalls

import (
	"errors"
	"sync"

	"github.com/pagerd/pagerd/client"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/zx"
)

// Flags of PagerdVmoOpen (the values of client.ReadOnly and client.Create;
// include/pagerd/pagerd.h has them as PAGERD_VMO_READ_ONLY and
// PAGERD_VMO_CREATE).
const (
	PagerdVmoReadOnly = uint32(client.ReadOnly)
	PagerdVmoCreate   = uint32(client.Create)
)

// pagerd sessions of this process, one per socket path, dialled at the
// first PagerdVmoOpen and dialled again once pagerd has ended one.
var pagerdSessions struct {
	sync.Mutex
	bySocket map[string]*client.Client
}

func pagerdSession(socket string) (*client.Client, error) {
	pagerdSessions.Lock()
	defer pagerdSessions.Unlock()
	if c := pagerdSessions.bySocket[socket]; c != nil {
		select {
		case <-c.Done():
			// pagerd ended it. It is not closed here: the handles and
			// mappings of its VMOs still use it (supplied pages stay
			// readable, the guard fails the others), so it stays, with
			// its socket, uffd and guard thread, for the process's life:
			// that is the cost of each pagerd restart.
		default:
			return c, nil
		}
	}
	c, err := client.Dial(socket, nil)
	if err != nil {
		return nil, err
	}
	if pagerdSessions.bySocket == nil {
		pagerdSessions.bySocket = make(map[string]*client.Client)
	}
	pagerdSessions.bySocket[socket] = c
	return c, nil
}

// pagerdStatus is the status of an error of package client: pagerd's own
// status, ZX_ERR_PEER_CLOSED for a session that ended, ZX_ERR_UNAVAILABLE
// for a pagerd that cannot be reached (no socket, connection refused).
func pagerdStatus(err error) zx.Status {
	var ze *zx.Error
	switch {
	case errors.As(err, &ze):
		return ze.Status
	case errors.Is(err, client.ErrServerGone), errors.Is(err, client.ErrClosed):
		return zx.ErrPeerClosed
	}
	return zx.ErrUnavailable
}

// PagerdVmoOpen opens the VMO called name that the pagerd service listening
// on socket ("": proto.DefaultSocket, pagerd's default) serves, and returns
// a handle to it: the zx_* calls then work on it as on a pager VMO whose
// pager is pagerd (see client.VMO.Object). flags
// are PagerdVmoReadOnly and PagerdVmoCreate; createSize is the size of an
// object Create makes (0 without it). The handle has the default VMO rights,
// without ZX_RIGHT_WRITE for a read-only VMO. The process keeps one session
// per socket. Statuses: INVALID_ARGS (flags, size, name), UNAVAILABLE
// (pagerd not reachable), and pagerd's: NOT_FOUND, ACCESS_DENIED,
// NO_RESOURCES, OUT_OF_RANGE, IO. This call is not part of Zircon; C
// programs have it as pagerd_vmo_open (include/pagerd/pagerd.h).
func PagerdVmoOpen(socket, name string, flags uint32, createSize uint64) (zx.Handle, zx.Status) {
	if flags&^(PagerdVmoReadOnly|PagerdVmoCreate) != 0 {
		return zx.HandleInvalid, zx.ErrInvalidArgs
	}
	if flags&PagerdVmoCreate == 0 && createSize != 0 {
		return zx.HandleInvalid, zx.ErrInvalidArgs
	}
	if socket == "" {
		socket = proto.DefaultSocket()
	}
	c, err := pagerdSession(socket)
	if err != nil {
		return zx.HandleInvalid, pagerdStatus(err)
	}
	v, err := c.Open(name, client.OpenFlags(flags), createSize)
	if err != nil {
		return zx.HandleInvalid, pagerdStatus(err)
	}
	obj, err := v.Object()
	if err != nil {
		v.Close()
		return zx.HandleInvalid, pagerdStatus(err)
	}
	rights := VMORights(0)
	if v.ReadOnly() {
		rights &^= zx.RightWrite
	}
	return NewVMOHandle(obj, rights), zx.ErrOk
}

// PagerdVmoSync writes the dirty pages of the pagerd VMO behind h back to
// its store and returns how many bytes were written. h needs no particular
// right. Statuses: BAD_HANDLE, WRONG_TYPE (not a VMO), NOT_SUPPORTED (a VMO
// that is not pagerd's), PEER_CLOSED (pagerd gone), IO (the store failed).
func PagerdVmoSync(h zx.Handle) (uint64, zx.Status) {
	obj, _, s := VmoObject(h, 0)
	if s != zx.ErrOk {
		return 0, s
	}
	v, ok := client.ObjectVMO(obj)
	if !ok {
		return 0, zx.ErrNotSupported
	}
	n, err := v.Sync()
	if err != nil {
		return 0, pagerdStatus(err)
	}
	return n, zx.ErrOk
}
