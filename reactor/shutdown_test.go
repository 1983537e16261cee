package reactor

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// countingEcho echoes and counts what it received.
type countingEcho struct {
	protocol.Base
	received *atomic.Int64
}

func (e *countingEcho) DataReceived(b []byte) {
	e.received.Add(int64(len(b)))
	e.Transport.Write(b)
}

func TestGracefulStopUnderLoadDeliversEveryBufferedByteToOneHundredConnections(t *testing.T) {
	const clients, payload = 100, 256 << 10
	r := newQuietReactor(t, WithLoops(2), WithShutdownTimeout(5*time.Minute))
	var received atomic.Int64
	var mu sync.Mutex
	var servers []*countingEcho
	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		p := &countingEcho{received: &received}
		mu.Lock()
		servers = append(servers, p)
		mu.Unlock()
		return p
	}))
	if err != nil {
		t.Fatal(err)
	}
	// Small socket buffers (accepted sockets inherit the listener's send
	// buffer) keep most of the echo in the server's output buffers, which
	// the stop must flush.
	if err := unix.SetsockoptInt(ln.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<10); err != nil {
		t.Fatal(err)
	}
	done := runAsync(r)
	dialer := net.Dialer{Timeout: 30 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<10)
		})
	}}
	conns := make([]net.Conn, clients)
	sent := make([][]byte, clients)
	var writers sync.WaitGroup
	writeErrs := make(chan error, clients)
	for i := range conns {
		c, err := dialer.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		rng := rand.New(rand.NewPCG(uint64(i), 5))
		sent[i] = make([]byte, payload)
		for j := range sent[i] {
			sent[i][j] = byte(rng.Uint32())
		}
		writers.Add(1)
		go func() {
			defer writers.Done()
			for rest := sent[i]; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(32<<10))
				if _, err := c.Write(rest[:n]); err != nil {
					writeErrs <- err
					return
				}
				rest = rest[n:]
			}
		}()
	}
	writers.Wait()
	close(writeErrs)
	for err := range writeErrs {
		t.Fatal(err)
	}
	waitFor(t, "the server to read every byte", func() bool { return received.Load() == clients*payload })

	var buffered atomic.Int64
	mu.Lock()
	for _, p := range servers {
		onLoopOf(t, p.Transport.Loop(), func() { buffered.Add(int64(p.Transport.BufferedAmount())) })
	}
	mu.Unlock()
	if buffered.Load() == 0 {
		t.Fatal("nothing was buffered in the server at Stop: the test would not test the flush")
	}
	t.Logf("%d bytes buffered in the server at Stop", buffered.Load())

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	readErrs := make(chan error, clients)
	for i, c := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			c.SetReadDeadline(time.Now().Add(time.Minute))
			got := make([]byte, payload)
			if _, err := io.ReadFull(c, got); err != nil {
				readErrs <- errorf("client %d: %v", i, err)
				return
			}
			if !bytes.Equal(got, sent[i]) {
				readErrs <- errorf("client %d: echoed bytes differ", i)
				return
			}
			if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				readErrs <- errorf("client %d: after the echo read %d, %v; want EOF", i, n, err)
			}
		}()
	}
	readers.Wait()
	close(readErrs)
	for err := range readErrs {
		t.Error(err)
	}
	waitRun(t, done)
}

func TestStopLeavesNoGoroutineBehind(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := newQuietReactor(t, WithLoops(2), WithWorkers(4), WithSignalHandling(true))
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	lp := r.Loops()[1]
	results := make(chan int, 8)
	r.CallWhenRunning(func() {
		lp.CallFromThread(func() {
			for i := range 8 {
				DeferToThread(lp, func() (int, error) {
					time.Sleep(time.Millisecond)
					return i, nil
				}).AddCallback(func(v int) (int, error) { results <- v; return v, nil })
			}
		})
	})
	done := runAsync(r)
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "hello")
	for range 8 {
		<-results
	}
	r.Stop()
	c.Close()
	waitRun(t, done)
}

func TestStopWithAJobRunningPastTheDeadlineStillReturns(t *testing.T) {
	r := newQuietReactor(t, WithLoops(1), WithShutdownTimeout(50*time.Millisecond))
	release := make(chan struct{})
	finished := make(chan struct{})
	r.CallWhenRunning(func() {
		DeferToThread(r.Loops()[0], func() (int, error) {
			defer close(finished)
			<-release
			return 1, nil
		})
		r.Stop()
	})
	waitRun(t, runAsync(r))
	// Run returned while the job was still blocked; let it end so no
	// goroutine outlives the test.
	close(release)
	<-finished
	if err := r.CallInThread(func() {}); !errors.Is(err, ErrReactorStopping) {
		t.Fatalf("CallInThread after Run returned: %v", err)
	}
}
