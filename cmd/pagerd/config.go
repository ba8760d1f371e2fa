package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.uber.org/zap/zapcore"

	"github.com/pagerd/pagerd/readahead"
	"github.com/pagerd/pagerd/server"
)

// Defaults of the options that have one of their own (the server's
// defaults apply to the others, which default to 0 = "automatic").
const (
	defaultMetrics         = "127.0.0.1:9464"
	defaultShutdownTimeout = 60 * time.Second
	defaultDemoWriteback   = time.Minute
	maxSocketPath          = 107 // sun_path holds 108 bytes with the NUL
	maxWorkers             = 4096
	maxClientsLimit        = 1 << 20
	defaultDemoDirName     = "pagerd-demo"
)

// options is everything pagerd can be told, from its flags and its config
// file. A TOML key is the flag's name with '-' replaced by '_'.
type options struct {
	Socket             string   `toml:"socket"`
	SocketMode         fileMode `toml:"socket_mode"`
	Store              string   `toml:"store"`
	ReadOnly           bool     `toml:"read_only"`
	Names              strList  `toml:"names"`
	JournalDir         string   `toml:"journal_dir"`
	HTTPTimeout        duration `toml:"http_timeout"`
	AllowUID           idList   `toml:"allow_uid"`
	AllowGID           idList   `toml:"allow_gid"`
	Workers            int      `toml:"workers"`
	MaxClients         int      `toml:"max_clients"`
	MaxVMOs            uint64   `toml:"max_vmos"`
	MaxMapped          byteSize `toml:"max_mapped"`
	MaxOutstanding     uint64   `toml:"max_outstanding"`
	ReadaheadMin       uint64   `toml:"readahead_min"`
	ReadaheadMax       uint64   `toml:"readahead_max"`
	ReadaheadStreams   int      `toml:"readahead_streams"`
	ReadaheadOff       bool     `toml:"readahead_off"`
	NoStoreMapping     bool     `toml:"no_store_mapping"`
	WritebackInterval  interval `toml:"writeback_interval"`
	ShutdownTimeout    duration `toml:"shutdown_timeout"`
	Metrics            string   `toml:"metrics"`
	MetricsAllowRemote bool     `toml:"metrics_allow_remote"`
	MetricsAddrFile    string   `toml:"metrics_addr_file"`
	LogLevel           string   `toml:"log_level"`
	LogFormat          string   `toml:"log_format"`

	// Command-line only.
	Config  string `toml:"-"`
	Demo    string `toml:"-"` // the demo directory; "" = no demo
	Version bool   `toml:"-"`

	demoBare  bool            // -demo was given without a value (a DIR argument may follow)
	setFlags  map[string]bool // flags given on the command line
	fileKeys  map[string]bool // keys present in the config file
	storeKind string          // after validation: "dir", "file" or "http"
	storeArg  string          // after validation: the path or URL
}

// defaults returns the options pagerd runs with when told nothing.
func defaults() *options {
	return &options{
		Metrics:         defaultMetrics,
		ShutdownTimeout: duration(defaultShutdownTimeout),
		LogLevel:        "info",
	}
}

// defaultDemoDir is where a bare -demo puts its store.
func defaultDemoDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("%s-%d", defaultDemoDirName, os.Geteuid()))
}

