package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Load is what else used the machine while the benchmark ran: on a small
// shared VM another process's build, or the host taking the vCPUs away
// (steal), moves every number, so the report records it.
type Load struct {
	CPUs int `json:"cpus"`
	// OtherBusy is the fraction of all CPU time that processes other than
	// this one (and its child) used during the run.
	OtherBusy float64 `json:"other_busy"`
	// Steal is the fraction of CPU time the hypervisor gave to others.
	Steal float64 `json:"steal"`
	// LoadAvg is /proc/loadavg's 1-minute average at the end.
	LoadAvg float64 `json:"loadavg_1m"`
}

type cpuSample struct {
	wall        time.Time
	busy, steal float64 // seconds, all CPUs
	self        float64 // this process and its waited-for children, seconds
}

func sampleCPU() (cpuSample, bool) {
	s := cpuSample{wall: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return s, false
	}
	var v [8]float64
	for i := range v {
		x, err := strconv.ParseFloat(f[i+1], 64)
		if err != nil {
			return s, false
		}
		v[i] = x / 100 // USER_HZ
	}
	// user nice system idle iowait irq softirq steal
	s.busy = v[0] + v[1] + v[2] + v[5] + v[6]
	s.steal = v[7]
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if unix.Getrusage(who, &ru) == nil {
			s.self += float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		}
	}
	return s, true
}

func loadBetween(a, b cpuSample, cpus int) Load {
	l := Load{CPUs: cpus}
	total := b.wall.Sub(a.wall).Seconds() * float64(cpus)
	if total > 0 {
		l.OtherBusy = max(0, (b.busy-a.busy)-(b.self-a.self)) / total
		l.Steal = (b.steal - a.steal) / total
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			l.LoadAvg, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return l
}

func (l Load) String() string {
	return fmt.Sprintf("other processes used %.0f%% of the CPUs, steal %.0f%%, load average %.2f",
		100*l.OtherBusy, 100*l.Steal, l.LoadAvg)
}
