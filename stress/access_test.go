package stress

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/syscalls"
	"github.com/pagerd/pagerd/zx"
)

// opKind is what an access does.
type opKind uint8

const (
	opMappedRead opKind = iota
	opMappedWrite
	opVmoRead
	opVmoWrite
	opCommit
)

func (o opKind) String() string {
	return [...]string{"mapped read", "mapped write", "zx_vmo_read", "zx_vmo_write", "zx_vmo_op_range(COMMIT)"}[o]
}

func (o opKind) writes() bool { return o == opMappedWrite || o == opVmoWrite }

// worker is one accessing actor: a C faulter thread driven by a goroutine
// (mapped accesses), or a goroutine calling the VMO syscalls.
type worker struct {
	r   *run
	idx int
	rng *rand.Rand
	th  *faulter.Thread // nil for a syscall worker
	buf []byte
	scr [ps]byte
}

// loop runs random accesses until the run stops.
func (wk *worker) loop() {
	for !wk.r.stopping() {
		v := wk.r.slots[wk.rng.IntN(len(wk.r.slots))].Load()
		var op opKind
		if wk.th != nil {
			op = opMappedRead
			if wk.rng.IntN(100) < 40 {
				op = opMappedWrite
			}
		} else {
			switch n := wk.rng.IntN(100); {
			case n < 45:
				op = opVmoRead
			case n < 85:
				op = opVmoWrite
			default:
				op = opCommit
			}
		}
		// Mostly inside the current size; sometimes anywhere in the
		// mapping (beyond the end of a shrunk VMO, accesses fault).
		end := v.max
		if wk.rng.IntN(5) != 0 {
			v.mu.Lock()
			end = max(v.size, 1)
			v.mu.Unlock()
		}
		lo := wk.rng.IntN(end)
		run := 8
		if wk.rng.IntN(10) == 0 {
			run = 24
		}
		hi := lo + 1 + wk.rng.IntN(min(run, end-lo))
		if !wk.access(v, op, lo, hi) {
			return
		}
	}
}

// access runs one access of pages [lo, hi) of v and checks it; false means
// the worker must stop (its access never returned).
func (wk *worker) access(v *vmoState, op opKind, lo, hi int) bool {
	write := op.writes()
	v.lockRange(lo, hi, write)
	defer v.unlockRange(lo, hi, write)
	w := v.begin(lo, hi, write)
	if w.retired {
		return true
	}
	n := (hi - lo) * ps
	if write {
		for i := range hi - lo {
			pageContent(wk.buf[i*ps:], v.id, lo+i, w.vers[i])
		}
	}
	wk.r.busy(wk.idx, fmt.Sprintf("%v of %v pages [%d, %d)", op, v, lo, hi), v, lo, hi)
	var (
		st  zx.Status
		res faulter.Result
		err error
	)
	switch op {
	case opMappedRead:
		res, err = wk.th.Read(v.addr+uintptr(lo*ps), n).Wait(wk.r.cfg.hang + 5*time.Second)
	case opMappedWrite:
		res, err = wk.th.Write(v.addr+uintptr(lo*ps), wk.buf[:n]).Wait(wk.r.cfg.hang + 5*time.Second)
	case opVmoRead:
		st = syscalls.VmoRead(v.h, wk.buf[:n], uint64(lo)*ps)
	case opVmoWrite:
		st = syscalls.VmoWrite(v.h, wk.buf[:n], uint64(lo)*ps)
	case opCommit:
		st = syscalls.VmoOpRange(v.h, zx.VMOOpCommit, uint64(lo)*ps, uint64(n), nil)
	}
	wk.r.idle(wk.idx)
	if err != nil {
		wk.r.errorf("%v of %v pages [%d, %d) did not return: %v", op, v, lo, hi, err)
		return false
	}
	evs := w.events()
	if wk.th != nil {
		wk.judgeMapped(w, op, res, evs)
	} else {
		wk.judgeCall(w, op, st, evs)
	}
	return true
}

