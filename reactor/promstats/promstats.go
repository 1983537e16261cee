// Package promstats exports a Mustaine reactor's Stats to Prometheus: a
// prometheus.Collector (github.com/prometheus/client_golang) that reads
// reactor.Reactor.Stats once per scrape and reports each loop's counters
// as Prometheus counters and its gauges as gauges, with a "loop" label,
// and the reactor-wide worker pool and TLS handshake slots without one.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(promstats.New(r))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The package is apart so that the core packages (reactor, protocol and
// the rest) keep their two dependencies, golang.org/x/sys and zerolog: only
// a program that imports promstats links client_golang.
//
// A scrape costs one Stats call: each loop copies its counters on its own
// goroutine on its next turn (see reactor.Reactor.Stats), so the loops
// count in plain fields and pay nothing per event for being watched. A
// loop blocked for longer than Stats waits is reported as of its last
// answer; mustaine_loop_stats_timestamp_seconds says when that was.
//
// The metrics, with the default namespace "mustaine" (see WithNamespace):
//
//	per loop (label loop="0", "1", ...)
//	mustaine_loop_turns_total                     counter  loop iterations
//	mustaine_loop_stats_timestamp_seconds         gauge    when the loop took the snapshot (Unix time)
//	mustaine_connections_open                     gauge    connections open
//	mustaine_connections_accepted_total           counter  accepted connections that got a Protocol
//	mustaine_connections_connected_total          counter  outgoing connects that succeeded
//	mustaine_connections_refused_total            counter  accepted sockets the factory refused (nil Protocol)
//	mustaine_connections_closed_total{reason}     counter  closed connections by reason: clean,
//	                                                       peer_closed, reset, timeout, aborted, failed
//	mustaine_received_bytes_total                 counter  bytes read from stream sockets
//	mustaine_sent_bytes_total                     counter  bytes written to stream sockets
//	mustaine_read_syscalls_total                  counter  read(2) calls
//	mustaine_write_syscalls_total                 counter  write(2) calls
//	mustaine_accept_backoffs_total                counter  accept back-offs (EMFILE, ENFILE, ...)
//	mustaine_timers_pending                       gauge    calls waiting in the loop's timing wheel
//	mustaine_loop_queue_depth                     gauge    CallFromThread calls waiting for the loop
//	mustaine_tls_handshakes_started_total         counter  TLS layers set up
//	mustaine_tls_handshakes_completed_total       counter  TLS handshakes that succeeded
//	mustaine_tls_handshakes_failed_total          counter  TLS connections closed before their handshake succeeded
//	mustaine_tls_handshakes_in_flight             gauge    TLS connections in their handshake
//	mustaine_udp_ports_open                       gauge    UDP ports open
//	mustaine_udp_datagrams_received_total         counter  datagrams received (closed ports included)
//	mustaine_udp_datagrams_sent_total             counter  datagrams sent
//	mustaine_udp_writes_dropped_total             counter  writes dropped at a port's send-queue bound
//	mustaine_udp_errors_total                     counter  datagrams refused (too long, by the kernel), receive errors
//	mustaine_udp_icmp_refusals_total              counter  ICMP refusals on connected ports
//
//	reactor-wide
//	mustaine_pool_workers                         gauge    worker goroutines alive
//	mustaine_pool_jobs_running                    gauge    jobs running
//	mustaine_pool_jobs_queued                     gauge    jobs waiting for a worker
//	mustaine_pool_jobs_rejected_total             counter  jobs refused (pool full)
//	mustaine_pool_jobs_completed_total            counter  jobs completed
//	mustaine_tls_handshakes_running               gauge    handshakes running on their goroutines
//	mustaine_tls_handshakes_queued                gauge    handshakes waiting for a slot
//
// Each field's exact meaning is documented on reactor.LoopStats,
// reactor.CloseCounts, reactor.TLSStats, reactor.UDPStats and
// reactor.PoolStats.
package promstats

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mustaine/mustaine/reactor"
)

// Source is what a Collector reads: *reactor.Reactor is one.
type Source interface {
	Stats() reactor.Stats
}

