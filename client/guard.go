package client

/*
#cgo CFLAGS: -O2 -Wall
#include "guard.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"syscall"
)

// guard is the Go handle of the C guard thread (guard.c). The thread
// watches a dup of the connection's socket with poll(POLLRDHUP) and reads
// nothing from it. When the socket reports a hang-up (pagerd died, closed
// the connection, or the client ended the session), the thread takes the
// client's userfaultfd over, through its own dup of it:
//
//  1. it wakes every registered range (UFFDIO_WAKE), because a fault whose
//     message the dead server read but never answered would otherwise
//     sleep forever; the woken thread retries and queues a new message;
//  2. it answers every missing-page fault with UFFDIO_POISON of that page
//     (after removing a uffd-wp marker, on which POISON fails with
//     EEXIST), so the access raises SIGBUS instead of reading a zero page
//     from the memfd;
//  3. it answers every write-protect fault by lifting the protection of
//     that page (which wakes the writer), so writes to present pages go on.
//
// It then wakes every range again once a second until stopped. Being a
// pthread, it needs no Go scheduling: it works while the Go runtime is
// stuck in a stop-the-world that waits for a goroutine blocked in a fault.
type guard struct {
	mu sync.Mutex
	c  *C.pgguard // nil once stopped
}

// guardStats are the guard's counters (see guard.h).
type guardStats struct {
	Active      bool
	Tid         int
	Wakes       uint64
	Faults      uint64
	Poisoned    uint64
	Unprotected uint64
	Fallbacks   uint64
}

// startGuard starts a guard thread that owns sock and ufd (both closed on
// failure too).
func startGuard(sock, ufd int) (*guard, error) {
	var c *C.pgguard
	if rc := C.pgguard_start(C.int(sock), C.int(ufd), &c); rc != 0 {
		return nil, fmt.Errorf("client: starting the guard thread: %w", syscall.Errno(rc))
	}
	return &guard{c: c}, nil
}

// add tells the guard about a registered range.
func (g *guard) add(addr uintptr, length uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c == nil {
		return nil
	}
	if rc := C.pgguard_add(g.c, C.uintptr_t(addr), C.uint64_t(length)); rc != 0 {
		return fmt.Errorf("client: adding range [%#x, +%#x) to the guard: %w", addr, length, syscall.Errno(rc))
	}
	return nil
}

// remove forgets a range given to add.
func (g *guard) remove(addr uintptr, length uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c != nil {
		C.pgguard_remove(g.c, C.uintptr_t(addr), C.uint64_t(length))
	}
}

// stop ends and joins the thread and closes its fds. It is idempotent.
func (g *guard) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c != nil {
		C.pgguard_stop(g.c)
		g.c = nil
	}
}

// stats returns the guard's counters (zero once stopped).
func (g *guard) stats() guardStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c == nil {
		return guardStats{}
	}
	var s C.pgguard_stats
	C.pgguard_get_stats(g.c, &s)
	return guardStats{
		Active:      s.active != 0,
		Tid:         int(s.tid),
		Wakes:       uint64(s.wakes),
		Faults:      uint64(s.faults),
		Poisoned:    uint64(s.poisoned),
		Unprotected: uint64(s.unprotected),
		Fallbacks:   uint64(s.fallbacks),
	}
}
