// Package stress is pagerd's in-process stress test, modelled on the
// kernel's uffd-stress (tools/testing/selftests/mm/uffd-stress.c): several
// pagers, each a set of goroutines waiting on its own port, serve several
// pager VMOs (plain, TRAP_DIRTY, RESIZABLE) through the flat zx_* API of
// package syscalls, while C threads (internal/faulter) read and write the
// VMOs' mappings and goroutines call zx_vmo_read, zx_vmo_write and
// zx_vmo_op_range(COMMIT) on them, all at random and at once.
//
// The pagers answer READ requests in random order and in random pieces
// (splitting a request, supplying more than was asked), sometimes fail a
// range with ZX_PAGER_OP_FAIL, and answer DIRTY requests with
// ZX_PAGER_OP_DIRTY (or a failure). A chaos goroutine shrinks and grows the
// RESIZABLE VMOs, detaches VMOs (zx_pager_detach_vmo) and retires them
// (unmap, close, expect exactly one COMPLETE packet) to create fresh ones.
//
// Every page's content encodes (VMO, page, version), so each access can be
// checked against a model of what the page must hold: what its pager
// supplied, what was last written, or the zeros of a grown tail. Whether an
// access may fail, and with which status, is decided from the same model and
// from a log of the failures, shrinks and detaches that overlapped it; a
// failure nothing explains, a zero or stale page, a torn page or an access
// that never returns is an error. Nothing waits without a deadline, and at
// the end every goroutine and thread is joined and the process's file
// descriptors and goroutines are back where they started.
//
// The package has no non-test code: run it with
//
//	go test -race ./stress/
//	PAGERD_STRESS_DURATION=10m PAGERD_STRESS_SEED=42 go test -race -timeout 0 ./stress/
package stress
