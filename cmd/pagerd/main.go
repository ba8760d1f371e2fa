// Command pagerd is the pager service: it serves VMOs (memfds) backed by a
// store — a directory of files, one file, or a read-only HTTP source — to
// client processes over a unix socket, and resolves their page faults
// through userfaultfd (see package server).
//
// Usage:
//
//	pagerd -store dir:/var/lib/pagerd/objects
//	pagerd -store file:/srv/disk.img -read-only
//	pagerd -store http:https://example.org/images/ -names a.img,b.img
//	pagerd -config /etc/pagerd/pagerd.toml
//	pagerd -demo [DIR]
//
// pagerd runs in the foreground and logs to stderr (structured, with zap:
// JSON, or console text when stderr is a terminal or with -log-format
// console); it never logs per fault. Clients connect to -socket (default
// server.DefaultSocket(): /run/pagerd/pagerd.sock as root). Prometheus
// metrics are served at http://127.0.0.1:9464/metrics unless -metrics says
// otherwise ("off" disables them; only loopback addresses are accepted
// without -metrics-allow-remote).
//
// Options come from the defaults, then the TOML file named by -config
// (keys are the flag names with '-' written as '_'; deploy/pagerd.toml
// lists them all), then the flags given on the command line. A bad flag or
// value exits with status 2 and a message naming it.
//
// Signals: SIGINT and SIGTERM stop accepting clients, write every dirty
// page back to the store, end the sessions and exit — with status 0, or 1
// if the write-back failed or took longer than -shutdown-timeout. A second
// SIGINT/SIGTERM abandons the write-back (pages not yet written are lost);
// a third exits at once. SIGHUP writes dirty pages back now.
//
// Under systemd (Type=notify, deploy/pagerd.service) pagerd sends READY=1
// once it accepts clients and STOPPING=1 when it begins to shut down, to
// the socket in $NOTIFY_SOCKET.
//
// -demo creates, if missing, a directory store with sample objects
// (pages.txt: 64 pages, each starting "page N of pages.txt"; stream.bin:
// 64 MiB whose every 8-byte little-endian word holds its own offset;
// scratch.bin: 1 MiB of zeros to write to), serves it and prints the
// pagerctl commands to try. `make run` runs `pagerd -demo build/demo`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/metrics"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/server"
	"github.com/pagerd/pagerd/store"
)

// version is pagerd's version; release builds set it with
// -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the service could not start, or dirty pages were not written back
	exitUsage   = 2 // bad flags or configuration
)

// hardExitDelay is how long pagerd waits for the shutdown to finish once a
// second signal abandoned the write-back, before it exits anyway.
const hardExitDelay = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:]))
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("pagerd %s (protocol %d..%d, %s, %s/%s)", v, proto.MinVersion, proto.MaxVersion,
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// run is pagerd's main; it returns the exit status.
func run(args []string) int {
	// Take the signals from the start, so that one arriving during
	// start-up ends pagerd through the orderly path below.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	o, err := loadConfig(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(os.Stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pagerd: %v\n", err)
		fmt.Fprintln(os.Stderr, "Run 'pagerd -help' for usage.")
		return exitUsage
	}
	if o.Version {
		fmt.Println(versionString())
		return exitOK
	}
	log := newLogger(o, os.Stderr)
	defer log.Sync()
	d := &daemon{o: o, log: log, sigs: sigs}
	return d.run()
}

