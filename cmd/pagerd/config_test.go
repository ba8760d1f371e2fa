package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pagerd/pagerd/server"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pagerd.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, args ...string) *options {
	t.Helper()
	o, err := loadConfig(args)
	if err != nil {
		t.Fatalf("loadConfig(%q): %v", args, err)
	}
	return o
}

func TestDefaults(t *testing.T) {
	o := mustLoad(t, "-store", "dir:/srv/objects")
	if o.Socket != server.DefaultSocket() {
		t.Errorf("socket %q, want the default %q", o.Socket, server.DefaultSocket())
	}
	if o.Metrics != "127.0.0.1:9464" {
		t.Errorf("metrics %q, want 127.0.0.1:9464", o.Metrics)
	}
	if time.Duration(o.ShutdownTimeout) != 60*time.Second {
		t.Errorf("shutdown timeout %v, want 60s", time.Duration(o.ShutdownTimeout))
	}
	if o.WritebackInterval != 0 || o.Workers != 0 || o.MaxClients != 0 || o.MaxVMOs != 0 || o.MaxMapped != 0 {
		t.Errorf("server options not left to the server's defaults: %+v", o)
	}
	if o.storeKind != "dir" || o.storeArg != "/srv/objects" {
		t.Errorf("store %q %q, want dir /srv/objects", o.storeKind, o.storeArg)
	}
	if o.LogLevel != "info" || o.LogFormat != "" {
		t.Errorf("log level %q format %q, want info and automatic", o.LogLevel, o.LogFormat)
	}
}

const fullConfig = `
socket = "/run/x/p.sock"
socket_mode = "0660"
store = "file:/srv/disk.img"
read_only = true
allow_uid = [1000, 1001]
allow_gid = [100]
workers = 8
max_clients = 50
max_vmos = 7
max_mapped = "64GiB"
max_outstanding = 32
readahead_min = 4
readahead_max = 64
readahead_streams = 2
no_store_mapping = true
readahead_off = false
writeback_interval = "2s"
shutdown_timeout = "30s"
metrics = "127.0.0.1:9999"
metrics_allow_remote = false
metrics_addr_file = "/tmp/m.addr"
log_level = "debug"
log_format = "console"
`

func TestConfigFile(t *testing.T) {
	p := writeConfig(t, fullConfig)
	o := mustLoad(t, "-config", p)
	want := map[string]any{
		"Socket": "/run/x/p.sock", "SocketMode": fileMode(0o660), "Store": "file:/srv/disk.img", "ReadOnly": true,
		"AllowUID": idList{1000, 1001}, "AllowGID": idList{100}, "Workers": 8, "MaxClients": 50,
		"MaxVMOs": uint64(7), "MaxMapped": byteSize(64 << 30), "MaxOutstanding": uint64(32),
		"ReadaheadMin": uint64(4), "ReadaheadMax": uint64(64), "ReadaheadStreams": 2, "NoStoreMapping": true,
		"WritebackInterval": interval(2 * time.Second), "ShutdownTimeout": duration(30 * time.Second),
		"Metrics": "127.0.0.1:9999", "MetricsAddrFile": "/tmp/m.addr", "LogLevel": "debug", "LogFormat": "console",
	}
	v := reflect.ValueOf(o).Elem()
	for field, w := range want {
		if got := v.FieldByName(field).Interface(); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", field, got, w)
		}
	}
	if o.storeKind != "file" || o.storeArg != "/srv/disk.img" {
		t.Errorf("store %q %q", o.storeKind, o.storeArg)
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	p := writeConfig(t, fullConfig)
	o := mustLoad(t, "-workers", "3", "-config", p, "-allow-uid", "5", "-metrics", "off",
		"-writeback-interval", "off", "-store", "dir:/other", "-read-only=false", "-socket-mode", "0600")
	if o.Workers != 3 {
		t.Errorf("workers %d, want the flag's 3", o.Workers)
	}
	if !reflect.DeepEqual(o.AllowUID, idList{5}) {
		t.Errorf("allow-uid %v, want the flag's [5] (a list flag replaces the file's list)", o.AllowUID)
	}
	if !reflect.DeepEqual(o.AllowGID, idList{100}) {
		t.Errorf("allow-gid %v, want the file's [100]", o.AllowGID)
	}
	if o.Metrics != "" {
		t.Errorf("metrics %q, want disabled", o.Metrics)
	}
	if o.WritebackInterval >= 0 {
		t.Errorf("writeback interval %v, want off (negative)", o.WritebackInterval)
	}
	if o.storeKind != "dir" || o.storeArg != "/other" || o.ReadOnly {
		t.Errorf("store %s:%s read-only %v, want the flags' dir:/other read-write", o.storeKind, o.storeArg, o.ReadOnly)
	}
	if o.SocketMode != 0o600 {
		t.Errorf("socket mode %v, want 0600", o.SocketMode)
	}
	// Untouched by flags: the file's values.
	if o.MaxClients != 50 || o.Socket != "/run/x/p.sock" || o.LogLevel != "debug" || o.MaxMapped != 64<<30 {
		t.Errorf("file values lost: max-clients %d socket %q log-level %q max-mapped %d", o.MaxClients, o.Socket, o.LogLevel, o.MaxMapped)
	}
}

