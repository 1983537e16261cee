package http

import (
	"bufio"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// problemJSON is an error hook writing RFC 9457 problem details.
func problemJSON(e *ErrorResponse) {
	e.SetHeader("Content-Type", "application/problem+json")
	e.SetHeader("Content-Length", "1") // the server's: ignored
	e.WriteString(`{"status":` + strconv.Itoa(e.Status) + `,"title":"` + StatusText(e.Status) + `"}`)
}

// hookLog records what the response hook saw.
type hookLog struct {
	mu    sync.Mutex
	infos []ResponseInfo
	paths []string
}

func (l *hookLog) hook(r *Request, info ResponseInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.infos = append(l.infos, info)
	l.paths = append(l.paths, r.Path())
}

func (l *hookLog) last() (ResponseInfo, string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.infos) == 0 {
		return ResponseInfo{}, "", 0
	}
	return l.infos[len(l.infos)-1], l.paths[len(l.paths)-1], len(l.infos)
}

// TestErrorHookOnEveryServerGeneratedStatus provokes, over loopback
// sockets, each status the server generates itself and checks that the
// error hook's JSON body is what goes out, and that the response hook
// reports it. (The server sends no 503 while draining: it closes the
// connection, see the package doc.)
func TestErrorHookOnEveryServerGeneratedStatus(t *testing.T) {
	log := &hookLog{}
	rt := NewRouter()
	_ = rt.HandleFunc("GET /panic", func(*ResponseWriter, *Request) { panic("boom") })
	srv, err := NewServer(rt, WithErrorHandler(problemJSON), WithResponseHook(log.hook),
		WithReadHeaderTimeout(200*time.Millisecond), WithMaxBodyBytes(10),
		WithMaxRequestLine(64), WithMaxHeaderBytes(256),
		WithPanicHandler(func(*protocol.PanicError) {}))
	if err != nil {
		t.Fatal(err)
	}
	addr := runReactorForTest(t, 1, srv)
	cases := []struct {
		name, send string
		status     int
	}{
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"head timeout", "GET / HTTP/1.1\r\nHost: x\r\n", 408},
		{"body too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", 413},
		{"long target", "GET /" + strings.Repeat("a", 80) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n", 417},
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 300) + "\r\n\r\n", 431},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505},
		{"handler panic", "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n", 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, before := log.last()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write([]byte(c.send)); err != nil {
				t.Fatal(err)
			}
			resp, err := nethttp.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			want := `{"status":` + strconv.Itoa(c.status) + `,"title":"` + StatusText(c.status) + `"}`
			if resp.StatusCode != c.status || string(b) != want ||
				resp.Header.Get("Content-Type") != "application/problem+json" || !resp.Close {
				t.Fatalf("got %d %q %v close=%v, want %d %q", resp.StatusCode, b, resp.Header, resp.Close, c.status, want)
			}
			// The hook ran on the loop before the response was written.
			info, p, n := log.last()
			if n != before+1 || info.Status != c.status || info.Bytes != int64(len(want)) || p != "" && p != "/panic" {
				t.Fatalf("response hook: %d calls, last %+v", n-before, info)
			}
			if c.status == 500 {
				if !errors.Is(info.Err, protocol.ErrPanic) || info.ServerGenerated {
					t.Fatalf("panic reported as %+v", info)
				}
			} else if !info.ServerGenerated || info.Err != nil {
				t.Fatalf("reported as %+v", info)
			}
		})
	}
}

func TestErrorDefaultUnchangedWithoutHookOrBody(t *testing.T) {
	for _, opt := range []Option{nil, WithErrorHandler(func(e *ErrorResponse) {}),
		WithErrorHandler(func(e *ErrorResponse) { panic("hook") })} {
		h := newHarness(t, echo, opt)
		h.send("GET / HTTP/1.2\r\nHost: x\r\n\r\n")
		resp := h.response()
		if resp.StatusCode != 505 || body(resp) != StatusText(505)+"\n" ||
			resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("%d %q %v", resp.StatusCode, body(resp), resp.Header)
		}
	}
}

func TestResponseHookForImmediateDeferredStreamedAndLost(t *testing.T) {
	log := &hookLog{}
	var deferredW *ResponseWriter
	rt := NewRouter()
	_ = rt.HandleFunc("GET /now", func(w *ResponseWriter, r *Request) { w.WriteString("hello") })
	_ = rt.HandleFunc("GET /later", func(w *ResponseWriter, r *Request) { w.Defer(); deferredW = w })
	_ = rt.HandleFunc("GET /stream", func(w *ResponseWriter, r *Request) {
		w.SetStatus(201)
		w.Write(make([]byte, 40<<10)) // past the streaming threshold
		w.Flush()
		w.WriteString("tail")
	})
	h := newHarness(t, rt, WithResponseHook(log.hook))
	h.send("GET /now HTTP/1.1\r\nHost: x\r\n\r\n")
	h.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	h.send("GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, _, n := log.last(); n != 2 {
		t.Fatalf("%d reports before the deferred response finished, want 2", n)
	}
	h.loop.Advance(3 * time.Second)
	deferredW.SetStatus(202)
	deferredW.WriteString("done")
	deferredW.Finish()
	h.send("GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
	h.tr.Disconnect(errors.New("reset by peer"))
	if deferredW.Finish() != ErrConnectionLost {
		t.Fatal("Finish after the loss")
	}
	want := []struct {
		path   string
		status int
		bytes  int64
		err    error
	}{
		{"/now", 200, 5, nil}, {"/stream", 201, 40<<10 + 4, nil}, {"/later", 202, 4, nil}, {"/later", 200, 0, ErrClientGone},
	}
	if len(log.infos) != len(want) {
		t.Fatalf("%d reports: %+v", len(log.infos), log.infos)
	}
	for i, w := range want {
		got := log.infos[i]
		if log.paths[i] != w.path || got.Status != w.status || got.Bytes != w.bytes || !errors.Is(got.Err, w.err) && got.Err != w.err {
			t.Errorf("report %d: %s %+v, want %+v", i, log.paths[i], got, w)
		}
	}
	if d := log.infos[2].Duration; d < 3*time.Second {
		t.Errorf("deferred response's duration %v, never less than the 3 s it waited", d)
	}
}

// lockedBuffer is a goroutine-safe log sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Without WithPanicHandler, a handler panic is logged through the
// reactor's logger, with the loop and the peer.
func TestPanicLoggedThroughReactorLogger(t *testing.T) {
	logs := &lockedBuffer{}
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := NewServer(HandlerFunc(func(*ResponseWriter, *Request) { panic("kaboom") }))
	ln, err := r.ListenTCP("127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	defer func() { r.Stop(); <-done }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("%v %v", resp, err)
	}
	// The log line is written before the response is flushed.
	out := logs.String()
	for _, want := range []string{`"level":"error"`, `"panic":"kaboom"`, `"loop":0`, `"peer":"127.0.0.1:`, `"message":"http handler panicked"`, `"stack":`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %s", out, want)
		}
	}
}
