package http

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

const get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

func TestKeepAliveByDefaultForHTTP11(t *testing.T) {
	h := newHarness(t, echo)
	h.send(get)
	h.send(get)
	rs := h.responses("GET", "GET")
	if rs[0].Close || rs[1].Close || h.closed() {
		t.Fatal("HTTP/1.1 connection not kept alive")
	}
}

func TestConnectionCloseClosesAfterResponse(t *testing.T) {
	h := newHarness(t, echo)
	h.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n" + get)
	r := h.response() // the pipelined second request is not answered
	if !r.Close || !h.closed() {
		t.Fatalf("Close=%v closed=%v", r.Close, h.closed())
	}
}

func TestHTTP10ClosesByDefault(t *testing.T) {
	h := newHarness(t, echo)
	h.send("GET / HTTP/1.0\r\n\r\n")
	if r := h.response(); !r.Close || !h.tr.Disconnecting() {
		t.Fatal("HTTP/1.0 without keep-alive left open")
	}
}

func TestHTTP10KeepAliveKeepsConnection(t *testing.T) {
	h := newHarness(t, echo)
	h.send("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
	r := h.response()
	if r.Close || h.closed() || r.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("Close=%v closed=%v Connection=%q", r.Close, h.closed(), r.Header.Get("Connection"))
	}
}

// countingTransport counts Write calls, to check that pipelined responses
// leave in one write.
type countingTransport struct {
	*reactortest.Transport
	writes int
}

func (c *countingTransport) Write(p []byte) (int, error) {
	c.writes++
	return c.Transport.Write(p)
}

func TestPipelinedRequestsAnsweredInOrderInOneWrite(t *testing.T) {
	srv, _ := NewServer(echo)
	p := srv.BuildProtocol(reactortest.ClientAddr)
	tr := &countingTransport{Transport: reactortest.NewTransport()}
	p.ConnectionMade(tr)
	var in strings.Builder
	methods := make([]string, 100)
	for i := range methods {
		methods[i] = "GET"
		in.WriteString("GET /" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: a\r\n\r\n")
	}
	p.DataReceived([]byte(in.String()))
	if tr.writes != 1 {
		t.Fatalf("%d writes for 100 pipelined requests, want 1", tr.writes)
	}
	h := &harness{t: t, tr: tr.Transport}
	for i, r := range h.responses(methods...) {
		if want := "GET /" + strconv.Itoa(i) + " "; !strings.HasPrefix(body(r), want) {
			t.Fatalf("response %d is %q, want it to start with %q", i, body(r), want)
		}
	}
}

func TestDeferredResponseHoldsLaterPipelinedRequests(t *testing.T) {
	var pending *ResponseWriter
	var pendingReq *Request
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		if r.Path() == "/slow" {
			w.Defer()
			pending, pendingReq = w, r
			return
		}
		w.WriteString("fast " + r.Path())
	}))
	h.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /fast1 HTTP/1.1\r\nHost: a\r\n\r\n")
	h.send("GET /fast2 HTTP/1.1\r\nHost: a\r\n\r\n") // arrives while /slow is pending
	if out := h.tr.String(); out != "" {
		t.Fatalf("output before the deferred response finished: %q", out)
	}
	// The deferred request is intact although the input buffer moved on.
	if pendingReq.Path() != "/slow" || pendingReq.Header("host") != "a" {
		t.Fatalf("deferred request changed: path %q host %q", pendingReq.Path(), pendingReq.Header("host"))
	}
	pending.WriteString("slow done")
	if err := pending.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	rs := h.responses("GET", "GET", "GET")
	for i, want := range []string{"slow done", "fast /fast1", "fast /fast2"} {
		if body(rs[i]) != want {
			t.Fatalf("response %d is %q, want %q", i, body(rs[i]), want)
		}
	}
}

