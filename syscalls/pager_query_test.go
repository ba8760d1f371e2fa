package syscalls

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pagerd/pagerd/zx"
)

// Tests of zx_pager_query_dirty_ranges and zx_pager_query_vmo_stats (spec
// §1.6, §1.7) through the flat API only: the status of every check in
// Zircon's order (pager handle with MANAGE_VMO, VMO handle with READ, "VMO
// not from this pager", then the call's own checks), the dirty ranges the
// query reports (maximal runs, committed and zero runs apart, AwaitingClean
// included, actual/avail, the paging loop), the sticky "modified" bit, and
// their interplay with resizing (§3.8, §3.9) and detach (§3.3).
//
// Nothing here touches a mapping of a pager VMO (the Go fault hazard): the
// VMOs are read and written with VmoRead/VmoWrite, always in a goroutine
// with a deadline, and requests are answered through PortWait (with a
// deadline), PagerSupplyPages and PagerOpRange. Every helper starts with
// "pq": other _test.go files of this package are written independently.

const (
	pqPage    = uint64(zx.PageSize)
	pqTimeout = 10 * time.Second
	pqQuiet   = 100 * time.Millisecond
	pqKey     = uint64(0x7071_0000_d1e7_0001)
	pqPages   = 4
	pqSize    = pqPages * pqPage
	pqIsZero  = zx.VMODirtyRangeIsZero

	// pqUnknown is a handle value that was never handed out.
	pqUnknown zx.Handle = 0xfffffff3
)

// Handle helpers (pgTrack, pgNewPager, pgNewPort, pgNewVmo, pgNewPagerVmo,
// pgDup, pgReplace, pgStale) are shared with pager_test.go.

// ---- blocking calls ---------------------------------------------------------

// pqGo runs f in a goroutine; its status arrives on the channel.
func pqGo(f func() zx.Status) <-chan zx.Status {
	ch := make(chan zx.Status, 1)
	go func() { ch <- f() }()
	return ch
}

// pqAwait waits (with a deadline) for a call started by pqGo.
func pqAwait(t *testing.T, ch <-chan zx.Status, what string) zx.Status {
	t.Helper()
	select {
	case st := <-ch:
		return st
	case <-time.After(pqTimeout):
		t.Fatalf("%s still blocked after %v", what, pqTimeout)
		return 0
	}
}

// pqPending checks that a call started by pqGo is still blocked.
func pqPending(t *testing.T, ch <-chan zx.Status, what string) {
	t.Helper()
	select {
	case st := <-ch:
		t.Fatalf("%s returned %#v before its request was answered", what, st)
	case <-time.After(50 * time.Millisecond):
	}
}

// pqDo runs a call that must not block on the pager, with a deadline.
func pqDo(t *testing.T, what string, f func() zx.Status) zx.Status {
	t.Helper()
	return pqAwait(t, pqGo(f), what)
}

// pqFill is the content the tests supply for page pg.
func pqFill(pg uint64) []byte { return bytes.Repeat([]byte{byte(0x41 + pg)}, zx.PageSize) }

// pqStatusData is a status sign-extended to the u64 data of ZX_PAGER_OP_FAIL.
func pqStatusData(s zx.Status) uint64 { return uint64(int64(s)) }

// ---- dirty ranges -----------------------------------------------------------

// pqR is a dirty range in pages.
func pqR(pg, n uint64, options uint64) zx.VMODirtyRange {
	return zx.VMODirtyRange{Offset: pg * pqPage, Length: n * pqPage, Options: options}
}

// pqFmt prints ranges in pages ("{1,2,0} {3,1,IS_ZERO}"), or in bytes where
// they are not page aligned.
func pqFmt(rs []zx.VMODirtyRange) string {
	if len(rs) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(' ')
		}
		opt := fmt.Sprint(r.Options)
		if r.Options == pqIsZero {
			opt = "IS_ZERO"
		}
		if r.Offset%pqPage == 0 && r.Length%pqPage == 0 {
			fmt.Fprintf(&b, "{%d,%d,%s}", r.Offset/pqPage, r.Length/pqPage, opt)
		} else {
			fmt.Fprintf(&b, "{%#x+%#x,%s}", r.Offset, r.Length, opt)
		}
	}
	return b.String()
}

