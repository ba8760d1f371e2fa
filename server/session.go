package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/store"
	"github.com/pagerd/pagerd/uffd"
	"github.com/pagerd/pagerd/zx"
)

// ClientUFFDFeatures are the features a client must enable on the uffd it
// sends (package client does): MISSING faults on shared memory,
// write-protect on shared memory, and POISON for its guard.
const ClientUFFDFeatures = uffd.FeatureMissingShmem | uffd.FeatureWPHugetlbfsShmem | uffd.FeaturePagefaultFlagWP |
	uffd.FeatureThreadID | uffd.FeaturePoison

// handle is one client's open of a VMO.
type handle struct {
	v        *sharedVMO
	readOnly bool
}

// fatalError is a request error after which the connection is closed.
type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

// session serves c's requests until the connection ends and returns why
// (nil for an orderly end).
func (s *Server) session(c *client) error {
	for {
		msg, fds, err := c.conn.Recv()
		if err != nil {
			switch {
			case proto.IsMalformed(err):
				s.m.ClientRejected("malformed")
				c.conn.Send(proto.ErrorFrom(0, err))
				return err
			case c.dead.Load(), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, unix.ECONNRESET):
				return nil
			}
			return err
		}
		t := msg.Type()
		if t == proto.TypeGoodbye {
			closeAll(fds)
			return nil
		}
		if !t.IsRequest() || t == proto.TypeHello {
			closeAll(fds)
			err := fmt.Errorf("unexpected %v message", t)
			s.m.ClientRejected("unexpected")
			c.conn.Send(proto.ErrorFrom(0, &zx.Error{Status: zx.ErrProtocolNotSupported, Text: err.Error()}))
			return err
		}
		reply, rfd, err := s.request(c, msg, fds)
		if err != nil {
			c.conn.Send(proto.ErrorFrom(msg.RequestID(), err))
			var fe fatalError
			if errors.As(err, &fe) {
				s.m.ClientRejected("bad_request")
				return err
			}
			continue
		}
		if rfd >= 0 {
			err = c.conn.Send(reply, rfd)
		} else {
			err = c.conn.Send(reply)
		}
		if err != nil {
			return err
		}
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// request serves one request; it owns fds. It returns the reply and the fd
// to send with it (-1 for none), or an error for an Error reply.
func (s *Server) request(c *client, msg proto.Message, fds []int) (proto.Message, int, error) {
	id := proto.ReqID(msg.RequestID())
	switch m := msg.(type) {
	case *proto.OpenVMO:
		return s.openRequest(c, m)
	case *proto.RegisterMapping:
		r, err := s.registerRequest(c, m, fds)
		return r, -1, err
	case *proto.UnregisterMapping:
		c.mu.Lock()
		mp := c.byID[m.MappingID]
		if mp == nil {
			c.mu.Unlock()
			return nil, -1, errf(zx.ErrNotFound, "no mapping %d", m.MappingID)
		}
		c.unregisterLocked(mp)
		c.unregGen.Add(1)
		c.publishLocked()
		c.mu.Unlock()
		mp.v.removeMapping(mp)
		return &proto.MappingUnregistered{ReqID: id, MappingID: m.MappingID}, -1, nil
	case *proto.Sync:
		h, err := c.handle(m.VMOID)
		if err != nil {
			return nil, -1, err
		}
		n, err := s.writebackVMO(context.Background(), h.v)
		if err != nil {
			return nil, -1, errf(zx.ErrIO, "write-back of %q: %v", h.v.name, err)
		}
		return &proto.Synced{ReqID: id, VMOID: m.VMOID, BytesWritten: n}, -1, nil
	case *proto.Stats:
		h, err := c.handle(m.VMOID)
		if err != nil {
			return nil, -1, err
		}
		v := h.v
		st := v.stats()
		return &proto.StatsReply{ReqID: id, VMOID: m.VMOID, Size: v.size, ContentSize: v.content,
			CommittedBytes: st.present * pageSize, DirtyBytes: st.dirty * pageSize,
			ReadFaults: v.readFaults.Load(), WriteFaults: v.writeFaults.Load(), Mappings: uint32(st.mappings)}, -1, nil
	case *proto.DirtyRanges:
		h, err := c.handle(m.VMOID)
		if err != nil {
			return nil, -1, err
		}
		if m.Offset+m.Length > h.v.size {
			return nil, -1, errf(zx.ErrOutOfRange, "range [%#x, %#x) is beyond the VMO's size %#x", m.Offset, m.Offset+m.Length, h.v.size)
		}
		rs, more := h.v.dirtyRanges(m.Offset, m.Length, proto.MaxDirtyRanges)
		return &proto.DirtyRangesReply{ReqID: id, VMOID: m.VMOID, More: more, Ranges: rs}, -1, nil
	case *proto.CloseVMO:
		c.mu.Lock()
		h := c.vmos[m.VMOID]
		if h == nil {
			c.mu.Unlock()
			return nil, -1, errf(zx.ErrNotFound, "no VMO %d", m.VMOID)
		}
		for _, mp := range c.byID {
			if mp.vmoID == m.VMOID {
				c.mu.Unlock()
				return nil, -1, errf(zx.ErrBadState, "VMO %d still has mapping %d registered", m.VMOID, mp.id)
			}
		}
		delete(c.vmos, m.VMOID)
		c.mu.Unlock()
		s.releaseVMO(h.v)
		return &proto.VMOClosed{ReqID: id, VMOID: m.VMOID}, -1, nil
	case *proto.Status:
		return s.statusReply(c, id), -1, nil
	case *proto.ListClients:
		return s.clientList(id, m.Start), -1, nil
	case *proto.ListVMOs:
		return s.vmoList(id, m.Start), -1, nil
	}
	closeAll(fds)
	return nil, -1, errf(zx.ErrNotSupported, "%v is not served", msg.Type())
}

// handle returns c's open VMO id.
func (c *client) handle(id uint64) (*handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.vmos[id]; h != nil {
		return h, nil
	}
	return nil, errf(zx.ErrNotFound, "no VMO %d", id)
}

// storeStatus maps a store error to the status a client sees.
func storeStatus(err error) zx.Status {
	switch {
	case errors.Is(err, store.ErrNotExist):
		return zx.ErrNotFound
	case errors.Is(err, store.ErrReadOnly):
		return zx.ErrAccessDenied
	case errors.Is(err, store.ErrInvalidName):
		return zx.ErrInvalidArgs
	case errors.Is(err, store.ErrBusy):
		return zx.ErrUnavailable
	case errors.Is(err, errStopping):
		return zx.ErrBadState
	}
	if st := zx.StatusOf(err); st != zx.ErrInternal && st != zx.ErrOk {
		return st
	}
	return zx.ErrIO
}

func (s *Server) openRequest(c *client, m *proto.OpenVMO) (proto.Message, int, error) {
	c.mu.Lock()
	n := len(c.vmos)
	c.mu.Unlock()
	if n >= int(s.cfg.Limits.MaxVMOs) {
		return nil, -1, errf(zx.ErrNoResources, "client has %d VMOs open, the limit is %d", n, s.cfg.Limits.MaxVMOs)
	}
	create := m.Flags&proto.OpenCreate != 0
	if create && m.CreateSize > MaxVMOSize {
		// As zx_vmo_create: a size beyond the largest VMO is OUT_OF_RANGE,
		// refused before the store creates anything.
		return nil, -1, errf(zx.ErrOutOfRange, "create %q of %d bytes: a VMO may have at most %d", m.Name, m.CreateSize, uint64(MaxVMOSize))
	}
	v, err := s.openVMO(m.Name, create, m.CreateSize)
	if err != nil {
		return nil, -1, errf(storeStatus(err), "open %q: %v", m.Name, err)
	}
	h := &handle{v: v, readOnly: v.readOnly || m.Flags&proto.OpenReadOnly != 0}
	c.mu.Lock()
	if c.vmos == nil { // torn down meanwhile
		c.mu.Unlock()
		s.releaseVMO(v)
		return nil, -1, errStopping
	}
	c.nextVMOID++
	id := c.nextVMOID
	c.vmos[id] = h
	c.mu.Unlock()
	flags := m.Flags & proto.OpenTrapDirty
	fd := v.memfd
	if h.readOnly {
		flags |= proto.OpenReadOnly
		fd = v.roFd
	}
	return &proto.VMOOpened{ReqID: proto.ReqID(m.RequestID()), VMOID: id, Size: v.size, ContentSize: v.content, Flags: flags}, fd, nil
}

// isUFFD reports whether fd is a userfaultfd.
func isUFFD(fd int) bool {
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	return err == nil && target == "anon_inode:[userfaultfd]"
}

func (s *Server) registerRequest(c *client, m *proto.RegisterMapping, fds []int) (proto.Message, error) {
	attach := m.Flags&proto.MapAttachUFFD != 0
	keep := false
	defer func() {
		if !keep {
			closeAll(fds)
		}
	}()
	h, err := c.handle(m.VMOID)
	if err != nil {
		return nil, err
	}
	v := h.v
	writable := m.Flags&proto.MapWritable != 0
	switch {
	case attach && c.uf != nil:
		return nil, errf(zx.ErrAlreadyBound, "the connection already has a userfaultfd")
	case !attach && c.uf == nil:
		return nil, errf(zx.ErrBadState, "the first mapping must carry the userfaultfd (MapAttachUFFD)")
	case attach && !isUFFD(fds[0]):
		return nil, fatalError{errf(zx.ErrWrongType, "the fd sent with RegisterMapping is not a userfaultfd")}
	case m.Addr%pageSize != 0 || m.Length%pageSize != 0 || m.VMOOffset%pageSize != 0:
		return nil, errf(zx.ErrInvalidArgs, "address %#x, length %#x and offset %#x must be multiples of %d", m.Addr, m.Length, m.VMOOffset, pageSize)
	case m.VMOOffset+m.Length > v.size:
		return nil, errf(zx.ErrOutOfRange, "[%#x, %#x) is beyond the VMO's size %#x", m.VMOOffset, m.VMOOffset+m.Length, v.size)
	case writable && h.readOnly:
		return nil, errf(zx.ErrAccessDenied, "VMO %q is read-only", v.name)
	}
	var uf *uffd.UFFD
	if attach {
		if err := unix.SetNonblock(fds[0], true); err != nil {
			return nil, fatalError{errf(zx.ErrWrongType, "cannot make the userfaultfd non-blocking: %v", err)}
		}
		uf = uffd.FromFd(fds[0], ClientUFFDFeatures)
		keep = true
	}
	ufOf := func() *uffd.UFFD {
		if uf != nil {
			return uf
		}
		return c.uf
	}
	c.mu.Lock()
	ok, outer := c.acceptsLocked(m.Addr, m.Length, m.VMOID, m.VMOOffset, writable)
	charge := m.Length // a piece of a split is not counted while its outer mapping is
	if outer != nil {
		charge = 0
	}
	if !ok {
		c.mu.Unlock()
		if uf != nil {
			uf.Close()
		}
		return nil, errf(zx.ErrInvalidArgs, "[%#x, %#x) overlaps a registered mapping", m.Addr, m.Addr+m.Length)
	}
	if c.mappedBytes+charge > s.cfg.Limits.MaxMappedBytes {
		total := c.mappedBytes
		c.mu.Unlock()
		if uf != nil {
			uf.Close()
		}
		return nil, errf(zx.ErrNoResources, "client has %d bytes mapped; %d more exceed the limit %d", total, m.Length, s.cfg.Limits.MaxMappedBytes)
	}
	c.mappedBytes += charge // reserve
	c.mu.Unlock()

	fail := func(err error) (proto.Message, error) {
		c.mu.Lock()
		c.mappedBytes -= charge
		c.mu.Unlock()
		if uf != nil {
			uf.Close()
		}
		return nil, err
	}
	if writable {
		// Every page starts write-protected so the first write is seen.
		if err := ufOf().WriteProtect(uintptr(m.Addr), uintptr(m.Length), uffd.WriteProtectModeWP); err != nil {
			return fail(errf(zx.ErrInvalidArgs, "[%#x, %#x) is not registered for write-protect on the userfaultfd: %v", m.Addr, m.Addr+m.Length, err))
		}
	}
	mp := &mapping{c: c, v: v, vmoID: m.VMOID, addr: m.Addr, length: m.Length, off: m.VMOOffset, writable: writable}
	v.addMapping(mp)
	c.mu.Lock()
	if outer != nil && c.byID[outer.id] != outer {
		// outer went while the piece was being protected: count it now.
		c.mappedBytes += m.Length
		charge = m.Length
	} else {
		mp.outer = outer
	}
	if c.vmos == nil {
		c.mu.Unlock()
		v.removeMapping(mp)
		return fail(errStopping)
	}
	c.nextMapID++
	mp.id = c.nextMapID
	c.byID[mp.id] = mp
	c.publishLocked()
	c.mu.Unlock()
	if uf != nil {
		c.uf = uf
		s.slots[c.slot].Store(c)
		c.armMu.Lock()
		err := s.watch(c)
		c.armMu.Unlock()
		if err != nil {
			return nil, fatalError{errf(zx.ErrInternal, "epoll_ctl add userfaultfd: %v", err)}
		}
	}
	return &proto.MappingRegistered{ReqID: proto.ReqID(m.RequestID()), MappingID: mp.id}, nil
}

// statusReply answers Status.
func (s *Server) statusReply(c *client, id proto.ReqID) *proto.StatusReply {
	s.mu.Lock()
	nc, nv := len(s.clients), len(s.vmos)
	s.mu.Unlock()
	var dirty uint64
	for _, v := range s.sortedVMOs() {
		dirty += v.stats().dirty * pageSize
	}
	desc := s.cfg.StoreDesc
	if len(desc) > proto.MaxStoreText {
		desc = desc[:proto.MaxStoreText]
	}
	return &proto.StatusReply{ReqID: id, PID: int32(os.Getpid()), StartTime: uint64(s.start.UnixNano()),
		Version: c.version, Clients: uint32(nc), VMOs: uint32(nv), DirtyBytes: dirty, Store: desc}
}

func (s *Server) clientList(id proto.ReqID, start uint32) *proto.ClientList {
	s.mu.Lock()
	cs := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	sortClients(cs)
	r := &proto.ClientList{ReqID: id, Total: uint32(len(cs))}
	for i := int(start); i < len(cs) && len(r.Clients) < proto.MaxListEntries; i++ {
		c := cs[i]
		c.mu.Lock()
		info := proto.ClientInfo{ID: c.id, PID: c.cred.PID, UID: c.cred.UID, GID: c.cred.GID,
			VMOs: uint32(len(c.vmos)), Mappings: uint32(len(c.byID)), MappedBytes: c.mappedBytes,
			Outstanding: uint32(max(0, c.outstanding.Load())), Faults: c.faults.Load(), Supplied: c.supplied.Load(),
			Connected: uint64(c.since.UnixNano())}
		c.mu.Unlock()
		r.Clients = append(r.Clients, info)
	}
	return r
}

func sortClients(cs []*client) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
}

func (s *Server) vmoList(id proto.ReqID, start uint32) *proto.VMOList {
	vs := s.sortedVMOs()
	s.mu.Lock()
	refs := make([]int, len(vs))
	for i, v := range vs {
		refs[i] = v.refs
	}
	s.mu.Unlock()
	r := &proto.VMOList{ReqID: id, Total: uint32(len(vs))}
	for i := int(start); i < len(vs) && len(r.VMOs) < proto.MaxListEntries; i++ {
		v := vs[i]
		st := v.stats()
		var flags uint32
		if v.readOnly {
			flags = proto.OpenReadOnly
		}
		r.VMOs = append(r.VMOs, proto.VMOInfo{Size: v.size, CommittedBytes: st.present * pageSize,
			DirtyBytes: st.dirty * pageSize, ReadFaults: v.readFaults.Load(), WriteFaults: v.writeFaults.Load(),
			SuppliedBytes: v.supplied.Load(), Clients: uint32(refs[i]), Mappings: uint32(st.mappings),
			Flags: flags, Name: v.name})
	}
	return r
}
