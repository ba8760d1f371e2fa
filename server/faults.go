package server

import (
	"errors"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/metrics"
	"github.com/pagerd/pagerd/uffd"
)

// Sizes of the pieces a fault's run of pages is cut into (see doc.go, "The
// fault path").
const (
	// headPages bounds the head of a run: the pages supplied before the
	// faulting thread is woken.
	headPages = 16
	// chunkPages bounds one background fill: the rest of a run is fetched
	// in fills of at most this many pages, spread over the workers.
	chunkPages = 64
	// fillQueue is the depth of the background fill queue: 64 streams
	// of maxPieces pieces each, 16 times over.
	fillQueue = 16 * 64 * maxPieces
)

// job is one page fault read from a client's uffd, or (f != nil) a fill to
// run.
type job struct {
	c     *client
	addr  uint64
	flags uffd.PagefaultFlags
	t     time.Duration // when it was read, since s.epoch
	gen   uint64        // c.unregGen when it was read

	v *sharedVMO // a fill job: the VMO
	f *fill      // a fill job: the fill (c is nil)
}

// worker is one goroutine of the fault pool (or the epoll loop) with its
// store buffer.
type worker struct {
	buf  []byte // chunkPages pages, anonymous memory outside the Go heap
	loop bool   // a fault loop's (it must not block), not a worker goroutine's
}

// Thresholds of the per-client choice between one loop and all loops
// (see watch).
const (
	// multiAfter: this many faults from a thread other than the previous
	// fault's, with no streak of streakSingle faults from one thread in
	// between, and every loop watches the client.
	multiAfter = 8
	// streakSingle faults in a row from one thread and only the client's
	// own loop watches it again.
	streakSingle = 256
)

// watch puts c's uffd into the epoll sets. A client whose faults come from
// one thread is watched by one loop only (its slot's): a fault then always
// wakes the same thread, which may well be on the faulter's vCPU and, when
// it is, never has to wake the other (an idle vCPU halts, and waking it
// costs tens of µs here). A client with several faulting threads (multi)
// is in every loop's set with EPOLLEXCLUSIVE, its own loop's first: a
// fault wakes the first of them waiting in epoll_wait, so its faults are
// served in parallel while one loop is busy. c.armMu is held, or c is not
// yet visible to the loops.
func (s *Server) watch(c *client) error {
	first := int(c.slot) % len(s.eps)
	if !c.multi.Load() {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: c.slot, Pad: int32(c.gen)}
		return unix.EpollCtl(s.eps[first], unix.EPOLL_CTL_ADD, c.uf.Fd(), &ev)
	}
	for i := range s.eps {
		ep := s.eps[(first+i)%len(s.eps)]
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: c.slot, Pad: int32(c.gen)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, c.uf.Fd(), &ev); err != nil {
			return err
		}
	}
	return nil
}

// unwatch takes c's uffd out of every epoll set.
func (s *Server) unwatch(c *client) {
	for _, ep := range s.eps {
		unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, c.uf.Fd(), nil)
	}
}

// noteThread records that thread tid of c faulted, and moves c between
// one loop and all loops (see watch) when its faults show one or several
// faulting threads. tid 0 (the client did not ask for thread ids) keeps c
// on one loop.
func (s *Server) noteThread(c *client, tid uint32) {
	if tid == 0 || len(s.eps) == 1 {
		return
	}
	if c.lastTid.Swap(tid) != tid {
		c.tidStreak.Store(0)
		if c.tidChanges.Add(1) == multiAfter && !c.multi.Load() {
			s.setMulti(c, true)
		}
		return
	}
	if c.tidStreak.Add(1) == streakSingle {
		c.tidChanges.Store(0)
		if c.multi.Load() {
			s.setMulti(c, false)
		}
	}
}

