// Package faulter touches memory from dedicated C pthreads, for tests and
// benchmarks of pager-backed (userfaultfd-registered) mappings.
//
// # Why
//
// A goroutine must never load or store memory whose absent pages are
// supplied by a pager running in the same process: its OS thread blocks in
// the kernel (in handle_userfault) while the Go runtime believes it is
// running Go code, so it keeps its P and cannot be preempted, and a
// stop-the-world (a GC, for instance) waits for it forever — possibly while
// the pager goroutine that would resolve the fault waits for the GC. A
// thread created with pthread_create in C is invisible to the scheduler and
// the GC, so it may block in a fault for as long as it likes.
//
// A Thread is such a C thread. It executes one command at a time (read a
// byte range, write a byte range, touch one byte every stride bytes) and
// reports how it went as a Result. Go code starts a command, gets a Pending
// at once, and waits for it with Pending.Wait, which blocks inside a cgo
// call (pthread_cond_timedwait on CLOCK_MONOTONIC) and so does not hold a P.
//
// # Faults
//
// The package installs (once, on the first Start) a handler for SIGBUS and
// SIGSEGV with SA_SIGINFO|SA_ONSTACK|SA_NODEFER|SA_RESTART. Each faulter
// thread has its own sigaltstack and a thread-local "armed" sigjmp_buf that
// is set only around the access itself. A fault on an armed faulter thread
// is recorded (si_addr, si_code, si_errno) and the thread siglongjmps out of
// the handler (sigsetjmp(buf, 1), so its signal mask is restored); the
// command then completes with Sigbus (or Sigsegv) set and the thread stays
// usable. A fault anywhere else — in particular on a Go thread — is passed
// to the handler that was installed before ours (Go's), called with the same
// arguments, so Go's own fault handling (nil-pointer panics,
// debug.SetPanicOnFault) keeps working. Read/Write accesses are done per
// page: the first byte of each page-bounded chunk is accessed on its own
// before the rest is copied, so a fault is reported at exactly the first
// address of the page (or of the range) that could not be accessed, and
// Result.Done counts exactly the bytes before it.
//
// Addresses are raw: point faulter threads at mmap'd or C memory. Go memory
// is only safe if it is on the heap and kept alive until the command is
// done; a Go stack can move under the access (and even make([]byte, n) may
// be stack-allocated when it does not escape).
//
// Faulter threads run with all asynchronous signals blocked; only the
// synchronous ones (SIGBUS, SIGSEGV, SIGILL, SIGFPE, SIGTRAP, SIGSYS) are
// open, so process-directed signals are left to Go threads.
//
// # Concurrency
//
// A Thread runs one command at a time. Starting a command while the
// previous one has not finished returns a Pending whose Wait (and Err)
// report ErrBusy immediately; the previous command is unaffected. A command
// that has finished (even if nobody waited for it) does not make the Thread
// busy, and its Pending keeps its result. Pending and Thread methods are safe
// for concurrent use. For many threads at once, see Group.
package faulter

