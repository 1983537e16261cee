package reactor

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// closeKindProto echoes what it reads, except that a chunk ending in '!'
// closes the connection cleanly (LoseConnection) and one ending in '#'
// aborts it; the control byte is not echoed. It is not half-close aware,
// so the peer's FIN closes it (protocol.ErrPeerClosed).
type closeKindProto struct{ protocol.Base }

func (p *closeKindProto) DataReceived(b []byte) {
	switch b[len(b)-1] {
	case '#':
		p.Transport.AbortConnection()
		return
	case '!':
		p.Transport.Write(b[:len(b)-1])
		p.Transport.LoseConnection()
		return
	}
	p.Transport.Write(b)
}

// statsClient is one client connection of TestStatsCountsExactly: it
// sends payload, reads it back, then ends the connection its way.
type statsClient struct {
	kind    string // clean, peer, abort, reset
	payload []byte
}

// run plays the client and reports the bytes it sent.
func (sc statsClient) run(t *testing.T, addr string) (sent int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer c.Close()
	if _, err := c.Write(sc.payload); err != nil {
		t.Error(err)
		return 0
	}
	echo := make([]byte, len(sc.payload))
	if _, err := io.ReadFull(c, echo); err != nil || !bytes.Equal(echo, sc.payload) {
		t.Errorf("%s: echo %q, %v; want %q", sc.kind, echo, err, sc.payload)
		return len(sc.payload)
	}
	sent = len(sc.payload)
	switch sc.kind {
	case "clean", "abort":
		ctl := map[string]string{"clean": "!", "abort": "#"}[sc.kind]
		if _, err := c.Write([]byte(ctl)); err != nil {
			t.Error(err)
		}
		sent++
		io.Copy(io.Discard, c) // EOF or the reset
	case "peer":
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	case "reset":
		c.(*net.TCPConn).SetLinger(0) // Close sends RST
	}
	return sent
}

