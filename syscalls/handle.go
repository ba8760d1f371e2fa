package syscalls

import (
	"sync"

	"github.com/pagerd/pagerd/zx"
)

// Object is what a handle refers to: a port, a VMO, a pager.
type Object interface {
	Type() zx.ObjType
	Koid() zx.Koid
}

// zeroHandlesObserver is implemented by objects that act when their last
// handle is closed (Zircon's on_zero_handles): a pager detaches its VMOs, a
// VMO with no mappings left is destroyed.
type zeroHandlesObserver interface {
	OnZeroHandles()
}

type handleEntry struct {
	obj    Object
	rights zx.Rights
	closed chan struct{} // closed when this handle is closed (wakes wait_one with CANCELED)
}

// The process's handle table. Handle calls are not on the page-fault path, so
// one lock is fine here.
var handles = struct {
	sync.RWMutex
	byValue map[zx.Handle]*handleEntry
	counts  map[Object]int
	next    uint32
}{byValue: map[zx.Handle]*handleEntry{}, counts: map[Object]int{}}

// NewHandle installs a handle to obj with the given rights and returns its
// value (low two bits set, never zero, never reused within the process).
func NewHandle(obj Object, rights zx.Rights) zx.Handle {
	handles.Lock()
	defer handles.Unlock()
	return newHandleLocked(obj, rights)
}

func newHandleLocked(obj Object, rights zx.Rights) zx.Handle {
	handles.next++
	h := zx.Handle(handles.next<<2) | zx.HandleFixedBitsMask
	handles.byValue[h] = &handleEntry{obj: obj, rights: rights, closed: make(chan struct{})}
	handles.counts[obj]++
	return h
}

// lookupAny returns a handle's entry, or ErrBadHandle.
func lookupAny(h zx.Handle) (*handleEntry, zx.Status) {
	handles.RLock()
	e, ok := handles.byValue[h]
	handles.RUnlock()
	if !ok {
		return nil, zx.ErrBadHandle
	}
	return e, zx.ErrOk
}

// lookup resolves a handle in Zircon's order: invalid → BAD_HANDLE, wrong
// object type → WRONG_TYPE, missing rights → ACCESS_DENIED.
func lookup[T Object](h zx.Handle, want zx.Rights) (T, zx.Rights, zx.Status) {
	var zero T
	e, st := lookupAny(h)
	if st != zx.ErrOk {
		return zero, 0, st
	}
	obj, ok := e.obj.(T)
	if !ok {
		return zero, 0, zx.ErrWrongType
	}
	if !e.rights.Has(want) {
		return zero, 0, zx.ErrAccessDenied
	}
	return obj, e.rights, zx.ErrOk
}

// HandleClose is zx_handle_close: closing ZX_HANDLE_INVALID is OK; an unknown
// handle is BAD_HANDLE. Closing the last handle to an object tells it.
func HandleClose(h zx.Handle) zx.Status {
	if h == zx.HandleInvalid {
		return zx.ErrOk
	}
	handles.Lock()
	e, ok := handles.byValue[h]
	if !ok {
		handles.Unlock()
		return zx.ErrBadHandle
	}
	last := removeLocked(h, e)
	handles.Unlock()
	if last {
		if o, ok := e.obj.(zeroHandlesObserver); ok {
			o.OnZeroHandles()
		}
	}
	return zx.ErrOk
}

// removeLocked drops a handle and reports whether it was the object's last.
func removeLocked(h zx.Handle, e *handleEntry) bool {
	delete(handles.byValue, h)
	close(e.closed)
	handles.counts[e.obj]--
	if handles.counts[e.obj] == 0 {
		delete(handles.counts, e.obj)
		return true
	}
	return false
}

// HandleDuplicate is zx_handle_duplicate: needs DUPLICATE; rights may only be
// reduced (ZX_RIGHT_SAME_RIGHTS keeps them); asking for more is INVALID_ARGS.
func HandleDuplicate(h zx.Handle, rights zx.Rights) (zx.Handle, zx.Status) {
	handles.Lock()
	defer handles.Unlock()
	e, ok := handles.byValue[h]
	if !ok {
		return zx.HandleInvalid, zx.ErrBadHandle
	}
	if !e.rights.Has(zx.RightDuplicate) {
		return zx.HandleInvalid, zx.ErrAccessDenied
	}
	newRights, st := reduceRights(e.rights, rights)
	if st != zx.ErrOk {
		return zx.HandleInvalid, st
	}
	return newHandleLocked(e.obj, newRights), zx.ErrOk
}

// HandleReplace is zx_handle_replace: the old handle is invalid afterwards,
// even when the call fails for asking more rights (as in Zircon).
func HandleReplace(h zx.Handle, rights zx.Rights) (zx.Handle, zx.Status) {
	handles.Lock()
	e, ok := handles.byValue[h]
	if !ok {
		handles.Unlock()
		return zx.HandleInvalid, zx.ErrBadHandle
	}
	newRights, st := reduceRights(e.rights, rights)
	if st != zx.ErrOk {
		last := removeLocked(h, e)
		handles.Unlock()
		if o, ok := e.obj.(zeroHandlesObserver); ok && last {
			o.OnZeroHandles()
		}
		return zx.HandleInvalid, st
	}
	// Install the new handle before dropping the old, so the object never sees zero handles.
	nh := newHandleLocked(e.obj, newRights)
	removeLocked(h, e)
	handles.Unlock()
	return nh, zx.ErrOk
}

func reduceRights(have, want zx.Rights) (zx.Rights, zx.Status) {
	if want == zx.RightSameRights {
		return have, zx.ErrOk
	}
	if want&^have != 0 {
		return 0, zx.ErrInvalidArgs
	}
	return want, zx.ErrOk
}

// HandleInfoBasic is zx_object_get_info(ZX_INFO_HANDLE_BASIC); any right will do.
func HandleInfoBasic(h zx.Handle) (zx.InfoHandleBasicRecord, zx.Status) {
	e, st := lookupAny(h)
	if st != zx.ErrOk {
		return zx.InfoHandleBasicRecord{}, st
	}
	return zx.InfoHandleBasicRecord{Koid: e.obj.Koid(), Rights: e.rights, Type: e.obj.Type()}, zx.ErrOk
}

// handleClosedChan returns a channel closed when h is closed, for blocking calls
// (zx_object_wait_one returns CANCELED when its handle is closed under it).
func handleClosedChan(h zx.Handle) <-chan struct{} {
	e, st := lookupAny(h)
	if st != zx.ErrOk {
		c := make(chan struct{})
		close(c)
		return c
	}
	return e.closed
}
