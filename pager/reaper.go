package pager

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

// reaper clears the poison markers left by failed mapped accesses (those
// that could not be failed alone with a signal, sigbus.go: faults taken
// inside system calls, and processes whose SIGBUS handler is the Go
// runtime's) once the thread that was failed has run: a woken thread is runnable ('R') until it
// retries its access and takes SIGBUS, so any other state (or its exit)
// means the marker has done its job. A marker older than reapMaxAge is
// cleared whatever the thread does. This is only on the failure path.
type reaper struct {
	mu      sync.Mutex
	pending map[*pagedVMO]struct{}
	running bool
}

const (
	reapInterval = time.Millisecond
	reapMaxAge   = 5 * time.Second
)

var theReaper = reaper{pending: map[*pagedVMO]struct{}{}}

// watch notes that pv has poison entries; called with pv.mu held.
func (r *reaper) watch(pv *pagedVMO) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[pv] = struct{}{}
	if !r.running {
		r.running = true
		go r.loop()
	}
}

func (r *reaper) loop() {
	born := map[poisonKey]time.Time{}
	for {
		time.Sleep(reapInterval)
		r.mu.Lock()
		vs := make([]*pagedVMO, 0, len(r.pending))
		for pv := range r.pending {
			vs = append(vs, pv)
		}
		r.mu.Unlock()
		now := time.Now()
		live := map[poisonKey]time.Time{}
		for _, pv := range vs {
			pv.mu.Lock()
			pv.clearPoison(func(e *poisonEntry) bool {
				k := poisonKey{e.m, e.addr}
				t, ok := born[k]
				if !ok {
					t = now
				}
				if now.Sub(t) < reapMaxAge && threadMayBeBeforeRetry(e.tid) {
					live[k] = t
					return true
				}
				return false
			})
			empty := len(pv.poisoned) == 0
			pv.mu.Unlock()
			if empty {
				r.mu.Lock()
				delete(r.pending, pv)
				r.mu.Unlock()
			}
		}
		born = live
		r.mu.Lock()
		if len(r.pending) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

type poisonKey struct {
	m    *mapping
	addr uintptr
}

// threadMayBeBeforeRetry reports whether thread tid of this process may not
// yet have retried its failed access: it is runnable or in uninterruptible
// sleep (it may be waiting for the mm lock on its way back to the access).
func threadMayBeBeforeRetry(tid uint32) bool {
	b, err := os.ReadFile("/proc/self/task/" + strconv.FormatUint(uint64(tid), 10) + "/stat")
	if err != nil {
		return false // gone
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	switch b[i+2] {
	case 'R', 'D':
		return true
	}
	return false
}