// goPeer is a Go server that reads want bytes from each connection, then
// answers reply and closes.
func goPeer(t *testing.T, want int, reply []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.ReadFull(c, make([]byte, want)); err == nil {
					c.Write(reply)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestStatsCountsExactly pins that Stats reports exactly the connections
// made, the bytes that crossed the sockets and how each connection ended:
// accepted connections closed cleanly by the server, by the peer's FIN,
// aborted by the server and reset by the peer, refused by the factory,
// and outgoing connects (one of them to a closed port, which counts
// nothing).
func TestStatsCountsExactly(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		if got := r.Stats().Total(); got.Accepted+got.Connected+got.Closed.Total()+got.BytesIn+got.BytesOut != 0 {
			t.Fatalf("a new reactor's stats: %+v", got)
		}
		ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &closeKindProto{} }))
		if err != nil {
			t.Fatal(err)
		}
		refusing, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return nil }))
		if err != nil {
			t.Fatal(err)
		}

		const perKind = 3
		var clients []statsClient
		for i, kind := range []string{"clean", "peer", "abort", "reset"} {
			for j := range perKind {
				n := 100*(i*perKind+j) + 7 // all different, none ends in a control byte
				clients = append(clients, statsClient{kind: kind, payload: bytes.Repeat([]byte{'a' + byte(j)}, n)})
			}
		}
		var wantIn, wantOut atomic.Uint64
		var wg sync.WaitGroup
		for _, sc := range clients {
			wg.Go(func() {
				sent := sc.run(t, ln.Addr().String())
				wantIn.Add(uint64(sent))
				wantOut.Add(uint64(len(sc.payload)))
			})
		}
		const refused = 2
		for range refused {
			wg.Go(func() {
				c, err := net.Dial("tcp", refusing.Addr().String())
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				c.Read(make([]byte, 1)) // EOF once the reactor closed it
			})
		}
		wg.Wait()

		// Outgoing: each sends out bytes, the Go peer answers and closes.
		const outgoing, out = 2, 321
		reply := []byte("reply from the Go peer")
		peer := goPeer(t, out, reply)
		for i := range outgoing {
			d := r.ConnectTCPOn(r.loops[i%loops], peer, protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
				return &protocol.Funcs{OnConnect: func(tr protocol.Transport) { tr.Write(bytes.Repeat([]byte{'o'}, out)) }}
			}), 5*time.Second)
			if _, err := await(t, d); err != nil {
				t.Fatalf("connect: %v", err)
			}
		}
		wantOut.Add(outgoing * out)
		wantIn.Add(outgoing * uint64(len(reply)))
		// A connect that fails counts nothing.
		dead, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		deadAddr := dead.Addr().String()
		dead.Close()
		if _, err := await(t, r.ConnectTCP(deadAddr, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }), 5*time.Second)); !errors.Is(err, ErrConnectRefused) {
			t.Fatalf("connect to a closed port: %v", err)
		}

		want := CloseCounts{Clean: perKind, PeerClosed: perKind + outgoing, Aborted: perKind, Reset: perKind}
		var s Stats
		waitFor(t, "every connection counted closed", func() bool {
			s = r.Stats()
			tot := s.Total()
			return tot.Closed.Total() >= want.Total() && tot.Refused >= refused && tot.BytesIn >= wantIn.Load()
		})
		tot := s.Total()
		if tot.Closed != want {
			t.Errorf("closed %+v, want %+v", tot.Closed, want)
		}
		if tot.Accepted != uint64(len(clients)) || tot.Connected != outgoing || tot.Refused != refused || tot.Open != 0 {
			t.Errorf("accepted %d connected %d refused %d open %d, want %d %d %d 0",
				tot.Accepted, tot.Connected, tot.Refused, tot.Open, len(clients), outgoing, refused)
		}
		if tot.BytesIn != wantIn.Load() || tot.BytesOut != wantOut.Load() {
			t.Errorf("bytes in %d out %d, want %d %d", tot.BytesIn, tot.BytesOut, wantIn.Load(), wantOut.Load())
		}
		// Every connection was read at least twice (its data, then its
		// control byte, EOF or reset), and every echo took a write.
		if minReads := 2 * (uint64(len(clients)) + outgoing); tot.Reads < minReads {
			t.Errorf("%d reads, want at least %d", tot.Reads, minReads)
		}
		if minWrites := uint64(len(clients)) + outgoing; tot.Writes < minWrites {
			t.Errorf("%d writes, want at least %d", tot.Writes, minWrites)
		}
		if len(s.Loops) != loops {
			t.Fatalf("%d loops in Stats, want %d", len(s.Loops), loops)
		}
		for i, l := range s.Loops {
			if l.Loop != i || l.Open != 0 || l.At.IsZero() {
				t.Errorf("loop %d: %+v", i, l)
			}
		}
		if loops == 2 && (s.Loops[0].Accepted == 0 || s.Loops[1].Accepted == 0) {
			t.Errorf("connections were not spread over both loops: %d and %d", s.Loops[0].Accepted, s.Loops[1].Accepted)
		}
	})
}

// TestStatsCountsTLSHandshakes pins the TLS counters: handshakes that
// succeed, one that fails (a plain HTTP request to the TLS port) and one
// that times out (a client that sends nothing), and the close reasons
// that go with them.
func TestStatsCountsTLSHandshakes(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops), WithTLSHandshakeTimeout(300*time.Millisecond))
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		const good = 3
		var wg sync.WaitGroup
		for i := range good {
			wg.Go(func() {
				c, err := tls.Dial("tcp", addr, tlsClientConfig(t))
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				msg := bytes.Repeat([]byte{'t'}, 50+i)
				c.Write(msg)
				if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
					t.Error(err)
				}
				c.CloseWrite() // close_notify; the server answers with its own and FIN
				io.Copy(io.Discard, c)
			})
		}
		wg.Go(func() { // not TLS at all: the handshake fails
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			io.Copy(io.Discard, c)
		})
		wg.Go(func() { // silent: the handshake times out
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			io.Copy(io.Discard, c)
		})
		wg.Wait()
		var tot LoopStats
		waitFor(t, "every TLS connection counted closed", func() bool {
			tot = r.Stats().Total()
			return tot.Closed.Total() >= good+2 && tot.TLS.Failed >= 2
		})
		if want := (TLSStats{Started: good + 2, Completed: good, Failed: 2}); tot.TLS != want {
			t.Errorf("TLS %+v, want %+v", tot.TLS, want)
		}
		// echoProto answers the peer's close_notify with LoseConnection:
		// the server closes, cleanly, as over plain TCP.
		if want := (CloseCounts{Clean: good, Failed: 1, Timeout: 1}); tot.Closed != want {
			t.Errorf("closed %+v, want %+v", tot.Closed, want)
		}
		if tot.Accepted != good+2 || tot.Open != 0 {
			t.Errorf("accepted %d open %d, want %d 0", tot.Accepted, tot.Open, good+2)
		}
	})
}