// newLogger builds the zap logger the options ask for, writing to w.
func newLogger(o *options, w *os.File) *zap.Logger {
	lvl, _ := zapcore.ParseLevel(o.LogLevel) // validated
	tty := isTerminal(w)
	format := o.LogFormat
	if format == "" {
		format = "json"
		if tty {
			format = "console"
		}
	}
	var enc zapcore.Encoder
	if format == "json" {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	} else {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		ec.CallerKey = ""
		if tty {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(ec)
	}
	out := zapcore.Lock(w)
	return zap.New(zapcore.NewCore(enc, out, lvl), zap.ErrorOutput(out))
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// daemon is one run of the service.
type daemon struct {
	o    *options
	log  *zap.Logger
	sigs chan os.Signal

	st      store.Store
	desc    string
	srv     *server.Server
	httpSrv *http.Server
	metrics string // the bound metrics address, "" if none
	notify  *notifier

	syncMu     sync.Mutex
	syncCancel context.CancelFunc // the running SIGHUP write-back, nil if none
	syncWG     sync.WaitGroup
}

func (d *daemon) run() int {
	o, log := d.o, d.log
	fields := []zap.Field{zap.String("version", version), zap.Int("pid", os.Getpid())}
	if o.Config != "" {
		fields = append(fields, zap.String("config", o.Config))
	}
	log.Info("pagerd starting", fields...)

	var err error
	if d.notify, err = newNotifier(); err != nil {
		log.Warn("cannot notify the service manager", zap.Error(err))
	}
	if o.Demo != "" {
		t0 := time.Now()
		created, err := makeDemo(o.Demo)
		if err != nil {
			log.Error("cannot create the demo store", zap.String("dir", o.Demo), zap.Error(err))
			return exitFailure
		}
		if len(created) > 0 {
			log.Info("demo store created", zap.String("dir", o.Demo), zap.Strings("objects", created), zap.Duration("took", time.Since(t0)))
		}
	}
	if d.st, d.desc, err = openStore(o); err != nil {
		log.Error("cannot open the store", zap.String("store", o.storeKind+":"+o.storeArg), zap.Error(err))
		return exitFailure
	}
	defer d.st.Close()

	var m *metrics.Metrics
	var mln net.Listener
	if o.Metrics != "" {
		if mln, err = metrics.Listen(o.Metrics, o.MetricsAllowRemote); err != nil {
			log.Error("cannot serve metrics", zap.String("addr", o.Metrics), zap.Error(err))
			return exitFailure
		}
		m = metrics.New()
	}

	cfg := server.Config{
		Socket:     o.Socket,
		SocketMode: os.FileMode(o.SocketMode),
		Allow:      proto.Allow{UIDs: o.AllowUID, GIDs: o.AllowGID},
		Store:      d.st,
		StoreDesc:  d.desc,
		Workers:    o.Workers,
		MaxClients: o.MaxClients,
		Limits: proto.Limits{MaxVMOs: uint32(o.MaxVMOs), MaxMappedBytes: uint64(o.MaxMapped),
			MaxOutstanding: uint32(o.MaxOutstanding)},
		Readahead:         o.readahead(),
		NoStoreMapping:    o.NoStoreMapping,
		WritebackInterval: time.Duration(o.WritebackInterval),
		Logger:            log,
		Metrics:           m,
	}
	if d.srv, err = server.New(cfg); err != nil {
		if mln != nil {
			mln.Close()
		}
		log.Error("cannot start the service", zap.String("socket", o.Socket), zap.Error(err))
		return exitFailure
	}
	if mln != nil {
		d.httpSrv = m.Serve(mln)
		d.metrics = mln.Addr().String()
		log.Info("metrics listening", zap.String("addr", d.metrics), zap.String("url", "http://"+d.metrics+"/metrics"))
		if o.MetricsAddrFile != "" {
			if err := os.WriteFile(o.MetricsAddrFile, []byte(d.metrics+"\n"), 0o644); err != nil {
				log.Warn("cannot write the metrics address file", zap.String("file", o.MetricsAddrFile), zap.Error(err))
			}
		}
	}

	serveDone := make(chan error, 1)
	go func() { serveDone <- d.srv.Serve() }()
	log.Info("pagerd ready", zap.String("socket", d.srv.Socket()), zap.String("store", d.desc))
	if err := d.notify.notify("READY=1", "STATUS=serving "+d.desc+" on "+d.srv.Socket(),
		fmt.Sprintf("MAINPID=%d", os.Getpid())); err != nil {
		log.Warn("cannot notify the service manager", zap.Error(err))
	}
	if o.Demo != "" {
		d.printDemoHint()
	}

	for {
		select {
		case sig := <-d.sigs:
			if sig == syscall.SIGHUP {
				d.syncNow()
				continue
			}
			log.Info("signal received: writing dirty pages back, then exiting", zap.String("signal", sig.String()),
				zap.Duration("timeout", time.Duration(o.ShutdownTimeout)))
			return d.shutdown(serveDone)
		case err := <-serveDone:
			// Serve returns only after Shutdown or Close.
			log.Error("the service stopped accepting clients unexpectedly", zap.Error(err))
			d.srv.Close()
			d.stopMetrics()
			return exitFailure
		}
	}
}

// syncNow writes dirty pages back in the background (SIGHUP). One such
// write-back runs at a time.
func (d *daemon) syncNow() {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	if d.syncCancel != nil {
		d.log.Info("SIGHUP: a write-back is already running")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(d.o.ShutdownTimeout))
	d.syncCancel = cancel
	d.syncWG.Add(1)
	go func() {
		defer d.syncWG.Done()
		t0 := time.Now()
		err := d.srv.Sync(ctx)
		cancel()
		d.syncMu.Lock()
		d.syncCancel = nil
		d.syncMu.Unlock()
		if err != nil {
			d.log.Error("SIGHUP: write-back failed", zap.Error(err))
			return
		}
		d.log.Info("SIGHUP: dirty pages written back", zap.Duration("took", time.Since(t0)))
	}()
}

// shutdown ends the service after SIGINT or SIGTERM and returns the exit
// status.
func (d *daemon) shutdown(serveDone <-chan error) int {
	log := d.log
	if err := d.notify.notify("STOPPING=1", "STATUS=writing dirty pages back"); err != nil {
		log.Warn("cannot notify the service manager", zap.Error(err))
	}
	// A SIGHUP write-back still running is superseded by Shutdown's.
	d.syncMu.Lock()
	if d.syncCancel != nil {
		d.syncCancel()
	}
	d.syncMu.Unlock()
	d.syncWG.Wait()

	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(d.o.ShutdownTimeout))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.srv.Shutdown(ctx) }()
	var err error
	var hard <-chan time.Time
	abandoned := false
wait:
	for {
		select {
		case err = <-done:
			break wait
		case sig := <-d.sigs:
			if sig == syscall.SIGHUP {
				continue
			}
			if abandoned {
				log.Error("signal received again: exiting now", zap.String("signal", sig.String()))
				return exitFailure
			}
			abandoned = true
			log.Warn("signal received during shutdown: abandoning the write-back; dirty pages not yet written are lost",
				zap.String("signal", sig.String()))
			cancel()
			hard = time.After(hardExitDelay)
		case <-hard:
			log.Error("shutdown did not finish after the write-back was abandoned; exiting", zap.Duration("waited", hardExitDelay))
			return exitFailure
		}
	}
	select {
	case <-serveDone:
	case <-time.After(5 * time.Second):
		log.Warn("the accept loop did not return after shutdown")
	}
	d.stopMetrics()
	if err != nil {
		log.Error("shutdown: write-back failed; the dirty pages not written are lost", zap.Error(err),
			zap.Duration("took", time.Since(t0)))
		return exitFailure
	}
	log.Info("pagerd stopped cleanly: every dirty page was written back", zap.Duration("took", time.Since(t0)))
	return exitOK
}

