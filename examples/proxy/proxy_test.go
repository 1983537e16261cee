package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// backendRecorder is the backend's protocol in the unit tests.
type backendRecorder struct {
	protocol.Base
	got      bytes.Buffer
	readEOF  bool
	lost     error
	lostSeen bool
}

func (b *backendRecorder) DataReceived(p []byte) { b.got.Write(p) }
func (b *backendRecorder) ReadConnectionLost()   { b.readEOF = true }
func (b *backendRecorder) ConnectionLost(err error) {
	b.lost, b.lostSeen = err, true
}

// newFront connects a proxy front to an in-memory client transport on a
// fake loop and returns the connect request it made.
func newFront(t *testing.T, log *zerolog.Logger) (*reactortest.Transport, *reactortest.ConnectRequest, protocol.Protocol) {
	t.Helper()
	l := reactortest.NewLoop()
	if log == nil {
		nop := zerolog.Nop()
		log = &nop
	}
	f := proxyFactory("backend.internal:7000", 0, log).BuildProtocol(reactortest.DefaultRemoteAddr)
	client := reactortest.Connect(f, reactortest.WithLoop(l))
	reqs := l.PendingConnects()
	if len(reqs) != 1 || reqs[0].Address != "backend.internal:7000" {
		t.Fatalf("connect requests %v, want one to backend.internal:7000", reqs)
	}
	return client, reqs[0], f
}

// The proxy, unit-tested on reactortest only: it holds the client until
// the backend (connected through the client's own loop) is up, relays both
// ways, and wires the two transports as each other's producers, so a slow
// client pauses reading from the backend and draining resumes it.
func TestProxyRelaysBothWaysWithBackpressureInMemory(t *testing.T) {
	client, req, proto := newFront(t, nil)
	if !client.ReadingPaused() {
		t.Fatal("the client is read before the backend is connected")
	}
	be := &backendRecorder{}
	pair := req.Complete(be)
	if client.ReadingPaused() {
		t.Fatal("the client is still paused once the backend is connected")
	}
	if p, streaming := client.Producer(); p != protocol.Producer(pair.Client) || !streaming {
		t.Fatalf("the client's producer is %v (streaming %v), want the backend transport", p, streaming)
	}
	if p, streaming := pair.Client.Producer(); p != protocol.Producer(client) || !streaming {
		t.Fatalf("the backend's producer is %v (streaming %v), want the client transport", p, streaming)
	}
	// Client to backend.
	proto.DataReceived([]byte("hello"))
	pair.Flush()
	if be.got.String() != "hello" {
		t.Fatalf("backend got %q", be.got.String())
	}
	// Backend to client, beyond the client's high-water mark: the
	// backend leg stops being read until the client drains.
	client.SetWriteBufferLimits(1024, 256)
	be.Transport.Write(bytes.Repeat([]byte("x"), 4096))
	pair.Flush()
	if got := client.BufferedAmount(); got != 4096 {
		t.Fatalf("client has %d bytes queued, want 4096", got)
	}
	if !pair.Client.ReadingPaused() {
		t.Fatal("a client above its high-water mark does not pause the backend leg")
	}
	be.Transport.Write([]byte("more"))
	pair.Flush()
	if client.BufferedAmount() != 4096 {
		t.Fatal("the paused backend leg was still read")
	}
	client.Clear()
	if pair.Client.ReadingPaused() {
		t.Fatal("draining the client does not resume the backend leg")
	}
	pair.Flush()
	if client.String() != "more" {
		t.Fatalf("after the drain the client got %q", client.String())
	}
}

// A client's half-close reaches the backend as a half-close; the backend's
// half-close reaches the client as one.
func TestProxyPassesHalfClosesOnInMemory(t *testing.T) {
	client, req, proto := newFront(t, nil)
	be := &backendRecorder{}
	pair := req.Complete(be)
	proto.(protocol.HalfCloseable).ReadConnectionLost()
	pair.Flush()
	if !pair.Client.WriteClosed() || !be.readEOF {
		t.Fatalf("backend leg write-closed %v, backend saw EOF %v", pair.Client.WriteClosed(), be.readEOF)
	}
	be.Transport.Write([]byte("last words"))
	be.Transport.LoseConnection()
	pair.Flush()
	if client.String() != "last words" {
		t.Fatalf("client got %q", client.String())
	}
	if !client.WriteClosed() && !client.Disconnecting() {
		t.Fatal("the backend's close did not close the client's write side")
	}
}

// A reset on either side is passed on as a reset; a clean close as a clean
// close.
func TestProxyPassesResetsOnInMemory(t *testing.T) {
	t.Run("client resets", func(t *testing.T) {
		client, req, _ := newFront(t, nil)
		pair := req.Complete(&backendRecorder{})
		client.Disconnect(protocol.ErrPeerReset)
		if !pair.Client.Aborted() {
			t.Fatal("the client's reset did not abort the backend leg")
		}
	})
	t.Run("backend resets", func(t *testing.T) {
		client, req, _ := newFront(t, nil)
		pair := req.Complete(&backendRecorder{})
		pair.Client.Disconnect(protocol.ErrPeerReset)
		if !client.Aborted() {
			t.Fatal("the backend's reset did not abort the client")
		}
	})
	t.Run("client closes", func(t *testing.T) {
		client, req, _ := newFront(t, nil)
		pair := req.Complete(&backendRecorder{})
		client.Disconnect(protocol.ErrPeerClosed)
		if pair.Client.Aborted() || !pair.Client.Disconnecting() {
			t.Fatal("the client's clean close did not close the backend leg cleanly")
		}
	})
	t.Run("client gone before the backend connected", func(t *testing.T) {
		client, req, _ := newFront(t, nil)
		client.Disconnect(protocol.ErrPeerReset)
		if !req.Done() {
			t.Fatal("the backend connect was not cancelled")
		}
	})
}

// A backend that refuses closes the client, and the log says why.
func TestProxyBackendRefusalClosesTheClientWithALoggedReason(t *testing.T) {
	var logBuf bytes.Buffer
	log := zerolog.New(&logBuf)
	client, req, _ := newFront(t, &log)
	req.Fail(reactor.ErrConnectRefused)
	if !client.Disconnecting() {
		t.Fatal("the client was not closed")
	}
	if out := logBuf.String(); !strings.Contains(out, "backend connect failed") || !strings.Contains(out, "refused") {
		t.Fatalf("log: %s", out)
	}
	if lostAfter := client.FakeLoop().RunPending(); lostAfter == 0 {
		t.Fatal("no ConnectionLost scheduled")
	}
	if lost, err := client.Lost(); !lost || !errors.Is(err, protocol.ErrConnectionDone) {
		t.Fatalf("lost %v %v", lost, err)
	}
}
