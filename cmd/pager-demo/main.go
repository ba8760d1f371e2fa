// Command pager-demo shows a Zircon pager working on Linux with real page
// faults: it creates a pager VMO, maps it, touches its pages from a C thread
// (never from Go: see the Go fault hazard in DEVELOPERS.md), and answers each
// ZX_PAGER_VMO_READ packet from the port with zx_pager_supply_pages, printing
// every packet and supply. It is what `make run` runs until pagerd exists.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/pagerd/pagerd/internal/faulter"
	"github.com/pagerd/pagerd/syscalls"
	"github.com/pagerd/pagerd/zx"
)

func main() {
	pages := flag.Int("pages", 4, "pages to touch")
	flag.Parse()
	if err := run(*pages); err != nil {
		fmt.Fprintln(os.Stderr, "pager-demo:", err)
		os.Exit(1)
	}
}

func check(what string, st zx.Status) error {
	if st != zx.ErrOk {
		return fmt.Errorf("%s: %v", what, st)
	}
	return nil
}

func run(pages int) error {
	size := uint64(pages) * zx.PageSize
	pgr, st := syscalls.PagerCreate(0)
	if err := check("zx_pager_create", st); err != nil {
		return err
	}
	prt, st := syscalls.PortCreate(0)
	if err := check("zx_port_create", st); err != nil {
		return err
	}
	const key = 0x5a5a
	v, st := syscalls.PagerCreateVmo(pgr, 0, prt, key, size)
	if err := check("zx_pager_create_vmo", st); err != nil {
		return err
	}
	addr, st := syscalls.VmarMap(syscalls.VmarRootSelf(), zx.VMPermRead|zx.VMPermWrite, 0, v, 0, size)
	if err := check("zx_vmar_map", st); err != nil {
		return err
	}
	fmt.Printf("pager VMO of %d pages mapped at %#x; a C thread now reads one byte of each page\n", pages, addr)

	t, err := faulter.Start()
	if err != nil {
		return err
	}
	defer t.Close()
	access := t.Touch(addr, uintptr(size), zx.PageSize, false, 0)

	aux, st := syscalls.VmoCreate(size, 0)
	if err := check("zx_vmo_create", st); err != nil {
		return err
	}
	for served := 0; served < pages; {
		var pkt zx.PortPacket
		if err := check("zx_port_wait", syscalls.PortWait(prt, zx.DeadlineAfter(zx.Duration(5*time.Second)), &pkt)); err != nil {
			return err
		}
		req := pkt.PageRequest()
		fmt.Printf("packet: key=%#x type=%d command=%d (READ) offset=%#x length=%#x\n",
			pkt.Key, pkt.Type, req.Command, req.Offset, req.Length)
		content := make([]byte, req.Length)
		for i := range content {
			content[i] = byte('A' + (req.Offset+uint64(i))/zx.PageSize)
		}
		if err := check("zx_vmo_write", syscalls.VmoWrite(aux, content, 0)); err != nil {
			return err
		}
		if err := check("zx_pager_supply_pages", syscalls.PagerSupplyPages(pgr, v, req.Offset, req.Length, aux, 0)); err != nil {
			return err
		}
		fmt.Printf("supplied [%#x, %#x) filled with %q\n", req.Offset, req.Offset+req.Length, content[0])
		served += int(req.Length / zx.PageSize)
	}
	res, err := access.Wait(5 * time.Second)
	if err != nil {
		return err
	}
	if res.Sigbus {
		return fmt.Errorf("the C thread took SIGBUS at %#x", res.Addr)
	}
	fmt.Printf("the C thread finished touching %d pages in %v\n", pages, res.Elapsed)
	buf := make([]byte, pages)
	for i := range buf {
		one := make([]byte, 1)
		if err := check("zx_vmo_read", syscalls.VmoRead(v, one, uint64(i)*zx.PageSize)); err != nil {
			return err
		}
		buf[i] = one[0]
	}
	fmt.Printf("first byte of each page through zx_vmo_read: %q\n", buf)
	return nil
}