// flagSet binds every flag to a field of o.
func (o *options) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("pagerd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.Config, "config", o.Config, "read options from the TOML `file` (flags given on the command line override it)")
	fs.StringVar(&o.Socket, "socket", o.Socket, "unix socket `path` clients connect to (default "+server.DefaultSocket()+")")
	fs.Var(&o.SocketMode, "socket-mode", "socket file `mode`, octal (default 0600)")
	fs.StringVar(&o.Store, "store", o.Store, "backing `store`: dir:PATH, file:PATH or http:URL")
	fs.BoolVar(&o.ReadOnly, "read-only", o.ReadOnly, "serve a dir: or file: store read-only")
	fs.Var(&o.Names, "names", "object `names` an http: store lists (comma list)")
	fs.StringVar(&o.JournalDir, "journal-dir", o.JournalDir, "`directory` of a dir: store's write-back journals (default PATH/.pagerd-journal)")
	fs.Var(&o.HTTPTimeout, "http-timeout", "bound on one request of an http: store, a `duration` (default 30s)")
	fs.Var(&o.AllowUID, "allow-uid", "`uids` that may connect besides root and pagerd's own (comma list)")
	fs.Var(&o.AllowGID, "allow-gid", "`gids` whose members (primary gid) may connect (comma list)")
	fs.IntVar(&o.Workers, "workers", o.Workers, "fault worker goroutines (0: 2×GOMAXPROCS, at least 4)")
	fs.IntVar(&o.MaxClients, "max-clients", o.MaxClients, fmt.Sprintf("concurrent clients (0: %d)", server.DefaultMaxClients))
	fs.Uint64Var(&o.MaxVMOs, "max-vmos", o.MaxVMOs, fmt.Sprintf("open VMOs per client (0: %d)", server.DefaultMaxVMOs))
	fs.Var(&o.MaxMapped, "max-mapped", "registered mapping `bytes` per client, e.g. 64GiB (0: 1TiB)")
	fs.Uint64Var(&o.MaxOutstanding, "max-outstanding", o.MaxOutstanding, fmt.Sprintf("faults in flight per client (0: %d)", server.DefaultMaxOutstanding))
	fs.Uint64Var(&o.ReadaheadMin, "readahead-min", o.ReadaheadMin, "smallest read-ahead window in `pages` (0: the read-ahead default)")
	fs.Uint64Var(&o.ReadaheadMax, "readahead-max", o.ReadaheadMax, "largest read-ahead window in `pages` (0: the read-ahead default)")
	fs.IntVar(&o.ReadaheadStreams, "readahead-streams", o.ReadaheadStreams, "sequential streams tracked per mapping (0: the read-ahead default)")
	fs.BoolVar(&o.ReadaheadOff, "readahead-off", o.ReadaheadOff, "fetch only the faulting page")
	fs.BoolVar(&o.NoStoreMapping, "no-store-mapping", o.NoStoreMapping, "fill pages with pread instead of copying straight from a read-only mapping of the store's files")
	fs.Var(&o.WritebackInterval, "writeback-interval", "periodic write-back of dirty pages, a `duration` or \"off\" (default 5s; 1m with -demo)")
	fs.Var(&o.ShutdownTimeout, "shutdown-timeout", "bound on the write-back at SIGINT/SIGTERM, a `duration`")
	fs.StringVar(&o.Metrics, "metrics", o.Metrics, "serve Prometheus metrics at http://`ADDR`/metrics; \"\" or \"off\" disables")
	fs.BoolVar(&o.MetricsAllowRemote, "metrics-allow-remote", o.MetricsAllowRemote, "allow -metrics on a non-loopback address")
	fs.StringVar(&o.MetricsAddrFile, "metrics-addr-file", o.MetricsAddrFile, "write the metrics listener's address to `file` once bound")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	fs.StringVar(&o.LogFormat, "log-format", o.LogFormat, "json or console (default console when stderr is a terminal, else json)")
	fs.Var(demoFlag{o}, "demo", "create (if missing) a demo directory store with sample data in `DIR` and serve it (default DIR "+defaultDemoDir()+")")
	fs.BoolVar(&o.Version, "version", o.Version, "print the version and exit")
	return fs
}

// errUsage marks errors that deserve exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// parseInto parses args into o's flags. A bare -demo may be followed by
// its DIR; flags may follow that.
func (o *options) parseInto(fs *flag.FlagSet, args []string) error {
	dirTaken := false
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return &usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return nil
		}
		if o.demoBare && !dirTaken {
			o.Demo, o.demoBare, dirTaken = rest[0], false, true
			args = rest[1:]
			continue
		}
		return usagef("unexpected argument %q (pagerd takes flags only; see pagerd -help)", rest[0])
	}
}