// setMulti changes how c is watched (see watch).
func (s *Server) setMulti(c *client, multi bool) {
	c.armMu.Lock()
	defer c.armMu.Unlock()
	if c.multi.Load() == multi {
		return
	}
	if c.throttled.Load() || c.dead.Load() {
		c.multi.Store(multi) // watch will use it
		return
	}
	s.unwatch(c)
	c.multi.Store(multi)
	if err := s.watch(c); err != nil {
		// Fall back to the client's own loop, which cannot fail
		// where this did not before.
		s.unwatch(c)
		c.multi.Store(false)
		s.watch(c)
	}
}

// loop is one of the fault loops (epoll set ep): it waits in epoll_wait
// (a system call, so it holds no P while idle) for a ready client uffd and
// drains it.
func (s *Server) loop(ep int, lw *worker) {
	defer s.loopWG.Done()
	evs := make([]unix.EpollEvent, 16)
	msgs := make([]uffd.Msg, 1)
	for {
		n, err := unix.EpollWait(ep, evs, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			s.log.Error("epoll_wait failed; fault loop stops", zap.Error(err))
			return
		}
		for i := 0; i < n; i++ {
			ev := &evs[i]
			if ev.Fd < 0 {
				// Only stop writes the eventfd; it stays readable
				// so that every loop sees it.
				if s.stopping.Load() {
					return
				}
				continue
			}
			c := s.slots[ev.Fd].Load()
			if c == nil || c.gen != uint32(ev.Pad) || c.dead.Load() || !c.tryAcquire() {
				continue
			}
			s.drain(lw, c, msgs)
			c.release()
		}
	}
}

// drain reads c's queued faults one at a time (so that another loop woken
// meanwhile can take the next), at most up to its outstanding limit, and
// serves each one on this thread when that cannot block (serveInline),
// otherwise hands it to the workers.
//
// The uffd's O_NONBLOCK lives in the open file the client shares: a client
// that clears it would make a read of an empty queue block this loop. So a
// read is only issued after a poll with no wait says the uffd is readable
// (epoll's word is not enough: it may report a uffd whose message another
// loop took). The poll replaces the read that would have returned EAGAIN at
// the end of a drain. The kernel answers the poll of a uffd without
// O_NONBLOCK (or one never initialised) with POLLERR: such a client is
// dropped.
func (s *Server) drain(lw *worker, c *client, msgs []uffd.Msg) {
	for {
		if c.outstanding.Load() >= int32(s.cfg.Limits.MaxOutstanding) {
			s.throttle(c)
			return
		}
		switch readable(c.uf.Fd()) {
		case pollEmpty:
			return
		case pollBad:
			s.unwatch(c)
			s.kick(c, "its userfaultfd is not non-blocking (it cleared O_NONBLOCK) or not initialised")
			return
		}
		n, err := c.uf.Read(msgs[:1])
		if err != nil {
			// The uffd is unusable (it cannot be EOF while we hold it).
			// Stop watching it; the connection's end cleans up.
			s.unwatch(c)
			s.log.Warn("reading client uffd failed", zap.Uint64("client", c.id), zap.Error(err))
			s.kick(c, "its userfaultfd cannot be read")
			return
		}
		if n == 0 {
			return
		}
		if msgs[0].Event() != uffd.EventPagefault {
			continue // we never ask for other events; ignore
		}
		flags, addr, tid := msgs[0].Pagefault()
		s.noteThread(c, tid)
		c.outstanding.Add(1)
		c.acquire()
		s.m.AddPending(1)
		j := job{c: c, addr: addr, flags: flags, t: time.Since(s.epoch), gen: c.unregGen.Load()}
		if !s.serveInline(lw, &j) {
			s.jobs <- j
		}
	}
}

// Results of readable.
const (
	pollReady = iota // a read will not block (or poll failed: the read reports it)
	pollEmpty        // nothing to read
	pollBad          // POLLERR: the uffd is blocking or not initialised
)

