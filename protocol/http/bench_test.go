package http

import (
	"strings"
	"testing"

	"github.com/mustaine/mustaine/reactor/reactortest"
)

// wrkGET is the request wrk sends by default.
const wrkGET = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"

// browserGET is a request with the header fields a browser sends.
const browserGET = "GET /static/app.js?v=3 HTTP/1.1\r\nHost: example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
	"Referer: https://example.com/\r\nConnection: keep-alive\r\nCookie: session=0123456789abcdef\r\n" +
	"Sec-Fetch-Dest: script\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: same-origin\r\n\r\n"

func benchmarkParse(b *testing.B, req string) {
	lim := defaultConfig().limits
	data := []byte(req)
	var r Request
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.reset()
		if n, st := parseHead(data, &r, &lim); n != len(data) || st != 0 {
			b.Fatalf("parse: %d %d", n, st)
		}
	}
}

func BenchmarkParseWrkGET(b *testing.B)     { benchmarkParse(b, wrkGET) }
func BenchmarkParseBrowserGET(b *testing.B) { benchmarkParse(b, browserGET) }

var hello = HandlerFunc(func(w *ResponseWriter, r *Request) {
	w.SetHeader("Content-Type", "text/plain")
	w.WriteString("Hello, World!")
})

// benchmarkRound measures requests through the whole protocol over the
// in-memory transport: parse, handler, response, write.
func benchmarkRound(b *testing.B, h Handler, pipelined int) {
	srv, _ := NewServer(h, WithServerName("Mustaine"))
	p := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(p)
	data := []byte(strings.Repeat(wrkGET, pipelined))
	p.DataReceived(data) // warm the pools
	if !strings.HasPrefix(tr.String(), "HTTP/1.1 200 OK") {
		b.Fatalf("response %q", tr.String())
	}
	tr.Clear()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p.DataReceived(data)
		tr.Clear()
	}
}

func BenchmarkRoundTripPlaintext(b *testing.B) { benchmarkRound(b, hello, 1) }
func BenchmarkPipelined16(b *testing.B)        { benchmarkRound(b, hello, 16) }

func TestPlaintextGETDoesNotAllocate(t *testing.T) {
	srv, _ := NewServer(hello, WithServerName("Mustaine"))
	p := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(p)
	data := []byte(wrkGET)
	p.DataReceived(data)
	tr.Clear()
	if n := testing.AllocsPerRun(1000, func() {
		p.DataReceived(data)
		tr.Clear()
	}); n != 0 {
		t.Fatalf("%v allocations per request, want 0", n)
	}
}

// BenchmarkPipelined16Routed is BenchmarkPipelined16 through a Router with
// the example server's routes, as the bench's pipelined load runs it.
func BenchmarkPipelined16Routed(b *testing.B) {
	rt := NewRouter()
	for _, p := range []string{"GET /{$}", "GET /json", "GET /sleep", "GET /stream", "POST /echo", "GET /users/{id}", "GET /whoami"} {
		if err := rt.Handle(p, hello); err != nil {
			b.Fatal(err)
		}
	}
	benchmarkRound(b, rt, 16)
}