func TestDeferredRequestKeepsBodyFromDataBuffer(t *testing.T) {
	var pending *ResponseWriter
	var req *Request
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Defer()
		pending, req = w, r
	}))
	data := []byte("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody")
	h.p.DataReceived(data)
	for i := range data {
		data[i] = 'X' // the transport reuses its read buffer
	}
	if string(req.Body()) != "body" || req.Path() != "/up" {
		t.Fatalf("deferred request lost its bytes: body %q path %q", req.Body(), req.Path())
	}
	pending.Write(req.Body())
	pending.Finish()
	if r := h.response(); body(r) != "body" {
		t.Fatalf("body %q", body(r))
	}
}

func TestFinishTwiceFails(t *testing.T) {
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		if err := w.Finish(); err != nil {
			t.Errorf("first Finish: %v", err)
		}
		if err := w.Finish(); !errors.Is(err, ErrResponseFinished) {
			t.Errorf("second Finish: %v, want ErrResponseFinished", err)
		}
		if _, err := w.WriteString("late"); !errors.Is(err, ErrResponseFinished) {
			t.Errorf("Write after Finish: %v", err)
		}
	}))
	h.send(get)
	if r := h.response(); r.StatusCode != 200 || body(r) != "" {
		t.Fatalf("status %d body %q", r.StatusCode, body(r))
	}
}

func TestDeferredFinishAfterConnectionLost(t *testing.T) {
	var pending *ResponseWriter
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Defer()
		pending = w
	}))
	h.send(get)
	h.tr.Disconnect(protocol.ErrPeerReset)
	if _, err := pending.WriteString("x"); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Write: %v, want ErrConnectionLost", err)
	}
	if err := pending.Finish(); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Finish: %v, want ErrConnectionLost", err)
	}
}

func TestExpectContinueSentBeforeBody(t *testing.T) {
	h := newHarness(t, echo)
	h.send("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
	if out := h.tr.String(); out != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("before the body: %q", out)
	}
	h.tr.Clear()
	h.send("abc")
	if r := h.response(); body(r) != "POST / host=a path=/ query= body=abc" {
		t.Fatalf("body %q", body(r))
	}
}

func TestExpectContinueNotSentWhenBodyAlreadyHere(t *testing.T) {
	h := newHarness(t, echo)
	h.send("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
	if r := h.response(); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
}

func TestExpectContinueRefusedWithoutContinueWhenTooLarge(t *testing.T) {
	h := newHarness(t, echo, WithMaxBodyBytes(2))
	h.send("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
	if r := h.response(); r.StatusCode != 413 {
		t.Fatalf("status %d, want 413 and no 100", r.StatusCode)
	}
}

func TestExpectIgnoredForHTTP10(t *testing.T) {
	h := newHarness(t, echo)
	h.send("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
	if out := h.tr.String(); out != "" {
		t.Fatalf("answered an HTTP/1.0 expectation: %q", out)
	}
}

func TestHeadResponseHasLengthButNoBody(t *testing.T) {
	h := newHarness(t, echo)
	h.send("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n" + get)
	rs := h.responses("HEAD", "GET")
	want := len("HEAD /x host=a path=/x query= body=")
	if rs[0].ContentLength != int64(want) || body(rs[0]) != "" {
		t.Fatalf("HEAD: Content-Length %d body %q, want %d and none", rs[0].ContentLength, body(rs[0]), want)
	}
	if rs[1].StatusCode != 200 {
		t.Fatalf("the request after HEAD was misframed")
	}
}

func TestNoContentHasNoBody(t *testing.T) {
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.SetStatus(204)
		if _, err := w.WriteString("x"); !errors.Is(err, ErrBodyNotAllowed) {
			t.Errorf("Write on 204: %v", err)
		}
	}))
	h.send(get)
	out := h.tr.String()
	if !strings.HasPrefix(out, "HTTP/1.1 204 No Content\r\n") || strings.Contains(out, "Content-Length") {
		t.Fatalf("204 response: %q", out)
	}
}

