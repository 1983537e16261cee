package reactor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// The behaviour pinned here is Twisted's DatagramProtocol's: startProtocol
// before any datagram and stopProtocol once the port stops listening;
// datagramReceived with the sender's address; write(data, addr) and, once
// connected, write(data), receiving only from the peer and
// connectionRefused for ICMP refusals; multicast join and leave with the
// TTL and loopback options. Each test runs with one loop and with two (the
// port on the last loop, the test's own calls arriving from outside it).

// udpLoops runs fn with a reactor of 1 and of 2 loops and the loop that
// should own the port under test.
func udpLoops(t *testing.T, fn func(t *testing.T, r *Reactor, lp protocol.Loop)) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", n), func(t *testing.T) {
			r := startReactor(t, WithLoops(n))
			loops := r.Loops()
			fn(t, r, loops[len(loops)-1])
		})
	}
}

type datagram struct {
	data []byte
	from net.Addr
}

// udpRecorder records what its port tells it; channels are read by the
// test goroutine.
type udpRecorder struct {
	protocol.DatagramBase
	started chan struct{}
	stopped chan struct{}
	got     chan datagram
	refused chan struct{}
	onData  func(u *udpRecorder, data []byte, addr net.Addr)

	mu     sync.Mutex
	events []string
}

func newRecorder() *udpRecorder {
	return &udpRecorder{
		started: make(chan struct{}), stopped: make(chan struct{}),
		got: make(chan datagram, 4096), refused: make(chan struct{}, 64),
	}
}

func (u *udpRecorder) event(e string) {
	u.mu.Lock()
	u.events = append(u.events, e)
	u.mu.Unlock()
}

func (u *udpRecorder) Events() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.events...)
}

func (u *udpRecorder) StartProtocol(t protocol.DatagramTransport) {
	u.DatagramBase.StartProtocol(t)
	u.event("start")
	close(u.started)
}

func (u *udpRecorder) DatagramReceived(data []byte, addr net.Addr) {
	u.event("datagram " + string(data[:min(len(data), 16)]))
	if u.onData != nil {
		u.onData(u, data, addr)
		return
	}
	u.got <- datagram{data: bytes.Clone(data), from: addr}
}

func (u *udpRecorder) StopProtocol() {
	u.event("stop")
	close(u.stopped)
}

func (u *udpRecorder) ConnectionRefused() {
	u.event("refused")
	u.refused <- struct{}{}
}

func waitChan[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
	}
	var zero T
	return zero
}

// udpEchoer echoes every datagram to its sender.
type udpEchoer struct{ protocol.DatagramBase }

func (e *udpEchoer) DatagramReceived(data []byte, addr net.Addr) { e.Transport.WriteTo(data, addr) }

func listenUDPOn(t *testing.T, r *Reactor, lp protocol.Loop, address string, proto protocol.DatagramProtocol, opts ...UDPOption) *UDPPort {
	t.Helper()
	p, err := r.ListenUDPOn(lp, address, proto, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func goUDP(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrPort(a net.Addr) netip.AddrPort { return a.(*net.UDPAddr).AddrPort() }

// readUDP reads one datagram with a generous deadline (which only catches
// a hang).
func readUDP(t *testing.T, c *net.UDPConn) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 70000)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n], from
}

func TestUDPStartProtocolThenDatagramsWithTheSenderThenStopProtocolOnClose(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		rec := newRecorder()
		p, err := r.ListenUDPOn(lp, "127.0.0.1:0", rec)
		if err != nil {
			t.Fatal(err)
		}
		waitChan(t, rec.started, "StartProtocol")
		c := goUDP(t)
		if _, err := c.WriteToUDPAddrPort([]byte("hello"), addrPort(p.LocalAddr())); err != nil {
			t.Fatal(err)
		}
		d := waitChan(t, rec.got, "the datagram")
		if string(d.data) != "hello" {
			t.Fatalf("got %q", d.data)
		}
		if got, want := d.from.String(), c.LocalAddr().String(); got != want {
			t.Fatalf("DatagramReceived from %s, want the sender %s", got, want)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		// Close returned: StopProtocol ran and the address is free.
		if got := strings.Join(rec.Events(), ","); got != "start,datagram hello,stop" {
			t.Fatalf("calls %s, want start,datagram hello,stop", got)
		}
		again, err := net.ListenPacket("udp", p.LocalAddr().String())
		if err != nil {
			t.Fatalf("rebinding after Close: %v", err)
		}
		again.Close()
		if err := p.Close(); !errors.Is(err, ErrPortClosed) {
			t.Fatalf("second Close: %v, want ErrPortClosed", err)
		}
	})
}

