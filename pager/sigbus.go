package pager

import (
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Failing exactly one mapped access (spec §3.4: a failed access dies
// loudly, and failing is not sticky).
//
// A UFFDIO_POISON marker fails every access to the page in that mapping,
// by any thread, until it is removed, and nothing tells the pager when the
// failed thread has taken its SIGBUS, so a marker either outlives the
// failed access (the next access fails too) or may go before it (the
// failed thread maps the page instead). A thread blocked in a fault taken
// in user mode can be failed alone instead: it waits interruptibly, so a
// signal sent to that thread alone ends the wait, and since the faulting
// instruction has not completed, the signal is delivered on it, as the
// kernel's own SIGBUS would be. No page-table entry changes; every other
// access, including the same thread's next one, faults as usual.
//
// This needs the thread's id (UFFD_FEATURE_THREAD_ID) and a thread blocked
// in user mode: /proc/self/task/<tid>/syscall reads "-1 ..." for a thread
// in an exception rather than a system call (x86-64 entry sets orig_ax to
// -1 for exceptions; arm64 sets syscallno to NO_SYSCALL). A fault taken by
// the kernel on a user buffer (read(2) into a mapping, MADV_POPULATE_*)
// must instead fail the system call with EFAULT and raise no signal, so
// those, and threads that block or ignore SIGBUS (the signal would not end
// their wait), still get a poison marker (pagedVMO.poison).
//
// The signal is queued with rt_tgsigqueueinfo, which lets a process send
// itself any negative si_code: si_code is SI_QUEUE and si_addr is the
// fault's page address (a kernel-generated si_code cannot be forged for
// another thread). The C handlers in this project only look at si_addr;
// the Go runtime treats a SIGBUS that is not from kill/tgkill as a fault at
// si_addr, as it would the kernel's.

// The Go runtime's handler needs one more step. Seeing a SIGBUS that is
// not from kill/tgkill on a thread not running Go (a C thread), it forwards
// it to the handler it replaced, and if that was the default action it
// restores the default action and returns, so that the faulting
// instruction faults again and the kernel's SIGBUS kills the process
// (include/README.md). That second fault would come here as a new fault
// and wait for a READ. So a thread signalled while the runtime's handler
// was in place is remembered (pagedVMO.signalled, a few entries for a
// second); a fault of the same thread at the same address that finds
// SIGBUS at its default action now is that retry, and is failed again at
// once (the default action then kills the process). Any other later fault
// is served as usual.

// siQueue is SI_QUEUE (asm-generic/siginfo.h).
const siQueue = -1

// killFault sends SIGBUS to thread tid of this process, blocked in a
// user-mode fault on addr, and reports whether it did, and whether the Go
// runtime's handler was the one to receive it. It does nothing and reports
// false when the thread is not blocked in a user-mode fault or would not
// be woken by the signal.
func killFault(tid uint32, addr uintptr) (sent, goHandler bool) {
	if tid == 0 {
		return false, false
	}
	bus, ok1 := signalHandler(unix.SIGBUS)
	urg, ok2 := signalHandler(unix.SIGURG)
	if !ok1 || !ok2 || bus == sigIgn {
		return false, false
	}
	var buf [4096]byte
	n := readTaskFile(tid, "syscall", buf[:])
	if n < 3 || string(buf[:3]) != "-1 " {
		return false, false // in a system call (a kernel-mode fault), running, or gone
	}
	n = readTaskFile(tid, "status", buf[:])
	if n <= 0 || sigbusMasked(buf[:n]) {
		return false, false
	}
	var info [128]byte
	*(*int32)(unsafe.Pointer(&info[0])) = int32(unix.SIGBUS)
	*(*int32)(unsafe.Pointer(&info[8])) = siQueue
	*(*uintptr)(unsafe.Pointer(&info[16])) = addr
	_, _, errno := unix.Syscall6(unix.SYS_RT_TGSIGQUEUEINFO, uintptr(unix.Getpid()), uintptr(tid),
		uintptr(unix.SIGBUS), uintptr(unsafe.Pointer(&info[0])), 0, 0)
	return errno == 0, bus == urg
}

// readTaskFile reads /proc/self/task/<tid>/<name> into buf and returns the
// bytes read (0 on any error). It does not allocate.
func readTaskFile(tid uint32, name string, buf []byte) int {
	var path [64]byte
	p := append(path[:0], "/proc/self/task/"...)
	p = strconv.AppendUint(p, uint64(tid), 10)
	p = append(p, '/')
	p = append(p, name...)
	p = append(p, 0)
	atFdcwd := unix.AT_FDCWD
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFdcwd), uintptr(unsafe.Pointer(&p[0])),
		unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return 0
	}
	defer unix.Close(int(fd))
	total := 0
	for total < len(buf) {
		n, _, errno := unix.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[total])), uintptr(len(buf)-total))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 || n == 0 {
			break
		}
		total += int(n)
	}
	return total
}