func pqEqual(a, b []zx.VMODirtyRange) bool {
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

// pqQueryAll returns every dirty range of [off, off+length): it counts them
// (nil buffer), then fetches them into a buffer with room to spare and
// checks actual == avail == the count.
func pqQueryAll(t *testing.T, pager, vmo zx.Handle, off, length uint64) []zx.VMODirtyRange {
	t.Helper()
	actual, n, st := PagerQueryDirtyRanges(pager, vmo, off, length, nil, true)
	if st != zx.ErrOk || actual != 0 {
		t.Fatalf("PagerQueryDirtyRanges(%#x, %#x, nil) = actual %d, %#v; want 0, ZX_OK", off, length, actual, st)
	}
	buf := make([]zx.VMODirtyRange, n+2)
	actual, avail, st := PagerQueryDirtyRanges(pager, vmo, off, length, buf, true)
	if st != zx.ErrOk {
		t.Fatalf("PagerQueryDirtyRanges(%#x, %#x) = %#v", off, length, st)
	}
	if actual != n || avail != n {
		t.Errorf("PagerQueryDirtyRanges(%#x, %#x): actual %d avail %d, want both %d (the count of a nil-buffer query)",
			off, length, actual, avail, n)
	}
	return buf[:min(actual, len(buf))]
}

// ---- one pager VMO and its pager --------------------------------------------

type pqEnv struct {
	t     *testing.T
	pager zx.Handle
	port  zx.Handle
	vmo   zx.Handle
	key   uint64
}

func pqNewEnv(t *testing.T, options uint32, pages uint64) *pqEnv {
	t.Helper()
	e := &pqEnv{t: t, key: pqKey}
	e.pager = pgNewPager(t)
	e.port = pgNewPort(t)
	e.vmo = pgNewPagerVmo(t, e.pager, e.port, e.key, options, pages*pqPage)
	return e
}

// supply supplies pages [pg, pg+n) with committed pages holding pqFill.
func (e *pqEnv) supply(pg, n uint64) {
	e.t.Helper()
	aux := pgNewVmo(e.t, n*pqPage)
	for i := uint64(0); i < n; i++ {
		if st := VmoWrite(aux, pqFill(pg+i), i*pqPage); st != zx.ErrOk {
			e.t.Fatalf("VmoWrite(aux) = %#v", st)
		}
	}
	if st := PagerSupplyPages(e.pager, e.vmo, pg*pqPage, n*pqPage, aux, 0); st != zx.ErrOk {
		e.t.Fatalf("PagerSupplyPages(pages [%d, %d)) = %#v", pg, pg+n, st)
	}
}

// supplyZero supplies pages [pg, pg+n) from an aux VMO never written: zero
// page markers.
func (e *pqEnv) supplyZero(pg, n uint64) {
	e.t.Helper()
	aux := pgNewVmo(e.t, n*pqPage)
	if st := PagerSupplyPages(e.pager, e.vmo, pg*pqPage, n*pqPage, aux, 0); st != zx.ErrOk {
		e.t.Fatalf("PagerSupplyPages(zero pages [%d, %d)) = %#v", pg, pg+n, st)
	}
}

// op is PagerOpRange over pages [pg, pg+n).
func (e *pqEnv) op(op uint32, pg, n, data uint64) zx.Status {
	return PagerOpRange(e.pager, op, e.vmo, pg*pqPage, n*pqPage, data)
}

func (e *pqEnv) mustOp(op uint32, pg, n, data uint64) {
	e.t.Helper()
	if st := e.op(op, pg, n, data); st != zx.ErrOk {
		e.t.Fatalf("PagerOpRange(op %d, pages [%d, %d), data %#x) = %#v", op, pg, pg+n, data, st)
	}
}

// write writes p at off; it must not block on the pager.
func (e *pqEnv) write(p []byte, off uint64) zx.Status {
	e.t.Helper()
	return pqDo(e.t, "VmoWrite", func() zx.Status { return VmoWrite(e.vmo, p, off) })
}

func (e *pqEnv) mustWrite(p []byte, off uint64) {
	e.t.Helper()
	if st := e.write(p, off); st != zx.ErrOk {
		e.t.Fatalf("VmoWrite(%d bytes at %#x) = %#v", len(p), off, st)
	}
}

// read reads len(p) bytes at off; it must not block on the pager.
func (e *pqEnv) read(p []byte, off uint64) zx.Status {
	e.t.Helper()
	return pqDo(e.t, "VmoRead", func() zx.Status { return VmoRead(e.vmo, p, off) })
}

// mustRead checks that [off, off+len(want)) reads want.
func (e *pqEnv) mustRead(want []byte, off uint64) {
	e.t.Helper()
	got := make([]byte, len(want))
	if st := e.read(got, off); st != zx.ErrOk {
		e.t.Fatalf("VmoRead(%d bytes at %#x) = %#v", len(got), off, st)
	}
	if !bytes.Equal(got, want) {
		e.t.Errorf("VmoRead(%d bytes at %#x) returned other bytes than expected (first byte %#x, want %#x)",
			len(got), off, got[0], want[0])
	}
}

func (e *pqEnv) setSize(pages uint64) zx.Status {
	e.t.Helper()
	return pqDo(e.t, "VmoSetSize", func() zx.Status { return VmoSetSize(e.vmo, pages*pqPage) })
}

func (e *pqEnv) mustSetSize(pages uint64) {
	e.t.Helper()
	if st := e.setSize(pages); st != zx.ErrOk {
		e.t.Fatalf("VmoSetSize(%d pages) = %#v", pages, st)
	}
}

// zero is VmoOpRange(ZX_VMO_OP_ZERO) over bytes [off, off+length).
func (e *pqEnv) zero(off, length uint64) zx.Status {
	e.t.Helper()
	return pqDo(e.t, "VmoOpRange(ZERO)", func() zx.Status { return VmoOpRange(e.vmo, zx.VMOOpZero, off, length, nil) })
}

func (e *pqEnv) mustZero(off, length uint64) {
	e.t.Helper()
	if st := e.zero(off, length); st != zx.ErrOk {
		e.t.Fatalf("VmoOpRange(ZERO, %#x, %#x) = %#v", off, length, st)
	}
}

// request waits (with a deadline) for the next page request of the VMO.
func (e *pqEnv) request() zx.PacketPageRequest {
	e.t.Helper()
	var pkt zx.PortPacket
	if st := PortWait(e.port, zx.DeadlineAfter(zx.Duration(pqTimeout)), &pkt); st != zx.ErrOk {
		e.t.Fatalf("PortWait = %#v, want a page request", st)
	}
	if pkt.Type != zx.PktTypePageRequest || pkt.Key != e.key || pkt.Status != zx.ErrOk {
		e.t.Fatalf("packet type %#x key %#x status %#v, want a page request (type %#x) with key %#x and ZX_OK",
			pkt.Type, pkt.Key, pkt.Status, zx.PktTypePageRequest, e.key)
	}
	return pkt.PageRequest()
}

// expectRequest waits for a request and checks it is command over pages [pg, pg+n).
func (e *pqEnv) expectRequest(command uint16, pg, n uint64) {
	e.t.Helper()
	r := e.request()
	if r.Command != command || r.Offset != pg*pqPage || r.Length != n*pqPage {
		e.t.Fatalf("page request {command %d, offset %#x, length %#x}, want {command %d, offset %#x, length %#x}",
			r.Command, r.Offset, r.Length, command, pg*pqPage, n*pqPage)
	}
}

// noPacket checks that no packet arrives for a little while.
func (e *pqEnv) noPacket() {
	e.t.Helper()
	var pkt zx.PortPacket
	if st := PortWait(e.port, zx.DeadlineAfter(zx.Duration(pqQuiet)), &pkt); st != zx.ErrTimedOut {
		r := pkt.PageRequest()
		e.t.Errorf("PortWait = %#v (type %#x, command %d, offset %#x, length %#x), want %#v",
			st, pkt.Type, r.Command, r.Offset, r.Length, zx.ErrTimedOut)
	}
}

func (e *pqEnv) size() uint64 {
	e.t.Helper()
	s, st := VmoGetSize(e.vmo)
	if st != zx.ErrOk {
		e.t.Fatalf("VmoGetSize = %#v", st)
	}
	return s
}

// ranges returns every dirty range of [off, off+length).
func (e *pqEnv) ranges(off, length uint64) []zx.VMODirtyRange {
	e.t.Helper()
	return pqQueryAll(e.t, e.pager, e.vmo, off, length)
}

// expect checks the dirty ranges of the whole VMO.
func (e *pqEnv) expect(want ...zx.VMODirtyRange) {
	e.t.Helper()
	e.expectIn(0, e.size(), want...)
}

// expectIn checks the dirty ranges of [off, off+length).
func (e *pqEnv) expectIn(off, length uint64, want ...zx.VMODirtyRange) {
	e.t.Helper()
	if got := e.ranges(off, length); !pqEqual(got, want) {
		e.t.Errorf("dirty ranges of [%#x, +%#x) = %s, want %s", off, length, pqFmt(got), pqFmt(want))
	}
}

// modified is PagerQueryVmoStats(options).Modified; the call must succeed.
func (e *pqEnv) modified(options uint32) uint32 {
	e.t.Helper()
	s := zx.PagerVMOStats{Modified: 0xdead}
	if st := PagerQueryVmoStats(e.pager, e.vmo, options, &s, 4); st != zx.ErrOk {
		e.t.Fatalf("PagerQueryVmoStats(options %d) = %#v", options, st)
	}
	if s.Modified != 0 && s.Modified != zx.PagerVMOStatsModified {
		e.t.Errorf("PagerQueryVmoStats: modified = %#x, want 0 or ZX_PAGER_VMO_STATS_MODIFIED", s.Modified)
	}
	return s.Modified
}

// ---- status tables ----------------------------------------------------------

// The status tables use pgFix (pager_test.go): a pager, its 4-page VMO,
// a sibling, plain and foreign VMOs and a stale handle.

// pqNoManage are the default pager rights without MANAGE_VMO (ATTACH_VMO kept).
const pqNoManage = zx.DefaultPagerRights &^ zx.RightManageVMO

func TestPagerQueryDirtyRangesStatus(t *testing.T) {
	type args struct {
		pager, vmo  zx.Handle
		off, length uint64
	}
	// Mods that make one later check fail, to show an earlier one wins.
	outOfRange := func(a *args) { a.off, a.length = pqSize, pqPage }
	for _, c := range []struct {
		name string
		mod  func(f *pgFix, a *args)
		want zx.Status
	}{
		{"OK", nil, zx.ErrOk},

		// The pager handle: invalid, wrong type (before rights), MANAGE_VMO.
		{"pager ZX_HANDLE_INVALID", func(f *pgFix, a *args) { a.pager = zx.HandleInvalid }, zx.ErrBadHandle},
		{"pager never issued", func(f *pgFix, a *args) { a.pager = pqUnknown }, zx.ErrBadHandle},
		{"pager closed", func(f *pgFix, a *args) { a.pager = f.stale }, zx.ErrBadHandle},
		{"pager invalid, vmo invalid", func(f *pgFix, a *args) { a.pager, a.vmo = zx.HandleInvalid, zx.HandleInvalid }, zx.ErrBadHandle},
		{"pager invalid, vmo a port, out of range", func(f *pgFix, a *args) { a.pager, a.vmo = f.stale, f.port; outOfRange(a) }, zx.ErrBadHandle},
		{"pager invalid, vmo of another pager", func(f *pgFix, a *args) { a.pager, a.vmo = zx.HandleInvalid, f.otherVmo }, zx.ErrBadHandle},
		{"pager is a port", func(f *pgFix, a *args) { a.pager = f.port }, zx.ErrWrongType},
		{"pager is the VMO", func(f *pgFix, a *args) { a.pager = f.vmo }, zx.ErrWrongType},
		{"pager is a port without rights", func(f *pgFix, a *args) { a.pager = f.portWith(zx.RightNone) }, zx.ErrWrongType},
		{"pager is a port, vmo invalid", func(f *pgFix, a *args) { a.pager, a.vmo = f.port, zx.HandleInvalid }, zx.ErrWrongType},
		{"pager is a VMO, vmo is a port", func(f *pgFix, a *args) { a.pager, a.vmo = f.plain, f.port }, zx.ErrWrongType},
		{"pager without MANAGE_VMO", func(f *pgFix, a *args) { a.pager = f.pagerWith(pqNoManage) }, zx.ErrAccessDenied},
		{"pager without rights", func(f *pgFix, a *args) { a.pager = f.pagerWith(zx.RightNone) }, zx.ErrAccessDenied},
		{"pager without MANAGE_VMO, vmo invalid", func(f *pgFix, a *args) {
			a.pager, a.vmo = f.pagerWith(pqNoManage), zx.HandleInvalid
		}, zx.ErrAccessDenied},
		{"pager without MANAGE_VMO, vmo a port", func(f *pgFix, a *args) { a.pager, a.vmo = f.pagerWith(pqNoManage), f.port }, zx.ErrAccessDenied},
		{"pager without MANAGE_VMO, vmo of another pager", func(f *pgFix, a *args) {
			a.pager, a.vmo = f.pagerWith(pqNoManage), f.otherVmo
		}, zx.ErrAccessDenied},
		{"pager with MANAGE_VMO only", func(f *pgFix, a *args) { a.pager = f.pagerWith(zx.RightManageVMO) }, zx.ErrOk},
		{"pager without ATTACH_VMO", func(f *pgFix, a *args) { a.pager = f.pagerWith(zx.DefaultPagerRights &^ zx.RightAttachVMO) }, zx.ErrOk},

		// The VMO handle: invalid, wrong type (before rights), READ.
		{"vmo ZX_HANDLE_INVALID", func(f *pgFix, a *args) { a.vmo = zx.HandleInvalid }, zx.ErrBadHandle},
		{"vmo never issued", func(f *pgFix, a *args) { a.vmo = pqUnknown }, zx.ErrBadHandle},
		{"vmo closed", func(f *pgFix, a *args) { a.vmo = f.stale }, zx.ErrBadHandle},
		{"vmo invalid, out of range", func(f *pgFix, a *args) { a.vmo = zx.HandleInvalid; outOfRange(a) }, zx.ErrBadHandle},
		{"vmo is a port", func(f *pgFix, a *args) { a.vmo = f.port }, zx.ErrWrongType},
		{"vmo is the pager (no READ right either)", func(f *pgFix, a *args) { a.vmo = f.pager }, zx.ErrWrongType},
		{"vmo is another pager", func(f *pgFix, a *args) { a.vmo = f.other }, zx.ErrWrongType},
		{"vmo is a port without rights", func(f *pgFix, a *args) { a.vmo = f.portWith(zx.RightNone) }, zx.ErrWrongType},
		{"vmo is a port, out of range", func(f *pgFix, a *args) { a.vmo = f.port; outOfRange(a) }, zx.ErrWrongType},
		{"vmo without READ", func(f *pgFix, a *args) { a.vmo = f.vmoWith(zx.DefaultVMORights &^ zx.RightRead) }, zx.ErrAccessDenied},
		{"vmo without rights", func(f *pgFix, a *args) { a.vmo = f.vmoWith(zx.RightNone) }, zx.ErrAccessDenied},
		{"vmo WRITE only", func(f *pgFix, a *args) { a.vmo = f.vmoWith(zx.RightWrite) }, zx.ErrAccessDenied},
		{"vmo without READ, out of range", func(f *pgFix, a *args) {
			a.vmo = f.vmoWith(zx.DefaultVMORights &^ zx.RightRead)
			outOfRange(a)
		}, zx.ErrAccessDenied},
		{"plain vmo without READ", func(f *pgFix, a *args) { a.vmo = pgDup(f.t, f.plain, zx.RightWrite) }, zx.ErrAccessDenied},
		{"vmo READ only", func(f *pgFix, a *args) { a.vmo = f.vmoWith(zx.RightRead) }, zx.ErrOk},
		{"vmo without WRITE", func(f *pgFix, a *args) { a.vmo = f.vmoWith(zx.DefaultVMORights &^ zx.RightWrite) }, zx.ErrOk},

		// Then: is it this pager's VMO (before the range).
		{"vmo of another pager", func(f *pgFix, a *args) { a.vmo = f.otherVmo }, zx.ErrInvalidArgs},
		{"vmo of another pager, out of range", func(f *pgFix, a *args) { a.vmo = f.otherVmo; outOfRange(a) }, zx.ErrInvalidArgs},
		{"other pager, this VMO", func(f *pgFix, a *args) { a.pager = f.other }, zx.ErrInvalidArgs},
		{"plain vmo", func(f *pgFix, a *args) { a.vmo = f.plain }, zx.ErrInvalidArgs},
		{"plain vmo, READ only", func(f *pgFix, a *args) { a.vmo = pgDup(f.t, f.plain, zx.RightRead) }, zx.ErrInvalidArgs},
		{"plain vmo, out of range", func(f *pgFix, a *args) { a.vmo = f.plain; outOfRange(a) }, zx.ErrInvalidArgs},
		{"second VMO of the pager", func(f *pgFix, a *args) { a.vmo = f.sibling }, zx.ErrOk},
		{"detached VMO", func(f *pgFix, a *args) { f.detach() }, zx.ErrOk},

		// Then the range: it must lie in the VMO; offset and length need not be aligned.
		{"empty range at 0", func(f *pgFix, a *args) { a.length = 0 }, zx.ErrOk},
		{"empty range at the end", func(f *pgFix, a *args) { a.off, a.length = pqSize, 0 }, zx.ErrOk},
		{"last page", func(f *pgFix, a *args) { a.off, a.length = pqSize-pqPage, pqPage }, zx.ErrOk},
		{"unaligned offset", func(f *pgFix, a *args) { a.off, a.length = 1, pqSize-1 }, zx.ErrOk},
		{"unaligned length", func(f *pgFix, a *args) { a.off, a.length = 0, pqSize-1 }, zx.ErrOk},
		{"unaligned offset and length", func(f *pgFix, a *args) { a.off, a.length = pqPage+17, 100 }, zx.ErrOk},
		{"last byte", func(f *pgFix, a *args) { a.off, a.length = pqSize-1, 1 }, zx.ErrOk},
		{"one byte past the end", func(f *pgFix, a *args) { a.off, a.length = pqSize-1, 2 }, zx.ErrOutOfRange},
		{"length one byte too long", func(f *pgFix, a *args) { a.off, a.length = 0, pqSize+1 }, zx.ErrOutOfRange},
		{"unaligned offset, length one byte too long", func(f *pgFix, a *args) { a.off, a.length = 1, pqSize }, zx.ErrOutOfRange},
		{"offset at the end, one page", func(f *pgFix, a *args) { a.off, a.length = pqSize, pqPage }, zx.ErrOutOfRange},
		{"offset past the end, empty", func(f *pgFix, a *args) { a.off, a.length = pqSize+pqPage, 0 }, zx.ErrOutOfRange},
		{"offset past the end, unaligned", func(f *pgFix, a *args) { a.off, a.length = pqSize+1, 0 }, zx.ErrOutOfRange},
		{"offset + length overflows", func(f *pgFix, a *args) { a.off, a.length = pqPage, math.MaxUint64 }, zx.ErrOutOfRange},
		{"offset max", func(f *pgFix, a *args) { a.off, a.length = math.MaxUint64, 1 }, zx.ErrOutOfRange},
		{"offset max, empty", func(f *pgFix, a *args) { a.off, a.length = math.MaxUint64, 0 }, zx.ErrOutOfRange},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := pgNewFix(t, 0)
			a := args{pager: f.pager, vmo: f.vmo, off: 0, length: pqSize}
			if c.mod != nil {
				c.mod(f, &a)
			}
			buf := make([]zx.VMODirtyRange, 4)
			actual, avail, st := PagerQueryDirtyRanges(a.pager, a.vmo, a.off, a.length, buf, true)
			if st != c.want {
				t.Fatalf("PagerQueryDirtyRanges(off %#x, len %#x) = %#v, want %#v", a.off, a.length, st, c.want)
			}
			if st == zx.ErrOk && (actual != 0 || avail != 0) {
				t.Errorf("PagerQueryDirtyRanges on a clean VMO: actual %d avail %d, want 0 0", actual, avail)
			}
			// The nil-buffer counting form checks in the same order.
			if _, _, st := PagerQueryDirtyRanges(a.pager, a.vmo, a.off, a.length, nil, true); st != c.want {
				t.Errorf("PagerQueryDirtyRanges(off %#x, len %#x, nil buffer) = %#v, want %#v", a.off, a.length, st, c.want)
			}
		})
	}
}

