package http

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/reactor"
)

// These tests run the server on a real reactor over loopback sockets, each
// with one and with two loops, and check the bytes the client receives:
// half-close (RFC 9112 §9.6: the server must not lose a response because
// the client shut its write side) and graceful stop (net/http's
// Server.Shutdown: idle connections close at once, requests in flight
// finish, nothing new starts).

var loopCounts = []int{1, 2}

// plainBody is what /plain answers.
var plainBody = strings.Repeat("plain response body. ", 50)

// streamLine is line i of n of /stream's body: 1000 bytes each.
func streamLine(i, n int) string {
	head := "line " + strconv.Itoa(i) + " of " + strconv.Itoa(n) + " "
	return head + strings.Repeat("s", 999-len(head)) + "\n"
}

func streamBody(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(streamLine(i, n))
	}
	return b.String()
}

// testApp is the handler of these tests.
type testApp struct {
	held chan heldResponse // /hold: the deferred response, for the test to finish
	jobs chan struct{}     // /job: told when a job was handed to the pool
	gate chan struct{}     // /job: the job returns once it is closed
	done chan struct{}     // /job: told when a job has returned
}

type heldResponse struct {
	w    *ResponseWriter
	loop int
}

func newTestApp() *testApp {
	return &testApp{
		held: make(chan heldResponse, 16),
		jobs: make(chan struct{}, 16),
		gate: make(chan struct{}),
		done: make(chan struct{}, 16),
	}
}

func (a *testApp) ServeHTTP(w *ResponseWriter, r *Request) {
	switch string(r.PathBytes()) {
	case "/plain":
		w.WriteString(plainBody)
	case "/whoami":
		w.WriteString(strconv.Itoa(w.Loop().Index()))
	case "/echo":
		w.Write(r.Body())
	case "/deferred":
		v, _ := r.QueryBytes("v")
		msg := "from the pool: " + string(v)
		// The job outlasts the client's FIN reaching the server (what
		// used to lose the response); the wait decides nothing here.
		w.Defer()
		reactor.DeferToThread(w.Loop(), func() (string, error) {
			time.Sleep(20 * time.Millisecond)
			return msg, nil
		}).
			AddBoth(func(s string, err error) (string, error) {
				if err != nil {
					w.SetStatus(503)
					s = err.Error()
				}
				w.WriteString(s)
				w.Finish()
				return s, nil
			})
	case "/job":
		w.Defer()
		reactor.DeferToThread(w.Loop(), func() (string, error) {
			defer func() { a.done <- struct{}{} }()
			<-a.gate
			return "job done", nil
		}).AddBoth(func(s string, err error) (string, error) {
			if err != nil {
				w.SetStatus(503)
				s = err.Error()
			}
			w.WriteString(s)
			w.Finish()
			return s, nil
		})
		a.jobs <- struct{}{}
	case "/hold":
		w.Defer()
		a.held <- heldResponse{w, w.Loop().Index()}
	case "/stream":
		n := 16
		if v, ok := r.QueryBytes("n"); ok {
			n, _ = strconv.Atoi(string(v))
		}
		w.Defer()
		p := &testProducer{w: w, n: n}
		if err := w.RegisterProducer(p); err != nil {
			w.Finish()
			return
		}
		w.Loop().CallSoon(p.ResumeProducing)
	default:
		w.SetStatus(404)
	}
}

// testProducer streams /stream's lines while the transport lets it.
type testProducer struct {
	w              *ResponseWriter
	sent, n        int
	paused, halted bool
}

func (p *testProducer) ResumeProducing() {
	p.paused = false
	for !p.paused && !p.halted && p.sent < p.n {
		p.sent++
		p.w.WriteString(streamLine(p.sent, p.n))
		p.w.Flush()
		p.paused = p.w.Paused()
	}
	if p.sent == p.n && !p.halted {
		p.halted = true
		p.w.Finish()
	}
}

func (p *testProducer) PauseProducing() { p.paused = true }
func (p *testProducer) StopProducing()  { p.halted = true }

// syncBuffer is a log destination written from the loops.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// liveServer is a reactor serving a testApp on a loopback port.
type liveServer struct {
	r    *reactor.Reactor
	app  *testApp
	addr string
	log  *syncBuffer
	done chan error
}

func startLive(t *testing.T, loops int, opts ...reactor.Option) *liveServer {
	t.Helper()
	s := &liveServer{app: newTestApp(), log: &syncBuffer{}, done: make(chan error, 1)}
	opts = append([]reactor.Option{
		reactor.WithLoops(loops), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(s.log).Level(zerolog.WarnLevel)),
	}, opts...)
	r, err := reactor.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(s.app)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := r.ListenTCP("127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	s.r, s.addr = r, ln.Addr().String()
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	go func() { s.done <- r.Run() }()
	<-running
	t.Cleanup(func() {
		s.r.Stop()
		s.wait(t)
	})
	return s
}