// loadConfig works out pagerd's options: the defaults, then the config
// file named by -config (if any), then the flags given on the command
// line. It validates the result; errors name the flag (or config key) and
// the value. flag.ErrHelp means -help was asked for.
func loadConfig(args []string) (*options, error) {
	// First pass: find -config (and report bad flags) without a base.
	first := defaults()
	if err := first.parseInto(first.flagSet(), args); err != nil {
		return nil, err
	}
	o := defaults()
	o.fileKeys = map[string]bool{}
	if first.Config != "" {
		md, err := toml.DecodeFile(first.Config, o)
		if err != nil {
			return nil, usagef("-config %s: %v", first.Config, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
			}
			return nil, usagef("-config %s: unknown key %s", first.Config, strings.Join(keys, ", "))
		}
		for _, k := range md.Keys() {
			o.fileKeys[k.String()] = true
		}
	}
	// Second pass: the command line over the file's values.
	fs := o.flagSet()
	if err := o.parseInto(fs, args); err != nil {
		return nil, err
	}
	o.setFlags = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.setFlags[f.Name] = true })
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// where names where an option's value came from, for error messages.
func (o *options) where(flagName string, value any) string {
	key := configKey(flagName)
	if !o.setFlags[flagName] && o.fileKeys[key] {
		return fmt.Sprintf("%s = %v (in %s)", key, value, o.Config)
	}
	return fmt.Sprintf("-%s %v", flagName, value)
}

func (o *options) bad(flagName string, value any, format string, args ...any) error {
	return usagef("%s: %s", o.where(flagName, value), fmt.Sprintf(format, args...))
}

// configKey is the config file key of a flag.
func configKey(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// given reports whether an option was set by a flag or the config file.
func (o *options) given(flagName string) bool {
	return o.setFlags[flagName] || o.fileKeys[configKey(flagName)]
}

// validate checks every option and fills in the derived fields.
func (o *options) validate() error {
	if o.Version {
		return nil
	}
	if o.Socket == "" {
		o.Socket = server.DefaultSocket()
	}
	if len(o.Socket) > maxSocketPath {
		return o.bad("socket", o.Socket, "%d bytes long; a unix socket path is at most %d", len(o.Socket), maxSocketPath)
	}
	if o.SocketMode&^0o777 != 0 {
		return o.bad("socket-mode", o.SocketMode, "want permission bits only (at most 0777)")
	}

	if o.Demo != "" {
		if o.setFlags["store"] {
			return usagef("-demo %s and -store %s: give one of them", o.Demo, o.Store)
		}
		o.storeKind, o.storeArg = "dir", o.Demo
		if !o.given("writeback-interval") {
			o.WritebackInterval = interval(defaultDemoWriteback)
		}
	} else {
		if o.Store == "" {
			return usagef("no store: give -store dir:PATH, file:PATH or http:URL, or -demo [DIR] (or store in a -config file)")
		}
		kind, arg, err := parseStore(o.Store)
		if err != nil {
			return o.bad("store", o.Store, "%v", err)
		}
		o.storeKind, o.storeArg = kind, arg
	}
	if len(o.Names) > 0 && o.storeKind != "http" {
		return o.bad("names", o.Names, "only an http: store takes a list of names")
	}
	for _, n := range o.Names {
		if n == "" || strings.ContainsRune(n, 0) {
			return o.bad("names", o.Names, "empty or invalid name %q", n)
		}
	}
	if o.JournalDir != "" && o.storeKind != "dir" {
		return o.bad("journal-dir", o.JournalDir, "only a dir: store has a journal directory")
	}
	if o.HTTPTimeout < 0 {
		return o.bad("http-timeout", o.HTTPTimeout, "must not be negative")
	}

	if o.Workers < 0 || o.Workers > maxWorkers {
		return o.bad("workers", o.Workers, "want 0 (automatic) to %d", maxWorkers)
	}
	if o.MaxClients < 0 || o.MaxClients > maxClientsLimit {
		return o.bad("max-clients", o.MaxClients, "want 0 (default) to %d", maxClientsLimit)
	}
	if o.MaxVMOs > math.MaxUint32 {
		return o.bad("max-vmos", o.MaxVMOs, "at most %d", uint64(math.MaxUint32))
	}
	if o.MaxOutstanding > math.MaxUint32 {
		return o.bad("max-outstanding", o.MaxOutstanding, "at most %d", uint64(math.MaxUint32))
	}
	if o.MaxMapped != 0 && o.MaxMapped < 4096 {
		return o.bad("max-mapped", o.MaxMapped, "less than one page")
	}
	if o.ReadaheadStreams < 0 {
		return o.bad("readahead-streams", o.ReadaheadStreams, "must not be negative")
	}
	ra := o.readahead()
	if err := ra.Validate(); err != nil {
		return usagef("-readahead-min %d, -readahead-max %d, -readahead-streams %d: %v", o.ReadaheadMin, o.ReadaheadMax, o.ReadaheadStreams, err)
	}
	if o.ShutdownTimeout <= 0 {
		return o.bad("shutdown-timeout", o.ShutdownTimeout, "must be positive")
	}

	if o.Metrics == "off" {
		o.Metrics = ""
	}
	if o.Metrics != "" {
		host, port, err := net.SplitHostPort(o.Metrics)
		if err != nil {
			return o.bad("metrics", o.Metrics, "want HOST:PORT (or \"off\"): %v", err)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return o.bad("metrics", o.Metrics, "bad port %q", port)
		}
		if !o.MetricsAllowRemote && !isLoopback(host) {
			return o.bad("metrics", o.Metrics, "not a loopback address; metrics are unauthenticated (add -metrics-allow-remote to serve them anyway)")
		}
	}
	if _, err := zapcore.ParseLevel(o.LogLevel); err != nil {
		return o.bad("log-level", o.LogLevel, "want debug, info, warn or error")
	}
	switch o.LogFormat {
	case "", "json", "console":
	default:
		return o.bad("log-format", o.LogFormat, "want json or console")
	}
	return nil
}

// isLoopback reports whether host (from HOST:PORT) can only be a loopback
// address. An empty host means every address, so it is not.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseStore splits a -store value into its kind and argument.
func parseStore(s string) (kind, arg string, err error) {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		return "http", s, nil
	}
	kind, arg, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("want dir:PATH, file:PATH or http:URL")
	}
	switch kind {
	case "dir", "file":
		if arg == "" {
			return "", "", fmt.Errorf("%s: needs a path", kind)
		}
	case "http", "https":
		if kind == "https" {
			arg = "https:" + arg
		}
		if !strings.HasPrefix(arg, "http://") && !strings.HasPrefix(arg, "https://") {
			return "", "", fmt.Errorf("http: needs an http:// or https:// URL")
		}
		kind = "http"
	default:
		return "", "", fmt.Errorf("unknown store kind %q: want dir:PATH, file:PATH or http:URL", kind)
	}
	return kind, arg, nil
}

