// Command http is Mustaine's HTTP/1.1 example server, the one to load-test
// with wrk:
//
//	go run ./examples/http            # 127.0.0.1:8080
//	curl -i http://127.0.0.1:8080/
//
// With -tls-cert and -tls-key (PEM files) it serves HTTPS on the same
// -addr, and picks up a renewed certificate from the files without a
// restart:
//
//	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
//	    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
//	    -keyout key.pem -out cert.pem
//	go run ./examples/http -tls-cert cert.pem -tls-key key.pem
//	curl --cacert cert.pem https://localhost:8080/
//
// With -proxy-protocol it sits behind HAProxy ("server s1 127.0.0.1:8080
// send-proxy-v2", or send-proxy for v1): each connection must start with a
// PROXY header from a loopback source, and handlers see the original
// client's address (GET /whoami shows it).
//
// Behind a load balancer, GET /healthz answers 200, and 503 once the
// server is draining (SIGTERM, or an upgrade), so the balancer stops
// sending it requests; -drain-delay keeps the connections it has open
// (answering, /healthz with 503) that long before they are drained.
//
// SIGHUP (-upgrade-on; "none" turns it off) upgrades without dropping a
// connection: the server starts a new copy of its binary, with the same
// flags, on the same listening sockets, and once that one is ready it
// drains and exits 0 (see reactor.Upgrade):
//
//	go build -o /tmp/http ./examples/http && /tmp/http -addr 127.0.0.1:8080 &
//	kill -HUP %1      # after replacing /tmp/http with a new build
//
// Started by systemd socket activation (LISTEN_FDS set, as a .socket unit
// does), it serves the sockets systemd passed instead of -addr/-listen.
//
// With -metrics 127.0.0.1:9090 it serves Prometheus metrics (the
// reactor's Stats per loop, the Go runtime's, the process's) at /metrics on
// a listener of its own, off the loops (see reactor/promstats).
//
// Endpoints:
//
//	GET  /            200 text/plain "Hello, World!" (TechEmpower plaintext)
//	GET  /json        200 application/json {"message":"Hello, World!"}
//	GET  /sleep?ms=N  sleeps N ms (0–10000) on the worker pool, not the loop
//	GET  /stream?n=N  N lines (1–100000, default 16) in a chunked body
//	POST /echo        the request body back
//	GET  /users/{id}  a user as JSON, looked up on the worker pool (ids 1–1000)
//	GET  /whoami      the client's address as the handler sees it (host:port)
//	GET  /healthz     200 "ok", 503 "draining" once the server is stopping
//	POST /upload      streams the body (any size) and answers its length and SHA-256
//	anything else     404; errors the server makes itself are JSON problem details
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/internal/examplecli"
	"github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/reactor"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	listen := flag.String("listen", "", "endpoint to listen on instead of -addr (tcp:8080:interface=127.0.0.1, unix:/tmp/http.sock:mode=660, tls:8443:privateKey=key.pem:certKey=cert.pem)")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "number of event loops (at least 1)")
	verbose := flag.Bool("v", false, "log connections (debug level)")
	reusePort := flag.Bool("reuseport", runtime.GOOS == "linux", "one listening socket per loop (SO_REUSEPORT); false: one shared socket")
	certFile := flag.String("tls-cert", "", "serve HTTPS with this PEM certificate (with -tls-key)")
	keyFile := flag.String("tls-key", "", "PEM private key for -tls-cert")
	flag.BoolVar(&proxyProtocol, "proxy-protocol", false, "expect a PROXY protocol v1/v2 header (HAProxy's send-proxy) from loopback sources before each connection's bytes")
	backend := reactor.BackendFlag(nil)
	upgradeOn := flag.String("upgrade-on", "SIGHUP", "signal that starts a zero-downtime upgrade (SIGHUP, SIGUSR2 or none)")
	flag.DurationVar(&drainDelay, "drain-delay", 0, "on SIGTERM or an upgrade, keep serving open connections (with /healthz answering 503) this long before draining them")
	flag.StringVar(&metricsAddr, "metrics", "", metricsUsage)
	flag.DurationVar(&readHeaderTimeout, "read-header-timeout", http.DefaultReadHeaderTimeout, "close a connection whose request head has not arrived whole this long after its first byte, or that sent nothing this long after it opened (0: never)")
	flag.DurationVar(&idleTimeout, "idle-timeout", http.DefaultIdleTimeout, "close a kept-alive connection idle this long between requests (0: never)")
	flag.Parse()
	examplecli.CheckLoops(*loops)
	for name, d := range map[string]time.Duration{"read-header-timeout": readHeaderTimeout, "idle-timeout": idleTimeout} {
		if d < 0 {
			examplecli.UsageError(fmt.Sprintf("invalid value \"%v\" for flag -%s: must be 0 (none) or more", d, name))
		}
	}

	log := examplecli.Logger(*verbose)

	if *certFile != "" || *keyFile != "" {
		cfg, err := tlsServerConfig(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "http:", err)
			os.Exit(1)
		}
		tlsConfig = cfg
	}
	where := *addr
	if *listen != "" {
		where = *listen
	}
	opts := []reactor.Option{reactor.WithReusePort(*reusePort), reactor.WithBackend(*backend)}
	switch *upgradeOn {
	case "SIGHUP":
		opts = append(opts, reactor.WithUpgradeOn(syscall.SIGHUP))
	case "SIGUSR2":
		opts = append(opts, reactor.WithUpgradeOn(syscall.SIGUSR2))
	case "none", "":
	default:
		fmt.Fprintf(flag.CommandLine.Output(), "invalid value %q for flag -upgrade-on: SIGHUP, SIGUSR2 or none\n", *upgradeOn)
		flag.Usage()
		os.Exit(2)
	}
	if _, err := reactor.ActivationListeners(); err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
	if reactor.Activated() {
		where = activated
	}
	if err := run(where, *loops, log, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
}

