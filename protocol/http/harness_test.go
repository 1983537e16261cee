package http

import (
	"bufio"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// harness is one server connection over an in-memory transport.
type harness struct {
	t    testing.TB
	srv  *Server
	p    protocol.Protocol
	tr   *reactortest.Transport
	loop *reactortest.Loop
}

func newHarness(t testing.TB, h Handler, opts ...Option) *harness {
	t.Helper()
	srv, err := NewServer(h, opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	p := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(p)
	return &harness{t: t, srv: srv, p: p, tr: tr, loop: tr.FakeLoop()}
}

func (h *harness) send(s string) { h.p.DataReceived([]byte(s)) }

// responses parses everything written so far as responses to requests
// with the given methods, and clears the output.
func (h *harness) responses(methods ...string) []*nethttp.Response {
	h.t.Helper()
	out := h.tr.String()
	h.tr.Clear()
	br := bufio.NewReader(strings.NewReader(out))
	var rs []*nethttp.Response
	for _, m := range methods {
		req := &nethttp.Request{Method: m}
		resp, err := nethttp.ReadResponse(br, req)
		if err != nil {
			h.t.Fatalf("response %d to %s: %v\noutput: %q", len(rs), m, err, out)
		}
		body := new(strings.Builder)
		if _, err := bufio.NewReader(resp.Body).WriteTo(body); err != nil {
			h.t.Fatalf("response %d body: %v\noutput: %q", len(rs), err, out)
		}
		resp.Body.Close()
		resp.Header.Set("X-Test-Body", body.String())
		rs = append(rs, resp)
	}
	if rest, _ := br.Peek(1); len(rest) > 0 {
		h.t.Fatalf("unexpected output after %d responses: %q", len(rs), out)
	}
	return rs
}

// response parses exactly one response to a GET.
func (h *harness) response() *nethttp.Response {
	h.t.Helper()
	return h.responses("GET")[0]
}

func body(r *nethttp.Response) string { return r.Header.Get("X-Test-Body") }

// closed reports whether the server closed (or half-closed) the connection.
func (h *harness) closed() bool {
	return h.tr.Disconnecting() || h.tr.WriteClosed() || h.tr.Aborted()
}

// echo answers with the request's method, target, host and body.
var echo = HandlerFunc(func(w *ResponseWriter, r *Request) {
	w.SetHeader("Content-Type", "text/plain")
	w.WriteString(r.Method() + " " + r.Target() + " host=" + r.Host() + " path=" + r.Path() +
		" query=" + r.RawQuery() + " body=" + string(r.Body()))
})
