// Package nethttpbridge serves a standard net/http.Handler — a ServeMux,
// http.FileServer, the middleware and routers of the Go ecosystem — from
// Mustaine's HTTP server, on the reactor's worker pool.
//
// Each request is copied on the loop into a *net/http.Request (method, URL,
// header fields, Host, RemoteAddr, the request's context) and the handler
// runs on a worker, where it may block. Its request body is the
// server's streamed body (protocol/http StreamingBody), read with
// backpressure: the connection stops reading while the handler has not
// consumed what came. Its ResponseWriter buffers up to 32 KiB on the worker
// and hands the status, header and body to the loop when the buffer fills,
// on Flush (http.Flusher is supported: the head and the body so far go out
// at once) and when the handler returns; each handover waits until the loop
// has written the bytes, and while the client reads too slowly it waits
// for the output to drain, so a handler that streams cannot make the
// server's memory grow. With "Expect: 100-continue", 100 Continue goes
// out on the handler's first Read of the body, as with net/http. As
// net/http does, a missing Content-Type is
// sniffed from the first 512 bytes; a response the handler finishes
// within the buffer gets an exact Content-Length.
//
// Not supported: http.Hijacker (there is no net.Conn to take over),
// response trailers, 1xx responses from the handler. A handler that panics
// is answered with 500 when nothing was sent yet; otherwise the response
// is ended where it stands.
//
// The cost is a few allocations and two hand-overs between goroutines per
// request (see BenchmarkBridge in the tests beside native handlers): use
// native handlers on the hot path and the bridge for the rest.
package nethttpbridge

import (
	"bytes"
	"context"
	"errors"
	"io"
	nethttp "net/http"
	"strings"
	"sync"

	mhttp "github.com/mustaine/mustaine/protocol/http"
)

// ErrPoolRefused is the error the body of a 503 names when run refused the
// job (the pool is full or the reactor stopping).
var ErrPoolRefused = errors.New("nethttpbridge: worker pool refused the request")

// Handler returns a Mustaine handler serving h. run starts a function on
// the worker pool: pass the reactor's CallInThread method. When run fails,
// the client gets 503 Service Unavailable.
func Handler(h nethttp.Handler, run func(func()) error) mhttp.Handler {
	return mhttp.StreamingBody(&bridge{h: h, run: run})
}

type bridge struct {
	h   nethttp.Handler
	run func(func()) error
}

// bufSize is how much body the worker buffers before handing it over.
const bufSize = 32 << 10

func (b *bridge) ServeHTTP(w *mhttp.ResponseWriter, r *mhttp.Request) {
	req, err := newRequest(r)
	if err != nil {
		w.SetStatus(400)
		w.SetHeader("Content-Type", "text/plain; charset=utf-8")
		w.WriteString("Bad Request: " + err.Error() + "\n")
		return
	}
	x := &exchange{w: w, r: r, loop: w.Loop(), ctx: req.Context()}
	x.rw.x = x
	x.rw.header = make(nethttp.Header)
	x.rw.status = 200
	x.body.x = x
	x.body.cond.L = &x.body.mu
	streamed := r.ContentLength() != 0 && len(r.Body()) == 0
	expect := strings.EqualFold(r.Header("Expect"), "100-continue")
	err = nil
	if streamed && !expect {
		err = r.ReadBody(&x.body)
	}
	switch {
	case streamed && expect:
		// The body is asked for (and 100 Continue sent) on the
		// handler's first Read, as net/http does.
		x.body.lazy = true
		req.Body = &x.body
	case streamed && err == nil:
		req.Body = &x.body
	case len(r.Body()) > 0:
		req.Body = io.NopCloser(bytes.NewReader(bytes.Clone(r.Body())))
	default:
		req.Body = nethttp.NoBody
	}
	w.Defer()
	if err := b.run(func() { x.serve(b.h, req) }); err != nil {
		x.finished = true
		x.body.abandon()
		w.SetStatus(503)
		w.SetHeader("Content-Type", "text/plain; charset=utf-8")
		w.WriteString(ErrPoolRefused.Error() + ": " + err.Error() + "\n")
		w.Finish()
	}
}