func TestUDPStartProtocolRunsBeforeListenUDPReturnsOnTheLoop(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	rec := newRecorder()
	var started bool
	onLoop(t, r, func() {
		p, err := r.ListenUDP("127.0.0.1:0", rec)
		if err != nil {
			t.Error(err)
			return
		}
		select {
		case <-rec.started:
			started = true
		default:
		}
		p.Close()
	})
	if !started {
		t.Fatal("StartProtocol had not run when ListenUDP returned on the loop (Twisted's listenUDP starts the protocol)")
	}
	waitChan(t, rec.stopped, "StopProtocol")
}

// echoCheck sends count datagrams of random sizes (4 to 1,400 bytes: a
// sequence number and random bytes) from c to addr, at most window
// outstanding, resending any not echoed within a while (UDP may lose
// datagrams, even on loopback), until every one has come back intact. It
// returns how many it resent.
func echoCheck(c *net.UDPConn, to netip.AddrPort, count, window int, seed int64) (int, error) {
	rng := rand.New(rand.NewSource(seed))
	payloads := make([][]byte, count)
	for i := range payloads {
		b := make([]byte, 4+rng.Intn(1397))
		rng.Read(b)
		binary.BigEndian.PutUint32(b, uint32(i))
		payloads[i] = b
	}
	sentAt := make(map[int]time.Time)
	echoed := make([]bool, count)
	next, done, resent := 0, 0, 0
	buf := make([]byte, 2048)
	const retry = 200 * time.Millisecond
	giveUp := time.Now().Add(2 * time.Minute)
	for done < count {
		for len(sentAt) < window && next < count {
			if _, err := c.WriteToUDPAddrPort(payloads[next], to); err != nil {
				return resent, err
			}
			sentAt[next] = time.Now()
			next++
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err == nil {
			if from != to || n < 4 {
				return resent, fmt.Errorf("datagram from %v of %d bytes", from, n)
			}
			seq := int(binary.BigEndian.Uint32(buf))
			if seq >= count || !bytes.Equal(buf[:n], payloads[seq]) {
				return resent, fmt.Errorf("echo of datagram %d differs", seq)
			}
			if !echoed[seq] {
				echoed[seq] = true
				delete(sentAt, seq)
				done++
			}
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return resent, err
		}
		if time.Now().After(giveUp) {
			return resent, fmt.Errorf("%d of %d echoed", done, count)
		}
		for seq, at := range sentAt {
			if time.Since(at) >= retry {
				c.WriteToUDPAddrPort(payloads[seq], to)
				sentAt[seq] = time.Now()
				resent++
			}
		}
	}
	return resent, nil
}

func TestUDPEchoesManyDatagramsFromManyClientsIntact(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		p := listenUDPOn(t, r, lp, "127.0.0.1:0", &udpEchoer{})
		const clients, each = 8, 5000
		errs := make(chan error, clients)
		for i := range clients {
			c := goUDP(t)
			go func() {
				resent, err := echoCheck(c, addrPort(p.LocalAddr()), each, 64, int64(i))
				if err == nil && resent > 0 {
					t.Logf("client %d resent %d datagrams", i, resent)
				}
				errs <- err
			}()
		}
		for range clients {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		// Every datagram received was echoed (the last counts may land
		// just after the client saw its echo).
		waitFor(t, "every datagram received to be echoed", func() bool {
			s := p.Stats()
			return s.Received >= clients*each && s.Sent == s.Received && s.Dropped == 0 && s.Errors == 0
		})
	})
}

// windowClient is a Mustaine DatagramProtocol with echoCheck's algorithm,
// through a connected port: Write, not WriteTo.
type windowClient struct {
	protocol.DatagramBase
	peer     net.Addr
	payloads [][]byte
	sentAt   map[int]time.Time
	echoed   []bool
	next     int
	left     int
	done     chan error
	retry    func()
}

