package stress

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pagerd/pagerd/zx"
)

// tri is a model fact that may be unknown.
type tri uint8

const (
	no tri = iota
	yes
	maybe
)

func (t tri) String() string { return [...]string{"no", "yes", "maybe"}[t] }

// pageModel is what the test knows about one page of a pager VMO.
type pageModel struct {
	acc     []int64 // acceptable contents (see checkPage); nil beyond the size
	present tri     // known resident (yes): an access needs no READ request
	// supplied: the pager may have supplied it (set before the call), or
	// it was written or grown; false means it was never there.
	supplied bool
	dirty    tri // dirty: survives detach; a TRAP_DIRTY write needs no DIRTY request
	// zeroTail: still the dirty zero tail of a grow, which a TRAP_DIRTY
	// write must still trap (spec §3.8).
	zeroTail tri
	// poisoned: a mapped write failed on it after a detach (see
	// TestReproFailedWriteAfterDetachPoisonsReadablePage).
	poisoned bool
	// tainted: cut by a shrink of a TRAP_DIRTY VMO, so its mapped writes
	// may escape the trap after a grow (see
	// TestReproWriteAfterShrinkGrowNotTrapped).
	tainted bool
	// racedDetach: written while a detach ran, so the detach may have
	// dropped it (see TestReproDetachDropsPageWrittenDuringIt).
	racedDetach bool
}

// eventKind is the kind of a logged event that may make accesses fail.
type eventKind uint8

const (
	evFail   eventKind = iota // ZX_PAGER_OP_FAIL of [lo, hi) with status
	evShrink                  // zx_vmo_set_size from hi pages down to lo
	evDetach                  // zx_pager_detach_vmo
	evDirty                   // ZX_PAGER_OP_DIRTY of [lo, hi) (may dirty a page nobody writes)
)

// event is logged before the call that may make accesses fail and marked
// done after it returned; an access is judged against every event that was
// in progress when it started or was logged while it ran.
type event struct {
	kind   eventKind
	lo, hi int
	status zx.Status
	done   bool
	end    int64 // unix nanoseconds when it was done
}

// vmoState is one pager VMO, its mapping and its model. Accesses hold the
// page locks of their range (shared for reads, exclusive for writes) for the
// whole access; growing holds the new pages' locks, retiring all of them.
type vmoState struct {
	slot      int
	id        uint16 // content id, unique per VMO of a run
	key       uint64
	opts      uint32
	trap      bool
	resizable bool
	h         zx.Handle
	addr      uintptr
	max       int // pages mapped
	pg        *pagerState
	run       *run
	locks     []sync.RWMutex

	mu        sync.Mutex
	size      int // pages
	detaching bool
	detached  bool
	retired   bool
	// pagerClosed: its pager's last handle was closed (closePager).
	pagerClosed bool
	detachAt    int64 // unix nanoseconds of the detach
	pages       []pageModel
	events      []*event
	open        []*event // events not done yet
	nextVer     int64
	completes   int
	requests    int // READ/DIRTY packets seen after the detach was done

	// The pager's store: what it supplies for each page (a version, or
	// zeroVer after a zero range was written back). storeMu is held
	// shared across a supply and exclusively across a write-back's
	// store update and WRITEBACK_END, so a supply never puts stale
	// content into a page that END has just turned into a gap.
	storeMu sync.RWMutex
	store   []int64

	hist [][]string // per page: its last events, for error messages
	plog []string   // the pager's last packets and answers, for hang reports
}

func newVMOState(slot int, id uint16, key uint64, opts uint32, max, size int) *vmoState {
	v := &vmoState{slot: slot, id: id, key: key, opts: opts, max: max, size: size,
		trap: opts&zx.VMOTrapDirty != 0, resizable: opts&zx.VMOResizable != 0,
		locks: make([]sync.RWMutex, max), pages: make([]pageModel, max), nextVer: 1}
	for p := 0; p < size; p++ {
		v.pages[p] = pageModel{acc: []int64{0}}
	}
	v.store = make([]int64, max)
	v.hist = make([][]string, max)
	return v
}

func (v *vmoState) String() string {
	return fmt.Sprintf("vmo %d (slot %d, key %#x, options %#x)", v.id, v.slot, v.key, v.opts)
}