// newRequest copies r, on the loop, into a net/http server request.
func newRequest(r *mhttp.Request) (*nethttp.Request, error) {
	u, err := r.URL()
	if err != nil {
		return nil, err
	}
	uc := *u
	h := make(nethttp.Header, r.NumHeaders())
	for i := 0; i < r.NumHeaders(); i++ {
		name, value := r.HeaderAt(i)
		k := nethttp.CanonicalHeaderKey(string(name))
		h[k] = append(h[k], string(value))
	}
	req := &nethttp.Request{
		Method:     r.Method(),
		URL:        &uc,
		Proto:      r.Proto(),
		ProtoMajor: 1,
		ProtoMinor: r.ProtoMinor(),
		Header:     h,
		Host:       r.Host(),
		RequestURI: r.Target(),
		Close:      !r.KeepAlive(),
	}
	if r.RemoteAddr() != nil {
		req.RemoteAddr = r.RemoteAddr().String()
	}
	switch n := r.ContentLength(); {
	case n >= 0:
		req.ContentLength = n
	default:
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
	}
	h.Del("Transfer-Encoding")
	h.Del("Host")
	return req.WithContext(r.Context()), nil
}

// exchange is one request crossing between the loop and a worker.
type exchange struct {
	w    *mhttp.ResponseWriter
	r    *mhttp.Request
	loop interface{ CallFromThread(func()) }
	ctx  context.Context // the request's: ends when the client goes
	rw   responseWriter
	body bodyPipe

	// Loop side only.
	finished bool
	started  bool // the head was handed over
	paused   bool // the transport asked the producer to pause
	waiting  chan struct{}
}

// serve runs the handler on the worker.
func (x *exchange) serve(h nethttp.Handler, req *nethttp.Request) {
	panicked := true
	defer func() {
		if panicked {
			recover()
		}
		x.body.abandon()
		x.rw.finish(panicked)
	}()
	h.ServeHTTP(&x.rw, req)
	panicked = false
}

// handOver runs fn on the loop and waits until it has run and the
// transport can take more output. It reports false when it stopped
// waiting because the client is gone (fn may still run later).
func (x *exchange) handOver(fn func()) bool {
	done := make(chan struct{})
	x.loop.CallFromThread(func() {
		if x.finished {
			close(done)
			return
		}
		fn()
		if x.finished || !x.w.Paused() {
			close(done)
			return
		}
		// The client reads slowly: answer once the output drained.
		if err := x.w.RegisterProducer(x); err != nil {
			close(done)
			return
		}
		x.waiting = done
	})
	ctxDone := x.ctx.Done()
	for {
		select {
		case <-done:
			return true
		case <-ctxDone:
			if errors.Is(context.Cause(x.ctx), mhttp.ErrServerShutdown) {
				ctxDone = nil // draining: the response is still wanted
				continue
			}
			return false
		}
	}
}

// PauseProducing, ResumeProducing and StopProducing make a waiting worker
// go on once the transport's output drained, or the connection is lost.
func (x *exchange) PauseProducing() { x.paused = true }

// ResumeProducing releases the waiting worker.
func (x *exchange) ResumeProducing() {
	x.paused = false
	x.release()
}

// StopProducing releases the waiting worker: the connection is gone.
func (x *exchange) StopProducing() { x.release() }

func (x *exchange) release() {
	if x.waiting != nil {
		close(x.waiting)
		x.waiting = nil
	}
}

// responseWriter is the net/http.ResponseWriter the handler sees, on its
// worker.
type responseWriter struct {
	x           *exchange
	header      nethttp.Header
	status      int
	wroteHeader bool
	sent        bool // the head went to the loop
	buf         []byte
	gone        bool
}

var (
	_ nethttp.ResponseWriter = (*responseWriter)(nil)
	_ nethttp.Flusher        = (*responseWriter)(nil)
)

func (rw *responseWriter) Header() nethttp.Header { return rw.header }

func (rw *responseWriter) WriteHeader(code int) {
	if rw.wroteHeader || code < 200 {
		return
	}
	rw.wroteHeader = true
	rw.status = code
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if rw.gone {
		return 0, mhttp.ErrConnectionLost
	}
	if !rw.wroteHeader {
		rw.WriteHeader(200)
	}
	n := len(p)
	for len(p) > 0 {
		k := bufSize - len(rw.buf)
		if k > len(p) {
			k = len(p)
		}
		rw.buf = append(rw.buf, p[:k]...)
		p = p[k:]
		if len(rw.buf) >= bufSize {
			rw.push(false, false)
			if rw.gone {
				return n - len(p), mhttp.ErrConnectionLost
			}
		}
	}
	return n, nil
}

