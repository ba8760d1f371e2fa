// Package readahead detects sequential access in the missing-page faults
// of one mapping and sizes the run of pages a pager supplies for each
// fault.
//
// The kernel never reads ahead for a userfaultfd pager: every missing-page
// fault reports one address, and a page the pager has supplied never
// faults again. So the only thing a pager sees of an access pattern is the
// sequence of its missing-page faults. The policy follows Linux's
// on-demand readahead (mm/readahead.c: a window that starts small on a
// first or random access and grows while the stream keeps consuming it),
// adapted to that view:
//
// Streams. A Tracker keeps Config.Streams stream slots (default 4). A
// stream is the last window it was given: [start, end), where start is the
// faulting page and end is start plus the pages the caller reported with
// Fetched, and the window size w that Window returned for it. Several
// threads reading sequentially in different places of one mapping each
// keep their own stream.
//
// For a fault at page p, Window looks at the streams in this order:
//
//  1. Consumed (sequential): end <= p <= end+tol(w), with
//     tol(w) = max(1, w/16) pages. The thread read through the stream's
//     window and faulted at (or just after) its end, so the window was used:
//     the stream moves to p with window min(2w, MaxPages), and the
//     window's pages beyond its first (faulting) page are reported as hits.
//     The tolerance absorbs small gaps: a stride-2 access or a few pages
//     after the window that were already present. When several streams
//     match, the one with the smallest gap wins.
//  2. Wasted (skipped forward): end+tol(w) < p <= end+w. The fault lands in
//     the stream's reach, where its next window would have gone, but not
//     at its end: the thread skipped ahead and did not use the window as a
//     sequential reader would, so the window was too big. A new stream
//     starts at p with window max(w/2, MinPages) (the halving), and no hits
//     are reported (which of the window's pages were used is unknown). The
//     old stream stays in its slot until it is evicted, so a random fault
//     from another thread cannot derail a sequential reader; it only costs
//     that one halved window.
//  3. Random: anything else (a first fault, a jump out of every stream's
//     reach, a backward jump, a fault inside a stream's last window). A new
//     stream starts at p with window MinPages.
//
// A new stream takes, in this order, the slot of a stream whose last
// window contains p (that window did not land as the tracker believed, so
// it is replaced), an empty slot, the least recently used slot among
// streams on probation (never grown: a fault nobody has followed yet), or
// the least recently used slot. A stream leaves probation the first time
// it consumes a window. So random faults recycle each other's slots and
// never evict an established sequential reader, however long that reader
// goes between faults (with a window of w pages, w random faults of a
// neighbouring thread may land before its next one).
//
// Backward sequential access (a thread reading pages in decreasing order)
// is not detected: each of its faults is random and gets MinPages.
//
// Because a stream's window is only known to be used when the stream
// faults at its end, a purely sequential scan grows the window 1, 2, 4, ...,
// MaxPages and then faults once per MaxPages pages; a scan of N pages takes
// about N/MaxPages + log2(MaxPages) faults. More concurrent sequential
// readers than slots evict each other round robin and get MinPages.
//
// Asynchronous read-ahead. A pager that wakes the faulting thread as soon
// as its own page is there and fetches the rest of the window in the
// background sees the reader again only when it catches up with a page
// still being fetched. Ahead turns that into Linux's PG_readahead trigger:
// a reader waiting within the last window of an established stream gets
// the stream's next window fetched at once, and Extended moves the
// stream's end over it, so a reader that keeps up with the fetches never
// faults at a window's end again, and one that outruns them keeps a window
// in flight ahead of it.
//
// A Tracker is about 2 KiB, has no pointers, and never allocates.
package readahead

import (
	"fmt"
	"math"
)

// Defaults and limits of Config.
const (
	// DefaultMinPages is the window of a first or random fault when
	// Config.MinPages is 0.
	DefaultMinPages = 1
	// DefaultMaxPages is the largest window when Config.MaxPages is 0:
	// 1 MiB of 4 KiB pages.
	DefaultMaxPages = 256
	// DefaultStreams is the number of stream slots when Config.Streams is 0.
	DefaultStreams = 4
	// MaxWindow is the largest MaxPages Validate accepts (4 GiB of 4 KiB
	// pages).
	MaxWindow = 1 << 20
	// MaxStreams is the largest Streams Validate accepts and the number of
	// slots a Tracker holds.
	MaxStreams = 64
)

// Config configures read-ahead, like a file's struct file_ra_state limits
// (ra_pages) in Linux. The zero value is the default policy.
type Config struct {
	// MinPages is the window for a first or random fault; 0 means
	// DefaultMinPages (1).
	MinPages uint64
	// MaxPages is the largest window; 0 means DefaultMaxPages (256, 1 MiB of
	// 4 KiB pages).
	MaxPages uint64
	// Streams is the number of stream slots per Tracker, 1 to MaxStreams;
	// 0 means DefaultStreams (4).
	Streams int
	// Disabled turns read-ahead off: Window always returns 1 (no prefetch),
	// like POSIX_MADV_RANDOM.
	Disabled bool
}