// lockRange takes the locks of pages [lo, hi) in ascending order.
func (v *vmoState) lockRange(lo, hi int, write bool) {
	for p := lo; p < hi; p++ {
		if write {
			v.locks[p].Lock()
		} else {
			v.locks[p].RLock()
		}
	}
}

func (v *vmoState) unlockRange(lo, hi int, write bool) {
	for p := hi - 1; p >= lo; p-- {
		if write {
			v.locks[p].Unlock()
		} else {
			v.locks[p].RUnlock()
		}
	}
}

// completesWanted is how many COMPLETE packets v must get once retired:
// one, unless its pager was closed before any detach (spec §3.3); v.mu is
// held.
func (v *vmoState) completesWanted() int {
	if v.pagerClosed && !v.detaching {
		return 0
	}
	return 1
}

// note adds to the history of page p; v.mu is held.
func (v *vmoState) note(p int, format string, args ...any) {
	if p < 0 || p >= v.max {
		return
	}
	h := append(v.hist[p], fmt.Sprintf(format, args...))
	if len(h) > 12 {
		h = h[len(h)-12:]
	}
	v.hist[p] = h
}

// pagerLog adds to the VMO's pager log; v.mu is not held.
func (v *vmoState) pagerLog(format string, args ...any) {
	s := time.Now().Format("15:04:05.000000 ") + fmt.Sprintf(format, args...)
	v.mu.Lock()
	v.plog = append(v.plog, s)
	if len(v.plog) > 60 {
		v.plog = v.plog[len(v.plog)-40:]
	}
	v.mu.Unlock()
}

// dump describes v's state for a hang report: its model over [lo, hi), its
// open events and its pager log.
func (v *vmoState) dump(lo, hi int) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := fmt.Sprintf("%v: size %d pages, detaching %v, detached %v, retired %v\n", v, v.size, v.detaching, v.detached, v.retired)
	for p := lo; p < hi && p < v.max; p++ {
		m := v.pages[p]
		s += fmt.Sprintf("  page %d: versions %v present %v dirty %v zero tail %v; history %q\n", p, m.acc, m.present, m.dirty, m.zeroTail, v.hist[p])
	}
	for _, e := range v.open {
		s += fmt.Sprintf("  open event: kind %d [%d, %d) %v\n", e.kind, e.lo, e.hi, e.status)
	}
	s += "  pager log (last entries):\n"
	for _, l := range v.plog {
		s += "    " + l + "\n"
	}
	return s
}

// logEvent records an event in progress.
func (v *vmoState) logEvent(e *event) {
	v.mu.Lock()
	if e.kind == evFail {
		for p := e.lo; p < e.hi; p++ {
			v.note(p, "FAIL %v", e.status)
		}
	}
	v.events = append(v.events, e)
	v.open = append(v.open, e)
	v.mu.Unlock()
}

// endEvent marks e done (and applies f to the model, under the lock).
func (v *vmoState) endEvent(e *event, f func()) {
	v.mu.Lock()
	if f != nil {
		f()
	}
	e.done = true
	e.end = time.Now().UnixNano()
	if i := slices.Index(v.open, e); i >= 0 {
		v.open = slices.Delete(v.open, i, i+1)
	}
	v.mu.Unlock()
}

// window is the model of an access's range as it started.
type window struct {
	v        *vmoState
	lo, hi   int
	size     int
	detached bool
	retired  bool
	pages    []pageModel // copies, for [lo, hi)
	start    int         // len(events) at the start
	open     []*event
	vers     []int64  // versions this access writes, per page
	sticky   []*event // with the sticky-fail tolerance: FAILs done shortly before the start
}

// begin snapshots the model of [lo, hi); the caller holds the page locks.
// For a write it also allocates the versions to write.
func (v *vmoState) begin(lo, hi int, write bool) *window {
	v.mu.Lock()
	defer v.mu.Unlock()
	w := &window{v: v, lo: lo, hi: hi, size: v.size, detached: v.detached, retired: v.retired,
		start: len(v.events), open: slices.Clone(v.open), pages: make([]pageModel, hi-lo)}
	for p := lo; p < hi; p++ {
		m := v.pages[p]
		m.acc = slices.Clone(m.acc)
		w.pages[p-lo] = m
	}
	if v.run.cfg.tol.sticky {
		now := time.Now().UnixNano()
		for i := len(v.events) - 1; i >= 0; i-- {
			e := v.events[i]
			if e.done && now-e.end > int64(stickyFor) {
				break
			}
			if e.kind == evFail && e.done && e.lo < hi && lo < e.hi {
				w.sticky = append(w.sticky, e)
			}
		}
	}
	if write {
		w.vers = make([]int64, hi-lo)
		for i := range w.vers {
			w.vers[i] = v.nextVer
			v.nextVer++
		}
	}
	return w
}