func TestPagerQueryVmoStatsStatus(t *testing.T) {
	type args struct {
		pager, vmo zx.Handle
		options    uint32
		out        *zx.PagerVMOStats
		size       uintptr
	}
	for _, c := range []struct {
		name string
		mod  func(f *pgFix, a *args)
		want zx.Status
	}{
		{"OK", nil, zx.ErrOk},
		{"RESET", func(f *pgFix, a *args) { a.options = zx.PagerResetVMOStats }, zx.ErrOk},
		{"bigger buffer", func(f *pgFix, a *args) { a.size = 8 }, zx.ErrOk},

		// The pager handle, before anything about the buffer or options.
		{"pager ZX_HANDLE_INVALID", func(f *pgFix, a *args) { a.pager = zx.HandleInvalid }, zx.ErrBadHandle},
		{"pager closed", func(f *pgFix, a *args) { a.pager = f.stale }, zx.ErrBadHandle},
		{"pager invalid, buffer 0, options 2", func(f *pgFix, a *args) { a.pager, a.size, a.options = zx.HandleInvalid, 0, 2 }, zx.ErrBadHandle},
		{"pager invalid, vmo invalid", func(f *pgFix, a *args) { a.pager, a.vmo = zx.HandleInvalid, zx.HandleInvalid }, zx.ErrBadHandle},
		{"pager is a port", func(f *pgFix, a *args) { a.pager = f.port }, zx.ErrWrongType},
		{"pager is the VMO", func(f *pgFix, a *args) { a.pager = f.vmo }, zx.ErrWrongType},
		{"pager is a port without rights", func(f *pgFix, a *args) { a.pager = f.portWith(zx.RightNone) }, zx.ErrWrongType},
		{"pager is a port, vmo invalid, buffer 0", func(f *pgFix, a *args) { a.pager, a.vmo, a.size = f.port, zx.HandleInvalid, 0 }, zx.ErrWrongType},
		{"pager without MANAGE_VMO", func(f *pgFix, a *args) { a.pager = f.pagerWith(pqNoManage) }, zx.ErrAccessDenied},
		{"pager without MANAGE_VMO, vmo invalid", func(f *pgFix, a *args) {
			a.pager, a.vmo = f.pagerWith(pqNoManage), zx.HandleInvalid
		}, zx.ErrAccessDenied},
		{"pager without MANAGE_VMO, buffer 0, options 2", func(f *pgFix, a *args) {
			a.pager, a.size, a.options = f.pagerWith(pqNoManage), 0, 2
		}, zx.ErrAccessDenied},
		{"pager with MANAGE_VMO only", func(f *pgFix, a *args) { a.pager = f.pagerWith(zx.RightManageVMO) }, zx.ErrOk},

		// The VMO handle.
		{"vmo ZX_HANDLE_INVALID", func(f *pgFix, a *args) { a.vmo = zx.HandleInvalid }, zx.ErrBadHandle},
		{"vmo closed", func(f *pgFix, a *args) { a.vmo = f.stale }, zx.ErrBadHandle},
		{"vmo invalid, buffer 0", func(f *pgFix, a *args) { a.vmo, a.size = zx.HandleInvalid, 0 }, zx.ErrBadHandle},
		{"vmo is a port", func(f *pgFix, a *args) { a.vmo = f.port }, zx.ErrWrongType},
		{"vmo is the pager (no READ right either)", func(f *pgFix, a *args) { a.vmo = f.pager }, zx.ErrWrongType},
		{"vmo is a port, buffer 0", func(f *pgFix, a *args) { a.vmo, a.size = f.port, 0 }, zx.ErrWrongType},
		{"vmo without READ", func(f *pgFix, a *args) { a.vmo = f.vmoWith(zx.DefaultVMORights &^ zx.RightRead) }, zx.ErrAccessDenied},
		{"vmo without rights", func(f *pgFix, a *args) { a.vmo = f.vmoWith(zx.RightNone) }, zx.ErrAccessDenied},
		{"vmo without READ, buffer 0, options 2", func(f *pgFix, a *args) {
			a.vmo, a.size, a.options = f.vmoWith(zx.DefaultVMORights&^zx.RightRead), 0, 2
		}, zx.ErrAccessDenied},
		{"vmo READ only", func(f *pgFix, a *args) { a.vmo = f.vmoWith(zx.RightRead) }, zx.ErrOk},
		{"vmo without WRITE", func(f *pgFix, a *args) { a.vmo = f.vmoWith(zx.DefaultVMORights &^ zx.RightWrite) }, zx.ErrOk},

		// This pager's VMO, before the buffer size.
		{"vmo of another pager", func(f *pgFix, a *args) { a.vmo = f.otherVmo }, zx.ErrInvalidArgs},
		{"plain vmo", func(f *pgFix, a *args) { a.vmo = f.plain }, zx.ErrInvalidArgs},
		{"plain vmo, buffer 0", func(f *pgFix, a *args) { a.vmo, a.size = f.plain, 0 }, zx.ErrInvalidArgs},
		{"vmo of another pager, buffer 3", func(f *pgFix, a *args) { a.vmo, a.size = f.otherVmo, 3 }, zx.ErrInvalidArgs},
		{"other pager, this VMO, buffer 0", func(f *pgFix, a *args) { a.pager, a.size = f.other, 0 }, zx.ErrInvalidArgs},
		{"second VMO of the pager", func(f *pgFix, a *args) { a.vmo = f.sibling }, zx.ErrOk},
		{"detached VMO", func(f *pgFix, a *args) { f.detach() }, zx.ErrOk},

		// Buffer size before options.
		{"buffer 0", func(f *pgFix, a *args) { a.size = 0 }, zx.ErrBufferTooSmall},
		{"buffer 3", func(f *pgFix, a *args) { a.size = 3 }, zx.ErrBufferTooSmall},
		{"buffer 3, RESET", func(f *pgFix, a *args) { a.size, a.options = 3, zx.PagerResetVMOStats }, zx.ErrBufferTooSmall},
		{"buffer 0, options 2", func(f *pgFix, a *args) { a.size, a.options = 0, 2 }, zx.ErrBufferTooSmall},
		{"buffer 3, options 2", func(f *pgFix, a *args) { a.size, a.options = 3, 2 }, zx.ErrBufferTooSmall},
		{"buffer 1, options ~0", func(f *pgFix, a *args) { a.size, a.options = 1, math.MaxUint32 }, zx.ErrBufferTooSmall},
		{"buffer 0, nil out", func(f *pgFix, a *args) { a.size, a.out = 0, nil }, zx.ErrBufferTooSmall},
		{"options 2", func(f *pgFix, a *args) { a.options = 2 }, zx.ErrInvalidArgs},
		{"options 3 (RESET|2)", func(f *pgFix, a *args) { a.options = 3 }, zx.ErrInvalidArgs},
		{"options 1<<31", func(f *pgFix, a *args) { a.options = 1 << 31 }, zx.ErrInvalidArgs},
		{"options ~0", func(f *pgFix, a *args) { a.options = math.MaxUint32 }, zx.ErrInvalidArgs},
		{"options 2, nil out", func(f *pgFix, a *args) { a.options, a.out = 2, nil }, zx.ErrInvalidArgs},
		// The copy-out comes last: a bad buffer with a good size is INVALID_ARGS.
		{"nil out", func(f *pgFix, a *args) { a.out = nil }, zx.ErrInvalidArgs},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := pgNewFix(t, 0)
			out := zx.PagerVMOStats{Modified: 0xdead}
			a := args{pager: f.pager, vmo: f.vmo, out: &out, size: 4}
			if c.mod != nil {
				c.mod(f, &a)
			}
			st := PagerQueryVmoStats(a.pager, a.vmo, a.options, a.out, a.size)
			if st != c.want {
				t.Fatalf("PagerQueryVmoStats(options %#x, size %d, out nil %v) = %#v, want %#v",
					a.options, a.size, a.out == nil, st, c.want)
			}
			if st == zx.ErrOk && out.Modified != 0 {
				t.Errorf("PagerQueryVmoStats on a fresh VMO: modified = %#x, want 0", out.Modified)
			}
		})
	}
}

