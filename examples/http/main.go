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
// Endpoints:
//
//	GET  /            200 text/plain "Hello, World!" (TechEmpower plaintext)
//	GET  /json        200 application/json {"message":"Hello, World!"}
//	GET  /sleep?ms=N  sleeps N ms (0–10000) on the worker pool, not the loop
//	GET  /stream?n=N  N lines (1–100000, default 16) in a chunked body
//	POST /echo        the request body back
//	GET  /users/{id}  a user as JSON, looked up on the worker pool (ids 1–1000)
//	GET  /whoami      the client's address as the handler sees it (host:port)
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

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

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
	flag.Parse()
	if *loops < 1 {
		// Refused like a malformed flag: message, usage, exit status 2.
		fmt.Fprintf(flag.CommandLine.Output(), "invalid value \"%d\" for flag -loops: must be at least 1\n", *loops)
		flag.Usage()
		os.Exit(2)
	}

	level := zerolog.InfoLevel
	if *verbose {
		level = zerolog.DebugLevel
	}
	console := zerolog.ConsoleWriter{Out: os.Stderr, NoColor: !isTerminal(os.Stderr)}
	log := zerolog.New(console).Level(level).With().Timestamp().Logger()

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
	if err := run(where, *loops, log, reactor.WithReusePort(*reusePort), reactor.WithBackend(*backend)); err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
}

func run(addr string, loops int, log zerolog.Logger, opts ...reactor.Option) error {
	r, ln, err := newServer(addr, loops, log, opts...)
	if err != nil {
		return err
	}
	scheme := "http://"
	if tlsConfig != nil || strings.HasPrefix(addr, "tls:") || strings.HasPrefix(addr, "ssl:") {
		scheme = "https://"
	}
	// Logged once Run has started, so a supervisor that sends SIGTERM as
	// soon as it sees this line gets a graceful stop.
	r.CallWhenRunning(func() {
		log.Info().Str("addr", scheme+ln.Addr().String()+"/").Int("loops", loops).Msg("http server listening")
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
	srv, err := http.NewServer(newApp(), http.WithServerName("Mustaine"), http.WithErrorHandler(jsonErrors))
	if err != nil {
		return nil, nil, err
	}
	var lopts []reactor.ListenOption
	if proxyProtocol {
		// The zero ProxyProtocol: headers from loopback only, required.
		lopts = append(lopts, reactor.WithProxyProtocol(reactor.ProxyProtocol{}))
	}
	var ln *reactor.Listener
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

// isTerminal reports whether f is a terminal, which is when the log is in
// colour: piped or redirected, it holds no escape codes. TIOCGWINSZ is
// answered by every terminal, on Linux and the BSDs alike.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	return err == nil
}

// tlsConfig, set from -tls-cert and -tls-key, makes newServer serve HTTPS.
var tlsConfig *tls.Config

// proxyProtocol, set by -proxy-protocol, makes newServer's listener read a
// PROXY header (from a load balancer on loopback) before each connection.
var proxyProtocol bool
