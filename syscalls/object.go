package syscalls

import (
	"bytes"
	"encoding/binary"

	"github.com/pagerd/pagerd/object"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// signaler is implemented by objects with a signal state that
// zx_object_wait_one can wait on.
type signaler interface {
	Signals() *object.Signals
}

// named is implemented by objects that have a ZX_PROP_NAME.
type named interface {
	Name() string
	SetName(string)
}

// Record sizes of the ZX_INFO_VMO versions: v1 ends before metadata_bytes,
// v2 before populated_bytes, v3 before committed_private_bytes; v4 is the
// whole zx_info_vmo_t. Each older record is a prefix of the newest.
const (
	infoVMOv1Size           = 104
	infoVMOv2Size           = 120
	infoVMOv3Size           = 128
	infoHandleBasicSize     = 32
	propContentSizeByteSize = 8
)

// ObjectGetInfo is zx_object_get_info for ZX_INFO_HANDLE_BASIC and ZX_INFO_VMO
// (v4, and v1–v3 as prefixes of 104, 120 and 128 bytes). As in Zircon the
// topic is looked at first: an unknown topic is NOT_SUPPORTED whatever the
// handle. Then the handle (BAD_HANDLE; WRONG_TYPE for ZX_INFO_VMO on a
// non-VMO; no right needed). A buffer smaller than the record is
// BUFFER_TOO_SMALL with actual 0 and avail 1; otherwise the record is written
// at the start of buf and actual = avail = 1.
func ObjectGetInfo(h zx.Handle, topic uint32, buf []byte) (actual, avail int, st zx.Status) {
	var rec []byte
	switch topic {
	case zx.InfoHandleBasic:
		info, st := HandleInfoBasic(h)
		if st != zx.ErrOk {
			return 0, 0, st
		}
		rec = vmoEncode(&info, infoHandleBasicSize)
	case zx.InfoVMOv1, zx.InfoVMOv2, zx.InfoVMOv3, zx.InfoVMO:
		v, rights, st := VmoObject(h, zx.RightNone)
		if st != zx.ErrOk {
			return 0, 0, st
		}
		info := v.Info(rights)
		rec = vmoEncode(&info, zx.InfoVMOSize)
		switch topic {
		case zx.InfoVMOv1:
			rec = rec[:infoVMOv1Size]
		case zx.InfoVMOv2:
			rec = rec[:infoVMOv2Size]
		case zx.InfoVMOv3:
			rec = rec[:infoVMOv3Size]
		}
	default:
		return 0, 0, zx.ErrNotSupported
	}
	if len(buf) < len(rec) {
		return 0, 1, zx.ErrBufferTooSmall
	}
	copy(buf, rec)
	return 1, 1, zx.ErrOk
}

// vmoEncode returns the C (little-endian) bytes of a fixed-layout record.
func vmoEncode(rec any, size int) []byte {
	b, err := binary.Append(make([]byte, 0, size), binary.LittleEndian, rec)
	if err != nil || len(b) != size {
		panic("syscalls: record encoding does not match its C layout")
	}
	return b
}

// ObjectGetProperty is zx_object_get_property: a nil buf is INVALID_ARGS
// (a NULL value pointer); the handle needs GET_PROPERTY; then by property:
// ZX_PROP_NAME needs a 32-byte buffer (BUFFER_TOO_SMALL) and gets the name,
// NUL-padded (objects without a name read as empty);
// ZX_PROP_VMO_CONTENT_SIZE needs 8 bytes (BUFFER_TOO_SMALL) and a VMO
// (WRONG_TYPE); any other property is NOT_SUPPORTED.
func ObjectGetProperty(h zx.Handle, prop uint32, buf []byte) zx.Status {
	if buf == nil {
		return zx.ErrInvalidArgs
	}
	obj, _, st := lookup[Object](h, zx.RightGetProperty)
	if st != zx.ErrOk {
		return st
	}
	switch prop {
	case zx.PropName:
		if len(buf) < zx.MaxNameLen {
			return zx.ErrBufferTooSmall
		}
		var name [zx.MaxNameLen]byte
		if n, ok := obj.(named); ok {
			copy(name[:zx.MaxNameLen-1], n.Name())
		}
		copy(buf, name[:])
		return zx.ErrOk
	case zx.PropVMOContentSize:
		if len(buf) < propContentSizeByteSize {
			return zx.ErrBufferTooSmall
		}
		v, ok := obj.(*vmo.VMO)
		if !ok {
			return zx.ErrWrongType
		}
		binary.LittleEndian.PutUint64(buf, v.ContentSize())
		return zx.ErrOk
	}
	return zx.ErrNotSupported
}

// ObjectSetProperty is zx_object_set_property: a nil buf is INVALID_ARGS;
// the handle needs SET_PROPERTY; ZX_PROP_NAME takes at most 31 bytes of buf
// (more are cut off; the name ends at its first NUL) and is NOT_SUPPORTED
// for objects without a name; ZX_PROP_VMO_CONTENT_SIZE needs 8 bytes
// (BUFFER_TOO_SMALL) and a VMO (WRONG_TYPE) and sets the content size (see
// vmo.VMO.SetContentSize); any other property is NOT_SUPPORTED.
func ObjectSetProperty(h zx.Handle, prop uint32, buf []byte) zx.Status {
	if buf == nil {
		return zx.ErrInvalidArgs
	}
	obj, _, st := lookup[Object](h, zx.RightSetProperty)
	if st != zx.ErrOk {
		return st
	}
	switch prop {
	case zx.PropName:
		n, ok := obj.(named)
		if !ok {
			return zx.ErrNotSupported
		}
		name := buf[:min(len(buf), zx.MaxNameLen-1)]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		n.SetName(string(name))
		return zx.ErrOk
	case zx.PropVMOContentSize:
		if len(buf) < propContentSizeByteSize {
			return zx.ErrBufferTooSmall
		}
		v, ok := obj.(*vmo.VMO)
		if !ok {
			return zx.ErrWrongType
		}
		return zx.StatusOf(v.SetContentSize(binary.LittleEndian.Uint64(buf)))
	}
	return zx.ErrNotSupported
}

// ObjectWaitOne is zx_object_wait_one: the handle needs WAIT (BAD_HANDLE,
// ACCESS_DENIED); an object without signals is NOT_SUPPORTED. It returns
// when any of signals is asserted (OK), when deadline passes (TIMED_OUT; a
// past deadline polls) or when the handle is closed meanwhile (CANCELED,
// with ZX_SIGNAL_HANDLE_CLOSED added to the observed signals).
func ObjectWaitOne(h zx.Handle, signals zx.Signals, deadline zx.Time) (zx.Signals, zx.Status) {
	e, st := lookupAny(h)
	if st != zx.ErrOk {
		return 0, st
	}
	if !e.rights.Has(zx.RightWait) {
		return 0, zx.ErrAccessDenied
	}
	s, ok := e.obj.(signaler)
	if !ok {
		return 0, zx.ErrNotSupported
	}
	if deadline < 0 {
		// Any negative deadline is in the past (the monotonic clock starts at
		// 0); clamp it so that deadline-now cannot overflow in Signals.Wait
		// (ZX_TIME_INFINITE_PAST is INT64_MIN).
		deadline = 0
	}
	observed, st := s.Signals().Wait(signals, deadline, e.closed)
	if st == zx.ErrCanceled {
		observed |= zx.SignalHandleClosed
	}
	return observed, st
}