func newWindowClient(peer net.Addr, count int) *windowClient {
	w := &windowClient{peer: peer, sentAt: map[int]time.Time{}, echoed: make([]bool, count), left: count, done: make(chan error, 1)}
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < count; i++ {
		b := make([]byte, 4+rng.Intn(1397))
		rng.Read(b)
		binary.BigEndian.PutUint32(b, uint32(i))
		w.payloads = append(w.payloads, b)
	}
	return w
}

func (w *windowClient) StartProtocol(t protocol.DatagramTransport) {
	w.DatagramBase.StartProtocol(t)
	if err := t.Connect(w.peer); err != nil {
		w.done <- err
		return
	}
	w.fill()
	w.retry = func() {
		if w.left == 0 {
			return
		}
		for seq, at := range w.sentAt {
			if time.Since(at) >= 200*time.Millisecond {
				w.Transport.Write(w.payloads[seq])
				w.sentAt[seq] = time.Now()
			}
		}
		w.Transport.Loop().CallLater(50*time.Millisecond, w.retry)
	}
	t.Loop().CallLater(50*time.Millisecond, w.retry)
}

func (w *windowClient) fill() {
	for len(w.sentAt) < 32 && w.next < len(w.payloads) {
		if _, err := w.Transport.Write(w.payloads[w.next]); err != nil {
			w.done <- err
			return
		}
		w.sentAt[w.next] = time.Now()
		w.next++
	}
}

func (w *windowClient) DatagramReceived(data []byte, addr net.Addr) {
	if addr.String() != w.peer.String() || len(data) < 4 {
		w.done <- fmt.Errorf("datagram from %v", addr)
		return
	}
	seq := int(binary.BigEndian.Uint32(data))
	if seq >= len(w.payloads) || !bytes.Equal(data, w.payloads[seq]) {
		w.done <- fmt.Errorf("echo of %d differs", seq)
		return
	}
	if w.echoed[seq] {
		return
	}
	w.echoed[seq] = true
	delete(w.sentAt, seq)
	if w.left--; w.left == 0 {
		w.done <- nil
		return
	}
	w.fill()
}

func TestUDPConnectedMustaineClientGetsEveryDatagramEchoedByAMustaineServer(t *testing.T) {
	// With two loops the client's port is on loop 0 and the server's on
	// loop 1.
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		server := listenUDPOn(t, r, lp, "127.0.0.1:0", &udpEchoer{})
		client := newWindowClient(server.LocalAddr(), 5000)
		cp := listenUDPOn(t, r, r.Loops()[0], "127.0.0.1:0", client)
		if err := waitChan(t, client.done, "the echoes"); err != nil {
			t.Fatal(err)
		}
		var remote net.Addr
		onLoopOf(t, cp.Loop(), func() { remote = cp.RemoteAddr() })
		if remote.String() != server.LocalAddr().String() {
			t.Fatalf("RemoteAddr %v, want %v", remote, server.LocalAddr())
		}
	})
}

// closedUDPPort returns a loopback address nobody listens on.
func closedUDPPort(t *testing.T) *net.UDPAddr {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := c.LocalAddr().(*net.UDPAddr)
	c.Close()
	return a
}

func TestUDPConnectedPortToAClosedPortGetsConnectionRefused(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		rec := newRecorder()
		p := listenUDPOn(t, r, lp, "127.0.0.1:0", rec)
		closed := closedUDPPort(t)
		onLoopOf(t, lp, func() {
			if err := p.Connect(closed); err != nil {
				t.Error(err)
			}
			if _, err := p.Write([]byte("anyone?")); err != nil {
				t.Error(err)
			}
		})
		waitChan(t, rec.refused, "ConnectionRefused")
		// The port goes on: a refusal is not fatal (Twisted).
		var err error
		onLoopOf(t, lp, func() { _, err = p.Write([]byte("still there")) })
		if err != nil {
			t.Fatalf("Write after a refusal: %v", err)
		}
		if p.Stats().Refused == 0 {
			t.Fatal("Stats().Refused is 0")
		}
	})
}

