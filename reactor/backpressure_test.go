package reactor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// eachLoopCount runs a reactor behaviour test with one loop and with two.
func eachLoopCount(t *testing.T, test func(t *testing.T, loops int)) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) { test(t, loops) })
	}
}

// liveHeap is the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The output structure's memory follows the unsent bytes, not the bytes
// streamed so far: 256 MiB pushed by a producer through a reader slower
// than the producer leave the heap, sampled during the stream, within
// 4 MiB of where it started.
func TestStreamThroughSlowReaderKeepsHeapFlat(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		const total, chunk = 256 << 20, 16 << 10
		r := startReactor(t, WithLoops(loops))
		s := &streamer{total: total, chunk: make([]byte, chunk), lost: make(chan error, 1)}
		ln, err := r.ListenTCP("127.0.0.1:0", protocolFactory(s))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 32<<10)
		baseline := liveHeap()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var off int64
		var peak int64
		nextSample := int64(0)
		for reads := 0; ; reads++ {
			if reads%64 == 0 {
				time.Sleep(time.Millisecond) // a slow reader
			}
			if off >= nextSample {
				h := int64(liveHeap()) - int64(baseline)
				peak = max(peak, h)
				nextSample += 8 << 20
			}
			n, err := c.Read(buf)
			for i := range buf[:n] {
				if buf[i] != pattern(off+int64(i)) {
					t.Fatalf("byte %d corrupt", off+int64(i))
				}
			}
			off += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		<-s.lost
		if off != total {
			t.Fatalf("read %d bytes, want %d", off, total)
		}
		t.Logf("heap peak %d KiB above baseline while streaming %d MiB", peak>>10, total>>20)
		if peak > 4<<20 {
			t.Fatalf("heap grew by up to %d bytes while streaming; want under 4 MiB", peak)
		}
	})
}

// A protocol with no producer that never pauses (an echo) cannot be made
// to grow the server by a peer that writes and does not read: above the
// high-water mark of unsent output the reactor stops reading from it, and
// once the peer reads it gets every byte back, in order.
func TestEchoHoldsBackAPeerThatDoesNotReadThenDeliversAll(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		const total = 50 << 20
		r := startReactor(t, WithLoops(loops))
		ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		baseline := liveHeap()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var written atomic.Int64
		writeDone := writePattern(c, total, &written)
		held := waitStalled(&written)
		if held >= total {
			t.Fatalf("the writer was not held back: wrote all %d bytes to a server it never read from", held)
		}
		grown := int64(liveHeap()) - int64(baseline)
		t.Logf("writer held at %d KiB; server heap grew %d KiB", held>>10, grown>>10)
		if grown > 8<<20 {
			t.Fatalf("server heap grew by %d bytes while the peer did not read; want at most 8 MiB", grown)
		}
		got := make([]byte, 256<<10)
		var off int64
		for off < total {
			n, err := c.Read(got)
			for i := range got[:n] {
				if got[i] != pattern(off+int64(i)) {
					t.Fatalf("echoed byte %d corrupt", off+int64(i))
				}
			}
			off += int64(n)
			if err != nil {
				t.Fatalf("after %d echoed bytes: %v", off, err)
			}
		}
		if err := <-writeDone; err != nil {
			t.Fatal(err)
		}
	})
}

// stubbornSender is a server protocol that, once connected, fills its
// output with more than the kernel takes and records what it receives.
type stubbornSender struct {
	protocol.Base
	payload  []byte
	received atomic.Int64
	made     chan struct{}
	lost     chan error
}

func newStubbornSender(payload []byte) *stubbornSender {
	return &stubbornSender{payload: payload, made: make(chan struct{}), lost: make(chan error, 1)}
}

func (s *stubbornSender) ConnectionMade(t protocol.Transport) {
	s.Base.ConnectionMade(t)
	t.Write(s.payload)
	close(s.made)
}

func (s *stubbornSender) DataReceived(b []byte) { s.received.Add(int64(len(b))) }

func (s *stubbornSender) ConnectionLost(err error) { s.lost <- err }