// TestStatsWhileTrafficRuns calls Stats from several goroutines while
// echo clients run (the race detector watches), checks that no counter
// ever goes back, and that the bytes add up once the clients are done.
func TestStatsWhileTrafficRuns(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		const clients, rounds, size = 6, 200, 512
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 3 {
			readers.Go(func() {
				var prev LoopStats
				for {
					select {
					case <-stop:
						return
					default:
					}
					cur := r.Stats().Total()
					if cur.BytesIn < prev.BytesIn || cur.BytesOut < prev.BytesOut || cur.Reads < prev.Reads ||
						cur.Writes < prev.Writes || cur.Accepted < prev.Accepted || cur.Turns < prev.Turns {
						t.Errorf("a counter went back: %+v after %+v", cur, prev)
						return
					}
					prev = cur
				}
			})
		}
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				msg, buf := bytes.Repeat([]byte{byte('0' + i)}, size), make([]byte, size)
				for range rounds {
					if _, err := c.Write(msg); err != nil {
						t.Error(err)
						return
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						t.Error(err)
						return
					}
				}
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
			})
		}
		wg.Wait()
		var tot LoopStats
		waitFor(t, "the clients' connections counted closed", func() bool {
			tot = r.Stats().Total()
			return tot.Closed.Total() >= clients
		})
		close(stop)
		readers.Wait()
		const want = clients * rounds * size
		if tot.BytesIn != want || tot.BytesOut != want || tot.Accepted != clients || tot.Closed.Clean != clients {
			t.Errorf("in %d out %d accepted %d closed %+v; want %d %d %d, all %d clean",
				tot.BytesIn, tot.BytesOut, tot.Accepted, tot.Closed, want, want, clients, clients)
		}
	})
}

// TestStatsTimersAndQueue pins the two gauges: the timers waiting in a
// loop's wheel and the calls waiting in its queue, the latter also while
// the loop is blocked (then the other gauges are the loop's last answer,
// and Stats returns, after no less than its wait bound).
func TestStatsTimersAndQueue(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		last := r.loops[loops-1]
		base := r.Stats().Loops[loops-1].TimersPending
		const timers = 5
		handles := make(chan []timer.Handle, 1)
		last.CallFromThread(func() {
			var hs []timer.Handle
			for range timers {
				hs = append(hs, last.CallLater(time.Hour, func() {}))
			}
			handles <- hs
		})
		hs := <-handles
		if got := r.Stats().Loops[loops-1].TimersPending; got != base+timers {
			t.Errorf("%d timers pending, want %d", got, base+timers)
		}
		done := make(chan struct{})
		last.CallFromThread(func() {
			for _, h := range hs {
				h.Cancel()
			}
			close(done)
		})
		<-done
		if got := r.Stats().Loops[loops-1].TimersPending; got != base {
			t.Errorf("%d timers pending after Cancel, want %d", got, base)
		}

		answered := r.Stats().Loops[loops-1].At
		block, blocked := make(chan struct{}), make(chan struct{})
		last.CallFromThread(func() { close(blocked); <-block })
		<-blocked
		const queued = 4
		for range queued {
			last.CallFromThread(func() {})
		}
		start := time.Now()
		s := r.Stats()
		if waited := time.Since(start); waited < statsWait {
			t.Errorf("Stats returned after %v with a loop blocked, before its wait bound %v", waited, statsWait)
		}
		close(block)
		if got := s.Loops[loops-1]; got.QueueDepth != queued || !got.At.Equal(answered) {
			t.Errorf("blocked loop: queue depth %d at %v, want %d at its last answer %v", got.QueueDepth, got.At, queued, answered)
		}
		if loops == 2 && !s.Loops[0].At.After(answered) {
			t.Errorf("the loop that was not blocked did not answer: %+v", s.Loops[0])
		}
	})
}

