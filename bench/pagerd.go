package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/client"
	"github.com/pagerd/pagerd/metrics"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/readahead"
	"github.com/pagerd/pagerd/server"
	"github.com/pagerd/pagerd/store"
)

// The pagerd rows: pagerd's service core (package server, the engine of
// cmd/pagerd) runs in this process over a directory store whose files sit
// in the page cache, and the faults come from client processes (this
// binary re-executed, see pagerdchild.go) that map a VMO with package
// client and touch it from C threads. Each row starts a fresh server, so
// every page of the VMO is absent when the clients start. -cpuprofile
// profiles pagerd's side (the epoll loop and the workers) with the rest of
// this process.

// Object names in the pagerd rows' store directory.
const (
	pdFaultObj = "fault.dat" // the single-page rows: N + Warmup pages and some
	pdSeqObj   = "seq.dat"   // the sequential rows: Config.SeqBytes
)

// pdStore is the directory the pagerd rows serve, created on first use.
type pdStore struct {
	dir   string
	sizes map[string]uint64
}

// pagerdStore returns the store directory with object name in it, writing
// the object (size bytes of a pattern, then fdatasync: it stays in the page
// cache, clean) the first time it is asked for.
func (e *env) pagerdStore(name string, size uint64) (*pdStore, error) {
	if e.pd == nil {
		parent := e.cfg.Dir
		if parent == "" {
			parent = os.TempDir()
		}
		dir, err := os.MkdirTemp(parent, "pagerbench-store-")
		if err != nil {
			return nil, err
		}
		e.tmpDirs = append(e.tmpDirs, dir)
		e.pd = &pdStore{dir: dir, sizes: map[string]uint64{}}
	}
	if have, ok := e.pd.sizes[name]; ok && have >= size {
		return e.pd, nil
	}
	t0 := time.Now()
	if err := writePattern(filepath.Join(e.pd.dir, name), size); err != nil {
		return nil, err
	}
	e.pd.sizes[name] = size
	e.logf("  wrote %s (%d MiB) for pagerd in %v", name, size>>20, time.Since(t0).Round(time.Millisecond))
	return e.pd, nil
}

// writePattern writes a file of size bytes (a byte pattern) and syncs it.
func writePattern(path string, size uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7 + 3)
	}
	for off := uint64(0); off < size && err == nil; off += uint64(len(buf)) {
		_, err = f.WriteAt(buf[:min(uint64(len(buf)), size-off)], int64(off))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// pagerdSvc is a pagerd server running in this process.
type pagerdSvc struct {
	srv     *server.Server
	m       *metrics.Metrics
	st      *store.DirStore
	sockDir string
	sock    string
	done    chan error
}

// startPagerd starts a server over the store directory with the given
// read-ahead configuration, no periodic write-back, default limits, and
// metrics (as cmd/pagerd runs with -metrics; nobody scrapes them during the
// measurement).
func startPagerd(dir string, ra readahead.Config) (*pagerdSvc, error) {
	st, err := store.OpenDir(dir, store.DirOptions{})
	if err != nil {
		return nil, err
	}
	sockDir, err := os.MkdirTemp("", "pagerbench-sock-")
	if err != nil {
		st.Close()
		return nil, err
	}
	p := &pagerdSvc{st: st, m: metrics.New(), sockDir: sockDir, sock: filepath.Join(sockDir, "pagerd.sock"), done: make(chan error, 1)}
	p.srv, err = server.New(server.Config{Socket: p.sock, Store: st, StoreDesc: "pagerbench dir:" + dir,
		WritebackInterval: -1, Readahead: ra, Metrics: p.m})
	if err != nil {
		st.Close()
		os.RemoveAll(sockDir)
		return nil, err
	}
	go func() { p.done <- p.srv.Serve() }()
	return p, nil
}

func (p *pagerdSvc) close() error {
	p.srv.Close()
	var err error
	select {
	case err = <-p.done:
	case <-time.After(30 * time.Second):
		err = errors.New("pagerd's Serve did not return after Close")
	}
	p.st.Close()
	os.RemoveAll(p.sockDir)
	return err
}

// vmoInfo asks pagerd (over an administrative session of this process,
// which maps nothing) for its statistics of the VMO called name.
func (p *pagerdSvc) vmoInfo(name string) (proto.VMOInfo, error) {
	c, err := client.Dial(p.sock, nil)
	if err != nil {
		return proto.VMOInfo{}, err
	}
	defer c.Close()
	vs, err := c.VMOs()
	if err != nil {
		return proto.VMOInfo{}, err
	}
	for _, v := range vs {
		if v.Name == name {
			return v, nil
		}
	}
	return proto.VMOInfo{}, fmt.Errorf("pagerd lists no VMO %q", name)
}

// faultLatency returns pagerd's own count and mean of its fault latency of
// one kind (pagerd_fault_latency_seconds{kind}: from reading the fault off
// the client's uffd to waking the faulter), so a row can tell pagerd's
// internal time from the wake-ups around it.
func (p *pagerdSvc) faultLatency(kind metrics.Kind) (uint64, time.Duration, error) {
	mfs, err := p.m.Registry().Gather()
	if err != nil {
		return 0, 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != metrics.Namespace+"_fault_latency_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind.String() {
					h := mt.GetHistogram()
					if h.GetSampleCount() == 0 {
						return 0, 0, nil
					}
					return h.GetSampleCount(), time.Duration(h.GetSampleSum() / float64(h.GetSampleCount()) * 1e9), nil
				}
			}
		}
	}
	return 0, 0, fmt.Errorf("pagerd's metrics have no %s-fault latency", kind)
}