// readable polls a client's uffd without waiting.
func readable(fd int) int {
	for {
		pfd := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd[:], 0)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return pollReady
		case n == 0:
			return pollEmpty
		case pfd[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0:
			return pollBad
		}
		return pollReady
	}
}

// throttle takes c's uffd out of the epoll sets while it has the most
// faults in flight it may have; complete puts it back.
func (s *Server) throttle(c *client) {
	c.armMu.Lock()
	defer c.armMu.Unlock()
	if c.throttled.Load() || c.dead.Load() {
		return
	}
	s.unwatch(c)
	c.throttled.Store(true)
	// A fault may have completed before the flag was set.
	if c.outstanding.Load() < int32(s.cfg.Limits.MaxOutstanding) {
		s.watch(c)
		c.throttled.Store(false)
	}
}

// unthrottle puts a throttled c's uffd back into the epoll sets.
func (s *Server) unthrottle(c *client) {
	c.armMu.Lock()
	defer c.armMu.Unlock()
	if !c.throttled.Load() || c.dead.Load() {
		return
	}
	s.watch(c)
	c.throttled.Store(false)
}

// complete finishes one fault of j.c: metrics, the outstanding count (which
// may let the loop read more of its faults) and the job's reference.
func (s *Server) complete(j *job, k metrics.Kind) {
	c := j.c
	s.m.Fault(k, time.Since(s.epoch)-j.t)
	s.m.AddPending(-1)
	c.m.Fault(k)
	c.faults.Add(1)
	if c.outstanding.Add(-1) < int32(s.cfg.Limits.MaxOutstanding) && c.throttled.Load() {
		s.unthrottle(c)
	}
	c.release()
}

// work runs one worker until the job channel closes. Faults (and head
// fills the loop could not serve) come first; background fills when there
// is no fault waiting.
func (s *Server) work(w *worker) {
	defer s.wg.Done()
	for {
		var j job
		var ok bool
		select {
		case j, ok = <-s.jobs:
		default:
			select {
			case j, ok = <-s.jobs:
			case j = <-s.fills:
				ok = true
			}
		}
		if !ok {
			for {
				select {
				case j := <-s.fills:
					s.runFill(w, j.v, j.f)
				default:
					return
				}
			}
		}
		if j.f != nil {
			s.runFill(w, j.v, j.f)
			continue
		}
		s.handle(w, &j)
	}
}

// serveInline serves j on the epoll loop's thread if that cannot block:
// a write-protect fault, or a missing page whose store bytes are in the
// page cache. It returns false, having changed nothing, when j must go to
// a worker: a fault outside every mapping (it may end the client's
// connection), a VMO whose lock is held (a write-back may hold it a
// while), a store that is not a local file.
func (s *Server) serveInline(lw *worker, j *job) bool {
	c := j.c
	page := j.addr &^ (pageSize - 1)
	m := c.lookup(page)
	if m == nil {
		return false
	}
	p := (m.off + page - m.addr) / pageSize
	if j.flags.Has(uffd.PagefaultFlagWP) {
		if !m.v.mu.TryLock() {
			return false
		}
		s.dirtyFaultLocked(j, m, page, p)
		return true
	}
	if m.v.local == nil || !m.v.mu.TryLock() {
		return false
	}
	s.missingFaultLocked(lw, j, m, page, p, true)
	return true
}

func (s *Server) handle(w *worker, j *job) {
	c := j.c
	page := j.addr &^ (pageSize - 1)
	m := c.lookup(page)
	if m == nil {
		if j.gen == c.unregGen.Load() && !c.dead.Load() {
			// Not a fault that raced with an unregistration: the client
			// registered this range with its uffd but never with us.
			s.log.Warn("client faulted outside its registered mappings", zap.Uint64("client", c.id),
				zap.Uint64("addr", j.addr))
			s.failPage(c, nil, page)
			s.kick(c, "it faulted outside every mapping it registered")
		} else {
			c.uf.Wake(uintptr(page), pageSize)
		}
		s.complete(j, metrics.KindRead)
		return
	}
	p := (m.off + page - m.addr) / pageSize
	if j.flags.Has(uffd.PagefaultFlagWP) {
		m.v.mu.Lock()
		s.dirtyFaultLocked(j, m, page, p)
		return
	}
	m.v.mu.Lock()
	s.missingFaultLocked(w, j, m, page, p, false)
}

