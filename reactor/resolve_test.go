package reactor

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// fakeResolver answers from a table; a name in block waits until its
// channel is closed (or the lookup's context ends).
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	block   map[string]chan struct{}
	asked   []string
}

func (f *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	f.asked = append(f.asked, host)
	ch := f.block[host]
	ips, ok := f.answers[host]
	f.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, &net.DNSError{Err: ctx.Err().Error(), Name: host, IsTimeout: true}
		}
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return ips, nil
}

var _ Resolver = (*net.Resolver)(nil)

// nameHooks is a client factory that reports its hooks on channels.
type nameHooks struct {
	built   chan net.Addr
	started chan net.Addr
	failed  chan error
	failAt  chan net.Addr
}

func newNameHooks() *nameHooks {
	return &nameHooks{built: make(chan net.Addr, 1), started: make(chan net.Addr, 1), failed: make(chan error, 2), failAt: make(chan net.Addr, 2)}
}
func (f *nameHooks) BuildProtocol(a net.Addr) protocol.Protocol {
	f.built <- a
	return &protocol.Base{}
}
func (f *nameHooks) StartedConnecting(a net.Addr) { f.started <- a }
func (f *nameHooks) ClientConnectionFailed(a net.Addr, err error) {
	f.failAt <- a
	f.failed <- err
}
func (f *nameHooks) ClientConnectionLost(net.Addr, error) {}

// A host name is looked up off the loop and its addresses are tried in
// order: the first (a loopback address where nothing listens) refuses, the
// second connects, and BuildProtocol gets the address connected.
func TestConnectTCPToHostNameTriesEachAddressInOrder(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		ln0, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln0.Close()
		port := ln0.Addr().(*net.TCPAddr).Port
		res := &fakeResolver{answers: map[string][]netip.Addr{
			"backend.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")},
		}}
		r := startReactor(t, WithLoops(loops), WithResolver(res))
		f := newNameHooks()
		var d *deferred.Deferred[protocol.Protocol]
		lp := r.Loops()[loops-1]
		ran := make(chan struct{})
		lp.CallFromThread(func() {
			d = lp.ConnectTCP(net.JoinHostPort("backend.test", itoa(port)), f, 5*time.Second)
			close(ran)
		})
		<-ran
		if _, err := await(t, d); err != nil {
			t.Fatalf("connect: %v", err)
		}
		if a := <-f.started; a.String() != net.JoinHostPort("backend.test", itoa(port)) {
			t.Errorf("StartedConnecting(%v), want the host name and port", a)
		}
		if a := (<-f.built).(*net.TCPAddr); !a.IP.Equal(net.IPv4(127, 0, 0, 1)) || a.Port != port {
			t.Errorf("BuildProtocol(%v), want 127.0.0.1:%d", a, port)
		}
		select {
		case err := <-f.failed:
			t.Errorf("ClientConnectionFailed(%v) although the second address connected", err)
		default:
		}
	})
}

// A failed lookup fails the Deferred and ClientConnectionFailed with the
// resolver's own error, which errors.As finds.
func TestConnectTCPLookupFailureCarriesTheDNSError(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops), WithResolver(&fakeResolver{}))
		f := newNameHooks()
		var d *deferred.Deferred[protocol.Protocol]
		onLoop(t, r, func() { d = r.ConnectTCP("nowhere.test:80", f, 0) })
		_, err := await(t, d)
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound || dnsErr.Name != "nowhere.test" {
			t.Fatalf("Deferred failed with %v, want the resolver's *net.DNSError", err)
		}
		if !errors.Is(err, ErrLookupFailed) {
			t.Errorf("%v does not match ErrLookupFailed", err)
		}
		if err := <-f.failed; !errors.As(err, &dnsErr) {
			t.Errorf("ClientConnectionFailed(%v), want the *net.DNSError", err)
		}
		if a, ok := (<-f.failAt).(*HostAddr); !ok || a.Host != "nowhere.test" || a.Port != 80 {
			t.Errorf("ClientConnectionFailed's address is %v, want the *HostAddr", a)
		}
	})
}

