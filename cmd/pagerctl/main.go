// Command pagerctl inspects and exercises a running pagerd.
//
// Usage:
//
//	pagerctl [-socket PATH] [-json] [-timeout D] COMMAND [ARGS]
//
// Commands:
//
//	status                       the service: pid, uptime, clients, open VMOs, dirty bytes, store
//	clients                      the connected clients (pagerctl itself is marked *)
//	vmos                         the open VMOs (a VMO is open while a client has it open)
//	stats NAME                   a VMO's statistics
//	dirty NAME [-offset N] [-length N]
//	                             a VMO's dirty ranges (not yet written back)
//	sync NAME                    write a VMO's dirty pages back now
//	cat NAME [-offset N] [-length N]
//	                             write the VMO's bytes to stdout, faulted in through pagerd
//	touch NAME [-offset N] [-length N] [-write BYTE] [-hold D]
//	                             fault the range in (read), or with -write fill it with BYTE;
//	                             -hold keeps the VMO open and mapped for D afterwards
//	help [COMMAND]
//
// -socket defaults to the daemon's default (server.DefaultSocket()). Offsets
// and lengths take 0x hex and K/M/G suffixes (KiB, MiB, GiB). -json prints
// the result as JSON (except for cat). Errors print the Zircon status name
// and its text and exit with status 1; usage errors exit with status 2.
//
// stats, dirty, sync, cat and touch open the VMO (read-only unless touch
// -write) for as long as the command runs, so pagerd opens it from its
// store if no other client has it open, and when pagerctl is its last
// client, pagerd writes its dirty pages back as pagerctl exits.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pagerd/pagerd/client"
	"github.com/pagerd/pagerd/server"
	"github.com/pagerd/pagerd/zx"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// defaultTimeout bounds the commands that only ask pagerd something.
const defaultTimeout = 30 * time.Second

// longRequestTimeout bounds one request of sync, cat and touch when no
// -timeout is given: a write-back of many dirty pages may take long.
const longRequestTimeout = time.Hour

// watchdogSlack lets the client's own timeouts report first.
const watchdogSlack = time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// ctl is one invocation.
type ctl struct {
	socket  string
	json    bool
	timeout time.Duration
	// requestTimeout bounds each request (0: the client's default);
	// a write-back (sync) may take long.
	requestTimeout time.Duration
	stdout         io.Writer
	stderr         io.Writer
}

// command is one subcommand.
type command struct {
	name, args, help string
	long             bool // may run long: no default timeout
	run              func(c *ctl, fs *flag.FlagSet, args []string) error
	flags            func(fs *flag.FlagSet) // the command's own flags, nil if none
}

var commands []*command

func init() {
	commands = []*command{
		{name: "status", help: "show the service: pid, uptime, clients, open VMOs, dirty bytes, store", run: cmdStatus},
		{name: "clients", help: "list the connected clients (pagerctl itself is marked *)", run: cmdClients},
		{name: "vmos", help: "list the open VMOs", run: cmdVMOs},
		{name: "stats", args: "NAME", help: "show a VMO's statistics", run: cmdStats},
		{name: "dirty", args: "NAME [-offset N] [-length N]", help: "list a VMO's dirty ranges", run: cmdDirty, flags: rangeFlags},
		{name: "sync", args: "NAME", help: "write a VMO's dirty pages back now", long: true, run: cmdSync},
		{name: "cat", args: "NAME [-offset N] [-length N]", help: "write a VMO's bytes to stdout", long: true, run: cmdCat, flags: rangeFlags},
		{name: "touch", args: "NAME [-offset N] [-length N] [-write BYTE] [-hold D]",
			help: "fault a range in, or fill it with BYTE (a character, or a number like 0x41)", long: true, run: cmdTouch, flags: touchFlags},
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `pagerctl inspects and exercises a running pagerd.

Usage:
  pagerctl [-socket PATH] [-json] [-timeout D] COMMAND [ARGS]

Commands:
`)
	for _, c := range commands {
		use := strings.TrimSpace(c.name + " " + c.args)
		if len(use) > 24 {
			fmt.Fprintf(w, "  %s\n  %-24s %s\n", use, "", c.help)
		} else {
			fmt.Fprintf(w, "  %-24s %s\n", use, c.help)
		}
	}
	fmt.Fprintf(w, `  %-24s %s

Flags:
  -socket PATH   pagerd's socket (default %s)
  -json          print results as JSON
  -timeout D     give up when pagerd has not answered within D
                 (default 30s; none for sync, cat and touch)

Offsets and lengths take 0x hex and K/M/G (KiB/MiB/GiB) suffixes.
`, "help [COMMAND]", "this help, or a command's", server.DefaultSocket())
}