// ---- query_dirty_ranges behaviour --------------------------------------------

// pqSpecLayout builds the layout of spec §1.6 (in pages):
// {1,2,0},{3,1,IS_ZERO},{4,1,0}: a RESIZABLE VMO of 3 supplied pages,
// pages 1 and 2 written (separately), grown to 5 pages (zero tail [3,5)),
// then page 4 written.
func pqSpecLayout(t *testing.T) *pqEnv {
	t.Helper()
	e := pqNewEnv(t, zx.VMOResizable, 3)
	e.supply(0, 3)
	e.mustWrite(bytes.Repeat([]byte{0xd1}, zx.PageSize), pqPage)
	e.mustWrite([]byte("second"), 2*pqPage+5)
	e.mustSetSize(5)
	e.mustWrite([]byte("tail"), 4*pqPage+9)
	return e
}

var pqSpecRanges = []zx.VMODirtyRange{pqR(1, 2, 0), pqR(3, 1, pqIsZero), pqR(4, 1, 0)}

func TestPagerQueryDirtyRangesLayout(t *testing.T) {
	e := pqSpecLayout(t)
	e.expect(pqSpecRanges...)
	// Contents: the writes, the zero page, the untouched supplied page.
	e.mustRead(pqFill(0), 0)
	e.mustRead(bytes.Repeat([]byte{0xd1}, zx.PageSize), pqPage)
	want2 := pqFill(2)
	copy(want2[5:], "second")
	e.mustRead(want2, 2*pqPage)
	e.mustRead(make([]byte, zx.PageSize), 3*pqPage)
	want4 := make([]byte, zx.PageSize)
	copy(want4[9:], "tail")
	e.mustRead(want4, 4*pqPage)
	// Nothing needed the pager: no READ for the tail, no DIRTY (no TRAP_DIRTY).
	e.noPacket()
	// Querying does not change anything.
	e.expect(pqSpecRanges...)
}

