package reactor

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// Client-side behaviour on real loopback sockets, each test run with one
// and with two client loops (Twisted's ReactorBuilder idea).

var clientLoopCounts = []int{1, 2}

func forEachLoopCount(t *testing.T, fn func(t *testing.T, loops int)) {
	for _, n := range clientLoopCounts {
		t.Run(fmt.Sprintf("%d loops", n), func(t *testing.T) { fn(t, n) })
	}
}

// greeting is what the speak-first servers send: larger than one segment
// and recognisable byte by byte.
var greeting = func() []byte {
	b := make([]byte, 20000)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	copy(b, "HELLO ")
	return b
}()

// speakFirstServer runs a 2-loop server whose connections send greeting
// as soon as they are made and then, when closeAfter, close. accepted gets
// a value per connection made.
func speakFirstServer(t *testing.T, closeAfter bool) (addr string, accepted <-chan struct{}) {
	t.Helper()
	srv := startReactor(t, WithLoops(2))
	made := make(chan struct{}, 10000)
	ln, err := srv.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &protocol.Funcs{OnConnect: func(tr protocol.Transport) {
			made <- struct{}{}
			tr.Write(greeting)
			if closeAfter {
				tr.LoseConnection()
			}
		}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), made
}

// greetedClient collects what one client connection receives.
type greetedClient struct {
	protocol.Base
	hangUp  bool // LoseConnection once the whole greeting is in
	got     bytes.Buffer
	late    bool // DataReceived after ConnectionLost
	isLost  bool
	results chan<- clientResult
}

// clientResult is one client connection's story, reported on its loss.
type clientResult struct {
	got    []byte
	reason error
	late   bool
}

func (g *greetedClient) DataReceived(b []byte) {
	if g.isLost {
		g.late = true
	}
	g.got.Write(b)
	if g.hangUp && g.got.Len() >= len(greeting) {
		g.Transport.LoseConnection()
	}
}

func (g *greetedClient) ConnectionLost(reason error) {
	g.isLost = true
	g.results <- clientResult{got: bytes.Clone(g.got.Bytes()), reason: reason, late: g.late}
}

// dialMany connects n clients spread round-robin over r's loops, with at
// most inFlight handshakes not yet accepted by the server (a burst of a
// thousand SYNs overflows loopback's backlog and costs retransmission
// seconds), and returns each client's result. A client whose connect
// fails is reported with its error. A client that never finishes stalls
// the test, which then fails after a generous hang guard (no timing is
// measured: a correct reactor finishes every client).
func dialMany(t *testing.T, r *Reactor, addr string, accepted <-chan struct{}, n, inFlight int, hangUp bool) []clientResult {
	t.Helper()
	results := make(chan clientResult, n)
	slots := make(chan struct{}, inFlight)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-accepted:
				<-slots
			case <-stop:
				return
			}
		}
	}()
	go func() {
		for i := range n {
			select {
			case slots <- struct{}{}:
			case <-stop:
				return
			}
			l := r.loops[i%len(r.loops)]
			l.CallFromThread(func() {
				f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
					return &greetedClient{hangUp: hangUp, results: results}
				})
				d := r.ConnectTCPOn(l, addr, f, 45*time.Second)
				d.AddErrback(func(err error) (protocol.Protocol, error) {
					results <- clientResult{reason: fmt.Errorf("connect: %w", err)}
					return nil, nil
				})
			})
		}
	}()
	var out []clientResult
	for len(out) < n {
		select {
		case res := <-results:
			out = append(out, res)
		case <-time.After(30 * time.Second): // a hang guard, not a measurement
			t.Fatalf("%d of %d clients never finished (no client finished for 30 s)", n-len(out), n)
		}
	}
	return out
}