func TestUDPUnconnectedPortIsNotToldOfRefusals(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		rec := newRecorder()
		p := listenUDPOn(t, r, lp, "127.0.0.1:0", rec)
		c := goUDP(t)
		onLoopOf(t, lp, func() {
			p.WriteTo([]byte("anyone?"), closedUDPPort(t))
		})
		// The refusal of the first datagram is handled by the kernel
		// before the second is sent (loopback delivers within the send),
		// so once the second has been answered, a refusal would have been
		// reported.
		onLoopOf(t, lp, func() { p.WriteTo([]byte("ping"), c.LocalAddr()) })
		readUDP(t, c)
		c.WriteToUDPAddrPort([]byte("pong"), addrPort(p.LocalAddr()))
		waitChan(t, rec.got, "pong")
		if got := strings.Join(rec.Events(), ","); got != "start,datagram pong" {
			t.Fatalf("calls %s: an unconnected port was told of a refusal", got)
		}
	})
}

func TestUDPConnectedPortReceivesOnlyFromItsPeer(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		rec := newRecorder()
		p := listenUDPOn(t, r, lp, "127.0.0.1:0", rec)
		peer, stranger := goUDP(t), goUDP(t)
		onLoopOf(t, lp, func() {
			if err := p.Connect(peer.LocalAddr()); err != nil {
				t.Error(err)
			}
		})
		stranger.WriteToUDPAddrPort([]byte("from stranger"), addrPort(p.LocalAddr()))
		peer.WriteToUDPAddrPort([]byte("from peer"), addrPort(p.LocalAddr()))
		d := waitChan(t, rec.got, "the peer's datagram")
		if string(d.data) != "from peer" || d.from.String() != peer.LocalAddr().String() {
			t.Fatalf("got %q from %v, want the peer's datagram only", d.data, d.from)
		}
		// Write goes to the peer.
		onLoopOf(t, lp, func() { p.Write([]byte("to peer")) })
		if b, _ := readUDP(t, peer); string(b) != "to peer" {
			t.Fatalf("peer got %q", b)
		}
	})
}

// strAddr is a net.Addr given by its string.
type strAddr string

func (a strAddr) Network() string { return "udp" }
func (a strAddr) String() string  { return string(a) }

func TestUDPConnectAndWriteRules(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	p := listenUDPOn(t, r, r.Loops()[0], "127.0.0.1:0", newRecorder())
	a, b := goUDP(t), goUDP(t)
	onLoop(t, r, func() {
		if _, err := p.Write([]byte("x")); !errors.Is(err, protocol.ErrNotConnected) {
			t.Errorf("Write before Connect: %v, want ErrNotConnected", err)
		}
		if _, err := p.WriteTo([]byte("x"), nil); !errors.Is(err, protocol.ErrNotConnected) {
			t.Errorf("WriteTo(nil) unconnected: %v, want ErrNotConnected", err)
		}
		if p.RemoteAddr() != nil {
			t.Errorf("RemoteAddr before Connect: %v", p.RemoteAddr())
		}
		// Twisted: "please pass only IP addresses, not domain names".
		if err := p.Connect(strAddr("localhost:53")); !errors.Is(err, ErrBadAddress) {
			t.Errorf("Connect to a host name: %v, want ErrBadAddress", err)
		}
		if err := p.Connect(strAddr(a.LocalAddr().String())); err != nil {
			t.Errorf("Connect: %v", err)
		}
		if err := p.Connect(b.LocalAddr()); !errors.Is(err, protocol.ErrAlreadyConnected) {
			t.Errorf("second Connect: %v, want ErrAlreadyConnected", err)
		}
		if _, err := p.WriteTo([]byte("x"), b.LocalAddr()); !errors.Is(err, protocol.ErrAlreadyConnected) {
			t.Errorf("WriteTo another peer once connected: %v, want ErrAlreadyConnected", err)
		}
		if _, err := p.WriteTo([]byte("to a"), a.LocalAddr()); err != nil {
			t.Errorf("WriteTo the peer: %v", err)
		}
	})
	if got, _ := readUDP(t, a); string(got) != "to a" {
		t.Fatalf("peer got %q", got)
	}
}

