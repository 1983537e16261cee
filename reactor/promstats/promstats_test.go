package promstats_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/mustaine/mustaine/internal/reactorrun"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
	"github.com/mustaine/mustaine/reactor/promstats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixed is a Source with known Stats.
type fixed reactor.Stats

func (f fixed) Stats() reactor.Stats { return reactor.Stats(f) }

var sample = fixed{
	Loops: []reactor.LoopStats{
		{Loop: 0, At: time.Unix(1700000000, 500000000), Turns: 10, Open: 2, Accepted: 5, Connected: 1, Refused: 1,
			Closed:  reactor.CloseCounts{Clean: 1, PeerClosed: 2, Reset: 1},
			BytesIn: 1000, BytesOut: 2000, Reads: 30, Writes: 20, AcceptBackoffs: 3, TimersPending: 4, QueueDepth: 1,
			TLS:      reactor.TLSStats{Started: 6, Completed: 4, Failed: 1, InFlight: 1},
			UDPPorts: 1, UDP: reactor.UDPStats{Received: 40, Sent: 39, Dropped: 2, Errors: 1, Refused: 3}},
		{Loop: 1, At: time.Unix(1700000001, 0), Turns: 11, Open: 0, Accepted: 2,
			Closed:  reactor.CloseCounts{Timeout: 1, Aborted: 1},
			BytesIn: 7, BytesOut: 8, Reads: 9, Writes: 10},
	},
	Pool:                 reactor.PoolStats{Workers: 3, Running: 2, Queued: 1, Rejected: 4, Completed: 50},
	TLSHandshakesRunning: 1,
	TLSHandshakesQueued:  2,
}

func TestCollectorPassesLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(promstats.New(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestCollectorReportsEachField pins the mapping from Stats to metrics:
// names, types (counter or gauge), labels and values.
func TestCollectorReportsEachField(t *testing.T) {
	want := `
# HELP mustaine_connections_closed_total Connections closed, by reason.
# TYPE mustaine_connections_closed_total counter
mustaine_connections_closed_total{loop="0",reason="aborted"} 0
mustaine_connections_closed_total{loop="0",reason="clean"} 1
mustaine_connections_closed_total{loop="0",reason="failed"} 0
mustaine_connections_closed_total{loop="0",reason="peer_closed"} 2
mustaine_connections_closed_total{loop="0",reason="reset"} 1
mustaine_connections_closed_total{loop="0",reason="timeout"} 0
mustaine_connections_closed_total{loop="1",reason="aborted"} 1
mustaine_connections_closed_total{loop="1",reason="clean"} 0
mustaine_connections_closed_total{loop="1",reason="failed"} 0
mustaine_connections_closed_total{loop="1",reason="peer_closed"} 0
mustaine_connections_closed_total{loop="1",reason="reset"} 0
mustaine_connections_closed_total{loop="1",reason="timeout"} 1
# HELP mustaine_connections_open Connections open.
# TYPE mustaine_connections_open gauge
mustaine_connections_open{loop="0"} 2
mustaine_connections_open{loop="1"} 0
# HELP mustaine_received_bytes_total Bytes read from stream sockets (TLS records, PROXY headers included).
# TYPE mustaine_received_bytes_total counter
mustaine_received_bytes_total{loop="0"} 1000
mustaine_received_bytes_total{loop="1"} 7
# HELP mustaine_sent_bytes_total Bytes written to stream sockets.
# TYPE mustaine_sent_bytes_total counter
mustaine_sent_bytes_total{loop="0"} 2000
mustaine_sent_bytes_total{loop="1"} 8
# HELP mustaine_accept_backoffs_total Times accepting was suspended for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).
# TYPE mustaine_accept_backoffs_total counter
mustaine_accept_backoffs_total{loop="0"} 3
mustaine_accept_backoffs_total{loop="1"} 0
# HELP mustaine_loop_queue_depth CallFromThread calls waiting for the loop.
# TYPE mustaine_loop_queue_depth gauge
mustaine_loop_queue_depth{loop="0"} 1
mustaine_loop_queue_depth{loop="1"} 0
# HELP mustaine_loop_stats_timestamp_seconds When the loop took the snapshot of its counters (Unix time); older than the scrape when the loop was too busy to answer.
# TYPE mustaine_loop_stats_timestamp_seconds gauge
mustaine_loop_stats_timestamp_seconds{loop="0"} 1.7000000005e+09
mustaine_loop_stats_timestamp_seconds{loop="1"} 1.700000001e+09
# HELP mustaine_tls_handshakes_in_flight TLS connections in their handshake, waiting for a ClientHello or a slot included.
# TYPE mustaine_tls_handshakes_in_flight gauge
mustaine_tls_handshakes_in_flight{loop="0"} 1
mustaine_tls_handshakes_in_flight{loop="1"} 0
# HELP mustaine_tls_handshakes_started_total TLS layers set up on a connection.
# TYPE mustaine_tls_handshakes_started_total counter
mustaine_tls_handshakes_started_total{loop="0"} 6
mustaine_tls_handshakes_started_total{loop="1"} 0
# HELP mustaine_udp_datagrams_received_total Datagrams received on UDP ports (closed ports included).
# TYPE mustaine_udp_datagrams_received_total counter
mustaine_udp_datagrams_received_total{loop="0"} 40
mustaine_udp_datagrams_received_total{loop="1"} 0
# HELP mustaine_udp_datagrams_sent_total Datagrams sent from UDP ports.
# TYPE mustaine_udp_datagrams_sent_total counter
mustaine_udp_datagrams_sent_total{loop="0"} 39
mustaine_udp_datagrams_sent_total{loop="1"} 0
# HELP mustaine_udp_errors_total UDP writes refused as too long, datagrams the kernel refused, receive errors.
# TYPE mustaine_udp_errors_total counter
mustaine_udp_errors_total{loop="0"} 1
mustaine_udp_errors_total{loop="1"} 0
# HELP mustaine_udp_icmp_refusals_total ICMP port-unreachable refusals reported on connected UDP ports.
# TYPE mustaine_udp_icmp_refusals_total counter
mustaine_udp_icmp_refusals_total{loop="0"} 3
mustaine_udp_icmp_refusals_total{loop="1"} 0
# HELP mustaine_udp_ports_open UDP ports open.
# TYPE mustaine_udp_ports_open gauge
mustaine_udp_ports_open{loop="0"} 1
mustaine_udp_ports_open{loop="1"} 0
# HELP mustaine_udp_writes_dropped_total UDP writes refused because the port's send queue was at its bound.
# TYPE mustaine_udp_writes_dropped_total counter
mustaine_udp_writes_dropped_total{loop="0"} 2
mustaine_udp_writes_dropped_total{loop="1"} 0
# HELP mustaine_pool_jobs_rejected_total Worker pool jobs refused because the queue was full.
# TYPE mustaine_pool_jobs_rejected_total counter
mustaine_pool_jobs_rejected_total 4
# HELP mustaine_pool_workers Worker pool goroutines alive.
# TYPE mustaine_pool_workers gauge
mustaine_pool_workers 3
# HELP mustaine_tls_handshakes_queued TLS handshakes waiting for a handshake slot, reactor-wide.
# TYPE mustaine_tls_handshakes_queued gauge
mustaine_tls_handshakes_queued 2
`
	names := []string{
		"mustaine_connections_closed_total", "mustaine_connections_open", "mustaine_received_bytes_total",
		"mustaine_sent_bytes_total", "mustaine_accept_backoffs_total", "mustaine_loop_queue_depth",
		"mustaine_loop_stats_timestamp_seconds", "mustaine_tls_handshakes_in_flight",
		"mustaine_tls_handshakes_started_total", "mustaine_pool_jobs_rejected_total", "mustaine_pool_workers",
		"mustaine_tls_handshakes_queued", "mustaine_udp_datagrams_received_total", "mustaine_udp_datagrams_sent_total",
		"mustaine_udp_errors_total", "mustaine_udp_icmp_refusals_total", "mustaine_udp_ports_open",
		"mustaine_udp_writes_dropped_total",
	}
	if err := testutil.CollectAndCompare(promstats.New(sample), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// Every metric the package doc lists is there: 24 per loop (the
	// closed counter once per reason) and 7 reactor-wide.
	if n, want := testutil.CollectAndCount(promstats.New(sample)), 2*(24+5)+7; n != want {
		t.Errorf("%d metrics, want %d", n, want)
	}
}

func TestCollectorOptions(t *testing.T) {
	c := promstats.New(fixed{Loops: []reactor.LoopStats{{Loop: 0, Accepted: 9}}},
		promstats.WithNamespace("edge"), promstats.WithConstLabels(prometheus.Labels{"reactor": "front"}))
	want := `
# HELP edge_connections_accepted_total Connections accepted from listeners that got a Protocol.
# TYPE edge_connections_accepted_total counter
edge_connections_accepted_total{loop="0",reactor="front"} 9
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "edge_connections_accepted_total"); err != nil {
		t.Fatal(err)
	}
	// A loop that never answered has no timestamp (rather than 1970).
	if n := testutil.CollectAndCount(c, "edge_loop_stats_timestamp_seconds"); n != 0 {
		t.Errorf("%d timestamps for a snapshot never taken", n)
	}
}

// TestScrapeOverHTTP serves the collector of a running reactor over HTTP
// and checks, in what a scraper reads, that the counters moved by exactly
// the connections and bytes a known load made.
func TestScrapeOverHTTP(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			r := startReactor(t, loops)
			reg := prometheus.NewRegistry()
			reg.MustRegister(promstats.New(r))
			srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			defer srv.Close()

			ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
				return &protocol.Funcs{OnData: func(tr protocol.Transport, b []byte) { tr.Write(b) }}
			}))
			if err != nil {
				t.Fatal(err)
			}
			const conns = 5
			var wg sync.WaitGroup
			var total int
			for i := range conns {
				msg := bytes.Repeat([]byte{'m'}, 1000+i)
				total += len(msg)
				wg.Go(func() {
					c, err := net.Dial("tcp", ln.Addr().String())
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					c.Write(msg)
					if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
						t.Error(err)
					}
					c.(*net.TCPConn).CloseWrite() // the server closes on our FIN
					io.Copy(io.Discard, c)
				})
			}
			wg.Wait()
			var fams map[string]*dto.MetricFamily
			for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
				fams = scrape(t, srv.URL)
				if sum(t, fams, "mustaine_connections_closed_total", dto.MetricType_COUNTER) >= conns {
					break
				}
				if time.Since(start) > 30*time.Second {
					t.Fatal("the connections were never counted closed")
				}
			}
			for name, want := range map[string]float64{
				"mustaine_connections_accepted_total": conns,
				"mustaine_received_bytes_total":       float64(total),
				"mustaine_sent_bytes_total":           float64(total),
				"mustaine_connections_closed_total":   conns,
			} {
				if got := sum(t, fams, name, dto.MetricType_COUNTER); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			if got := sum(t, fams, "mustaine_connections_open", dto.MetricType_GAUGE); got != 0 {
				t.Errorf("mustaine_connections_open = %v, want 0", got)
			}
			for _, m := range fams["mustaine_connections_closed_total"].GetMetric() {
				if reason := label(m, "reason"); reason != "peer_closed" && m.GetCounter().GetValue() != 0 {
					t.Errorf("closed with reason %s: %v", reason, m.GetCounter().GetValue())
				}
			}
			if n := len(fams["mustaine_loop_turns_total"].GetMetric()); n != loops {
				t.Errorf("%d loops reported, want %d", n, loops)
			}
		})
	}
}

func startReactor(t *testing.T, loops int) *reactor.Reactor {
	t.Helper()
	r, err := reactor.New(reactor.WithLoops(loops), reactor.WithSignalHandling(false), reactor.WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	reactorrun.Run(t, r)
	return r
}

// scrape GETs the text exposition format and parses it.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// sum adds a family's values over its labels, checking its type.
func sum(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no %s in the scrape", name)
	}
	if f.GetType() != typ {
		t.Fatalf("%s is a %v, want a %v", name, f.GetType(), typ)
	}
	var v float64
	for _, m := range f.GetMetric() {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return v
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestCorePackagesDoNotImportPrometheus pins that the dependency stays in
// this package: nothing the core packages build from imports it.
func TestCorePackagesDoNotImportPrometheus(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	list := func(pkgs ...string) []string {
		cmd := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		return strings.Fields(string(out))
	}
	core := list("./reactor", "./reactor/reactortest", "./protocol/...", "./timer", "./deferred")
	if !containsPrefix(core, "github.com/mustaine/mustaine/reactor") || !containsPrefix(core, "golang.org/x/sys") {
		t.Fatalf("go list -deps does not list what it should: %v", core)
	}
	for _, p := range core {
		if strings.Contains(p, "prometheus") {
			t.Errorf("a core package depends on %s", p)
		}
	}
	// And the check would see it: this package's own dependencies hold it.
	if !containsPrefix(list("./reactor/promstats"), "github.com/prometheus/client_golang/prometheus") {
		t.Error("go list -deps ./reactor/promstats does not show client_golang")
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, p := range list {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}
