package http

import (
	"bufio"
	"bytes"
	"io"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// How runConnMode ends the input.
const (
	endByNothing = iota // the client just stops sending
	endByEOF            // the client half-closes
	endByDrain          // the reactor stops gracefully
)

// runConnMode is runConn with the transport's water marks (small ones
// make flow control pause the connection often) and a way to end. As a
// reactor does, it delivers nothing while reading is paused: the client
// reads first, and the loop runs. It fails if reading stays paused with
// nothing left for the client to read or the loop to do.
func runConnMode(t *testing.T, pieces [][]byte, small bool, end int) (string, bool) {
	srv, _ := NewServer(fuzzHandler, WithPanicHandler(func(*protocol.PanicError) {}),
		WithMaxRequestLine(256), WithMaxHeaderBytes(512), WithMaxHeaderFields(8), WithMaxBodyBytes(256))
	p := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(p)
	if small {
		tr.SetWriteBufferLimits(256, 64)
	}
	var out bytes.Buffer
	settle := func() {
		for i := 0; ; i++ {
			if i == 100000 {
				t.Fatalf("the loop never settles\noutput so far %.500q", out.String())
			}
			out.Write(tr.Value())
			tr.Clear()
			if tr.FakeLoop().Advance(0) == 0 && tr.BufferedAmount() == 0 {
				return
			}
		}
	}
	for i, piece := range pieces {
		settle()
		if end == endByDrain && i == len(pieces)/2 {
			// Stop half-way: a request may be arriving.
			p.(protocol.Drainer).Drain()
			settle()
		}
		if tr.ReadingPaused() {
			if lost, _ := tr.Lost(); !lost && !tr.Disconnecting() && !tr.Aborted() {
				t.Fatalf("reading stays paused with all output read and nothing to run\noutput %q", out.String())
			}
			break
		}
		p.DataReceived(piece)
	}
	settle()
	switch end {
	case endByEOF:
		p.(protocol.HalfCloseable).ReadConnectionLost()
	case endByDrain:
		p.(protocol.Drainer).Drain() // again: a second Drain changes nothing
		settle()
		// The client goes away once it has its responses.
		p.(protocol.HalfCloseable).ReadConnectionLost()
	}
	settle()
	return out.String(), tr.Disconnecting() || tr.WriteClosed() || tr.Aborted()
}

// wellFormed fails unless out is a sequence of whole HTTP/1.1 responses.
func wellFormed(t *testing.T, out string) int {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(out))
	n := 0
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return n
		}
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("malformed response %d: %v\noutput %q", n, err, out)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil && resp.ContentLength >= 0 {
			t.Fatalf("malformed response %d body: %v\noutput %q", n, err, out)
		}
		resp.Body.Close()
		if resp.StatusCode != 100 {
			n++
		}
	}
}

// FuzzConnFlowControlHalfCloseAndDrain checks, for any input cut in any
// pieces: flow control changes no byte of the output (only when it is
// sent); after the client half-closes nothing is lost (the output is what
// it would have been, then at most a 400 for a request cut short) and the
// connection closes; after Drain (half-way through the input) the
// connection closes, having answered no more requests than it would have
// without it; every output is well-formed.
func FuzzConnFlowControlHalfCloseAndDrain(f *testing.F) {
	for _, s := range differentialSeeds {
		f.Add([]byte(s), uint64(1))
	}
	f.Add([]byte(strings.Repeat("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n", 40)), uint64(9))
	f.Add([]byte("GET /defer HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHo"), uint64(7))
	f.Add([]byte("POST /defer HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab"), uint64(5))
	f.Add([]byte("POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET /panic HTTP/1.1\r\nHost: a\r\n\r\n"), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		pieces := split(data, seed)
		plain, closedPlain := runConnMode(t, pieces, false, endByNothing)
		paced, closedPaced := runConnMode(t, pieces, true, endByNothing)
		if plain != paced || closedPlain != closedPaced {
			t.Fatalf("flow control changed the output\nfree  %q (closed %v)\npaced %q (closed %v)\ninput %q",
				plain, closedPlain, paced, closedPaced, data)
		}
		wellFormed(t, plain)
		for _, small := range []bool{false, true} {
			eof, closed := runConnMode(t, pieces, small, endByEOF)
			if !strings.HasPrefix(eof, plain) || !closed {
				t.Fatalf("half-close (small marks %v) lost output or did not close (closed %v)\nwithout %q\nwith    %q\ninput %q",
					small, closed, plain, eof, data)
			}
			if rest := eof[len(plain):]; rest != "" && !strings.HasPrefix(rest, "HTTP/1.1 400 ") {
				t.Fatalf("half-close added %q", rest)
			}
			answered := wellFormed(t, eof)
			drained, closed := runConnMode(t, pieces, small, endByDrain)
			if !closed {
				t.Fatalf("Drain (small marks %v) did not close\noutput %q\ninput %q", small, drained, data)
			}
			if n := wellFormed(t, drained); n > answered {
				t.Fatalf("Drain answered %d requests, more than the %d without it\ninput %q", n, answered, data)
			}
		}
	})
}