func (d *daemon) stopMetrics() {
	if d.httpSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := d.httpSrv.Shutdown(ctx); err != nil {
		d.httpSrv.Close()
	}
}

// openStore opens the store the validated options name and describes it.
func openStore(o *options) (store.Store, string, error) {
	ro := ""
	if o.ReadOnly || o.storeKind == "http" {
		ro = " (read-only)"
	}
	switch o.storeKind {
	case "dir":
		st, err := store.OpenDir(o.storeArg, store.DirOptions{ReadOnly: o.ReadOnly, JournalDir: o.JournalDir})
		if err != nil {
			return nil, "", err
		}
		abs, _ := filepath.Abs(o.storeArg)
		return st, "dir:" + abs + ro, nil
	case "file":
		st, err := store.OpenFile(o.storeArg, store.FileOptions{ReadOnly: o.ReadOnly})
		if err != nil {
			return nil, "", err
		}
		abs, _ := filepath.Abs(o.storeArg)
		return st, "file:" + abs + ro, nil
	case "http":
		st, err := store.OpenHTTP(o.storeArg, store.HTTPOptions{Names: o.Names, Timeout: time.Duration(o.HTTPTimeout)})
		if err != nil {
			return nil, "", err
		}
		return st, "http:" + o.storeArg + ro, nil
	}
	return nil, "", fmt.Errorf("unknown store kind %q", o.storeKind)
}

// pagerctlPath is how to run pagerctl: beside this pagerd when it was
// started by a path and pagerctl is there, else from $PATH.
func pagerctlPath() string {
	if strings.ContainsRune(os.Args[0], '/') {
		p := filepath.Join(filepath.Dir(os.Args[0]), "pagerctl")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "pagerctl"
}

// printDemoHint tells the person who ran -demo what to try.
func (d *daemon) printDemoHint() {
	sock := d.srv.Socket()
	ctl := pagerctlPath() + " -socket " + sock
	var b strings.Builder
	fmt.Fprintf(&b, "\npagerd is serving the demo store %s on %s\n", d.o.Demo, sock)
	fmt.Fprintf(&b, "objects: %s (%d pages of text), %s (64 MiB pattern), %s (1 MiB of zeros to write to)\n",
		demoText, demoTextPages, demoStream, demoScratch)
	if wb := time.Duration(d.o.WritebackInterval); wb > 0 {
		fmt.Fprintf(&b, "dirty pages are written back every %v, on sync, and at exit\n", wb)
	}
	fmt.Fprintf(&b, "\nTry it from another terminal: the service; a page of text; all of %s (read-ahead\n"+
		"at work); two dirty pages kept open for a minute; the open VMOs; the dirty ranges;\n"+
		"write-back now; what the pages hold:\n\n", demoStream)
	for _, c := range []string{
		"status",
		"cat " + demoText + " -offset 8192 -length 4096 | head -3",
		"touch " + demoStream,
		"touch " + demoScratch + " -length 8192 -write A -hold 60s &",
		"vmos",
		"dirty " + demoScratch,
		"sync " + demoScratch,
		"cat " + demoScratch + " -length 16 | od -c",
	} {
		fmt.Fprintf(&b, "  %s %s\n", ctl, c)
	}
	if d.metrics != "" {
		fmt.Fprintf(&b, "  curl -s http://%s/metrics | grep '^pagerd_'\n", d.metrics)
	}
	fmt.Fprintf(&b, "\nStop with Ctrl-C (dirty pages are written back first); run again and the\nwrites are still there.\n\n")
	os.Stdout.WriteString(b.String())
}