// wait waits for Run to return.
func (s *liveServer) wait(t *testing.T) {
	t.Helper()
	select {
	case err, ok := <-s.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(s.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}

func (s *liveServer) dial(t *testing.T) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return c.(*net.TCPConn)
}

// reply is one parsed response.
type reply struct {
	status int
	close  bool
	body   string
}

// parseReplies parses data as responses to requests with the given
// methods and fails if anything follows them.
func parseReplies(t *testing.T, data []byte, methods ...string) []reply {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(data))
	var out []reply
	for _, m := range methods {
		resp, err := nethttp.ReadResponse(br, &nethttp.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d: %v\nreceived %d bytes: %.300q", len(out), err, len(data), data)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("response %d body: %v", len(out), err)
		}
		out = append(out, reply{resp.StatusCode, resp.Close, string(b)})
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Fatalf("%d bytes after %d responses: %.200q", len(rest), len(out), rest)
	}
	return out
}

func getReq(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" }

func TestHalfClosedClientReceivesEveryResponseThenEOF(t *testing.T) {
	post := strings.Repeat("posted body ", 10000)
	cases := []struct {
		name    string
		send    string
		methods []string
		want    []reply // status and body of each response
	}{
		{"plain", getReq("/plain"), []string{"GET"}, []reply{{status: 200, body: plainBody}}},
		{"deferred", getReq("/deferred?v=abc"), []string{"GET"}, []reply{{status: 200, body: "from the pool: abc"}}},
		{"streamed", getReq("/stream?n=3000"), []string{"GET"}, []reply{{status: 200, body: streamBody(3000)}}},
		{"pipelined", getReq("/deferred?v=1") + getReq("/stream?n=500") + getReq("/plain"),
			[]string{"GET", "GET", "GET"},
			[]reply{{status: 200, body: "from the pool: 1"}, {status: 200, body: streamBody(500)}, {status: 200, body: plainBody}}},
		{"post", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(post)) + "\r\n\r\n" + post,
			[]string{"POST"}, []reply{{status: 200, body: post}}},
		// A request the EOF cuts short is answered 400, as net/http does.
		{"cut head", getReq("/plain") + "GET /plain HTTP/1.1\r\nHost:", []string{"GET", "GET"},
			[]reply{{status: 200, body: plainBody}, {status: 400, close: true, body: "Bad Request\n"}}},
		{"cut body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", []string{"POST"},
			[]reply{{status: 400, close: true, body: "Bad Request\n"}}},
	}
	for _, loops := range loopCounts {
		s := startLive(t, loops)
		for _, tc := range cases {
			t.Run(fmt.Sprintf("loops=%d/%s", loops, tc.name), func(t *testing.T) {
				c := s.dial(t)
				if _, err := c.Write([]byte(tc.send)); err != nil {
					t.Fatal(err)
				}
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(c) // to EOF: a reset is an error
				if err != nil {
					t.Fatalf("after %d bytes: %v", len(data), err)
				}
				got := parseReplies(t, data, tc.methods...)
				for i, want := range tc.want {
					g := got[i]
					if g.status != want.status || g.body != want.body || want.close && !g.close {
						t.Fatalf("response %d: status %d close %v body %d bytes %.80q; want status %d close %v body %d bytes %.80q",
							i, g.status, g.close, len(g.body), g.body, want.status, want.close, len(want.body), want.body)
					}
				}
			})
		}
	}
}

// sentinelOn opens idle keep-alive connections until one is on the given
// loop and returns it: when the reactor closes it on Stop, that loop has
// begun draining.
func sentinelOn(t *testing.T, s *liveServer, loop int) *net.TCPConn {
	t.Helper()
	for i := 0; i < 64; i++ {
		c := s.dial(t)
		if _, err := c.Write([]byte(getReq("/whoami"))); err != nil {
			t.Fatal(err)
		}
		resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) == strconv.Itoa(loop) {
			return c
		}
		c.Close()
	}
	t.Fatalf("no connection landed on loop %d", loop)
	return nil
}

// readToEOF reads c to a clean EOF.
func readToEOF(t *testing.T, c net.Conn) []byte {
	t.Helper()
	data, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(data), err)
	}
	return data
}