// pdChild is one running client process.
type pdChild struct {
	spec   pdChildSpec
	cmd    *exec.Cmd
	sock   int
	resFd  int
	stderr lockedBuffer
	exited chan error
	reaped bool
}

func (c *pdChild) err(err error) error {
	return fmt.Errorf("%w (client: %s)", err, c.stderr.String())
}

func startPdChild(spec pdChildSpec) (*pdChild, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	c := &pdChild{spec: spec, sock: sp[0], resFd: -1, exited: make(chan error, 1)}
	childSock := os.NewFile(uintptr(sp[1]), "pagerbench-child-sock")
	defer childSock.Close()
	if c.resFd, err = newMemfd("pagerbench-results", (pdHeader+spec.touches())*8); err != nil {
		unix.Close(c.sock)
		return nil, err
	}
	resFile := os.NewFile(uintptr(c.resFd), "pagerbench-results")
	exe, err := os.Executable()
	if err != nil {
		c.release()
		return nil, err
	}
	c.cmd = exec.Command(exe)
	c.cmd.Env = append(childEnviron(), childEnv+"="+pagerdRole, childEnvSpec+"="+string(js))
	c.cmd.ExtraFiles = []*os.File{childSock, resFile}
	c.cmd.Stdout, c.cmd.Stderr = &c.stderr, &c.stderr
	if err := c.cmd.Start(); err != nil {
		c.release()
		return nil, err
	}
	go func() { c.exited <- c.cmd.Wait() }()
	tv := unix.Timeval{Sec: int64(spec.Duration/time.Second) + 120}
	_ = unix.SetsockoptTimeval(c.sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return c, nil
}

// expect reads one byte from the child and checks it.
func (c *pdChild) expect(want byte) error {
	var b [1]byte
	k, err := sockRead(c.sock, b[:])
	if err != nil || k != 1 || b[0] != want {
		return c.err(fmt.Errorf("waiting for %q from the client: got %q (n=%d, err=%v)", want, b[:max(k, 0)], k, err))
	}
	return nil
}

func (c *pdChild) send(b byte) error {
	if _, err := sockWrite(c.sock, []byte{b}); err != nil {
		return c.err(fmt.Errorf("sending %q to the client: %w", b, err))
	}
	return nil
}

// wait waits for the child to exit successfully.
func (c *pdChild) wait() error {
	select {
	case err := <-c.exited:
		c.reaped = true
		if err != nil {
			return c.err(err)
		}
		return nil
	case <-time.After(60 * time.Second):
		return c.err(errors.New("client did not exit"))
	}
}

// results reads the child's measurement from its memfd.
func (c *pdChild) results() (*measurement, error) {
	n := c.spec.touches()
	res, err := mmapShared(c.resFd, (pdHeader+n)*8, unix.PROT_READ)
	if err != nil {
		return nil, err
	}
	defer res.unmap()
	in := unsafe.Slice((*int64)(unsafe.Pointer(&res.bytes()[0])), pdHeader+n)
	cnt := int(in[2])
	if cnt <= 0 || cnt > n {
		return nil, fmt.Errorf("client reported %d samples (of %d touches)", cnt, n)
	}
	m := &measurement{faults: in[0], wallNs: in[1], startNs: in[3], endNs: in[4], threads: c.spec.Threads,
		samples: append([]int64(nil), in[pdHeader:pdHeader+cnt]...)}
	m.bytes = m.faults * int64(c.spec.Stride)
	return m, nil
}

// release kills the child if it still runs and closes the fds.
func (c *pdChild) release() {
	if c.cmd != nil && c.cmd.Process != nil && !c.reaped {
		_ = c.cmd.Process.Kill()
		<-c.exited
		c.reaped = true
	}
	unix.Close(c.sock)
	if c.resFd >= 0 {
		unix.Close(c.resFd)
	}
}

// pdRun is one pagerd row's set-up.
type pdRun struct {
	obj     string           // object to open
	objSize uint64           // its size
	ra      readahead.Config // pagerd's read-ahead
	clients int              // client processes, each on its own range of the VMO
	threads int              // faulting C threads per client
	stride  uint64           // bytes between touched addresses
	touches int              // per client, warm-up included
	warm    int              // untimed touches per thread
	dirty   bool             // populate first, then write: every touch a write-protect fault
}

// pagerdMeasure runs one pagerd row: a fresh server, r.clients client
// processes released together, their measurements merged. With several
// clients, faults/s and GB/s are over the span from the first client's
// first measured touch to the last one's last (CLOCK_MONOTONIC is one
// clock for all processes).
func (e *env) pagerdMeasure(r pdRun) (*measurement, error) {
	span := uint64(r.touches) * r.stride
	if need := span * uint64(r.clients); need > r.objSize {
		return nil, fmt.Errorf("%d clients × %d bytes do not fit the %d-byte object", r.clients, span, r.objSize)
	}
	st, err := e.pagerdStore(r.obj, r.objSize)
	if err != nil {
		return nil, err
	}
	// The supplies allocate this many memfd pages: make them cheap.
	if err := warm(int(span) * r.clients); err != nil {
		return nil, err
	}
	svc, err := startPagerd(st.dir, r.ra)
	if err != nil {
		return nil, err
	}
	defer svc.close()
	var kids []*pdChild
	defer func() {
		for _, c := range kids {
			c.release()
		}
	}()
	for i := 0; i < r.clients; i++ {
		c, err := startPdChild(pdChildSpec{Sock: svc.sock, VMO: r.obj, Off: uint64(i) * span, Len: span,
			Stride: r.stride, Threads: r.threads, Warm: r.warm, Duration: e.cfg.Duration,
			Write: r.dirty, Populate: r.dirty})
		if err != nil {
			return nil, err
		}
		kids = append(kids, c)
	}
	for _, c := range kids {
		if err := c.expect('R'); err != nil {
			return nil, err
		}
	}
	// Heap allocations in this process (pagerd) while the clients fault:
	// the per-fault path should make none.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	for _, c := range kids {
		if err := c.send('G'); err != nil {
			return nil, err
		}
	}
	for _, c := range kids {
		if err := c.expect('D'); err != nil {
			return nil, err
		}
	}
	runtime.ReadMemStats(&ms)
	mallocs = ms.Mallocs - mallocs
	// pagerd fills the rest of a read-ahead window in the background
	// after waking the faulter: let the fills in flight land first.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	idleErr := svc.srv.WaitFills(ctx)
	cancel()
	info, infoErr := svc.vmoInfo(r.obj)
	kind := metrics.KindRead
	if r.dirty {
		kind = metrics.KindDirty
	}
	latN, latMean, latErr := svc.faultLatency(kind)
	for _, c := range kids {
		if err := c.send('Q'); err != nil {
			return nil, err
		}
	}
	for _, c := range kids {
		if err := c.wait(); err != nil {
			return nil, err
		}
	}
	var all *measurement
	first, last := int64(0), int64(0)
	for i, c := range kids {
		m, err := c.results()
		if err != nil {
			return nil, err
		}
		if i == 0 {
			all = m
			first, last = m.startNs, m.endNs
			continue
		}
		all.samples = append(all.samples, m.samples...)
		all.faults += m.faults
		all.bytes += m.bytes
		all.threads += m.threads
		first, last = min(first, m.startNs), max(last, m.endNs)
	}
	if r.clients > 1 {
		all.wallNs = last - first
	}
	all.startNs, all.endNs = first, last
	if err := errors.Join(idleErr, infoErr, latErr); err != nil {
		return nil, err
	}
	// The row measures what it says only if pagerd served the touches:
	// every page touched was supplied, one fault per touch without
	// read-ahead, far fewer with it.
	touched := uint64(all.faults) + uint64(r.clients*r.threads*r.warm)
	covered := touched * r.stride / uint64(pageSize)
	supplied := info.SuppliedBytes / uint64(pageSize)
	switch {
	case supplied < covered:
		return nil, fmt.Errorf("pagerd supplied %d pages, but the clients touched %d pages", supplied, covered)
	case r.dirty && info.WriteFaults < touched:
		return nil, fmt.Errorf("pagerd took %d write faults for %d first writes", info.WriteFaults, touched)
	case r.ra.Disabled && info.ReadFaults < touched:
		return nil, fmt.Errorf("pagerd took %d faults for %d touches without read-ahead", info.ReadFaults, touched)
	case !r.ra.Disabled && r.stride == uint64(pageSize) && touched >= 64 && 2*info.ReadFaults > touched:
		return nil, fmt.Errorf("pagerd took %d faults for %d sequential touches with read-ahead", info.ReadFaults, touched)
	}
	all.note("%d client process(es) × %d faulting thread(s); pagerd took %d read and %d write faults and supplied %d pages for %d touches (warm-up included)",
		r.clients, r.threads, info.ReadFaults, info.WriteFaults, info.SuppliedBytes/uint64(pageSize), r.clients*r.touches)
	all.pagerdAllocs = float64(mallocs) / float64(touched)
	all.note("heap allocations in pagerd's process while the clients faulted: %d (%.3f per touch)", mallocs, all.pagerdAllocs)
	all.note("pagerd's own %s-fault latency (uffd read → faulter woken, its metrics): mean %s over %d faults", kind, fmtNs(latMean.Nanoseconds()), latN)
	if r.ra.Disabled {
		all.note("read-ahead off")
	} else {
		lo, hi := r.ra.MinPages, r.ra.MaxPages
		if lo == 0 {
			lo = readahead.DefaultMinPages
		}
		if hi == 0 {
			hi = readahead.DefaultMaxPages
		}
		all.note("read-ahead window %d to %d pages", lo, hi)
	}
	return all, nil
}

