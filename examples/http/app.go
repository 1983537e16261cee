package main

import (
	"strconv"
	"time"

	"github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/reactor"
)

// app routes requests. It runs on the connection's loop: nothing here may
// block, so /sleep hands its wait to the worker pool.
type app struct{}

func newApp() http.Handler { return app{} }

var (
	helloBody = []byte("Hello, World!")
	jsonBody  = []byte(`{"message":"Hello, World!"}`)
)

func (app) ServeHTTP(w *http.ResponseWriter, r *http.Request) {
	// Switching on the converted bytes does not allocate.
	switch string(r.PathBytes()) {
	case "/":
		if !allow(w, r, "GET") {
			return
		}
		w.SetHeader("Content-Type", "text/plain")
		w.Write(helloBody)
	case "/json":
		if !allow(w, r, "GET") {
			return
		}
		w.SetHeader("Content-Type", "application/json")
		w.Write(jsonBody)
	case "/sleep":
		if allow(w, r, "GET") {
			sleep(w, r)
		}
	case "/stream":
		if allow(w, r, "GET") {
			stream(w, r)
		}
	case "/echo":
		if !allow(w, r, "POST") {
			return
		}
		if ct := r.Header("Content-Type"); ct != "" {
			w.SetHeader("Content-Type", ct)
		}
		w.Write(r.Body())
	default:
		w.SetStatus(404)
		w.SetHeader("Content-Type", "text/plain")
		w.WriteString("404 page not found\n")
	}
}

// allow answers 405 unless the method is want (HEAD counts as GET).
func allow(w *http.ResponseWriter, r *http.Request, want string) bool {
	m := r.Method()
	if m == want || (want == "GET" && m == "HEAD") {
		return true
	}
	w.SetStatus(405)
	w.SetHeader("Allow", want)
	w.SetHeader("Content-Type", "text/plain")
	w.WriteString("405 method not allowed\n")
	return false
}

// badRequest answers 400 with a reason.
func badRequest(w *http.ResponseWriter, reason string) {
	w.SetStatus(400)
	w.SetHeader("Content-Type", "text/plain")
	w.WriteString(reason + "\n")
}

// intParam reads a decimal query parameter within [lo, hi].
func intParam(r *http.Request, name string, def, lo, hi int) (int, bool) {
	raw, ok := r.QueryBytes(name)
	if !ok {
		return def, true
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// sleep waits on the worker pool and answers from the Deferred, which
// fires back on this connection's loop.
func sleep(w *http.ResponseWriter, r *http.Request) {
	ms, ok := intParam(r, "ms", 0, 0, 10000)
	if !ok {
		badRequest(w, "ms must be an integer from 0 to 10000")
		return
	}
	w.Defer()
	d := reactor.DeferToThread(w.Loop(), func() (int, error) {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return ms, nil
	})
	d.AddBoth(func(ms int, err error) (int, error) {
		w.SetHeader("Content-Type", "text/plain")
		if err != nil {
			w.SetStatus(503)
			w.WriteString("worker pool: " + err.Error() + "\n")
		} else {
			w.WriteString("slept " + strconv.Itoa(ms) + " ms\n")
		}
		w.Finish()
		return ms, nil
	})
}

// stream sends n lines as a chunked body, writing only while the client
// keeps up (the transport's flow control pauses the producer).
func stream(w *http.ResponseWriter, r *http.Request) {
	n, ok := intParam(r, "n", 16, 1, 100000)
	if !ok {
		badRequest(w, "n must be an integer from 1 to 100000")
		return
	}
	w.SetHeader("Content-Type", "text/plain")
	w.Defer()
	p := &lineProducer{w: w, total: n}
	if err := w.RegisterProducer(p); err != nil {
		w.Finish()
		return
	}
	// Start on the next turn, once the handler has returned.
	w.Loop().CallSoon(p.ResumeProducing)
}

// lineProducer writes numbered lines until done or paused.
type lineProducer struct {
	w       *http.ResponseWriter
	sent    int
	total   int
	paused  bool
	stopped bool
	buf     []byte
}

func (p *lineProducer) ResumeProducing() {
	p.paused = false
	for !p.paused && !p.stopped && p.sent < p.total {
		p.sent++
		p.buf = append(p.buf[:0], "line "...)
		p.buf = strconv.AppendInt(p.buf, int64(p.sent), 10)
		p.buf = append(p.buf, " of "...)
		p.buf = strconv.AppendInt(p.buf, int64(p.total), 10)
		p.buf = append(p.buf, '\n')
		p.w.Write(p.buf)
		p.w.Flush()
		p.paused = p.w.Paused()
	}
	if p.sent == p.total && !p.stopped {
		p.stopped = true
		p.w.Finish()
	}
}

func (p *lineProducer) PauseProducing() { p.paused = true }
func (p *lineProducer) StopProducing()  { p.stopped = true }
