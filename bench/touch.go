package bench

import (
	"fmt"
	"time"

	"github.com/pagerd/pagerd/bench/internal/cbench"
)

// batchFaults is how many faults (all threads together) one cbench.Touch
// call takes; the Duration cap is checked between batches.
const batchFaults = 1000

// touchSpec describes a fault row's faulting side: one address list per
// C thread, touched in order. The first warm addresses of each list are
// touched untimed before the measured ones.
type touchSpec struct {
	addrs [][]uintptr
	warm  int // per thread
	write bool
	pin   int // 1 + the CPU to pin every faulting thread to; 0: no pinning
}

// split deals addrs out to n threads in contiguous, equal slices.
func split(addrs []uintptr, n int) [][]uintptr {
	out := make([][]uintptr, n)
	per := len(addrs) / n
	for i := range out {
		out[i] = addrs[i*per : (i+1)*per]
	}
	return out
}

// touch runs the faulting side of a fault row and measures it. The deadline
// caps the measured part; check, if set, is called after every batch (to
// catch a dead handler early).
func touch(spec touchSpec, duration time.Duration, check func() error) (*measurement, error) {
	nt := len(spec.addrs)
	if nt == 0 {
		return nil, fmt.Errorf("no faulting threads")
	}
	jobs := make([]cbench.Job, nt)
	if spec.warm > 0 {
		for i := range jobs {
			w := min(spec.warm, len(spec.addrs[i]))
			jobs[i] = cbench.Job{Addrs: spec.addrs[i][:w], Write: spec.write, CPU: spec.pin - 1}
		}
		if err := cbench.Touch(jobs); err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(); err != nil {
				return nil, err
			}
		}
	}
	m := &measurement{threads: nt}
	per := max(1, batchFaults/nt)
	pos := spec.warm
	deadline := time.Now().Add(duration)
	for {
		left := false
		for i := range jobs {
			if pos < len(spec.addrs[i]) {
				left = true
			}
		}
		if !left || (len(m.samples) > 0 && time.Now().After(deadline)) {
			break
		}
		total := 0
		for i := range jobs {
			lo := min(pos, len(spec.addrs[i]))
			hi := min(pos+per, len(spec.addrs[i]))
			jobs[i] = cbench.Job{Addrs: spec.addrs[i][lo:hi], Write: spec.write, CPU: spec.pin - 1, Lat: make([]int64, hi-lo)}
			total += hi - lo
		}
		if err := cbench.Touch(jobs); err != nil {
			return nil, err
		}
		start, end := int64(-1), int64(0)
		for _, j := range jobs {
			if len(j.Addrs) == 0 {
				continue
			}
			if start < 0 || j.Start < start {
				start = j.Start
			}
			end = max(end, j.End)
			m.samples = append(m.samples, j.Lat...)
		}
		m.wallNs += end - start
		if m.startNs == 0 {
			m.startNs = start
		}
		m.endNs = end
		m.faults += int64(total)
		pos += per
		if check != nil {
			if err := check(); err != nil {
				return nil, err
			}
		}
	}
	m.bytes = m.faults * int64(pageSize)
	return m, nil
}
