package http

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	nethttp "net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/reactor"
)

// poolHasher hashes a streamed body on the worker pool, one piece at a
// time: it copies each piece, pauses the body while the job holds it, and
// resumes when the job is done. It answers with the byte count and the
// SHA-256.
type poolHasher struct {
	w    *ResponseWriter
	r    *Request
	h    hash.Hash
	buf  []byte
	n    int64
	busy bool
	end  bool
	err  error
}

func servePoolHasher(w *ResponseWriter, r *Request) {
	p := &poolHasher{w: w, r: r, h: sha256.New()}
	w.Defer()
	if err := r.ReadBody(p); err != nil {
		w.SetStatus(500)
		w.WriteString(err.Error())
		w.Finish()
	}
}

func (p *poolHasher) BodyData(b []byte) {
	p.buf = append(p.buf[:0], b...)
	p.n += int64(len(b))
	p.busy = true
	p.r.PauseBody()
	reactor.DeferToThread(p.w.Loop(), func() (int, error) {
		p.h.Write(p.buf)
		return 0, nil
	}).AddBoth(func(int, error) (int, error) {
		p.busy = false
		if p.end {
			p.answer()
		} else {
			p.r.ResumeBody()
		}
		return 0, nil
	})
}

func (p *poolHasher) BodyEnd(err error) {
	p.end, p.err = true, err
	if !p.busy {
		p.answer()
	}
}

func (p *poolHasher) answer() {
	if p.err != nil {
		p.w.SetStatus(400)
		p.w.WriteString(p.err.Error())
	} else {
		p.w.WriteString(strconv.FormatInt(p.n, 10) + " " + hex.EncodeToString(p.h.Sum(nil)))
	}
	p.w.Finish()
}

// bodySource produces size deterministic bytes without holding them.
type bodySource struct {
	left int64
	x    uint64
}

func (s *bodySource) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	for i := range p {
		s.x = s.x*6364136223846793005 + 1442695040888963407
		p[i] = byte(s.x >> 56)
	}
	s.left -= int64(len(p))
	return len(p), nil
}

// TestStreamedUploadOneGiBInBoundedMemory uploads 1 GiB over a loopback
// socket, with Content-Length and chunked, to a handler that hashes it on
// the worker pool, and samples the heap (after a GC) while it runs: the
// growth stays under 4 MiB, and the SHA-256 matches the client's.
func TestStreamedUploadOneGiBInBoundedMemory(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	rt := NewRouter()
	_ = rt.Handle("POST /upload", StreamingBody(HandlerFunc(servePoolHasher)))
	srv, _ := NewServer(rt)
	addr := runReactorForTest(t, 1, srv)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			var peak atomic.Uint64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ms runtime.MemStats
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					runtime.GC()
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
						peak.Store(ms.HeapAlloc - base)
					}
				}
			}()

			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sum := sha256.New()
			src := io.TeeReader(&bodySource{left: size, x: 1}, sum)
			bw := bufio.NewWriterSize(c, 64<<10)
			if chunked {
				fmt.Fprintf(bw, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
				buf := make([]byte, 60<<10)
				for {
					n, err := io.ReadFull(src, buf)
					if n > 0 {
						fmt.Fprintf(bw, "%x\r\n", n)
						bw.Write(buf[:n])
						bw.WriteString("\r\n")
					}
					if err != nil {
						break
					}
				}
				bw.WriteString("0\r\n\r\n")
			} else {
				fmt.Fprintf(bw, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
				if _, err := io.Copy(bw, src); err != nil {
					t.Fatal(err)
				}
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			close(stop)
			wg.Wait()
			want := strconv.FormatInt(size, 10) + " " + hex.EncodeToString(sum.Sum(nil))
			if resp.StatusCode != 200 || string(got) != want {
				t.Fatalf("%d %q, want %q", resp.StatusCode, got, want)
			}
			t.Logf("%d MiB uploaded, peak heap growth %d KiB", size>>20, peak.Load()>>10)
			if peak.Load() >= 4<<20 {
				t.Fatalf("heap grew by %d bytes, want under 4 MiB", peak.Load())
			}
		})
	}
}

