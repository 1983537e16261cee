package reactor

import (
	"bytes"
	"errors"
	"fmt"
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
	received atomic.Int64
}

func (e *countingEcho) DataReceived(b []byte) {
	e.received.Add(int64(len(b)))
	e.Transport.Write(b)
}

// A graceful stop while every client is still sending and not reading: the
// server holds no more than its water marks allow (it stops reading), and
// after Stop each client receives the echo of every byte the server took
// from it, then EOF (not a reset), even though its own later bytes are
// dropped unread.
func TestGracefulStopUnderLoadDeliversEveryBufferedByteToOneHundredConnections(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) { gracefulStopUnderLoad(t, loops) })
	}
}

func gracefulStopUnderLoad(t *testing.T, loops int) {
	const clients, payload = 100, 256 << 10
	r := newQuietReactor(t, WithLoops(loops), WithShutdownTimeout(5*time.Minute))
	var mu sync.Mutex
	servers := map[string]*countingEcho{} // by the client's address
	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(addr net.Addr) protocol.Protocol {
		p := &countingEcho{}
		mu.Lock()
		servers[addr.String()] = p
		mu.Unlock()
		return p
	}))
	if err != nil {
		t.Fatal(err)
	}
	// Small socket buffers (accepted sockets inherit the listener's send
	// buffer) keep most of the echo in the server's output buffers, which
	// the stop must flush.
	for _, fd := range append([]int{ln.fd}, ln.fds...) {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<10); err != nil {
			t.Fatal(err)
		}
	}
	done := runAsync(r)
	dialer := net.Dialer{Timeout: 30 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<10)
		})
	}}
	conns := make([]net.Conn, clients)
	sent := make([][]byte, clients)
	var total atomic.Int64
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
		go func() {
			// Writes block once the server stops reading; they end with
			// an error once it has closed.
			for rest := sent[i]; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(32<<10))
				if _, err := c.Write(rest[:n]); err != nil {
					return
				}
				rest = rest[n:]
			}
		}()
	}
	waitFor(t, "every connection to be accepted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(servers) == clients
	})
	mu.Lock()
	all := make([]*countingEcho, 0, clients)
	for _, p := range servers {
		all = append(all, p)
	}
	mu.Unlock()
	sum := func() int64 {
		var n int64
		for _, p := range all {
			n += p.received.Load()
		}
		total.Store(n)
		return n
	}
	// The server stops reading once its output is above the high mark.
	var stalled atomic.Int64
	for {
		time.Sleep(300 * time.Millisecond)
		if n := sum(); n == stalled.Load() {
			break
		} else {
			stalled.Store(n)
		}
	}
	if total.Load() >= clients*payload {
		t.Fatalf("the server read all %d bytes from clients that do not read: it was not held back", total.Load())
	}
	var buffered atomic.Int64
	for _, p := range all {
		onLoopOf(t, p.Transport.Loop(), func() { buffered.Add(int64(p.Transport.BufferedAmount())) })
	}
	if buffered.Load() == 0 {
		t.Fatal("nothing was buffered in the server at Stop: the test would not test the flush")
	}
	t.Logf("%d bytes buffered in the server at Stop, %d read of %d sent", buffered.Load(), total.Load(), clients*payload)

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
			got, err := io.ReadAll(c)
			if err != nil {
				readErrs <- errorf("client %d: after %d bytes: %v; want EOF", i, len(got), err)
				return
			}
			mu.Lock()
			p := servers[c.LocalAddr().String()]
			mu.Unlock()
			if want := p.received.Load(); int64(len(got)) != want {
				readErrs <- errorf("client %d: echoed %d bytes, the server read %d", i, len(got), want)
				return
			}
			if !bytes.Equal(got, sent[i][:len(got)]) {
				readErrs <- errorf("client %d: echoed bytes differ", i)
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
