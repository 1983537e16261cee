package http

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/internal/reactorrun"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// clientEnv is a reactor running a Client on its first loop.
type clientEnv struct {
	r    *reactor.Reactor
	lp   protocol.Loop
	c    *Client
	done chan error
}

// startClient runs a one-loop reactor with a Client on it.
func startClient(t *testing.T, opts ...ClientOption) *clientEnv {
	t.Helper()
	return startClientLoops(t, 1, opts...)
}

// startClientLoops runs a reactor of loops loops with a Client on its
// first loop.
func startClientLoops(t *testing.T, loops int, opts ...ClientOption) *clientEnv {
	t.Helper()
	r, err := reactor.New(reactor.WithLoops(loops), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	e := &clientEnv{r: r, lp: r.Loops()[0], done: make(chan error, 1)}
	e.c, err = NewClient(e.lp, r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	go func() { e.done <- r.Run() }()
	<-running
	t.Cleanup(func() {
		e.onLoop(func() { e.c.Close() })
		r.Stop()
		select {
		case err := <-e.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("client reactor did not stop")
		}
	})
	return e
}

// onLoop runs fn on the client's loop and waits for it.
func (e *clientEnv) onLoop(fn func()) {
	ran := make(chan struct{})
	e.lp.CallFromThread(func() { fn(); close(ran) })
	<-ran
}

// start calls fn on the loop and returns the Deferred it made.
func (e *clientEnv) start(fn func(c *Client) *deferred.Deferred[*ClientResponse]) *deferred.Deferred[*ClientResponse] {
	var d *deferred.Deferred[*ClientResponse]
	e.onLoop(func() { d = fn(e.c) })
	return d
}

// wait awaits d with a generous hang guard (no timing is judged by it).
func wait(t *testing.T, d *deferred.Deferred[*ClientResponse]) (*ClientResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := d.Await(ctx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		t.Fatal("request hung")
	}
	return resp, err
}

// get sends a GET for url and waits for it.
func (e *clientEnv) get(t *testing.T, url string) (*ClientResponse, error) {
	t.Helper()
	return wait(t, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Get(url) }))
}

// mustGet is get failing the test on error.
func (e *clientEnv) mustGet(t *testing.T, url string) *ClientResponse {
	t.Helper()
	resp, err := e.get(t, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

// countingServer is an httptest server that counts the connections it
// accepted, by its ConnState hook.
type countingServer struct {
	*httptest.Server
	newConns, closed atomic.Int64
}

func newCountingServer(t *testing.T, h nethttp.Handler) *countingServer {
	t.Helper()
	return startCountingServer(t, h, nil)
}

// startCountingServer starts a countingServer, over TLS with tlsConfig
// when it is not nil.
func startCountingServer(t *testing.T, h nethttp.Handler, tlsConfig *tls.Config) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st nethttp.ConnState) {
		switch st {
		case nethttp.StateNew:
			s.newConns.Add(1)
		case nethttp.StateClosed, nethttp.StateHijacked:
			s.closed.Add(1)
		}
	}
	if tlsConfig != nil {
		s.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point of some tests
		s.TLS = tlsConfig
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// rawServer is a loopback TCP server whose connections run a script: it
// reads one request head at a time and answers whatever the test says.
type rawServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	conns chan *rawConn
}

// rawConn is one accepted connection of a rawServer.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

// readHead reads one request head and returns it ("" at EOF). A
// Content-Length body is read too.
func (c *rawConn) readHead() (string, error) {
	var b strings.Builder
	n := 0
	for {
		line, err := c.r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Length") {
			for _, ch := range strings.TrimSpace(v) {
				n = n*10 + int(ch-'0')
			}
		}
		if line == "\r\n" {
			break
		}
	}
	if n > 0 {
		body := make([]byte, n)
		if _, err := io.ReadFull(c.r, body); err != nil {
			return b.String(), err
		}
	}
	return b.String(), nil
}

// waitClosed reports whether the peer closed (EOF or reset) within the
// hang guard.
func (c *rawConn) waitClosed() bool {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// newRawServer listens on loopback; each accepted connection is handed to
// serve on its own goroutine (or to the conns channel when serve is nil).
func newRawServer(t *testing.T, serve func(c *rawConn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, conns: make(chan *rawConn, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rc := &rawConn{Conn: c, r: bufio.NewReader(c)}
			if serve == nil {
				s.conns <- rc
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				serve(rc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(s.conns)
		for c := range s.conns {
			c.Close()
		}
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) url(path string) string { return "http://" + s.ln.Addr().String() + path }

// next returns the next accepted connection of a server without a script.
func (s *rawServer) next(t *testing.T) *rawConn {
	t.Helper()
	select {
	case c := <-s.conns:
		c.SetDeadline(time.Now().Add(30 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no connection")
		return nil
	}
}

// liveMustaine is a protocol/http.Server on its own two-loop reactor.
type liveMustaine struct {
	addr string
}

func startMustaine(t *testing.T, h Handler) *liveMustaine {
	t.Helper()
	r, err := reactor.New(reactor.WithLoops(2), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(h)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := r.ListenTCP("127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	reactorrun.Run(t, r)
	return &liveMustaine{addr: ln.Addr().String()}
}