func checkGreeted(t *testing.T, results []clientResult, wantReason error) {
	t.Helper()
	bad := 0
	for i, res := range results {
		if !bytes.Equal(res.got, greeting) || !errors.Is(res.reason, wantReason) || res.late {
			if bad++; bad <= 5 {
				t.Errorf("client %d: got %d of %d greeting bytes (equal: %v), lost with %v (want %v), data after loss: %v",
					i, len(res.got), len(greeting), bytes.Equal(res.got, greeting), res.reason, wantReason, res.late)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d clients did not see the whole greeting followed by ConnectionLost", bad, len(results))
	}
}

// A server that greets and closes at once: the connect, the greeting and
// the FIN can reach a client in one readiness report. Every client must
// still receive every byte and then ConnectionLost with the peer's clean
// close.
func TestThousandClientsReceiveTheWholeGreetingOfAServerThatClosesAtOnce(t *testing.T) {
	forEachLoopCount(t, func(t *testing.T, loops int) {
		addr, accepted := speakFirstServer(t, true)
		r := startReactor(t, WithLoops(loops))
		checkGreeted(t, dialMany(t, r, addr, accepted, 1000, 200, false), protocol.ErrPeerClosed)
	})
}

// A server that greets and keeps the connection open: the greeting can
// arrive with the connect's completion and must not wait for more data.
// Each client hangs up once it has the whole greeting.
func TestClientsReceiveTheGreetingOfAServerThatSpeaksFirst(t *testing.T) {
	forEachLoopCount(t, func(t *testing.T, loops int) {
		addr, accepted := speakFirstServer(t, false)
		r := startReactor(t, WithLoops(loops))
		checkGreeted(t, dialMany(t, r, addr, accepted, 300, 100, true), protocol.ErrConnectionDone)
	})
}

// hookFactory records Twisted's client factory hooks, with the reason of
// each failure, and can cancel its own connect from StartedConnecting.
type hookFactory struct {
	mu            sync.Mutex
	events        []string
	failures      []error
	cancelOnStart bool
	d             *deferred.Deferred[protocol.Protocol] // set on the loop by the test
	lost          chan error
}

func (f *hookFactory) BuildProtocol(net.Addr) protocol.Protocol {
	f.log("build")
	return &protocol.Base{}
}
func (f *hookFactory) StartedConnecting(net.Addr) {
	f.log("started")
	if f.cancelOnStart {
		f.d.Cancel()
	}
}
func (f *hookFactory) ClientConnectionFailed(_ net.Addr, err error) {
	f.mu.Lock()
	f.failures = append(f.failures, err)
	f.mu.Unlock()
	f.log("failed")
}
func (f *hookFactory) ClientConnectionLost(_ net.Addr, err error) {
	f.log("lost")
	if f.lost != nil {
		f.lost <- err
	}
}
func (f *hookFactory) log(e string) {
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
}
func (f *hookFactory) snapshot() ([]string, []error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...), append([]error(nil), f.failures...)
}

// settle waits until every loop of r has gone round at least once more, so
// that a hook still on its way would have run.
func settle(t *testing.T, r *Reactor) {
	t.Helper()
	for range 3 {
		for _, l := range r.loops {
			done := make(chan struct{})
			l.CallFromThread(func() { l.CallSoon(func() { close(done) }) })
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("loop did not turn")
			}
		}
	}
}

// checkCancelled asserts what Twisted promises of a connect stopped before
// it completed: the Deferred fails with the cancellation, the factory's
// ClientConnectionFailed runs exactly once with it, and no Protocol is
// built (so nothing is ever lost).
func checkCancelled(t *testing.T, r *Reactor, f *hookFactory, d *deferred.Deferred[protocol.Protocol]) {
	t.Helper()
	_, err := await(t, d)
	if !errors.Is(err, ErrConnectCancelled) || !errors.Is(err, deferred.ErrCancelled) {
		t.Fatalf("Deferred failed with %v, want ErrConnectCancelled and deferred.ErrCancelled", err)
	}
	settle(t, r)
	events, failures := f.snapshot()
	if len(failures) != 1 || !errors.Is(failures[0], ErrConnectCancelled) {
		t.Fatalf("ClientConnectionFailed calls %v, want one with ErrConnectCancelled (hooks %v)", failures, events)
	}
	for _, e := range events {
		if e == "build" || e == "lost" {
			t.Fatalf("hooks %v: a cancelled connect built or lost a protocol", events)
		}
	}
}

// Twisted's ClientFactory.startedConnecting: "You can call
// connector.stopConnecting() to stop the connection attempt." Here that
// is cancelling the connect's Deferred from inside StartedConnecting, to a
// server that would accept the connection.
func TestCancelInsideStartedConnectingStopsTheConnect(t *testing.T) {
	forEachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		srv, err := r.ListenTCP("127.0.0.1:0", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range r.loops {
			f := &hookFactory{cancelOnStart: true}
			done := make(chan struct{})
			l.CallFromThread(func() {
				defer close(done)
				f.d = r.ConnectTCPOn(l, srv.Addr().String(), f, 5*time.Second)
			})
			<-done
			checkCancelled(t, r, f, f.d)
			if events, _ := f.snapshot(); len(events) != 2 || events[0] != "started" || events[1] != "failed" {
				t.Fatalf("hooks %v, want [started failed]", events)
			}
		}
	})
}

