package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/metrics"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/uffd"
)

// maxLoops bounds the fault loops (one per P, up to this many; see
// doc.go, "The fault path").
const maxLoops = 4

// windowFeatures are the features of pagerd's own uffd, on which the supply
// windows are registered: COPY into shared memory.
const windowFeatures = uffd.FeatureMissingShmem

// Server is a running pagerd service. Create it with New, run it with
// Serve, end it with Shutdown (writes dirty pages back) or Close.
type Server struct {
	cfg   Config
	log   *zap.Logger
	m     *metrics.Metrics
	ln    *proto.Listener
	win   *uffd.UFFD // pagerd's own uffd: supply windows (never read)
	eps   []int      // one epoll set per fault loop, each watching every client uffd
	evfd  int        // eventfd that wakes the loop
	epoch time.Time
	start time.Time

	maxRun uint64   // largest read-ahead window in pages
	jobs   chan job // faults (and head fills) for the workers
	fills  chan job // background fills for the workers
	bufs   [][]byte // the loop's and the workers' buffers
	slots  []atomic.Pointer[client]

	stopping atomic.Bool
	quit     chan struct{}  // closed when the service stops
	loopWG   sync.WaitGroup // fault loops
	wg       sync.WaitGroup // workers
	connWG   sync.WaitGroup // connections and background write-backs
	serveErr chan error
	shutOnce sync.Once

	mu        sync.Mutex // the registry below
	vmos      map[string]*sharedVMO
	closing   map[string]chan struct{} // VMOs whose last client left, being written back and closed
	clients   map[uint64]*client
	freeSlots []int32
	nextID    uint64
	gens      []uint32
}

// New checks cfg, listens on its socket and starts the fault loop and
// workers. Serve then accepts clients.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, m: cfg.Metrics, evfd: -1,
		epoch: time.Now(), start: time.Now(),
		vmos: map[string]*sharedVMO{}, closing: map[string]chan struct{}{}, clients: map[uint64]*client{},
		serveErr: make(chan error, 1), quit: make(chan struct{}),
	}
	s.maxRun = cfg.Readahead.MaxPages
	if s.maxRun == 0 {
		s.maxRun = 256
	}
	if cfg.Readahead.Disabled {
		s.maxRun = 1
	}
	var err error
	if s.win, err = uffd.New(windowFeatures); err != nil {
		return nil, fmt.Errorf("pagerd needs userfaultfd with shared-memory support: %w", err)
	}
	if s.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		s.closeFds()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	loops := min(max(runtime.GOMAXPROCS(0), 1), maxLoops)
	for range loops {
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			s.closeFds()
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		s.eps = append(s.eps, ep)
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, s.evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}); err != nil {
			s.closeFds()
			return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o700); err != nil {
		s.closeFds()
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if s.ln, err = proto.Listen(cfg.Socket, cfg.SocketMode); err != nil {
		s.closeFds()
		return nil, err
	}
	s.slots = make([]atomic.Pointer[client], cfg.MaxClients)
	s.gens = make([]uint32, cfg.MaxClients)
	for i := cfg.MaxClients - 1; i >= 0; i-- {
		s.freeSlots = append(s.freeSlots, int32(i))
	}
	s.jobs = make(chan job, 4*cfg.Workers*int(cfg.Limits.MaxOutstanding))
	s.fills = make(chan job, fillQueue)
	bufs := make([][]byte, loops+cfg.Workers)
	for i := range bufs {
		b, err := unix.Mmap(-1, 0, int(chunkPages*pageSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			for _, b := range bufs[:i] {
				unix.Munmap(b)
			}
			s.closeFds()
			s.ln.Close()
			return nil, fmt.Errorf("worker buffer: %w", err)
		}
		bufs[i] = b
	}
	s.bufs = bufs
	for i, b := range bufs[:loops] {
		s.loopWG.Add(1)
		go s.loop(s.eps[i], &worker{buf: b, loop: true})
	}
	for _, b := range bufs[loops:] {
		s.wg.Add(1)
		go s.work(&worker{buf: b})
	}
	if cfg.WritebackInterval > 0 {
		s.connWG.Add(1)
		go s.periodicWriteback()
	}
	s.log.Info("pagerd listening", zap.String("socket", cfg.Socket), zap.String("store", cfg.StoreDesc),
		zap.Int("workers", cfg.Workers), zap.Uint64("max_run_pages", s.maxRun))
	return s, nil
}

func (s *Server) closeFds() {
	if s.win != nil {
		s.win.Close()
	}
	for _, ep := range s.eps {
		unix.Close(ep)
	}
	s.eps = nil
	if s.evfd >= 0 {
		unix.Close(s.evfd)
	}
}

// Socket is the path the server listens on.
func (s *Server) Socket() string { return s.cfg.Socket }

// Serve accepts clients until Shutdown or Close; it then returns nil.
func (s *Server) Serve() error {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Warn("accept failed", zap.Error(err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.connWG.Add(1)
		go s.serveConn(conn)
	}
}

// Shutdown stops accepting clients, writes every dirty page back, ends
// every session and releases everything. It returns the first write-back
// error (pages that could not be written are lost with the process: the
// error says which VMO). ctx bounds the write-back.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.shutOnce.Do(func() {
		s.stopping.Store(true)
		s.ln.Close()
		err = s.writebackAll(ctx)
		s.stop()
	})
	return err
}