// TestPagerQueryDirtyRangesSubrange: the query range is rounded out to pages
// and the reported ranges are clipped to it.
func TestPagerQueryDirtyRangesSubrange(t *testing.T) {
	e := pqSpecLayout(t)
	for _, c := range []struct {
		name        string
		off, length uint64
		want        []zx.VMODirtyRange
	}{
		{"page 0", 0, pqPage, nil},
		{"empty", pqPage, 0, nil},
		{"pages [0, 2)", 0, 2 * pqPage, []zx.VMODirtyRange{pqR(1, 1, 0)}},
		{"page 2 only", 2 * pqPage, pqPage, []zx.VMODirtyRange{pqR(2, 1, 0)}},
		{"pages [2, 4)", 2 * pqPage, 2 * pqPage, []zx.VMODirtyRange{pqR(2, 1, 0), pqR(3, 1, pqIsZero)}},
		{"bytes inside page 1", pqPage + 100, 10, []zx.VMODirtyRange{pqR(1, 1, 0)}},
		{"last byte of page 1 and first of page 2", 2*pqPage - 1, 2, []zx.VMODirtyRange{pqR(1, 2, 0)}},
		{"last byte of page 0 and first of page 1", pqPage - 1, 2, []zx.VMODirtyRange{pqR(1, 1, 0)}},
		{"one byte of page 3", 3*pqPage + 1, 1, []zx.VMODirtyRange{pqR(3, 1, pqIsZero)}},
		{"unaligned [3, 5)", 3*pqPage + 1, pqPage, []zx.VMODirtyRange{pqR(3, 1, pqIsZero), pqR(4, 1, 0)}},
		{"last byte", 5*pqPage - 1, 1, []zx.VMODirtyRange{pqR(4, 1, 0)}},
		{"unaligned whole VMO", 1, 5*pqPage - 2, pqSpecRanges},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.expectIn(c.off, c.length, c.want...)
		})
	}
}

func TestPagerQueryDirtyRangesActualAvail(t *testing.T) {
	e := pqSpecLayout(t)
	sentinel := zx.VMODirtyRange{Offset: 0x5e, Length: 0x5e, Options: 0x5e}
	size := e.size()
	for _, c := range []struct {
		name       string
		buf        []zx.VMODirtyRange // nil: no buffer
		wantAvail  bool
		wantActual int
	}{
		{"nil buffer, count", nil, true, 0},
		{"nil buffer, no avail", nil, false, 0},
		{"empty buffer, count", []zx.VMODirtyRange{}, true, 0},
		{"empty buffer, no avail", []zx.VMODirtyRange{}, false, 0},
		{"one entry, count", make([]zx.VMODirtyRange, 1), true, 1},
		{"one entry, no avail", make([]zx.VMODirtyRange, 1), false, 1},
		{"two entries, count", make([]zx.VMODirtyRange, 2), true, 2},
		{"two entries, no avail", make([]zx.VMODirtyRange, 2), false, 2},
		{"exactly three", make([]zx.VMODirtyRange, 3), true, 3},
		{"room for ten, count", make([]zx.VMODirtyRange, 10), true, 3},
		{"room for ten, no avail", make([]zx.VMODirtyRange, 10), false, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			for i := range c.buf {
				c.buf[i] = sentinel
			}
			actual, avail, st := PagerQueryDirtyRanges(e.pager, e.vmo, 0, size, c.buf, c.wantAvail)
			if st != zx.ErrOk {
				t.Fatalf("PagerQueryDirtyRanges(buffer of %d) = %#v, want ZX_OK", len(c.buf), st)
			}
			if actual != c.wantActual {
				t.Errorf("actual = %d, want %d", actual, c.wantActual)
			}
			if c.wantAvail && avail != len(pqSpecRanges) {
				t.Errorf("avail = %d, want %d", avail, len(pqSpecRanges))
			}
			n := min(actual, len(c.buf))
			if !pqEqual(c.buf[:n], pqSpecRanges[:n]) {
				t.Errorf("entries = %s, want %s", pqFmt(c.buf[:n]), pqFmt(pqSpecRanges[:n]))
			}
			for i := n; i < len(c.buf); i++ {
				if c.buf[i] != sentinel {
					t.Errorf("entry %d beyond actual was written: %+v", i, c.buf[i])
				}
			}
		})
	}
}

// TestPagerQueryDirtyRangesOpZero: ZX_VMO_OP_ZERO of whole pages makes dirty
// zero ranges (IS_ZERO) with no request, whatever the page was (clean,
// dirty, never supplied); partial pages are written (committed, dirty);
// zeroing zero markers changes nothing. Committed and zero runs are
// separate entries, each run maximal, sorted.
func TestPagerQueryDirtyRangesOpZero(t *testing.T) {
	e := pqNewEnv(t, 0, 10)
	e.supply(0, 7) // pages 7..9 never supplied
	e.mustWrite([]byte("zero"), 0)
	e.mustWrite([]byte("two"), 2*pqPage+1)
	e.mustWrite([]byte("three"), 3*pqPage+2)
	e.mustZero(pqPage, pqPage)     // clean → zero
	e.mustZero(3*pqPage, pqPage)   // dirty → zero
	e.mustZero(8*pqPage, 2*pqPage) // never supplied → zero, no READ
	e.mustWrite([]byte("four"), 4*pqPage)
	e.mustZero(5*pqPage+100, 200) // partial: page 5 is written (dirty, committed)
	e.mustZero(7*pqPage, pqPage)  // never supplied, adjacent to [8, 10)
	e.expect(
		pqR(0, 1, 0), pqR(1, 1, pqIsZero), pqR(2, 1, 0), pqR(3, 1, pqIsZero),
		pqR(4, 2, 0), pqR(7, 3, pqIsZero),
	)
	e.noPacket()
	zeros := make([]byte, zx.PageSize)
	for _, pg := range []uint64{1, 3, 7, 8, 9} {
		e.mustRead(zeros, pg*pqPage)
	}
	want5 := pqFill(5)
	copy(want5[100:300], make([]byte, 200))
	e.mustRead(want5, 5*pqPage)
	e.mustRead(pqFill(6), 6*pqPage)
	e.noPacket()

	t.Run("zero markers", func(t *testing.T) {
		z := pqNewEnv(t, 0, 3)
		z.supplyZero(0, 3)
		z.mustZero(0, 3*pqPage)
		z.expect()
		z.mustRead(make([]byte, 3*zx.PageSize), 0)
		z.noPacket()
	})
}

// TestPagerQueryDirtyRangesWriteback: AwaitingClean pages (after
// WRITEBACK_BEGIN) are still reported; WRITEBACK_END cleans them, except
// pages written again after BEGIN; END without BEGIN changes nothing.
func TestPagerQueryDirtyRangesWriteback(t *testing.T) {
	e := pqNewEnv(t, 0, 6)
	e.supply(0, 6)
	e.mustWrite([]byte("a"), pqPage)
	e.mustWrite([]byte("b"), 2*pqPage)
	e.expect(pqR(1, 2, 0))

	e.mustOp(zx.PagerOpWritebackBegin, 1, 2, 0)
	e.expect(pqR(1, 2, 0)) // AwaitingClean still counts as dirty
	e.mustOp(zx.PagerOpWritebackBegin, 1, 2, 0)
	e.expect(pqR(1, 2, 0)) // a repeated BEGIN is a no-op

	// Page 3 written now: Dirty next to AwaitingClean pages, one run.
	e.mustWrite([]byte("c"), 3*pqPage)
	e.expect(pqR(1, 3, 0))
	// Page 2 written again after BEGIN: Dirty again.
	e.mustWrite([]byte("B"), 2*pqPage+1)

	// END over everything: page 1 is clean, page 2 (re-dirtied) and page 3
	// (never begun) stay dirty.
	e.mustOp(zx.PagerOpWritebackEnd, 0, 6, 0)
	e.expect(pqR(2, 2, 0))

	e.mustOp(zx.PagerOpWritebackBegin, 2, 2, 0)
	e.expect(pqR(2, 2, 0))
	e.mustOp(zx.PagerOpWritebackEnd, 2, 1, 0) // only page 2
	e.expect(pqR(3, 1, 0))
	e.mustOp(zx.PagerOpWritebackEnd, 3, 1, 0)
	e.expect()

	// The cleaned pages keep their content and need no request.
	want := pqFill(2)
	copy(want, "bB")
	e.mustRead(want, 2*pqPage)
	e.noPacket()
}

