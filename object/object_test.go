package object

import (
	"testing"
	"time"

	"github.com/pagerd/pagerd/zx"
)

func TestKoidsAreUniqueAndStartAtUserRange(t *testing.T) {
	a, b := NewKoid(), NewKoid()
	if a < 1024 || b <= a {
		t.Fatalf("koids %d, %d", a, b)
	}
}

func TestSignalsWait(t *testing.T) {
	var s Signals
	for _, d := range []zx.Time{zx.Now(), 0, zx.TimeInfinitePast} {
		if got, st := s.Wait(zx.VMOZeroChildren, d, nil); st != zx.ErrTimedOut || got != 0 {
			t.Fatalf("poll (deadline %d) on clear signal: %v %v", d, got, st)
		}
	}
	done := make(chan zx.Status, 1)
	go func() {
		_, st := s.Wait(zx.VMOZeroChildren, zx.Now()+zx.Time(5*time.Second), nil)
		done <- st
	}()
	time.Sleep(10 * time.Millisecond)
	s.Update(0, zx.UserSignal0) // not the awaited bit
	select {
	case st := <-done:
		t.Fatalf("woke on an unrelated signal: %v", st)
	case <-time.After(20 * time.Millisecond):
	}
	s.Update(0, zx.VMOZeroChildren)
	select {
	case st := <-done:
		if st != zx.ErrOk {
			t.Fatalf("status %v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken")
	}
	if s.Get() != zx.VMOZeroChildren|zx.UserSignal0 {
		t.Fatalf("state %#x", s.Get())
	}
	cancel := make(chan struct{})
	close(cancel)
	if _, st := s.Wait(zx.UserSignal0<<1, zx.TimeInfinite, cancel); st != zx.ErrCanceled {
		t.Fatalf("cancel: %v", st)
	}
}
