package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pagerd/pagerd/client"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/zx"
)

const pageSize = zx.PageSize

// chunk is how much of a VMO cat and touch map at a time.
const chunk = 8 << 20

func cmdStatus(c *ctl, _ *flag.FlagSet, _ []string) error {
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := cl.Status()
	if err != nil {
		return err
	}
	started := time.Unix(0, int64(st.StartTime))
	if c.json {
		return c.printJSON(map[string]any{
			"socket": c.socket, "pid": st.PID, "started": started.UTC().Format(time.RFC3339Nano),
			"uptime_seconds": time.Since(started).Seconds(), "protocol": st.Version,
			"clients": st.Clients, "vmos": st.VMOs, "dirty_bytes": st.DirtyBytes, "store": st.Store,
		})
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "pagerd\tpid %d, up %v (since %s)\n", st.PID, time.Since(started).Round(time.Second),
		started.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintf(w, "socket\t%s\n", c.socket)
	fmt.Fprintf(w, "store\t%s\n", st.Store)
	fmt.Fprintf(w, "protocol\t%d\n", st.Version)
	fmt.Fprintf(w, "clients\t%d (this pagerctl included)\n", st.Clients)
	fmt.Fprintf(w, "open VMOs\t%d\n", st.VMOs)
	fmt.Fprintf(w, "dirty\t%s\n", size(st.DirtyBytes))
	return w.Flush()
}

func cmdClients(c *ctl, _ *flag.FlagSet, _ []string) error {
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	cs, err := cl.Clients()
	if err != nil {
		return err
	}
	me := int32(os.Getpid())
	if c.json {
		out := make([]map[string]any, 0, len(cs))
		for _, ci := range cs {
			out = append(out, map[string]any{
				"id": ci.ID, "pid": ci.PID, "uid": ci.UID, "gid": ci.GID, "vmos": ci.VMOs,
				"mappings": ci.Mappings, "mapped_bytes": ci.MappedBytes, "outstanding": ci.Outstanding,
				"faults": ci.Faults, "supplied_bytes": ci.Supplied,
				"connected": time.Unix(0, int64(ci.Connected)).UTC().Format(time.RFC3339Nano), "self": ci.PID == me,
			})
		}
		return c.printJSON(out)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPID\tUID\tGID\tVMOS\tMAPPINGS\tMAPPED\tIN-FLIGHT\tFAULTS\tSUPPLIED\tCONNECTED")
	for _, ci := range cs {
		id := strconv.FormatUint(ci.ID, 10)
		if ci.PID == me {
			id += "*"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%s\t%v ago\n", id, ci.PID, ci.UID, ci.GID, ci.VMOs,
			ci.Mappings, human(ci.MappedBytes), ci.Outstanding, ci.Faults, human(ci.Supplied),
			time.Since(time.Unix(0, int64(ci.Connected))).Round(time.Second))
	}
	return w.Flush()
}

func cmdVMOs(c *ctl, _ *flag.FlagSet, _ []string) error {
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	vs, err := cl.VMOs()
	if err != nil {
		return err
	}
	if c.json {
		out := make([]map[string]any, 0, len(vs))
		for _, v := range vs {
			out = append(out, map[string]any{
				"name": v.Name, "size": v.Size, "committed_bytes": v.CommittedBytes, "dirty_bytes": v.DirtyBytes,
				"read_faults": v.ReadFaults, "write_faults": v.WriteFaults, "supplied_bytes": v.SuppliedBytes,
				"clients": v.Clients, "mappings": v.Mappings, "read_only": v.Flags&proto.OpenReadOnly != 0,
			})
		}
		return c.printJSON(out)
	}
	if len(vs) == 0 {
		fmt.Fprintln(c.stdout, "no VMOs open (pagerd opens a VMO while a client has it open)")
		return nil
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSIZE\tCOMMITTED\tDIRTY\tREAD-FAULTS\tWRITE-FAULTS\tSUPPLIED\tCLIENTS\tMAPPINGS\tMODE")
	for _, v := range vs {
		mode := "rw"
		if v.Flags&proto.OpenReadOnly != 0 {
			mode = "ro"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\n", v.Name, human(v.Size), human(v.CommittedBytes),
			human(v.DirtyBytes), v.ReadFaults, v.WriteFaults, human(v.SuppliedBytes), v.Clients, v.Mappings, mode)
	}
	return w.Flush()
}

// openVMO connects and opens name.
func (c *ctl) openVMO(name string, flags client.OpenFlags) (*client.Client, *client.VMO, error) {
	cl, err := c.dial()
	if err != nil {
		return nil, nil, err
	}
	v, err := cl.Open(name, flags, 0)
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	return cl, v, nil
}

// openForReading opens name to map it read-only.
//
// Workaround: Linux refuses to register a MAP_SHARED mapping of a file
// opened O_RDONLY with a userfaultfd (EPERM: the VMA lacks VM_MAYWRITE),
// and pagerd hands a ReadOnly open an O_RDONLY descriptor of the memfd, so
// a read-only Map fails with ZX_ERR_ACCESS_DENIED. When it does and the
// object itself is writable, pagerctl opens it read-write instead and
// still maps it read-only. (Remove once read-only mappings register.)
func (c *ctl) openForReading(name string) (*client.Client, *client.VMO, error) {
	cl, v, err := c.openVMO(name, client.ReadOnly)
	if err != nil || v.Size() == 0 {
		return cl, v, err
	}
	m, err := v.Map(0, pageSize, false)
	if err == nil {
		m.Unmap()
		return cl, v, nil
	}
	v.Close()
	if zx.StatusOf(err) != zx.ErrAccessDenied && !errors.Is(err, syscall.EPERM) {
		cl.Close()
		return nil, nil, err
	}
	v2, err2 := cl.Open(name, 0, 0)
	if err2 != nil || v2.ReadOnly() {
		if err2 == nil {
			v2.Close()
		}
		cl.Close()
		return nil, nil, err
	}
	return cl, v2, nil
}

func cmdStats(c *ctl, _ *flag.FlagSet, args []string) error {
	cl, v, err := c.openVMO(args[0], client.ReadOnly)
	if err != nil {
		return err
	}
	defer cl.Close()
	defer v.Close()
	st, err := v.Stats()
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{
			"name": args[0], "size": st.Size, "content_size": st.ContentSize, "committed_bytes": st.CommittedBytes,
			"dirty_bytes": st.DirtyBytes, "read_faults": st.ReadFaults, "write_faults": st.WriteFaults,
			"mappings": st.Mappings,
		})
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "name\t%s\n", args[0])
	fmt.Fprintf(w, "size\t%s\n", size(st.Size))
	fmt.Fprintf(w, "content size\t%s\n", size(st.ContentSize))
	fmt.Fprintf(w, "committed\t%s\n", size(st.CommittedBytes))
	fmt.Fprintf(w, "dirty\t%s\n", size(st.DirtyBytes))
	fmt.Fprintf(w, "read faults\t%d\n", st.ReadFaults)
	fmt.Fprintf(w, "write faults\t%d\n", st.WriteFaults)
	fmt.Fprintf(w, "mappings\t%d\n", st.Mappings)
	return w.Flush()
}

// rangeFlags are -offset and -length.
func rangeFlags(fs *flag.FlagSet) {
	fs.Var(&sizeFlag{}, "offset", "where the range starts, in `bytes` (default 0)")
	fs.Var(&sizeFlag{}, "length", "the range's length in `bytes` (default: to the end of the VMO's content)")
}

func touchFlags(fs *flag.FlagSet) {
	rangeFlags(fs)
	fs.String("write", "", "write this `byte` over the range: a character (A; one digit is a character too) or a number (0x41, 65, 0x00)")
	fs.Duration("hold", 0, "keep the VMO open and mapped this long afterwards (or until SIGINT/SIGTERM)")
}

// span reads -offset and -length against a VMO of the given content size.
// The default is the rest of the content; asking past it is an error.
func span(fs *flag.FlagSet, limit uint64, what string) (off, length uint64, err error) {
	o := fs.Lookup("offset").Value.(*sizeFlag)
	l := fs.Lookup("length").Value.(*sizeFlag)
	off = o.v
	if off > limit {
		return 0, 0, badArg("-offset %d is past the end of the VMO's %s (%d bytes)", off, what, limit)
	}
	length = limit - off
	if l.set {
		if l.v > limit-off {
			return 0, 0, badArg("-offset %d -length %d reaches past the end of the VMO's %s (%d bytes)", off, l.v, what, limit)
		}
		length = l.v
	}
	return off, length, nil
}

func cmdDirty(c *ctl, fs *flag.FlagSet, args []string) error {
	cl, v, err := c.openVMO(args[0], client.ReadOnly)
	if err != nil {
		return err
	}
	defer cl.Close()
	defer v.Close()
	off, length, err := span(fs, v.Size(), "size")
	if err != nil {
		return err
	}
	var rs []proto.Range
	if length > 0 {
		if rs, err = v.DirtyRanges(off, length); err != nil {
			return err
		}
	}
	var total uint64
	for _, r := range rs {
		total += r.Length
	}
	if c.json {
		out := make([]map[string]any, 0, len(rs))
		for _, r := range rs {
			out = append(out, map[string]any{"offset": r.Offset, "length": r.Length, "zero": r.Options&zx.VMODirtyRangeIsZero != 0})
		}
		return c.printJSON(map[string]any{"name": args[0], "dirty_bytes": total, "ranges": out})
	}
	if len(rs) == 0 {
		fmt.Fprintf(c.stdout, "%s: no dirty pages in [%#x, %#x)\n", args[0], off, off+length)
		return nil
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "OFFSET\tEND\tLENGTH")
	for _, r := range rs {
		zero := ""
		if r.Options&zx.VMODirtyRangeIsZero != 0 {
			zero = " (zero)"
		}
		fmt.Fprintf(w, "%#x\t%#x\t%s%s\n", r.Offset, r.Offset+r.Length, human(r.Length), zero)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: %s dirty in %d range(s)\n", args[0], human(total), len(rs))
	return nil
}

func cmdSync(c *ctl, _ *flag.FlagSet, args []string) error {
	cl, v, err := c.openVMO(args[0], client.ReadOnly)
	if err != nil {
		return err
	}
	defer cl.Close()
	defer v.Close()
	t0 := time.Now()
	n, err := v.Sync()
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{"name": args[0], "bytes_written": n, "seconds": time.Since(t0).Seconds()})
	}
	fmt.Fprintf(c.stdout, "%s: wrote %s back to the store in %v\n", args[0], size(n), time.Since(t0).Round(time.Microsecond))
	return nil
}