// Cancelling at once, on the loop, in the same callback that called
// ConnectTCP: the connect never completes.
func TestCancelRightAfterConnectTCPReturnsStopsTheConnect(t *testing.T) {
	forEachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		srv, err := r.ListenTCP("127.0.0.1:0", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range r.loops {
			f := &hookFactory{}
			var d *deferred.Deferred[protocol.Protocol]
			done := make(chan struct{})
			l.CallFromThread(func() {
				defer close(done)
				d = r.ConnectTCPOn(l, srv.Addr().String(), f, 5*time.Second)
				d.Cancel()
			})
			<-done
			checkCancelled(t, r, f, d)
		}
	})
}

// startStopClientFactory counts protocol.Starter calls and the client
// hooks that bracket them.
type startStopClientFactory struct {
	hookFactory
	starts, stops int
}

func (f *startStopClientFactory) StartFactory() { f.mu.Lock(); f.starts++; f.mu.Unlock() }
func (f *startStopClientFactory) StopFactory()  { f.mu.Lock(); f.stops++; f.mu.Unlock() }
func (f *startStopClientFactory) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts, f.stops
}

// The protocol.Starter doc: the reactor reference-counts a factory across
// the listeners and connectors that use it; StartFactory runs when the
// first starts and StopFactory when the last stops (Twisted's doStart and
// doStop, which a connector calls around its attempt).
func TestClientFactoryStartAndStopAreReferenceCountedAcrossConnects(t *testing.T) {
	forEachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		srv, err := r.ListenTCP("127.0.0.1:0", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		addr := srv.Addr().String()
		f := &startStopClientFactory{hookFactory: hookFactory{lost: make(chan error, 2)}}

		// Two connections at once, one per loop when there are two.
		var ds [2]*deferred.Deferred[protocol.Protocol]
		for i := range ds {
			l := r.loops[i%loops]
			done := make(chan struct{})
			l.CallFromThread(func() {
				defer close(done)
				ds[i] = r.ConnectTCPOn(l, addr, f, 5*time.Second)
			})
			<-done
			if s, st := f.counts(); s != 1 || st != 0 {
				t.Fatalf("after connect %d: StartFactory %d, StopFactory %d times; want 1 and 0", i+1, s, st)
			}
		}
		var protos [2]protocol.Protocol
		for i, d := range ds {
			if protos[i], err = await(t, d); err != nil {
				t.Fatal(err)
			}
		}
		hangUp := func(p protocol.Protocol) {
			tr := p.(*protocol.Base).Transport
			tr.Loop().CallFromThread(tr.LoseConnection)
		}
		hangUp(protos[0])
		<-f.lost
		settle(t, r)
		if s, st := f.counts(); s != 1 || st != 0 {
			t.Fatalf("one of two connections lost: StartFactory %d, StopFactory %d times; want 1 and 0", s, st)
		}
		hangUp(protos[1])
		<-f.lost
		settle(t, r)
		if s, st := f.counts(); s != 1 || st != 1 {
			t.Fatalf("both connections lost: StartFactory %d, StopFactory %d times; want 1 and 1", s, st)
		}
		if events, _ := f.snapshot(); len(events) != 6 {
			t.Fatalf("hooks %v, want started, build and lost twice", events)
		}

		// A failed attempt starts and stops the factory too, and a
		// listener sharing the factory keeps it started.
		refused, _ := net.Listen("tcp", "127.0.0.1:0")
		deadAddr := refused.Addr().String()
		refused.Close()
		var d *deferred.Deferred[protocol.Protocol]
		onLoop(t, r, func() { d = r.ConnectTCP(deadAddr, f, 5*time.Second) })
		if _, err := await(t, d); !errors.Is(err, ErrConnectRefused) {
			t.Fatalf("connect to a closed port: %v, want ErrConnectRefused", err)
		}
		settle(t, r)
		if s, st := f.counts(); s != 2 || st != 2 {
			t.Fatalf("after a refused attempt: StartFactory %d, StopFactory %d times; want 2 and 2", s, st)
		}
		ln, err := r.ListenTCP("127.0.0.1:0", f)
		if err != nil {
			t.Fatal(err)
		}
		onLoop(t, r, func() { d = r.ConnectTCP(deadAddr, f, 5*time.Second) })
		await(t, d)
		settle(t, r)
		if s, st := f.counts(); s != 3 || st != 2 {
			t.Fatalf("a refused attempt while a listener uses the factory: StartFactory %d, StopFactory %d times; want 3 and 2", s, st)
		}
		ln.Close()
		<-ln.done
		if s, st := f.counts(); s != 3 || st != 3 {
			t.Fatalf("after the listener closed: StartFactory %d, StopFactory %d times; want 3 and 3", s, st)
		}
	})
}
