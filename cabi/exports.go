package main

// The Go half of each zx_* call. The C wrappers in zircon.c call these with
// their own locals for every fixed-size input and output (packets, handles,
// info records, property values), so the Go side only writes memory the
// wrapper owns. User buffers reach Go in two calls only, and Go never loads or
// stores them: zx_vmo_read and zx_vmo_write, where the kernel copies them
// (pread/pwrite) after probe has checked them, and
// zx_pager_query_dirty_ranges, whose entries Go hands to pagerd_copy_out.

/*
#include <stddef.h>
#include <stdint.h>
#include "cabi.h"
*/
import "C"

import (
	"math/bits"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/syscalls"
	"github.com/pagerd/pagerd/zx"
)

func st(s zx.Status) int32 { return int32(s) }

// put stores a handle into the wrapper's local.
func put(out unsafe.Pointer, h zx.Handle) { *(*uint32)(out) = uint32(h) }

// bytesAt is the C memory [p, p+n) as a slice, nil for a nil p; p is a
// wrapper's local or a probed user buffer.
func bytesAt(p unsafe.Pointer, n uintptr) []byte {
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

// ---- handles ------------------------------------------------------------------

//export pagerd_cabi_handle_close
func pagerd_cabi_handle_close(h uint32) int32 {
	return st(syscalls.HandleClose(zx.Handle(h)))
}

//export pagerd_cabi_handle_duplicate
func pagerd_cabi_handle_duplicate(h, rights uint32, out unsafe.Pointer) int32 {
	nh, s := syscalls.HandleDuplicate(zx.Handle(h), zx.Rights(rights))
	put(out, nh)
	return st(s)
}

//export pagerd_cabi_handle_replace
func pagerd_cabi_handle_replace(h, rights uint32, out unsafe.Pointer) int32 {
	nh, s := syscalls.HandleReplace(zx.Handle(h), zx.Rights(rights))
	put(out, nh)
	return st(s)
}

// pagerd_cabi_handle_check returns what looking up h as an object of type typ
// (ZX_OBJ_TYPE_NONE: any) with rights would return: BAD_HANDLE, WRONG_TYPE,
// ACCESS_DENIED or OK. The wrappers use it to report a bad input pointer only
// after the handle checks that Zircon makes before copying the input in.
//
//export pagerd_cabi_handle_check
func pagerd_cabi_handle_check(h, typ, rights uint32) int32 {
	info, s := syscalls.HandleInfoBasic(zx.Handle(h))
	switch {
	case s != zx.ErrOk:
		return st(s)
	case typ != uint32(zx.ObjTypeNone) && info.Type != zx.ObjType(typ):
		return st(zx.ErrWrongType)
	case !info.Rights.Has(zx.Rights(rights)):
		return st(zx.ErrAccessDenied)
	}
	return st(zx.ErrOk)
}

// ---- objects ------------------------------------------------------------------

//export pagerd_cabi_object_wait_one
func pagerd_cabi_object_wait_one(h, signals uint32, deadline int64, observed unsafe.Pointer) int32 {
	obs, s := syscalls.ObjectWaitOne(zx.Handle(h), zx.Signals(signals), zx.Time(deadline))
	*(*uint32)(observed) = uint32(obs)
	return st(s)
}

// infoRecordSize is the size of the record zx_object_get_info writes for a
// topic that syscalls.ObjectGetInfo answers.
func infoRecordSize(topic uint32) uintptr {
	switch topic {
	case zx.InfoHandleBasic:
		return 32
	case zx.InfoVMOv1:
		return 104
	case zx.InfoVMOv2:
		return 120
	case zx.InfoVMOv3:
		return 128
	case zx.InfoVMO:
		return zx.InfoVMOSize
	}
	return 0
}

// pagerd_cabi_object_get_info fills the wrapper's record buffer buf of n
// bytes (n is min(buffer_size, the buffer's size), so a short user buffer
// gives BUFFER_TOO_SMALL), and returns actual, avail and the size of the
// record to copy out.
//
//export pagerd_cabi_object_get_info
func pagerd_cabi_object_get_info(h, topic uint32, buf unsafe.Pointer, n uintptr, actual, avail, recSize unsafe.Pointer) int32 {
	a, v, s := syscalls.ObjectGetInfo(zx.Handle(h), topic, bytesAt(buf, n))
	*(*uintptr)(actual) = uintptr(a)
	*(*uintptr)(avail) = uintptr(v)
	*(*uintptr)(recSize) = infoRecordSize(topic)
	return st(s)
}

// propertySize is how many bytes zx_object_get_property copies out for a
// property that syscalls.ObjectGetProperty answers.
func propertySize(prop uint32) uintptr {
	switch prop {
	case zx.PropName:
		return zx.MaxNameLen
	case zx.PropVMOContentSize:
		return 8
	}
	return 0
}

// pagerd_cabi_object_get_property fills the wrapper's buffer buf (nil for a
// NULL value: INVALID_ARGS, as in Zircon, before the handle) and returns the
// number of bytes to copy out in *outSize.
//
//export pagerd_cabi_object_get_property
func pagerd_cabi_object_get_property(h, prop uint32, buf unsafe.Pointer, n uintptr, outSize unsafe.Pointer) int32 {
	s := syscalls.ObjectGetProperty(zx.Handle(h), prop, bytesAt(buf, n))
	*(*uintptr)(outSize) = min(propertySize(prop), n)
	return st(s)
}

//export pagerd_cabi_object_set_property
func pagerd_cabi_object_set_property(h, prop uint32, buf unsafe.Pointer, n uintptr) int32 {
	return st(syscalls.ObjectSetProperty(zx.Handle(h), prop, bytesAt(buf, n)))
}

// ---- ports --------------------------------------------------------------------

//export pagerd_cabi_port_create
func pagerd_cabi_port_create(options uint32, out unsafe.Pointer) int32 {
	h, s := syscalls.PortCreate(options)
	put(out, h)
	return st(s)
}

// pagerd_cabi_port_queue queues the wrapper's copy of the packet; pkt is nil
// when the user's packet could not be read (INVALID_ARGS after the handle
// checks).
//
//export pagerd_cabi_port_queue
func pagerd_cabi_port_queue(h uint32, pkt unsafe.Pointer) int32 {
	return st(syscalls.PortQueue(zx.Handle(h), (*zx.PortPacket)(pkt)))
}

// pagerd_cabi_port_wait dequeues into the wrapper's packet; pkt is nil when
// the user's packet is not writable (INVALID_ARGS after the handle checks,
// without waiting or dequeuing).
//
//export pagerd_cabi_port_wait
func pagerd_cabi_port_wait(h uint32, deadline int64, pkt unsafe.Pointer) int32 {
	return st(syscalls.PortWait(zx.Handle(h), zx.Time(deadline), (*zx.PortPacket)(pkt)))
}

// ---- VMOs ---------------------------------------------------------------------

//export pagerd_cabi_vmo_create
func pagerd_cabi_vmo_create(size uint64, options uint32, out unsafe.Pointer) int32 {
	h, s := syscalls.VmoCreate(size, options)
	put(out, h)
	return st(s)
}

// pagerd_cabi_vmo_create_child is zx_vmo_create_child (syscalls.VmoCreateChild);
// out is the C wrapper's local handle.
//
//export pagerd_cabi_vmo_create_child
func pagerd_cabi_vmo_create_child(h uint32, options uint32, offset, size uint64, out unsafe.Pointer) int32 {
	c, s := syscalls.VmoCreateChild(zx.Handle(h), options, offset, size)
	put(out, c)
	return st(s)
}

// Verdicts of pagerd_classify (ucopy.c) on a user buffer.
const (
	whereElsewhere   = 0  // not on the calling thread's stack: probe it
	whereCallerStack = 1  // in the caller's own stack frames
	whereBad         = -1 // on the stack below the caller's frame, or wrapping around
)

// userBuffer checks, in Zircon's order, the arguments of a zx_vmo_read or
// zx_vmo_write of n bytes at off before the user buffer is handed to package
// syscalls (which moves it with pread or pwrite): the handle and its right,
// then the range (OUT_OF_RANGE, before the buffer is looked at, as in
// Zircon), then the buffer itself (INVALID_ARGS if any byte is not readable,
// or writable for a read, or if it overlaps the calling thread's stack below
// the caller's frame). where is the C wrapper's pagerd_classify verdict. It
// returns OK when the call may proceed.
func userBuffer(h zx.Handle, right zx.Rights, buf unsafe.Pointer, off, n uint64, write bool, where int32) zx.Status {
	if n == 0 {
		return zx.ErrOk
	}
	v, _, s := syscalls.VmoObject(h, right)
	if s != zx.ErrOk {
		return s
	}
	if end, carry := bits.Add64(off, n, 0); carry != 0 || end > v.Size() {
		return zx.ErrOutOfRange
	}
	switch {
	case where == whereBad:
		return zx.ErrInvalidArgs
	case where == whereCallerStack && buf != nil:
		return zx.ErrOk // the caller's own stack frames: mapped and writable
	case !probe(buf, n, write):
		return zx.ErrInvalidArgs
	}
	return zx.ErrOk
}

//export pagerd_cabi_vmo_read
func pagerd_cabi_vmo_read(h uint32, buf unsafe.Pointer, off uint64, n uintptr, where int32) int32 {
	if s := userBuffer(zx.Handle(h), zx.RightRead, buf, off, uint64(n), true, where); s != zx.ErrOk {
		return st(s)
	}
	return st(syscalls.VmoRead(zx.Handle(h), bytesAt(buf, n), off))
}

//export pagerd_cabi_vmo_write
func pagerd_cabi_vmo_write(h uint32, buf unsafe.Pointer, off uint64, n uintptr, where int32) int32 {
	if s := userBuffer(zx.Handle(h), zx.RightWrite, buf, off, uint64(n), false, where); s != zx.ErrOk {
		return st(s)
	}
	return st(syscalls.VmoWrite(zx.Handle(h), bytesAt(buf, n), off))
}

//export pagerd_cabi_vmo_get_size
func pagerd_cabi_vmo_get_size(h uint32, out unsafe.Pointer) int32 {
	size, s := syscalls.VmoGetSize(zx.Handle(h))
	*(*uint64)(out) = size
	return st(s)
}

//export pagerd_cabi_vmo_set_size
func pagerd_cabi_vmo_set_size(h uint32, size uint64) int32 {
	return st(syscalls.VmoSetSize(zx.Handle(h), size))
}

// pagerd_cabi_vmo_op_range gets the wrapper's zx_vmo_lock_state_t (n is
// min(buffer_size, 32)); the wrapper copies it out after ZX_VMO_OP_LOCK.
//
//export pagerd_cabi_vmo_op_range
func pagerd_cabi_vmo_op_range(h, op uint32, off, size uint64, buf unsafe.Pointer, n uintptr) int32 {
	return st(syscalls.VmoOpRange(zx.Handle(h), op, off, size, bytesAt(buf, n)))
}

// ---- VMARs --------------------------------------------------------------------

//export pagerd_cabi_vmar_root_self
func pagerd_cabi_vmar_root_self() uint32 {
	return uint32(syscalls.VmarRootSelf())
}

//export pagerd_cabi_vmar_map
func pagerd_cabi_vmar_map(h, options uint32, vmarOffset uint64, vmoH uint32, vmoOffset, length uint64, out unsafe.Pointer) int32 {
	addr, s := syscalls.VmarMap(zx.Handle(h), options, vmarOffset, zx.Handle(vmoH), vmoOffset, length)
	*(*uintptr)(out) = addr
	return st(s)
}

//export pagerd_cabi_vmar_unmap
func pagerd_cabi_vmar_unmap(h uint32, addr uintptr, length uint64) int32 {
	return st(syscalls.VmarUnmap(zx.Handle(h), addr, length))
}

// notEmpty is what zx_vmar_op_range's unused buffer becomes: only its length
// (zero or not) matters to syscalls.VmarOpRange, which never reads it.
var notEmpty = []byte{0}

//export pagerd_cabi_vmar_op_range
func pagerd_cabi_vmar_op_range(h, op uint32, addr uintptr, length uint64, bufferSize uintptr) int32 {
	var buf []byte
	if bufferSize != 0 {
		buf = notEmpty
	}
	return st(syscalls.VmarOpRange(zx.Handle(h), op, addr, length, buf))
}

// ---- pagers -------------------------------------------------------------------

//export pagerd_cabi_pager_create
func pagerd_cabi_pager_create(options uint32, out unsafe.Pointer) int32 {
	h, s := syscalls.PagerCreate(options)
	put(out, h)
	return st(s)
}

//export pagerd_cabi_pager_create_vmo
func pagerd_cabi_pager_create_vmo(pgr, options, prt uint32, key, size uint64, out unsafe.Pointer) int32 {
	h, s := syscalls.PagerCreateVmo(zx.Handle(pgr), options, zx.Handle(prt), key, size)
	put(out, h)
	return st(s)
}

//export pagerd_cabi_pager_detach_vmo
func pagerd_cabi_pager_detach_vmo(pgr, v uint32) int32 {
	return st(syscalls.PagerDetachVmo(zx.Handle(pgr), zx.Handle(v)))
}

//export pagerd_cabi_pager_supply_pages
func pagerd_cabi_pager_supply_pages(pgr, v uint32, off, length uint64, aux uint32, auxOff uint64) int32 {
	return st(syscalls.PagerSupplyPages(zx.Handle(pgr), zx.Handle(v), off, length, zx.Handle(aux), auxOff))
}

//export pagerd_cabi_pager_op_range
func pagerd_cabi_pager_op_range(pgr, op, v uint32, off, length, data uint64) int32 {
	return st(syscalls.PagerOpRange(zx.Handle(pgr), op, zx.Handle(v), off, length, data))
}

// pagerd_cabi_pager_query_dirty_ranges fills a Go buffer with up to
// bufferSize/24 entries (never more than the VMO has pages: each range is at
// least a page) and copies the ones found to the user's buffer with a kernel
// copy (INVALID_ARGS if it cannot be written; nothing is copied, and the
// buffer not looked at, when there is nothing to copy). actual and avail are
// the wrapper's locals; avail is computed only when wantAvail.
//
//export pagerd_cabi_pager_query_dirty_ranges
func pagerd_cabi_pager_query_dirty_ranges(pgr, v uint32, off, length uint64, buffer unsafe.Pointer, bufferSize uintptr, wantAvail int32, actual, avail unsafe.Pointer, fence uintptr) int32 {
	const entrySize = unsafe.Sizeof(zx.VMODirtyRange{})
	n := uint64(bufferSize / entrySize)
	if vo, _, s := syscalls.VmoObject(zx.Handle(v), zx.RightNone); s == zx.ErrOk {
		n = min(n, vo.Size()/zx.PageSize+1)
	} else {
		n = 0 // the query reports the bad handle
	}
	out := make([]zx.VMODirtyRange, n)
	a, av, s := syscalls.PagerQueryDirtyRanges(zx.Handle(pgr), zx.Handle(v), off, length, out, wantAvail != 0)
	if s == zx.ErrOk && a > 0 &&
		C.pagerd_copy_out(buffer, unsafe.Pointer(&out[0]), C.size_t(uintptr(a)*entrySize), C.uintptr_t(fence)) != 0 {
		return st(zx.ErrInvalidArgs)
	}
	*(*uintptr)(actual) = uintptr(a)
	*(*uintptr)(avail) = uintptr(av)
	return st(s)
}

// pagerd_cabi_pager_query_vmo_stats fills the wrapper's zx_pager_vmo_stats_t;
// the wrapper copies it out (after a reset has happened, as in Zircon).
//
//export pagerd_cabi_pager_query_vmo_stats
func pagerd_cabi_pager_query_vmo_stats(pgr, v, options uint32, out unsafe.Pointer, bufferSize uintptr) int32 {
	return st(syscalls.PagerQueryVmoStats(zx.Handle(pgr), zx.Handle(v), options, (*zx.PagerVMOStats)(out), bufferSize))
}

// ---- user memory --------------------------------------------------------------

// probe reports whether every byte of [p, p+n) can be read (or written, if
// write) by this process, without touching it from Go: it asks the kernel to
// populate the range (madvise MADV_POPULATE_READ or MADV_POPULATE_WRITE, Linux
// 5.14+), which fails on an unmapped range (ENOMEM), on one without the
// permission (EINVAL) and where an access would raise SIGBUS (EFAULT). It is a
// system call, so a buffer in a mapping of a pager VMO is faulted in by the
// kernel (the pager is asked for its pages) while this thread holds no P.
// Populating is what the copy that follows would do anyway.
func probe(p unsafe.Pointer, n uint64, write bool) bool {
	if p == nil {
		return false
	}
	const pageMask = zx.PageSize - 1
	start := uint64(uintptr(p))
	end, carry := bits.Add64(start, n, 0)
	if carry != 0 {
		return false
	}
	end, carry = bits.Add64(end, pageMask, 0)
	if carry != 0 {
		return false
	}
	start &^= pageMask
	end &^= pageMask
	advice := uintptr(unix.MADV_POPULATE_READ)
	if write {
		advice = unix.MADV_POPULATE_WRITE
	}
	for {
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), advice)
		if errno == 0 {
			return true
		}
		if errno != unix.EINTR {
			return false
		}
	}
}