// pagerdFaultRow measures single-page faults through pagerd, read-ahead
// off: `clients` processes with `threads` C threads each, every thread
// reading one byte of each page of its own part of the VMO in order.
func pagerdFaultRow(clients, threads int) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		nt := clients * threads
		warmPer := e.cfg.Warmup / nt
		per := (e.cfg.N+nt-1)/nt + warmPer // touches per thread
		return e.pagerdMeasure(pdRun{obj: pdFaultObj, objSize: e.pdFaultSize(), ra: readahead.Config{Disabled: true},
			clients: clients, threads: threads, stride: uint64(pageSize), touches: per * threads, warm: warmPer})
	}
}

// pagerdDirtyRow measures pagerd's dirty path: one client with a writable
// mapping whose pages were all made present first (read, with read-ahead;
// untimed), so each page is clean and write-protected; one C thread writes
// one byte to each page: a write-protect fault on which pagerd marks the
// page dirty and lifts the protection in that mapping, which wakes the
// writer. (When the client leaves, pagerd writes the dirty pages back to
// the store; that is not measured.)
func pagerdDirtyRow(e *env) (*measurement, error) {
	n := e.cfg.N + e.cfg.Warmup
	return e.pagerdMeasure(pdRun{obj: pdFaultObj, objSize: e.pdFaultSize(), ra: readahead.Config{},
		clients: 1, threads: 1, stride: uint64(pageSize), touches: n, warm: e.cfg.Warmup, dirty: true})
}