// Close ends the service at once without writing back.
func (s *Server) Close() error {
	s.shutOnce.Do(func() {
		s.stopping.Store(true)
		s.ln.Close()
		s.stop()
	})
	return nil
}

func (s *Server) stop() {
	s.mu.Lock()
	cs := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		s.kick(c, "")
	}
	close(s.quit)
	s.connWG.Wait()
	var one = [8]byte{1}
	unix.Write(s.evfd, one[:])
	s.loopWG.Wait()
	close(s.jobs)
	s.wg.Wait()
	for _, b := range s.bufs {
		unix.Munmap(b)
	}
	s.bufs = nil
	s.mu.Lock()
	for name, v := range s.vmos {
		v.release()
		v.obj.Close()
		delete(s.vmos, name)
	}
	s.mu.Unlock()
	s.closeFds()
	s.log.Info("pagerd stopped")
}

// serveConn runs one client session.
func (s *Server) serveConn(conn *proto.Conn) {
	defer s.connWG.Done()
	cred, err := s.cfg.Allow.Check(conn)
	if err != nil {
		s.m.ClientRejected("credentials")
		s.log.Warn("client refused", zap.Error(err))
		conn.Close()
		return
	}
	// A slot is reserved before the handshake, so a client over
	// MaxClients (or one arriving during shutdown) is refused in the
	// handshake itself: its Dial fails with NO_RESOURCES (BAD_STATE).
	slot, refuse := s.reserveSlot()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, w, err := proto.ServerHandshake(conn, proto.ServerConfig{
		PageSize: pageSize,
		Features: proto.FeatureDirtyQuery | proto.FeatureWriteBack | proto.FeaturePoison,
		Limits:   s.cfg.Limits,
		Refuse:   refuse,
	})
	if err != nil {
		if refuse == nil {
			s.releaseSlot(slot)
			s.m.ClientRejected("handshake")
			s.log.Info("handshake failed", zap.Int32("pid", cred.PID), zap.Error(err))
		} else if refuse != errStopping {
			s.m.ClientRejected("too_many_clients")
			s.log.Warn("client refused", zap.Int32("pid", cred.PID), zap.Error(refuse))
		}
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	c, err := s.addClient(conn, cred, w.Version, slot)
	if err != nil {
		s.releaseSlot(slot)
		conn.Send(proto.ErrorFrom(0, err))
		conn.Close()
		return
	}
	s.log.Info("client connected", zap.Uint64("client", c.id), zap.Int32("pid", cred.PID), zap.Uint32("uid", cred.UID))
	reason := s.session(c)
	s.removeClient(c, reason)
}

// reserveSlot takes a free client slot, or returns why there is none.
func (s *Server) reserveSlot() (int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return -1, errStopping
	}
	if len(s.freeSlots) == 0 {
		return -1, errTooManyClients(s.cfg.MaxClients)
	}
	slot := s.freeSlots[len(s.freeSlots)-1]
	s.freeSlots = s.freeSlots[:len(s.freeSlots)-1]
	return slot, nil
}

// releaseSlot returns a slot reserveSlot gave that no client took.
func (s *Server) releaseSlot(slot int32) {
	s.mu.Lock()
	s.freeSlots = append(s.freeSlots, slot)
	s.mu.Unlock()
}

// addClient registers the session of conn in the reserved slot.
func (s *Server) addClient(conn *proto.Conn, cred proto.Cred, version uint16, slot int32) (*client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return nil, errStopping
	}
	s.gens[slot]++
	s.nextID++
	c := &client{
		s: s, id: s.nextID, slot: slot, gen: s.gens[slot], conn: conn, cred: cred, version: version,
		since: time.Now(), vmos: map[uint64]*handle{}, byID: map[uint64]*mapping{},
	}
	c.label = strconv.FormatUint(c.id, 10)
	c.m = s.m.Client(c.label)
	c.refs.Store(1)
	s.clients[c.id] = c
	s.m.SetClients(len(s.clients))
	return c, nil
}

// kick ends c's session: closing the connection makes its session loop
// return and tear it down.
func (s *Server) kick(c *client, why string) {
	if why != "" {
		c.conn.Send(proto.ErrorFrom(0, errKicked(why)))
	} else {
		c.conn.Send(&proto.Goodbye{})
	}
	c.dead.Store(true)
	c.conn.Close()
}

