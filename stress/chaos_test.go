package stress

import (
	"math/rand/v2"
	"time"

	"github.com/pagerd/pagerd/syscalls"
	"github.com/pagerd/pagerd/zx"
)

// chaos shrinks, grows, detaches and retires VMOs at random until the run
// stops. It is the only goroutine that changes sizes and detaches, so those
// never race each other (they race the accesses and the pagers).
func (r *run) chaos(rng *rand.Rand) {
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(time.Duration(10+rng.IntN(90)) * time.Millisecond):
		}
		slot := rng.IntN(len(r.slots))
		v := r.slots[slot].Load()
		v.mu.Lock()
		detached, detachAt, size := v.detached, v.detachAt, v.size
		v.mu.Unlock()
		n := rng.IntN(100)
		switch {
		case detached && time.Since(time.Unix(0, detachAt)) > 300*time.Millisecond && n < 50:
			r.retire(v)
			r.newVMO(slot, rng)
		case detached:
		case v.resizable && n < 30 && size > 1:
			r.shrink(v, 1+rng.IntN(size-1))
		case v.resizable && n < 60 && size < v.max:
			r.grow(v, size+1+rng.IntN(v.max-size))
		case n < 66:
			r.detach(v)
		case n < 68:
			r.retire(v)
			r.newVMO(slot, rng)
		}
	}
}

// shrink cuts v to size pages while accesses and requests are in flight.
func (r *run) shrink(v *vmoState, size int) {
	v.mu.Lock()
	old := v.size
	v.mu.Unlock()
	e := &event{kind: evShrink, lo: size, hi: old}
	v.logEvent(e)
	st := syscalls.VmoSetSize(v.h, uint64(size)*ps)
	v.endEvent(e, func() {
		if st != zx.ErrOk {
			return
		}
		v.size = size
		for p := size; p < v.max; p++ {
			v.pages[p] = pageModel{}
		}
	})
	if st != zx.ErrOk {
		r.errorf("%v: VmoSetSize(%d pages) from %d = %v", v, size, old, st)
		return
	}
	r.st.shrinks.Add(1)
}

// grow grows v to size pages: the new pages are a dirty zero tail. It
// holds their locks, so no access of them overlaps it.
func (r *run) grow(v *vmoState, size int) {
	v.mu.Lock()
	old := v.size
	v.mu.Unlock()
	v.lockRange(old, size, true)
	defer v.unlockRange(old, size, true)
	st := syscalls.VmoSetSize(v.h, uint64(size)*ps)
	if st != zx.ErrOk {
		r.errorf("%v: VmoSetSize(%d pages) from %d = %v", v, size, old, st)
		return
	}
	v.mu.Lock()
	v.size = size
	for p := old; p < size; p++ {
		v.pages[p] = pageModel{acc: []int64{zeroVer}, present: yes, dirty: yes, zeroTail: true}
	}
	v.mu.Unlock()
	r.st.grows.Add(1)
}

// detach detaches v while accesses and requests are in flight: clean pages
// go, dirty pages stay.
func (r *run) detach(v *vmoState) {
	e := &event{kind: evDetach}
	v.mu.Lock()
	v.detaching = true
	v.mu.Unlock()
	v.logEvent(e)
	st := syscalls.PagerDetachVmo(v.pg.h, v.h)
	v.endEvent(e, func() {
		v.detached = true
		v.detachAt = time.Now().UnixNano()
		for p := range v.pages {
			switch v.pages[p].dirty {
			case no:
				v.pages[p].present = no
			case maybe:
				v.pages[p].present = maybe
			}
		}
	})
	if st != zx.ErrOk {
		r.errorf("%v: PagerDetachVmo = %v", v, st)
		return
	}
	r.st.detaches.Add(1)
}

// retire waits for the accesses of v to finish, unmaps and closes it; a
// COMPLETE packet must follow (checked at the end of the run).
func (r *run) retire(v *vmoState) {
	v.lockRange(0, v.max, true)
	defer v.unlockRange(0, v.max, true)
	v.mu.Lock()
	v.retired = true
	v.mu.Unlock()
	if st := syscalls.VmarUnmap(syscalls.VmarRootSelf(), v.addr, uint64(v.max)*ps); st != zx.ErrOk {
		r.errorf("%v: VmarUnmap = %v", v, st)
	}
	if st := syscalls.HandleClose(v.h); st != zx.ErrOk {
		r.errorf("%v: HandleClose = %v", v, st)
	}
	r.mu.Lock()
	r.retiredVMOs = append(r.retiredVMOs, v)
	r.mu.Unlock()
	r.st.retires.Add(1)
}

// newVMO creates a fresh pager VMO for slot and maps all of it (beyond
// the size of a RESIZABLE one too: accesses there fault).
func (r *run) newVMO(slot int, rng *rand.Rand) *vmoState {
	pg := r.pagers[slot%len(r.pagers)]
	opts := []uint32{0, zx.VMOTrapDirty, zx.VMOResizable, zx.VMOTrapDirty | zx.VMOResizable}[(slot+rng.IntN(2)*2)%4]
	max := 16 + rng.IntN(33)
	size := max
	if opts&zx.VMOResizable != 0 {
		size = 1 + rng.IntN(max)
	}
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.mu.Unlock()
	key := uint64(pg.idx)<<56 | uint64(id)
	v := newVMOState(slot, id, key, opts, max, size)
	v.pg = pg
	v.tolerateSticky = r.cfg.tolerateSticky
	h, st := syscalls.PagerCreateVmo(pg.h, opts, pg.port, key, uint64(size)*ps)
	if st != zx.ErrOk {
		r.errorf("PagerCreateVmo(options %#x, %d pages) = %v", opts, size, st)
		r.abort()
		return nil
	}
	v.h = h
	addr, st := syscalls.VmarMap(syscalls.VmarRootSelf(), zx.VMPermRead|zx.VMPermWrite, 0, h, 0, uint64(max)*ps)
	if st != zx.ErrOk {
		r.errorf("%v: VmarMap(%d pages) = %v", v, max, st)
		syscalls.HandleClose(h)
		r.abort()
		return nil
	}
	v.addr = addr
	pg.mu.Lock()
	pg.vmos[key] = v
	pg.mu.Unlock()
	r.slots[slot].Store(v)
	r.st.vmos.Add(1)
	return v
}