func TestStopClosesIdleAtOnceFinishesInFlightWithCloseAndStartsNothingBehind(t *testing.T) {
	for _, loops := range loopCounts {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			s := startLive(t, loops)
			// A deferred response with a pipelined request behind it.
			inFlight := s.dial(t)
			if _, err := inFlight.Write([]byte(getReq("/hold") + getReq("/plain"))); err != nil {
				t.Fatal(err)
			}
			held := <-s.app.held
			idle := sentinelOn(t, s, held.loop)

			// A streamed response whose head is out: the client reads the
			// head and stops reading.
			streamed := s.dial(t)
			const lines = 20000 // 20 MB: more than the socket buffers hold
			if _, err := streamed.Write([]byte(getReq("/stream?n=" + strconv.Itoa(lines)))); err != nil {
				t.Fatal(err)
			}
			sr := bufio.NewReader(streamed)
			sresp, err := nethttp.ReadResponse(sr, nil)
			if err != nil {
				t.Fatal(err)
			}

			if err := s.r.Stop(); err != nil {
				t.Fatal(err)
			}
			// The idle keep-alive connection closes at once: before the
			// response in flight is finished.
			if rest := readToEOF(t, idle); len(rest) > 0 {
				t.Fatalf("idle connection received %q on Stop", rest)
			}
			held.w.Loop().CallFromThread(func() {
				held.w.WriteString("held body")
				held.w.Finish()
			})
			got := parseReplies(t, readToEOF(t, inFlight), "GET")
			inFlight.Close() // ends the server's lingering close
			if got[0].status != 200 || got[0].body != "held body" || !got[0].close {
				t.Fatalf("in-flight response: %+v; want 200 \"held body\" with Connection: close, and nothing after it", got[0])
			}

			body, err := io.ReadAll(sresp.Body)
			if err != nil || string(body) != streamBody(lines) {
				t.Fatalf("streamed body: %d bytes, %v; want all %d lines", len(body), err, lines)
			}
			if rest := readToEOF(t, streamed); len(rest) > 0 || sr.Buffered() > 0 {
				t.Fatalf("%d bytes after the streamed response", len(rest)+sr.Buffered())
			}
			s.wait(t)
			if log := s.log.String(); log != "" {
				t.Fatalf("unexpected log: %s", log)
			}
		})
	}
}

func TestStopKeepsThePoolRunningForDrainingConnections(t *testing.T) {
	for _, loops := range loopCounts {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			// One worker: the second job waits in the queue when Stop
			// comes, and must still run.
			s := startLive(t, loops, reactor.WithWorkers(1))
			var conns []*net.TCPConn
			for i := 0; i < 2; i++ {
				c := s.dial(t)
				if _, err := c.Write([]byte(getReq("/job"))); err != nil {
					t.Fatal(err)
				}
				<-s.app.jobs
				conns = append(conns, c)
			}
			var idle []*net.TCPConn
			for l := 0; l < loops; l++ {
				idle = append(idle, sentinelOn(t, s, l))
			}
			if err := s.r.Stop(); err != nil {
				t.Fatal(err)
			}
			for _, c := range idle {
				readToEOF(t, c) // every loop is draining
			}
			close(s.app.gate)
			for i, c := range conns {
				got := parseReplies(t, readToEOF(t, c), "GET")
				if got[0].status != 200 || got[0].body != "job done" || !got[0].close {
					t.Fatalf("response %d: %+v; want 200 \"job done\" with Connection: close", i, got[0])
				}
			}
			s.wait(t)
		})
	}
}

func TestStopAbortsAJobLongerThanTheShutdownTimeoutAndLogsWhy(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, loops := range loopCounts {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			s := startLive(t, loops, reactor.WithShutdownTimeout(timeout))
			c := s.dial(t)
			if _, err := c.Write([]byte(getReq("/job"))); err != nil {
				t.Fatal(err)
			}
			<-s.app.jobs
			stopped := time.Now()
			if err := s.r.Stop(); err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(c)
			cut := time.Since(stopped)
			if len(data) != 0 || err == nil {
				t.Fatalf("client got %q, %v; want the connection reset with no response", data, err)
			}
			if cut < timeout {
				t.Fatalf("connection cut %v after Stop, before the %v shutdown timeout", cut, timeout)
			}
			s.wait(t)
			log := s.log.String()
			local := c.LocalAddr().String()
			if !strings.Contains(log, `"level":"warn"`) || !strings.Contains(log, `"conn":`) ||
				!strings.Contains(log, `"peer":"`+local+`"`) || !strings.Contains(log, "shutdown deadline passed") {
				t.Fatalf("log does not give the reason with the connection's fields:\n%s", log)
			}
			t.Logf("logged: %s", log)
			close(s.app.gate) // the job ends, so no goroutine outlives the test
			<-s.app.done
		})
	}
}

func TestStopFinishesARequestWhoseHeadWasArrivingWithConnectionClose(t *testing.T) {
	for _, loops := range loopCounts {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			s := startLive(t, loops)
			c := s.dial(t)
			// One write, so one read: once /whoami is answered, the start
			// of the next request has been read too.
			if _, err := c.Write([]byte(getReq("/whoami") + "GET /plain HTTP/1.1\r\nHo")); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := nethttp.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			loop, _ := io.ReadAll(resp.Body)
			n, _ := strconv.Atoi(string(loop))
			idle := sentinelOn(t, s, n)
			if err := s.r.Stop(); err != nil {
				t.Fatal(err)
			}
			readToEOF(t, idle) // the loop is draining
			if _, err := c.Write([]byte("st: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			got := parseReplies(t, readAllFrom(t, br), "GET")
			c.Close()
			if got[0].status != 200 || got[0].body != plainBody || !got[0].close {
				t.Fatalf("response: %+v; want 200 with Connection: close", got[0])
			}
			s.wait(t)
		})
	}
}

// readAllFrom reads r to a clean EOF.
func readAllFrom(t *testing.T, r io.Reader) []byte {
	t.Helper()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(data), err)
	}
	return data
}