// window is a page-aligned mapping of part of a VMO.
type window struct {
	m    *client.Mapping
	base uint64 // VMO offset of the mapping's first byte
}

// mapRange maps the pages holding [off, off+n) and populates them (faults
// them in through pagerd from inside madvise, so a failure is an error,
// not a SIGBUS).
func mapRange(v *client.VMO, off, n uint64, write bool) (*window, error) {
	base := off &^ (pageSize - 1)
	end := (off + n + pageSize - 1) &^ (pageSize - 1)
	m, err := v.Map(base, end-base, write)
	if err != nil {
		return nil, err
	}
	if err := m.Populate(0, end-base, write); err != nil {
		m.Unmap()
		return nil, err
	}
	return &window{m: m, base: base}, nil
}

// bytes returns the mapped bytes of [off, off+n).
func (w *window) bytes(off, n uint64) []byte {
	b := w.m.Bytes()
	return b[off-w.base : off-w.base+n]
}

// guarded runs f with faults on mapped memory turned into a panic, which
// it returns as an error: a page pagerd could not supply raises SIGBUS,
// and pagerctl reports it instead of crashing.
func guarded(what string, f func()) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = zx.Errorf(zx.ErrIO, "%s: memory fault: %v", what, r)
		}
	}()
	f()
	return nil
}