// recordingConsumer records what a streamed body delivers.
type recordingConsumer struct {
	data strings.Builder
	end  []error
	r    *Request
	// pauseAfter pauses the body after each piece when set.
	pause bool
}

func (rc *recordingConsumer) BodyData(p []byte) {
	rc.data.Write(p)
	if rc.pause {
		rc.r.PauseBody()
	}
}
func (rc *recordingConsumer) BodyEnd(err error) { rc.end = append(rc.end, err) }

func TestStreamedBodyBackpressureAndFraming(t *testing.T) {
	for _, c := range []struct {
		name, head string
		pieces     []string
		want       string
	}{
		{"content-length", "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", []string{"hello", "world"}, "helloworld"},
		{"chunked", "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
			[]string{"5\r\nhel", "lo\r\n5;ext=1\r\nworld\r\n", "0\r\n\r\n"}, "helloworld"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := &recordingConsumer{pause: true}
			var w *ResponseWriter
			rt := NewRouter()
			_ = rt.Handle("POST /s", StreamingBody(HandlerFunc(func(rw *ResponseWriter, r *Request) {
				w = rw
				rc.r = r
				rw.Defer()
				if err := r.ReadBody(rc); err != nil {
					t.Error(err)
				}
				if err := r.ReadBody(rc); !errors.Is(err, ErrBodyStarted) {
					t.Errorf("second ReadBody: %v", err)
				}
			})))
			h := newHarness(t, rt)
			h.send(c.head)
			if w == nil {
				t.Fatal("handler not called once the head was parsed")
			}
			for _, p := range c.pieces {
				h.send(p)
				h.loop.Advance(0)
				if !h.tr.ReadingPaused() && len(rc.end) == 0 {
					t.Fatalf("reading not paused while the consumer is paused (after %q)", p)
				}
				rc.r.ResumeBody()
			}
			h.loop.Advance(0)
			if rc.data.String() != c.want || len(rc.end) != 1 || rc.end[0] != nil {
				t.Fatalf("delivered %q, ends %v", rc.data.String(), rc.end)
			}
			w.WriteString("ok")
			w.Finish()
			// The connection is kept alive and serves the next request.
			h.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
			rs := h.responses("POST", "GET")
			if body(rs[0]) != "ok" || rs[0].Close || rs[1].StatusCode != 405 {
				t.Fatalf("responses %v %q / %d", rs[0].Status, body(rs[0]), rs[1].StatusCode)
			}
		})
	}
}

// RFC 9110 §10.1.1: a server that sends 100 Continue commits to reading
// the body; it may instead answer with a final status and not read it.
func TestStreamedBodyContinueOnlyWhenAsked(t *testing.T) {
	var read bool
	var w *ResponseWriter
	var r *Request
	rt := NewRouter()
	_ = rt.Handle("PUT /f", StreamingBody(HandlerFunc(func(rw *ResponseWriter, rq *Request) {
		w, r = rw, rq
		rw.Defer()
	})))
	h := newHarness(t, rt, WithMaxBodyBytes(10))
	const head = "PUT /f HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"

	h.send(head) // over the in-memory limit, but streamed: no 413
	if out := h.tr.String(); out != "" {
		t.Fatalf("sent %q before the handler asked for the body", out)
	}
	rc := &recordingConsumer{}
	_ = r.ReadBody(rc)
	read = true
	if out := h.tr.String(); out != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("after ReadBody: %q", out)
	}
	_ = read
	w.Finish()

	// A handler that refuses without reading: no 100, and the
	// connection closes after the answer.
	h2 := newHarness(t, NewRouterWith(t, "PUT /f", StreamingBody(HandlerFunc(func(rw *ResponseWriter, rq *Request) {
		rw.SetStatus(401)
	}))))
	h2.send(head)
	out := h2.tr.String()
	if strings.Contains(out, "100 Continue") || !strings.HasPrefix(out, "HTTP/1.1 401") ||
		!strings.Contains(out, "Connection: close") {
		t.Fatalf("refusal: %q", out)
	}
}

