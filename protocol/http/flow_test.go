package http

import (
	"bufio"
	"io"
	nethttp "net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/mustaine/mustaine/reactor/reactortest"
)

// A client that pipelines requests and does not read the responses: the
// connection dispatches no new request once its unsent output is above
// the transport's high-water mark, stops reading, and goes on once the
// client has read below the low mark. The responses are all there, in
// order, in the end.
func TestPipelinedRequestsWaitWhileTheClientDoesNotRead(t *testing.T) {
	const requests = 20000
	h := newHarness(t, echo)
	var in strings.Builder
	for i := 0; i < requests; i++ {
		in.WriteString("GET /r/" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: a\r\n\r\n")
	}
	h.send(in.String())
	// The bound: the high-water mark, plus what one hand-over adds.
	bound := reactortest.DefaultHighWater + outHandOver + 512
	if n := h.tr.BufferedAmount(); n > bound || !h.tr.ReadingPaused() {
		t.Fatalf("%d bytes buffered (bound %d), reading paused %v, after %d bytes of requests",
			n, bound, h.tr.ReadingPaused(), in.Len())
	}
	var out strings.Builder
	for i := 0; i < requests && (h.tr.BufferedAmount() > 0 || h.tr.ReadingPaused()); i++ {
		if n := h.tr.BufferedAmount(); n > bound {
			t.Fatalf("%d bytes buffered, bound %d", n, bound)
		}
		out.WriteString(h.tr.String())
		h.tr.Clear() // the client reads everything: the connection goes on
	}
	if h.tr.ReadingPaused() {
		t.Fatal("reading still paused once every response was read")
	}
	br := bufio.NewReader(strings.NewReader(out.String()))
	for i := 0; i < requests; i++ {
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if want := "GET /r/" + strconv.Itoa(i) + " "; !strings.HasPrefix(string(b), want) {
			t.Fatalf("response %d: %q, want it to start %q", i, b, want)
		}
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Fatalf("%d bytes after %d responses", len(rest), requests)
	}
}

// The write timeout also runs while pipelined responses are held up.
func TestWriteTimeoutAbortsAPipeliningClientThatNeverReads(t *testing.T) {
	h := newHarness(t, echo, WithWriteTimeout(5e9))
	h.send(strings.Repeat(get, 20000))
	if !h.tr.ReadingPaused() {
		t.Fatal("reading not paused")
	}
	h.loop.Advance(6e9)
	h.loop.RunPending()
	if !h.tr.Aborted() {
		t.Fatal("not aborted at the write timeout")
	}
}