// events returns the events that overlapped the access: those open at its
// start and those logged since.
func (w *window) events() []*event {
	w.v.mu.Lock()
	defer w.v.mu.Unlock()
	evs := slices.Clone(w.open)
	for _, e := range w.v.events[w.start:] {
		if !slices.Contains(evs, e) {
			evs = append(evs, e)
		}
	}
	return evs
}

// verdict is what an access of one page may and must do.
type verdict struct {
	must    bool               // it must fail
	allowed map[zx.Status]bool // statuses it may fail with (any means it may fail)
}

func (d *verdict) allow(s zx.Status) {
	if d.allowed == nil {
		d.allowed = map[zx.Status]bool{}
	}
	d.allowed[s] = true
}

func (d verdict) mayFail() bool { return d.must || len(d.allowed) > 0 }

// stickyFor is how long after a FAIL the sticky-fail tolerance lasts (the
// pager's reaper clears a poison marker after 5 s at the latest).
const stickyFor = 6 * time.Second

// judgeMapped is judge for a mapped access.
func (w *window) judgeMapped(p int, write bool, evs []*event) verdict {
	d := w.judge(p, write, evs)
	if w.v.run.cfg.tol.poison && w.pages[p-w.lo].poisoned {
		d.allow(zx.ErrBadState)
	}
	if !w.v.run.cfg.tol.sticky {
		return d
	}
	for _, e := range evs {
		if e.kind == evFail && e.lo <= p && p < e.hi {
			d.allow(e.status)
		}
	}
	for _, e := range w.sticky {
		if e.lo <= p && p < e.hi {
			d.allow(e.status)
		}
	}
	return d
}

// judge decides whether an access of page p (in w's range) may or must fail,
// and with which statuses, given the events that overlapped it.
func (w *window) judge(p int, write bool, evs []*event) verdict {
	var d verdict
	m := w.pages[p-w.lo]
	if p >= w.size {
		d.must = true
		d.allow(zx.ErrOutOfRange)
	}
	for _, e := range evs {
		if e.kind == evShrink && p >= e.lo {
			d.allow(zx.ErrOutOfRange)
		}
	}
	if m.racedDetach && w.v.run.cfg.tol.detachRace && (w.detached || detachIn(evs)) {
		d.allow(zx.ErrBadState)
	}
	if w.detached {
		// After a detach, an access that needs the pager fails: one of an
		// absent page, or a TRAP_DIRTY write of a page not yet dirty (or
		// still a zero tail). A clean page that is still there (cleaned
		// by a write-back after the detach) may be evicted at any time.
		needs := m.present == no && m.dirty == no ||
			write && w.v.trap && (m.dirty == no || m.zeroTail == yes)
		if needs && !dirtied(evs, p) {
			d.must = true
		}
		if m.dirty != yes || write && w.v.trap && m.zeroTail != no {
			d.allow(zx.ErrBadState)
		}
	} else {
		for _, e := range evs {
			if e.kind == evDetach && (m.dirty != yes || write && w.v.trap && m.zeroTail != no) {
				d.allow(zx.ErrBadState)
			}
		}
	}
	needsPager := m.present != yes
	if write && w.v.trap {
		needsPager = m.dirty != yes || m.zeroTail != no || m.tainted && w.v.run.cfg.tol.untrapped
	}
	if m.tainted && w.v.run.cfg.tol.untrapped && w.v.trap && write {
		// The pager may think it a zero tail still: a write may need
		// a DIRTY request, which fails after a detach.
		if w.detached {
			d.must = false
		}
		for _, e := range evs {
			if e.kind == evDetach {
				d.allow(zx.ErrBadState)
			}
		}
		if w.detached {
			d.allow(zx.ErrBadState)
		}
	}
	if needsPager {
		for _, e := range evs {
			if e.kind == evFail && e.lo <= p && (p < e.hi || w.v.run.cfg.tol.overlapFail) {
				d.allow(e.status)
			}
		}
	}
	return d
}