func run(addr string, loops int, log zerolog.Logger, opts ...reactor.Option) error {
	r, ln, err := newServer(addr, loops, log, opts...)
	if err != nil {
		return err
	}
	if err := serveMetrics(r, log); err != nil {
		return err
	}
	scheme := "http://"
	if tlsConfig != nil || strings.HasPrefix(addr, "tls:") || strings.HasPrefix(addr, "ssl:") {
		scheme = "https://"
	}
	// Logged once Run has started, so a supervisor that sends SIGTERM as
	// soon as it sees this line gets a graceful stop.
	r.CallWhenRunning(func() {
		log.Info().Str("addr", scheme+ln.Addr().String()+"/").Int("loops", loops).Int("pid", os.Getpid()).Msg("http server listening")
	})
	if err := r.Run(); err != nil {
		return err
	}
	log.Info().Msg("http server stopped")
	return nil
}

// newServer builds the reactor and listens; the tests use it too.
func newServer(addr string, loops int, log zerolog.Logger, opts ...reactor.Option) (*reactor.Reactor, *reactor.Listener, error) {
	// /sleep stands for blocking work: a pool of 64 lets that many overlap.
	opts = append([]reactor.Option{reactor.WithLoops(loops), reactor.WithLogger(log), reactor.WithWorkers(64)}, opts...)
	r, err := reactor.New(opts...)
	if err != nil {
		return nil, nil, err
	}
	draining := new(atomic.Bool)
	watchDraining(r, draining)
	srv, err := http.NewServer(newApp(draining), http.WithServerName("Mustaine"), http.WithErrorHandler(jsonErrors),
		http.WithReadHeaderTimeout(readHeaderTimeout), http.WithIdleTimeout(idleTimeout))
	if err != nil {
		return nil, nil, err
	}
	var lopts []reactor.ListenOption
	if proxyProtocol {
		// The zero ProxyProtocol: headers from loopback only, required.
		lopts = append(lopts, reactor.WithProxyProtocol(reactor.ProxyProtocol{}))
	}
	var ln *reactor.Listener
	if addr == activated {
		// Socket activation: every socket systemd passed; the first is
		// the one logged.
		var lns []*reactor.Listener
		if tlsConfig != nil {
			return nil, nil, fmt.Errorf("-tls-cert goes with -addr, not with socket activation")
		}
		if lns, err = r.ListenActivated("", srv, lopts...); err != nil {
			return nil, nil, err
		}
		return r, lns[0], nil
	}
	if tlsConfig != nil {
		ln, err = r.ListenTLS(addr, tlsConfig, srv, lopts...)
	} else if isEndpoint(addr) {
		if proxyProtocol {
			return nil, nil, fmt.Errorf("-proxy-protocol goes with an address, not the endpoint %q", addr)
		}
		ln, err = r.ListenEndpoint(addr, srv)
	} else {
		ln, err = r.ListenTCP(addr, srv, lopts...)
	}
	if err != nil {
		return nil, nil, err
	}
	return r, ln, nil
}

// isEndpoint reports whether where is an endpoint string (see
// reactor.ParseServerEndpoint) rather than a host:port address.
func isEndpoint(where string) bool {
	for _, p := range []string{"tcp:", "unix:", "tls:", "ssl:"} {
		if strings.HasPrefix(where, p) {
			return true
		}
	}
	return false
}

// tlsConfig, set from -tls-cert and -tls-key, makes newServer serve HTTPS.
var tlsConfig *tls.Config

// activated is newServer's address for the sockets systemd passed.
const activated = "(socket activation)"

// drainDelay, set by -drain-delay, is how long the server keeps its open
// connections, /healthz answering 503, before it drains them.
var drainDelay time.Duration

// watchDraining makes /healthz answer 503 from the moment r begins to stop
// (the Before Shutdown triggers run after the listeners stopped accepting
// and before the connections drain), and holds the drain back for
// drainDelay meanwhile.
func watchDraining(r *reactor.Reactor, draining *atomic.Bool) {
	r.AddSystemEventTrigger(reactor.Before, reactor.Shutdown, func() *deferred.Deferred[struct{}] {
		draining.Store(true)
		if drainDelay <= 0 {
			return nil
		}
		d := deferred.New[struct{}]()
		r.CallLater(drainDelay, func() { d.Callback(struct{}{}) })
		return d
	})
}

// readHeaderTimeout and idleTimeout are -read-header-timeout and
// -idle-timeout (the package's defaults when newServer runs in tests).
var (
	readHeaderTimeout = http.DefaultReadHeaderTimeout
	idleTimeout       = http.DefaultIdleTimeout
)

// proxyProtocol, set by -proxy-protocol, makes newServer's listener read a
// PROXY header (from a load balancer on loopback) before each connection.
var proxyProtocol bool