// run is pagerctl's main; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	c := &ctl{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("pagerctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.socket, "socket", server.DefaultSocket(), "")
	fs.BoolVar(&c.json, "json", false, "")
	fs.DurationVar(&c.timeout, "timeout", 0, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "pagerctl: %v\nRun 'pagerctl help' for usage.\n", err)
		return exitUsage
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" || name == "-h" {
		if len(rest) > 0 {
			if cmd := lookup(rest[0]); cmd != nil {
				fmt.Fprintf(stdout, "pagerctl %s %s\n    %s\n", cmd.name, cmd.args, cmd.help)
				if cmd.flags != nil {
					cfs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
					cmd.flags(cfs)
					cfs.SetOutput(stdout)
					cfs.PrintDefaults()
				}
				return exitOK
			}
		}
		usage(stdout)
		return exitOK
	}
	cmd := lookup(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "pagerctl: unknown command %q\nRun 'pagerctl help' for usage.\n", name)
		return exitUsage
	}
	cfs := flag.NewFlagSet("pagerctl "+cmd.name, flag.ContinueOnError)
	cfs.SetOutput(io.Discard)
	if cmd.flags != nil {
		cmd.flags(cfs)
	}
	pos, err := parseInterspersed(cfs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "pagerctl %s %s\n    %s\n", cmd.name, cmd.args, cmd.help)
			cfs.SetOutput(stdout)
			cfs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintf(stderr, "pagerctl %s: %v\nUsage: pagerctl %s %s\n", cmd.name, err, cmd.name, cmd.args)
		return exitUsage
	}
	want := 0
	if cmd.args != "" {
		want = 1
	}
	if len(pos) != want {
		fmt.Fprintf(stderr, "pagerctl %s: want %d argument(s), have %d\nUsage: pagerctl %s %s\n", cmd.name, want, len(pos), cmd.name, cmd.args)
		return exitUsage
	}
	switch {
	case c.timeout > 0:
		c.requestTimeout = c.timeout
	case cmd.long:
		c.requestTimeout = longRequestTimeout
	default:
		c.timeout = defaultTimeout
	}
	if c.timeout > 0 {
		// Each request is bounded by the client; a watchdog bounds the
		// whole command (faults taken by cat and touch included).
		t := time.AfterFunc(c.timeout+watchdogSlack, func() {
			fmt.Fprintf(stderr, "pagerctl: %v: pagerd at %s did not answer within %v\n", zx.ErrTimedOut, c.socket, c.timeout)
			os.Exit(exitFailure)
		})
		defer t.Stop()
	}
	if err := cmd.run(c, cfs, pos); err != nil {
		var ue *usageErr
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "pagerctl %s: %v\nUsage: pagerctl %s %s\n", cmd.name, ue.err, cmd.name, cmd.args)
			return exitUsage
		}
		fmt.Fprintf(stderr, "pagerctl: %s\n", errorText(err, c.socket))
		return exitFailure
	}
	return exitOK
}

// usageErr is a bad argument found by a command.
type usageErr struct{ err error }

func (e *usageErr) Error() string { return e.err.Error() }

func badArg(format string, args ...any) error { return &usageErr{fmt.Errorf(format, args...)} }

// parseInterspersed parses flags that may come before and after the
// positional arguments ("cat NAME -length 4096" and "cat -length 4096
// NAME"); after "--" every argument is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// errorText renders an error as "ZX_ERR_NAME: text".
func errorText(err error, socket string) string {
	var ze *zx.Error
	if errors.As(err, &ze) {
		return err.Error()
	}
	var st zx.Status
	if errors.As(err, &st) {
		return err.Error()
	}
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("%v: no pagerd is listening at %s (%v)", zx.ErrConnectionRefused, socket, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Sprintf("%v: %v", zx.ErrAccessDenied, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("%v: pagerd at %s did not answer in time (%v)", zx.ErrTimedOut, socket, err)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return fmt.Sprintf("%v: %v", zx.ErrPeerClosed, err)
	}
	return fmt.Sprintf("%v: %v", zx.StatusOf(err), err)
}

// dial connects to pagerd.
func (c *ctl) dial() (*client.Client, error) {
	opt := &client.Options{RequestTimeout: c.requestTimeout}
	if c.timeout > 0 && c.timeout < client.DefaultDialTimeout {
		opt.DialTimeout = c.timeout
	}
	cl, err := client.Dial(c.socket, opt)
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// printJSON writes v as indented JSON.
func (c *ctl) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// size renders a byte count for people: "8192 (8.0 KiB)".
func size(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%d (%s)", n, human(n))
}

// human renders a byte count with a binary unit: "8.0 KiB".
func human(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// parseSize parses an offset or length: decimal, 0x hex, 0o octal, with an
// optional K, M, G, T suffix (or KiB, MiB, GiB, TiB), all binary.
func parseSize(s string) (uint64, error) {
	num, shift := s, uint(0)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}} {
		if strings.HasSuffix(s, u.suffix) && !strings.HasPrefix(s, "0x") {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	v, err := parseUint(num)
	if err != nil || (shift > 0 && v > ^uint64(0)>>shift) {
		return 0, fmt.Errorf("%q is not a byte count (try 4096, 0x1000, 4K or 1MiB)", s)
	}
	return v << shift, nil
}

func parseUint(s string) (uint64, error) {
	return strconv.ParseUint(s, 0, 64)
}

// sizeFlag is a flag.Value for offsets and lengths.
type sizeFlag struct {
	v   uint64
	set bool
}

func (f *sizeFlag) String() string { return fmt.Sprint(f.v) }

func (f *sizeFlag) Set(s string) error {
	v, err := parseSize(s)
	if err != nil {
		return err
	}
	f.v, f.set = v, true
	return nil
}
