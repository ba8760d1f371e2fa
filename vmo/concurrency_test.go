package vmo

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pagerd/pagerd/zx"
)

// Concurrent I/O, resizes, internal-mapping users, maps, unmaps and VMAR ops
// on one VMO: run with -race; every operation must end with OK or the status
// its race allows.
func TestConcurrentOperations(t *testing.T) {
	v := newPlain(t, 16*pg, zx.VMOResizable)
	deadline := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	report := func(what string, err error, allowed ...zx.Status) {
		st := statusOf(err)
		if st == zx.ErrOk {
			return
		}
		for _, a := range allowed {
			if st == a {
				return
			}
		}
		select {
		case errs <- fmt.Errorf("%s: %v", what, err):
		default:
		}
	}
	run := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				f(i)
			}
		}()
	}
	run(func(i int) {
		buf := make([]byte, 100)
		report("read", v.Read(buf, uint64(i%16)*pg), zx.ErrOutOfRange)
		report("write", v.Write(buf, uint64(i%16)*pg+50), zx.ErrOutOfRange)
	})
	run(func(i int) {
		report("resize", v.SetSize(uint64(4+i%13)*pg))
	})
	run(func(i int) {
		report("op", v.OpRange([]uint32{zx.VMOOpCommit, zx.VMOOpDecommit, zx.VMOOpZero}[i%3], 0, 4*pg, nil))
		_ = v.Info(zx.DefaultVMORights)
	})
	run(func(i int) {
		report("internal", v.WithInternalMapping(func(base uintptr, size uint64) error {
			if size >= pg {
				mem(base, 1)[0] = byte(i)
			}
			return nil
		}))
	})
	for k := 0; k < 2; k++ {
		run(func(i int) {
			addr, err := Root().Map(rw, 0, v, 0, 4*pg)
			if err != nil {
				report("map", err)
				return
			}
			if m := Root().Lookup(addr + pg); m == nil || m.VMO != v {
				report("lookup", zx.Errorf(zx.ErrInternal, "lookup %#x: %+v", addr, m))
			}
			report("vmar op", Root().OpRange(VMAROpDontNeed, addr, 4*pg))
			report("split", Root().Unmap(addr+pg, pg))
			report("unmap", Root().Unmap(addr, 4*pg))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if v.NumMappings() != 0 || len(Root().Mappings(v)) != 0 {
		t.Fatalf("%d mappings left", v.NumMappings())
	}
}

// A VMO that never got a handle and becomes unreachable releases its memfd.
func TestUnreachableVMOReleasesMemfd(t *testing.T) {
	fd := func() int {
		v, err := Create(pg, 0)
		if err != nil {
			t.Fatal(err)
		}
		return v.Fd()
	}()
	link := fmt.Sprintf("/proc/self/fd/%d", fd)
	if target, err := os.Readlink(link); err != nil || target == "" {
		t.Fatalf("memfd %d not open: %v", fd, err)
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		runtime.GC()
		target, err := os.Readlink(link)
		if err != nil || target != "/memfd:pagerd-vmo (deleted)" {
			return // closed (or the number reused by something else)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("memfd of an unreachable VMO still open")
}