func TestUDPWritesFromTimersAndOtherGoroutinesAreSent(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		p := listenUDPOn(t, r, lp, "127.0.0.1:0", newRecorder())
		c := goUDP(t)
		to := c.LocalAddr()
		lp.CallFromThread(func() {
			lp.CallLater(time.Millisecond, func() { p.WriteTo([]byte("from a timer"), to) })
			p.WriteTo([]byte("from a queued call"), to)
		})
		if b, _ := readUDP(t, c); string(b) != "from a queued call" {
			t.Fatalf("got %q", b)
		}
		if b, _ := readUDP(t, c); string(b) != "from a timer" {
			t.Fatalf("got %q", b)
		}
	})
}

func TestUDPDatagramTooLongIsRefusedAndNothingElseIsLost(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		p := listenUDPOn(t, r, lp, "127.0.0.1:0", newRecorder())
		c := goUDP(t)
		c.SetReadBuffer(1 << 20)
		big := bytes.Repeat([]byte("0123456789abcdef"), 65507/16+1)
		var errTooLong, errMax error
		onLoopOf(t, lp, func() {
			p.WriteTo([]byte("before"), c.LocalAddr())
			_, errTooLong = p.WriteTo(big[:65508], c.LocalAddr())
			_, errMax = p.WriteTo(big[:65507], c.LocalAddr())
			p.WriteTo([]byte("after"), c.LocalAddr())
		})
		if !errors.Is(errTooLong, protocol.ErrMessageTooLong) {
			t.Fatalf("a 65,508-byte datagram: %v, want ErrMessageTooLong", errTooLong)
		}
		if errMax != nil {
			t.Fatalf("a 65,507-byte datagram: %v", errMax)
		}
		for _, want := range [][]byte{[]byte("before"), big[:65507], []byte("after")} {
			if got, _ := readUDP(t, c); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
		}
	})
}

func TestUDPDatagramReceivedPanicIsLoggedAndThePortGoesOn(t *testing.T) {
	var log syncBuffer
	r := startReactor(t, WithLoops(1), WithLogger(zerolog.New(&log)))
	rec := newRecorder()
	rec.onData = func(u *udpRecorder, data []byte, addr net.Addr) {
		if string(data) == "boom" {
			panic("boom")
		}
		u.Transport.WriteTo(data, addr)
	}
	p := listenUDPOn(t, r, r.Loops()[0], "127.0.0.1:0", rec)
	c := goUDP(t)
	c.WriteToUDPAddrPort([]byte("boom"), addrPort(p.LocalAddr()))
	c.WriteToUDPAddrPort([]byte("fine"), addrPort(p.LocalAddr()))
	if b, _ := readUDP(t, c); string(b) != "fine" {
		t.Fatalf("got %q", b)
	}
	if !strings.Contains(log.String(), "callback panicked") {
		t.Fatalf("panic not logged: %s", log.String())
	}
}

func TestUDPCloseInsideDatagramReceivedStopsDelivery(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	rec := newRecorder()
	var stoppedBeforeCloseReturned bool
	rec.onData = func(u *udpRecorder, data []byte, addr net.Addr) {
		u.Transport.StopListening()
		select {
		case <-u.stopped:
			stoppedBeforeCloseReturned = true
		default:
		}
	}
	p := listenUDPOn(t, r, r.Loops()[0], "127.0.0.1:0", rec)
	waitChan(t, rec.started, "StartProtocol")
	c := goUDP(t)
	// Several datagrams, likely in one batch: only the first is delivered.
	for range 5 {
		c.WriteToUDPAddrPort([]byte("x"), addrPort(p.LocalAddr()))
	}
	waitChan(t, rec.stopped, "StopProtocol")
	onLoop(t, r, func() {})
	if got := strings.Join(rec.Events(), ","); got != "start,datagram x,stop" {
		t.Fatalf("calls %s", got)
	}
	if !stoppedBeforeCloseReturned {
		t.Fatal("StopProtocol had not run when StopListening returned")
	}
}

func TestUDPReactorStopClosesPortsAndCallsStopProtocol(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	rec := newRecorder()
	p, err := r.ListenUDPOn(r.Loops()[1], "127.0.0.1:0", rec)
	if err != nil {
		t.Fatal(err)
	}
	waitChan(t, rec.started, "StartProtocol")
	r.Stop()
	waitChan(t, rec.stopped, "StopProtocol")
	again, err := net.ListenPacket("udp", p.LocalAddr().String())
	if err != nil {
		t.Fatalf("the port is still bound after the reactor stopped: %v", err)
	}
	again.Close()
	if err := p.Close(); !errors.Is(err, ErrPortClosed) {
		t.Fatalf("Close after the reactor closed the port: %v", err)
	}
}

