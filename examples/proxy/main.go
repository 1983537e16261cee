// Command proxy is a TCP proxy: each client connection gets its own
// connection to the backend, and bytes flow both ways until either side
// closes.
//
//	go run ./examples/proxy -listen 127.0.0.1:7100 -backend localhost:7000
//	go run ./examples/proxy -listen tcp:7100:interface=127.0.0.1 -backend localhost:7000 -loops 2 -v
//
// It shows the client side of Mustaine: the backend is connected through
// the client connection's own Loop (t.Loop().ConnectTCP), so both legs of a
// proxied connection live on one loop and need no locks; the backend's
// host name is looked up off the loop; and the two transports are each
// other's streaming producers, which is all the flow control a proxy
// needs: a slow client pauses reading from the backend, a slow backend
// pauses reading from the client, and the proxy's memory stays bounded by
// the transports' water marks whatever the two ends do.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/internal/examplecli"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// front is the client's side of a proxied connection. Its reading is
// paused until the backend is connected; it then relays to back.
type front struct {
	protocol.Base
	backend string
	timeout time.Duration
	log     *zerolog.Logger

	back    *back // set once the backend is connected
	pending interface{ Cancel() }
	lost    bool
}

// back is the backend's side of a proxied connection.
type back struct {
	protocol.Base
	front *front
}

// ConnectionMade holds the client back and connects to the backend from
// the client connection's own loop.
func (f *front) ConnectionMade(t protocol.Transport) {
	f.Base.ConnectionMade(t)
	t.PauseReading()
	b := &back{front: f}
	d := t.Loop().ConnectTCP(f.backend, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return b }), f.timeout)
	f.pending = d
	d.AddCallbacks(func(p protocol.Protocol) (protocol.Protocol, error) {
		f.pending = nil
		f.back = b
		// Backpressure both ways: each transport is the other's producer.
		t.RegisterProducer(b.Transport, true)
		b.Transport.RegisterProducer(t, true)
		t.ResumeReading()
		return p, nil
	}, func(err error) (protocol.Protocol, error) {
		f.pending = nil
		if !f.lost {
			f.log.Warn().Err(err).Str("peer", t.RemoteAddr().String()).Str("backend", f.backend).
				Msg("backend connect failed; closing the client")
			t.LoseConnection()
		}
		return nil, nil
	})
}

// DataReceived relays the client's bytes to the backend.
func (f *front) DataReceived(data []byte) { f.back.Transport.Write(data) }

// ReadConnectionLost passes the client's half-close on to the backend.
func (f *front) ReadConnectionLost() { f.back.Transport.CloseWrite() }

// ConnectionLost closes the backend: with a reset if the client reset,
// else after what is queued for it.
func (f *front) ConnectionLost(reason error) {
	f.lost = true
	if f.pending != nil {
		f.pending.Cancel()
		return
	}
	if f.back != nil {
		closeLike(f.back.Transport, reason)
	}
}

// DataReceived relays the backend's bytes to the client.
func (b *back) DataReceived(data []byte) { b.front.Transport.Write(data) }

// ReadConnectionLost passes the backend's half-close on to the client.
func (b *back) ReadConnectionLost() { b.front.Transport.CloseWrite() }

// ConnectionLost closes the client like the backend closed.
func (b *back) ConnectionLost(reason error) { closeLike(b.front.Transport, reason) }

// closeLike closes t the way its peer leg was lost: a reset is passed on
// as a reset (AbortConnection), anything else as a clean close once t's
// output is flushed.
func closeLike(t protocol.Transport, reason error) {
	if errors.Is(reason, protocol.ErrPeerReset) {
		t.AbortConnection()
		return
	}
	t.LoseConnection()
}

// proxyFactory serves each client with a front relaying to backend.
func proxyFactory(backend string, timeout time.Duration, log *zerolog.Logger) protocol.Factory {
	return protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &front{backend: backend, timeout: timeout, log: log}
	})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:7100", "where to listen: host:port, or an endpoint such as tcp:7100:interface=127.0.0.1")
	addr := flag.String("addr", "", "address to listen on (host:port; overrides -listen)")
	backend := flag.String("backend", "localhost:7000", "backend address (host:port; the host may be a name)")
	timeout := flag.Duration("timeout", 10*time.Second, "backend connect timeout")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "number of event loops (at least 1)")
	verbose := flag.Bool("v", false, "log connections (debug level)")
	flag.Parse()
	examplecli.CheckLoops(*loops)

	log := examplecli.Logger(*verbose)

	r, err := reactor.New(reactor.WithLoops(*loops), reactor.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
	where := *listen
	if *addr != "" {
		where = *addr
	}
	ln, err := listenOn(r, where, proxyFactory(*backend, *timeout, &log))
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
	// Logged once Run has started, so a supervisor that sends SIGTERM as
	// soon as it sees this line gets a graceful stop.
	r.CallWhenRunning(func() {
		log.Info().Str("addr", ln.Addr().String()).Str("backend", *backend).Int("loops", *loops).Msg("proxy listening")
	})
	if err := r.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
	log.Info().Msg("proxy stopped")
}

// listenOn listens on an endpoint string (tcp:..., unix:...) or a
// host:port address.
func listenOn(r *reactor.Reactor, where string, f protocol.Factory) (*reactor.Listener, error) {
	if strings.HasPrefix(where, "tcp:") || strings.HasPrefix(where, "unix:") {
		return r.ListenEndpoint(where, f)
	}
	return r.ListenTCP(where, f)
}