func TestFlushStreamsChunked(t *testing.T) {
	var w1 *ResponseWriter
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Defer()
		w.WriteString("one,")
		w.Flush()
		w1 = w
	}))
	h.send(get)
	if out := h.tr.String(); !strings.Contains(out, "Transfer-Encoding: chunked\r\n") || !strings.HasSuffix(out, "\r\n\r\n4\r\none,\r\n") {
		t.Fatalf("after Flush: %q", out)
	}
	w1.WriteString("two") // outside the handler: goes out at once
	if out := h.tr.String(); !strings.HasSuffix(out, "3\r\ntwo\r\n") {
		t.Fatalf("after a later Write: %q", out)
	}
	w1.Finish()
	if r := h.response(); body(r) != "one,two" || r.TransferEncoding[0] != "chunked" {
		t.Fatalf("body %q", body(r))
	}
}

func TestLargeBodyStreamsWithoutFlush(t *testing.T) {
	big := strings.Repeat("z", 3*streamThreshold)
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.WriteString(big)
	}))
	h.send(get)
	if r := h.response(); body(r) != big || r.ContentLength != -1 {
		t.Fatalf("len %d, Content-Length %d", len(body(r)), r.ContentLength)
	}
}

func TestDeclaredContentLengthStreamsRaw(t *testing.T) {
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.SetHeader("Content-Length", "6")
		w.WriteString("abc")
		w.Flush()
		w.WriteString("def")
		if _, err := w.WriteString("g"); !errors.Is(err, ErrContentLength) {
			t.Errorf("write past the length: %v", err)
		}
	}))
	h.send(get)
	if r := h.response(); body(r) != "abcdef" || r.ContentLength != 6 || len(r.TransferEncoding) != 0 {
		t.Fatalf("body %q Content-Length %d TE %v", body(r), r.ContentLength, r.TransferEncoding)
	}
}

func TestShortDeclaredBodyClosesConnection(t *testing.T) {
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.SetContentLength(10)
		w.WriteString("abc")
	}))
	h.send(get)
	if out := h.tr.String(); !strings.Contains(out, "Content-Length: 10\r\n") || !h.tr.Disconnecting() {
		t.Fatalf("short body: closed=%v output %q", h.tr.Disconnecting(), out)
	}
}

func TestStreamingToHTTP10EndsWithClose(t *testing.T) {
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.WriteString("abc")
		w.Flush()
		w.WriteString("def")
	}))
	h.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	out := h.tr.String()
	if strings.Contains(out, "chunked") || !strings.HasSuffix(out, "\r\n\r\nabcdef") || !h.tr.Disconnecting() {
		t.Fatalf("closed=%v output %q", h.tr.Disconnecting(), out)
	}
}

// pausable records flow-control calls.
type pausable struct{ paused, resumed, stopped int }

func (p *pausable) PauseProducing()  { p.paused++ }
func (p *pausable) ResumeProducing() { p.resumed++ }
func (p *pausable) StopProducing()   { p.stopped++ }

func TestProducerPausedBySlowClient(t *testing.T) {
	prod := &pausable{}
	var w1 *ResponseWriter
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Defer()
		if w1 == nil {
			if err := w.RegisterProducer(prod); err != nil {
				t.Errorf("RegisterProducer: %v", err)
			}
		}
		w1 = w
	}))
	h.send(get)
	chunk := strings.Repeat("p", 16<<10)
	for i := 0; i < 8 && !w1.Paused(); i++ {
		w1.WriteString(chunk)
	}
	if prod.paused != 1 || !w1.Paused() {
		t.Fatalf("paused %d times after %d bytes buffered", prod.paused, h.tr.BufferedAmount())
	}
	h.tr.Clear() // the client reads
	if prod.resumed != 1 || w1.Paused() {
		t.Fatalf("resumed %d times", prod.resumed)
	}
	w1.Finish()
	h.tr.Clear()
	// The next response fills the buffer too: the finished response's
	// producer must not hear of it.
	h.send(get)
	for i := 0; i < 8 && !w1.Paused(); i++ {
		w1.WriteString(chunk)
	}
	h.tr.Clear()
	if prod.paused != 1 || prod.resumed != 1 {
		t.Fatalf("finished response's producer paused %d, resumed %d times", prod.paused, prod.resumed)
	}
}