func TestUDPListenOnAPortInUseFails(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	c := goUDP(t)
	_, err := r.ListenUDP(c.LocalAddr().String(), newRecorder())
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("ListenUDP on a bound port: %v, want EADDRINUSE", err)
	}
}

func TestUDPSteadyStateEchoAllocatesNothingPerDatagram(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	r := startReactor(t, WithLoops(1))
	p := listenUDPOn(t, r, r.Loops()[0], "127.0.0.1:0", &udpEchoer{})
	c := goUDP(t)
	to := addrPort(p.LocalAddr())
	const window = 16
	msg := make([]byte, 64)
	buf := make([]byte, 2048)
	round := func() {
		for range window {
			c.WriteToUDPAddrPort(msg, to)
		}
		for range window {
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				t.Fatalf("read: %v", err)
			}
		}
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	round() // the port's queue and the address table warm up
	allocs := testing.AllocsPerRun(200, round)
	// The client's own calls allocate nothing either; allow one stray
	// runtime allocation per round, well below one per datagram.
	if allocs > 1 {
		t.Fatalf("%.1f allocations per round of %d datagrams echoed", allocs, window)
	}
	t.Logf("%.2f allocations per round of %d datagrams", allocs, window)
}

// loopbackInterface finds the loopback interface, or skips.
func loopbackInterface(t *testing.T) *net.Interface {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Skipf("no interfaces: %v", err)
	}
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback != 0 && ifs[i].Flags&net.FlagUp != 0 {
			return &ifs[i]
		}
	}
	t.Skip("no loopback interface is up")
	return nil
}

func TestUDPMulticastJoinLeaveTTLAndLoopbackOnTheLoopbackInterface(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		lo := loopbackInterface(t)
		group := net.IPv4(239, 255, 14, 14)
		// Two members on one port (Twisted's listenMultiple) both get a
		// copy of each datagram sent to the group.
		a := newRecorder()
		pa := listenUDPOn(t, r, lp, "0.0.0.0:0", a, WithUDPReuseAddr())
		port := pa.LocalAddr().(*net.UDPAddr).Port
		b := newRecorder()
		pb := listenUDPOn(t, r, lp, fmt.Sprintf("0.0.0.0:%d", port), b, WithUDPReuseAddr())
		sender := newRecorder()
		ps := listenUDPOn(t, r, r.Loops()[0], "127.0.0.1:0", sender)
		var joinErr error
		onLoopOf(t, lp, func() {
			if joinErr = pa.JoinGroup(group, lo); joinErr == nil {
				joinErr = pb.JoinGroup(group, lo)
			}
		})
		if joinErr != nil {
			t.Skipf("cannot join %v on %s (%v): the kernel does not allow multicast on loopback here", group, lo.Name, joinErr)
		}
		to := &net.UDPAddr{IP: group, Port: port}
		onLoopOf(t, ps.Loop(), func() {
			for _, err := range []error{ps.SetMulticastInterface(lo), ps.SetMulticastTTL(1), ps.SetMulticastLoopback(true)} {
				if err != nil {
					t.Error(err)
				}
			}
			ps.WriteTo([]byte("to the group"), to)
		})
		waitFor(t, "the datagram to be sent or refused", func() bool { s := ps.Stats(); return s.Sent+s.Errors > 0 })
		if ps.Stats().Errors > 0 {
			t.Skipf("the kernel refused to send to %v on %s (flags %v): no IPv4 multicast route there", group, lo.Name, lo.Flags)
		}
		for _, m := range []*udpRecorder{a, b} {
			d := waitChan(t, m.got, "the group's datagram")
			if string(d.data) != "to the group" || d.from.String() != ps.LocalAddr().String() {
				t.Fatalf("member got %q from %v", d.data, d.from)
			}
		}
		if ttl, err := unix.GetsockoptInt(ps.fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL); err != nil || ttl != 1 {
			t.Fatalf("IP_MULTICAST_TTL %d, %v", ttl, err)
		}
		onLoopOf(t, ps.Loop(), func() {
			if err := ps.SetMulticastTTL(7); err != nil {
				t.Error(err)
			}
		})
		if ttl, _ := unix.GetsockoptInt(ps.fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL); ttl != 7 {
			t.Fatalf("IP_MULTICAST_TTL %d after SetMulticastTTL(7)", ttl)
		}

		// Once both have left, the host is no member: a datagram to the
		// group reaches neither. A unicast datagram to the port sent right
		// after it, in the same sendmmsg, shows it had its chance: loopback
		// delivers in order, within the sending call.
		onLoopOf(t, lp, func() {
			for _, p := range []*UDPPort{pa, pb} {
				if err := p.LeaveGroup(group, lo); err != nil {
					t.Error(err)
				}
			}
		})
		marker := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
		onLoopOf(t, ps.Loop(), func() {
			ps.WriteTo([]byte("after leaving"), to)
			ps.WriteTo([]byte("marker"), marker)
		})
		// The unicast marker goes to one of the two sockets on the port.
		select {
		case d := <-a.got:
			if string(d.data) != "marker" {
				t.Fatalf("a got %q after leaving the group", d.data)
			}
		case d := <-b.got:
			if string(d.data) != "marker" {
				t.Fatalf("b got %q after leaving the group", d.data)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no marker")
		}
		onLoopOf(t, lp, func() {})
		if len(a.got)+len(b.got) != 0 {
			t.Fatal("a member got a datagram for a group it left")
		}
		// Multicast loopback cannot be observed on the loopback interface
		// itself (what is sent on lo is delivered locally whatever
		// IP_MULTICAST_LOOP says), so only the socket option is checked.
		onLoopOf(t, ps.Loop(), func() {
			if err := ps.SetMulticastLoopback(false); err != nil {
				t.Error(err)
			}
		})
		if v, err := unix.GetsockoptInt(ps.fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP); err != nil || v != 0 {
			t.Fatalf("IP_MULTICAST_LOOP %d, %v after SetMulticastLoopback(false)", v, err)
		}
	})
}