// removeClient tears c down: it leaves the epoll set, its mappings and
// VMOs are dropped (dirty pages stay in the VMO for write-back), and its
// uffd is closed when the last fault job holding it ends.
func (s *Server) removeClient(c *client, reason error) {
	c.dead.Store(true)
	c.conn.Close()
	if c.uf != nil {
		c.armMu.Lock() // no unthrottle may put it back
		s.unwatch(c)
		c.armMu.Unlock()
	}
	c.mu.Lock()
	for id, m := range c.byID {
		m.v.removeMapping(m)
		delete(c.byID, id)
	}
	empty := []*mapping{}
	c.maps.Store(&empty)
	vmos := c.vmos
	c.vmos = nil
	c.mu.Unlock()
	for _, h := range vmos {
		s.releaseVMO(h.v)
	}
	s.mu.Lock()
	delete(s.clients, c.id)
	s.slots[c.slot].Store(nil)
	s.freeSlots = append(s.freeSlots, c.slot)
	s.m.SetClients(len(s.clients))
	s.mu.Unlock()
	s.m.RemoveClient(c.label)
	c.release()
	if reason != nil {
		s.log.Info("client disconnected", zap.Uint64("client", c.id), zap.Int32("pid", c.cred.PID), zap.Error(reason))
	} else {
		s.log.Info("client disconnected", zap.Uint64("client", c.id), zap.Int32("pid", c.cred.PID))
	}
}

// openVMO returns the shared VMO called name, opening it from the store
// if no client has it open. create asks the store to create it with
// createSize bytes.
func (s *Server) openVMO(name string, create bool, createSize uint64) (*sharedVMO, error) {
	for {
		s.mu.Lock()
		if s.stopping.Load() {
			s.mu.Unlock()
			return nil, errStopping
		}
		if v := s.vmos[name]; v != nil {
			v.refs++
			s.mu.Unlock()
			return v, nil
		}
		if ch := s.closing[name]; ch != nil {
			// The last client just left; wait for its write-back.
			s.mu.Unlock()
			<-ch
			continue
		}
		// Open outside s.mu (a store may be slow), reserving the name.
		ch := make(chan struct{})
		s.closing[name] = ch
		s.mu.Unlock()
		v, err := s.openFromStore(name, create, createSize)
		s.mu.Lock()
		delete(s.closing, name)
		close(ch)
		if err == nil {
			v.refs = 1
			s.vmos[name] = v
			s.m.SetVMOs(len(s.vmos))
		}
		s.mu.Unlock()
		return v, err
	}
}

func (s *Server) openFromStore(name string, create bool, createSize uint64) (*sharedVMO, error) {
	obj, err := s.cfg.Store.Open(name, create)
	if err != nil {
		return nil, err
	}
	if create {
		if size, err := obj.Size(); err == nil && size == 0 && createSize > 0 {
			if err := obj.SetSize(createSize); err != nil {
				obj.Close()
				return nil, err
			}
		}
	}
	v, err := newSharedVMO(s, name, obj)
	if err != nil {
		obj.Close()
		return nil, err
	}
	s.log.Info("vmo opened", zap.String("vmo", name), zap.Uint64("size", v.content), zap.Bool("read_only", v.readOnly))
	return v, nil
}

// releaseVMO drops one client's reference; the last one writes the VMO
// back and closes it in the background.
func (s *Server) releaseVMO(v *sharedVMO) {
	s.mu.Lock()
	v.refs--
	if v.refs > 0 || s.stopping.Load() {
		s.mu.Unlock()
		return
	}
	delete(s.vmos, v.name)
	s.m.SetVMOs(len(s.vmos))
	ch := make(chan struct{})
	s.closing[v.name] = ch
	s.mu.Unlock()
	s.connWG.Add(1)
	go func() {
		defer s.connWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		_, err := s.writebackVMO(ctx, v)
		cancel()
		if err != nil {
			s.log.Error("write-back of a closing VMO failed; its dirty pages are lost", zap.String("vmo", v.name), zap.Error(err))
		}
		v.closeAndDrain()
		s.m.AddDirtyPages(-int(v.stats().dirty))
		v.release()
		v.obj.Close()
		s.mu.Lock()
		delete(s.closing, v.name)
		close(ch)
		s.mu.Unlock()
		s.log.Info("vmo closed", zap.String("vmo", v.name))
	}()
}

// sortedVMOs returns the open VMOs sorted by name.
func (s *Server) sortedVMOs() []*sharedVMO {
	s.mu.Lock()
	vs := make([]*sharedVMO, 0, len(s.vmos))
	for _, v := range s.vmos {
		vs = append(vs, v)
	}
	s.mu.Unlock()
	sort.Slice(vs, func(i, j int) bool { return vs[i].name < vs[j].name })
	return vs
}

// WaitFills waits until no read-ahead fill is in flight in any open VMO:
// pagerd wakes a faulting thread as soon as its own page is there and
// fetches the rest of the run in the background, so right after a
// client's last fault some pages it will get may still be on their way.
// For tests and benchmarks that count supplied pages; ctx bounds the
// wait and its error is returned if it ends first.
func (s *Server) WaitFills(ctx context.Context) error {
	for _, v := range s.sortedVMOs() {
		for {
			v.mu.Lock()
			n := len(v.fills)
			v.mu.Unlock()
			if n == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%d fills of %q still in flight: %w", n, v.name, ctx.Err())
			case <-time.After(200 * time.Microsecond):
			}
		}
	}
	return nil
}
