package stress

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/syscalls"
	"github.com/pagerd/pagerd/zx"
)

// config is the shape of a run.
type config struct {
	duration      time.Duration // how long the load runs
	seed          uint64
	pagers        int           // pagers, each with its own port
	serversPerPgr int           // goroutines waiting on each port
	slots         int           // VMOs alive at any time
	cThreads      int           // C threads doing mapped accesses
	callers       int           // goroutines doing zx_vmo_read/write/COMMIT
	failPct       int           // percentage of requests answered (partly) with OP_FAIL
	hang          time.Duration // an access that takes longer has hung
	tol           tolerance
}

// tolerance is the set of known bugs (see repro_test.go) whose symptoms a
// run accepts, from PAGERD_STRESS_TOLERATE; by default none.
type tolerance struct {
	// sticky (sticky-fail): a mapped access may take SIGBUS on a page
	// failed less than stickyFor ago, or by a FAIL that overlapped it
	// (TestReproMappedFailIsStickyForTheNextAccess).
	sticky bool
	// poison (detach-poison): a mapped access may take SIGBUS on a page
	// whose mapped write failed after a detach
	// (TestReproFailedWriteAfterDetachPoisonsReadablePage).
	poison bool
	// untrapped (shrink-grow-trap): a TRAP_DIRTY page once cut by a
	// shrink may be written without a DIRTY request, reported IS_ZERO, and
	// trap again later (TestReproWriteAfterShrinkGrowNotTrapped).
	untrapped bool
	// detachRace (detach-race): a page written while a detach ran may be
	// gone after it (TestReproDetachDropsPageWrittenDuringIt).
	detachRace bool
	// overlapFail (overlap-fail): a FAIL of a request's first page may
	// fail every waiter of the request, whatever page it waits for
	// (TestReproFailOfFirstPageFailsOverlapWaiters).
	overlapFail bool
}

// stats are the run's counters.
type stats struct {
	readPackets, dirtyPackets, completes, lateRequests          atomic.Int64
	supplies, suppliedPages, supplyErrors, splits, oversupplies atomic.Int64
	fails, opDirty                                              atomic.Int64
	detaches, shrinks, grows, retires, vmos                     atomic.Int64
	mappedReads, mappedWrites, vmoReads, vmoWrites, commits     atomic.Int64
	sigbus, failedCalls, pagesChecked                           atomic.Int64
	closedPagerPages                                            atomic.Int64
	writebacks, writtenBack, writebackSkips                     atomic.Int64
	writesDuringWriteback                                       atomic.Int64
}

// run is one stress run.
type run struct {
	t   *testing.T
	cfg config
	st  stats

	pagers []*pagerState
	slots  []atomic.Pointer[vmoState]

	stop     chan struct{}
	stopOnce sync.Once

	mu          sync.Mutex
	nextID      uint16
	retiredVMOs []*vmoState
	closedVMOs  []*vmoState // VMOs of the pager closePager closed
	nerr        int
	hung        bool // the watchdog detached everything: later errors are its echoes

	chaosThread *faulter.Thread // the chaos goroutine's mapped writes

	busySince []atomic.Int64 // per worker: unix nanoseconds of the access start, 0 when idle
	busyWhat  []atomic.Pointer[string]
	busyOn    []atomic.Pointer[busyRange] // what the worker accesses
}

func (r *run) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *run) abort() { r.stopOnce.Do(func() { close(r.stop) }) }

// errorf reports an error (the first 40) with the seed, and stops the run.
func (r *run) errorf(format string, args ...any) {
	r.mu.Lock()
	r.nerr++
	n, hung := r.nerr, r.hung
	r.mu.Unlock()
	if n <= 40 && !hung {
		r.t.Errorf("seed %d: "+format, append([]any{r.cfg.seed}, args...)...)
	}
	r.abort()
}

// busyRange is the range of a VMO a worker is accessing.
type busyRange struct {
	v      *vmoState
	lo, hi int
}

func (r *run) busy(i int, what string, v *vmoState, lo, hi int) {
	r.busyWhat[i].Store(&what)
	r.busyOn[i].Store(&busyRange{v, lo, hi})
	r.busySince[i].Store(time.Now().UnixNano())
}

func (r *run) idle(i int) { r.busySince[i].Store(0) }