func TestWriteTimeoutAbortsStalledStream(t *testing.T) {
	prod := &pausable{}
	var w1 *ResponseWriter
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Defer()
		w.RegisterProducer(prod)
		w1 = w
	}), WithWriteTimeout(5*time.Second))
	h.send(get)
	for !w1.Paused() {
		w1.WriteString(strings.Repeat("p", 16<<10))
	}
	h.loop.Advance(6 * time.Second)
	h.loop.RunPending()
	if !h.tr.Aborted() || prod.stopped != 1 {
		t.Fatalf("aborted=%v stopped=%d", h.tr.Aborted(), prod.stopped)
	}
}

func TestHandlerPanicGives500AndClosesConnection(t *testing.T) {
	var got *protocol.PanicError
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.WriteString("partial")
		panic("boom")
	}), WithPanicHandler(func(p *protocol.PanicError) { got = p }))
	h.send(get + get)
	r := h.response()
	if r.StatusCode != 500 || !r.Close || !h.closed() {
		t.Fatalf("status %d close %v", r.StatusCode, r.Close)
	}
	if got == nil || got.Value != "boom" || len(got.Stack) == 0 {
		t.Fatalf("panic handler got %+v", got)
	}
}

func TestHandlerPanicAfterFlushAborts(t *testing.T) {
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.WriteString("partial")
		w.Flush()
		panic("boom")
	}), WithPanicHandler(func(*protocol.PanicError) {}))
	h.send(get)
	if !h.tr.Aborted() {
		t.Fatal("a response already begun was not aborted")
	}
}

func TestPanicAffectsOnlyItsConnection(t *testing.T) {
	srv, _ := NewServer(HandlerFunc(func(w *ResponseWriter, r *Request) {
		if r.Path() == "/panic" {
			panic("boom")
		}
		w.WriteString("ok")
	}), WithPanicHandler(func(*protocol.PanicError) {}))
	loop := reactortest.NewLoop()
	p1, p2 := srv.BuildProtocol(nil), srv.BuildProtocol(nil)
	t1, t2 := reactortest.Connect(p1, reactortest.WithLoop(loop)), reactortest.Connect(p2, reactortest.WithLoop(loop))
	p1.DataReceived([]byte("GET /panic HTTP/1.1\r\nHost: a\r\n\r\n"))
	p2.DataReceived([]byte(get))
	if !t1.Disconnecting() || t2.Disconnecting() || !strings.HasSuffix(t2.String(), "\r\n\r\nok") {
		t.Fatalf("panicking closed=%v, other closed=%v output %q", t1.Disconnecting(), t2.Disconnecting(), t2.String())
	}
}

func TestErrorResponseLingersThenCloses(t *testing.T) {
	h := newHarness(t, echo)
	h.send("BAD\r\n\r\n")
	if !h.tr.WriteClosed() || h.tr.Disconnecting() {
		t.Fatalf("write closed %v, disconnecting %v: want a half-close first", h.tr.WriteClosed(), h.tr.Disconnecting())
	}
	h.send("more input from the client is dropped")
	h.loop.Advance(lingerTimeout)
	if !h.tr.Disconnecting() {
		t.Fatal("not closed after the linger time")
	}
}

func TestHeadTrickledByteByByte(t *testing.T) {
	h := newHarness(t, echo)
	req := "POST /t?q HTTP/1.1\r\nHost: a\r\nX-Long: " + strings.Repeat("v", 100) + "\r\nContent-Length: 2\r\n\r\nhi"
	for i := 0; i < len(req); i++ {
		h.send(req[i : i+1])
	}
	if r := h.response(); body(r) != "POST /t?q host=a path=/t query=q body=hi" {
		t.Fatalf("body %q", body(r))
	}
}