func TestUDPDualStackPortAnswersIPv4AndIPv6Peers(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		p, err := r.ListenUDPOn(lp, "[::]:0", &udpEchoer{})
		if err != nil {
			t.Skipf("no IPv6: %v", err)
		}
		t.Cleanup(func() { p.Close() })
		port := p.LocalAddr().(*net.UDPAddr).Port
		for _, network := range []string{"udp4", "udp6"} {
			host := "127.0.0.1"
			if network == "udp6" {
				host = "::1"
			}
			c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(host)})
			if err != nil {
				t.Skipf("%s: %v", network, err)
			}
			defer c.Close()
			to := netip.AddrPortFrom(netip.MustParseAddr(host), uint16(port))
			if _, err := echoCheck(c, to, 500, 16, 1); err != nil {
				t.Fatalf("%s: %v", network, err)
			}
		}
	})
}

func TestUDPIPv6MulticastOnTheLoopbackInterface(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	lo := loopbackInterface(t)
	group := net.ParseIP("ff01::1:14")
	rec := newRecorder()
	p, err := r.ListenUDP("[::]:0", rec)
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	var joinErr, ifErr error
	onLoop(t, r, func() {
		joinErr = p.JoinGroup(group, lo)
		ifErr = p.SetMulticastInterface(lo)
	})
	if joinErr != nil || ifErr != nil {
		t.Skipf("cannot use IPv6 multicast on %s: %v, %v", lo.Name, joinErr, ifErr)
	}
	to := &net.UDPAddr{IP: group, Port: p.LocalAddr().(*net.UDPAddr).Port, Zone: lo.Name}
	onLoop(t, r, func() { p.WriteTo([]byte("v6 group"), to) })
	waitFor(t, "the datagram to be sent or refused", func() bool { s := p.Stats(); return s.Sent+s.Errors > 0 })
	if p.Stats().Errors > 0 {
		// Linux routes IPv6 multicast only on interfaces flagged
		// MULTICAST; giving lo the flag needs root and changes the host.
		t.Skipf("the kernel refused to send to %v on %s (flags %v): no IPv6 multicast route there", group, lo.Name, lo.Flags)
	}
	if d := waitChan(t, rec.got, "the group's datagram"); string(d.data) != "v6 group" {
		t.Fatalf("got %q", d.data)
	}
}

