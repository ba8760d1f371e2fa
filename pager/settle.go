package pager

import (
	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/uffd"
)

// Detach keeps dirty pages and drops clean ones (spec §3.3). For a VMO
// whose writes are tracked with async write-protect (no TRAP_DIRTY), a
// mapped write needs nothing from the pager: it lands in the memfd at any
// time, and only the page tables say it happened. Collecting those and
// then punching the pages found clean would lose a write that lands in
// between. So the detach first stops writes it has not seen:
//
//  1. every mapping of the VMO is registered MINOR too (with the same
//     userfaultfd), so from then on an access to a page that is in the
//     memfd but not mapped faults to the pager and waits (the fault reader
//     waits for the VMO's lock, which the detach holds);
//  2. the pages the table calls clean are zapped from every mapping
//     (MADV_DONTNEED). A zapped entry keeps a write-protect marker if the
//     page was not written since it was last protected, and is left empty
//     if it was: the written state survives the zap;
//  3. /proc/self/pagemap (bit 57, PM_UFFD_WP) then says, page by page,
//     which of them were written after all: those are Dirty; the rest are
//     clean and are punched out, and no write can reach them any more.
//
// The mappings stay registered MINOR: a later access to a kept page of the
// detached VMO faults once per mapping and is resolved with UFFDIO_CONTINUE
// (installing the page write-protected, so its writes are still tracked).

// pmUFFDWP is bit 57 of a pagemap entry: the entry is write-protected by
// userfaultfd (a protected page or a marker).
const pmUFFDWP = uint64(1) << 57

// settleWrites makes the page-state table account for every write made
// through the VMO's mappings so far and stops untracked writes to the pages
// it calls clean (see above). Called with pv.mu held, before a detach drops
// the clean pages.
func (pv *pagedVMO) settleWrites() {
	pv.collect(0, pv.pages(), false)
	pv.stopUntrackedWrites()
}

// stopUntrackedWrites is steps 1-3 above: after it, the pages the table
// calls Clean are neither mapped nor writable without a fault to the pager,
// and those written since the last collect are Dirty.
func (pv *pagedVMO) stopUntrackedWrites() {
	if !pv.async || len(pv.mappings) == 0 || !pv.hasClean() {
		return
	}
	for _, m := range pv.mappings {
		if !m.minor {
			if _, err := m.u.Register(m.start, m.end-m.start,
				uffd.RegisterModeMissing|uffd.RegisterModeWP|uffd.RegisterModeMinor); err != nil {
				// Without MINOR the zap below would not stop writes: fall
				// back to what collect found.
				return
			}
			m.minor = true
		}
	}
	pv.forCleanRuns(func(a, b uint64) {
		for _, m := range pv.mappings {
			if x, y, ok := m.pageRange(a, b); ok {
				_, _, _ = unix.Syscall(unix.SYS_MADVISE, x, y-x, unix.MADV_DONTNEED)
			}
		}
	})
	var ents [64]uint64
	pv.forCleanRuns(func(a, b uint64) {
		for _, m := range pv.mappings {
			x, y, ok := m.pageRange(a, b)
			for ok && x < y {
				n := min(uintptr(len(ents)), (y-x)/pageSize)
				if err := uffd.ReadPagemap(pv.r.pagemap, x, ents[:n]); err != nil {
					clear(ents[:n]) // unknown: keep the pages (never lose a write)
				}
				for i := uintptr(0); i < n; i++ {
					if ents[i]&pmUFFDWP == 0 { // no marker, not protected: written
						pg := m.pageOf(x + i*pageSize)
						if s := pv.table.get(pg); s.state() == stClean {
							pv.setDirty(pg)
							pv.modified = true
						}
					}
				}
				x += n * pageSize
			}
		}
	})
}

// hasClean reports whether any page of the VMO is Clean.
func (pv *pagedVMO) hasClean() bool {
	found := false
	pv.forCleanRuns(func(a, b uint64) { found = true })
	return found
}

// forCleanRuns calls fn for each maximal run of Clean pages.
func (pv *pagedVMO) forCleanRuns(fn func(a, b uint64)) {
	n := pv.pages()
	for pg := uint64(0); pg < n; {
		if pv.table.chunks[pg>>chunkShift] == nil {
			pg = (pg>>chunkShift + 1) << chunkShift
			continue
		}
		if pv.table.get(pg).state() != stClean {
			pg++
			continue
		}
		end := pg
		for end < n && pv.table.get(end).state() == stClean {
			end++
		}
		fn(pg, end)
		pg = end
	}
}

// onMinorFault handles a MINOR fault on page pg at addr of m (only
// mappings of a detached async VMO are registered MINOR, see settleWrites):
// a kept page is mapped, write-protected so that its writes are still
// tracked; an absent one fails the access.
func (pv *pagedVMO) onMinorFault(m *mapping, addr uintptr, pg uint64, s pageState, tid uint32) {
	if !s.present() {
		pv.poison(m, addr, tid)
		return
	}
	if _, err := m.u.Continue(addr, pageSize, uffd.ContinueModeWP); err != nil {
		// EEXIST: mapped already (another thread's fault): retry the access.
		_ = m.u.Wake(addr, pageSize)
	}
}