// readahead returns the read-ahead configuration the options ask for.
func (o *options) readahead() readahead.Config {
	return readahead.Config{MinPages: o.ReadaheadMin, MaxPages: o.ReadaheadMax, Streams: o.ReadaheadStreams, Disabled: o.ReadaheadOff}
}

// demoFlag is -demo: a boolean flag that may also take a directory
// (-demo=DIR, or -demo DIR handled by parseInto).
type demoFlag struct{ o *options }

func (d demoFlag) IsBoolFlag() bool { return true }

func (d demoFlag) String() string {
	if d.o == nil {
		return ""
	}
	return d.o.Demo
}

func (d demoFlag) Set(s string) error {
	switch s {
	case "true":
		d.o.Demo, d.o.demoBare = defaultDemoDir(), true
	case "false", "":
		d.o.Demo, d.o.demoBare = "", false
	default:
		d.o.Demo, d.o.demoBare = s, false
	}
	return nil
}

// fileMode is an octal permission mode: "0660" on the command line, "0660"
// or 0o660 in the config file.
type fileMode os.FileMode

func (m fileMode) String() string {
	if m == 0 {
		return ""
	}
	return fmt.Sprintf("%#o", uint32(m))
}

func (m *fileMode) Set(s string) error {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return fmt.Errorf("want an octal mode such as 0660")
	}
	*m = fileMode(v)
	return nil
}