/*
#cgo CFLAGS: -O2 -Wall
#include <stdlib.h>
#include <signal.h>
#include "faulter.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Op is the kind of access a command performs.
type Op int

const (
	// OpRead copies n bytes at addr into a C buffer; Result.Data holds
	// them (the bytes before the fault, if one happened).
	OpRead Op = iota + 1
	// OpWrite copies the given bytes (copied into a C buffer beforehand)
	// to addr.
	OpWrite
	// OpTouchRead loads one byte at addr, addr+stride, ... (< addr+length).
	OpTouchRead
	// OpTouchWrite stores a value at addr, addr+stride, ... (< addr+length).
	OpTouchWrite
)

func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpTouchRead:
		return "touch-read"
	case OpTouchWrite:
		return "touch-write"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Result describes a finished command.
type Result struct {
	Op      Op
	Sigbus  bool    // the access raised SIGBUS (caught; the thread survives)
	Sigsegv bool    // the access raised SIGSEGV (caught; the thread survives)
	Signo   int32   // 0, SIGBUS or SIGSEGV
	Addr    uintptr // si_addr of the signal
	// Code is si_code. For a userfaultfd poison marker (UFFDIO_POISON)
	// the kernel reports BUS_MCEERR_AR only if built with
	// CONFIG_MEMORY_FAILURE; otherwise (as on the dev VM, 6.18) it is a
	// plain BUS_ADRERR, the same as for an access beyond EOF.
	Code  int32
	Errno int32 // si_errno of the signal (0 in every case seen so far)
	// Done is what completed before the fault (everything, if none):
	// bytes for OpRead/OpWrite, touched bytes (i.e. pages, with a page
	// stride) for OpTouchRead/OpTouchWrite.
	Done uintptr
	// Data holds, for OpRead, the Done bytes read, copied into Go memory
	// after the C thread finished. It is shared by all Wait callers.
	Data []byte
	// Elapsed is the time the access itself took (CLOCK_MONOTONIC, read
	// in C right before the first and right after the last access or the
	// fault), including any time blocked in the kernel.
	Elapsed time.Duration
}

// Faulted reports whether the access raised a signal.
func (r Result) Faulted() bool { return r.Signo != 0 }

// si_code values of interest (linux/include/uapi/asm-generic/siginfo.h).
const (
	BUS_ADRALN    = 1
	BUS_ADRERR    = 2
	BUS_OBJERR    = 3
	BUS_MCEERR_AR = 4
	BUS_MCEERR_AO = 5
	SEGV_MAPERR   = 1
	SEGV_ACCERR   = 2
)

var (
	// ErrTimeout is returned by Wait when the command has not finished
	// within the timeout. Wait may be called again later.
	ErrTimeout = errors.New("faulter: timed out waiting for the access")
	// ErrBusy is reported for a command started while the thread's
	// previous command had not finished.
	ErrBusy = errors.New("faulter: thread busy: a command is already in flight")
	// ErrClosed is reported for a command started on a closed Thread.
	ErrClosed = errors.New("faulter: thread closed")
)

var (
	installOnce sync.Once
	installErr  error
)

// Install installs the SIGBUS/SIGSEGV handler now. Start does it
// implicitly; calling it is only useful to control when it happens.
func Install() error {
	installOnce.Do(func() {
		if rc := C.faulter_install(); rc != 0 {
			installErr = fmt.Errorf("faulter: installing signal handler: %w", syscall.Errno(rc))
		}
	})
	return installErr
}

// handlerState reports whether our handler is installed for sig and whether
// the handler it chains to is an SA_SIGINFO one (Go's is). For tests.
func handlerState(sig syscall.Signal) (ours, chainsToSiginfo bool) {
	st := C.faulter_handler_state(C.int(sig))
	return st&1 != 0, st&2 != 0
}

// PageSize is the system page size, as seen by the C side.
func PageSize() uintptr { return uintptr(C.faulter_pagesize()) }

// Thread is a dedicated C pthread that performs memory accesses on request.
type Thread struct {
	c   *C.fthread
	tid int

	mu       sync.Mutex
	cur      *Pending // posted and not yet collected
	waiters  int      // goroutines inside C.faulter_wait
	closed   bool
	stuck    bool // closed while a command was in flight
	released bool // the Go side dropped its C reference
}

// Start creates a new faulter thread.
func Start() (*Thread, error) {
	if err := Install(); err != nil {
		return nil, err
	}
	var c *C.fthread
	var tid C.int
	if rc := C.faulter_start(&c, &tid); rc != 0 {
		return nil, fmt.Errorf("faulter: starting thread: %w", syscall.Errno(rc))
	}
	return &Thread{c: c, tid: int(tid)}, nil
}

// Tid is the kernel thread id (gettid) of the C thread, as reported e.g. in
// a userfaultfd message's ptid with UFFD_FEATURE_THREAD_ID.
func (t *Thread) Tid() int { return t.tid }

// Stuck reports whether the Thread was closed while a command was still in
// flight (the thread then exits by itself once the access completes).
func (t *Thread) Stuck() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stuck
}

// Close ends the thread. If a command is in flight (the thread may be
// blocked in a fault, which cannot be interrupted), Close does not wait: the
// thread is marked to exit as soon as that access completes, and the
// command's Pending can still be waited for. Close never blocks for long and
// may be called more than once.
func (t *Thread) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	if p := t.cur; p != nil {
		var out C.fresult
		if C.faulter_wait(t.c, C.uint64_t(p.seq), 0, &out) == 1 {
			p.finishLocked(&out)
		}
	}
	if t.cur == nil {
		C.faulter_quit_join(t.c) // idle: returns at once
	} else {
		t.stuck = true
		C.faulter_quit_detach(t.c)
	}
	t.maybeReleaseLocked()
}

func (t *Thread) maybeReleaseLocked() {
	if t.closed && !t.released && t.cur == nil && t.waiters == 0 {
		t.released = true
		C.faulter_release(t.c)
	}
}

// Read starts reading n bytes at addr. It returns at once.
func (t *Thread) Read(addr uintptr, n int) *Pending {
	return t.read(addr, n, nil)
}

func (t *Thread) read(addr uintptr, n int, gate *C.fgate) *Pending {
	if n < 0 {
		return &Pending{op: OpRead, err: fmt.Errorf("faulter: negative length %d", n)}
	}
	buf := C.malloc(C.size_t(max(n, 1)))
	if buf == nil {
		return &Pending{op: OpRead, err: errors.New("faulter: out of C memory")}
	}
	return t.post(OpRead, addr, uint64(n), 0, 0, buf, gate)
}

// Write starts writing data at addr (data is copied first). It returns at
// once.
func (t *Thread) Write(addr uintptr, data []byte) *Pending {
	var buf unsafe.Pointer
	if len(data) == 0 {
		buf = C.malloc(1)
	} else {
		buf = C.CBytes(data)
	}
	return t.post(OpWrite, addr, uint64(len(data)), 0, 0, buf, nil)
}

// Touch starts accessing one byte at addr, addr+stride, ... below
// addr+length: loading it, or storing value if write. A stride of 0 means
// the page size. It returns at once.
func (t *Thread) Touch(addr, length, stride uintptr, write bool, value byte) *Pending {
	return t.touch(addr, length, stride, write, value, nil)
}

func (t *Thread) touch(addr, length, stride uintptr, write bool, value byte, gate *C.fgate) *Pending {
	op := OpTouchRead
	if write {
		op = OpTouchWrite
	}
	return t.post(op, addr, uint64(length), uint64(stride), value, nil, gate)
}

func (t *Thread) post(op Op, addr uintptr, n, stride uint64, value byte, buf unsafe.Pointer, gate *C.fgate) *Pending {
	p := &Pending{t: t, op: op, buf: buf}
	t.mu.Lock()
	switch {
	case t.closed:
		p.err = ErrClosed
	case t.cur != nil:
		// Collect the previous command if it has finished.
		var out C.fresult
		if C.faulter_wait(t.c, C.uint64_t(t.cur.seq), 0, &out) == 1 {
			t.cur.finishLocked(&out)
		}
		if t.cur != nil {
			p.err = ErrBusy
		}
	}
	if p.err == nil {
		var cop C.int
		switch op {
		case OpRead:
			cop = C.FOP_READ
		case OpWrite:
			cop = C.FOP_WRITE
		case OpTouchRead:
			cop = C.FOP_TOUCH_READ
		case OpTouchWrite:
			cop = C.FOP_TOUCH_WRITE
		}
		seq := C.faulter_post(t.c, cop, C.uintptr_t(addr), C.uint64_t(n),
			C.uint64_t(stride), C.uint8_t(value), buf, gate)
		if seq == 0 {
			p.err = ErrBusy // cannot happen: the Go side tracks cur
		} else {
			p.seq = uint64(seq)
			t.cur = p
		}
	}
	t.mu.Unlock()
	if p.err != nil && p.buf != nil {
		C.free(p.buf)
		p.buf = nil
	}
	return p
}

// Pending is a command that was started on a Thread.
type Pending struct {
	t   *Thread
	seq uint64
	op  Op
	err error // set at start: ErrBusy, ErrClosed, ...

	// Under t.mu.
	buf  unsafe.Pointer // C buffer, freed when collected
	done bool
	res  Result
}

// Err reports an error that prevented the command from starting at all
// (ErrBusy, ErrClosed), or nil.
func (p *Pending) Err() error { return p.err }

// Wait waits up to timeout for the command to finish and returns its
// Result. If it has not finished by then, Wait returns ErrTimeout and may be
// called again. A timeout <= 0 just polls. Wait blocks in C (without holding
// a P) and returns no earlier than timeout and shortly after it.
func (p *Pending) Wait(timeout time.Duration) (Result, error) {
	if p.err != nil {
		return Result{}, p.err
	}
	t := p.t
	t.mu.Lock()
	if p.done {
		r := p.res
		t.mu.Unlock()
		return r, nil
	}
	t.waiters++
	t.mu.Unlock()

	var out C.fresult
	rc := C.faulter_wait(t.c, C.uint64_t(p.seq), C.int64_t(timeout), &out)

	t.mu.Lock()
	defer t.mu.Unlock()
	t.waiters--
	if rc == 1 && !p.done {
		p.finishLocked(&out)
	}
	t.maybeReleaseLocked()
	if p.done {
		return p.res, nil
	}
	return Result{}, ErrTimeout
}

// Done reports, without blocking, whether Wait would return at once (the
// command finished, or never started).
func (p *Pending) Done() bool {
	_, err := p.Wait(0)
	return err != ErrTimeout
}

// finishLocked turns the C result into p.res. Called with p.t.mu held.
func (p *Pending) finishLocked(out *C.fresult) {
	t := p.t
	r := Result{
		Op:      p.op,
		Signo:   int32(out.signo),
		Addr:    uintptr(out.addr),
		Code:    int32(out.code),
		Errno:   int32(out.err),
		Done:    uintptr(out.done),
		Elapsed: time.Duration(out.elapsed_ns),
	}
	r.Sigbus = r.Signo == C.SIGBUS
	r.Sigsegv = r.Signo == C.SIGSEGV
	if p.op == OpRead {
		r.Data = make([]byte, r.Done)
		copy(r.Data, unsafe.Slice((*byte)(p.buf), r.Done))
	}
	if p.buf != nil {
		C.free(p.buf)
		p.buf = nil
	}
	p.res = r
	p.done = true
	if t.cur == p {
		t.cur = nil
	}
}

// ReadAt reads n bytes at addr on a new faulter thread and waits up to
// timeout. On ErrTimeout the thread is left behind (closed; it exits when
// the access completes).
func ReadAt(addr uintptr, n int, timeout time.Duration) (Result, error) {
	return oneShot(func(t *Thread) *Pending { return t.Read(addr, n) }, timeout)
}

// WriteAt is like ReadAt, for Thread.Write.
func WriteAt(addr uintptr, data []byte, timeout time.Duration) (Result, error) {
	return oneShot(func(t *Thread) *Pending { return t.Write(addr, data) }, timeout)
}

// TouchAt is like ReadAt, for Thread.Touch.
func TouchAt(addr, length, stride uintptr, write bool, value byte, timeout time.Duration) (Result, error) {
	return oneShot(func(t *Thread) *Pending { return t.Touch(addr, length, stride, write, value) }, timeout)
}

func oneShot(f func(*Thread) *Pending, timeout time.Duration) (Result, error) {
	t, err := Start()
	if err != nil {
		return Result{}, err
	}
	defer t.Close()
	return f(t).Wait(timeout)
}