// dirtyFaultLocked handles the first write to a write-protected page: the
// page becomes dirty and the protection in this mapping is lifted, waking
// the writer. Both happen under v.mu (held on entry, released on return)
// so that a write-back cannot re-protect in between and lose the write.
func (s *Server) dirtyFaultLocked(j *job, m *mapping, page, p uint64) {
	v := m.v
	v.writeFaults.Add(1)
	if v.state[p]&pgPresent != 0 {
		v.markDirtyLocked(p)
	}
	err := j.c.uf.WriteProtect(uintptr(page), pageSize, 0)
	v.mu.Unlock()
	if err != nil && !clientGone(err) {
		s.log.Warn("lifting write protection failed", zap.Uint64("client", j.c.id), zap.Uint64("addr", page), zap.Error(err))
	}
	s.complete(j, metrics.KindDirty)
}

func isWrite(j *job) bool { return j.flags.Has(uffd.PagefaultFlagWrite) }

func kindOf(j *job) metrics.Kind {
	if isWrite(j) {
		return metrics.KindWrite
	}
	return metrics.KindRead
}

// missingFaultLocked handles a fault on a page the mapping does not have;
// v.mu is held on entry and released before the slow work. It asks the
// mapping's read-ahead tracker for the run to fetch (twice the window once
// the stream is sequential: the next window is fetched while the client
// reads this one), claims the run's absent pages, fetches the head of the
// run (at most headPages, from the faulting page on), wakes the faulter,
// and leaves the rest of the run to background fills on the workers.
// inline (the epoll loop's thread) says the head must be read without
// waiting for storage: if its bytes are not in the page cache, the head
// goes to a worker as a fill job.
func (s *Server) missingFaultLocked(w *worker, j *job, m *mapping, page, p uint64, inline bool) {
	v := m.v
	if isWrite(j) {
		v.writeFaults.Add(1)
	} else {
		v.readFaults.Add(1)
	}
	st := v.state[p]
	switch {
	case v.closed:
		// The mapping went away with the last client (a stale fault).
		v.mu.Unlock()
		j.c.uf.Wake(uintptr(page), pageSize)
		s.complete(j, kindOf(j))
		return
	case st&pgPresent != 0:
		// A fetch landed after this fault was queued.
		s.resolveLocked(j, m, page, p)
		v.mu.Unlock()
		s.wakeAfter(j, m, page)
		return
	case st&pgFetching != 0:
		f := v.fillFor(p)
		f.waiters = append(f.waiters, waiter{j: *j, m: m})
		// The reader caught up with its read-ahead: fetch the
		// stream's next window now (readahead.Tracker.Ahead).
		var ahead [maxPieces]*fill
		na := 0
		if start, n := m.ra.Ahead(&s.cfg.Readahead, p); n > 0 && start < uint64(len(v.state)) {
			if k := v.claimLocked(start, min(n, s.maxRun)); k > 0 {
				m.ra.Extended(start, k)
				na = v.newPiecesLocked(start, k, j.c, &ahead)
				s.m.Prefetched(int(k))
			}
		}
		v.mu.Unlock()
		for _, f := range ahead[:na] {
			s.queueFill(w, v, f)
		}
		return
	}
	n, hits := m.ra.Window(&s.cfg.Readahead, p)
	n = min(n, s.maxRun)
	if hits > 0 {
		n *= 2 // a sequential stream: this window and the next
	}
	k := v.claimLocked(p, n)
	m.ra.Fetched(p, k)
	h := min(k, headPages)
	head := v.newFillLocked(p, h, j.c)
	head.waiters = append(head.waiters, waiter{j: *j, m: m})
	var tail [maxPieces]*fill
	nt := 0
	if k > h {
		nt = v.newPiecesLocked(p+h, k-h, j.c, &tail)
	}
	v.mu.Unlock()
	if hits > 0 {
		s.m.PrefetchHits(int(hits))
	}
	if k > 1 {
		s.m.Prefetched(int(k - 1))
	}
	if inline {
		if !s.fetchNoWait(w, v, head) {
			s.jobs <- job{v: v, f: head}
		}
	} else {
		s.fetch(w, v, head)
	}
	for _, f := range tail[:nt] {
		s.queueFill(w, v, f)
	}
}

