package main

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/reactor"
)

// newApp routes requests with the router (net/http.ServeMux's patterns).
// Every handler runs on the connection's loop: nothing here may block, so
// /sleep and /users/{id} hand their waiting to the worker pool, and
// /upload hashes on the pool while the body keeps coming.
//
// draining is the server's state for /healthz: set once it begins to stop.
func newApp(draining *atomic.Bool) http.Handler {
	rt := http.NewRouter()
	must(rt.HandleFunc("GET /{$}", hello))
	must(rt.HandleFunc("GET /json", jsonHello))
	must(rt.HandleFunc("GET /sleep", sleep))
	must(rt.HandleFunc("GET /stream", stream))
	must(rt.HandleFunc("POST /echo", echo))
	must(rt.HandleFunc("GET /users/{id}", getUser))
	must(rt.HandleFunc("GET /whoami", whoami))
	must(rt.HandleFunc("GET /healthz", func(w *http.ResponseWriter, r *http.Request) { healthz(w, draining.Load()) }))
	must(rt.Handle("POST /upload", http.StreamingBody(http.HandlerFunc(upload))))
	rt.NotFound(http.HandlerFunc(notFound))
	return rt
}

// must stops the program on a route that does not register: a typo or a
// conflict between two patterns is a bug to see at once.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

var (
	helloBody = []byte("Hello, World!")
	jsonBody  = []byte(`{"message":"Hello, World!"}`)
)

func hello(w *http.ResponseWriter, r *http.Request) {
	w.SetHeader("Content-Type", "text/plain")
	w.Write(helloBody)
}

func jsonHello(w *http.ResponseWriter, r *http.Request) {
	w.SetHeader("Content-Type", "application/json")
	w.Write(jsonBody)
}

// whoami answers the client's address as the handler sees it: behind a
// load balancer with -proxy-protocol, the original client's, not the
// balancer's.
func whoami(w *http.ResponseWriter, r *http.Request) {
	w.SetHeader("Content-Type", "text/plain")
	if a := r.RemoteAddr(); a != nil {
		w.Write([]byte(a.String() + "\n"))
	}
}

// healthz is the readiness check for load balancers (HAProxy's option
// httpchk, a Kubernetes readinessProbe): 200 while serving, 503 once the
// server drains, so the balancer stops sending it new requests while the
// ones in flight finish.
func healthz(w *http.ResponseWriter, draining bool) {
	w.SetHeader("Content-Type", "text/plain")
	if draining {
		w.SetStatus(503)
		w.WriteString("draining\n")
		return
	}
	w.WriteString("ok\n")
}

func echo(w *http.ResponseWriter, r *http.Request) {
	if ct := r.Header("Content-Type"); ct != "" {
		w.SetHeader("Content-Type", ct)
	}
	w.Write(r.Body())
}

func notFound(w *http.ResponseWriter, r *http.Request) {
	w.SetStatus(404)
	w.SetHeader("Content-Type", "text/plain")
	w.WriteString("404 page not found\n")
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