// TestPagerQueryDirtyRangesTrapDirty: on a TRAP_DIRTY VMO a page is dirty
// only once the pager acknowledged the DIRTY request (OP_DIRTY), or
// dirtied it proactively; an AwaitingClean page written during writeback
// goes through the trap again and stays dirty after END.
func TestPagerQueryDirtyRangesTrapDirty(t *testing.T) {
	e := pqNewEnv(t, zx.VMOTrapDirty, 4)
	e.supply(0, 4)

	w := pqGo(func() zx.Status { return VmoWrite(e.vmo, []byte("x"), pqPage+3) })
	e.expectRequest(zx.PagerVMODirty, 1, 1)
	pqPending(t, w, "VmoWrite")
	e.expect() // not dirty before OP_DIRTY
	e.mustOp(zx.PagerOpDirty, 1, 1, 0)
	if st := pqAwait(t, w, "VmoWrite"); st != zx.ErrOk {
		t.Fatalf("VmoWrite after OP_DIRTY = %#v", st)
	}
	e.expect(pqR(1, 1, 0))

	// Writing a Dirty page needs no request.
	e.mustWrite([]byte("y"), pqPage+4)
	e.noPacket()

	// OP_DIRTY without a write.
	e.mustOp(zx.PagerOpDirty, 2, 1, 0)
	e.expect(pqR(1, 2, 0))

	e.mustOp(zx.PagerOpWritebackBegin, 1, 2, 0)
	e.expect(pqR(1, 2, 0))
	w = pqGo(func() zx.Status { return VmoWrite(e.vmo, []byte("z"), pqPage) })
	e.expectRequest(zx.PagerVMODirty, 1, 1)
	e.mustOp(zx.PagerOpDirty, 1, 1, 0)
	if st := pqAwait(t, w, "VmoWrite"); st != zx.ErrOk {
		t.Fatalf("VmoWrite of an AwaitingClean page after OP_DIRTY = %#v", st)
	}
	e.mustOp(zx.PagerOpWritebackEnd, 1, 2, 0)
	e.expect(pqR(1, 1, 0))
	want := pqFill(1)
	want[0], want[3], want[4] = 'z', 'x', 'y'
	e.mustRead(want, pqPage)
}

// TestPagerQueryDirtyRangesPagingLoop: re-querying from the end of the last
// returned range until actual == avail returns every range exactly once,
// in order, whatever the buffer size.
func TestPagerQueryDirtyRangesPagingLoop(t *testing.T) {
	const groups = 16
	e := pqNewEnv(t, 0, 3*groups+2)
	e.supply(0, 3*groups+2)
	var want []zx.VMODirtyRange
	for k := uint64(0); k < groups; k++ {
		// page 3k dirty, page 3k+1 a zero range, page 3k+2 clean.
		e.mustWrite([]byte{byte(k + 1)}, 3*k*pqPage+k)
		e.mustZero((3*k+1)*pqPage, pqPage)
		want = append(want, pqR(3*k, 1, 0), pqR(3*k+1, 1, pqIsZero))
	}
	// And a two-page dirty run at the end.
	e.mustWrite(bytes.Repeat([]byte{0x5a}, 2*zx.PageSize), 3*groups*pqPage)
	want = append(want, pqR(3*groups, 2, 0))
	size := e.size()
	e.expect(want...)

	for _, n := range []int{1, 2, 3, 5, 7, len(want) - 1, len(want), len(want) + 5} {
		t.Run(fmt.Sprintf("buffer %d", n), func(t *testing.T) {
			var got []zx.VMODirtyRange
			buf := make([]zx.VMODirtyRange, n)
			off := uint64(0)
			for calls := 0; ; calls++ {
				if calls > 2*len(want)+2 {
					t.Fatalf("paging loop did not end after %d queries; got so far %s", calls, pqFmt(got))
				}
				actual, avail, st := PagerQueryDirtyRanges(e.pager, e.vmo, off, size-off, buf, true)
				if st != zx.ErrOk {
					t.Fatalf("PagerQueryDirtyRanges(%#x, %#x) = %#v", off, size-off, st)
				}
				if actual > n || actual > avail {
					t.Fatalf("PagerQueryDirtyRanges(%#x, %#x): actual %d avail %d with a buffer of %d",
						off, size-off, actual, avail, n)
				}
				if actual == 0 && avail > 0 {
					t.Fatalf("PagerQueryDirtyRanges(%#x, %#x): actual 0 avail %d: no progress", off, size-off, avail)
				}
				for _, r := range buf[:actual] {
					if r.Offset < off {
						t.Errorf("range %s starts before the query offset %#x", pqFmt([]zx.VMODirtyRange{r}), off)
					}
				}
				got = append(got, buf[:actual]...)
				if actual == avail {
					break
				}
				last := buf[actual-1]
				off = last.Offset + last.Length
			}
			if !pqEqual(got, want) {
				t.Errorf("paging loop returned\n%s\nwant\n%s", pqFmt(got), pqFmt(want))
			}
		})
	}
}

// TestPagerQueryDirtyRangesReadCommitSupply: supplying, reading (with READ
// requests) and committing never make pages dirty.
func TestPagerQueryDirtyRangesReadCommitSupply(t *testing.T) {
	e := pqNewEnv(t, 0, 6)
	buf := make([]byte, 2*zx.PageSize)
	r := pqGo(func() zx.Status { return VmoRead(e.vmo, buf, 0) })
	e.expectRequest(zx.PagerVMORead, 0, 2)
	e.supply(0, 2)
	if st := pqAwait(t, r, "VmoRead"); st != zx.ErrOk {
		t.Fatalf("VmoRead = %#v", st)
	}
	c := pqGo(func() zx.Status { return VmoOpRange(e.vmo, zx.VMOOpCommit, 2*pqPage, 2*pqPage, nil) })
	e.expectRequest(zx.PagerVMORead, 2, 2)
	e.supply(2, 2)
	if st := pqAwait(t, c, "VmoOpRange(COMMIT)"); st != zx.ErrOk {
		t.Fatalf("VmoOpRange(COMMIT) = %#v", st)
	}
	e.supplyZero(4, 2)
	if st := pqDo(t, "VmoOpRange(COMMIT)", func() zx.Status {
		return VmoOpRange(e.vmo, zx.VMOOpCommit, 0, 6*pqPage, nil)
	}); st != zx.ErrOk {
		t.Fatalf("VmoOpRange(COMMIT) of supplied pages and zero markers = %#v", st)
	}
	e.mustRead(pqFill(3), 3*pqPage)
	e.expect()
	e.noPacket()
	if m := e.modified(0); m != 0 {
		t.Errorf("modified = %d after supply, read and commit, want 0", m)
	}
}

// ---- query_vmo_stats behaviour -----------------------------------------------

// TestPagerQueryVmoStatsReset: options 0 reports without clearing, RESET
// reports then clears; failed queries clear nothing, except a failed
// copy-out, which comes after the reset.
func TestPagerQueryVmoStatsReset(t *testing.T) {
	e := pqNewEnv(t, 0, 2)
	e.supply(0, 2)
	if m := e.modified(0); m != 0 {
		t.Fatalf("modified of a fresh VMO = %d, want 0", m)
	}
	e.mustWrite([]byte("w"), 0)
	for i := 0; i < 2; i++ {
		if m := e.modified(0); m != zx.PagerVMOStatsModified {
			t.Fatalf("query %d with options 0 after a write: modified = %d, want 1", i, m)
		}
	}
	if m := e.modified(zx.PagerResetVMOStats); m != zx.PagerVMOStatsModified {
		t.Errorf("RESET query after a write: modified = %d, want 1 (reported before the reset)", m)
	}
	if m := e.modified(0); m != 0 {
		t.Errorf("after RESET: modified = %d, want 0", m)
	}
	if m := e.modified(zx.PagerResetVMOStats); m != 0 {
		t.Errorf("second RESET: modified = %d, want 0", m)
	}
	e.mustWrite([]byte("w"), 1) // sticky again
	if m := e.modified(0); m != zx.PagerVMOStatsModified {
		t.Errorf("after a second write: modified = %d, want 1", m)
	}

	// BUFFER_TOO_SMALL and INVALID_ARGS (options) come before the query: no reset.
	var s zx.PagerVMOStats
	if st := PagerQueryVmoStats(e.pager, e.vmo, zx.PagerResetVMOStats, &s, 3); st != zx.ErrBufferTooSmall {
		t.Errorf("RESET with a 3-byte buffer = %#v, want %#v", st, zx.ErrBufferTooSmall)
	}
	if st := PagerQueryVmoStats(e.pager, e.vmo, zx.PagerResetVMOStats|2, &s, 4); st != zx.ErrInvalidArgs {
		t.Errorf("options RESET|2 = %#v, want %#v", st, zx.ErrInvalidArgs)
	}
	if m := e.modified(0); m != zx.PagerVMOStatsModified {
		t.Errorf("after failed RESET queries: modified = %d, want 1 (nothing reset)", m)
	}
	// A bad buffer is found at copy-out, after the reset (spec §1.7).
	if st := PagerQueryVmoStats(e.pager, e.vmo, zx.PagerResetVMOStats, nil, 4); st != zx.ErrInvalidArgs {
		t.Errorf("RESET with a nil buffer = %#v, want %#v", st, zx.ErrInvalidArgs)
	}
	if m := e.modified(0); m != 0 {
		t.Errorf("after RESET with a nil buffer: modified = %d, want 0 (the reset happened before the copy-out)", m)
	}

	// The bit is per VMO.
	other := pgNewPagerVmo(t, e.pager, e.port, pqKey+9, 0, pqPage)
	e.mustWrite([]byte("w"), 0)
	var os zx.PagerVMOStats
	if st := PagerQueryVmoStats(e.pager, other, 0, &os, 4); st != zx.ErrOk || os.Modified != 0 {
		t.Errorf("another VMO of the pager: %#v, modified %d; want ZX_OK, 0", st, os.Modified)
	}
}