func TestConfigFileForms(t *testing.T) {
	p := writeConfig(t, `
store = "http:https://example.org/images"
names = ["a.img", "b.img"]
socket_mode = 0o640
max_mapped = 1048576
http_timeout = "5s"
`)
	o := mustLoad(t, "-config", p)
	if o.SocketMode != 0o640 || o.MaxMapped != 1<<20 || !reflect.DeepEqual(o.Names, strList{"a.img", "b.img"}) ||
		time.Duration(o.HTTPTimeout) != 5*time.Second {
		t.Errorf("got socket mode %v, max-mapped %d, names %v, http timeout %v", o.SocketMode, o.MaxMapped, o.Names, o.HTTPTimeout)
	}
	if o.storeKind != "http" || o.storeArg != "https://example.org/images" {
		t.Errorf("store %q %q", o.storeKind, o.storeArg)
	}
	o = mustLoad(t, "-store", "https://example.org/x/", "-names", "a, b,,c")
	if o.storeKind != "http" || !reflect.DeepEqual(o.Names, strList{"a", "b", "c"}) {
		t.Errorf("store %q names %q", o.storeKind, o.Names)
	}
}

func TestDemoFlag(t *testing.T) {
	o := mustLoad(t, "-demo")
	if o.Demo != defaultDemoDir() || o.storeKind != "dir" || o.storeArg != defaultDemoDir() {
		t.Errorf("bare -demo: demo %q store %s:%s, want the default dir %q", o.Demo, o.storeKind, o.storeArg, defaultDemoDir())
	}
	if time.Duration(o.WritebackInterval) != time.Minute {
		t.Errorf("-demo write-back interval %v, want 1m", time.Duration(o.WritebackInterval))
	}
	o = mustLoad(t, "-demo", "/tmp/d", "-socket", "/tmp/d.sock", "-writeback-interval", "3s")
	if o.Demo != "/tmp/d" || o.Socket != "/tmp/d.sock" || time.Duration(o.WritebackInterval) != 3*time.Second {
		t.Errorf("-demo DIR -socket S: demo %q socket %q write-back %v", o.Demo, o.Socket, o.WritebackInterval)
	}
	o = mustLoad(t, "-demo=/tmp/e", "-socket=/tmp/e.sock")
	if o.Demo != "/tmp/e" || o.Socket != "/tmp/e.sock" {
		t.Errorf("-demo=DIR: demo %q socket %q", o.Demo, o.Socket)
	}
	// -demo on the command line wins over the file's store.
	p := writeConfig(t, "store = \"dir:/srv\"\nwriteback_interval = \"9s\"\n")
	o = mustLoad(t, "-config", p, "-demo", "/tmp/f")
	if o.storeArg != "/tmp/f" || time.Duration(o.WritebackInterval) != 9*time.Second {
		t.Errorf("-config with store, -demo: store %q write-back %v, want /tmp/f and the file's 9s", o.storeArg, o.WritebackInterval)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	bad := writeConfig(t, "workers = -1\nstore = \"dir:/x\"\n")
	unknown := writeConfig(t, "store = \"dir:/x\"\nwokers = 3\n")
	mistyped := writeConfig(t, "store = \"dir:/x\"\nworkers = \"many\"\n")
	for _, tc := range []struct {
		args []string
		want []string // substrings of the error
	}{
		{[]string{"-bogus"}, []string{"-bogus"}},
		{[]string{"-workers", "x"}, []string{"-workers", `"x"`}},
		{[]string{"-store", "dir:/x", "-workers", "-1"}, []string{"-workers -1", "4096"}},
		{[]string{"-config", bad}, []string{"workers = -1", bad}},
		{[]string{"-config", bad, "-workers", "2"}, nil}, // the flag fixes it
		{[]string{"-config", unknown}, []string{"unknown key", "wokers"}},
		{[]string{"-config", mistyped}, []string{mistyped, "workers"}},
		{[]string{"-config", "/nonexistent/pagerd.toml"}, []string{"-config /nonexistent/pagerd.toml"}},
		{[]string{}, []string{"no store", "-store", "-demo"}},
		{[]string{"-store", "/srv/x"}, []string{"-store /srv/x", "dir:PATH"}},
		{[]string{"-store", "nfs:/srv/x"}, []string{"-store nfs:/srv/x", "unknown store kind"}},
		{[]string{"-store", "http:ftp://x"}, []string{"-store http:ftp://x"}},
		{[]string{"-store", "dir:"}, []string{"-store dir:", "path"}},
		{[]string{"-store", "dir:/x", "-names", "a"}, []string{"-names a", "http"}},
		{[]string{"-store", "file:/x", "-journal-dir", "/j"}, []string{"-journal-dir /j"}},
		{[]string{"-demo", "/d", "-store", "dir:/x"}, []string{"-demo /d", "-store dir:/x"}},
		{[]string{"-store", "dir:/x", "-socket-mode", "01777"}, []string{"-socket-mode 01777"}},
		{[]string{"-store", "dir:/x", "-socket-mode", "rw"}, []string{"-socket-mode", `"rw"`}},
		{[]string{"-store", "dir:/x", "-socket", "/" + strings.Repeat("s", 200)}, []string{"-socket /sss", "at most 107"}},
		{[]string{"-store", "dir:/x", "-max-clients", "-5"}, []string{"-max-clients -5"}},
		{[]string{"-store", "dir:/x", "-max-vmos", "4294967296"}, []string{"-max-vmos 4294967296"}},
		{[]string{"-store", "dir:/x", "-max-outstanding", "4294967296"}, []string{"-max-outstanding 4294967296"}},
		{[]string{"-store", "dir:/x", "-max-mapped", "12"}, []string{"-max-mapped 12"}},
		{[]string{"-store", "dir:/x", "-max-mapped", "lots"}, []string{"-max-mapped", `"lots"`}},
		{[]string{"-store", "dir:/x", "-readahead-streams", "-1"}, []string{"-readahead-streams -1"}},
		{[]string{"-store", "dir:/x", "-shutdown-timeout", "0s"}, []string{"-shutdown-timeout 0s"}},
		{[]string{"-store", "dir:/x", "-writeback-interval", "soon"}, []string{"-writeback-interval", `"soon"`}},
		{[]string{"-store", "dir:/x", "-metrics", "0.0.0.0:9464"}, []string{"-metrics 0.0.0.0:9464", "loopback", "-metrics-allow-remote"}},
		{[]string{"-store", "dir:/x", "-metrics", ":9464"}, []string{"-metrics :9464", "loopback"}},
		{[]string{"-store", "dir:/x", "-metrics", "localhost"}, []string{"-metrics localhost", "HOST:PORT"}},
		{[]string{"-store", "dir:/x", "-metrics", "127.0.0.1:99999"}, []string{"-metrics 127.0.0.1:99999", "port"}},
		{[]string{"-store", "dir:/x", "-metrics", "0.0.0.0:9464", "-metrics-allow-remote"}, nil},
		{[]string{"-store", "dir:/x", "-metrics", "[::1]:9464"}, nil},
		{[]string{"-store", "dir:/x", "-log-level", "loud"}, []string{"-log-level loud"}},
		{[]string{"-store", "dir:/x", "-log-format", "xml"}, []string{"-log-format xml"}},
		{[]string{"-store", "dir:/x", "-allow-uid", "1000,bob"}, []string{"-allow-uid", "bob"}},
		{[]string{"-store", "dir:/x", "extra"}, []string{`"extra"`}},
		{[]string{"-demo", "/d", "extra"}, []string{`"extra"`}},
	} {
		_, err := loadConfig(tc.args)
		if tc.want == nil {
			if err != nil {
				t.Errorf("loadConfig(%q): %v, want success", tc.args, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("loadConfig(%q) succeeded, want an error with %q", tc.args, tc.want)
			continue
		}
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("loadConfig(%q): %v is not a usage error (exit status 2)", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("loadConfig(%q): error %q does not mention %q", tc.args, err, w)
			}
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	if _, err := loadConfig([]string{"-help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v, want flag.ErrHelp", err)
	}
	// -version needs no store.
	if o := mustLoad(t, "-version"); !o.Version {
		t.Error("-version not set")
	}
	var b strings.Builder
	usage(&b)
	for _, f := range []string{"-store", "-config", "-demo", "-metrics", "-shutdown-timeout", "SIGHUP"} {
		if !strings.Contains(b.String(), f) {
			t.Errorf("usage does not mention %s", f)
		}
	}
}

// The example config in deploy/ parses, and documents every option.
func TestExampleConfig(t *testing.T) {
	const path = "../../deploy/pagerd.toml"
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o := mustLoad(t, "-config", path)
	if o.storeKind != "dir" || o.Socket != "/run/pagerd/pagerd.sock" {
		t.Errorf("example config: store %s:%s socket %s", o.storeKind, o.storeArg, o.Socket)
	}
	defaults().flagSet().VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "config", "demo", "version":
			return
		}
		if !strings.Contains(string(text), configKey(f.Name)+" = ") {
			t.Errorf("%s does not document %s (flag -%s)", path, configKey(f.Name), f.Name)
		}
	})
	// Uncommenting every commented option keeps it valid (but names,
	// which only an http: store takes).
	var lines []string
	for _, l := range strings.Split(string(text), "\n") {
		if k, _, ok := strings.Cut(strings.TrimPrefix(l, "# "), " = "); ok && strings.HasPrefix(l, "# ") &&
			strings.Trim(k, "abcdefghijklmnopqrstuvwxyz_") == "" && k != "names" {
			l = strings.TrimPrefix(l, "# ")
		}
		lines = append(lines, l)
	}
	p := writeConfig(t, strings.Join(lines, "\n"))
	if _, err := loadConfig([]string{"-config", p}); err != nil {
		t.Errorf("example config with every option uncommented: %v", err)
	}
}

func TestValueTypes(t *testing.T) {
	var b byteSize
	for s, want := range map[string]uint64{"4096": 4096, "4K": 4096, "64GiB": 64 << 30, "1T": 1 << 40, "3MiB": 3 << 20, "7B": 7} {
		if err := b.Set(s); err != nil || uint64(b) != want {
			t.Errorf("byteSize %q = %d, %v; want %d", s, b, err, want)
		}
	}
	for _, s := range []string{"", "x", "-1", "1.5G", "99999999999T"} {
		if err := b.Set(s); err == nil {
			t.Errorf("byteSize %q accepted", s)
		}
	}
	if s := byteSize(64 << 30).String(); s != "64GiB" {
		t.Errorf("64 GiB prints as %q", s)
	}
	var iv interval
	if iv.Set("off"); iv >= 0 || iv.String() != "off" {
		t.Errorf("interval off = %v", iv)
	}
	if err := iv.Set("-1s"); err != nil || iv >= 0 {
		t.Errorf("negative interval = %v, %v; want off", iv, err)
	}
	var m fileMode
	if err := m.Set("0660"); err != nil || m != 0o660 || m.String() != "0660" {
		t.Errorf("mode 0660 = %v, %v", m, err)
	}
	if err := m.Set("9"); err == nil {
		t.Error("mode 9 accepted")
	}
}
