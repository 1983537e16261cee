package reactor

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

func TestMain(m *testing.M) {
	if os.Getenv(emfileChildEnv) != "" {
		emfileChild()
		return
	}
	// A thousand loopback connections take two thousand descriptors.
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	goleak.VerifyTestMain(m)
}

// startReactor runs a new reactor for the test and stops it (checking that
// Run returns) when the test ends.
func startReactor(t testing.TB, opts ...Option) *Reactor {
	t.Helper()
	opts = append([]Option{WithLogger(zerolog.New(io.Discard)), WithSignalHandling(false)}, opts...)
	r, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	done := make(chan error, 1)
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	go func() { done <- r.Run() }()
	<-running
	t.Cleanup(func() {
		if err := r.Stop(); err != nil && err != ErrNotRunning {
			t.Errorf("Stop: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			buf := make([]byte, 1<<20)
			t.Errorf("Run did not return after Stop; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
	})
	return r
}

// onLoop runs fn on loop 0 and waits for it.
func onLoop(t testing.TB, r *Reactor, fn func()) {
	t.Helper()
	done := make(chan struct{})
	r.CallFromThread(func() {
		defer close(done)
		fn()
	})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("loop did not run the call")
	}
}

// echoProto echoes and is half-close aware.
type echoProto struct{ protocol.Base }

func (e *echoProto) DataReceived(b []byte) { e.Transport.Write(b) }
func (e *echoProto) ReadConnectionLost()   { e.Transport.LoseConnection() }

func echoFactory() protocol.Factory {
	return protocol.ForProtocol[echoProto]()
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// syncBuffer is a goroutine-safe log sink for tests that read the log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// protocolFactory serves every connection with p.
func protocolFactory(p protocol.Protocol) protocol.Factory {
	return protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return p })
}

// listenAndDial listens on a free loopback port with factory and connects a
// plain Go client to it, closed when the test ends.
func listenAndDial(t *testing.T, r *Reactor, factory protocol.Factory) net.Conn {
	t.Helper()
	ln, err := r.ListenTCP("127.0.0.1:0", factory)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