// watchdog reports an access that has not returned within cfg.hang and then
// detaches every VMO, which must release it (BAD_STATE, SIGBUS).
func (r *run) watchdog(done <-chan struct{}) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		for i := range r.busySince {
			since := r.busySince[i].Load()
			if since == 0 || time.Since(time.Unix(0, since)) < r.cfg.hang {
				continue
			}
			b := r.busyOn[i].Load()
			r.errorf("hang: worker %d stuck for more than %v in %s\n%s\ngoroutines:\n%s", i, r.cfg.hang, *r.busyWhat[i].Load(), b.v.dump(b.lo, b.hi), allStacks())
			r.mu.Lock()
			r.hung = true
			r.mu.Unlock()
			for s := range r.slots {
				v := r.slots[s].Load()
				v.mu.Lock()
				v.detaching = true
				v.mu.Unlock()
				syscalls.PagerDetachVmo(v.pg.h, v.h)
			}
			return
		}
	}
}

func envDuration(name string, def time.Duration) time.Duration {
	if s := os.Getenv(name); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
	}
	return def
}

// defaultConfig is the bounded run of `go test ./stress/`, made longer by
// PAGERD_STRESS_DURATION and reproducible (as far as scheduling allows) by
// PAGERD_STRESS_SEED.
func defaultConfig(t *testing.T) config {
	cfg := config{
		duration:      envDuration("PAGERD_STRESS_DURATION", 15*time.Second),
		seed:          uint64(time.Now().UnixNano()),
		pagers:        3,
		serversPerPgr: 2,
		slots:         9,
		cThreads:      4,
		callers:       3,
		failPct:       4,
		hang:          20 * time.Second,
	}
	if s := os.Getenv("PAGERD_STRESS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("PAGERD_STRESS_SEED=%q: %v", s, err)
		}
		cfg.seed = n
	}
	if s := os.Getenv("PAGERD_STRESS_TOLERATE"); s != "" {
		for _, bug := range strings.Split(s, ",") {
			switch bug {
			case "sticky-fail":
				cfg.tol.sticky = true
			case "detach-poison":
				cfg.tol.poison = true
			case "shrink-grow-trap":
				cfg.tol.untrapped = true
			case "detach-race":
				cfg.tol.detachRace = true
			case "overlap-fail":
				cfg.tol.overlapFail = true
			default:
				t.Fatalf("PAGERD_STRESS_TOLERATE=%q: %q is not a known bug (sticky-fail, detach-poison, shrink-grow-trap, detach-race, overlap-fail)", s, bug)
			}
		}
	}
	if testing.Short() {
		cfg.duration = min(cfg.duration, 3*time.Second)
	}
	return cfg
}

// TestStressInProcess is the in-process stress (see the package doc).
func TestStressInProcess(t *testing.T) {
	cfg := defaultConfig(t)
	t.Logf("seed %d (PAGERD_STRESS_SEED=%d reproduces the random choices), load for %v", cfg.seed, cfg.seed, cfg.duration)
	if cfg.tol.sticky {
		t.Logf("tolerating a SIGBUS within %v of a FAIL of the page (PAGERD_STRESS_TOLERATE=sticky-fail)", stickyFor)
	}
	if cfg.tol.untrapped {
		t.Logf("tolerating untrapped writes to pages of TRAP_DIRTY VMOs once cut by a shrink (PAGERD_STRESS_TOLERATE=shrink-grow-trap)")
	}
	if cfg.tol.overlapFail {
		t.Logf("tolerating failures by a FAIL of an earlier page (PAGERD_STRESS_TOLERATE=overlap-fail)")
	}
	if cfg.tol.detachRace {
		t.Logf("tolerating the loss of pages written while a detach ran (PAGERD_STRESS_TOLERATE=detach-race)")
	}
	if cfg.tol.poison {
		t.Logf("tolerating a SIGBUS on a page whose mapped write failed after a detach (PAGERD_STRESS_TOLERATE=detach-poison)")
	}
	warmUp(t)
	fds0, gs0 := countFDs(t), runtime.NumGoroutine()
	stressRun(t, cfg)
	if t.Failed() {
		return
	}
	checkNoLeaks(t, fds0, gs0)
}