func TestChunkedBodyAcrossReads(t *testing.T) {
	h := newHarness(t, echo)
	req := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n" + get
	for i := 0; i < len(req); i += 3 {
		h.send(req[i:min(i+3, len(req))])
	}
	rs := h.responses("POST", "GET")
	if body(rs[0]) != "POST / host=a path=/ query= body=abc0123456789abcdef" || rs[1].StatusCode != 200 {
		t.Fatalf("bodies %q, %q", body(rs[0]), body(rs[1]))
	}
}

func TestChunkedBodyOverLimit(t *testing.T) {
	h := newHarness(t, echo, WithMaxBodyBytes(5))
	h.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
	if r := h.response(); r.StatusCode != 413 {
		t.Fatalf("status %d", r.StatusCode)
	}
}

func TestHeaderTimeoutSends408(t *testing.T) {
	h := newHarness(t, echo, WithReadHeaderTimeout(2*time.Second))
	h.send("GET / HTTP/1.1\r\nHost")
	h.loop.Advance(time.Second)
	h.send(": a\r\n") // still incomplete: the deadline runs from the first byte
	h.loop.Advance(1500 * time.Millisecond)
	if r := h.response(); r.StatusCode != 408 || !h.tr.Disconnecting() {
		t.Fatalf("status %d", r.StatusCode)
	}
}

func TestNewConnectionSendingNothingClosedQuietly(t *testing.T) {
	h := newHarness(t, echo, WithReadHeaderTimeout(2*time.Second))
	h.loop.Advance(2 * time.Second)
	if !h.tr.Disconnecting() || h.tr.String() != "" {
		t.Fatalf("closed %v output %q", h.tr.Disconnecting(), h.tr.String())
	}
}

func TestBodyTimeoutSends408(t *testing.T) {
	h := newHarness(t, echo, WithReadBodyTimeout(3*time.Second))
	h.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
	h.loop.Advance(2 * time.Second)
	h.send("def")
	if h.closed() {
		t.Fatal("closed before the body deadline")
	}
	h.loop.Advance(time.Second)
	if r := h.response(); r.StatusCode != 408 || !h.tr.Disconnecting() {
		t.Fatalf("status %d", r.StatusCode)
	}
}

func TestIdleTimeoutClosesQuietly(t *testing.T) {
	h := newHarness(t, echo, WithIdleTimeout(5*time.Second), WithReadHeaderTimeout(time.Second))
	h.send(get)
	h.response()
	h.loop.Advance(4 * time.Second)
	h.send(get) // a request restarts the idle time
	h.response()
	h.loop.Advance(4 * time.Second)
	if h.closed() {
		t.Fatal("closed before the idle timeout")
	}
	h.loop.Advance(time.Second)
	if !h.tr.Disconnecting() || h.tr.String() != "" {
		t.Fatalf("closed %v output %q", h.tr.Disconnecting(), h.tr.String())
	}
}

func TestDeferredHandlerHasNoReadTimeout(t *testing.T) {
	var pending *ResponseWriter
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Defer()
		pending = w
	}), WithIdleTimeout(time.Second), WithReadHeaderTimeout(time.Second))
	h.send(get)
	h.loop.Advance(time.Minute)
	if h.closed() {
		t.Fatal("closed while the handler worked")
	}
	pending.Finish()
	h.response()
	h.loop.Advance(time.Second)
	if !h.tr.Disconnecting() {
		t.Fatal("idle timeout did not start after the deferred response")
	}
}

func TestMaxRequestsPerConn(t *testing.T) {
	h := newHarness(t, echo, WithMaxRequestsPerConn(2))
	h.send(get + get + get)
	rs := h.responses("GET", "GET")
	if rs[0].Close || !rs[1].Close || !h.closed() {
		t.Fatalf("close flags %v %v", rs[0].Close, rs[1].Close)
	}
}

