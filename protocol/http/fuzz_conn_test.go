package http

import (
	"bufio"
	"bytes"
	"io"
	nethttp "net/http"
	"testing"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// fuzzHandler echoes the request, defers the answer (finished on a later
// loop turn) when the path contains "defer", streams when it contains
// "stream", and panics on "panic".
var fuzzHandler = HandlerFunc(func(w *ResponseWriter, r *Request) {
	path := r.PathBytes()
	switch {
	case bytes.Contains(path, []byte("panic")):
		panic("fuzz")
	case bytes.Contains(path, []byte("defer")):
		w.Defer()
		w.Loop().CallSoon(func() {
			w.WriteString("deferred " + r.Method() + " " + string(r.Body()))
			w.Finish()
		})
	case bytes.Contains(path, []byte("stream")):
		w.WriteString(r.Target())
		w.Flush()
		w.Write(r.Body())
	default:
		w.WriteString(r.Method() + " " + r.Target() + " " + r.Host() + " " + string(r.Body()))
	}
})

// runConn feeds pieces to a new connection, running the loop after each,
// and returns everything written, whether the connection closed, and the
// methods of the requests the handler saw (to read the responses by).
func runConn(pieces [][]byte) (string, bool, []string) {
	var methods []string
	record := HandlerFunc(func(w *ResponseWriter, r *Request) {
		methods = append(methods, r.Method())
		fuzzHandler(w, r)
	})
	srv, _ := NewServer(record, WithPanicHandler(func(*protocol.PanicError) {}),
		WithMaxRequestLine(256), WithMaxHeaderBytes(512), WithMaxHeaderFields(8), WithMaxBodyBytes(256))
	p := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(p)
	var out bytes.Buffer
	// Output is collected before each loop turn: once ConnectionLost has
	// run, the transport no longer holds it.
	drain := func() {
		out.Write(tr.Value())
		tr.Clear()
	}
	for _, piece := range pieces {
		p.DataReceived(piece)
		drain()
		for tr.FakeLoop().Advance(0) > 0 {
			drain()
		}
	}
	return out.String(), tr.Disconnecting() || tr.WriteClosed() || tr.Aborted(), methods
}

// split cuts data into pieces whose sizes come from seed.
func split(data []byte, seed uint64) [][]byte {
	var pieces [][]byte
	for len(data) > 0 {
		seed = seed*6364136223846793005 + 1442695040888963407
		n := int(seed>>58) + 1 // 1..64
		if seed>>57&1 == 0 {
			n = 1
		}
		n = min(n, len(data))
		pieces = append(pieces, data[:n])
		data = data[n:]
	}
	return pieces
}

// FuzzConnChunking feeds a byte stream to the connection whole and cut in
// arbitrary pieces: the output must be the same either way (parsing must
// not depend on how TCP segments the stream), and it must be a sequence of
// well-formed HTTP/1.1 responses.
func FuzzConnChunking(f *testing.F) {
	for _, s := range differentialSeeds {
		f.Add([]byte(s), uint64(1))
	}
	for i, s := range llhttpSeeds(f) {
		f.Add(s, uint64(i))
	}
	f.Add([]byte("GET /defer HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n"), uint64(7))
	f.Add([]byte("POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET /panic HTTP/1.1\r\nHost: a\r\n\r\n"), uint64(3))
	f.Add([]byte("POST /defer HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"), uint64(5))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		whole, closedWhole, methods := runConn([][]byte{data})
		cut, closedCut, _ := runConn(split(data, seed))
		// 100 Continue depends on whether the body came with the head.
		whole = stripContinue(whole)
		cut = stripContinue(cut)
		if whole != cut || closedWhole != closedCut {
			t.Fatalf("output depends on segmentation\nwhole  %q (closed %v)\npieces %q (closed %v)\ninput %q",
				whole, closedWhole, cut, closedCut, data)
		}
		br := bufio.NewReader(bytes.NewReader([]byte(whole)))
		for i := 0; ; i++ {
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
			// A response to HEAD has no body; the server's own error
			// responses come after those to the requests it served.
			req := &nethttp.Request{Method: "GET"}
			if i < len(methods) {
				req.Method = methods[i]
			}
			resp, err := nethttp.ReadResponse(br, req)
			if err != nil {
				t.Fatalf("malformed response: %v\noutput %q", err, whole)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil && resp.ContentLength >= 0 {
				t.Fatalf("malformed response body: %v\noutput %q", err, whole)
			}
			resp.Body.Close()
		}
	})
}

func stripContinue(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte("HTTP/1.1 100 Continue\r\n\r\n"), nil))
}
