package pager

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pagerd/pagerd/uffd"
)

// features is what the process's userfaultfd must offer: memfd VMOs need
// MISSING_SHMEM; write-protect on memfds (WP_HUGETLBFS_SHMEM) turns the first
// write to a clean page into a fault, for dirty tracking; THREAD_ID names the
// faulting thread (a failed user-mode fault is sent SIGBUS, sigbus.go);
// POISON fails faults taken inside system calls (EFAULT).
const features = uffd.FeatureMissingShmem | uffd.FeatureWPHugetlbfsShmem | uffd.FeaturePagefaultFlagWP |
	uffd.FeatureThreadID | uffd.FeaturePoison

// asyncFeatures add WP_ASYNC: the kernel lifts write protection itself on a
// write, and PAGEMAP_SCAN reports the written pages. VMOs without
// ZX_VMO_TRAP_DIRTY track dirtiness that way (docs/DIRTY-TRACKING.md: a
// first write costs ~1-2 µs instead of a ~10-40 µs round trip).
// MINOR_SHMEM lets a detach stop untracked writes (settle.go).
const asyncFeatures = features | uffd.FeatureWPAsync | uffd.FeatureMinorShmem

// faultReader owns the process's userfaultfds. Every mapping of a pager VMO
// in this process, and every supply window, is registered with one of them.
// One goroutine per uffd waits in the Go netpoller (holding no P while it
// waits), drains every queued message per wake-up and hands each fault to
// its VMO. The uffd lives as long as the
// process: closing it would unregister every range and turn later faults
// into silent zero pages.
type faultReader struct {
	u       *uffd.UFFD // synchronous write-protect: supply windows, TRAP_DIRTY mappings
	ua      *uffd.UFFD // asynchronous write-protect: mappings of other pager VMOs
	pagemap int        // /proc/self/pagemap, for PAGEMAP_SCAN
	files   []*os.File // the uffds as netpoller files (kept so they are never finalized)

	mu   sync.Mutex                 // serialises changes to maps
	maps atomic.Pointer[[]*mapping] // sorted by start; read without locks on the fault path

	faults atomic.Uint64 // page faults handled (for stats and tests)
}

var theReader struct {
	once sync.Once
	r    *faultReader
	err  error
}

// reader returns the process's fault reader, starting it on first use. It
// fails with a clear error when the kernel lacks what pagerd needs.
func reader() (*faultReader, error) {
	theReader.once.Do(func() {
		u, err := uffd.New(features)
		if err != nil {
			theReader.err = fmt.Errorf("pager: userfaultfd with MISSING_SHMEM, WP_HUGETLBFS_SHMEM, THREAD_ID and POISON is required (Linux 6.6+): %w", err)
			return
		}
		ua, err := uffd.New(asyncFeatures)
		if err != nil {
			theReader.err = fmt.Errorf("pager: userfaultfd with WP_ASYNC is required (Linux 6.7+): %w", err)
			return
		}
		pm, err := uffd.OpenPagemap(0)
		if err != nil {
			theReader.err = fmt.Errorf("pager: PAGEMAP_SCAN needs /proc/self/pagemap: %w", err)
			return
		}
		r := &faultReader{u: u, ua: ua, pagemap: pm}
		empty := []*mapping{}
		r.maps.Store(&empty)
		theReader.r = r
		for _, x := range []*uffd.UFFD{u, ua} {
			// Never closed: closing would unregister every range.
			r.files = append(r.files, os.NewFile(uintptr(x.Fd()), "userfaultfd"))
		}
		go r.loop(u, r.files[0])
		go r.loop(ua, r.files[1])
	})
	return theReader.r, theReader.err
}

func (r *faultReader) loop(u *uffd.UFFD, f *os.File) {
	// The uffd is non-blocking and pollable: f parks it in the Go netpoller,
	// so the reader goroutine waits without a thread of its own and wakes on
	// a P that is already running (docs/BENCHMARKS.md: throughput +20-50%).
	rc, err := f.SyscallConn()
	if err != nil {
		panic(fmt.Sprintf("pager: userfaultfd in the netpoller: %v", err))
	}
	var msgs [64]uffd.Msg
	for {
		var n int
		var rerr error
		err := rc.Read(func(uintptr) bool {
			n, rerr = u.Read(msgs[:])
			return n > 0 || rerr != nil // false: nothing queued, wait for readiness
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			panic(fmt.Sprintf("pager: read from userfaultfd: %v", err))
		}
		for i := 0; i < n; i++ {
			r.handle(u, &msgs[i])
		}
	}
}

func (r *faultReader) handle(u *uffd.UFFD, msg *uffd.Msg) {
	if msg.Event() != uffd.EventPagefault {
		return // no non-cooperative events are requested
	}
	flags, addr, tid := msg.Pagefault()
	r.faults.Add(1)
	m := r.lookup(uintptr(addr))
	if m == nil {
		// The mapping went away under the fault: let the thread retry (it
		// will take SIGSEGV on the hole, or fault on the new mapping).
		_ = u.Wake(uintptr(addr)&^pageMask, pageSize)
		return
	}
	if m.window {
		// Nothing may touch a supply window; a wild access there dies
		// (SIGBUS, or EFAULT inside the kernel) instead of spinning.
		_ = m.u.WriteProtect(uintptr(addr)&^pageMask, pageSize, uffd.WriteProtectModeDontWake)
		_, _ = m.u.Poison(uintptr(addr)&^pageMask, pageSize, 0)
		return
	}
	m.pv.onFault(m, uintptr(addr)&^pageMask, flags, tid)
}

// lookup finds the mapping containing addr: a binary search over an
// immutable snapshot, no lock.
func (r *faultReader) lookup(addr uintptr) *mapping {
	ms := *r.maps.Load()
	i := sort.Search(len(ms), func(i int) bool { return ms[i].end > addr })
	if i < len(ms) && ms[i].start <= addr {
		return ms[i]
	}
	return nil
}

// addMapping publishes m (copy-on-write of the sorted table).
func (r *faultReader) addMapping(m *mapping) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.maps.Load()
	ms := make([]*mapping, 0, len(old)+1)
	ms = append(ms, old...)
	ms = append(ms, m)
	sort.Slice(ms, func(i, j int) bool { return ms[i].start < ms[j].start })
	r.maps.Store(&ms)
}

// removeMapping withdraws m from the table.
func (r *faultReader) removeMapping(m *mapping) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.maps.Load()
	ms := make([]*mapping, 0, len(old))
	for _, x := range old {
		if x != m {
			ms = append(ms, x)
		}
	}
	r.maps.Store(&ms)
}

// FaultsHandled returns how many page-fault messages the process's fault
// reader has handled (0 before any pager exists).
func FaultsHandled() uint64 {
	if theReader.r == nil {
		return 0
	}
	return theReader.r.faults.Load()
}

const pageSize uintptr = 4096

const pageMask = 4096 - 1
