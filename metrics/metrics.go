// Package metrics holds pagerd's Prometheus metrics (DESIGN.md §6): the
// fault-to-supply latency by kind, requests, pages and bytes supplied,
// prefetch and its hits, dirty pages, pending requests, write-back, and
// per-client series.
//
// The fault path calls these methods on every page fault, so every per-call
// method is a plain atomic update of a child resolved once, in New or in
// Client: no allocation, no label lookup, no lock. Every method is a no-op
// on a nil *Metrics or a nil *ClientMetrics, so the server runs the same
// code with metrics off.
//
// The metrics live in their own prometheus.Registry (never the global
// default one), together with the Go runtime and process collectors.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// PageSize is the size in bytes of one page as counted by Supplied (the
// x86-64 and arm64 4 KiB base page that userfaultfd supplies).
const PageSize = 4096

// Namespace prefixes every pagerd metric name.
const Namespace = "pagerd"

// Kind is the kind of a page fault, the value of the kind label. The kinds
// mirror the two userfaultfd fault flavours pagerd serves and the Zircon
// pager request each one becomes.
type Kind int

const (
	// KindRead is a read of a missing page: a userfaultfd MISSING fault
	// without UFFD_PAGEFAULT_FLAG_WRITE, a ZX_PAGER_VMO_READ request.
	KindRead Kind = iota
	// KindWrite is a write to a missing page: the page is read (a READ
	// request) and dirtied in one go.
	KindWrite
	// KindDirty is the first write to a clean present page: a userfaultfd
	// write-protect fault, a ZX_PAGER_VMO_DIRTY request.
	KindDirty
	// NumKinds is the number of kinds; it is not a kind.
	NumKinds
)

var kindNames = [NumKinds]string{"read", "write", "dirty"}

// String returns the kind's label value: "read", "write" or "dirty", and
// "Kind(N)" for a value that is not a kind.
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

func (k Kind) valid() bool { return uint(k) < uint(NumKinds) }

// FaultLatencyBuckets are the upper bounds, in seconds, of the
// pagerd_fault_latency_seconds histogram: 21 exponential buckets, factor 2,
// from 1 µs to about 1.05 s.
var FaultLatencyBuckets = prometheus.ExponentialBuckets(1e-6, 2, 21)

// WritebackBuckets are the upper bounds, in seconds, of the
// pagerd_writeback_seconds histogram: 11 exponential buckets, factor 4,
// from 100 µs to about 105 s.
var WritebackBuckets = prometheus.ExponentialBuckets(1e-4, 4, 11)

// Metrics is the set of pagerd's Prometheus metrics and the registry that
// exports them. Create it with New; a nil *Metrics is valid and every
// method on it does nothing. All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	faultLatency [NumKinds]prometheus.Observer
	requests     [NumKinds]prometheus.Counter

	suppliedPages prometheus.Counter
	suppliedBytes prometheus.Counter
	prefetched    prometheus.Counter
	prefetchHits  prometheus.Counter
	faultFailures prometheus.Counter
	dirtyPages    prometheus.Gauge
	pending       prometheus.Gauge

	writebackBytes   prometheus.Counter
	writebackSeconds prometheus.Observer
	writebackErrors  prometheus.Counter

	clients prometheus.Gauge
	vmos    prometheus.Gauge

	clientErrors      *prometheus.CounterVec
	clientFaults      *prometheus.CounterVec
	clientSupplied    *prometheus.CounterVec
	clientOutstanding *prometheus.GaugeVec

	handler http.Handler
}