// sigbusMasked reports whether the SigBlk or SigIgn line of a
// /proc/<pid>/task/<tid>/status text has SIGBUS set (or cannot be read).
func sigbusMasked(status []byte) bool {
	blk, ok1 := statusMask(status, "SigBlk:")
	ign, ok2 := statusMask(status, "SigIgn:")
	if !ok1 || !ok2 {
		return true
	}
	bit := uint64(1) << (uint(unix.SIGBUS) - 1)
	return (blk|ign)&bit != 0
}

// statusMask parses the hexadecimal mask on the status line starting with key.
func statusMask(status []byte, key string) (uint64, bool) {
	for i := 0; i+len(key) <= len(status); {
		if (i == 0 || status[i-1] == '\n') && string(status[i:i+len(key)]) == key {
			j := i + len(key)
			for j < len(status) && (status[j] == ' ' || status[j] == '\t') {
				j++
			}
			var v uint64
			k := j
			for ; k < len(status); k++ {
				c := status[k]
				switch {
				case c >= '0' && c <= '9':
					v = v<<4 | uint64(c-'0')
				case c >= 'a' && c <= 'f':
					v = v<<4 | uint64(c-'a'+10)
				default:
					return v, k > j
				}
			}
			return v, k > j
		}
		nl := i
		for nl < len(status) && status[nl] != '\n' {
			nl++
		}
		i = nl + 1
	}
	return 0, false
}

const (
	sigDfl = 0 // SIG_DFL
	sigIgn = 1 // SIG_IGN
)

// signalledKeep is how long a thread signalled under the Go runtime's
// handler is remembered (its retry comes within microseconds).
const signalledKeep = time.Second

// maxSignalled bounds pagedVMO.signalled.
const maxSignalled = 8

// signalled is a thread sent SIGBUS for a fault at addr of m while the Go
// runtime's handler was in place.
type signalled struct {
	m    *mapping
	addr uintptr
	tid  uint32
	when int64 // nanoseconds, time.Now().UnixNano()
}

// noteSignalled remembers a thread signalled under the Go runtime's handler.
func (pv *pagedVMO) noteSignalled(m *mapping, addr uintptr, tid uint32) {
	if len(pv.signalled) == maxSignalled {
		copy(pv.signalled, pv.signalled[1:])
		pv.signalled = pv.signalled[:maxSignalled-1]
	}
	pv.signalled = append(pv.signalled, signalled{m: m, addr: addr, tid: tid, when: time.Now().UnixNano()})
}

// retriedAfterSignal reports whether a fault of tid at addr of m is the
// retry the Go runtime makes after it reset SIGBUS to its default action
// (see above), which must fail again. It forgets the thread's entry and
// expired ones. Called with pv.mu held, only when pv.signalled is not empty.
func (pv *pagedVMO) retriedAfterSignal(m *mapping, addr uintptr, tid uint32) bool {
	now := time.Now().UnixNano()
	found := false
	keep := pv.signalled[:0]
	for _, e := range pv.signalled {
		switch {
		case e.m == m && e.addr == addr && e.tid == tid:
			found = true
		case now-e.when < int64(signalledKeep):
			keep = append(keep, e)
		}
	}
	clear(pv.signalled[len(keep):])
	pv.signalled = keep
	if !found {
		return false
	}
	h, ok := signalHandler(unix.SIGBUS)
	return ok && h == sigDfl
}

// signalHandler returns the address of the process's handler for sig (0 is
// SIG_DFL, 1 SIG_IGN), from rt_sigaction(2).
func signalHandler(sig unix.Signal) (uintptr, bool) {
	// struct kernel_sigaction: handler first on every Linux architecture
	// this runs on; flags, restorer and mask follow.
	var act [4]uint64
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&act[0])), 8, 0, 0)
	if errno != 0 {
		return 0, false
	}
	return uintptr(act[0]), true
}
