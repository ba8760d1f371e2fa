package pager

import (
	"sort"

	"github.com/pagerd/pagerd/zx"
)

// reqKind is the kind of a page request: Zircon's page_request_type.
type reqKind uint8

const (
	kindRead  reqKind = iota // ZX_PAGER_VMO_READ
	kindDirty                // ZX_PAGER_VMO_DIRTY
	numKinds
)

func (k reqKind) command() uint16 {
	if k == kindDirty {
		return zx.PagerVMODirty
	}
	return zx.PagerVMORead
}

// reqPlace says where a request stands with the port (PagerProxy's view).
type reqPlace uint8

const (
	placeNone   reqPlace = iota // not with the proxy (completed, or never sent)
	placeFIFO                   // waiting for the VMO's packet slot
	placeQueued                 // its packet is in the port, unread
	placeSent                   // the pager has read its packet
)

// waiter is one blocked operation that does not fault: zx_vmo_read,
// zx_vmo_write, COMMIT. It waits on one request at a time; it is woken early
// when the page it needs next is supplied, and for good when the request
// completes, fails, or the VMO is detached or closed.
type waiter struct {
	req    *request
	need   uint64 // the page it needs next
	status zx.Status
	ch     chan struct{} // capacity 1: a pending wake-up
}

func newWaiter() *waiter { return &waiter{ch: make(chan struct{}, 1)} }

func (w *waiter) wake(st zx.Status) {
	w.status = st
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// mappedWaiter is a thread blocked in a userfaultfd fault on one page of one
// mapping; it is woken with UFFDIO_WAKE, or killed with UFFDIO_POISON.
type mappedWaiter struct {
	m    *mapping
	page uint64  // VMO page index
	addr uintptr // page-aligned fault address
	tid  uint32  // faulting thread (UFFD_FEATURE_THREAD_ID)
}

// request is an outstanding page request: Zircon's PageRequest as kept in
// PageSource::outstanding_requests_, with its overlap list folded into the
// waiter lists. Pages are page indexes; [off, end) never overlaps another
// outstanding request of the same kind on the same VMO.
type request struct {
	kind    reqKind
	off     uint64
	end     uint64
	pending uint64 // pages not yet resolved (completion is by page count)
	wake    uint64 // the request's next needed page (for the failure rule of spec §3.4)
	place   reqPlace
	primary *waiter // the explicit waiter that created the request, if it still waits
	waiters []*waiter
	mapped  []mappedWaiter
}

// tracker holds the outstanding requests of one VMO, sorted by offset, per
// kind. Requests are recycled through a free list so the fault path does not
// allocate in the steady state. Guarded by the VMO's lock.
type tracker struct {
	reqs [numKinds][]*request
	free []*request
}

// find returns the outstanding request of kind k containing page pg.
func (t *tracker) find(k reqKind, pg uint64) *request {
	rs := t.reqs[k]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].end > pg })
	if i < len(rs) && rs[i].off <= pg {
		return rs[i]
	}
	return nil
}

// nextStart returns the offset of the first outstanding request of kind k
// starting after pg, or limit.
func (t *tracker) nextStart(k reqKind, pg, limit uint64) uint64 {
	rs := t.reqs[k]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].off > pg })
	if i < len(rs) && rs[i].off < limit {
		return rs[i].off
	}
	return limit
}

// lookupOrCreate implements PageSource::PopulateRequestLocked and
// SendRequestToProviderLocked: if an outstanding request contains off the
// caller piggybacks on it (no new packet); otherwise a new request
// [off, end) is made, truncated where the next outstanding request begins.
// created says whether the caller must send it.
func (t *tracker) lookupOrCreate(k reqKind, off, end uint64) (r *request, created bool) {
	if r := t.find(k, off); r != nil {
		return r, false
	}
	end = t.nextStart(k, off, end)
	if n := len(t.free); n > 0 {
		r = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		r = &request{}
	}
	r.kind, r.off, r.end, r.pending, r.wake, r.place, r.primary = k, off, end, end-off, off, placeNone, nil
	rs := t.reqs[k]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].off > off })
	rs = append(rs, nil)
	copy(rs[i+1:], rs[i:])
	rs[i] = r
	t.reqs[k] = rs
	return r, true
}

// remove takes r out of the outstanding set (it stays allocated until recycle).
func (t *tracker) remove(r *request) {
	rs := t.reqs[r.kind]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].off >= r.off })
	if i < len(rs) && rs[i] == r {
		copy(rs[i:], rs[i+1:])
		rs[len(rs)-1] = nil
		t.reqs[r.kind] = rs[:len(rs)-1]
	}
}

// recycle returns a finished request to the free list.
func (t *tracker) recycle(r *request) {
	clear(r.waiters)
	r.waiters = r.waiters[:0]
	clear(r.mapped)
	r.mapped = r.mapped[:0]
	r.place = placeNone
	r.primary = nil
	t.free = append(t.free, r)
}

// overlapping calls fn for each outstanding request of kind k overlapping
// [off, end), in order. fn may remove the request it is given.
func (t *tracker) overlapping(k reqKind, off, end uint64, fn func(r *request)) {
	rs := t.reqs[k]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].end > off })
	// Collect first: fn may remove entries and shift the slice.
	var buf [8]*request
	hits := buf[:0]
	for ; i < len(rs) && rs[i].off < end; i++ {
		hits = append(hits, rs[i])
	}
	for _, r := range hits {
		fn(r)
	}
}

// all returns every outstanding request of every kind (for detach and close).
func (t *tracker) all() []*request {
	var out []*request
	for k := range t.reqs {
		out = append(out, t.reqs[k]...)
	}
	return out
}
