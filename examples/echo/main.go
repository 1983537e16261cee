// Command echo is Mustaine's echo server: every byte a client sends comes
// back. It is the first program to read.
//
//	go run ./examples/echo            # 127.0.0.1:7000
//	go run ./examples/echo -addr [::1]:7000 -loops 2 -v
//	go run ./examples/echo -reuseport=false   # one listening socket shared by the loops
//	go run ./examples/echo -listen tcp:7000:interface=127.0.0.1:backlog=512
//	go run ./examples/echo -listen unix:/tmp/echo.sock:mode=660
//	go run ./examples/echo -udp       # also UDP echo on the same address and port
//	go run ./examples/echo -tls-cert cert.pem -tls-key key.pem   # TLS on the same -addr
//	openssl s_client -connect 127.0.0.1:7000 -CAfile cert.pem -servername localhost
//
// (examples/http's doc shows how to make cert.pem and key.pem with openssl.)
// Over TLS the Protocol is the same: it sees plaintext, and the client's
// close_notify is its half-close.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"github.com/mustaine/mustaine/internal/examplecli"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// echo writes back what it receives. It is half-close aware: when the
// client shuts down its write side, everything echoed so far is still
// delivered, then the connection closes.
//
// It needs no flow-control code, and that is the idiom: Write never blocks,
// and a client that sends without reading cannot make the server grow,
// because once a connection's unsent output is above the transport's
// high-water mark (reactor.WithWaterMarks) the reactor stops reading from
// it, and reads again once the output has drained below the low mark. A
// protocol that writes data it did not just read (a file, another
// connection) registers a Producer instead, which the transport pauses and
// resumes at the same marks.
type echo struct{ protocol.Base }

func (e *echo) DataReceived(data []byte) { e.Transport.Write(data) }

func (e *echo) ReadConnectionLost() { e.Transport.LoseConnection() }

// udpEcho sends every datagram back to where it came from. data is only
// valid during the call, and WriteTo copies it, as Write does for TCP.
type udpEcho struct{ protocol.DatagramBase }

func (e *udpEcho) DatagramReceived(data []byte, addr net.Addr) { e.Transport.WriteTo(data, addr) }

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	listen := flag.String("listen", "", "endpoint to listen on instead of -addr (tcp:7000:interface=127.0.0.1, unix:/tmp/echo.sock:mode=660)")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "number of event loops (at least 1)")
	verbose := flag.Bool("v", false, "log connections (debug level)")
	reusePort := flag.Bool("reuseport", runtime.GOOS == "linux", "one listening socket per loop (SO_REUSEPORT); false: one shared socket")
	udp := flag.Bool("udp", false, "also serve UDP echo on the TCP listener's address and port")
	certFile := flag.String("tls-cert", "", "serve TLS with this PEM certificate (with -tls-key)")
	keyFile := flag.String("tls-key", "", "PEM private key for -tls-cert")
	backend := reactor.BackendFlag(nil)
	flag.Parse()
	examplecli.CheckLoops(*loops)

	log := examplecli.Logger(*verbose)

	r, err := reactor.New(reactor.WithLoops(*loops), reactor.WithLogger(log), reactor.WithReusePort(*reusePort), reactor.WithBackend(*backend))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	factory := protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &echo{} })
	var ln *reactor.Listener
	if *certFile != "" || *keyFile != "" {
		var cert tls.Certificate
		if cert, err = tls.LoadX509KeyPair(*certFile, *keyFile); err == nil {
			ln, err = r.ListenTLS(*addr, &tls.Config{Certificates: []tls.Certificate{cert}}, factory)
		}
	} else if *listen != "" {
		ln, err = r.ListenEndpoint(*listen, factory)
	} else {
		ln, err = r.ListenTCP(*addr, factory)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	var udpPorts []*reactor.UDPPort
	if *udp {
		// The port TCP got (with -addr host:0 the kernel picked it). One
		// socket per loop, like the TCP listener's: the kernel spreads
		// the peers over them.
		tcpAddr, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			fmt.Fprintln(os.Stderr, "echo: -udp needs a TCP listener, not", ln.Addr())
			os.Exit(2)
		}
		host, _, _ := net.SplitHostPort(*addr)
		if *listen != "" {
			host = tcpAddr.IP.String()
		}
		tcpPort := tcpAddr.Port
		udpPorts, err = r.ListenUDPEach(net.JoinHostPort(host, strconv.Itoa(tcpPort)),
			func(protocol.Loop) protocol.DatagramProtocol { return &udpEcho{} })
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(1)
		}
	}
	// Logged once Run has started, so a supervisor that sends SIGTERM as
	// soon as it sees this line gets a graceful stop.
	r.CallWhenRunning(func() {
		e := log.Info().Str("addr", ln.Addr().String()).Int("loops", *loops)
		if udpPorts != nil {
			e = e.Str("udp", udpPorts[0].LocalAddr().String())
		}
		e.Msg("echo server listening")
	})
	if err := r.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	log.Info().Msg("echo server stopped")
}