// judgeMapped checks a mapped access: the pages before a fault must have
// been accessible (and hold the right content), the faulting page must be
// one that could fail.
func (wk *worker) judgeMapped(w *window, op opKind, res faulter.Result, evs []*event) {
	r, v, write := wk.r, w.v, op.writes()
	if write {
		r.st.mappedWrites.Add(1)
	} else {
		r.st.mappedReads.Add(1)
	}
	ok := int(res.Done / ps)
	if res.Sigsegv || res.Signo != 0 && !res.Sigbus {
		r.errorf("%v of %v pages [%d, %d): signal %d (code %d) at %#x", op, v, w.lo, w.hi, res.Signo, res.Code, res.Addr)
		return
	}
	if res.Sigbus {
		f := w.lo + ok
		base := v.addr + uintptr(f*ps)
		d := w.judgeMapped(f, write, evs)
		switch {
		case f >= w.hi || res.Addr < base || res.Addr >= base+ps:
			r.errorf("%v of %v pages [%d, %d): SIGBUS at %#x after %d bytes, not at page %d (%#x)",
				op, v, w.lo, w.hi, res.Addr, res.Done, f, base)
			return
		case res.Addr != base && !shrunk(evs, f):
			r.errorf("%v of %v pages [%d, %d): SIGBUS in the middle of page %d (%#x)", op, v, w.lo, w.hi, f, res.Addr)
		case !d.mayFail():
			r.errorf("%v of %v pages [%d, %d): unexplained SIGBUS at page %d %s%s", op, v, w.lo, w.hi, f, w.explain(f, evs), w.hint(f))
		}
		r.st.sigbus.Add(1)
		if write {
			w.markFaulted(f)
		}
	} else if res.Done != uintptr(w.hi-w.lo)*ps {
		r.errorf("%v of %v pages [%d, %d): done %d bytes without a fault", op, v, w.lo, w.hi, res.Done)
		return
	}
	for p := w.lo; p < w.lo+ok; p++ {
		if d := w.judge(p, write, evs); d.must {
			r.errorf("%v of %v page %d succeeded, but it must fail %s%s", op, v, p, w.explain(p, evs), w.hint(p))
		}
		w.checkTrapped(op, p, evs)
		if !write {
			wk.checkContent(w, op, p, res.Data[(p-w.lo)*ps:(p-w.lo+1)*ps])
		}
	}
	if write {
		w.writeDone(op, ok, 0, evs)
	} else {
		w.readDone(op, ok)
	}
}

// judgeCall checks a zx_vmo_read / zx_vmo_write / COMMIT: it fails as a
// whole, with a status the model explains, or succeeds only if no page
// had to fail.
func (wk *worker) judgeCall(w *window, op opKind, st zx.Status, evs []*event) {
	r, v, write := wk.r, w.v, op.writes()
	switch op {
	case opVmoRead:
		r.st.vmoReads.Add(1)
	case opVmoWrite:
		r.st.vmoWrites.Add(1)
	default:
		r.st.commits.Add(1)
	}
	if w.hi > w.size {
		// The range check comes first: OUT_OF_RANGE, nothing done.
		if st != zx.ErrOutOfRange {
			r.errorf("%v of %v pages [%d, %d) beyond the size (%d pages) = %v, want OUT_OF_RANGE", op, v, w.lo, w.hi, w.size, st)
		} else {
			r.st.failedCalls.Add(1)
		}
		return
	}
	if st != zx.ErrOk {
		r.st.failedCalls.Add(1)
		explained := false
		for p := w.lo; p < w.hi; p++ {
			d := w.judgeOp(p, op, evs)
			if d.allowed[st] {
				explained = true
				break
			}
		}
		if !explained {
			var why []string
			for p := w.lo; p < w.hi; p++ {
				why = append(why, fmt.Sprintf("page %d %s", p, w.explain(p, evs)))
			}
			r.errorf("%v of %v pages [%d, %d) = %v, unexplained: %s%s", op, v, w.lo, w.hi, st, strings.Join(why, "; "), w.hint(w.lo))
		}
		if write {
			w.writeDone(op, 0, w.hi-w.lo, evs)
		}
		return
	}
	for p := w.lo; p < w.hi; p++ {
		if d := w.judgeOp(p, op, evs); d.must {
			r.errorf("%v of %v pages [%d, %d) succeeded, but page %d must fail %s%s", op, v, w.lo, w.hi, p, w.explain(p, evs), w.hint(p))
		}
		if write || op == opCommit {
			w.checkTrapped(op, p, evs)
		}
		if op == opVmoRead {
			wk.checkContent(w, op, p, wk.buf[(p-w.lo)*ps:(p-w.lo+1)*ps])
		}
	}
	if write {
		w.writeDone(op, w.hi-w.lo, 0, evs)
	} else {
		w.readDone(op, w.hi-w.lo)
	}
}