// TestPagerQueryVmoStatsModified: what sets the modified bit and what does
// not (spec §1.7). Each row starts from a fresh VMO, then checks the bit
// with RESET, then that it was cleared.
func TestPagerQueryVmoStatsModified(t *testing.T) {
	type row struct {
		name    string
		options uint32
		pages   uint64
		act     func(t *testing.T, e *pqEnv)
		want    bool
	}
	page := func(b byte) []byte { return bytes.Repeat([]byte{b}, zx.PageSize) }
	rows := []row{
		// Set.
		{"VmoWrite of a supplied page", 0, 2, func(t *testing.T, e *pqEnv) {
			e.supply(0, 2)
			e.mustWrite([]byte("w"), 100)
		}, true},
		{"VmoWrite after a READ request", 0, 2, func(t *testing.T, e *pqEnv) {
			w := pqGo(func() zx.Status { return VmoWrite(e.vmo, []byte("w"), pqPage) })
			e.expectRequest(zx.PagerVMORead, 1, 1)
			e.supply(1, 1)
			if st := pqAwait(t, w, "VmoWrite"); st != zx.ErrOk {
				t.Fatalf("VmoWrite = %#v", st)
			}
		}, true},
		{"VmoWrite on TRAP_DIRTY after OP_DIRTY", zx.VMOTrapDirty, 2, func(t *testing.T, e *pqEnv) {
			e.supply(0, 2)
			w := pqGo(func() zx.Status { return VmoWrite(e.vmo, []byte("w"), 0) })
			e.expectRequest(zx.PagerVMODirty, 0, 1)
			e.mustOp(zx.PagerOpDirty, 0, 1, 0)
			if st := pqAwait(t, w, "VmoWrite"); st != zx.ErrOk {
				t.Fatalf("VmoWrite = %#v", st)
			}
		}, true},
		{"VmoWrite partially failed", 0, 20, func(t *testing.T, e *pqEnv) {
			// The first 16-page batch is present and written; the READ for
			// the second batch is failed.
			e.supply(0, 16)
			w := pqGo(func() zx.Status { return VmoWrite(e.vmo, bytes.Repeat([]byte{0x77}, 20*zx.PageSize), 0) })
			e.expectRequest(zx.PagerVMORead, 16, 4)
			e.mustOp(zx.PagerOpFail, 16, 4, pqStatusData(zx.ErrIO))
			if st := pqAwait(t, w, "VmoWrite"); st != zx.ErrIO {
				t.Fatalf("VmoWrite whose second batch failed = %#v, want %#v", st, zx.ErrIO)
			}
			e.expect(pqR(0, 16, 0))
		}, true},
		{"VmoSetSize up", zx.VMOResizable, 2, func(t *testing.T, e *pqEnv) { e.mustSetSize(3) }, true},
		{"VmoSetSize down", zx.VMOResizable, 2, func(t *testing.T, e *pqEnv) { e.mustSetSize(1) }, true},
		{"VmoSetSize down to 0", zx.VMOResizable, 2, func(t *testing.T, e *pqEnv) {
			e.supply(0, 2)
			e.mustSetSize(0)
		}, true},
		{"OP_ZERO of a supplied page", 0, 2, func(t *testing.T, e *pqEnv) {
			e.supply(0, 2)
			e.mustZero(pqPage, pqPage)
		}, true},
		{"OP_ZERO of an unsupplied page", 0, 2, func(t *testing.T, e *pqEnv) {
			e.mustZero(0, pqPage)
			e.noPacket()
		}, true},

		// Not set.
		{"nothing", 0, 2, func(t *testing.T, e *pqEnv) {}, false},
		{"supply", 0, 2, func(t *testing.T, e *pqEnv) { e.supply(0, 2) }, false},
		{"supply of zero pages", 0, 2, func(t *testing.T, e *pqEnv) { e.supplyZero(0, 2) }, false},
		{"VmoRead with a READ request", 0, 2, func(t *testing.T, e *pqEnv) {
			buf := make([]byte, 10)
			r := pqGo(func() zx.Status { return VmoRead(e.vmo, buf, pqPage+5) })
			e.expectRequest(zx.PagerVMORead, 1, 1)
			e.supply(1, 1)
			if st := pqAwait(t, r, "VmoRead"); st != zx.ErrOk {
				t.Fatalf("VmoRead = %#v", st)
			}
		}, false},
		{"VmoRead of supplied pages", 0, 2, func(t *testing.T, e *pqEnv) {
			e.supply(0, 2)
			e.mustRead(pqFill(0), 0)
		}, false},
		{"COMMIT with a READ request", 0, 2, func(t *testing.T, e *pqEnv) {
			c := pqGo(func() zx.Status { return VmoOpRange(e.vmo, zx.VMOOpCommit, 0, 2*pqPage, nil) })
			e.expectRequest(zx.PagerVMORead, 0, 2)
			e.supply(0, 2)
			if st := pqAwait(t, c, "VmoOpRange(COMMIT)"); st != zx.ErrOk {
				t.Fatalf("VmoOpRange(COMMIT) = %#v", st)
			}
		}, false},
		{"COMMIT of zero markers", 0, 2, func(t *testing.T, e *pqEnv) {
			e.supplyZero(0, 2)
			if st := pqDo(t, "VmoOpRange(COMMIT)", func() zx.Status {
				return VmoOpRange(e.vmo, zx.VMOOpCommit, 0, 2*pqPage, nil)
			}); st != zx.ErrOk {
				t.Fatalf("VmoOpRange(COMMIT) = %#v", st)
			}
		}, false},
		{"VmoWrite whose DIRTY request was failed", zx.VMOTrapDirty, 2, func(t *testing.T, e *pqEnv) {
			e.supply(0, 2)
			w := pqGo(func() zx.Status { return VmoWrite(e.vmo, page(0xee), 0) })
			e.expectRequest(zx.PagerVMODirty, 0, 1)
			pqPending(t, w, "VmoWrite")
			e.mustOp(zx.PagerOpFail, 0, 1, pqStatusData(zx.ErrIO))
			if st := pqAwait(t, w, "VmoWrite"); st != zx.ErrIO {
				t.Fatalf("VmoWrite whose DIRTY request failed = %#v, want %#v", st, zx.ErrIO)
			}
			e.expect()
			e.mustRead(pqFill(0), 0)
		}, false},
		{"VmoWrite whose READ request was failed", 0, 2, func(t *testing.T, e *pqEnv) {
			w := pqGo(func() zx.Status { return VmoWrite(e.vmo, page(0xee), 0) })
			e.expectRequest(zx.PagerVMORead, 0, 1)
			e.mustOp(zx.PagerOpFail, 0, 1, pqStatusData(zx.ErrIODataIntegrity))
			if st := pqAwait(t, w, "VmoWrite"); st != zx.ErrIODataIntegrity {
				t.Fatalf("VmoWrite whose READ request failed = %#v, want %#v", st, zx.ErrIODataIntegrity)
			}
			e.expect()
		}, false},
		{"VmoWrite OUT_OF_RANGE", 0, 2, func(t *testing.T, e *pqEnv) {
			e.supply(0, 2)
			if st := e.write(make([]byte, 20), 2*pqPage-10); st != zx.ErrOutOfRange {
				t.Fatalf("VmoWrite across the end = %#v, want %#v", st, zx.ErrOutOfRange)
			}
			if st := e.write([]byte("w"), 2*pqPage); st != zx.ErrOutOfRange {
				t.Fatalf("VmoWrite at the end = %#v, want %#v", st, zx.ErrOutOfRange)
			}
			e.expect()
		}, false},
		{"VmoWrite without WRITE right", 0, 2, func(t *testing.T, e *pqEnv) {
			e.supply(0, 2)
			ro := pgDup(t, e.vmo, zx.RightRead)
			if st := pqDo(t, "VmoWrite", func() zx.Status { return VmoWrite(ro, []byte("w"), 0) }); st != zx.ErrAccessDenied {
				t.Fatalf("VmoWrite through a READ-only handle = %#v, want %#v", st, zx.ErrAccessDenied)
			}
		}, false},
		{"VmoSetSize of a non-resizable VMO", 0, 2, func(t *testing.T, e *pqEnv) {
			if st := e.setSize(3); st != zx.ErrUnavailable {
				t.Fatalf("VmoSetSize = %#v, want %#v", st, zx.ErrUnavailable)
			}
		}, false},
		{"WRITEBACK_BEGIN and END of clean pages", 0, 2, func(t *testing.T, e *pqEnv) {
			e.supply(0, 2)
			e.mustOp(zx.PagerOpWritebackBegin, 0, 2, 0)
			e.mustOp(zx.PagerOpWritebackEnd, 0, 2, 0)
		}, false},
	}
	for _, c := range rows {
		t.Run(c.name, func(t *testing.T) {
			e := pqNewEnv(t, c.options, c.pages)
			c.act(t, e)
			want := uint32(0)
			if c.want {
				want = zx.PagerVMOStatsModified
			}
			if m := e.modified(zx.PagerResetVMOStats); m != want {
				t.Errorf("modified = %d, want %d", m, want)
			}
			if m := e.modified(0); m != 0 {
				t.Errorf("after RESET: modified = %d, want 0", m)
			}
		})
	}
}