// TestStatsOnLoopsDoesNotDeadlock calls Stats from every loop at once:
// none waits for another, and each reports its own loop as of now.
func TestStatsOnLoopsDoesNotDeadlock(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		results := make(chan Stats, loops)
		for _, l := range r.loops {
			l.CallFromThread(func() { results <- r.Stats() })
		}
		for range loops {
			select {
			case s := <-results:
				if len(s.Loops) != loops {
					t.Errorf("%d loops, want %d", len(s.Loops), loops)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Stats called on a loop did not return")
			}
		}
		// The other loops were asked to answer for the next call.
		waitFor(t, "every loop's snapshot", func() bool {
			for _, l := range r.Stats().Loops {
				if l.At.IsZero() {
					return false
				}
			}
			return true
		})
	})
}

// TestStatsBeforeRunAndAfterStop pins that Stats answers on a reactor
// whose loops do not run by copying their counters itself (a fresh
// snapshot, not a wait for a loop that will not answer): before Run, and
// after Run returned, with the final counts.
func TestStatsBeforeRunAndAfterStop(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r, err := New(WithLoops(loops), WithSignalHandling(false), WithLogger(zerolog.New(io.Discard)))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s := r.Stats()
		if len(s.Loops) != loops || s.Total().Accepted != 0 {
			t.Fatalf("before Run: %+v", s)
		}
		for _, l := range s.Loops {
			if l.At.Before(start) {
				t.Errorf("before Run, loop %d reported as of %v, before the call at %v", l.Loop, l.At, start)
			}
		}
		ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run() }()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("hello"))
		io.ReadFull(c, make([]byte, 5))
		c.Close()
		waitFor(t, "the connection counted closed", func() bool { return r.Stats().Total().Closed.Total() == 1 })
		r.Stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		tot := r.Stats().Total() // At is the oldest loop's
		if tot.BytesIn != 5 || tot.BytesOut != 5 || tot.Accepted != 1 || tot.At.Before(start) {
			t.Errorf("after Stop, at %v: %+v", start, tot)
		}
	})
}

// BenchmarkStats is the price of one Stats call on an idle reactor: a
// queued call and a wake-up per loop, paid by the caller, not the I/O path.
func BenchmarkStats(b *testing.B) {
	for _, loops := range []int{1, 2} {
		b.Run(fmt.Sprintf("loops=%d", loops), func(b *testing.B) {
			r := startReactor(b, WithLoops(loops))
			b.ReportAllocs()
			for b.Loop() {
				r.Stats()
			}
		})
	}
}

// TestStatsCountsUDP pins LoopStats.UDP and UDPPorts: the datagrams each
// loop's ports received and sent, exactly, also after a port closed, and
// the ports open now.
func TestStatsCountsUDP(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			r := startReactor(t, WithLoops(loops))
			var ports []*UDPPort
			for _, l := range r.Loops() {
				ports = append(ports, listenUDPOn(t, r, l, "127.0.0.1:0", &udpEchoer{}))
			}
			client := goUDP(t)
			const perPort = 20
			for _, p := range ports {
				for i := range perPort {
					msg := []byte(fmt.Sprintf("datagram %d", i))
					if _, err := client.WriteTo(msg, p.LocalAddr()); err != nil {
						t.Fatal(err)
					}
					// One at a time, each echo read before the next send:
					// loopback drops nothing then.
					buf := make([]byte, 64)
					_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
					n, _, err := client.ReadFrom(buf)
					if err != nil || !bytes.Equal(buf[:n], msg) {
						t.Fatalf("echo %q, %v; want %q", buf[:n], err, msg)
					}
				}
			}
			if got := r.Stats().Total().UDPPorts; got != loops {
				t.Fatalf("UDPPorts %d with every port open, want %d", got, loops)
			}
			// Close the last loop's port: its counts stay in the totals.
			closed := ports[len(ports)-1]
			if err := closed.Close(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the closed port to leave UDPPorts", func() bool { return r.Stats().Total().UDPPorts == loops-1 })
			s := r.Stats()
			for i, ls := range s.Loops {
				want := UDPStats{Received: perPort, Sent: perPort}
				if ls.UDP != want {
					t.Errorf("loop %d: UDP %+v, want %+v", i, ls.UDP, want)
				}
			}
			tot := s.Total()
			if want := (UDPStats{Received: uint64(loops * perPort), Sent: uint64(loops * perPort)}); tot.UDP != want {
				t.Errorf("total UDP %+v, want %+v", tot.UDP, want)
			}
			if tot.UDPPorts != loops-1 {
				t.Errorf("UDPPorts %d, want %d", tot.UDPPorts, loops-1)
			}
		})
	}
}
