package reactor

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// gcTracker counts the TLS objects of closed connections that the garbage
// collector has collected, per kind: the socket's conn, the reactor's TLS
// layer and crypto/tls's Conn, on the server and the client side.
type gcTracker struct {
	built, collected [6]atomic.Int64
	lost             chan error
}

var gcKinds = [6]string{"server conn", "server tlsLayer", "server tls.Conn", "client conn", "client tlsLayer", "client tls.Conn"}

// track registers cleanups on tr's conn, TLS layer and tls.Conn.
func (g *gcTracker) track(tr protocol.Transport, client bool) {
	c := tr.(*conn)
	base := 0
	if client {
		base = 3
	}
	count := func(k int) *atomic.Int64 { g.built[k].Add(1); return &g.collected[k] }
	runtime.AddCleanup(c, func(n *atomic.Int64) { n.Add(1) }, count(base))
	runtime.AddCleanup(c.tls, func(n *atomic.Int64) { n.Add(1) }, count(base+1))
	runtime.AddCleanup(c.tls.tc, func(n *atomic.Int64) { n.Add(1) }, count(base+2))
}

// uncollected names what has not been collected yet, or "" when all has.
func (g *gcTracker) uncollected() string {
	s := ""
	for k := range gcKinds {
		if b, c := g.built[k].Load(), g.collected[k].Load(); b != c {
			s += fmt.Sprintf(" %s: %d of %d left;", gcKinds[k], b-c, b)
		}
	}
	return s
}

// awaitCollected runs the GC until every tracked object is collected; the
// bound only keeps a leak from hanging the test. It returns what is left.
func (g *gcTracker) awaitCollected() string {
	var left string
	for range 500 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
		if left = g.uncollected(); left == "" {
			return ""
		}
	}
	return left
}

// gcEcho is the server's Protocol: an echo that tracks its connection.
type gcEcho struct {
	tlsEcho
	g *gcTracker
}

func (e *gcEcho) ConnectionMade(t protocol.Transport) {
	e.g.track(t, false)
	e.tlsEcho.ConnectionMade(t)
}
func (e *gcEcho) ConnectionLost(reason error) { e.g.lost <- reason }

// gcPinger is the client's Protocol: it sends a ping, closes once the echo
// is back, and tracks its connection.
type gcPinger struct {
	protocol.Base
	g   *gcTracker
	got int
}

func (p *gcPinger) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	p.g.track(t, true)
	t.Write([]byte("ping"))
}

func (p *gcPinger) DataReceived(b []byte) {
	if p.got += len(b); p.got >= 4 {
		p.Transport.LoseConnection()
	}
}
func (p *gcPinger) ConnectionLost(reason error) { p.g.lost <- reason }

// gcRound makes n TLS connections from r to addr (handshake, one echo,
// close_notify both ways) and returns once both sides of each have closed
// and left their loops.
func gcRound(t *testing.T, r *Reactor, g *gcTracker, addr string, version uint16, n int) {
	t.Helper()
	loops := len(r.loops)
	for i := range n {
		lp := r.Loops()[i%loops]
		lp.CallFromThread(func() {
			cfg := tlsClientConfig(t)
			cfg.MinVersion, cfg.MaxVersion = version, version
			r.ConnectTLSOn(lp, addr, cfg, protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
				return &gcPinger{g: g}
			}), 0).AddErrback(func(err error) (protocol.Protocol, error) {
				t.Errorf("connect: %v", err)
				g.lost <- err
				g.lost <- err
				return nil, nil
			})
		})
	}
	for range 2 * n {
		tlsWaitLost(t, g.lost)
	}
	for _, lp := range r.loops {
		for left := -1; left != 0; {
			onLoopOf(t, lp, func() { left = lp.nconns })
		}
	}
}

// TestTLSLayersOfClosedConnectionsAreCollected: once TLS connections have
// closed, the GC collects every conn, TLS layer and tls.Conn of both
// sides, while the reactor runs (a server must not accumulate them) and,
// for connections closed just before Stop, once the reactor has stopped,
// the Reactor itself still reachable. It pins the fix of a lingering
// close's timer, which held its connection (and so its TLS state and
// Protocol) for lingerTimeout after the close, and forever in the timing
// wheel of a reactor that stopped meanwhile: the peer's close_notify,
// unread when the connection closes, makes every TLS close linger.
func TestTLSLayersOfClosedConnectionsAreCollected(t *testing.T) {
	const n = 40
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			tlsEachLoops(t, func(t *testing.T, loops int) {
				g := &gcTracker{lost: make(chan error, 2*n)}
				r := startReactor(t, WithLoops(loops))
				ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, v.v), protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
					return &gcEcho{g: g}
				}))
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()

				gcRound(t, r, g, addr, v.v, n)
				if left := g.awaitCollected(); left != "" {
					t.Errorf("reactor running, after %d closed connections:%s", n, left)
				}

				gcRound(t, r, g, addr, v.v, n)
				ln.Close()
				r.Stop()
				for _, l := range r.loops {
					<-l.done // every loop has exited
				}
				if left := g.awaitCollected(); left != "" {
					t.Errorf("reactor stopped, after %d more closed connections:%s", n, left)
				}
				if b := g.built[1].Load(); b != 2*n {
					t.Errorf("%d server TLS layers tracked, want %d", b, 2*n)
				}
				runtime.KeepAlive(r)
			})
		})
	}
}
