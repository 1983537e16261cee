package reactor

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// recordingClientFactory records Twisted's client factory hooks.
type recordingClientFactory struct {
	mu     sync.Mutex
	events []string
	proto  protocol.Protocol
	lost   chan error
}

func (f *recordingClientFactory) BuildProtocol(net.Addr) protocol.Protocol {
	f.log("build")
	return f.proto
}
func (f *recordingClientFactory) StartedConnecting(net.Addr) { f.log("started") }
func (f *recordingClientFactory) ClientConnectionFailed(_ net.Addr, err error) {
	f.log("failed")
}
func (f *recordingClientFactory) ClientConnectionLost(_ net.Addr, err error) {
	f.log("lost")
	f.lost <- err
}
func (f *recordingClientFactory) log(e string) {
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
}
func (f *recordingClientFactory) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

func await[T any](t *testing.T, d *deferred.Deferred[T]) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return d.Await(ctx)
}

// clientProto records what a client connection receives.
type clientProto struct {
	protocol.Base
	got  chan string
	made bool
}

func (c *clientProto) ConnectionMade(t protocol.Transport) {
	c.Base.ConnectionMade(t)
	c.made = true
	t.Write([]byte("ping"))
}
func (c *clientProto) DataReceived(b []byte) { c.got <- string(b) }

func TestConnectTCPFiresWithProtocolAfterConnectionMadeAndRunsClientHooks(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	cp := &clientProto{got: make(chan string, 1)}
	f := &recordingClientFactory{proto: cp, lost: make(chan error, 1)}
	var d *deferred.Deferred[protocol.Protocol]
	madeBeforeFire := make(chan bool, 1)
	onLoop(t, r, func() {
		d = r.ConnectTCP(ln.Addr().String(), f, 5*time.Second)
		d.AddCallback(func(p protocol.Protocol) (protocol.Protocol, error) {
			madeBeforeFire <- p.(*clientProto).made
			return p, nil
		})
	})
	p, err := await(t, d)
	if err != nil || p != cp {
		t.Fatalf("ConnectTCP: %v, %v", p, err)
	}
	if !<-madeBeforeFire {
		t.Fatal("the Deferred fired before ConnectionMade")
	}
	if got := <-cp.got; got != "ping" {
		t.Fatalf("echo %q", got)
	}
	r.CallFromThread(func() { cp.Transport.LoseConnection() })
	if err := <-f.lost; !errors.Is(err, protocol.ErrConnectionDone) {
		t.Fatalf("ClientConnectionLost(%v), want ErrConnectionDone", err)
	}
	want := []string{"started", "build", "lost"}
	if got := f.got(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("hooks %v, want %v", got, want)
	}
}

func TestConnectTCPRefusedFailsWithErrConnectRefused(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	// A port that was just free: nothing listens there.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	f := &recordingClientFactory{lost: make(chan error, 1)}
	var d *deferred.Deferred[protocol.Protocol]
	onLoop(t, r, func() { d = r.ConnectTCP(addr, f, 5*time.Second) })
	_, err := await(t, d)
	if !errors.Is(err, ErrConnectRefused) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err %v, want ErrConnectRefused wrapping ECONNREFUSED", err)
	}
	// One line, kind first then cause, as a user printing it expects.
	if got, want := err.Error(), ErrConnectRefused.Error()+": "; strings.ContainsAny(got, "\r\n") || !strings.HasPrefix(got, want) {
		t.Fatalf("err text %q, want one line starting %q", got, want)
	}
	if got := f.got(); len(got) != 2 || got[1] != "failed" {
		t.Fatalf("hooks %v, want started, failed", got)
	}
}

// blackHole returns an address whose accept queue is full, so a new
// connect gets no answer and hangs until its timeout.
func blackHole(t *testing.T) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}).String()
	// Fill the backlog with connections nobody accepts.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

func TestConnectTCPTimesOutWithErrConnectTimeout(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	addr := blackHole(t)
	var d *deferred.Deferred[protocol.Protocol]
	onLoop(t, r, func() {
		d = r.ConnectTCP(addr, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }), 100*time.Millisecond)
	})
	if _, err := await(t, d); !errors.Is(err, ErrConnectTimeout) {
		t.Fatalf("err %v, want ErrConnectTimeout", err)
	}
}

func TestCancelledConnectFailsWithErrConnectCancelled(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	addr := blackHole(t)
	var d *deferred.Deferred[protocol.Protocol]
	onLoop(t, r, func() {
		d = r.ConnectTCP(addr, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }), 0)
	})
	onLoop(t, r, func() { d.Cancel() })
	_, err := await(t, d)
	if !errors.Is(err, ErrConnectCancelled) || !errors.Is(err, deferred.ErrCancelled) {
		t.Fatalf("err %v, want ErrConnectCancelled and deferred.ErrCancelled", err)
	}
}

func TestConnectUnixEchoes(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	path := t.TempDir() + "/s"
	if _, err := r.ListenUnix(path, echoFactory()); err != nil {
		t.Fatal(err)
	}
	cp := &clientProto{got: make(chan string, 1)}
	var d *deferred.Deferred[protocol.Protocol]
	onLoop(t, r, func() { d = r.ConnectUnix(path, protocolFactory(cp), time.Second) })
	if _, err := await(t, d); err != nil {
		t.Fatal(err)
	}
	if got := <-cp.got; got != "ping" {
		t.Fatalf("echo %q", got)
	}
}

func TestListenTCPIPv6AndBadAddresses(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	if ln, err := r.ListenTCP("[::1]:0", echoFactory()); err == nil {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, "v6")
	} else {
		t.Logf("no IPv6 loopback here: %v", err)
	}
	for _, bad := range []string{"nonsense", "no such host!:80", "127.0.0.1:notaport"} {
		if _, err := r.ListenTCP(bad, echoFactory()); !errors.Is(err, ErrBadAddress) {
			t.Errorf("ListenTCP(%q): %v, want ErrBadAddress", bad, err)
		}
	}
	if ln, err := r.ListenTCP("127.0.0.1:0", echoFactory()); err != nil {
		t.Fatal(err)
	} else if err := ln.Close(); err != nil {
		t.Fatal(err)
	} else if err := ln.Close(); !errors.Is(err, ErrListenerClosed) {
		t.Fatalf("second Close: %v, want ErrListenerClosed", err)
	}
}

// countingFactory counts Twisted's doStart/doStop.
type countingFactory struct {
	mu            sync.Mutex
	starts, stops int
}

func (f *countingFactory) BuildProtocol(net.Addr) protocol.Protocol { return &echoProto{} }
func (f *countingFactory) StartFactory()                            { f.mu.Lock(); f.starts++; f.mu.Unlock() }
func (f *countingFactory) StopFactory()                             { f.mu.Lock(); f.stops++; f.mu.Unlock() }
func (f *countingFactory) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts, f.stops
}

func TestFactoryStartAndStopAreReferenceCountedAcrossListeners(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	f := &countingFactory{}
	a, err := r.ListenTCP("127.0.0.1:0", f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.ListenTCP("127.0.0.1:0", f)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := f.counts(); s != 1 {
		t.Fatalf("StartFactory ran %d times for two listeners, want 1", s)
	}
	a.Close()
	<-a.done
	if _, st := f.counts(); st != 0 {
		t.Fatalf("StopFactory ran while a listener still uses the factory")
	}
	b.Close()
	<-b.done
	if s, st := f.counts(); s != 1 || st != 1 {
		t.Fatalf("starts %d stops %d, want 1 and 1", s, st)
	}
}
