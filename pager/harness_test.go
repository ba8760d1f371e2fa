package pager

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/port"
	"github.com/pagerd/pagerd/vmo"
	"github.com/pagerd/pagerd/zx"
)

// Every wait in these tests is bounded by one of these.
const (
	deadline = 5 * time.Second        // something that must happen
	quiet    = 100 * time.Millisecond // something that must not happen
)

const ps = zx.PageSize

// fixture is a pager with one pager VMO on one port, mapped once.
type fixture struct {
	t    *testing.T
	p    *Pager
	port *port.Port
	v    *vmo.VMO
	key  uint64
	addr uintptr
	size uint64
}

func newFixture(t *testing.T, pages uint64, options uint32) *fixture {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatalf("pager.New: %v", err)
	}
	f := &fixture{t: t, p: p, port: port.New(), key: 0xfeed, size: pages * ps}
	f.v, err = p.CreateVMO(options, f.port, f.key, f.size)
	if err != nil {
		t.Fatalf("CreateVMO: %v", err)
	}
	if pages > 0 {
		f.addr = f.mapVMO()
	}
	t.Cleanup(func() {
		// Release anything still blocked, then tear down.
		_ = p.Detach(f.v)
		p.Close()
	})
	return f
}

// mapVMO maps the whole VMO read/write and returns its address.
func (f *fixture) mapVMO() uintptr {
	f.t.Helper()
	addr, err := vmo.Root().Map(zx.VMPermRead|zx.VMPermWrite, 0, f.v, 0, f.size)
	if err != nil {
		f.t.Fatalf("map: %v", err)
	}
	f.t.Cleanup(func() { _ = vmo.Root().Unmap(addr, f.size) })
	return addr
}

// pattern is the content the tests supply for page pg: every byte tells the
// page and the salt, so a wrong page or a zero page is caught.
func pattern(pg uint64, salt byte) []byte {
	b := make([]byte, ps)
	for i := range b {
		b[i] = byte(pg)*31 + salt + byte(i%251)
	}
	return b
}

func patterns(off, length uint64, salt byte) []byte {
	var b []byte
	for pg := off / ps; pg < (off+length)/ps; pg++ {
		b = append(b, pattern(pg, salt)...)
	}
	return b
}

// supply supplies [off, off+length) with pattern(salt) through a fresh aux VMO.
func (f *fixture) supply(off, length uint64, salt byte) {
	f.t.Helper()
	if err := f.trySupply(off, length, salt); err != nil {
		f.t.Fatalf("supply [%#x,+%#x): %v", off, length, err)
	}
}

func (f *fixture) trySupply(off, length uint64, salt byte) error {
	aux, err := vmo.Create(length, 0)
	if err != nil {
		f.t.Fatalf("aux: %v", err)
	}
	if err := aux.Write(patterns(off, length, salt), 0); err != nil {
		f.t.Fatalf("aux write: %v", err)
	}
	return f.p.SupplyPages(f.v, off, length, aux, 0)
}

// packet waits for the next packet on the fixture's port.
func (f *fixture) packet() zx.PortPacket {
	f.t.Helper()
	pkt, err := f.port.Wait(zx.DeadlineAfter(zx.Duration(deadline)), nil)
	if err != nil {
		f.t.Fatalf("no packet within %v: %v", deadline, err)
	}
	return pkt
}

// wantRequest waits for a page request packet and checks it.
func (f *fixture) wantRequest(cmd uint16, off, length uint64) {
	f.t.Helper()
	pkt := f.packet()
	req := pkt.PageRequest()
	if pkt.Type != zx.PktTypePageRequest || pkt.Key != f.key || pkt.Status != zx.ErrOk ||
		req.Command != cmd || req.Offset != off || req.Length != length || req.Flags != 0 {
		f.t.Fatalf("packet key=%#x type=%d status=%v command=%d [%#x,+%#x); want key=%#x PAGE_REQUEST command=%d [%#x,+%#x)",
			pkt.Key, pkt.Type, pkt.Status, req.Command, req.Offset, req.Length, f.key, cmd, off, length)
	}
}

// noPacket checks that no packet arrives for a while.
func (f *fixture) noPacket() {
	f.t.Helper()
	pkt, err := f.port.Wait(zx.DeadlineAfter(zx.Duration(quiet)), nil)
	if err == nil {
		r := pkt.PageRequest()
		f.t.Fatalf("unexpected packet: command=%d [%#x,+%#x)", r.Command, r.Offset, r.Length)
	}
	if zx.StatusOf(err) != zx.ErrTimedOut {
		f.t.Fatalf("port wait: %v", err)
	}
}

// thread starts a C thread for mapped accesses (never touch mapped pager memory from Go).
func thread(t *testing.T) *faulter.Thread {
	t.Helper()
	th, err := faulter.Start()
	if err != nil {
		t.Fatalf("faulter: %v", err)
	}
	t.Cleanup(th.Close)
	return th
}

// blocked checks that an access has not completed.
func blocked(t *testing.T, p *faulter.Pending) {
	t.Helper()
	if _, err := p.Wait(quiet); !errors.Is(err, faulter.ErrTimeout) {
		t.Fatalf("access was expected to block, got %v", err)
	}
}

// done waits for an access to complete and returns its result.
func done(t *testing.T, p *faulter.Pending) faulter.Result {
	t.Helper()
	r, err := p.Wait(deadline)
	if err != nil {
		t.Fatalf("access did not complete: %v", err)
	}
	return r
}

// async runs fn in a goroutine and returns a channel with its error.
func async(fn func() error) chan error {
	c := make(chan error, 1)
	go func() { c <- fn() }()
	return c
}

func pending(t *testing.T, c chan error) {
	t.Helper()
	select {
	case err := <-c:
		t.Fatalf("call was expected to block, returned %v", err)
	case <-time.After(quiet):
	}
}

func result(t *testing.T, c chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(deadline):
		t.Fatalf("call did not return within %v", deadline)
		return nil
	}
}

func wantStatus(t *testing.T, err error, want zx.Status) {
	t.Helper()
	if got := zx.StatusOf(err); got != want {
		t.Fatalf("status %v (%v), want %v", got, err, want)
	}
}

func wantBytes(t *testing.T, got, want []byte, what string) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: contents differ at byte %d (got %d bytes, want %d)", what, i, len(got), len(want))
	}
}

func sleepBriefly() { time.Sleep(time.Millisecond) }

// newAux returns a fresh, uncommitted plain VMO of n bytes.
func newAux(t *testing.T, n uint64) *vmo.VMO {
	t.Helper()
	aux, err := vmo.Create(n, 0)
	if err != nil {
		t.Fatal(err)
	}
	return aux
}