// judgeOp is judge for an op. A COMMIT of a grown zero tail of a TRAP_DIRTY
// VMO may need a DIRTY request (spec §1.11), which a FAIL can fail.
func (w *window) judgeOp(p int, op opKind, evs []*event) verdict {
	d := w.judge(p, op.writes(), evs)
	if op == opCommit && w.v.trap && p < w.size && w.pages[p-w.lo].zeroTail != no {
		for _, e := range evs {
			if e.kind == evFail && e.lo <= p && p < e.hi {
				d.allow(e.status)
			}
		}
		if w.detached || detachIn(evs) {
			d.allow(zx.ErrBadState)
		}
	}
	return d
}

func shrunk(evs []*event, p int) bool {
	for _, e := range evs {
		if e.kind == evShrink && p >= e.lo {
			return true
		}
	}
	return false
}

// checkContent checks one page read by an access.
func (wk *worker) checkContent(w *window, op opKind, p int, got []byte) {
	wk.r.st.pagesChecked.Add(1)
	m := w.pages[p-w.lo]
	if !checkPage(got, w.v.id, p, m.acc, &wk.scr) {
		wk.r.errorf("%v of %v page %d: content is %s; want one of versions %v (-1 = zeros) %s",
			op, w.v, p, describe(got), m.acc, w.explain(p, nil))
	}
}

// explain describes the model of page p and the events of an access.
func (w *window) explain(p int, evs []*event) string {
	m := w.pages[p-w.lo]
	s := fmt.Sprintf("(size %d pages, detached %v; page: versions %v present %v dirty %v", w.size, w.detached, m.acc, m.present, m.dirty)
	for _, e := range evs {
		switch e.kind {
		case evFail:
			s += fmt.Sprintf("; FAIL [%d, %d) %v", e.lo, e.hi, e.status)
		case evShrink:
			s += fmt.Sprintf("; shrink %d -> %d pages", e.hi, e.lo)
		case evDetach:
			s += "; detach"
		case evDirty:
			s += fmt.Sprintf("; OP_DIRTY [%d, %d)", e.lo, e.hi)
		}
	}
	w.v.mu.Lock()
	s += fmt.Sprintf("; history %q", w.v.hist[p])
	w.v.mu.Unlock()
	return s + ")"
}

// checkTrapped checks that a write that succeeded on a TRAP_DIRTY page that
// was not dirty (or was still a grown zero tail), or a COMMIT of a grown
// zero tail (spec §1.11), went through a DIRTY request: an OP_DIRTY of the
// page overlapped it.
func (w *window) checkTrapped(op opKind, p int, evs []*event) {
	m := w.pages[p-w.lo]
	if !op.writes() && (op != opCommit || m.zeroTail != yes) {
		return
	}
	if !w.v.trap || p >= w.size || (m.dirty == yes && m.zeroTail != yes) || m.dirty == maybe || m.tainted && w.v.run.cfg.tol.untrapped {
		return
	}
	if !dirtied(evs, p) {
		w.v.run.errorf("%v of %v page %d (dirty %v, zero tail %v) succeeded without a DIRTY request %s%s",
			op, w.v, p, m.dirty, m.zeroTail, w.explain(p, evs), w.hint(p))
	}
}