// pdFaultSize is the size of the single-page rows' object: room for every
// configuration of pagerdFaultRow.
func (e *env) pdFaultSize() uint64 {
	return uint64(e.cfg.N+e.cfg.Warmup+256) * uint64(pageSize)
}

// pagerdSeqRow measures a sequential scan through pagerd with its default
// read-ahead: one client, one C thread reading one byte of every page of
// the VMO in order, from the first page (no warm-up: the window's ramp is
// part of a scan). big scans the whole Config.SeqBytes object; otherwise
// N pages of it.
func pagerdSeqRow(big bool) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		size := e.seqSize()
		pages := int(size) / pageSize
		if !big {
			pages = min(pages, e.cfg.N)
		}
		return e.pagerdMeasure(pdRun{obj: pdSeqObj, objSize: size, ra: readahead.Config{},
			clients: 1, threads: 1, stride: uint64(pageSize), touches: pages})
	}
}

// seqSize is the sequential rows' object size: Config.SeqBytes in whole
// fault-around windows, and at least N pages.
func (e *env) seqSize() uint64 {
	size := uint64(e.cfg.SeqBytes) &^ uint64(faultAroundPages*pageSize-1)
	return max(size, uint64(e.cfg.N+faultAroundPages)*uint64(pageSize)&^uint64(faultAroundPages*pageSize-1))
}