func (m *fileMode) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 || x > math.MaxUint32 {
			return fmt.Errorf("socket_mode %d out of range", x)
		}
		*m = fileMode(x)
		return nil
	case string:
		if err := m.Set(x); err != nil {
			return fmt.Errorf("socket_mode %q: %v", x, err)
		}
		return nil
	}
	return fmt.Errorf("socket_mode: want a string such as \"0660\" or an integer such as 0o660, not %T", v)
}

// duration is a time.Duration written as "30s" in flags and the file.
type duration time.Duration

func (d duration) String() string { return time.Duration(d).String() }

func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 30s or 2m")
	}
	*d = duration(v)
	return nil
}

func (d *duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("want a duration string such as \"30s\", not %T", v)
	}
	if err := d.Set(s); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	return nil
}

// interval is a duration that may also be "off" (stored as -1).
type interval time.Duration

func (d interval) String() string {
	if d < 0 {
		return "off"
	}
	if d == 0 {
		return ""
	}
	return time.Duration(d).String()
}

func (d *interval) Set(s string) error {
	if s == "off" {
		*d = -1
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 5s, or off")
	}
	if v < 0 {
		v = -1
	}
	*d = interval(v)
	return nil
}

func (d *interval) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("want a duration string such as \"5s\" or \"off\", not %T", v)
	}
	if err := d.Set(s); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	return nil
}

// byteSize is a byte count: 1073741824, 1GiB, 512MiB, 1T (binary units).
type byteSize uint64

var sizeUnits = []struct {
	suffix string
	shift  uint
}{
	{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
	{"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}, {"B", 0},
}

func (b byteSize) String() string {
	if b == 0 {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if uint64(b)%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", uint64(b)>>u.shift, u.suffix)
		}
	}
	return strconv.FormatUint(uint64(b), 10)
}

func (b *byteSize) Set(s string) error {
	num, shift := s, uint(0)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.shift
			break
		}
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil || (shift > 0 && v > math.MaxUint64>>shift) {
		return fmt.Errorf("want a byte count such as 1073741824, 512MiB or 1TiB")
	}
	*b = byteSize(v << shift)
	return nil
}

func (b *byteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("%d: must not be negative", x)
		}
		*b = byteSize(x)
		return nil
	case string:
		if err := b.Set(x); err != nil {
			return fmt.Errorf("%q: %v", x, err)
		}
		return nil
	}
	return fmt.Errorf("want a byte count (integer or string such as \"64GiB\"), not %T", v)
}

// idList is a list of uids or gids: "1000,1001" on the command line, an
// array of integers in the config file.
type idList []uint32

func (l idList) String() string {
	s := make([]string, len(l))
	for i, id := range l {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(s, ",")
}

func (l *idList) Set(s string) error {
	var out idList
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a numeric id", f)
		}
		out = append(out, uint32(v))
	}
	*l = out
	return nil
}

func (l *idList) UnmarshalTOML(v any) error {
	arr, ok := v.([]any)
	if !ok {
		return fmt.Errorf("want an array of numeric ids such as [1000, 1001], not %T", v)
	}
	out := make(idList, 0, len(arr))
	for _, e := range arr {
		n, ok := e.(int64)
		if !ok || n < 0 || n > math.MaxUint32 {
			return fmt.Errorf("%v is not a numeric id", e)
		}
		out = append(out, uint32(n))
	}
	*l = out
	return nil
}

// strList is a list of strings: "a,b" on the command line, an array in
// the config file.
type strList []string

func (l strList) String() string { return strings.Join(l, ",") }

func (l *strList) Set(s string) error {
	var out strList
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	*l = out
	return nil
}

// usage prints pagerd's help.
func usage(w io.Writer) {
	o := defaults()
	fs := o.flagSet()
	fmt.Fprintf(w, `pagerd serves VMOs (memfds) backed by a store to client processes over a
unix socket and resolves their page faults through userfaultfd.

Usage:
  pagerd -store dir:PATH | file:PATH | http:URL [flags]
  pagerd -config /etc/pagerd/pagerd.toml [flags]
  pagerd -demo [DIR] [flags]

Flags given on the command line override the config file. Signals: SIGINT or
SIGTERM write dirty pages back and exit (a second one abandons the
write-back); SIGHUP writes dirty pages back now.

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
}