// ---- resize and detach ---------------------------------------------------------

// TestPagerQueryDirtyRangesResizeGrow: growing makes a dirty IS_ZERO tail
// that reads zeros with no request and ignores supplies; writing back (BEGIN
// without IS_ZERO, END) cleans it into a gap the pager must supply.
func TestPagerQueryDirtyRangesResizeGrow(t *testing.T) {
	e := pqNewEnv(t, zx.VMOResizable, 2)
	e.supply(0, 2)
	e.mustSetSize(5)
	e.expect(pqR(2, 3, pqIsZero))
	if m := e.modified(zx.PagerResetVMOStats); m != zx.PagerVMOStatsModified {
		t.Errorf("modified after growing = %d, want 1", m)
	}
	e.mustRead(make([]byte, 3*zx.PageSize), 2*pqPage)
	e.noPacket()

	// Supplying into the tail is a silent no-op.
	e.supply(2, 3)
	e.expect(pqR(2, 3, pqIsZero))
	e.mustRead(make([]byte, 3*zx.PageSize), 2*pqPage)

	// Growing again extends the zero run.
	e.mustSetSize(6)
	e.expect(pqR(2, 4, pqIsZero))

	e.mustOp(zx.PagerOpWritebackBegin, 2, 4, 0)
	e.expect(pqR(2, 4, pqIsZero)) // AwaitingClean zero range still reported
	e.mustOp(zx.PagerOpWritebackEnd, 2, 4, 0)
	e.expect()

	// The cleaned zero range is a gap now: a read asks the pager.
	buf := make([]byte, 8)
	r := pqGo(func() zx.Status { return VmoRead(e.vmo, buf, 3*pqPage) })
	e.expectRequest(zx.PagerVMORead, 3, 1)
	e.supply(3, 1)
	if st := pqAwait(t, r, "VmoRead"); st != zx.ErrOk {
		t.Fatalf("VmoRead of a cleaned zero range = %#v", st)
	}
	if !bytes.Equal(buf, pqFill(3)[:8]) {
		t.Errorf("VmoRead of page 3 after supply = % x, want the supplied bytes", buf)
	}
	e.expect()
}

// TestPagerQueryDirtyRangesResizeShrink: a shrink that cuts an AwaitingClean
// zero range trims it (the query shows the trimmed range); WRITEBACK_END
// over the removed part is OUT_OF_RANGE; pages cut off are no longer reported.
func TestPagerQueryDirtyRangesResizeShrink(t *testing.T) {
	e := pqNewEnv(t, zx.VMOResizable, 4)
	e.supply(0, 4)
	e.mustWrite([]byte("p0"), 0)
	e.mustWrite([]byte("p3"), 3*pqPage)
	e.mustSetSize(8)
	e.expect(pqR(0, 1, 0), pqR(3, 1, 0), pqR(4, 4, pqIsZero))

	e.mustOp(zx.PagerOpWritebackBegin, 4, 4, pqIsZero)
	e.expect(pqR(0, 1, 0), pqR(3, 1, 0), pqR(4, 4, pqIsZero))

	e.modified(zx.PagerResetVMOStats)
	e.mustSetSize(6)
	if m := e.modified(zx.PagerResetVMOStats); m != zx.PagerVMOStatsModified {
		t.Errorf("modified after shrinking = %d, want 1", m)
	}
	e.expect(pqR(0, 1, 0), pqR(3, 1, 0), pqR(4, 2, pqIsZero))
	if _, _, st := PagerQueryDirtyRanges(e.pager, e.vmo, 0, 8*pqPage, nil, true); st != zx.ErrOutOfRange {
		t.Errorf("query of the old size after shrinking = %#v, want %#v", st, zx.ErrOutOfRange)
	}
	if st := e.op(zx.PagerOpWritebackEnd, 4, 4, 0); st != zx.ErrOutOfRange {
		t.Errorf("WRITEBACK_END over [4, 8) after shrinking to 6 pages = %#v, want %#v", st, zx.ErrOutOfRange)
	}
	if st := e.op(zx.PagerOpWritebackEnd, 6, 2, 0); st != zx.ErrOutOfRange {
		t.Errorf("WRITEBACK_END over the removed [6, 8) = %#v, want %#v", st, zx.ErrOutOfRange)
	}
	e.expect(pqR(0, 1, 0), pqR(3, 1, 0), pqR(4, 2, pqIsZero)) // the failed ENDs changed nothing

	e.mustOp(zx.PagerOpWritebackEnd, 4, 2, 0)
	e.expect(pqR(0, 1, 0), pqR(3, 1, 0))
	// [4, 6) is a gap now.
	buf := make([]byte, 1)
	r := pqGo(func() zx.Status { return VmoRead(e.vmo, buf, 5*pqPage) })
	e.expectRequest(zx.PagerVMORead, 5, 1)
	e.supply(5, 1)
	if st := pqAwait(t, r, "VmoRead"); st != zx.ErrOk {
		t.Fatalf("VmoRead of the cleaned zero range = %#v", st)
	}
	e.expect(pqR(0, 1, 0), pqR(3, 1, 0))

	// Cutting off the dirty page 3.
	e.mustSetSize(2)
	e.expect(pqR(0, 1, 0))
	// Growing back: a new zero tail, page 3's data is gone.
	e.mustSetSize(4)
	e.expect(pqR(0, 1, 0), pqR(2, 2, pqIsZero))
	e.mustRead(make([]byte, 2*zx.PageSize), 2*pqPage)
	e.noPacket()
}

// TestPagerQueryDirtyRangesDetach: after detach, dirty pages, AwaitingClean
// pages and zero ranges are still reported and readable, and can be written
// back; clean pages are gone (BAD_STATE); supply is BAD_STATE.
func TestPagerQueryDirtyRangesDetach(t *testing.T) {
	e := pqNewEnv(t, zx.VMOResizable, 4)
	e.supply(0, 4)
	e.mustWrite(bytes.Repeat([]byte{0xa0}, zx.PageSize), 0)
	e.mustWrite([]byte("one"), pqPage)
	e.mustSetSize(6)
	e.mustOp(zx.PagerOpWritebackBegin, 1, 1, 0)
	want := []zx.VMODirtyRange{pqR(0, 2, 0), pqR(4, 2, pqIsZero)}
	e.expect(want...)

	if st := PagerDetachVmo(e.pager, e.vmo); st != zx.ErrOk {
		t.Fatalf("PagerDetachVmo = %#v", st)
	}
	e.expectRequest(zx.PagerVMOComplete, 0, 0)
	e.expect(want...)
	if m := e.modified(0); m != zx.PagerVMOStatsModified {
		t.Errorf("modified after detach = %d, want 1 (still queryable, never reset)", m)
	}

	// Dirty pages and the zero range are still readable.
	e.mustRead(bytes.Repeat([]byte{0xa0}, zx.PageSize), 0)
	want1 := pqFill(1)
	copy(want1, "one")
	e.mustRead(want1, pqPage)
	e.mustRead(make([]byte, 2*zx.PageSize), 4*pqPage)
	// Clean pages were decommitted: reading them needs the pager.
	if st := e.read(make([]byte, 1), 2*pqPage); st != zx.ErrBadState {
		t.Errorf("VmoRead of a clean page after detach = %#v, want %#v", st, zx.ErrBadState)
	}
	// Supplying is refused.
	aux := pgNewVmo(t, pqPage)
	if st := PagerSupplyPages(e.pager, e.vmo, 2*pqPage, pqPage, aux, 0); st != zx.ErrBadState {
		t.Errorf("PagerSupplyPages after detach = %#v, want %#v", st, zx.ErrBadState)
	}

	// Writeback still works.
	if st := e.op(zx.PagerOpWritebackBegin, 0, 6, 0); st != zx.ErrOk {
		t.Errorf("WRITEBACK_BEGIN after detach = %#v, want ZX_OK", st)
	}
	e.expect(want...)
	if st := e.op(zx.PagerOpWritebackEnd, 0, 6, 0); st != zx.ErrOk {
		t.Errorf("WRITEBACK_END after detach = %#v, want ZX_OK", st)
	}
	e.expect()
	e.noPacket()
}