// pagerdSupplyRow measures pagerd supplying size bytes per fault: read-ahead
// fixed at size (every fault fetches a window of that many pages from the
// store, copies it in with one UFFDIO_COPY and wakes the faulter); one
// client thread touches the first page of each size-aligned chunk of the
// sequential object.
func pagerdSupplyRow(size int) func(*env) (*measurement, error) {
	return func(e *env) (*measurement, error) {
		obj := e.seqSize()
		chunks := min(e.iterations(size)+1, int(obj/uint64(size)))
		if chunks < 2 {
			return nil, fmt.Errorf("the %d-byte sequential object holds %d chunks of %d bytes", obj, chunks, size)
		}
		w := uint64(size / pageSize)
		return e.pagerdMeasure(pdRun{obj: pdSeqObj, objSize: obj, ra: readahead.Config{MinPages: w, MaxPages: w},
			clients: 1, threads: 1, stride: uint64(size), touches: chunks, warm: 1})
	}
}

// mmapSeqRow reads the sequential object through a plain read-only
// MAP_SHARED mapping in this process, every page in order (the page cache
// and fault-around, no userspace): the zero-copy reference for
// pagerd/seq-1g, on the same file.
func mmapSeqRow(e *env) (*measurement, error) {
	size := e.seqSize()
	st, err := e.pagerdStore(pdSeqObj, size)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(filepath.Join(st.dir, pdSeqObj), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	r, err := mmapShared(fd, int(size), unix.PROT_READ)
	if err != nil {
		return nil, err
	}
	defer r.unmap()
	m, err := touch(touchSpec{addrs: [][]uintptr{r.pages(int(size) / pageSize)}}, e.cfg.Duration, nil)
	if err != nil {
		return nil, err
	}
	m.note("%d MiB file (pagerd/seq-1g's object)", size>>20)
	return m, nil
}
