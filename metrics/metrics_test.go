package metrics

import (
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// deadline bounds every wait in these tests, so a broken server fails the
// test instead of hanging it.
const deadline = 20 * time.Second

var httpClient = &http.Client{Timeout: deadline}

// serve serves m on a loopback listener and returns the base URL; the
// server is closed (and its goroutine checked to end with nil) at cleanup.
func serve(t *testing.T, m *Metrics) string {
	t.Helper()
	l, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	srv, done := m.Start(l)
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		select {
		case err, ok := <-done:
			if !ok || err != nil {
				t.Errorf("serving ended with %v (channel open %v), want nil", err, ok)
			}
		case <-time.After(deadline):
			t.Errorf("serving goroutine still running %v after Close", deadline)
		}
	})
	return "http://" + l.Addr().String()
}

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// scrape fetches base/metrics over HTTP and parses the text format.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, _, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the scrape: %v\n%s", err, body)
	}
	return mfs
}

// find returns the sample of family name whose labels are exactly labels
// (name=value pairs), or nil.
func find(mfs map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
outer:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue outer
			}
		}
		return m
	}
	return nil
}

// value returns the counter, gauge or untyped value of one sample and
// fails the test when the sample is missing.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := find(mfs, name, labels...)
	if m == nil {
		t.Fatalf("no sample %s%v in the scrape", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("sample %s%v is neither counter nor gauge", name, labels)
	return 0
}

func wantValue(t *testing.T, mfs map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	if got := value(t, mfs, name, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// bucketCount returns the cumulative count of the histogram bucket with
// upper bound le.
func bucketCount(t *testing.T, h *dto.Histogram, le float64) uint64 {
	t.Helper()
	for _, b := range h.GetBucket() {
		if math.Abs(b.GetUpperBound()-le) <= le*1e-9 {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("no bucket le=%v", le)
	return 0
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindRead: "read", KindWrite: "write", KindDirty: "dirty", NumKinds: "Kind(3)", -1: "Kind(-1)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestBuckets(t *testing.T) {
	if first, last := FaultLatencyBuckets[0], FaultLatencyBuckets[len(FaultLatencyBuckets)-1]; first != 1e-6 || last < 0.5 || last > 2 {
		t.Errorf("fault latency buckets span [%v, %v], want 1µs to about 1s", first, last)
	}
	for i := 1; i < len(FaultLatencyBuckets); i++ {
		if r := FaultLatencyBuckets[i] / FaultLatencyBuckets[i-1]; math.Abs(r-2) > 1e-9 {
			t.Fatalf("bucket %d/%d ratio %v, want exponential factor 2", i, i-1, r)
		}
	}
}

// TestScrape drives every method and checks the values and labels a real
// scrape over loopback HTTP returns.
func TestScrape(t *testing.T) {
	m := New()
	base := serve(t, m)

	// Before anything happens every kind exists at zero.
	mfs := scrape(t, base)
	for k := Kind(0); k < NumKinds; k++ {
		wantValue(t, mfs, 0, "pagerd_requests_total", "kind", k.String())
	}
	wantValue(t, mfs, 0, "pagerd_supplied_pages_total")
	if mfs["go_goroutines"] == nil || mfs["process_cpu_seconds_total"] == nil {
		t.Errorf("the Go or process collector is missing: go_goroutines %v, process_cpu_seconds_total %v",
			mfs["go_goroutines"] != nil, mfs["process_cpu_seconds_total"] != nil)
	}

	m.Fault(KindRead, 3*time.Microsecond)
	m.Fault(KindRead, 700*time.Microsecond)
	m.Fault(KindWrite, 2*time.Millisecond)
	m.Fault(KindDirty, -time.Second) // counts as 0
	m.Fault(NumKinds, time.Millisecond)
	m.Fault(-1, time.Millisecond)
	m.Supplied(5)
	m.Supplied(3)
	m.Supplied(-2)
	m.Prefetched(6)
	m.PrefetchHits(4)
	m.AddDirtyPages(10)
	m.AddDirtyPages(-3)
	m.AddPending(2)
	m.AddPending(-1)
	m.FaultFailed()
	m.FaultFailed()
	m.Writeback(8192, 5*time.Millisecond, nil)
	m.Writeback(4096, 2*time.Millisecond, errors.New("disk full"))
	m.SetClients(3)
	m.SetVMOs(7)
	m.ClientRejected("credentials")
	m.ClientRejected("credentials")
	m.ClientRejected("handshake")
	m.ClientRejected("")
	c := m.Client("pid-42")
	c.Fault(KindRead)
	c.Fault(KindRead)
	c.Fault(KindDirty)
	c.Fault(NumKinds)
	c.Supplied(3 * PageSize)
	c.AddOutstanding(4)
	c.AddOutstanding(-1)

	mfs = scrape(t, base)
	wantValue(t, mfs, 2, "pagerd_requests_total", "kind", "read")
	wantValue(t, mfs, 1, "pagerd_requests_total", "kind", "write")
	wantValue(t, mfs, 1, "pagerd_requests_total", "kind", "dirty")
	if n := len(mfs["pagerd_requests_total"].GetMetric()); n != int(NumKinds) {
		t.Errorf("pagerd_requests_total has %d series, want %d (invalid kinds must be dropped)", n, NumKinds)
	}

	lat := find(mfs, "pagerd_fault_latency_seconds", "kind", "read")
	if lat == nil || lat.Histogram == nil {
		t.Fatal("no histogram pagerd_fault_latency_seconds{kind=read}")
	}
	h := lat.GetHistogram()
	if h.GetSampleCount() != 2 || math.Abs(h.GetSampleSum()-703e-6) > 1e-12 {
		t.Errorf("read latency count %d sum %v, want 2 and 703e-6", h.GetSampleCount(), h.GetSampleSum())
	}
	if bs := h.GetBucket(); len(bs) != len(FaultLatencyBuckets)+1 || !math.IsInf(bs[len(bs)-1].GetUpperBound(), 1) {
		t.Errorf("%d buckets, want %d and +Inf", len(bs), len(FaultLatencyBuckets))
	}
	for _, c := range []struct {
		le   float64
		want uint64
	}{{2e-6, 0}, {4e-6, 1}, {512e-6, 1}, {1024e-6, 2}} {
		if got := bucketCount(t, h, c.le); got != c.want {
			t.Errorf("read latency bucket le=%v: %d, want %d", c.le, got, c.want)
		}
	}
	dirty := find(mfs, "pagerd_fault_latency_seconds", "kind", "dirty").GetHistogram()
	if dirty.GetSampleCount() != 1 || dirty.GetSampleSum() != 0 || bucketCount(t, dirty, 1e-6) != 1 {
		t.Errorf("dirty latency count %d sum %v, want 1 observation of 0", dirty.GetSampleCount(), dirty.GetSampleSum())
	}

	wantValue(t, mfs, 8, "pagerd_supplied_pages_total")
	wantValue(t, mfs, 8*4096, "pagerd_supplied_bytes_total")
	wantValue(t, mfs, 6, "pagerd_prefetch_pages_total")
	wantValue(t, mfs, 4, "pagerd_prefetch_hits_total")
	wantValue(t, mfs, 7, "pagerd_dirty_pages")
	wantValue(t, mfs, 1, "pagerd_pending_requests")
	wantValue(t, mfs, 2, "pagerd_fault_failures_total")
	wantValue(t, mfs, 12288, "pagerd_writeback_bytes_total")
	wantValue(t, mfs, 1, "pagerd_writeback_errors_total")
	wb := find(mfs, "pagerd_writeback_seconds").GetHistogram()
	if wb.GetSampleCount() != 2 || math.Abs(wb.GetSampleSum()-7e-3) > 1e-12 {
		t.Errorf("writeback seconds count %d sum %v, want 2 and 0.007", wb.GetSampleCount(), wb.GetSampleSum())
	}
	wantValue(t, mfs, 3, "pagerd_clients")
	wantValue(t, mfs, 7, "pagerd_vmos")
	wantValue(t, mfs, 2, "pagerd_client_errors_total", "reason", "credentials")
	wantValue(t, mfs, 1, "pagerd_client_errors_total", "reason", "handshake")
	wantValue(t, mfs, 1, "pagerd_client_errors_total", "reason", "unknown")
	wantValue(t, mfs, 2, "pagerd_client_faults_total", "client", "pid-42", "kind", "read")
	wantValue(t, mfs, 0, "pagerd_client_faults_total", "client", "pid-42", "kind", "write")
	wantValue(t, mfs, 1, "pagerd_client_faults_total", "client", "pid-42", "kind", "dirty")
	wantValue(t, mfs, 3*4096, "pagerd_client_supplied_bytes_total", "client", "pid-42")
	wantValue(t, mfs, 3, "pagerd_client_outstanding", "client", "pid-42")
	if got := mfs["pagerd_requests_total"].GetType(); got != dto.MetricType_COUNTER {
		t.Errorf("pagerd_requests_total type %v, want COUNTER", got)
	}
	if got := mfs["pagerd_pending_requests"].GetType(); got != dto.MetricType_GAUGE {
		t.Errorf("pagerd_pending_requests type %v, want GAUGE", got)
	}
}

func TestIndexAndNotFound(t *testing.T) {
	base := serve(t, New())
	code, ctype, body := get(t, base+"/")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") || !strings.Contains(body, "/metrics") {
		t.Errorf("GET /: %d %q %q, want 200 text/plain naming /metrics", code, ctype, body)
	}
	if code, _, _ := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404", code)
	}
	resp, err := httpClient.Post(base+"/metrics", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", resp.StatusCode)
	}
}

func TestRemoveClient(t *testing.T) {
	m := New()
	base := serve(t, m)
	a, b := m.Client("a"), m.Client("b")
	a.Fault(KindWrite)
	a.Supplied(4096)
	a.AddOutstanding(1)
	b.Fault(KindRead)
	b.Supplied(8192)
	b.AddOutstanding(2)

	mfs := scrape(t, base)
	wantValue(t, mfs, 1, "pagerd_client_faults_total", "client", "a", "kind", "write")
	wantValue(t, mfs, 4096, "pagerd_client_supplied_bytes_total", "client", "a")

	m.RemoveClient("a")
	a.Fault(KindWrite) // still safe; updates an unexported series
	mfs = scrape(t, base)
	for _, name := range []string{"pagerd_client_faults_total", "pagerd_client_supplied_bytes_total", "pagerd_client_outstanding"} {
		for _, s := range mfs[name].GetMetric() {
			for _, lp := range s.GetLabel() {
				if lp.GetName() == "client" && lp.GetValue() == "a" {
					t.Errorf("%s still has a series for client a after RemoveClient: %v", name, s)
				}
			}
		}
	}
	if n := len(mfs["pagerd_client_faults_total"].GetMetric()); n != int(NumKinds) {
		t.Errorf("pagerd_client_faults_total has %d series, want %d (client b's)", n, NumKinds)
	}
	wantValue(t, mfs, 1, "pagerd_client_faults_total", "client", "b", "kind", "read")
	wantValue(t, mfs, 8192, "pagerd_client_supplied_bytes_total", "client", "b")
	wantValue(t, mfs, 2, "pagerd_client_outstanding", "client", "b")

	// A client that comes back with the same id starts from zero.
	m.Client("a").Fault(KindDirty)
	mfs = scrape(t, base)
	wantValue(t, mfs, 0, "pagerd_client_faults_total", "client", "a", "kind", "write")
	wantValue(t, mfs, 1, "pagerd_client_faults_total", "client", "a", "kind", "dirty")
	m.RemoveClient("never-connected") // no panic, nothing removed
	if n := len(scrape(t, base)["pagerd_client_faults_total"].GetMetric()); n != 2*int(NumKinds) {
		t.Errorf("%d client fault series after removing an unknown client, want %d", n, 2*NumKinds)
	}
}

// TestNil: every method is a no-op on nil receivers, and a nil *Metrics
// still serves (503 on /metrics).
func TestNil(t *testing.T) {
	var m *Metrics
	m.Fault(KindRead, time.Millisecond)
	m.Supplied(1)
	m.Prefetched(1)
	m.PrefetchHits(1)
	m.AddDirtyPages(1)
	m.AddPending(1)
	m.FaultFailed()
	m.Writeback(1, time.Second, errors.New("x"))
	m.SetClients(1)
	m.SetVMOs(1)
	m.ClientRejected("x")
	m.RemoveClient("x")
	if r := m.Registry(); r != nil {
		t.Errorf("nil Metrics has registry %v", r)
	}
	c := m.Client("x")
	if c != nil {
		t.Fatalf("nil Metrics returned client metrics %v", c)
	}
	c.Fault(KindRead)
	c.Supplied(1)
	c.AddOutstanding(1)
	var zc *ClientMetrics
	zc.Fault(KindDirty)

	base := serve(t, m)
	if code, _, body := get(t, base+"/metrics"); code != http.StatusServiceUnavailable || !strings.Contains(body, "disabled") {
		t.Errorf("GET /metrics on nil Metrics: %d %q, want 503 saying disabled", code, body)
	}
}

// TestConcurrent: concurrent updates from many goroutines add up (and run
// clean under -race).
func TestConcurrent(t *testing.T) {
	m := New()
	c := m.Client("c")
	const goroutines, per = 8, 1000
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				m.AddPending(1)
				m.Fault(Kind(i%int(NumKinds)), time.Microsecond)
				m.Supplied(1)
				c.Fault(KindRead)
				m.AddPending(-1)
			}
		}()
	}
	wg.Wait()
	mfs := scrape(t, serve(t, m))
	wantValue(t, mfs, goroutines*per, "pagerd_supplied_pages_total")
	wantValue(t, mfs, goroutines*per, "pagerd_client_faults_total", "client", "c", "kind", "read")
	wantValue(t, mfs, 0, "pagerd_pending_requests")
	var total float64
	for k := Kind(0); k < NumKinds; k++ {
		total += value(t, mfs, "pagerd_requests_total", "kind", k.String())
	}
	if total != goroutines*per {
		t.Errorf("requests total %v, want %d", total, goroutines*per)
	}
}