func TestParkedInputPausesReading(t *testing.T) {
	var pending *ResponseWriter
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		if pending == nil {
			w.Defer()
			pending = w
		}
	}))
	h.send(get)
	for !h.tr.ReadingPaused() && len(h.tr.String()) == 0 {
		h.send(strings.Repeat(get, 1000))
	}
	if !h.tr.ReadingPaused() {
		t.Fatal("reading not paused")
	}
	pending.Finish()
	// The parked requests are answered now; reading resumes once the
	// client has read their responses.
	for i := 0; i < 1000 && h.tr.ReadingPaused(); i++ {
		h.tr.Clear()
	}
	if h.tr.ReadingPaused() {
		t.Fatal("reading not resumed")
	}
}

func TestDateHeaderFollowsLoopClock(t *testing.T) {
	h := newHarness(t, echo)
	h.send(get)
	d1 := h.response().Header.Get("Date")
	h.loop.Advance(999 * time.Millisecond)
	h.send(get)
	h.loop.Advance(time.Millisecond)
	h.send(get)
	rs := h.responses("GET", "GET")
	want := h.loop.Now().UTC().Format(TimeFormat)
	if rs[1].Header.Get("Date") != want || d1 == want {
		t.Fatalf("dates %q %q %q, want the last %q", d1, rs[0].Header.Get("Date"), rs[1].Header.Get("Date"), want)
	}
}

func TestHeadPrefixFormatsDateOncePerSecond(t *testing.T) {
	p := newHeadPrefix("")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := string(p.get(now))
	p.buf[p.dateAt+len("Date: ")] = 'X' // a reformat would overwrite this
	if got := string(p.get(now.Add(900 * time.Millisecond))); got[p.dateAt+len("Date: ")] != 'X' {
		t.Fatalf("reformatted within the same second: %q (was %q)", got, first)
	}
	if got := string(p.get(now.Add(time.Second))); got != "HTTP/1.1 200 OK\r\nDate: Fri, 02 Jan 2026 03:04:06 GMT\r\n" {
		t.Fatalf("next second: %q", got)
	}
}

func TestHeadPrefixStatusServerAndDateLines(t *testing.T) {
	p := newHeadPrefix("Mustaine")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const date = "Date: Fri, 02 Jan 2026 03:04:05 GMT\r\n"
	for _, tc := range []struct {
		status   int
		withDate bool
		want     string
	}{
		{200, true, "HTTP/1.1 200 OK\r\nServer: Mustaine\r\n" + date},
		{200, false, "HTTP/1.1 200 OK\r\nServer: Mustaine\r\n"},
		{404, true, "HTTP/1.1 404 Not Found\r\nServer: Mustaine\r\n" + date},
		{599, false, "HTTP/1.1 599 \r\nServer: Mustaine\r\n"},
	} {
		if got := string(p.appendFixed([]byte("x"), tc.status, tc.withDate, now)); got != "x"+tc.want {
			t.Errorf("status %d date %v: %q, want %q", tc.status, tc.withDate, got, "x"+tc.want)
		}
	}
}

func TestResponseHeadersCannotSplitResponse(t *testing.T) {
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.SetHeader("X-Evil", "a\r\nSet-Cookie: x=1")
		w.SetHeader("Bad Name", "v")
		w.SetHeader("Transfer-Encoding", "identity")
		w.AddHeader("X-Multi", "1")
		w.AddHeader("X-Multi", "2")
		w.SetHeader("x-replaced", "old")
		w.SetHeader("X-Replaced", "new")
	}))
	h.send(get)
	r := h.response()
	if r.Header.Get("Set-Cookie") != "" || r.Header.Get("X-Evil") != "a  Set-Cookie: x=1" {
		t.Fatalf("X-Evil %q Set-Cookie %q", r.Header.Get("X-Evil"), r.Header.Get("Set-Cookie"))
	}
	if len(r.Header["Bad Name"]) != 0 || len(r.TransferEncoding) != 0 {
		t.Fatalf("invalid or framing headers passed through: %v", r.Header)
	}
	if got := r.Header["X-Multi"]; len(got) != 2 || r.Header.Get("X-Replaced") != "new" || len(r.Header["X-Replaced"]) != 1 {
		t.Fatalf("X-Multi %v X-Replaced %v", got, r.Header["X-Replaced"])
	}
}