// resolveLocked prepares the wake of a waiter whose page is present: a
// write to a writable mapping marks the page dirty and lifts protection
// (which wakes); v.mu is held.
func (s *Server) resolveLocked(j *job, m *mapping, page, p uint64) {
	if isWrite(j) && m.writable {
		m.v.markDirtyLocked(p)
		if err := j.c.uf.WriteProtect(uintptr(page), pageSize, 0); err != nil && !clientGone(err) {
			s.log.Warn("lifting write protection failed", zap.Uint64("client", j.c.id), zap.Error(err))
		}
	}
}

// wakeAfter wakes the faulting thread (unless resolveLocked already did)
// and completes the fault.
func (s *Server) wakeAfter(j *job, m *mapping, page uint64) {
	if !(isWrite(j) && m.writable) {
		j.c.uf.Wake(uintptr(page), pageSize)
	}
	s.complete(j, kindOf(j))
}

// queueFill hands f to the workers on the fill queue. When that is full, a
// worker runs f itself (no worker ever blocks on a queue) and a fault loop
// tries the job queue (workers run a job carrying a fill as a fill; the
// loops stop before it closes) before running f as a last resort; the fill
// queue is deep enough (fillQueue) that a loop does not get there in
// practice.
func (s *Server) queueFill(w *worker, v *sharedVMO, f *fill) {
	select {
	case s.fills <- job{v: v, f: f}:
		return
	default:
	}
	if w.loop {
		select {
		case s.jobs <- job{v: v, f: f}:
			return
		default:
		}
	}
	s.runFill(w, v, f)
}

// runFill fetches f in pieces of at most chunkPages: each time it splits
// the first piece off, offers the rest to the other workers and fetches
// the piece; if nobody can take the rest (the queue is full, or pagerd is
// stopping), it goes on with it itself.
func (s *Server) runFill(w *worker, v *sharedVMO, f *fill) {
	for f != nil {
		var rest *fill
		if f.n > chunkPages {
			v.mu.Lock()
			rest = v.splitLocked(f, chunkPages)
			v.mu.Unlock()
			if !s.stopping.Load() {
				select {
				case s.fills <- job{v: v, f: rest}:
					rest = nil
				default:
				}
			}
		}
		s.fetch(w, v, f)
		f = rest
	}
}

// fetchNoWait fetches the fill on the epoll loop's thread if the store has
// its bytes in the page cache (a local file read with RWF_NOWAIT) and
// reports whether it did; if not, nothing happened and f is still to be
// fetched.
func (s *Server) fetchNoWait(w *worker, v *sharedVMO, f *fill) bool {
	length := f.n * pageSize
	buf := w.buf[:length]
	if err := v.readNoWait(buf, f.start*pageSize); err != nil {
		return false
	}
	landed, err := s.copyIn(v, f.start*pageSize, uintptr(unsafe.Pointer(unsafe.SliceData(buf))), length)
	s.land(v, f, landed, err)
	return true
}

