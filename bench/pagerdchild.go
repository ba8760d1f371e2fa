package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/client"
)

// The pagerd rows' client processes. Each is this binary re-executed with
// childEnv=pagerdRole and its job in childEnvSpec (JSON). It dials the
// pagerd socket, opens the VMO, maps its range read-only (registered with
// the session's userfaultfd by package client, served by pagerd in the
// parent process) and touches it from C threads (package cbench): a Go
// client may touch pagerd memory in principle, but the measurement must be
// the faulting thread's own, and C does that without Go scheduling in the
// way. The conversation with the parent, one byte each way on the socket
// (childSockFd):
//
//	child → 'R' ready (mapped)      parent → 'G' go (every child ready)
//	child → 'D' done (results in the memfd)
//	parent → 'Q' quit (after reading pagerd's statistics of the VMO)
//
// Results go to the memfd at childResultsFd: pdHeader int64s (faults,
// measured ns, sample count, first start and last end in CLOCK_MONOTONIC
// ns), then the samples.

const (
	pagerdRole   = "pagerd"
	childEnvSpec = "PAGERBENCH_CHILD_SPEC"
	pdHeader     = 5
)

// pdChildSpec is one client process's job.
type pdChildSpec struct {
	Sock     string        `json:"sock"`
	VMO      string        `json:"vmo"`
	Off      uint64        `json:"off"`    // mapped range, bytes (page aligned)
	Len      uint64        `json:"len"`    // bytes, a multiple of Stride
	Stride   uint64        `json:"stride"` // bytes from one touched address to the next
	Threads  int           `json:"threads"`
	Warm     int           `json:"warm"` // untimed touches per thread first
	Duration time.Duration `json:"duration"`
	// Write maps the range writable and stores a byte per touch (else
	// read-only, loads); Populate makes the whole range present first
	// (MADV_POPULATE_READ, untimed), so the touches find clean pages.
	Write    bool `json:"write"`
	Populate bool `json:"populate"`
}

// touches is how many addresses the child touches (warm-up included).
func (s pdChildSpec) touches() int { return int(s.Len / s.Stride) }

func pagerdChildMain() error {
	// Die with the parent rather than fault forever.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	var spec pdChildSpec
	if err := json.Unmarshal([]byte(os.Getenv(childEnvSpec)), &spec); err != nil {
		return fmt.Errorf("bad %s: %w", childEnvSpec, err)
	}
	if spec.Threads < 1 || spec.Stride == 0 || spec.Len == 0 || spec.Len%spec.Stride != 0 {
		return fmt.Errorf("bad job %+v", spec)
	}
	tv := unix.Timeval{Sec: 300}
	_ = unix.SetsockoptTimeval(childSockFd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	c, err := client.Dial(spec.Sock, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.Open(spec.VMO, 0, 0)
	if err != nil {
		return err
	}
	mp, err := v.Map(spec.Off, spec.Len, spec.Write)
	if err != nil {
		return err
	}
	if spec.Populate {
		if err := mp.Populate(0, spec.Len, false); err != nil {
			return err
		}
	}
	n := spec.touches()
	addrs := make([]uintptr, n)
	for i := range addrs {
		addrs[i] = mp.Addr() + uintptr(uint64(i)*spec.Stride)
	}
	if err := handshake(childSockFd, 'R', 'G'); err != nil {
		return err
	}
	m, err := touch(touchSpec{addrs: split(addrs, spec.Threads), warm: spec.Warm, write: spec.Write}, spec.Duration, nil)
	if err != nil {
		return err
	}
	res, err := mmapShared(childResultsFd, (pdHeader+n)*8, unix.PROT_READ|unix.PROT_WRITE)
	if err != nil {
		return err
	}
	out := unsafe.Slice((*int64)(unsafe.Pointer(&res.bytes()[0])), pdHeader+n)
	out[0], out[1], out[2], out[3], out[4] = m.faults, m.wallNs, int64(len(m.samples)), m.startNs, m.endNs
	copy(out[pdHeader:], m.samples)
	res.unmap()
	if err := handshake(childSockFd, 'D', 'Q'); err != nil {
		return err
	}
	if err := mp.Unmap(); err != nil {
		return err
	}
	if err := v.Close(); err != nil {
		return err
	}
	return c.Close()
}

// handshake sends one byte and waits for the expected answer.
func handshake(sock int, send, want byte) error {
	if _, err := sockWrite(sock, []byte{send}); err != nil {
		return fmt.Errorf("sending %q: %w", send, err)
	}
	var b [1]byte
	k, err := sockRead(sock, b[:])
	if err != nil || k != 1 || b[0] != want {
		return fmt.Errorf("waiting for %q: got %q (n=%d, err=%v)", want, b[:max(k, 0)], k, err)
	}
	return nil
}
