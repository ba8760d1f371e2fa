package pager

// pageState is one page's entry in the page-state table: a state in the low
// bits and flags above. The zero value is an absent page.
type pageState uint8

const (
	stAbsent        pageState = 0 // never supplied (or decommitted): a READ is needed
	stClean         pageState = 1 // supplied and not written since (spec §3.8 Clean)
	stDirty         pageState = 2 // written since supply or last writeback
	stAwaitingClean pageState = 3 // writeback begun, not yet ended
	stateMask       pageState = 0x3

	// flagZero marks content known to be zero without a committed page: a
	// zero marker from supply_pages (uncommitted aux page) or a zero range
	// (resize-up tail). Such pages do not count in committed bytes.
	flagZero pageState = 1 << 2
)

func (s pageState) present() bool    { return s&stateMask != stAbsent }
func (s pageState) state() pageState { return s & stateMask }
func (s pageState) zero() bool       { return s&flagZero != 0 }

// chunkPages is how many pages one table chunk covers (16 MiB of VMO with 4 KiB pages).
const chunkShift = 12
const chunkPages = 1 << chunkShift

// table is the page-state table of one pager VMO: one byte per page, held in
// lazily allocated chunks so a large, sparsely supplied VMO costs little. It
// also counts committed pages (present and not zero). Not safe for
// concurrent use: the VMO's lock guards it.
type table struct {
	chunks    []*[chunkPages]pageState
	pages     uint64 // number of pages covered (the VMO's page count)
	committed uint64 // pages that are present and not zero
}

func newTable(pages uint64) *table {
	t := &table{}
	t.resize(pages)
	return t
}

func (t *table) get(pg uint64) pageState {
	if pg >= t.pages {
		return stAbsent
	}
	c := t.chunks[pg>>chunkShift]
	if c == nil {
		return stAbsent
	}
	return c[pg&(chunkPages-1)]
}

func (t *table) set(pg uint64, s pageState) {
	ci := pg >> chunkShift
	c := t.chunks[ci]
	if c == nil {
		if s == stAbsent {
			return
		}
		c = new([chunkPages]pageState)
		t.chunks[ci] = c
	}
	old := &c[pg&(chunkPages-1)]
	if committedState(*old) {
		t.committed--
	}
	if committedState(s) {
		t.committed++
	}
	*old = s
}

func committedState(s pageState) bool { return s.present() && !s.zero() }

// firstAbsent returns the first absent page in [from, to), or to.
func (t *table) firstAbsent(from, to uint64) uint64 {
	for pg := from; pg < to; pg++ {
		c := t.chunks[pg>>chunkShift]
		if c == nil {
			return pg
		}
		if !c[pg&(chunkPages-1)].present() {
			return pg
		}
	}
	return to
}

// absentRunEnd returns the end of the run of absent pages starting at from, bounded by to.
func (t *table) absentRunEnd(from, to uint64) uint64 {
	pg := from
	for pg < to {
		c := t.chunks[pg>>chunkShift]
		if c == nil {
			// A whole missing chunk is absent: skip to its end.
			pg = (pg>>chunkShift + 1) << chunkShift
			continue
		}
		if c[pg&(chunkPages-1)].present() {
			return pg
		}
		pg++
	}
	return to
}

// resize changes the number of pages; pages cut off become absent.
func (t *table) resize(pages uint64) {
	if pages < t.pages {
		for pg := pages; pg < t.pages; pg++ {
			if t.chunks[pg>>chunkShift] == nil {
				pg = (pg>>chunkShift+1)<<chunkShift - 1
				continue
			}
			t.set(pg, stAbsent)
		}
	}
	n := (pages + chunkPages - 1) >> chunkShift
	if uint64(len(t.chunks)) > n {
		clear(t.chunks[n:])
		t.chunks = t.chunks[:n]
	} else {
		for uint64(len(t.chunks)) < n {
			t.chunks = append(t.chunks, nil)
		}
	}
	t.pages = pages
}
