// Package stress is pagerd's in-process stress test, modelled on the
// kernel's uffd-stress (tools/testing/selftests/mm/uffd-stress.c): several
// pagers, each a set of goroutines waiting on its own port, serve several
// pager VMOs (plain, TRAP_DIRTY, RESIZABLE, both) through the flat zx_* API
// of package syscalls, while C threads (internal/faulter) read and write the
// VMOs' mappings and goroutines call zx_vmo_read, zx_vmo_write and
// zx_vmo_op_range(COMMIT) on them, all at random and at once. No goroutine
// ever touches a pager VMO's mapping.
//
// The pagers answer READ requests in random order and in random pieces
// (putting requests aside, splitting them, supplying more than was asked),
// sometimes fail part of one with ZX_PAGER_OP_FAIL, and answer DIRTY
// requests with ZX_PAGER_OP_DIRTY (or a failure). A chaos goroutine shrinks
// and grows the RESIZABLE VMOs, detaches VMOs (zx_pager_detach_vmo), writes
// dirty ranges back (zx_pager_query_dirty_ranges checked against the model,
// WRITEBACK_BEGIN, read, WRITEBACK_END, nothing left dirty) and retires
// VMOs (unmap, close, exactly one COMPLETE packet) to create fresh ones.
//
// Every page's content encodes (VMO, page, version), so each access is
// checked against a model of what the page must hold: what its pager
// supplied (its store: version 0, or what was written back), what was last
// written, or the zeros of a grown tail. Whether an access may fail, must
// fail, and with which status, is decided from the same model and from a
// log of the failures, OP_DIRTYs, shrinks and detaches that overlapped it;
// a failure nothing explains, a zero, stale, misplaced or torn page, a
// TRAP_DIRTY write that succeeded without a DIRTY request, or an access that
// never returns (20 s) is an error. Nothing waits without a deadline; at the
// end every goroutine and thread is joined, and the process's file
// descriptors and goroutines are back where they started.
//
// repro_test.go holds minimal reproductions of the bugs the stress found;
// they fail while the bugs are there. PAGERD_STRESS_TOLERATE (a comma list
// of sticky-fail, detach-poison, shrink-grow-trap, detach-race,
// overlap-fail) makes the stress accept the symptoms of those bugs, to look
// for others meanwhile.
//
// The package has no non-test code. Run it with
//
//	go test -race ./stress/                       # about 20 s
//	PAGERD_STRESS_DURATION=10m PAGERD_STRESS_SEED=42 go test -race -timeout 0 -run Stress -v ./stress/
//
// The seed (printed first, and with every error) fixes every random choice;
// the interleaving still depends on the scheduler.
package stress
