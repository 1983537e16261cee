package reactortest_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// hooks records a client factory's calls, in order.
type hooks struct {
	events []string
	build  func() protocol.Protocol
}

func (h *hooks) BuildProtocol(net.Addr) protocol.Protocol {
	h.events = append(h.events, "build")
	if h.build == nil {
		return nil
	}
	return h.build()
}
func (h *hooks) StartedConnecting(net.Addr) { h.events = append(h.events, "started") }
func (h *hooks) ClientConnectionFailed(_ net.Addr, err error) {
	h.events = append(h.events, "failed: "+err.Error())
}
func (h *hooks) ClientConnectionLost(_ net.Addr, err error) {
	h.events = append(h.events, "lost: "+err.Error())
}

type lostRecorder struct {
	protocol.Base
	h *hooks
}

func (p *lostRecorder) ConnectionLost(err error) { p.h.events = append(p.h.events, "protocol lost") }

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The fake connector keeps Twisted's client factory order, as a reactor
// does: StartedConnecting when the connect is asked for; then either
// BuildProtocol, the Deferred, and ClientConnectionLost after the
// protocol's ConnectionLost, or ClientConnectionFailed then the Deferred's
// failure.
func TestFakeConnectorRunsTheClientHooksInOrder(t *testing.T) {
	l := reactortest.NewLoop()
	h := &hooks{}
	h.build = func() protocol.Protocol { return &lostRecorder{h: h} }
	d := l.ConnectTCP("10.0.0.1:80", h, time.Second)
	var fired protocol.Protocol
	d.AddCallback(func(p protocol.Protocol) (protocol.Protocol, error) {
		h.events = append(h.events, "deferred")
		fired = p
		return p, nil
	})
	req := l.PendingConnects()[0]
	if req.Address != "10.0.0.1:80" || req.Timeout != time.Second {
		t.Fatalf("recorded %q %v", req.Address, req.Timeout)
	}
	pair := req.Complete(&protocol.Base{})
	if fired == nil || pair.Client.RemoteAddr().String() != "10.0.0.1:80" {
		t.Fatalf("fired %v, client's peer %v", fired, pair.Client.RemoteAddr())
	}
	pair.Server.LoseConnection()
	pair.Flush()
	want := []string{"started", "build", "deferred", "protocol lost", "lost: " + protocol.ErrPeerClosed.Error()}
	if !equal(h.events, want) {
		t.Fatalf("hooks %q, want %q", h.events, want)
	}
	if len(l.PendingConnects()) != 0 || len(l.Connects()) != 1 || !req.Done() {
		t.Fatal("a completed request is still pending")
	}
}

func TestFakeConnectorFailAndCancel(t *testing.T) {
	l := reactortest.NewLoop()
	refused := errors.New("connection refused")
	h := &hooks{}
	d := l.ConnectTCP("backend:80", h, 0)
	var got error
	d.AddErrback(func(err error) (protocol.Protocol, error) {
		h.events = append(h.events, "errback")
		got = err
		return nil, nil
	})
	l.PendingConnects()[0].Fail(refused)
	if !errors.Is(got, refused) || !equal(h.events, []string{"started", "failed: connection refused", "errback"}) {
		t.Fatalf("hooks %q, error %v", h.events, got)
	}

	h2 := &hooks{}
	d2 := l.ConnectTCP("backend:80", h2, 0)
	d2.Cancel()
	req := l.Connects()[1]
	if !req.Done() || len(h2.events) != 2 {
		t.Fatalf("after Cancel: done %v, hooks %q", req.Done(), h2.events)
	}
	_, err := awaitNow(d2)
	if !errors.Is(err, reactortest.ErrConnectCancelled) || !errors.Is(err, deferred.ErrCancelled) {
		t.Fatalf("cancelled connect failed with %v", err)
	}

	// A factory that builds nil refuses the connection.
	h3 := &hooks{}
	d3 := l.ConnectTCP("backend:80", h3, 0)
	if p := l.PendingConnects()[0].Complete(&protocol.Base{}); p != nil {
		t.Fatal("Complete made a Pair for a refused connection")
	}
	if _, err := awaitNow(d3); !errors.Is(err, protocol.ErrRefused) {
		t.Fatalf("refused by the factory: %v", err)
	}
}

// awaitNow returns a fired Deferred's outcome.
func awaitNow(d *deferred.Deferred[protocol.Protocol]) (protocol.Protocol, error) {
	var p protocol.Protocol
	var err error
	d.AddBoth(func(v protocol.Protocol, e error) (protocol.Protocol, error) {
		p, err = v, e
		return nil, nil
	})
	return p, err
}