func TestServerNameSent(t *testing.T) {
	h := newHarness(t, echo, WithServerName("Mustaine"))
	h.send(get)
	if r := h.response(); r.Header.Get("Server") != "Mustaine" {
		t.Fatalf("Server %q", r.Header.Get("Server"))
	}
}

func TestRequestAccessors(t *testing.T) {
	var seen []string
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		ms, ok := r.QueryBytes("ms")
		_, missing := r.QueryBytes("nope")
		v, _ := r.HeaderBytes("X-MIXED-case")
		seen = append(seen, r.Method(), r.Proto(), string(ms), strconv.FormatBool(ok), strconv.FormatBool(missing),
			string(v), strconv.Itoa(r.NumHeaders()), strconv.FormatInt(r.ContentLength(), 10),
			r.RemoteAddr().String(), strconv.FormatBool(r.KeepAlive()))
		name, value := r.HeaderAt(1)
		seen = append(seen, string(name)+"="+string(value))
	}))
	h.send("GET /sleep?a=1&ms=250 HTTP/1.1\r\nHost: a\r\nx-Mixed-Case: yes\r\n\r\n")
	want := []string{"GET", "HTTP/1.1", "250", "true", "false", "yes", "2", "0", reactortest.ClientAddr.String(), "true", "x-Mixed-Case=yes"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q\nwant %q", seen, want)
	}
}

func TestNewServerValidates(t *testing.T) {
	if _, err := NewServer(nil); !errors.Is(err, ErrNilHandler) {
		t.Fatalf("nil handler: %v", err)
	}
	for _, o := range []Option{WithMaxRequestLine(8), WithMaxHeaderBytes(-1), WithMaxHeaderFields(0),
		WithMaxBodyBytes(-1), WithIdleTimeout(-time.Second), WithMaxRequestsPerConn(-1), WithServerName("a\r\nb")} {
		if _, err := NewServer(echo, o); !errors.Is(err, ErrInvalidOption) {
			t.Fatalf("option accepted: %v", err)
		}
	}
}

func TestDeferredRequestFromPiecesSurvivesLaterInput(t *testing.T) {
	var pending *ResponseWriter
	var req *Request
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		if pending == nil {
			w.Defer()
			pending, req = w, r
			return
		}
		w.WriteString("next " + r.Path())
	}))
	h.send("POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nab")
	h.send("cdefGET /second HTTP/1.1\r\nHost: a\r\n\r\n") // completes the body; the rest waits
	h.send(strings.Repeat("GET /third HTTP/1.1\r\nHost: a\r\n\r\n", 50))
	if req.Path() != "/first" || string(req.Body()) != "abcdef" {
		t.Fatalf("deferred request changed: %q %q", req.Path(), req.Body())
	}
	pending.Write(req.Body())
	pending.Finish()
	methods := make([]string, 52)
	for i := range methods {
		methods[i] = "GET"
	}
	rs := h.responses(methods...)
	if body(rs[0]) != "abcdef" || body(rs[1]) != "next /second" || body(rs[51]) != "next /third" {
		t.Fatalf("responses %q %q %q", body(rs[0]), body(rs[1]), body(rs[51]))
	}
}

func TestSilentConnectionIsClosedAtTheHeaderTimeoutAndHoldsNoRequest(t *testing.T) {
	h := newHarness(t, echo, WithReadHeaderTimeout(time.Second))
	if c := h.p.(*conn); c.reqState != nil {
		t.Fatal("a connection that sent nothing already holds a request and response")
	}
	h.loop.Advance(time.Second)
	if !h.tr.Disconnecting() {
		t.Fatal("a silent connection outlived the header timeout")
	}
	h.loop.RunPending()
	if lost, _ := h.tr.Lost(); !lost {
		t.Fatal("ConnectionLost did not run")
	}
}