// readDone updates the model after pages [w.lo, w.lo+ok) were read.
// A COMMIT also turns a grown zero tail into committed dirty pages, which
// a write no longer traps (spec §1.11).
func (w *window) readDone(op opKind, ok int) {
	v := w.v
	v.mu.Lock()
	defer v.mu.Unlock()
	for p := w.lo; p < w.lo+ok; p++ {
		if p < v.size {
			v.pages[p].present = yes
			if v.pages[p].zeroTail != no && op != opCommit {
				v.note(p, "%v of the zero tail", op)
			}
			if op == opCommit && v.pages[p].zeroTail != no {
				v.pages[p].zeroTail = no
				v.note(p, "commit of the zero tail")
			}
		}
	}
}

// writeDone updates the model after a write: pages [w.lo, w.lo+ok) hold
// their new versions; pages [w.lo+ok, w.lo+ok+unsure) may hold the new
// version, the old one or a mix of them (an interrupted zx_vmo_write).
func (w *window) writeDone(op opKind, ok, unsure int, evs []*event) {
	v := w.v
	raced := false
	for _, e := range evs {
		raced = raced || e.kind == evDetach
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for p := w.lo; p < w.lo+ok+unsure; p++ {
		if p >= v.size {
			continue // cut by a shrink: gone
		}
		m := &v.pages[p]
		ver := w.vers[p-w.lo]
		if p < w.lo+ok {
			*m = pageModel{acc: []int64{ver}, present: yes, dirty: yes, poisoned: m.poisoned, tainted: m.tainted,
				racedDetach: m.racedDetach || raced}
			if raced {
				v.note(p, "%v v%d during a detach", op, ver)
			} else {
				v.note(p, "%v v%d", op, ver)
			}
			continue
		}
		v.note(p, "%v v%d interrupted", op, ver)
		if !slices.Contains(m.acc, ver) {
			m.acc = append(m.acc, ver)
		}
		if m.dirty != yes {
			m.dirty = maybe
		}
		if m.present != yes {
			m.present = maybe
		}
		if m.zeroTail == yes {
			m.zeroTail = maybe
		}
	}
}

// markFaulted updates the model for a page whose mapped write faulted
// before writing anything: its READ may have been supplied and its DIRTY
// failed.
func (w *window) markFaulted(p int) {
	v := w.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if p < v.size && v.pages[p].present == no {
		v.pages[p].present = maybe
	}
	if p < v.size && (v.detaching || v.detached) {
		v.pages[p].poisoned = true
	}
	v.note(p, "mapped write v%d SIGBUS", w.vers[p-w.lo])
}

// dirtied reports whether an OP_DIRTY of page p is among evs.
func dirtied(evs []*event, p int) bool {
	for _, e := range evs {
		if e.kind == evDirty && e.lo <= p && p < e.hi {
			return true
		}
	}
	return false
}

// hint names the known bug (see repro_test.go) that may explain an error
// on page p, if any.
func (w *window) hint(p int) string {
	v := w.v
	m := w.pages[p-w.lo]
	var h string
	if m.poisoned {
		h += "; a mapped write of this page failed after the detach: TestReproFailedWriteAfterDetachPoisonsReadablePage"
	}
	if m.tainted && v.trap {
		h += "; this page was cut by a shrink: TestReproWriteAfterShrinkGrowNotTrapped"
	}
	if m.racedDetach {
		h += "; this page was written during a detach: TestReproDetachDropsPageWrittenDuringIt"
	}
	for _, e := range v.open {
		if e.kind == evFail && e.lo < p {
			h += "; a FAIL of an earlier page was running: TestReproFailOfFirstPageFailsOverlapWaiters"
			break
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now().UnixNano()
	for i := len(v.events) - 1; i >= 0; i-- {
		e := v.events[i]
		if e.done && now-e.end > int64(stickyFor) {
			break
		}
		if e.kind == evFail && e.lo <= p && p < e.hi {
			h += fmt.Sprintf("; this page was failed %v ago: TestReproMappedFailIsStickyForTheNextAccess",
				time.Duration(now-e.end).Round(time.Microsecond))
			break
		}
	}
	if h == "" {
		return ""
	}
	return " (known bug?" + h[1:] + ")"
}

func detachIn(evs []*event) bool {
	for _, e := range evs {
		if e.kind == evDetach {
			return true
		}
	}
	return false
}
