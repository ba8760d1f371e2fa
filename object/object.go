// Package object holds what every kernel object shares, whatever its kind:
// a koid (zx_koid_t) and a set of signals that zx_object_wait_one can wait
// on. It mirrors Zircon's Dispatcher base class.
package object

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagerd/pagerd/zx"
)

var lastKoid atomic.Uint64

func init() { lastKoid.Store(1023) } // the first user object gets koid 1024

// NewKoid returns a fresh, never reused kernel object id.
func NewKoid() zx.Koid { return zx.Koid(lastKoid.Add(1)) }

// Signals is an object's signal state (zx_signals_t) with waiters, as behind
// zx_object_signal and zx_object_wait_one. The zero value has no signal set.
type Signals struct {
	mu      sync.Mutex
	state   zx.Signals
	changed chan struct{} // closed and replaced on every change
}

// Get returns the signals now asserted.
func (s *Signals) Get() zx.Signals {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Update clears the bits in clear, then sets the bits in set, and wakes waiters if anything changed.
func (s *Signals) Update(clear, set zx.Signals) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := (s.state &^ clear) | set
	if next == s.state {
		return
	}
	s.state = next
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// Wait blocks until any signal in want is asserted or the deadline (on the
// monotonic clock of zx.Now) passes, and returns the signals observed.
// A deadline in the past polls. It returns ErrTimedOut on expiry, or
// ErrCanceled if cancel (may be nil) is closed first (the handle was closed).
func (s *Signals) Wait(want zx.Signals, deadline zx.Time, cancel <-chan struct{}) (zx.Signals, zx.Status) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		cur := s.state
		if cur&want != 0 {
			s.mu.Unlock()
			return cur, zx.ErrOk
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		if deadline != zx.TimeInfinite && timer == nil {
			now := zx.Now()
			if deadline <= now { // also TimeInfinitePast, where deadline-now would overflow
				return cur, zx.ErrTimedOut
			}
			d := time.Duration(deadline - now)
			if d <= 0 {
				return cur, zx.ErrTimedOut
			}
			timer = time.NewTimer(d)
		}
		var expired <-chan time.Time
		if timer != nil {
			expired = timer.C
		}
		select {
		case <-ch:
		case <-expired:
			return s.Get(), zx.ErrTimedOut
		case <-cancel:
			return s.Get(), zx.ErrCanceled
		}
	}
}