// fetch reads the fill's pages from the store and copies them into the
// supply window with UFFDIO_COPY — straight from the mapping of the store
// file when there is one (one copy), else through the worker's buffer —
// and lands them (land).
func (s *Server) fetch(w *worker, v *sharedVMO, f *fill) {
	off, length := f.start*pageSize, f.n*pageSize
	var landed uint64
	var err error
	if v.src != 0 && off+length <= v.srcLen {
		// Copy from the mapping only where the file still holds the
		// bytes (it holds v.content unless truncated behind the
		// store's back: then the pread path below reports the short
		// file instead of the kernel copying zeros).
		fsize, rerr := v.local.Readable()
		if rerr == nil && fsize >= min(off+length, v.content) {
			landed, err = s.copyIn(v, off, v.src+uintptr(off), length)
			if errors.Is(err, unix.EFAULT) {
				// Truncated since the fstat: the kernel's read of
				// the mapping failed where a Go read would have
				// raised SIGBUS. The pread path reports it.
				err = nil
			}
			if err != nil || landed == length {
				s.land(v, f, landed, err)
				return
			}
		}
	}
	buf := w.buf[landed:length]
	got, err := v.read(buf, off+landed)
	// Supply the whole pages the store gave even if it failed after
	// them: only the pages it could not give fail.
	if got = got &^ (pageSize - 1); got > 0 {
		more, cerr := s.copyIn(v, off+landed, uintptr(unsafe.Pointer(unsafe.SliceData(buf))), got)
		landed += more
		if cerr != nil {
			err = cerr
		}
	}
	s.land(v, f, landed, err)
}

// land ends the fill: the first landed bytes of it are present, and every
// waiter is woken: the ones whose page landed retry and find it; the
// others (a store error) get their page poisoned.
func (s *Server) land(v *sharedVMO, f *fill, landed uint64, err error) {
	length := f.n * pageSize
	if err != nil {
		s.log.Warn("cannot supply pages", zap.String("vmo", v.name), zap.Uint64("offset", f.start*pageSize+landed),
			zap.Uint64("length", length-landed), zap.Error(err))
	}
	landedPages := landed / pageSize
	s.m.Supplied(int(landedPages))
	v.supplied.Add(landed)
	if c := f.owner; c != nil {
		c.supplied.Add(landed)
		c.m.Supplied(int(landed))
	}

	v.mu.Lock()
	for q := f.start; q < f.start+f.n; q++ {
		st := v.state[q] &^ pgFetching
		if q < f.start+landedPages && st&pgPresent == 0 {
			st |= pgPresent
			v.present++
		}
		v.state[q] = st
	}
	v.removeFillLocked(f)
	waiters := f.waiters
	for i := range waiters {
		wt := &waiters[i]
		wp := (wt.m.off + (wt.j.addr &^ (pageSize - 1)) - wt.m.addr) / pageSize
		if wp < f.start+landedPages {
			s.resolveLocked(&wt.j, wt.m, wt.j.addr&^(pageSize-1), wp)
		}
	}
	v.mu.Unlock()

	for i := range waiters {
		wt := &waiters[i]
		page := wt.j.addr &^ (pageSize - 1)
		wp := (wt.m.off + page - wt.m.addr) / pageSize
		if wp < f.start+landedPages {
			s.wakeAfter(&wt.j, wt.m, page)
			continue
		}
		s.failPage(wt.j.c, wt.m, page)
		s.complete(&wt.j, kindOf(&wt.j))
	}
	v.freeFill(f)
}

