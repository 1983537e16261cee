package reactor

import (
	"net"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// greeter sends its connection number as soon as it is made.
type greeter struct {
	protocol.Base
	msg string
}

func (g *greeter) ConnectionMade(t protocol.Transport) {
	g.Base.ConnectionMade(t)
	t.Write([]byte(g.msg))
}

// reconnector is a ReconnectingClientFactory client as Twisted's docs
// write one: BuildProtocol resets the delay.
type reconnector struct {
	protocol.ReconnectingClientFactory
	got    chan string
	failed chan error
}

func (r *reconnector) BuildProtocol(net.Addr) protocol.Protocol {
	r.ResetDelay()
	return &protocol.Funcs{OnData: func(_ protocol.Transport, b []byte) { r.got <- string(b) }}
}

func (r *reconnector) ClientConnectionFailed(addr net.Addr, reason error) {
	select {
	case r.failed <- reason:
	default:
	}
	r.ReconnectingClientFactory.ClientConnectionFailed(addr, reason)
}

// A ReconnectingClientFactory client on a real socket survives a server
// restart: the server goes away (its listener closed and the connection
// aborted), the client's retries are refused, the server comes back on the
// same port, and the client is connected again without anyone asking.
func TestReconnectingClientSurvivesAServerRestart(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		serve := func(addr, msg string) (*Listener, chan protocol.Transport) {
			conns := make(chan protocol.Transport, 4)
			ln, err := r.ListenTCP(addr, protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
				g := &greeter{msg: msg}
				return &protocol.Funcs{
					OnConnect: func(t protocol.Transport) { g.ConnectionMade(t); conns <- t },
				}
			}))
			if err != nil {
				t.Fatal(err)
			}
			return ln, conns
		}
		ln, conns := serve("127.0.0.1:0", "first")
		addr := ln.Addr().String()
		c := &reconnector{got: make(chan string, 4), failed: make(chan error, 1)}
		c.InitialDelay = 10 * time.Millisecond
		c.MaxDelay = 100 * time.Millisecond
		lp := r.Loops()[loops-1]
		lp.CallFromThread(func() { c.Connect(lp, addr, c, 5*time.Second) })
		if got := <-c.got; got != "first" {
			t.Fatalf("got %q", got)
		}
		// The server goes away.
		server := <-conns
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		server.Loop().CallFromThread(func() { server.AbortConnection(); close(done) })
		<-done
		if err := <-c.failed; err == nil {
			t.Fatal("no failed retry while the server was down")
		}
		// And comes back on the same port.
		ln2, _ := serve(addr, "second")
		defer ln2.Close()
		select {
		case got := <-c.got:
			if got != "second" {
				t.Fatalf("got %q", got)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the client did not reconnect to the restarted server")
		}
		stopped := make(chan struct{})
		lp.CallFromThread(func() { c.StopTrying(); close(stopped) })
		<-stopped
	})
}