// Validate reports whether c is usable: after defaults, MinPages <=
// MaxPages, MaxPages <= MaxWindow (1<<20) and Streams 1 to MaxStreams (64)
// (0 means the default). The error names the wrong values.
func (c Config) Validate() error {
	if c.Streams < 0 || c.Streams > MaxStreams {
		return fmt.Errorf("readahead: %d stream slots is out of range: want 1 to %d (or 0 for the default %d)", c.Streams, MaxStreams, DefaultStreams)
	}
	if c.MaxPages > MaxWindow {
		return fmt.Errorf("readahead: maximum window %d pages is larger than the limit %d", c.MaxPages, MaxWindow)
	}
	lo, hi := c.MinPages, c.MaxPages
	loNote, hiNote := "", ""
	if lo == 0 {
		lo, loNote = DefaultMinPages, " (the default)"
	}
	if hi == 0 {
		hi, hiNote = DefaultMaxPages, " (the default)"
	}
	if lo > hi {
		return fmt.Errorf("readahead: minimum window %d pages%s is larger than the maximum window %d pages%s", lo, loNote, hi, hiNote)
	}
	return nil
}

// Effective returns the configuration Window really uses: zero fields
// replaced by their defaults and out-of-range values clamped (MaxPages to
// MaxWindow, MinPages to MaxPages, Streams to 1..MaxStreams). Validate
// reports the values this clamps.
func (c Config) Effective() Config {
	lo, hi, streams := c.params()
	return Config{MinPages: lo, MaxPages: hi, Streams: streams, Disabled: c.Disabled}
}

// params returns the effective MinPages, MaxPages and Streams.
func (c *Config) params() (lo, hi uint64, streams int) {
	lo, hi, streams = c.MinPages, c.MaxPages, c.Streams
	if hi == 0 {
		hi = DefaultMaxPages
	}
	if hi > MaxWindow {
		hi = MaxWindow
	}
	if lo == 0 {
		lo = DefaultMinPages
	}
	if lo > hi {
		lo = hi
	}
	switch {
	case streams == 0:
		streams = DefaultStreams
	case streams < 0:
		streams = 1
	case streams > MaxStreams:
		streams = MaxStreams
	}
	return lo, hi, streams
}

// stream is one slot: the last window given to a sequential stream.
type stream struct {
	start, end uint64 // pages [start, end) supplied for the last window
	want       uint32 // the window Window returned for it; 0: empty slot
	used       uint32 // Tracker.clock when last given a window (LRU)
	grown      bool   // it has consumed a window: out of probation
}

// Tracker is the read-ahead state of one mapping, like Linux's per-file
// struct file_ra_state with several streams. The zero value is ready to
// use. Not safe for concurrent use (the caller holds the VMO's lock). It is
// fixed-size and its methods never allocate.
type Tracker struct {
	s     [MaxStreams]stream
	clock uint32 // counts Window calls; wraps harmlessly
	last  uint8  // 1 + index of the stream the last Window call gave a window; 0: none
}

// tolerance is how far past a window's end a fault may land and still
// count as consuming it: 1 page, or 1/16 of the window.
func tolerance(w uint64) uint64 {
	return max(1, w/16)
}

// addSat returns a+b, or MaxUint64 when that overflows.
func addSat(a, b uint64) uint64 {
	if b > math.MaxUint64-a {
		return math.MaxUint64
	}
	return a + b
}

// Window is called for a missing-page fault at page index p (in VMO
// pages). It returns n >= 1, the number of pages to supply starting at p
// (MinPages <= n <= MaxPages of c's effective values; the caller clips n to
// the VMO's end and to pages already present or being fetched, and reports
// back how many it really fetched with Fetched), and hits, how many pages
// this tracker previously prefetched that the access pattern has now shown
// were used: when a stream faults at the end of its window, the pages of
// that window beyond the fault that started it. Each prefetched page is
// reported at most once, so the total of hits never exceeds the total of
// n-1 over the Fetched calls. See the package documentation for the
// policy. With c.Disabled it returns (1, 0) and records nothing.
func (t *Tracker) Window(c *Config, p uint64) (n uint64, hits uint64) {
	if c.Disabled {
		t.last = 0
		return 1, 0
	}
	lo, hi, streams := c.params()
	t.clock++

	// 1. A stream whose window was consumed: grow it.
	best, bestGap := -1, uint64(0)
	skip, skipGap := -1, uint64(0)
	for i := 0; i < streams; i++ {
		s := &t.s[i]
		if s.want == 0 || s.end <= s.start || p < s.end {
			continue
		}
		gap, w := p-s.end, uint64(s.want)
		switch {
		case gap <= tolerance(w):
			if best < 0 || gap < bestGap {
				best, bestGap = i, gap
			}
		case gap <= w:
			if skip < 0 || gap < skipGap {
				skip, skipGap = i, gap
			}
		}
	}
	if best >= 0 {
		s := &t.s[best]
		hits = s.end - s.start - 1
		n = max(min(2*uint64(s.want), hi), lo)
		t.set(best, p, n, true)
		return n, hits
	}

	// 2. A fault in a stream's reach but past its end: the window was
	// wasted; start a stream with half of it. 3. Otherwise random.
	n = lo
	if skip >= 0 {
		n = min(max(uint64(t.s[skip].want)/2, lo), hi)
	}
	t.set(t.slotFor(p, streams), p, n, false)
	return n, 0
}