// stressRun runs the stress described by cfg and tears everything down.
func stressRun(t *testing.T, cfg config) *run {
	r := &run{t: t, cfg: cfg, stop: make(chan struct{}),
		slots:     make([]atomic.Pointer[vmoState], cfg.slots),
		busySince: make([]atomic.Int64, cfg.cThreads+cfg.callers),
		busyWhat:  make([]atomic.Pointer[string], cfg.cThreads+cfg.callers),
		busyOn:    make([]atomic.Pointer[busyRange], cfg.cThreads+cfg.callers)}
	root := rand.New(rand.NewPCG(cfg.seed, 0x57e55))
	newRng := func() *rand.Rand { return rand.New(rand.NewPCG(root.Uint64(), root.Uint64())) }

	// Pagers and their servers.
	serverStop := make(chan struct{})
	var servers sync.WaitGroup
	var auxes []zx.Handle
	for i := range cfg.pagers {
		pg := &pagerState{idx: i, vmos: map[uint64]*vmoState{}}
		var st zx.Status
		if pg.h, st = syscalls.PagerCreate(0); st != zx.ErrOk {
			t.Fatalf("PagerCreate = %v", st)
		}
		if pg.port, st = syscalls.PortCreate(0); st != zx.ErrOk {
			t.Fatalf("PortCreate = %v", st)
		}
		r.pagers = append(r.pagers, pg)
		for range cfg.serversPerPgr {
			aux, st := syscalls.VmoCreate(64*ps, 0)
			if st != zx.ErrOk {
				t.Fatalf("VmoCreate(aux) = %v", st)
			}
			auxes = append(auxes, aux)
			s := &server{r: r, pg: pg, rng: newRng(), aux: aux, buf: make([]byte, 64*ps)}
			servers.Add(1)
			go func() {
				defer servers.Done()
				s.serve(serverStop)
			}()
		}
	}
	for slot := range cfg.slots {
		if r.newVMO(slot, newRng()) == nil {
			t.FailNow()
		}
	}

	// Workers, chaos, watchdog.
	var workers sync.WaitGroup
	var threads []*faulter.Thread
	var err error
	for i := range cfg.cThreads + cfg.callers {
		wk := &worker{r: r, idx: i, rng: newRng(), buf: make([]byte, 64*ps)}
		if i < cfg.cThreads {
			th, err := faulter.Start()
			if err != nil {
				t.Fatalf("faulter.Start: %v", err)
			}
			threads = append(threads, th)
			wk.th = th
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			wk.loop()
		}()
	}
	if r.chaosThread, err = faulter.Start(); err != nil {
		t.Fatalf("faulter.Start: %v", err)
	}
	threads = append(threads, r.chaosThread)
	workers.Add(1)
	chaosRng := newRng()
	go func() {
		defer workers.Done()
		r.chaos(chaosRng)
	}()
	wdDone := make(chan struct{})
	wdExited := make(chan struct{})
	go func() {
		defer close(wdExited)
		r.watchdog(wdDone)
	}()

	start := time.Now()
	select {
	case <-time.After(cfg.duration):
	case <-r.stop:
	}
	r.abort()
	if !waitGroupWithin(&workers, cfg.hang+10*time.Second) {
		t.Fatalf("seed %d: workers did not stop within %v; goroutines:\n%s", cfg.seed, cfg.hang+10*time.Second, allStacks())
	}
	took := time.Since(start)
	close(wdDone)
	<-wdExited

	// Teardown: close the first pager with its VMOs still mapped, then
	// retire every VMO (detaching some first); each must get exactly one
	// COMPLETE, but those whose pager was closed before any detach: none.
	if !t.Failed() {
		r.closePager(r.pagers[0])
	}
	for s := range r.slots {
		v := r.slots[s].Load()
		if v.retired {
			continue
		}
		if s%2 == 0 && !v.detaching && !v.pagerClosed {
			r.detach(v)
		}
		r.retire(v)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var missing []string
		r.mu.Lock()
		for _, v := range r.retiredVMOs {
			v.mu.Lock()
			if want := v.completesWanted(); v.completes != want {
				missing = append(missing, fmt.Sprintf("%v: %d COMPLETE packets, want %d", v, v.completes, want))
			}
			v.mu.Unlock()
		}
		r.mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("seed %d: after 10 s: %v", cfg.seed, missing)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(serverStop)
	if !waitGroupWithin(&servers, 10*time.Second) {
		t.Fatalf("seed %d: pager servers did not stop; goroutines:\n%s", cfg.seed, allStacks())
	}
	for _, th := range threads {
		th.Close()
		if th.Stuck() {
			t.Errorf("seed %d: a faulter thread was still in an access at the end", cfg.seed)
		}
	}
	for _, h := range auxes {
		syscalls.HandleClose(h)
	}
	for _, pg := range r.pagers {
		if pg.closed {
			// Closed by closePager.
		} else if st := syscalls.HandleClose(pg.h); st != zx.ErrOk {
			t.Errorf("HandleClose(pager) = %v", st)
		}
		if st := syscalls.HandleClose(pg.port); st != zx.ErrOk {
			t.Errorf("HandleClose(port) = %v", st)
		}
	}

	s := &r.st
	t.Logf("%d pagers (%d servers each), %d VMO slots, %d C threads, %d syscall goroutines, load for %v",
		cfg.pagers, cfg.serversPerPgr, cfg.slots, cfg.cThreads, cfg.callers, took.Round(time.Millisecond))
	t.Logf("requests: %d READ, %d DIRTY, %d COMPLETE, %d after detach", s.readPackets.Load(), s.dirtyPackets.Load(), s.completes.Load(), s.lateRequests.Load())
	t.Logf("pager: %d supplies (%d pages, %d split requests, %d over-supplied, %d refused), %d OP_FAIL, %d OP_DIRTY",
		s.supplies.Load(), s.suppliedPages.Load(), s.splits.Load(), s.oversupplies.Load(), s.supplyErrors.Load(), s.fails.Load(), s.opDirty.Load())
	t.Logf("chaos: %d VMOs created, %d detaches, %d shrinks, %d grows, %d retired; %d write-backs (%d pages, %d skipped over uncertain pages, %d pages written meanwhile)",
		s.vmos.Load(), s.detaches.Load(), s.shrinks.Load(), s.grows.Load(), s.retires.Load(), s.writebacks.Load(), s.writtenBack.Load(), s.writebackSkips.Load(), s.writesDuringWriteback.Load())
	t.Logf("pager closed with %d VMOs mapped: %d pages checked after", len(r.closedVMOs), s.closedPagerPages.Load())
	t.Logf("accesses: %d mapped reads, %d mapped writes, %d zx_vmo_read, %d zx_vmo_write, %d COMMIT; %d expected SIGBUS, %d expected failed calls; %d pages checked (%.0f/s)",
		s.mappedReads.Load(), s.mappedWrites.Load(), s.vmoReads.Load(), s.vmoWrites.Load(), s.commits.Load(),
		s.sigbus.Load(), s.failedCalls.Load(), s.pagesChecked.Load(), float64(s.pagesChecked.Load())/took.Seconds())
	if !t.Failed() && (s.pagesChecked.Load() == 0 || s.mappedWrites.Load() == 0 || s.vmoWrites.Load() == 0 || s.readPackets.Load() == 0) {
		t.Errorf("seed %d: the stress did too little: %d pages checked", cfg.seed, s.pagesChecked.Load())
	}
	return r
}

func waitGroupWithin(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// warmUp runs a short, small stress first, so that anything the runtime or
// the packages under test create once per process (netpoller descriptors,
// helper goroutines) exists before the leak baseline is taken.
func warmUp(t *testing.T) {
	cfg := config{duration: 200 * time.Millisecond, seed: 1, pagers: 1, serversPerPgr: 1, slots: 2,
		cThreads: 1, callers: 1, failPct: 0, hang: 10 * time.Second}
	if !t.Run("warm-up", func(t *testing.T) { stressRun(t, cfg) }) {
		t.FailNow()
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// checkNoLeaks waits (a little) for descriptors and goroutines to return to
// their starting counts.
func checkNoLeaks(t *testing.T, fds0, gs0 int) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		fds, gs := countFDs(t), runtime.NumGoroutine()
		if fds <= fds0 && gs <= gs0 {
			t.Logf("no leaks: %d fds (%d at the start), %d goroutines (%d at the start)", fds, fds0, gs, gs0)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leak: %d fds (%d at the start), %d goroutines (%d at the start)\n%s", fds, fds0, gs, gs0, allStacks())
		}
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}