// copyIn copies length bytes at src into the supply window at VMO offset
// off with UFFDIO_COPY (DONTWAKE: nobody waits on the window). The kernel
// reads src: a fault there (a store mapping beyond the file's end) is an
// EFAULT, never a signal. A page that is already present is skipped,
// never replaced. It returns how many bytes from off are present
// afterwards.
func (s *Server) copyIn(v *sharedVMO, off uint64, src uintptr, length uint64) (uint64, error) {
	done := uint64(0)
	retries := 0
	for done < length {
		n, err := s.win.Copy(v.window+uintptr(off+done), src+uintptr(done), uintptr(length-done), uffd.CopyModeDontWake)
		done += uint64(n)
		switch {
		case err == nil:
		case errors.Is(err, unix.EEXIST):
			// The page at done is present: skip it, Zircon never
			// replaces a present page.
			done += pageSize
		case errors.Is(err, unix.EAGAIN) && n > 0:
			// A partial copy stopped at a present page; the next call
			// reports it as EEXIST.
		case errors.Is(err, unix.EAGAIN) && retries < 100:
			retries++
		default:
			return done, err
		}
	}
	return done, nil
}

// failPage answers a fault that cannot be served: the page is poisoned in
// that mapping so the access raises SIGBUS, never reads zeros. A writable
// mapping's write-protect marker must go first (POISON needs an empty PTE).
func (s *Server) failPage(c *client, m *mapping, page uint64) {
	s.m.FaultFailed()
	if m != nil && m.writable {
		c.uf.WriteProtect(uintptr(page), pageSize, uffd.WriteProtectModeDontWake)
	}
	if _, err := c.uf.Poison(uintptr(page), pageSize, 0); err != nil {
		c.uf.Wake(uintptr(page), pageSize)
	}
}

// clientGone reports whether err means the client's process is gone or its
// mapping changed under us (the uffd's mm exited or the range is no longer
// registered): normal life, not worth a log line.
func clientGone(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.ENOENT)
}

// newFillLocked starts a fill of [p, p+n) for client owner (who is
// credited with the pages); v.mu is held.
func (v *sharedVMO) newFillLocked(p, n uint64, owner *client) *fill {
	var f *fill
	if k := len(v.freeFills); k > 0 {
		f = v.freeFills[k-1]
		v.freeFills = v.freeFills[:k-1]
	} else {
		f = new(fill)
	}
	f.start, f.n, f.owner = p, n, owner
	v.fills = append(v.fills, f)
	return f
}

// maxPieces bounds the fills a run is cut into when it is claimed; a
// longer run's last piece is cut further as it is fetched (runFill).
const maxPieces = 16

// newPiecesLocked starts fills for [p, p+n) in pieces of chunkPages (the
// last piece takes what is left after maxPieces-1), in order, so that the
// workers, taking fills first come first served, fetch a run from its
// start; v.mu is held. It returns how many it put in out.
func (v *sharedVMO) newPiecesLocked(p, n uint64, owner *client, out *[maxPieces]*fill) int {
	i := 0
	for n > 0 {
		k := min(n, chunkPages)
		if i == maxPieces-1 {
			k = n
		}
		out[i] = v.newFillLocked(p, k, owner)
		i++
		p, n = p+k, n-k
	}
	return i
}

// splitLocked cuts f after its first k pages (0 < k < f.n) and returns a
// new fill with the rest and the waiters of the rest; v.mu is held.
func (v *sharedVMO) splitLocked(f *fill, k uint64) *fill {
	rest := v.newFillLocked(f.start+k, f.n-k, f.owner)
	f.n = k
	kept := f.waiters[:0]
	for _, wt := range f.waiters {
		wp := (wt.m.off + (wt.j.addr &^ (pageSize - 1)) - wt.m.addr) / pageSize
		if wp >= f.start+k {
			rest.waiters = append(rest.waiters, wt)
		} else {
			kept = append(kept, wt)
		}
	}
	clear(f.waiters[len(kept):])
	f.waiters = kept
	return rest
}

// freeFill recycles f.
func (v *sharedVMO) freeFill(f *fill) {
	clear(f.waiters)
	f.waiters = f.waiters[:0]
	f.owner = nil
	v.mu.Lock()
	if len(v.freeFills) < 64 {
		v.freeFills = append(v.freeFills, f)
	}
	v.mu.Unlock()
}