// Option configures a Collector.
type Option func(*config)

type config struct {
	namespace string
	labels    prometheus.Labels
}

// WithNamespace sets the metric names' prefix (default "mustaine"); ""
// leaves the names without one.
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithConstLabels adds labels with fixed values to every metric (a
// reactor's name when a process runs several, say). A label named "loop"
// or "reason" is refused when the collector is registered.
func WithConstLabels(l prometheus.Labels) Option { return func(c *config) { c.labels = l } }

// Collector is a prometheus.Collector of a Source's Stats. It is safe for
// concurrent scrapes.
type Collector struct {
	src Source

	turns, snapAt, open, accepted, connected, refused, closed *prometheus.Desc
	bytesIn, bytesOut, reads, writes, backoffs, timers, queue *prometheus.Desc
	tlsStarted, tlsDone, tlsFailed, tlsInFlight               *prometheus.Desc
	udpPorts, udpReceived, udpSent, udpDropped, udpErrors     *prometheus.Desc
	udpRefused                                                *prometheus.Desc

	poolWorkers, poolRunning, poolQueued, poolRejected, poolDone *prometheus.Desc
	tlsRunning, tlsQueued                                        *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a Collector of src's Stats (pass the *reactor.Reactor).
// Register it with a prometheus.Registerer.
func New(src Source, opts ...Option) *Collector {
	cfg := config{namespace: "mustaine"}
	for _, o := range opts {
		o(&cfg)
	}
	loop := []string{"loop"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(cfg.namespace, "", name), help, labels, cfg.labels)
	}
	return &Collector{
		src:        src,
		turns:      d("loop_turns_total", "Iterations of the event loop.", loop),
		snapAt:     d("loop_stats_timestamp_seconds", "When the loop took the snapshot of its counters (Unix time); older than the scrape when the loop was too busy to answer.", loop),
		open:       d("connections_open", "Connections open.", loop),
		accepted:   d("connections_accepted_total", "Connections accepted from listeners that got a Protocol.", loop),
		connected:  d("connections_connected_total", "Outgoing connects that succeeded.", loop),
		refused:    d("connections_refused_total", "Accepted sockets closed at once because the factory returned no Protocol.", loop),
		closed:     d("connections_closed_total", "Connections closed, by reason.", []string{"loop", "reason"}),
		bytesIn:    d("received_bytes_total", "Bytes read from stream sockets (TLS records, PROXY headers included).", loop),
		bytesOut:   d("sent_bytes_total", "Bytes written to stream sockets.", loop),
		reads:      d("read_syscalls_total", "read(2) calls on stream sockets.", loop),
		writes:     d("write_syscalls_total", "write(2) calls on stream sockets.", loop),
		backoffs:   d("accept_backoffs_total", "Times accepting was suspended for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).", loop),
		timers:     d("timers_pending", "Calls waiting in the loop's timing wheel.", loop),
		queue:      d("loop_queue_depth", "CallFromThread calls waiting for the loop.", loop),
		tlsStarted: d("tls_handshakes_started_total", "TLS layers set up on a connection.", loop),
		tlsDone:    d("tls_handshakes_completed_total", "TLS handshakes that succeeded.", loop),
		tlsFailed:  d("tls_handshakes_failed_total", "TLS connections closed before their handshake succeeded.", loop),
		tlsInFlight: d("tls_handshakes_in_flight",
			"TLS connections in their handshake, waiting for a ClientHello or a slot included.", loop),
		udpPorts:     d("udp_ports_open", "UDP ports open.", loop),
		udpReceived:  d("udp_datagrams_received_total", "Datagrams received on UDP ports (closed ports included).", loop),
		udpSent:      d("udp_datagrams_sent_total", "Datagrams sent from UDP ports.", loop),
		udpDropped:   d("udp_writes_dropped_total", "UDP writes refused because the port's send queue was at its bound.", loop),
		udpErrors:    d("udp_errors_total", "UDP writes refused as too long, datagrams the kernel refused, receive errors.", loop),
		udpRefused:   d("udp_icmp_refusals_total", "ICMP port-unreachable refusals reported on connected UDP ports.", loop),
		poolWorkers:  d("pool_workers", "Worker pool goroutines alive.", nil),
		poolRunning:  d("pool_jobs_running", "Worker pool jobs running.", nil),
		poolQueued:   d("pool_jobs_queued", "Worker pool jobs waiting for a worker.", nil),
		poolRejected: d("pool_jobs_rejected_total", "Worker pool jobs refused because the queue was full.", nil),
		poolDone:     d("pool_jobs_completed_total", "Worker pool jobs completed.", nil),
		tlsRunning:   d("tls_handshakes_running", "TLS handshakes running on their goroutines, reactor-wide.", nil),
		tlsQueued:    d("tls_handshakes_queued", "TLS handshakes waiting for a handshake slot, reactor-wide.", nil),
	}
}

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.turns, c.snapAt, c.open, c.accepted, c.connected, c.refused, c.closed,
		c.bytesIn, c.bytesOut, c.reads, c.writes, c.backoffs, c.timers, c.queue,
		c.tlsStarted, c.tlsDone, c.tlsFailed, c.tlsInFlight,
		c.udpPorts, c.udpReceived, c.udpSent, c.udpDropped, c.udpErrors, c.udpRefused,
		c.poolWorkers, c.poolRunning, c.poolQueued, c.poolRejected, c.poolDone,
		c.tlsRunning, c.tlsQueued,
	} {
		ch <- d
	}
}