func cmdCat(c *ctl, fs *flag.FlagSet, args []string) error {
	cl, v, err := c.openForReading(args[0])
	if err != nil {
		return err
	}
	defer cl.Close()
	defer v.Close()
	off, length, err := span(fs, v.ContentSize(), "content")
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(c.stdout, 1<<20)
	for done := uint64(0); done < length; {
		n := min(chunk, length-done)
		w, err := mapRange(v, off+done, n, false)
		if err != nil {
			return err
		}
		var werr error
		ferr := guarded(fmt.Sprintf("reading %s at %#x", args[0], off+done), func() {
			_, werr = out.Write(w.bytes(off+done, n))
		})
		w.m.Unmap()
		if ferr != nil {
			return ferr
		}
		if werr != nil {
			return werr
		}
		done += n
	}
	return out.Flush()
}

// parseByte reads -write: one character, or a number 0..255.
func parseByte(s string) (byte, error) {
	if len(s) == 1 {
		return s[0], nil
	}
	v, err := strconv.ParseUint(s, 0, 8)
	if err != nil {
		return 0, badArg("-write %q: want one character or a number 0..255 (0x41, 65)", s)
	}
	return byte(v), nil
}

func cmdTouch(c *ctl, fs *flag.FlagSet, args []string) error {
	writeArg := fs.Lookup("write").Value.String()
	hold := fs.Lookup("hold").Value.(flag.Getter).Get().(time.Duration)
	write := writeArg != ""
	var fill byte
	if write {
		var err error
		if fill, err = parseByte(writeArg); err != nil {
			return err
		}
	}
	var cl *client.Client
	var v *client.VMO
	var err error
	if write {
		cl, v, err = c.openVMO(args[0], 0)
	} else {
		cl, v, err = c.openForReading(args[0])
	}
	if err != nil {
		return err
	}
	defer cl.Close()
	defer v.Close()
	off, length, err := span(fs, v.ContentSize(), "content")
	if err != nil {
		return err
	}
	t0 := time.Now()
	var windows []*window
	defer func() {
		for _, w := range windows {
			w.m.Unmap()
		}
	}()
	for done := uint64(0); done < length; {
		n := min(chunk, length-done)
		w, err := mapRange(v, off+done, n, write)
		if err != nil {
			return err
		}
		if write {
			ferr := guarded(fmt.Sprintf("writing %s at %#x", args[0], off+done), func() {
				b := w.bytes(off+done, n)
				for i := range b {
					b[i] = fill
				}
			})
			if ferr != nil {
				w.m.Unmap()
				return ferr
			}
		}
		if hold > 0 {
			windows = append(windows, w)
		} else {
			w.m.Unmap()
		}
		done += n
	}
	took := time.Since(t0)
	pages := (((off + length + pageSize - 1) &^ (pageSize - 1)) - off&^(pageSize-1)) / pageSize
	if length == 0 {
		pages = 0
	}
	var dirty []proto.Range
	if write && length > 0 {
		if dirty, err = v.DirtyRanges(0, v.Size()); err != nil {
			return err
		}
	}
	if c.json {
		out := map[string]any{"name": args[0], "offset": off, "length": length, "pages": pages,
			"seconds": took.Seconds(), "write": write}
		if write {
			rs := make([]map[string]any, 0, len(dirty))
			for _, r := range dirty {
				rs = append(rs, map[string]any{"offset": r.Offset, "length": r.Length})
			}
			out["byte"] = fill
			out["dirty"] = rs
		}
		if err := c.printJSON(out); err != nil {
			return err
		}
	} else {
		verb := "read"
		if write {
			verb = fmt.Sprintf("wrote %s to", quoteByte(fill))
		}
		rate := ""
		if took > 0 && length > 0 {
			rate = fmt.Sprintf(", %.0f MiB/s", float64(length)/took.Seconds()/(1<<20))
		}
		fmt.Fprintf(c.stdout, "%s: %s [%#x, %#x): %d page(s) in %v%s\n", args[0], verb, off, off+length, pages,
			took.Round(time.Microsecond), rate)
		if write {
			var parts []string
			for _, r := range dirty {
				parts = append(parts, fmt.Sprintf("[%#x, %#x)", r.Offset, r.Offset+r.Length))
			}
			if len(parts) == 0 {
				parts = []string{"none (already written back)"}
			}
			fmt.Fprintf(c.stdout, "%s: dirty now: %s\n", args[0], strings.Join(parts, " "))
		}
	}
	if hold > 0 {
		fmt.Fprintf(c.stderr, "pagerctl: holding %s open and mapped for %v (SIGINT/SIGTERM to release)\n", args[0], hold)
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)
		select {
		case <-time.After(hold):
		case <-sigs:
		}
	}
	return nil
}

// quoteByte renders a byte as 'A' (0x41), or 0x00 when not printable.
func quoteByte(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return fmt.Sprintf("'%c' (%#02x)", b, b)
	}
	return fmt.Sprintf("%#02x", b)
}
