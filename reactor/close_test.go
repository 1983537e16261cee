package reactor

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
)

// lossRecorder records how a connection was lost.
type lossRecorder struct {
	mu      sync.Mutex
	reasons []error
	done    chan struct{}
}

func newLossRecorder() *lossRecorder { return &lossRecorder{done: make(chan struct{}, 64)} }

func (lr *lossRecorder) record(err error) {
	lr.mu.Lock()
	lr.reasons = append(lr.reasons, err)
	lr.mu.Unlock()
	lr.done <- struct{}{}
}

func (lr *lossRecorder) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-lr.done:
	case <-time.After(20 * time.Second):
		t.Fatal("ConnectionLost was not called")
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.reasons[len(lr.reasons)-1]
}

func TestHalfCloseClientReceivesEveryEchoedByteThenEOF(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	// 4 MiB: more than the socket buffers hold, so some of the echo is
	// still queued in the server when the client's FIN arrives.
	if err := echoOnce(ln.Addr().String(), 99); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 4<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	go func() {
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(payload) || string(got) != string(payload) {
		t.Fatalf("got %d bytes back, want all %d intact", len(got), len(payload))
	}
}

// abortOnData aborts its connection on the first byte and checks that
// ConnectionLost does not run inside AbortConnection.
type abortOnData struct {
	protocol.Base
	inAbort  bool
	nested   bool
	recorder *lossRecorder
}

func (a *abortOnData) DataReceived([]byte) {
	a.inAbort = true
	a.Transport.AbortConnection()
	a.inAbort = false
	if n, err := a.Transport.Write([]byte("late")); n != 0 || !errors.Is(err, protocol.ErrClosed) {
		a.nested = true // a write after abort must be refused, not sent
	}
}

func (a *abortOnData) ConnectionLost(reason error) {
	if a.inAbort {
		a.nested = true
	}
	a.recorder.record(reason)
}

func TestAbortConnectionResetsPeerAndReportsAbortedLater(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	rec := newLossRecorder()
	p := &abortOnData{recorder: rec}
	c := listenAndDial(t, r, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return p }))
	c.Write([]byte("x"))
	reason := rec.wait(t)
	if !errors.Is(reason, protocol.ErrAborted) {
		t.Fatalf("ConnectionLost(%v), want ErrAborted", reason)
	}
	onLoop(t, r, func() {})
	if p.nested {
		t.Fatal("ConnectionLost ran inside AbortConnection, or a write after abort was accepted")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 10))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer read error %v, want connection reset", err)
	}
}

// closer records its ConnectionLost reason and can close on demand.
type closer struct {
	protocol.Base
	recorder *lossRecorder
	onData   func(t protocol.Transport)
}

func (c *closer) DataReceived([]byte) {
	if c.onData != nil {
		c.onData(c.Transport)
	}
}
func (c *closer) ConnectionLost(reason error) { c.recorder.record(reason) }

func TestConnectionLostReasonsAreDistinct(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	cases := []struct {
		name   string
		onData func(t protocol.Transport)
		client func(c *net.TCPConn)
		want   error
	}{
		{"closed cleanly by us", func(t protocol.Transport) { t.Write([]byte("bye")); t.LoseConnection() },
			func(c *net.TCPConn) { c.Write([]byte("x")) }, protocol.ErrConnectionDone},
		{"closed by the peer", nil,
			func(c *net.TCPConn) { c.Close() }, protocol.ErrPeerClosed},
		{"reset by the peer", nil,
			func(c *net.TCPConn) { c.SetLinger(0); c.Close() }, protocol.ErrPeerReset},
		{"aborted", func(t protocol.Transport) { t.AbortConnection() },
			func(c *net.TCPConn) { c.Write([]byte("x")) }, protocol.ErrAborted},
		{"panicked", func(t protocol.Transport) { panic("boom") },
			func(c *net.TCPConn) { c.Write([]byte("x")) }, protocol.ErrPanic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newLossRecorder()
			ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
				return &closer{recorder: rec, onData: tc.onData}
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tc.client(c.(*net.TCPConn))
			reason := rec.wait(t)
			if !errors.Is(reason, tc.want) {
				t.Fatalf("ConnectionLost(%v), want %v", reason, tc.want)
			}
			for _, other := range []error{protocol.ErrConnectionDone, protocol.ErrPeerClosed, protocol.ErrPeerReset, protocol.ErrAborted, protocol.ErrPanic} {
				if other != tc.want && errors.Is(reason, other) {
					t.Fatalf("ConnectionLost(%v) also matches %v", reason, other)
				}
			}
		})
	}
}

func TestPanicInCallbackAbortsOnlyThatConnection(t *testing.T) {
	var logs syncBuffer
	r := startReactor(t, WithLoops(1), WithLogger(zerolog.New(&logs)))
	rec := newLossRecorder()
	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &closer{recorder: rec, onData: func(t protocol.Transport) { panic("boom") }}
	}))
	if err != nil {
		t.Fatal(err)
	}
	echoLn, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	good, err := net.Dial("tcp", echoLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	roundTrip(t, good, "before")
	bad, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Write([]byte("x"))
	var perr *protocol.PanicError
	if reason := rec.wait(t); !errors.As(reason, &perr) || perr.Value != "boom" || len(perr.Stack) == 0 {
		t.Fatalf("ConnectionLost(%v), want a *PanicError with the value and a stack", reason)
	}
	// A panicking timer does not stop the loop either.
	onLoop(t, r, func() { r.CallSoon(func() { panic("timer boom") }) })
	roundTrip(t, good, "after")
	for _, field := range []string{`"loop":0`, `"conn":`, `"peer":"127.0.0.1:`, `"panic":"boom"`, `"panic":"timer boom"`} {
		if !strings.Contains(logs.String(), field) {
			t.Errorf("panic log lacks %s:\n%s", field, logs.String())
		}
	}
	if err := echoOnce(echoLn.Addr().String(), 5); err != nil {
		t.Fatal(err)
	}
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
}