func TestUDPListenUDPEachServesTheAddressOnEveryLoop(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	var mu sync.Mutex
	protoLoops := map[int]bool{}
	ports, err := r.ListenUDPEach("127.0.0.1:0", func(lp protocol.Loop) protocol.DatagramProtocol {
		mu.Lock()
		protoLoops[lp.Index()] = true
		mu.Unlock()
		return &udpEchoer{}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		t.Cleanup(func() { p.Close() })
	}
	if runtime.GOOS != "linux" {
		if len(ports) != 1 {
			t.Fatalf("%d ports, want 1 where SO_REUSEPORT does not spread datagrams", len(ports))
		}
		return
	}
	if len(ports) != 2 || len(protoLoops) != 2 || ports[0].Loop() == ports[1].Loop() {
		t.Fatalf("%d ports on loops %v, want one per loop", len(ports), protoLoops)
	}
	if ports[0].LocalAddr().String() != ports[1].LocalAddr().String() {
		t.Fatalf("ports on %v and %v, want one address", ports[0].LocalAddr(), ports[1].LocalAddr())
	}
	// 64 senders: the kernel's hash puts all of them on one socket with
	// probability 2^-63.
	const clients = 64
	errs := make(chan error, clients)
	for i := range clients {
		c := goUDP(t)
		go func() {
			_, err := echoCheck(c, addrPort(ports[0].LocalAddr()), 50, 8, int64(i))
			errs <- err
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range ports {
		if p.Stats().Received == 0 {
			t.Fatalf("port %d (loop %d) received nothing", i, p.Loop().Index())
		}
	}
}

func TestUDPListenUDPEachRefusesAPortHeldByAnotherSocket(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	newEcho := func(protocol.Loop) protocol.DatagramProtocol { return &udpEchoer{} }
	plain := goUDP(t)
	if _, err := r.ListenUDPEach(plain.LocalAddr().String(), newEcho); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("on a port a plain socket holds: %v, want EADDRINUSE", err)
	}
	// A SO_REUSEPORT socket of the same user would let the group join it
	// and share its datagrams: refused too.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	if _, err := r.ListenUDPEach(addr, newEcho); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("on a port a SO_REUSEPORT socket holds: %v, want EADDRINUSE", err)
	}
}

func TestUDPLoopsClosingEachOthersPortsDoNotDeadlock(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	loops := r.Loops()
	recs := []*udpRecorder{newRecorder(), newRecorder()}
	ports := []*UDPPort{
		listenUDPOn(t, r, loops[0], "127.0.0.1:0", recs[0]),
		listenUDPOn(t, r, loops[1], "127.0.0.1:0", recs[1]),
	}
	waitChan(t, recs[0].started, "StartProtocol")
	waitChan(t, recs[1].started, "StartProtocol")
	// Each loop closes the other's port at the same moment.
	start := make(chan struct{})
	for i := range 2 {
		loops[i].CallFromThread(func() {
			<-start
			if err := ports[1-i].Close(); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	waitChan(t, recs[0].stopped, "StopProtocol on loop 0")
	waitChan(t, recs[1].stopped, "StopProtocol on loop 1")
}

// A UDP socket reports writability each time the kernel frees a sent
// datagram; a port must not wake its loop for those (only while the kernel
// refuses datagrams): one ping-pong, one loop turn.
func TestUDPSendingDoesNotWakeTheLoopAgain(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	p := listenUDPOn(t, r, r.Loops()[0], "127.0.0.1:0", &udpEchoer{})
	c := goUDP(t)
	to := addrPort(p.LocalAddr())
	buf := make([]byte, 100)
	var t0, t1 uint64
	onLoop(t, r, func() { t0 = r.loops[0].turns })
	const exchanges = 1000
	c.SetReadDeadline(time.Now().Add(time.Minute))
	for range exchanges {
		c.WriteToUDPAddrPort([]byte("x"), to)
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
	onLoop(t, r, func() { t1 = r.loops[0].turns })
	if per := float64(t1-t0) / exchanges; per > 1.1 {
		t.Fatalf("%.2f loop turns per exchange, want 1", per)
	}
}
