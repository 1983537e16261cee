package reactor

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// relayFront relays what its client sends to a backend it connects to
// through its own loop (the Transport's Loop().ConnectTCP), with
// the two transports registered as each other's streaming producers: the
// proxy pattern of Twisted's portforward, in two lines.
type relayFront struct {
	protocol.Base
	backend  string
	back     protocol.Transport
	sameLoop chan bool
	maxBack  *atomic.Int64 // most unsent bytes seen on the backend leg
	backLost chan error
}

type relayBack struct {
	protocol.Base
	front *relayFront
}

func (b *relayBack) DataReceived(p []byte) { b.front.Transport.Write(p) }
func (b *relayBack) ConnectionLost(reason error) {
	b.front.Transport.LoseConnection()
	b.front.backLost <- reason
}

func (f *relayFront) ConnectionMade(t protocol.Transport) {
	f.Base.ConnectionMade(t)
	t.PauseReading() // until the backend is connected
	back := &relayBack{front: f}
	d := t.Loop().ConnectTCP(f.backend, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return back }), 5*time.Second)
	d.AddCallbacks(func(p protocol.Protocol) (protocol.Protocol, error) {
		f.back = back.Transport
		f.sameLoop <- back.Transport.Loop().Index() == t.Loop().Index()
		t.RegisterProducer(back.Transport, true)
		back.Transport.RegisterProducer(t, true)
		t.ResumeReading()
		return p, nil
	}, func(err error) (protocol.Protocol, error) {
		t.LoseConnection()
		return nil, nil
	})
}

func (f *relayFront) DataReceived(p []byte) {
	f.back.Write(p)
	if n := int64(f.back.BufferedAmount()); n > f.maxBack.Load() {
		f.maxBack.Store(n)
	}
}

func (f *relayFront) ConnectionLost(error) {
	if f.back != nil {
		f.back.LoseConnection()
	}
}

// A Transport is a streaming producer: registered on another connection,
// its reading is paused while that connection's output is above the
// high-water mark and resumed below the low mark. A relay whose backend
// does not read therefore holds its client back (the backend leg's unsent
// output never exceeds the high mark plus one read), and once the backend
// reads, every byte arrives intact and in order. The backend connection is
// made through the front connection's own Loop and lives on it.
func TestTransportAsProducerThrottlesTheConnectionFeedingIt(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		backendLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer backendLn.Close()
		var maxBack atomic.Int64
		sameLoop := make(chan bool, 1)
		backLost := make(chan error, 1)
		ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
			return &relayFront{backend: backendLn.Addr().String(), sameLoop: sameLoop, maxBack: &maxBack, backLost: backLost}
		}))
		if err != nil {
			t.Fatal(err)
		}
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		backend, err := backendLn.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer backend.Close()
		if !<-sameLoop {
			t.Error("the backend connection is not on the loop of the connection that made it")
		}

		// More than the kernel's socket buffers on the way can hold, even
		// autotuned (a few MiB each).
		const total = 64 << 20
		data := make([]byte, total)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		wrote := make(chan error, 1)
		go func() {
			_, err := client.Write(data)
			client.(*net.TCPConn).CloseWrite()
			wrote <- err
		}()
		// The backend does not read yet: the client must be held back, which
		// the client's Write not returning shows, whatever the timing.
		select {
		case err := <-wrote:
			t.Fatalf("64 MiB written through a relay whose backend reads nothing (err %v): no backpressure", err)
		case <-time.After(300 * time.Millisecond):
		}
		got, err := io.ReadAll(backend)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("backend got %d bytes, not the %d sent intact", len(got), len(data))
		}
		high := int64(defaultConfig().highWater + defaultConfig().readBufferSize)
		if m := maxBack.Load(); m > high {
			t.Errorf("the backend leg held %d unsent bytes; the producer's pause should bound it by %d", m, high)
		}
	})
}

// The reactor's own hold (unsent output above the high-water mark, no
// producer) and a protocol's PauseReading or PauseProducing are independent:
// ResumeProducing while the output is still full does not start reading,
// and the output draining does not start reading while the protocol keeps
// its pause. Reading resumes only once neither holds it.
func TestPauseProducingAndTheReactorsOwnHoldCompose(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		// Small fixed socket buffers, so that the 8 MiB cannot all hide in
		// the kernel and the echo's output must pile up in the reactor.
		small := SocketOptions{RecvBuffer: 32 << 10, SendBuffer: 32 << 10}
		ln, err := r.ListenTCPWith("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
			return &echoProto{}
		}), ListenOptions{Socket: small})
		if err != nil {
			t.Fatal(err)
		}
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		client.(*net.TCPConn).SetReadBuffer(32 << 10)
		client.(*net.TCPConn).SetWriteBuffer(32 << 10)
		const total = 8 << 20
		data := bytes.Repeat([]byte("0123456789abcdef"), total/16)
		wrote := make(chan error, 1)
		go func() {
			_, err := client.Write(data)
			wrote <- err
		}()
		// Find the server's connection and wait until the reactor holds it.
		var c *conn
		flags := func() uint32 {
			for _, l := range r.loops {
				var found *conn
				var f uint32
				done := make(chan struct{})
				l.CallFromThread(func() {
					defer close(done)
					for _, cc := range l.conns {
						if cc != nil && cc.flags&fClosed == 0 {
							found, f = cc, cc.flags
						}
					}
				})
				<-done
				if found != nil {
					c = found
					return f
				}
			}
			return 0
		}
		for flags()&fOutputFull == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		onConn := func(fn func()) {
			done := make(chan struct{})
			c.loop.CallFromThread(func() { defer close(done); fn() })
			<-done
		}
		onConn(func() {
			c.PauseProducing()
			c.ResumeProducing()
			if c.flags&fOutputFull == 0 {
				t.Error("ResumeProducing lifted the reactor's own hold")
			}
			c.PauseProducing()
		})
		// Drain what was echoed so far; the protocol's pause must keep the
		// connection unread after the output is gone.
		var echoed int
		buf := make([]byte, 256<<10)
		for {
			var f uint32
			var pending int
			onConn(func() { f, pending = c.flags, c.pending() })
			if f&fOutputFull == 0 && pending == 0 {
				client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				n, _ := client.Read(buf)
				echoed += n
				if n == 0 {
					break
				}
				continue
			}
			client.SetReadDeadline(time.Now().Add(time.Second))
			n, err := client.Read(buf)
			echoed += n
			if err != nil && !isTimeout(err) {
				t.Fatal(err)
			}
		}
		var paused bool
		onConn(func() { paused = c.flags&fPaused != 0 && c.flags&fOutputFull == 0 })
		if !paused {
			t.Fatal("after the drain, the connection should be paused by the protocol only")
		}
		if echoed >= total {
			t.Fatalf("everything (%d bytes) was echoed while the protocol paused reading", echoed)
		}
		onConn(func() { c.ResumeProducing() })
		client.SetReadDeadline(time.Now().Add(30 * time.Second))
		rest, err := io.ReadAll(io.LimitReader(client, int64(total-echoed)))
		if err != nil {
			t.Fatal(err)
		}
		if echoed+len(rest) != total {
			t.Fatalf("echoed %d bytes of %d", echoed+len(rest), total)
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