// Collect takes one Stats snapshot and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, l := range s.Loops {
		loop := strconv.Itoa(l.Loop)
		counter(c.turns, l.Turns, loop)
		if !l.At.IsZero() {
			gauge(c.snapAt, float64(l.At.UnixNano())/1e9, loop)
		}
		gauge(c.open, float64(l.Open), loop)
		counter(c.accepted, l.Accepted, loop)
		counter(c.connected, l.Connected, loop)
		counter(c.refused, l.Refused, loop)
		for _, r := range []struct {
			reason string
			n      uint64
		}{
			{"clean", l.Closed.Clean}, {"peer_closed", l.Closed.PeerClosed}, {"reset", l.Closed.Reset},
			{"timeout", l.Closed.Timeout}, {"aborted", l.Closed.Aborted}, {"failed", l.Closed.Failed},
		} {
			counter(c.closed, r.n, loop, r.reason)
		}
		counter(c.bytesIn, l.BytesIn, loop)
		counter(c.bytesOut, l.BytesOut, loop)
		counter(c.reads, l.Reads, loop)
		counter(c.writes, l.Writes, loop)
		counter(c.backoffs, l.AcceptBackoffs, loop)
		gauge(c.timers, float64(l.TimersPending), loop)
		gauge(c.queue, float64(l.QueueDepth), loop)
		counter(c.tlsStarted, l.TLS.Started, loop)
		counter(c.tlsDone, l.TLS.Completed, loop)
		counter(c.tlsFailed, l.TLS.Failed, loop)
		gauge(c.tlsInFlight, float64(l.TLS.InFlight), loop)
		gauge(c.udpPorts, float64(l.UDPPorts), loop)
		counter(c.udpReceived, l.UDP.Received, loop)
		counter(c.udpSent, l.UDP.Sent, loop)
		counter(c.udpDropped, l.UDP.Dropped, loop)
		counter(c.udpErrors, l.UDP.Errors, loop)
		counter(c.udpRefused, l.UDP.Refused, loop)
	}
	gauge(c.poolWorkers, float64(s.Pool.Workers))
	gauge(c.poolRunning, float64(s.Pool.Running))
	gauge(c.poolQueued, float64(s.Pool.Queued))
	counter(c.poolRejected, s.Pool.Rejected)
	counter(c.poolDone, s.Pool.Completed)
	gauge(c.tlsRunning, float64(s.TLSHandshakesRunning))
	gauge(c.tlsQueued, float64(s.TLSHandshakesQueued))
}
