package reactor

import (
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// pattern is the byte at offset i of the test streams.
func pattern(i int64) byte { return byte(i*31 + i>>11) }

// pausedVerifier pauses reading when connected and checks every byte it
// later receives against pattern.
type pausedVerifier struct {
	protocol.Base
	received atomic.Int64
	bad      atomic.Bool
}

func (p *pausedVerifier) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	t.PauseReading()
}

func (p *pausedVerifier) DataReceived(b []byte) {
	off := p.received.Load()
	for i, c := range b {
		if c != pattern(off+int64(i)) {
			p.bad.Store(true)
		}
	}
	p.received.Add(int64(len(b)))
}

// writePattern writes total bytes of pattern to c on its own goroutine,
// keeping written up to date, and reports the outcome on the channel.
func writePattern(c net.Conn, total int64, written *atomic.Int64) <-chan error {
	done := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		var off int64
		for off < total {
			for i := range chunk {
				chunk[i] = pattern(off + int64(i))
			}
			n, err := c.Write(chunk)
			off += int64(n)
			written.Store(off)
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// waitStalled waits until counter stops moving: the writer is blocked.
func waitStalled(counter *atomic.Int64) int64 {
	last := int64(-1)
	for {
		time.Sleep(300 * time.Millisecond)
		now := counter.Load()
		if now == last {
			return now
		}
		last = now
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func TestPauseReadingHoldsWriterBackWithoutHeapGrowthThenResumeDeliversAll(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	const total = 64 << 20
	server := &pausedVerifier{}
	c := listenAndDial(t, r, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return server }))
	before := heapInUse()
	var written atomic.Int64
	writeDone := writePattern(c, total, &written)
	held := waitStalled(&written)
	if held >= total {
		t.Fatalf("the writer was not held back: wrote all %d bytes to a paused connection", held)
	}
	if n := server.received.Load(); n != 0 {
		t.Fatalf("a paused connection received %d bytes", n)
	}
	if grown := int64(heapInUse()) - int64(before); grown > 4<<20 {
		t.Fatalf("server heap grew by %d bytes while paused", grown)
	}
	r.CallFromThread(func() { server.Transport.ResumeReading() })
	if err := <-writeDone; err != nil {
		t.Fatal(err)
	}
	for server.received.Load() < total {
		time.Sleep(10 * time.Millisecond)
	}
	if server.received.Load() != total || server.bad.Load() {
		t.Fatalf("received %d bytes (corrupt=%v), want %d intact", server.received.Load(), server.bad.Load(), total)
	}
}

// streamer is a push producer that writes a fixed amount in chunks as long
// as it is not paused, recording the largest output buffer it saw.
type streamer struct {
	protocol.Base
	total, sent int64
	chunk       []byte
	paused      bool
	pauses      int
	resumes     int
	maxBuffered int
	stopped     bool
	lost        chan error
}

func (s *streamer) ConnectionMade(t protocol.Transport) {
	s.Base.ConnectionMade(t)
	t.RegisterProducer(s, true)
	s.produce()
}

func (s *streamer) produce() {
	for !s.paused && s.sent < s.total {
		n := min(int64(len(s.chunk)), s.total-s.sent)
		for i := range s.chunk[:n] {
			s.chunk[i] = pattern(s.sent + int64(i))
		}
		s.Transport.Write(s.chunk[:n])
		s.sent += n
		s.maxBuffered = max(s.maxBuffered, s.Transport.BufferedAmount())
	}
	if s.sent == s.total {
		s.Transport.UnregisterProducer()
		s.Transport.LoseConnection()
	}
}

func (s *streamer) PauseProducing()  { s.paused = true; s.pauses++ }
func (s *streamer) ResumeProducing() { s.paused = false; s.resumes++; s.produce() }
func (s *streamer) StopProducing()   { s.stopped = true }
func (s *streamer) ConnectionLost(err error) {
	s.lost <- err
}

func TestSlowReaderBoundsServerBufferAndPausesProducer(t *testing.T) {
	const high, low, chunk = 64 << 10, 16 << 10, 16 << 10
	r := startReactor(t, WithLoops(1), WithWaterMarks(low, high))
	s := &streamer{total: 256 << 20, chunk: make([]byte, chunk), lost: make(chan error, 1)}
	c := listenAndDial(t, r, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return s }))
	buf := make([]byte, 32<<10)
	var off int64
	for reads := 0; ; reads++ {
		if reads%64 == 0 {
			time.Sleep(time.Millisecond) // a slow reader
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
	if off != s.total {
		t.Fatalf("read %d bytes, want %d", off, s.total)
	}
	onLoop(t, r, func() {})
	if s.maxBuffered > high+chunk {
		t.Fatalf("server buffered up to %d bytes, above high-water mark %d + one write %d", s.maxBuffered, high, chunk)
	}
	if s.pauses == 0 || s.resumes == 0 {
		t.Fatalf("producer paused %d and resumed %d times; want both", s.pauses, s.resumes)
	}
}