// New creates pagerd's metrics in a new registry that also holds the Go
// runtime collector (go_*) and the process collector (process_*). Every
// unlabelled series and every pagerd_requests_total and
// pagerd_fault_latency_seconds kind exists from the start, at zero.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}

	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
		reg.MustRegister(g)
		return g
	}

	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "fault_latency_seconds",
		Help:    "Time from reading a page fault to resolving it (waking the faulting thread or failing it), by kind.",
		Buckets: FaultLatencyBuckets,
	}, []string{"kind"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "requests_total",
		Help: "Page faults resolved, by kind (read: missing page read; write: missing page written; dirty: first write to a clean page).",
	}, []string{"kind"})
	reg.MustRegister(latency, requests)
	for k := Kind(0); k < NumKinds; k++ {
		m.faultLatency[k] = latency.WithLabelValues(k.String())
		m.requests[k] = requests.WithLabelValues(k.String())
	}

	m.suppliedPages = counter("supplied_pages_total", "Pages supplied to VMOs (faulting and prefetched pages).")
	m.suppliedBytes = counter("supplied_bytes_total", "Bytes supplied to VMOs (supplied pages times 4096).")
	m.prefetched = counter("prefetch_pages_total", "Pages supplied by read-ahead beyond the faulting page.")
	m.prefetchHits = counter("prefetch_hits_total", "Prefetched pages that the access pattern later showed were used.")
	m.faultFailures = counter("fault_failures_total", "Page faults answered with SIGBUS (the page could not be supplied).")
	m.dirtyPages = gauge("dirty_pages", "Pages dirty or awaiting clean, not yet written back.")
	m.pending = gauge("pending_requests", "Page faults read from a userfaultfd and not yet resolved.")

	m.writebackBytes = counter("writeback_bytes_total", "Bytes written back to the backing store.")
	wbSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "writeback_seconds",
		Help:    "Duration of one write-back pass (WRITEBACK_BEGIN, write, fsync, WRITEBACK_END).",
		Buckets: WritebackBuckets,
	})
	reg.MustRegister(wbSeconds)
	m.writebackSeconds = wbSeconds
	m.writebackErrors = counter("writeback_errors_total", "Write-back passes that failed.")

	m.clients = gauge("clients", "Connected clients.")
	m.vmos = gauge("vmos", "Open VMOs.")

	m.clientErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "client_errors_total",
		Help: "Clients rejected or disconnected for an error, by reason.",
	}, []string{"reason"})
	m.clientFaults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "client_faults_total",
		Help: "Page faults resolved for one client, by kind.",
	}, []string{"client", "kind"})
	m.clientSupplied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "client_supplied_bytes_total",
		Help: "Bytes supplied to resolve one client's faults.",
	}, []string{"client"})
	m.clientOutstanding = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "client_outstanding",
		Help: "One client's page faults read and not yet resolved.",
	}, []string{"client"})
	reg.MustRegister(m.clientErrors, m.clientFaults, m.clientSupplied, m.clientOutstanding)

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	m.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg,
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	}))
	return m
}

// Registry returns the registry that holds pagerd's metrics (nil for a nil
// *Metrics), for a caller that registers more collectors or gathers
// directly.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Fault records one resolved page fault of kind k that took latency from
// being read to being resolved: it observes
// pagerd_fault_latency_seconds{kind} and increments
// pagerd_requests_total{kind}. A negative latency counts as zero; a k that
// is not a kind is ignored.
func (m *Metrics) Fault(k Kind, latency time.Duration) {
	if m == nil || !k.valid() {
		return
	}
	if latency < 0 {
		latency = 0
	}
	m.faultLatency[k].Observe(latency.Seconds())
	m.requests[k].Inc()
}

// Supplied adds pages to pagerd_supplied_pages_total and pages*4096 to
// pagerd_supplied_bytes_total: pages that landed in a VMO (what
// UFFDIO_COPY or UFFDIO_CONTINUE installed, faulting page included).
// pages <= 0 is ignored.
func (m *Metrics) Supplied(pages int) {
	if m == nil || pages <= 0 {
		return
	}
	m.suppliedPages.Add(float64(pages))
	m.suppliedBytes.Add(float64(pages) * PageSize)
}

// Prefetched adds pages to pagerd_prefetch_pages_total: pages supplied by
// read-ahead beyond the faulting page. pages <= 0 is ignored.
func (m *Metrics) Prefetched(pages int) {
	if m == nil || pages <= 0 {
		return
	}
	m.prefetched.Add(float64(pages))
}

// PrefetchHits adds pages to pagerd_prefetch_hits_total: prefetched pages
// the access pattern later showed were used (the hits of
// readahead.Tracker.Window). pages <= 0 is ignored.
func (m *Metrics) PrefetchHits(pages int) {
	if m == nil || pages <= 0 {
		return
	}
	m.prefetchHits.Add(float64(pages))
}

// AddDirtyPages adds delta (negative after write-back or a drop) to the
// gauge pagerd_dirty_pages.
func (m *Metrics) AddDirtyPages(delta int) {
	if m == nil || delta == 0 {
		return
	}
	m.dirtyPages.Add(float64(delta))
}

// AddPending adds delta to the gauge pagerd_pending_requests: +1 when a
// fault is read from a userfaultfd, -1 when it is resolved.
func (m *Metrics) AddPending(delta int) {
	if m == nil || delta == 0 {
		return
	}
	m.pending.Add(float64(delta))
}

// FaultFailed increments pagerd_fault_failures_total: a fault answered with
// SIGBUS (UFFDIO_POISON), like a Zircon access to a failed or detached
// page.
func (m *Metrics) FaultFailed() {
	if m == nil {
		return
	}
	m.faultFailures.Inc()
}

