package server

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagerd/pagerd/metrics"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/readahead"
	"github.com/pagerd/pagerd/uffd"
)

// client is one connection.
type client struct {
	s       *Server
	id      uint64
	slot    int32  // index in s.slots
	gen     uint32 // s.slots generation, carried in epoll data
	conn    *proto.Conn
	cred    proto.Cred
	version uint16
	since   time.Time
	m       *metrics.ClientMetrics
	label   string

	// refs keeps uf open: the connection holds one, every fault job one.
	refs atomic.Int64
	uf   *uffd.UFFD // nil until the first RegisterMapping carries it

	outstanding atomic.Int32 // faults read from uf and not yet resolved
	throttled   atomic.Bool  // uf is out of the epoll sets (outstanding hit the limit); changed under armMu
	armMu       sync.Mutex   // orders watch/unwatch of uf with throttled and multi
	multi       atomic.Bool  // several of its threads fault: every loop watches uf (see watch); changed under armMu
	lastTid     atomic.Uint32
	tidChanges  atomic.Int32 // faults from another thread than the previous fault's, since the last long streak
	tidStreak   atomic.Int32 // faults in a row from one thread
	dead        atomic.Bool  // the connection is being torn down
	unregGen    atomic.Uint64
	faults      atomic.Uint64
	supplied    atomic.Uint64

	maps atomic.Pointer[[]*mapping] // sorted by addr; replaced on change under mu

	mu          sync.Mutex // the fields below and replacing maps
	vmos        map[uint64]*handle
	nextVMOID   uint64
	nextMapID   uint64
	mappedBytes uint64
	byID        map[uint64]*mapping
}

// mapping is a client's registered mapping of a VMO.
type mapping struct {
	id       uint64
	c        *client
	v        *sharedVMO
	vmoID    uint64
	addr     uint64 // in the client's address space
	length   uint64
	off      uint64 // offset in the VMO
	writable bool
	outer    *mapping // a split's old mapping this piece lies in (its bytes are not counted); under c.mu

	ra readahead.Tracker // under v.mu
}

// lookup finds the mapping holding addr, without locks. Mappings are
// disjoint except while a client splits one (a partial unmap, see
// acceptsLocked): then the pieces are registered inside the old mapping
// before it goes. The table is sorted by start, outer mapping first, so the
// last mapping starting at or below addr holds it in every ordinary case;
// otherwise an enclosing one is found walking back (only during a split,
// or for an address no mapping holds).
func (c *client) lookup(addr uint64) *mapping {
	mp := c.maps.Load()
	if mp == nil {
		return nil
	}
	ms := *mp
	i := sort.Search(len(ms), func(i int) bool { return ms[i].addr > addr })
	for i--; i >= 0; i-- {
		if addr < ms[i].addr+ms[i].length {
			return ms[i]
		}
	}
	return nil
}

// acceptsLocked reports whether [addr, addr+length) of VMO vmoID at VMO
// offset off may be registered: it overlaps no mapping, or it lies wholly
// inside every mapping it overlaps, of the same VMO at the same offsets and
// with the same writability. The second case is a client splitting a
// mapping (zx_vmar_unmap of part of it): it registers each remaining piece
// before it unregisters the old mapping, so that no fault in a piece ever
// finds no mapping. outer is then the mapping the piece lies in whose bytes
// are counted in mappedBytes (the piece's are not, until outer goes: a
// split never needs more of the limit than the mapping it splits). c.mu is
// held.
func (c *client) acceptsLocked(addr, length, vmoID, off uint64, writable bool) (ok bool, outer *mapping) {
	for _, m := range c.byID {
		if addr >= m.addr+m.length || m.addr >= addr+length {
			continue
		}
		inside := m.addr <= addr && addr+length <= m.addr+m.length
		if !inside || m.vmoID != vmoID || m.off+(addr-m.addr) != off || m.writable != writable {
			return false, nil
		}
		switch {
		case m.outer == nil:
			outer = m
		case outer == nil:
			outer = m.outer
		}
	}
	return true, outer
}

// unregisterLocked forgets mp: its bytes leave mappedBytes (if counted), and
// the pieces registered inside it are counted from now on. c.mu is held.
func (c *client) unregisterLocked(mp *mapping) {
	delete(c.byID, mp.id)
	if mp.outer == nil {
		c.mappedBytes -= mp.length
	}
	for _, x := range c.byID {
		if x.outer == mp {
			x.outer = nil
			c.mappedBytes += x.length
		}
	}
}

// publishLocked rebuilds the sorted lookup table from byID; c.mu is held.
func (c *client) publishLocked() {
	ms := make([]*mapping, 0, len(c.byID))
	for _, m := range c.byID {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].addr != ms[j].addr {
			return ms[i].addr < ms[j].addr
		}
		return ms[i].length > ms[j].length // an enclosing mapping first
	})
	c.maps.Store(&ms)
}

// acquire takes a reference that keeps c.uf open.
func (c *client) acquire() { c.refs.Add(1) }

// tryAcquire takes a reference unless the uffd is already closed.
func (c *client) tryAcquire() bool {
	for {
		n := c.refs.Load()
		if n <= 0 {
			return false
		}
		if c.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the uffd.
func (c *client) release() {
	if c.refs.Add(-1) == 0 && c.uf != nil {
		c.uf.Close()
	}
}
