package bench

import "fmt"

// Plot panels.
const (
	panelKernel = "kernel"
	panelUffd   = "uffd"
	panelPager  = "pager"
	panelPagerd = "pagerd"
	panelScale  = "scale"
	panelBulk   = "bulk"
)

var bulkSizes = []struct {
	name string
	size int
}{{"64k", 64 << 10}, {"2m", 2 << 20}, {"64m", 64 << 20}}

func allRows() []*Row {
	rows := []*Row{
		// In-kernel faults: what a fault costs when no userspace is involved.
		{Name: "kernel/anon-write", Panel: panelKernel, run: anonRow(true),
			Desc: "first write to private anonymous memory (kernel allocates and zeroes a page)"},
		{Name: "kernel/anon-read", Panel: panelKernel, Baseline: "kernel/anon-write", RatioBy: ByMedian, run: anonRow(false),
			Desc: "first read of private anonymous memory (kernel maps the zero page)"},
		{Name: "kernel/file-seq", Panel: panelKernel, Baseline: "kernel/anon-write", RatioBy: ByMedian, run: fileRow(false, false),
			Desc: "read each page of a cached file through mmap, in order (fault-around maps 16 pages per fault)"},
		{Name: "kernel/file-rand", Panel: panelKernel, Baseline: "kernel/anon-write", RatioBy: ByMedian, run: fileRow(true, false),
			Desc: "read one random page per 64 KiB window of a cached file through mmap (every read faults)"},
		{Name: "kernel/file-seq-cold", Panel: panelKernel, Baseline: "kernel/file-seq", RatioBy: ByMedian, run: fileRow(false, true),
			Desc: "as file-seq after evicting the file: page-cache misses with kernel readahead from disk"},
		{Name: "kernel/file-rand-cold", Panel: panelKernel, Baseline: "kernel/file-rand", RatioBy: ByMedian, run: fileRow(true, true),
			Desc: "as file-rand after evicting the file: reads from disk with the kernel's read-around"},

		// Minimal raw userfaultfd handlers: MISSING + COPY, one page per fault.
		{Name: "uffd/raw-go", Panel: panelUffd, Baseline: "kernel/anon-write", RatioBy: ByMedian, run: rawRow(handlerGo, false, 1, -1, -1),
			Desc: "raw uffd round trip in this process: C thread faults on anon memory, goroutine polls the uffd and COPYs one page"},
		{Name: "uffd/raw-c", Panel: panelUffd, Baseline: "uffd/raw-go", RatioBy: ByMedian, run: rawRow(handlerC, false, 1, -1, -1),
			Desc: "as raw-go with the handler a C thread (poll, read, COPY)"},
		{Name: "uffd/raw-c-samecpu", Panel: panelUffd, Baseline: "uffd/raw-c", RatioBy: ByMedian, run: rawRow(handlerC, false, 1, 0, 0),
			Desc: "as raw-c with faulter and handler pinned to CPU 0: every wake-up stays on one vCPU"},
		{Name: "uffd/raw-c-crosscpu", Panel: panelUffd, Baseline: "uffd/raw-c", RatioBy: ByMedian, run: rawRow(handlerC, false, 1, 0, 1),
			Desc: "as raw-c with the faulter on CPU 0 and the handler on CPU 1: every round trip wakes an idle vCPU twice"},
		{Name: "uffd/raw-go-handoff", Panel: panelUffd, Baseline: "uffd/raw-go", RatioBy: ByMedian, run: rawRow(handlerGoHandoff, false, 1, -1, -1),
			Desc: "as raw-go split like the pager: a reader goroutine in ppoll hands each fault over a channel to a worker goroutine that COPYs"},
		{Name: "uffd/raw-go-netpoll", Panel: panelUffd, Baseline: "uffd/raw-go-handoff", RatioBy: ByMedian, run: rawRow(handlerGoNetpollHandoff, false, 1, -1, -1),
			Desc: "as raw-go-handoff with the reader parked in the Go netpoller (uffd in epoll via os.File) instead of ppoll"},
		{Name: "uffd/raw-go-memfd", Panel: panelUffd, Baseline: "uffd/raw-go", RatioBy: ByMedian, run: rawRow(handlerGo, true, 1, -1, -1),
			Desc: "as raw-go on a MAP_SHARED memfd mapping (MISSING_SHMEM), the memory kind pager VMOs use"},
		{Name: "uffd/raw-go-2t", Panel: panelUffd, Baseline: "uffd/raw-go", RatioBy: ByFaultsPerSec, run: rawRow(handlerGo, false, 2, -1, -1),
			Desc: "as raw-go with 2 faulting C threads and one handler goroutine"},
		{Name: "uffd/raw-wp", Panel: panelUffd, Baseline: "uffd/raw-go", RatioBy: ByMedian, run: rawWPRow,
			Desc: "raw write-protect round trip: C thread writes to a present, write-protected page of a memfd mapping (MISSING|WP), a goroutine lifts the protection with UFFDIO_WRITEPROTECT"},
		{Name: "uffd/raw-xproc", Panel: panelUffd, Baseline: "uffd/raw-go", RatioBy: ByMedian, run: xprocRow,
			Desc: "as raw-go across processes: a child creates and registers the uffd, sends it with SCM_RIGHTS and faults; this process serves"},
	}

	// Bulk: memcpy, then UFFDIO_COPY into anon and shmem, then UFFDIO_MOVE.
	for _, b := range bulkSizes {
		rows = append(rows, &Row{Name: "mem/memcpy-" + b.name, Panel: panelBulk, run: memcpyRow(b.size),
			Desc: fmt.Sprintf("memcpy of %s between populated buffers", sizeName(b.size))})
	}
	for _, b := range bulkSizes {
		rows = append(rows, &Row{Name: "uffd/copy-" + b.name, Panel: panelBulk, Baseline: "mem/memcpy-" + b.name, RatioBy: ByGBPerSec, run: copyRow(b.size, false),
			Desc: fmt.Sprintf("one UFFDIO_COPY of %s into missing private anonymous pages", sizeName(b.size))})
	}
	for _, b := range bulkSizes {
		rows = append(rows, &Row{Name: "uffd/copy-shmem-" + b.name, Panel: panelBulk, Baseline: "uffd/copy-" + b.name, RatioBy: ByGBPerSec, run: copyRow(b.size, true),
			Desc: fmt.Sprintf("one UFFDIO_COPY of %s into missing pages of a memfd mapping (what supply_pages does)", sizeName(b.size))})
	}
	// A pagerd read-ahead fill without the fault around it: pread + COPY (what
	// pagerd does) and a COPY straight from a mapping of the store file.
	rows = append(rows,
		&Row{Name: "uffd/fill-pread-2m", Panel: panelBulk, Baseline: "uffd/copy-shmem-2m", RatioBy: ByGBPerSec, run: fillRow(2<<20, false),
			Desc: "pagerd's fill of 2 MiB without a fault: pread from the (cached) store file into a buffer, then one UFFDIO_COPY into missing memfd pages"},
		&Row{Name: "uffd/fill-mmap-2m", Panel: panelBulk, Baseline: "uffd/fill-pread-2m", RatioBy: ByGBPerSec, run: fillRow(2<<20, true),
			Desc: "as fill-pread-2m with one copy fewer: UFFDIO_COPY straight from a read-only mapping of the store file (page tables in place)"},
	)
	for _, b := range bulkSizes {
		rows = append(rows, &Row{Name: "uffd/move-" + b.name, Panel: panelBulk, Baseline: "uffd/copy-" + b.name, RatioBy: ByGBPerSec, run: moveRow(b.size),
			Desc: fmt.Sprintf("one UFFDIO_MOVE of %s of 4 KiB anonymous pages into missing anonymous pages", sizeName(b.size))})
	}

	// This project: the in-process runtime.
	rows = append(rows,
		&Row{Name: "pager/roundtrip", Panel: panelPager, Baseline: "uffd/raw-go", RatioBy: ByMedian, run: pagerFaultRow(1, 1, 1, auxSparse),
			Desc: "single-page READ round trip: C thread faults on a mapped pager VMO, a goroutine takes the READ packet from the port and supplies the page from an aux VMO written in advance (one isolated page per request)"},
		&Row{Name: "pager/roundtrip-auxwrite", Panel: panelPager, Baseline: "pager/roundtrip", RatioBy: ByMedian, run: pagerFaultRow(1, 1, 1, auxWrite),
			Desc: "as roundtrip, the handler writing the page into the aux VMO (zx_vmo_write) before supplying it"},
		&Row{Name: "pager/roundtrip-prefilled", Panel: panelPager, Baseline: "pager/roundtrip", RatioBy: ByMedian, run: pagerFaultRow(1, 1, 1, auxPrefill),
			Desc: "as roundtrip, supplying page i from aux page i of an aux VMO written in full in advance (cost grows with -n: SEEK_HOLE walks the aux data after the page)"},
		&Row{Name: "pager/vmo-read", Panel: panelPager, Baseline: "pager/roundtrip", RatioBy: ByMedian, run: vmoReadRow,
			Desc: "zx_vmo_read of one absent page from a goroutine (no fault: request, packet, supply, wake)"},
		&Row{Name: "pager/dirty", Panel: panelPager, Baseline: "uffd/raw-wp", RatioBy: ByMedian, run: pagerDirtyRow,
			Desc: "DIRTY round trip: C thread writes to a clean page of a TRAP_DIRTY pager VMO (all pages supplied in advance), a goroutine takes the DIRTY packet and answers ZX_PAGER_OP_DIRTY, the write resumes"},
		&Row{Name: "pager/threads-1", Panel: panelScale, Baseline: "uffd/raw-go", RatioBy: ByFaultsPerSec, run: pagerFaultRow(1, 1, 1, auxSparse),
			Desc: "faults/s with 1 faulting C thread on one pager VMO, 1 handler goroutine"},
		&Row{Name: "pager/threads-2", Panel: panelScale, Baseline: "pager/threads-1", RatioBy: ByFaultsPerSec, run: pagerFaultRow(2, 1, 2, auxSparse),
			Desc: "faults/s with 2 faulting C threads on one pager VMO (disjoint pages), 2 handler goroutines"},
		&Row{Name: "pager/threads-4", Panel: panelScale, Baseline: "pager/threads-1", RatioBy: ByFaultsPerSec, run: pagerFaultRow(4, 1, 4, auxSparse),
			Desc: "faults/s with 4 faulting C threads on one pager VMO (disjoint pages), 4 handler goroutines"},
		&Row{Name: "pager/vmos-1", Panel: panelScale, Baseline: "pager/roundtrip", RatioBy: ByMedian, run: pagerFaultRow(1, 1, 1, auxSparse),
			Desc: "one faulting thread going round-robin over 1 pager VMO (same as roundtrip: the series' reference)"},
		&Row{Name: "pager/vmos-16", Panel: panelScale, Baseline: "pager/vmos-1", RatioBy: ByMedian, run: pagerFaultRow(1, 16, 1, auxSparse),
			Desc: "one faulting thread going round-robin over 16 pager VMOs on one port"},
		&Row{Name: "pager/vmos-256", Panel: panelScale, Baseline: "pager/vmos-1", RatioBy: ByMedian, run: pagerFaultRow(1, 256, 1, auxSparse),
			Desc: "one faulting thread going round-robin over 256 pager VMOs on one port"},
	)
	for _, b := range bulkSizes {
		rows = append(rows, &Row{Name: "pager/supply-" + b.name, Panel: panelBulk, Baseline: "uffd/copy-shmem-" + b.name, RatioBy: ByGBPerSec, run: supplyRow(b.size),
			Desc: fmt.Sprintf("one supply_pages of %s from a written aux VMO into an absent pager VMO range, no faulter waiting", sizeName(b.size))})
	}

	// pagerd, the service: a server in this process, client processes
	// faulting from C threads.
	rows = append(rows,
		&Row{Name: "pagerd/roundtrip", Panel: panelPagerd, Baseline: "uffd/raw-xproc", RatioBy: ByMedian, run: pagerdFaultRow(1, 1),
			Desc: "single-page READ round trip of a client process served by pagerd (read-ahead off, store file in the page cache): client C thread faults, the pagerd fault loop that reads the client's uffd serves it itself (the store bytes are cached: preadv2 RWF_NOWAIT, or a COPY from a mapping of the store file), COPYs the page into the VMO and wakes the client"},
		&Row{Name: "pagerd/dirty", Panel: panelPagerd, Baseline: "uffd/raw-wp", RatioBy: ByMedian, run: pagerdDirtyRow,
			Desc: "first write to a clean page of a client's writable mapping (all pages made present first): write-protect fault, pagerd marks the page dirty and lifts the protection, the write resumes"},
		&Row{Name: "pagerd/threads-2", Panel: panelPagerd, Baseline: "pagerd/roundtrip", RatioBy: ByFaultsPerSec, run: pagerdFaultRow(1, 2),
			Desc: "as roundtrip with 2 faulting C threads in the client on disjoint pages (ratio: faults/s)"},
		&Row{Name: "pagerd/clients-16", Panel: panelPagerd, Baseline: "pagerd/roundtrip", RatioBy: ByFaultsPerSec, run: pagerdFaultRow(16, 1),
			Desc: "16 client processes with one faulting thread each, on disjoint ranges of one VMO, released together (ratio: faults/s, all clients over the common span)"},
		&Row{Name: "pagerd/seq-prefetch", Panel: panelPagerd, Baseline: "uffd/raw-xproc", RatioBy: ByFaultsPerSec, run: pagerdSeqRow(false),
			Desc: "sequential scan (one byte of every page, -n pages) through pagerd with its default read-ahead (window 1 → 256 pages): most touches hit pages an earlier fill brought (ratio: pages/s vs single-page faults/s)"},
		&Row{Name: "kernel/file-seq-1g", Panel: panelPagerd, run: mmapSeqRow,
			Desc: "every page of pagerd/seq-1g's store file read in order through a plain read-only mmap of it in this process (page cache, fault-around): the zero-copy reference"},
		&Row{Name: "pagerd/seq-1g", Panel: panelPagerd, Baseline: "uffd/copy-2m", RatioBy: ByGBPerSec, run: pagerdSeqRow(true),
			Refs: []string{"uffd/copy-shmem-2m", "kernel/file-seq-1g"},
			Desc: "sequential read of a whole file-backed VMO (-seqmb, 1 GiB by default) through pagerd with read-ahead, one client thread, GB/s (ratio: vs a raw UFFDIO_COPY of 2 MiB)"},
		&Row{Name: "pagerd/supply-2m", Panel: panelBulk, Baseline: "uffd/copy-shmem-2m", RatioBy: ByGBPerSec, run: pagerdSupplyRow(2 << 20),
			Desc: "2 MiB supplied per fault into a client's VMO from the store (read-ahead fixed at 512 pages: the faulting thread is woken once the head of the run is in, the rest is filled in the background from the store file's mapping); one client thread touches the first page of each 2 MiB chunk"},
	)
	return rows
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