// TestHotPathAllocs: the per-fault methods do not allocate.
func TestHotPathAllocs(t *testing.T) {
	m := New()
	c := m.Client("alloc")
	var nilM *Metrics
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Fault", func() { m.Fault(KindWrite, 17*time.Microsecond) }},
		{"Supplied", func() { m.Supplied(16) }},
		{"AddPending", func() { m.AddPending(1); m.AddPending(-1) }},
		{"Prefetched", func() { m.Prefetched(15) }},
		{"PrefetchHits", func() { m.PrefetchHits(15) }},
		{"AddDirtyPages", func() { m.AddDirtyPages(1) }},
		{"ClientMetrics.Fault", func() { c.Fault(KindRead) }},
		{"ClientMetrics.Supplied", func() { c.Supplied(4096) }},
		{"ClientMetrics.AddOutstanding", func() { c.AddOutstanding(1) }},
		{"nil Fault", func() { nilM.Fault(KindRead, time.Microsecond) }},
	} {
		if a := testing.AllocsPerRun(1000, tc.f); a != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, a)
		}
	}
}

func TestListen(t *testing.T) {
	ipv6 := true
	if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		ipv6 = false
	} else {
		l.Close()
	}
	for _, tc := range []struct {
		addr        string
		allowRemote bool
		ok          bool
		errHas      []string // substrings of the error
		needIPv6    bool
	}{
		{addr: "127.0.0.1:0", ok: true},
		{addr: "localhost:0", ok: true},
		{addr: "LocalHost:0", ok: true},
		{addr: "[::1]:0", ok: true, needIPv6: true},
		{addr: "0.0.0.0:0", errHas: []string{`"0.0.0.0:0"`, "loopback"}},
		{addr: "192.0.2.1:1", errHas: []string{`"192.0.2.1:1"`, "loopback"}},
		{addr: ":0", errHas: []string{`":0"`, "every interface"}},
		{addr: "[::]:0", errHas: []string{`"[::]:0"`, "loopback"}},
		{addr: "example.com:9464", errHas: []string{`"example.com:9464"`, "loopback"}},
		{addr: "127.0.0.1", errHas: []string{`"127.0.0.1"`, "HOST:PORT"}},
		{addr: "127.0.0.1:99999", errHas: []string{`"127.0.0.1:99999"`}},
		{addr: "0.0.0.0:0", allowRemote: true, ok: true},
		// Allowed by policy, but not an address of this machine: the bind
		// error still names the address.
		{addr: "192.0.2.1:1", allowRemote: true, errHas: []string{`"192.0.2.1:1"`}},
	} {
		if tc.needIPv6 && !ipv6 {
			t.Logf("%s: skipped, no IPv6 loopback", tc.addr)
			continue
		}
		l, err := Listen(tc.addr, tc.allowRemote)
		if tc.ok {
			if err != nil {
				t.Errorf("Listen(%q, %v): %v, want a listener", tc.addr, tc.allowRemote, err)
				continue
			}
			if ta := l.Addr().(*net.TCPAddr); ta.Port == 0 || (!tc.allowRemote && !ta.IP.IsLoopback()) {
				t.Errorf("Listen(%q, %v) listens on %v", tc.addr, tc.allowRemote, ta)
			}
			l.Close()
			continue
		}
		if err == nil {
			l.Close()
			t.Errorf("Listen(%q, %v) succeeded on %v, want an error", tc.addr, tc.allowRemote, l.Addr())
			continue
		}
		for _, s := range tc.errHas {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("Listen(%q, %v): error %q does not mention %q", tc.addr, tc.allowRemote, err, s)
			}
		}
	}
}

// TestServeEndsWithClosedListener: closing the listener (not the server)
// stops serving with an error on Start's channel.
func TestServeEndsWithClosedListener(t *testing.T) {
	l, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	srv, done := New().Start(l)
	defer srv.Close()
	l.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("serving ended with nil after the listener was closed, want its error")
		}
	case <-time.After(deadline):
		t.Fatalf("still serving %v after the listener was closed", deadline)
	}
}

func BenchmarkFault(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Fault(Kind(i%int(NumKinds)), time.Duration(i&1023)*time.Microsecond)
	}
}

func BenchmarkFaultParallel(b *testing.B) {
	m := New()
	c := m.Client("bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.AddPending(1)
			m.Fault(KindRead, 20*time.Microsecond)
			m.Supplied(1)
			c.Fault(KindRead)
			m.AddPending(-1)
		}
	})
}