func NewRouterWith(t *testing.T, pattern string, h Handler) *Router {
	rt := NewRouter()
	if err := rt.Handle(pattern, h); err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestStreamedBodyEndsWhenClientGoes(t *testing.T) {
	rc := &recordingConsumer{}
	rt := NewRouterWith(t, "POST /s", StreamingBody(HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Defer()
		_ = r.ReadBody(rc)
	})))
	h := newHarness(t, rt)
	h.send("POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	h.loop.Advance(0)
	h.tr.Disconnect(errors.New("reset"))
	if rc.data.String() != "abc" || len(rc.end) != 1 || !errors.Is(rc.end[0], ErrClientGone) {
		t.Fatalf("%q %v", rc.data.String(), rc.end)
	}
}

func TestNonStreamingHandlerKeepsBufferedBody(t *testing.T) {
	rt := NewRouterWith(t, "POST /b", HandlerFunc(func(w *ResponseWriter, r *Request) {
		if err := r.ReadBody(&recordingConsumer{}); !errors.Is(err, ErrNotStreaming) {
			t.Errorf("ReadBody: %v", err)
		}
		w.Write(r.Body())
	}))
	h := newHarness(t, rt, WithMaxBodyBytes(10))
	h.send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if resp := h.responses("POST")[0]; body(resp) != "hello" {
		t.Fatalf("%q", body(resp))
	}
	h.send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")
	if resp := h.responses("POST")[0]; resp.StatusCode != 413 {
		t.Fatalf("over the limit: %d", resp.StatusCode)
	}
}

// A consumer that finishes the response from BodyEnd, with a request
// pipelined right behind the body in the same read: both are answered, in
// order, and the body's bytes are not parsed as a request.
func TestStreamedBodyFinishedFromBodyEndThenPipelined(t *testing.T) {
	rt := NewRouter()
	_ = rt.Handle("POST /count", StreamingBody(HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Defer()
		_ = r.ReadBody(&byteCounterT{w: w})
	})))
	_ = rt.HandleFunc("GET /next", func(w *ResponseWriter, r *Request) { w.WriteString("next") })
	for _, c := range []struct{ name, first, second string }{
		{"content-length, one read", "POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{"content-length, body later", "POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", "helloGET /next HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"chunked, one read", "POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{"chunked, body later", "POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, rt)
			h.send(c.first)
			h.loop.Advance(0)
			if c.second != "" {
				h.send(c.second)
				h.loop.Advance(0)
			}
			rs := h.responses("POST", "GET")
			if body(rs[0]) != "5 bytes" || body(rs[1]) != "next" || h.closed() {
				t.Fatalf("%q / %q, closed %v", body(rs[0]), body(rs[1]), h.closed())
			}
		})
	}
}

type byteCounterT struct {
	w *ResponseWriter
	n int
}

func (b *byteCounterT) BodyData(p []byte) { b.n += len(p) }
func (b *byteCounterT) BodyEnd(err error) {
	b.w.WriteString(strconv.Itoa(b.n) + " bytes")
	b.w.Finish()
}

// A client that stops sending a streamed body: after the read-body
// timeout (never earlier) the consumer ends with ErrTimeout and the
// request's context is cancelled with ErrTimeout; while the consumer
// itself holds the body paused, the timeout does not run.
func TestStreamedBodyTimeout(t *testing.T) {
	rc := &recordingConsumer{}
	var ctx context.Context
	rt := NewRouterWith(t, "POST /s", StreamingBody(HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Defer()
		ctx = r.Context()
		rc.r = r
		_ = r.ReadBody(rc)
	})))
	h := newHarness(t, rt, WithReadBodyTimeout(5*time.Second))
	h.send("POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	h.loop.Advance(0)
	rc.r.PauseBody()
	h.loop.Advance(20 * time.Second) // paused by the server: no timeout
	if len(rc.end) != 0 {
		t.Fatalf("ended while paused by the consumer: %v", rc.end)
	}
	rc.r.ResumeBody()
	h.loop.Advance(4 * time.Second)
	if len(rc.end) != 0 {
		t.Fatal("ended before the timeout")
	}
	h.loop.Advance(2 * time.Second)
	if len(rc.end) != 1 || !errors.Is(rc.end[0], ErrTimeout) || !errors.Is(context.Cause(ctx), ErrTimeout) {
		t.Fatalf("ends %v, cause %v", rc.end, context.Cause(ctx))
	}
	if !h.closed() {
		t.Fatal("connection not closed")
	}
}