// set starts the window [p, p+1) of size n in slot i; Fetched extends it.
// grown says whether the stream is out of probation.
func (t *Tracker) set(i int, p, n uint64, grown bool) {
	t.s[i] = stream{start: p, end: addSat(p, 1), want: uint32(n), used: t.clock, grown: grown}
	if t.s[i].end == p { // p is the last page index; the window is empty
		t.s[i].want = 0
	}
	t.last = uint8(i + 1)
}

// slotFor picks the slot for a new stream at p: a stream whose last window
// contains p, else an empty slot, else the least recently used stream on
// probation, else the least recently used one.
func (t *Tracker) slotFor(p uint64, streams int) int {
	empty, lru, lruAge := -1, 0, uint32(0)
	prob, probAge := -1, uint32(0)
	for i := 0; i < streams; i++ {
		s := &t.s[i]
		if s.want == 0 {
			if empty < 0 {
				empty = i
			}
			continue
		}
		if s.start <= p && p < s.end {
			return i
		}
		age := t.clock - s.used
		if age >= lruAge {
			lru, lruAge = i, age
		}
		if !s.grown && (prob < 0 || age >= probAge) {
			prob, probAge = i, age
		}
	}
	switch {
	case empty >= 0:
		return empty
	case prob >= 0:
		return prob
	}
	return lru
}

// Fetched tells the tracker that the run [p, p+n) was really supplied for
// the fault at p that Window was last called for (n may be smaller than
// Window's answer after clipping), so that stream's window end is p+n. A
// Fetched whose p matches no stream's window start is ignored; n == 0
// (nothing supplied) forgets the stream. Without a Fetched call a window
// counts as the faulting page alone.
func (t *Tracker) Fetched(p, n uint64) {
	i := -1
	if l := int(t.last) - 1; l >= 0 && l < MaxStreams && t.s[l].want != 0 && t.s[l].start == p {
		i = l
	} else {
		for j := range t.s {
			if t.s[j].want != 0 && t.s[j].start == p {
				i = j
				break
			}
		}
	}
	if i < 0 {
		return
	}
	if n == 0 {
		t.s[i] = stream{}
		return
	}
	t.s[i].end = addSat(p, n)
}

// Ahead is the asynchronous half of read-ahead. A pager that fetches a
// window in the background (it wakes the faulting thread once its own page
// is there) calls Ahead for a fault at page p that has to wait for a page
// still being fetched: the reader has caught up with the read-ahead. If p
// lies in the window of an established stream (one that has consumed a
// window: out of probation) and that window ends at most one window size
// after p, Ahead returns the next window [start, start+n) to fetch now,
// so that it is (being) fetched before the reader gets there, like Linux's
// PG_readahead marker starting the next window when the reader reaches
// it. Otherwise it returns n == 0. The caller clips the run as for Window
// and reports what it really fetched with Extended(start, k). With
// c.Disabled it returns n == 0.
func (t *Tracker) Ahead(c *Config, p uint64) (start, n uint64) {
	if c.Disabled {
		return 0, 0
	}
	_, hi, streams := c.params()
	for i := 0; i < streams; i++ {
		s := &t.s[i]
		if s.want == 0 || !s.grown || p < s.start || p >= s.end {
			continue
		}
		w := min(uint64(s.want), hi)
		if s.end-p > w || s.end == math.MaxUint64 {
			return 0, 0 // far enough ahead already
		}
		return s.end, w
	}
	return 0, 0
}

// Extended tells the tracker that the run [start, start+n) that Ahead
// proposed was fetched: the stream whose window ends at start now ends at
// start+n, so a fault there is sequential again. n == 0 changes nothing.
func (t *Tracker) Extended(start, n uint64) {
	if n == 0 {
		return
	}
	for i := range t.s {
		if t.s[i].want != 0 && t.s[i].end == start {
			t.s[i].end = addSat(start, n)
			return
		}
	}
}

// Reset forgets every stream, for example after the mapping's pages were
// dropped (decommit, resize) so that windows it remembers are gone.
func (t *Tracker) Reset() {
	*t = Tracker{}
}
