package main

import (
	"bytes"
	"flag"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for s, want := range map[string]uint64{
		"0": 0, "4096": 4096, "0x1000": 4096, "4K": 4096, "4KiB": 4096, "16K": 16384,
		"1M": 1 << 20, "2MiB": 2 << 20, "1G": 1 << 30, "1T": 1 << 40, "0o10": 8,
	} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "x", "-1", "4 K", "1.5M", "0x", "99999999999999T", "K"} {
		if _, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) accepted", s)
		}
	}
}

func TestParseByte(t *testing.T) {
	for s, want := range map[string]byte{"A": 'A', "0": '0', "0x41": 0x41, "65": 65, "255": 255} {
		if got, err := parseByte(s); err != nil || got != want {
			t.Errorf("parseByte(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"256", "AB", "-1", "0x100"} {
		if _, err := parseByte(s); err == nil {
			t.Errorf("parseByte(%q) accepted", s)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		off, ln uint64
	}{
		{[]string{"a", "-offset", "4K", "-length", "8"}, []string{"a"}, 4096, 8},
		{[]string{"-length", "8", "a"}, []string{"a"}, 0, 8},
		{[]string{"-offset=1", "a", "b"}, []string{"a", "b"}, 1, 0},
		{[]string{"--", "-odd-name"}, []string{"-odd-name"}, 0, 0},
		{[]string{"a", "--", "-length"}, []string{"a", "-length"}, 0, 0},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		rangeFlags(fs)
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		off := fs.Lookup("offset").Value.(*sizeFlag).v
		ln := fs.Lookup("length").Value.(*sizeFlag).v
		if !reflect.DeepEqual(pos, tc.pos) || off != tc.off || ln != tc.ln {
			t.Errorf("%q: positional %q offset %d length %d; want %q %d %d", tc.args, pos, off, ln, tc.pos, tc.off, tc.ln)
		}
	}
}

func TestSpan(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		limit    uint64
		off, len uint64
		bad      bool
	}{
		{nil, 100, 0, 100, false},
		{[]string{"-offset", "10"}, 100, 10, 90, false},
		{[]string{"-offset", "10", "-length", "5"}, 100, 10, 5, false},
		{[]string{"-offset", "100"}, 100, 100, 0, false},
		{[]string{"-offset", "101"}, 100, 0, 0, true},
		{[]string{"-offset", "90", "-length", "11"}, 100, 0, 0, true},
		{[]string{"-length", "0"}, 100, 0, 0, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		rangeFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		off, n, err := span(fs, tc.limit, "content")
		if tc.bad {
			if _, ok := err.(*usageErr); !ok {
				t.Errorf("%q of %d: %v, want a usage error", tc.args, tc.limit, err)
			}
			continue
		}
		if err != nil || off != tc.off || n != tc.len {
			t.Errorf("%q of %d: %d, %d, %v; want %d, %d", tc.args, tc.limit, off, n, err, tc.off, tc.len)
		}
	}
}

func runCtl(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in stderr, or in stdout for status 0
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"help"}, exitOK, "touch NAME"},
		{[]string{"-h"}, exitOK, "Commands:"},
		{[]string{"help", "cat"}, exitOK, "-length"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"-bogus", "status"}, exitUsage, "-bogus"},
		{[]string{"cat"}, exitUsage, "want 1 argument"},
		{[]string{"cat", "a", "b"}, exitUsage, "have 2"},
		{[]string{"status", "extra"}, exitUsage, "want 0 argument"},
		{[]string{"cat", "a", "-length", "lots"}, exitUsage, "-length"},
		{[]string{"touch", "a", "-write", "300"}, exitUsage, `-write "300"`},
		{[]string{"cat", "a", "-h"}, exitOK, "-offset"},
	} {
		out, errOut, code := runCtl(tc.args...)
		if code != tc.code {
			t.Errorf("pagerctl %q: status %d, want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out, errOut)
		}
		text := errOut
		if tc.code == exitOK {
			text = out
		}
		if !strings.Contains(text, tc.want) {
			t.Errorf("pagerctl %q: output does not contain %q\nstdout: %s\nstderr: %s", tc.args, tc.want, out, errOut)
		}
	}
}

func TestNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, cmd := range [][]string{{"status"}, {"vmos"}, {"cat", "x"}, {"touch", "x", "-write", "A"}} {
		_, errOut, code := runCtl(append([]string{"-socket", sock}, cmd...)...)
		if code != exitFailure || !strings.HasPrefix(errOut, "pagerctl: ZX_ERR_CONNECTION_REFUSED: ") || !strings.Contains(errOut, sock) {
			t.Errorf("pagerctl %q without pagerd: status %d, stderr %q; want %d and ZX_ERR_CONNECTION_REFUSED naming the socket", cmd, code, errOut, exitFailure)
		}
	}
}

// A pagerd that accepts but never answers: -timeout bounds the wait.
func TestTimeout(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mute.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, errOut, code := runCtl("-socket", sock, "-timeout", "300ms", "status")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("status against a mute pagerd took %v with -timeout 300ms", took)
	}
	if code != exitFailure || !strings.HasPrefix(errOut, "pagerctl: ZX_ERR_TIMED_OUT") {
		t.Errorf("status against a mute pagerd: status %d, stderr %q; want %d and ZX_ERR_TIMED_OUT", code, errOut, exitFailure)
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 8192: "8.0 KiB", 64 << 20: "64.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
	if got := size(4096); got != "4096 (4.0 KiB)" {
		t.Errorf("size(4096) = %q", got)
	}
}