// The lookup never blocks a loop: while the resolver hangs, the loop that
// asked goes on running calls and serving connections; cancelling the
// connect then ends it at once (ClientConnectionFailed once, with
// ErrConnectCancelled) and the late answer is ignored.
func TestHostNameLookupDoesNotBlockTheLoopAndCanBeCancelled(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		release := make(chan struct{})
		res := &fakeResolver{
			answers: map[string][]netip.Addr{"slow.test": {netip.MustParseAddr("127.0.0.1")}},
			block:   map[string]chan struct{}{"slow.test": release},
		}
		r := startReactor(t, WithLoops(loops), WithResolver(res))
		ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		f := newNameHooks()
		var d *deferred.Deferred[protocol.Protocol]
		onLoop(t, r, func() { d = r.ConnectTCP("slow.test:1", f, 0) })
		// Loop 0 still serves while the lookup hangs.
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, "still serving")
		onLoop(t, r, func() {})
		onLoop(t, r, func() { d.Cancel() })
		_, err = await(t, d)
		if !errors.Is(err, ErrConnectCancelled) || !errors.Is(err, deferred.ErrCancelled) {
			t.Fatalf("cancelled connect failed with %v", err)
		}
		close(release)
		if err := <-f.failed; !errors.Is(err, ErrConnectCancelled) {
			t.Errorf("ClientConnectionFailed(%v)", err)
		}
		onLoop(t, r, func() {})
		select {
		case a := <-f.built:
			t.Errorf("a protocol was built for %v after the cancel", a)
		case err := <-f.failed:
			t.Errorf("ClientConnectionFailed called again: %v", err)
		default:
		}
	})
}

// "localhost" goes through the system resolver (the hosts file: no
// network) and connects to a listener on 127.0.0.1, whichever of ::1 and
// 127.0.0.1 the resolver gives first.
func TestConnectTCPToLocalhost(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		cp := &clientProto{got: make(chan string, 1)}
		var d *deferred.Deferred[protocol.Protocol]
		port := ln.Addr().(*net.TCPAddr).Port
		onLoop(t, r, func() { d = r.ConnectTCP("localhost:"+itoa(port), protocolFactory(cp), 5*time.Second) })
		if _, err := await(t, d); err != nil {
			t.Fatal(err)
		}
		if got := <-cp.got; got != "ping" {
			t.Fatalf("echo: %q", got)
		}
	})
}

// ListenTCP takes a host name, looked up with the reactor's resolver; on a
// loop it refuses rather than block.
func TestListenTCPOnHostName(t *testing.T) {
	res := &fakeResolver{answers: map[string][]netip.Addr{"svc.test": {netip.MustParseAddr("127.0.0.1")}}}
	r := startReactor(t, WithLoops(1), WithResolver(res))
	ln, err := r.ListenTCP("svc.test:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	if a := ln.Addr().(*net.TCPAddr); !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("bound %v, want 127.0.0.1", a)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "by name")
	var onLoopErr error
	onLoop(t, r, func() { _, onLoopErr = r.ListenTCP("svc.test:0", echoFactory()) })
	if !errors.Is(onLoopErr, ErrLookupOnLoop) {
		t.Errorf("ListenTCP with a host name on a loop: %v, want ErrLookupOnLoop", onLoopErr)
	}
	_, err = r.ListenTCP("missing.test:0", echoFactory())
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !errors.Is(err, ErrLookupFailed) {
		t.Errorf("ListenTCP on an unknown name: %v, want ErrLookupFailed with the *net.DNSError", err)
	}
}

// Addresses are tried with families alternating, starting with the
// resolver's first (RFC 8305 section 4).
func TestInterleaveAlternatesFamilies(t *testing.T) {
	in := []netip.Addr{
		netip.MustParseAddr("::1"), netip.MustParseAddr("::2"), netip.MustParseAddr("::3"),
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
	}
	want := []string{"::1", "10.0.0.1", "::2", "10.0.0.2", "::3"}
	got := interleave(in)
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("interleave = %v, want %v", got, want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Stopping the reactor fails a connect still waiting for its lookup with
// ErrReactorStopping and does not wait for the resolver.
func TestStopFailsConnectsWaitingForALookup(t *testing.T) {
	res := &fakeResolver{
		answers: map[string][]netip.Addr{"hang.test": {netip.MustParseAddr("127.0.0.1")}},
		block:   map[string]chan struct{}{"hang.test": make(chan struct{})}, // never released
	}
	r := startReactor(t, WithLoops(1), WithResolver(res))
	f := newNameHooks()
	var d *deferred.Deferred[protocol.Protocol]
	onLoop(t, r, func() { d = r.ConnectTCP("hang.test:80", f, 0) })
	for {
		res.mu.Lock()
		asked := len(res.asked)
		res.mu.Unlock()
		if asked > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-f.failed; !errors.Is(err, ErrReactorStopping) {
		t.Fatalf("ClientConnectionFailed(%v), want ErrReactorStopping", err)
	}
	_ = d
}