// Twisted's loseConnection stops reading: nothing the peer sends after
// LoseConnection reaches DataReceived, ResumeReading does not turn reading
// back on, and the output queued before it still reaches the peer whole,
// followed by EOF.
func TestLoseConnectionStopsReadingAndStillDeliversItsOutput(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		payload := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB: more than the kernel takes
		s := newStubbornSender(payload)
		ln, err := r.ListenTCP("127.0.0.1:0", protocolFactory(s))
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		<-s.made
		loop := s.Transport.Loop()
		var buffered int
		onLoopOf(t, loop, func() {
			buffered = s.Transport.BufferedAmount()
			s.Transport.LoseConnection()
			s.Transport.PauseReading()
			s.Transport.ResumeReading()
		})
		if buffered == 0 {
			t.Fatal("nothing was queued at LoseConnection: the test would not test the flush")
		}
		if _, err := c.Write([]byte("sent after LoseConnection")); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("after %d bytes: %v; want EOF", len(got), err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("received %d bytes, want the %d queued before LoseConnection", len(got), len(payload))
		}
		if err := <-s.lost; !errors.Is(err, protocol.ErrConnectionDone) {
			t.Fatalf("ConnectionLost(%v), want ErrConnectionDone", err)
		}
		if n := s.received.Load(); n != 0 {
			t.Fatalf("DataReceived got %d bytes after LoseConnection", n)
		}
	})
}

// recordingProducer records which Producer calls it got.
type recordingProducer struct {
	pauses, resumes, stops atomic.Int32
}

func (p *recordingProducer) PauseProducing()  { p.pauses.Add(1) }
func (p *recordingProducer) ResumeProducing() { p.resumes.Add(1) }
func (p *recordingProducer) StopProducing()   { p.stops.Add(1) }

// lostRecorder records its transport and its ConnectionLost.
type lostRecorder struct {
	protocol.Base
	made chan struct{}
	lost chan error
}

func newLostRecorder() *lostRecorder {
	return &lostRecorder{made: make(chan struct{}), lost: make(chan error, 1)}
}

func (p *lostRecorder) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	close(p.made)
}

func (p *lostRecorder) ConnectionLost(err error) { p.lost <- err }

// Twisted: registering a producer on a transport that is already
// disconnected calls the producer's stopProducing at once.
func TestRegisterProducerOnClosedTransportStopsTheProducer(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		p := newLostRecorder()
		c := listenAndDial(t, r, protocolFactory(p))
		c.Close()
		<-p.lost
		prod := &recordingProducer{}
		var err error
		onLoopOf(t, p.Transport.Loop(), func() { err = p.Transport.RegisterProducer(prod, true) })
		if !errors.Is(err, protocol.ErrClosed) {
			t.Fatalf("RegisterProducer on a closed transport: %v, want ErrClosed", err)
		}
		if prod.stops.Load() != 1 {
			t.Fatalf("StopProducing called %d times, want 1", prod.stops.Load())
		}
	})
}

// Twisted's test_disconnectWhileProducing: LoseConnection while a pull
// producer is registered closes the connection only after the producer is
// unregistered.
func TestLoseConnectionWithPullProducerWaitsForUnregister(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		p := newLostRecorder()
		c := listenAndDial(t, r, protocolFactory(p))
		<-p.made
		loop := p.Transport.Loop()
		prod := &recordingProducer{}
		onLoopOf(t, loop, func() {
			if err := p.Transport.RegisterProducer(prod, false); err != nil {
				t.Error(err)
			}
			p.Transport.LoseConnection()
		})
		// Several turns of the loop later, the connection is still open.
		for range 5 {
			onLoopOf(t, loop, func() {})
		}
		select {
		case err := <-p.lost:
			t.Fatalf("connection lost (%v) while the pull producer was still registered", err)
		default:
		}
		onLoopOf(t, loop, func() { p.Transport.UnregisterProducer() })
		if err := <-p.lost; !errors.Is(err, protocol.ErrConnectionDone) {
			t.Fatalf("ConnectionLost(%v), want ErrConnectionDone", err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("client read %d, %v after the close; want EOF", n, err)
		}
		if prod.stops.Load() != 0 {
			t.Fatalf("StopProducing called %d times for a producer unregistered before the close", prod.stops.Load())
		}
	})
}

// A closing connection whose peer keeps sending is closed without a reset
// that would destroy the tail of its output: the peer reads everything,
// then EOF.
func TestLoseConnectionWhilePeerKeepsSendingEndsWithEOFNotReset(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		payload := bytes.Repeat([]byte("abcdefghijklmnop"), 64<<10) // 1 MiB
		s := newStubbornSender(payload)
		ln, err := r.ListenTCP("127.0.0.1:0", protocolFactory(s))
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		<-s.made
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			junk := make([]byte, 4<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(junk); err != nil {
					return
				}
			}
		}()
		onLoopOf(t, s.Transport.Loop(), func() { s.Transport.LoseConnection() })
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v; want EOF", len(got), len(payload), err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("received %d bytes, want %d intact", len(got), len(payload))
		}
		<-s.lost
	})
}
