package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/reactor"
	"github.com/mustaine/mustaine/reactor/promstats"
)

// metricsAddr, set by -metrics, is where serveMetrics serves /metrics.
var metricsAddr string

// metricsUsage is the -metrics flag's help.
const metricsUsage = "serve Prometheus metrics (the reactor's Stats, the Go runtime's, the process's) at http://ADDR/metrics, e.g. 127.0.0.1:9090, on a listener of its own"

// metricsListenConfig sets SO_REUSEPORT on the metrics socket, so that
// during a SIGHUP upgrade the new process can listen on the same address
// while the old one still serves it (it closes its socket once drained).
// That is all SO_REUSEPORT allows: a socket without it, as net.Listen's,
// still makes the start fail with EADDRINUSE.
var metricsListenConfig = net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}}

// serveMetrics serves GET /metrics on -metrics, if given, until the
// reactor shuts down.
//
// It runs on net/http's server in its own goroutines, not on the reactor:
// the endpoint is off the hot path (a scrape every few seconds), a scrape
// does not add its own connection and bytes to the counters it reports,
// and it still answers while the loops are saturated or blocked (a loop
// that does not answer within Stats' bound is reported as of its last
// snapshot, with its timestamp). Listening happens now, so a bad or busy
// address fails the start.
func serveMetrics(r *reactor.Reactor, log zerolog.Logger) error {
	if metricsAddr == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(promstats.New(r), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := nethttp.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := metricsListenConfig.Listen(context.Background(), "tcp", metricsAddr)
	if err != nil {
		return fmt.Errorf("-metrics: %w", err)
	}
	srv := &nethttp.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
			log.Error().Err(err).Msg("metrics server failed")
		}
	}()
	// Closed once the connections are drained, so the last scrape can
	// still see them go.
	if _, err := r.AddSystemEventTrigger(reactor.After, reactor.Shutdown, func() *deferred.Deferred[struct{}] {
		srv.Close()
		return nil
	}); err != nil {
		srv.Close()
		return err
	}
	log.Info().Str("addr", "http://"+ln.Addr().String()+"/metrics").Msg("metrics listening")
	return nil
}