// Flush sends the head and the body written so far.
func (rw *responseWriter) Flush() {
	if !rw.wroteHeader {
		rw.WriteHeader(200)
	}
	rw.push(true, false)
}

// finish hands over the rest and finishes the response.
func (rw *responseWriter) finish(panicked bool) {
	if panicked && !rw.sent {
		rw.header = nethttp.Header{"Content-Type": {"text/plain; charset=utf-8"}}
		rw.status, rw.buf = 500, append(rw.buf[:0], "Internal Server Error\n"...)
	}
	rw.push(false, true)
}

// push hands the head (the first time) and the buffered body to the loop.
func (rw *responseWriter) push(flush, last bool) {
	x := rw.x
	var head nethttp.Header
	if !rw.sent {
		rw.sent = true
		head = rw.header.Clone()
		if _, ok := head["Content-Type"]; !ok && len(rw.buf) > 0 && head.Get("Content-Encoding") == "" {
			head.Set("Content-Type", nethttp.DetectContentType(rw.buf))
		}
	}
	status := rw.status
	data := rw.buf
	rw.buf = nil
	gone := false
	waited := x.handOver(func() {
		w := x.w
		if head != nil {
			x.started = true
			w.SetStatus(status)
			for k, vs := range head {
				for _, v := range vs {
					w.AddHeader(k, v)
				}
			}
		}
		if len(data) > 0 {
			if _, err := w.Write(data); errors.Is(err, mhttp.ErrConnectionLost) {
				gone = true
			}
		}
		if flush {
			_ = w.Flush()
		}
		if last {
			x.finished = true
			x.body.abandon()
			_ = w.Finish()
		}
	})
	if !waited {
		rw.gone = true // data may still be in use by the loop: not reused
		return
	}
	if gone {
		rw.gone = true
	}
	if cap(data) >= bufSize {
		rw.buf = data[:0]
	}
}

// bodyPipe carries the streamed request body from the loop to the
// handler's worker. Up to a high mark of it waits; past it the body is
// paused until the handler has read it down.
type bodyPipe struct {
	x      *exchange
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	err    error // io.EOF at the end
	paused bool  // the loop paused the body
	lazy   bool  // ReadBody waits for the first Read (Expect: 100-continue)
	closed bool  // the handler closed the body or returned
}

const pipeHigh = 64 << 10

// BodyData runs on the loop.
func (p *bodyPipe) BodyData(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.buf = append(p.buf, b...)
	if len(p.buf) >= pipeHigh && !p.paused {
		p.paused = true
		p.x.r.PauseBody()
	}
	p.cond.Broadcast()
}

// BodyEnd runs on the loop.
func (p *bodyPipe) BodyEnd(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		err = io.EOF
	} else if errors.Is(err, mhttp.ErrClientGone) || errors.Is(err, mhttp.ErrResponseFinished) {
		err = io.ErrUnexpectedEOF
	}
	p.err = err
	p.cond.Broadcast()
}

// Read runs on the worker.
func (p *bodyPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lazy {
		p.lazy = false
		x := p.x
		x.loop.CallFromThread(func() {
			if x.finished {
				return
			}
			if err := x.r.ReadBody(p); errors.Is(err, mhttp.ErrNotStreaming) {
				p.BodyEnd(nil) // an empty body, already read
			} else if err != nil {
				p.BodyEnd(err)
			}
		})
	}
	for len(p.buf) == 0 && p.err == nil && !p.closed {
		p.cond.Wait()
	}
	if p.closed {
		return 0, nethttp.ErrBodyReadAfterClose
	}
	if len(p.buf) == 0 {
		return 0, p.err
	}
	n := copy(b, p.buf)
	p.buf = p.buf[:copy(p.buf, p.buf[n:])]
	if p.paused && len(p.buf) < pipeHigh/2 {
		p.paused = false
		x := p.x
		x.loop.CallFromThread(func() {
			if !x.finished {
				x.r.ResumeBody()
			}
		})
	}
	return n, nil
}

// Close runs on the worker.
func (p *bodyPipe) Close() error {
	p.abandon()
	return nil
}

// abandon drops what waits: the handler will read no more.
func (p *bodyPipe) abandon() {
	if p.cond.L == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.buf = nil
	p.cond.Broadcast()
}
