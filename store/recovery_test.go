package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setupJournalCase makes a 4-page object of 'o' bytes and returns its
// paths and a committed journal that writes pages 1 and 3 with 'n'.
func setupJournalCase(t *testing.T) (path, jpath string, journal []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "obj")
	if err := os.WriteFile(path, fill('o', 4*PageSize), 0o644); err != nil {
		t.Fatal(err)
	}
	journal = encodeJournal([]Page{{PageSize, fill('n', PageSize)}, {3 * PageSize, fill('n', PageSize)}}, 4*PageSize)
	return path, path + JournalSuffix, journal
}

func openRecover(t *testing.T, path string) ([]byte, RecoveryResult) {
	t.Helper()
	s, err := OpenFile(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Open("", false)
	if err != nil {
		t.Fatalf("Open (recovery): %v", err)
	}
	defer o.Close()
	if st, err := os.Stat(path + JournalSuffix); err != nil || st.Size() != 0 {
		t.Fatalf("journal after recovery: %v %v; want empty", st, err)
	}
	return readAll(t, o), o.(*fileObject).LastRecovery()
}

var (
	allOld = fill('o', 4*PageSize)
	allNew = bytes.Join([][]byte{fill('o', PageSize), fill('n', PageSize), fill('o', PageSize), fill('n', PageSize)}, nil)
)

func TestRecoveryReplaysCommittedJournal(t *testing.T) {
	path, jpath, j := setupJournalCase(t)
	// Simulate a crash during the in-place write: page 1 torn, page 3 not written.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(fill('n', 1000), PageSize)
	f.Close()
	if err := os.WriteFile(jpath, j, 0o644); err != nil {
		t.Fatal(err)
	}
	got, res := openRecover(t, path)
	if !bytes.Equal(got, allNew) || res.Replayed != 2 || res.Discarded {
		t.Fatalf("recovery %+v; content new=%v", res, bytes.Equal(got, allNew))
	}
	// Trailing garbage after a valid commit does not matter.
	os.WriteFile(path, allOld, 0o644)
	os.WriteFile(jpath, append(j, 1, 2, 3), 0o644)
	if got, res := openRecover(t, path); !bytes.Equal(got, allNew) || res.Replayed != 2 {
		t.Fatalf("recovery with trailing bytes %+v", res)
	}
}

func TestRecoveryDiscardsTruncatedJournal(t *testing.T) {
	path, jpath, j := setupJournalCase(t)
	// Every proper prefix is an incomplete group: discarded, data stays old.
	cuts := []int{1, 3, 4, recHdrLen - 1, recHdrLen, recHdrLen + 1, recHdrLen + PageSize, recHdrLen + PageSize + 5, len(j) - commitLen, len(j) - 1}
	for _, n := range cuts {
		if err := os.WriteFile(jpath, j[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		got, res := openRecover(t, path)
		if !bytes.Equal(got, allOld) || !res.Discarded || res.Replayed != 0 || res.Reason == "" {
			t.Fatalf("journal cut at %d of %d: recovery %+v, content old=%v", n, len(j), res, bytes.Equal(got, allOld))
		}
	}
}

func TestRecoveryDiscardsCorruptJournal(t *testing.T) {
	path, jpath, j := setupJournalCase(t)
	corrupt := map[string]int{
		"data byte of record 0":   recHdrLen + 17,
		"data byte of record 1":   2*recHdrLen + PageSize + 4000,
		"offset of record 1":      recHdrLen + PageSize + 5,
		"checksum of record 0":    16,
		"commit count":            len(j) - 8,
		"commit checksum":         len(j) - 2,
		"magic of record 1":       recHdrLen + PageSize,
		"length field of record0": 12,
	}
	for what, at := range corrupt {
		b := bytes.Clone(j)
		b[at] ^= 0x40
		if err := os.WriteFile(jpath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, res := openRecover(t, path)
		if !bytes.Equal(got, allOld) || !res.Discarded {
			t.Fatalf("corrupt %s: recovery %+v, content old=%v", what, res, bytes.Equal(got, allOld))
		}
		t.Logf("corrupt %s: discarded: %s", what, res.Reason)
	}
}

// --- crash test -----------------------------------------------------------

const (
	crashEnv      = "PAGERD_STORE_CRASH_CHILD"
	crashStartEnv = "PAGERD_STORE_CRASH_START"
	crashPages    = 32
)

// versionPage is a page holding version v: v (u64), then a fill byte derived
// from v, then a CRC-32C of the rest — a torn page fails the check.
func versionPage(v uint64) []byte {
	p := fill(byte(v*7+1), PageSize)
	binary.LittleEndian.PutUint64(p, v)
	binary.LittleEndian.PutUint32(p[PageSize-4:], crc32.Checksum(p[:PageSize-4], castagnoli))
	return p
}

func pageVersion(p []byte) (uint64, error) {
	v := binary.LittleEndian.Uint64(p)
	if got, want := binary.LittleEndian.Uint32(p[PageSize-4:]), crc32.Checksum(p[:PageSize-4], castagnoli); got != want {
		return v, fmt.Errorf("torn page: checksum %#x, want %#x (version field %d)", got, want, v)
	}
	if !bytes.Equal(p, versionPage(v)) {
		return v, fmt.Errorf("page claims version %d but differs from it", v)
	}
	return v, nil
}

// crashGroup is the deterministic set of pages version v writes: a few
// random pages, some as multi-page runs.
func crashGroup(v uint64) []int {
	r := rand.New(rand.NewPCG(v, 0x9e3779b9))
	seen := map[int]bool{}
	var pages []int
	for range 1 + r.IntN(12) {
		start, run := r.IntN(crashPages), 1+r.IntN(3)
		for p := start; p < start+run && p < crashPages; p++ {
			if !seen[p] {
				seen[p] = true
				pages = append(pages, p)
			}
		}
	}
	return pages
}

// TestCrashChild is the child half of TestCrashSafety; it does nothing
// unless started by it.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only run as TestCrashSafety's child")
	}
	v, _ := strconv.ParseUint(os.Getenv(crashStartEnv), 10, 64)
	report := os.NewFile(3, "report")
	s, err := OpenFile(path, FileOptions{})
	if err != nil {
		fmt.Fprintf(report, "X %v\n", err)
		os.Exit(2)
	}
	o, err := s.Open("", false)
	if err != nil {
		fmt.Fprintf(report, "X %v\n", err)
		os.Exit(2)
	}
	for ; ; v++ {
		g := crashGroup(v)
		var pages []Page
		var line strings.Builder
		fmt.Fprintf(&line, "B %d", v)
		for _, p := range g {
			pages = append(pages, Page{uint64(p) * PageSize, versionPage(v)})
			fmt.Fprintf(&line, " %d", p)
		}
		line.WriteString("\n")
		if _, err := report.WriteString(line.String()); err != nil {
			os.Exit(3)
		}
		if err := o.WritePages(pages); err != nil {
			fmt.Fprintf(report, "X %v\n", err)
			os.Exit(2)
		}
		if _, err := fmt.Fprintf(report, "E %d\n", v); err != nil {
			os.Exit(3)
		}
	}
}

// TestCrashSafety SIGKILLs a child doing WritePages in a loop at random
// moments, then recovers and checks every page is one whole version that is
// allowed: the last acknowledged one, or the in-flight one (and the
// in-flight group is all-or-nothing).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short")
	}
	budget := 8 * time.Second
	deadline := time.Now().Add(budget)
	path := filepath.Join(t.TempDir(), "crash.img")
	init := make([]byte, 0, crashPages*PageSize)
	for range crashPages {
		init = append(init, versionPage(0)...)
	}
	if err := os.WriteFile(path, init, 0o644); err != nil {
		t.Fatal(err)
	}
	acked := make([]uint64, crashPages) // durable version of each page
	next := uint64(1)
	var iters, kills, midWrite, inflightNew, inflightOld, acks, checked, replayed, discarded int
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for iters < 400 && time.Now().Before(deadline) {
		iters++
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path, crashStartEnv+"="+strconv.FormatUint(next, 10))
		cmd.ExtraFiles = []*os.File{w}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		lines := make(chan []string, 1)
		go func() {
			var ls []string
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				ls = append(ls, sc.Text())
			}
			r.Close()
			lines <- ls
		}()
		// Kill at a random moment: mostly within the first writes, sometimes later.
		time.Sleep(time.Duration(rng.IntN(40000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("iteration %d: kill: %v", iters, err)
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("iteration %d: child did not die of SIGKILL: %v\n%s", iters, err, stderr.Bytes())
		}
		kills++
		var ls []string
		select {
		case ls = <-lines:
		case <-time.After(5 * time.Second):
			t.Fatal("report pipe not closed 5s after the child died")
		}
		var inflight []int
		inflightV := uint64(0)
		for _, l := range ls {
			f := strings.Fields(l)
			switch f[0] {
			case "X":
				t.Fatalf("iteration %d: child error: %s", iters, l)
			case "B":
				inflightV, _ = strconv.ParseUint(f[1], 10, 64)
				inflight = inflight[:0]
				for _, s := range f[2:] {
					p, _ := strconv.Atoi(s)
					inflight = append(inflight, p)
				}
				if !slicesEqualInts(inflight, crashGroup(inflightV)) {
					t.Fatalf("child reported group %v for version %d, want %v", inflight, inflightV, crashGroup(inflightV))
				}
			case "E":
				v, _ := strconv.ParseUint(f[1], 10, 64)
				if v != inflightV || inflight == nil {
					t.Fatalf("iteration %d: E %d without B", iters, v)
				}
				for _, p := range inflight {
					acked[p] = v
				}
				acks++
				inflight = nil
			}
			if len(f) > 1 {
				v, _ := strconv.ParseUint(f[1], 10, 64)
				next = max(next, v+1)
			}
		}
		// Recover (as the service would on restart) and check every page.
		s, err := OpenFile(path, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		o, err := s.Open("", false)
		if err != nil {
			t.Fatalf("iteration %d: recovery: %v", iters, err)
		}
		res := o.(*fileObject).LastRecovery()
		replayed += min(res.Replayed, 1)
		if res.Discarded {
			discarded++
		}
		isInflight := map[int]bool{}
		for _, p := range inflight {
			isInflight[p] = true
		}
		buf := make([]byte, PageSize)
		nNew := 0
		for p := range crashPages {
			if n, err := o.ReadAt(buf, uint64(p)*PageSize); n != PageSize || err != nil {
				t.Fatalf("iteration %d: reading page %d: %d, %v", iters, p, n, err)
			}
			v, err := pageVersion(buf)
			if err != nil {
				t.Fatalf("iteration %d: page %d: %v", iters, p, err)
			}
			checked++
			switch {
			case v == acked[p]:
			case isInflight[p] && v == inflightV:
				nNew++
			default:
				t.Fatalf("iteration %d: page %d has version %d; acknowledged %d, in flight %d (%v): a synced page was lost or a stale one resurrected", iters, p, v, acked[p], inflightV, isInflight[p])
			}
		}
		if inflight != nil {
			midWrite++
			switch nNew {
			case 0:
				inflightOld++
			case len(inflight):
				inflightNew++
				for _, p := range inflight {
					acked[p] = inflightV // now the durable state
				}
			default:
				t.Fatalf("iteration %d: group %d half applied: %d of %d pages new", iters, inflightV, nNew, len(inflight))
			}
		}
		o.Close()
		s.Close()
	}
	t.Logf("crash test: %d iterations, %d SIGKILLs (%d mid-WritePages: %d recovered new, %d old), %d acknowledged WritePages, %d page checks, recovery replayed %d and discarded %d journals, %d versions written",
		iters, kills, midWrite, inflightNew, inflightOld, acks, checked, replayed, discarded, next-1)
	if acks == 0 || midWrite == 0 {
		t.Fatalf("crash test exercised too little: %d acks, %d kills mid-write", acks, midWrite)
	}
}

func slicesEqualInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