// Writeback records one write-back pass that wrote bytes to the store in d:
// it adds bytes (even when the pass failed part way) to
// pagerd_writeback_bytes_total, observes d in pagerd_writeback_seconds, and
// increments pagerd_writeback_errors_total when err is not nil. bytes <= 0
// adds nothing; a negative d counts as zero.
func (m *Metrics) Writeback(bytes int, d time.Duration, err error) {
	if m == nil {
		return
	}
	if bytes > 0 {
		m.writebackBytes.Add(float64(bytes))
	}
	if d < 0 {
		d = 0
	}
	m.writebackSeconds.Observe(d.Seconds())
	if err != nil {
		m.writebackErrors.Inc()
	}
}

// SetClients sets the gauge pagerd_clients, the number of connected
// clients.
func (m *Metrics) SetClients(n int) {
	if m == nil {
		return
	}
	m.clients.Set(float64(n))
}

// SetVMOs sets the gauge pagerd_vmos, the number of open VMOs.
func (m *Metrics) SetVMOs(n int) {
	if m == nil {
		return
	}
	m.vmos.Set(float64(n))
}

// ClientRejected increments pagerd_client_errors_total{reason}: a client
// refused or dropped for reason (credentials, handshake, malformed, ...).
// This is a rare path and looks the label up on every call; keep reasons to
// a small fixed set, since each one is a series. An empty reason counts as
// "unknown".
func (m *Metrics) ClientRejected(reason string) {
	if m == nil {
		return
	}
	if reason == "" {
		reason = "unknown"
	}
	m.clientErrors.WithLabelValues(reason).Inc()
}

// ClientMetrics are the series of one client, resolved once by
// Metrics.Client so that each update is a single atomic operation. A nil
// *ClientMetrics is valid and its methods do nothing. Safe for concurrent
// use.
type ClientMetrics struct {
	faults      [NumKinds]prometheus.Counter
	supplied    prometheus.Counter
	outstanding prometheus.Gauge
}

// Client resolves the series of the client labelled client=id:
// pagerd_client_faults_total{client,kind} (every kind, from zero),
// pagerd_client_supplied_bytes_total{client} and
// pagerd_client_outstanding{client}. Call it once per client connection
// (it looks labels up) and RemoveClient when the client goes; id must be
// unique among connected clients, as two clients with one id share their
// series. Returns nil for a nil *Metrics.
func (m *Metrics) Client(id string) *ClientMetrics {
	if m == nil {
		return nil
	}
	c := &ClientMetrics{
		supplied:    m.clientSupplied.WithLabelValues(id),
		outstanding: m.clientOutstanding.WithLabelValues(id),
	}
	for k := Kind(0); k < NumKinds; k++ {
		c.faults[k] = m.clientFaults.WithLabelValues(id, k.String())
	}
	return c
}

// RemoveClient deletes every series labelled client=id (the client
// disconnected), so a long-running pagerd does not keep one series per
// past client. A *ClientMetrics of id still works afterwards but updates
// series nobody exports; a later Client(id) starts new series from zero.
func (m *Metrics) RemoveClient(id string) {
	if m == nil {
		return
	}
	m.clientFaults.DeletePartialMatch(prometheus.Labels{"client": id})
	m.clientSupplied.DeleteLabelValues(id)
	m.clientOutstanding.DeleteLabelValues(id)
}

// Fault increments pagerd_client_faults_total{client,kind} for one
// resolved fault of this client; a k that is not a kind is ignored.
func (c *ClientMetrics) Fault(k Kind) {
	if c == nil || !k.valid() {
		return
	}
	c.faults[k].Inc()
}

// Supplied adds bytes to pagerd_client_supplied_bytes_total{client}: bytes
// supplied to resolve this client's faults. bytes <= 0 is ignored.
func (c *ClientMetrics) Supplied(bytes int) {
	if c == nil || bytes <= 0 {
		return
	}
	c.supplied.Add(float64(bytes))
}

// AddOutstanding adds delta to the gauge pagerd_client_outstanding{client},
// the client's faults read and not yet resolved.
func (c *ClientMetrics) AddOutstanding(delta int) {
	if c == nil || delta == 0 {
		return
	}
	c.outstanding.Add(float64(delta))
}

// Handler returns the promhttp handler that serves the registry in the
// Prometheus text or OpenMetrics format (by content negotiation), with
// promhttp_metric_handler_* self-metrics. For a nil *Metrics it returns a
// handler that answers 503 Service Unavailable.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "pagerd: metrics are disabled", http.StatusServiceUnavailable)
		})
	}
	return m.handler
}
