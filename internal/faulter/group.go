package faulter

/*
#include "faulter.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
)

// Group is a set of faulter threads that can be told to access memory at
// the same moment, e.g. for "N threads fault on one page" tests and
// contention benchmarks. Its methods must not be called concurrently.
type Group struct {
	Threads []*Thread
}

// StartGroup starts n faulter threads.
func StartGroup(n int) (*Group, error) {
	g := &Group{}
	for i := 0; i < n; i++ {
		t, err := Start()
		if err != nil {
			g.Close()
			return nil, err
		}
		g.Threads = append(g.Threads, t)
	}
	return g, nil
}

// Tids returns the kernel thread ids of the group's threads, in order.
func (g *Group) Tids() []int {
	tids := make([]int, len(g.Threads))
	for i, t := range g.Threads {
		tids[i] = t.Tid()
	}
	return tids
}

// Close closes every thread (see Thread.Close: it does not block on threads
// stuck in a fault).
func (g *Group) Close() {
	for _, t := range g.Threads {
		t.Close()
	}
}

// Touch has every thread run Thread.Touch with the same arguments. The
// commands are all posted first and released together through a gate, so
// the accesses start (as nearly as the scheduler allows) simultaneously;
// Elapsed does not include the time spent at the gate. The result has one
// Pending per thread, in order.
func (g *Group) Touch(addr, length, stride uintptr, write bool, value byte) []*Pending {
	return g.gated(func(t *Thread, gate *C.fgate) *Pending {
		return t.touch(addr, length, stride, write, value, gate)
	})
}

// Read has every thread run Thread.Read(addr, n), released together like
// Touch.
func (g *Group) Read(addr uintptr, n int) []*Pending {
	return g.gated(func(t *Thread, gate *C.fgate) *Pending {
		return t.read(addr, n, gate)
	})
}

func (g *Group) gated(start func(*Thread, *C.fgate) *Pending) []*Pending {
	gate := C.faulter_gate_new(C.int(len(g.Threads)))
	ps := make([]*Pending, len(g.Threads))
	for i, t := range g.Threads {
		if gate == nil {
			ps[i] = &Pending{err: errors.New("faulter: out of C memory")}
			continue
		}
		ps[i] = start(t, gate)
		if ps[i].err != nil {
			C.faulter_gate_drop(gate)
		}
	}
	if gate != nil {
		C.faulter_gate_open(gate)
	}
	return ps
}

// WaitAll waits for all of ps with one overall deadline (now + timeout). It
// returns every Result (the zero Result for those that did not finish) and
// the first error in ps order (ErrTimeout if some did not finish in time),
// wrapped with its index.
func WaitAll(ps []*Pending, timeout time.Duration) ([]Result, error) {
	deadline := time.Now().Add(timeout)
	rs := make([]Result, len(ps))
	var first error
	for i, p := range ps {
		r, err := p.Wait(time.Until(deadline))
		rs[i] = r
		if err != nil && first == nil {
			first = fmt.Errorf("pending %d: %w", i, err)
		}
	}
	return rs, first
}
