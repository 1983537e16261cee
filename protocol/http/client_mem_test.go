package http

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// memDialer connects every request to an in-memory transport on one fake
// loop, and keeps the transports for the test to drive.
type memDialer struct {
	loop *reactortest.Loop
	trs  []*reactortest.Transport
	ps   []protocol.Protocol
}

func (m *memDialer) ConnectTCPOn(lp protocol.Loop, address string, f protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	p := f.BuildProtocol(reactortest.ServerAddr)
	m.trs = append(m.trs, reactortest.Connect(p, reactortest.WithLoop(m.loop)))
	m.ps = append(m.ps, p)
	return deferred.Succeed(p)
}

// memClient is a Client on a fake loop.
func memClient(t testing.TB, opts ...ClientOption) (*Client, *memDialer) {
	t.Helper()
	m := &memDialer{loop: reactortest.NewLoop()}
	c, err := NewClient(m.loop, m, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

// outcome is what a request ended with, for comparisons.
type outcome struct {
	status int
	body   string
	x      string
	err    error
}

// exchangeIn sends one GET on a fresh client and feeds resp to it in the
// pieces given by cuts (offsets into resp), then reports the outcome.
func exchangeIn(t testing.TB, resp string, cuts []int) outcome {
	t.Helper()
	c, m := memClient(t)
	var got outcome
	done := false
	c.Get("http://127.0.0.1:80/").AddBoth(func(r *ClientResponse, err error) (*ClientResponse, error) {
		done = true
		got.err = err
		if err == nil {
			got.status, got.body, got.x = r.StatusCode(), string(r.Body()), r.Header("X")
		}
		return r, nil
	})
	tr := m.trs[0]
	prev := 0
	for _, cut := range append(cuts, len(resp)) {
		if done {
			break
		}
		if cut > prev {
			m.ps[0].DataReceived([]byte(resp[prev:cut]))
		}
		prev = cut
	}
	if !done {
		tr.Disconnect(protocol.ErrPeerClosed)
	}
	if !done {
		t.Fatal("no outcome")
	}
	return got
}

// A response parses the same however it is cut into reads: the parser
// keeps no state tied to read boundaries.
func TestClientResponseParsesTheSameWhereverReadsAreCut(t *testing.T) {
	responses := []string{
		"HTTP/1.1 200 OK\r\nX: a b\r\nContent-Length: 11\r\n\r\nhello world",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nX: y\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"q\\\"v\"\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n",
		"HTTP/1.0 200 OK\r\nX: z\r\n\r\nuntil close",
		"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
	}
	for i, resp := range responses {
		whole := exchangeIn(t, resp, nil)
		wantBody := []string{"hello world", "hello world", "until close", ""}
		if ok := i < 4; ok != (whole.err == nil) || ok && whole.body != wantBody[i] {
			t.Fatalf("%q whole: %+v", resp, whole)
		}
		bytewise := make([]int, len(resp))
		for i := range bytewise {
			bytewise[i] = i
		}
		if got := exchangeIn(t, resp, bytewise); !sameOutcome(got, whole) {
			t.Errorf("%q byte by byte: %+v, whole: %+v", resp, got, whole)
		}
		for cut := 1; cut < len(resp); cut++ {
			if got := exchangeIn(t, resp, []int{cut}); !sameOutcome(got, whole) {
				t.Errorf("%q cut at %d: %+v, whole: %+v", resp, cut, got, whole)
				break
			}
		}
	}
}

func sameOutcome(a, b outcome) bool {
	if (a.err == nil) != (b.err == nil) {
		return false
	}
	if a.err != nil {
		for _, s := range []error{ErrMalformedResponse, ErrAmbiguousFraming, ErrResponseHeaderTooLarge, ErrResponseIncomplete} {
			if errors.Is(a.err, s) != errors.Is(b.err, s) {
				return false
			}
		}
		return true
	}
	return a.status == b.status && a.body == b.body && a.x == b.x
}

// The header timeout, on the loop's clock: not failed one millisecond
// before it is due, failed when it is.
func TestClientResponseHeaderTimeoutOnTheLoopsClock(t *testing.T) {
	c, m := memClient(t, WithResponseHeaderTimeout(time.Second))
	var err error
	done := false
	c.Get("http://127.0.0.1:80/").AddBoth(func(r *ClientResponse, e error) (*ClientResponse, error) {
		done, err = true, e
		return r, nil
	})
	if !strings.HasPrefix(m.trs[0].String(), "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n") {
		t.Fatalf("request %q", m.trs[0].String())
	}
	m.loop.Advance(time.Second - time.Millisecond)
	if done {
		t.Fatalf("failed early: %v", err)
	}
	m.loop.Advance(time.Millisecond)
	if !errors.Is(err, ErrResponseHeaderTimeout) || !m.trs[0].Aborted() {
		t.Fatalf("after the timeout: done %v, %v, aborted %v", done, err, m.trs[0].Aborted())
	}
}

// Bytes arriving on an idle keep-alive connection (no request asked for
// them) close it: the next request goes on a new connection.
func TestClientClosesAnIdleConnectionThatReceivesUnsolicitedBytes(t *testing.T) {
	c, m := memClient(t)
	n := 0
	get := func() {
		c.Get("http://127.0.0.1:80/").AddBoth(func(r *ClientResponse, e error) (*ClientResponse, error) {
			if e == nil {
				n++
			}
			return r, nil
		})
	}
	get()
	m.ps[0].DataReceived([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	m.ps[0].DataReceived([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	if !m.trs[0].Aborted() {
		t.Fatal("idle connection kept after unsolicited bytes")
	}
	get()
	if len(m.trs) != 2 || n != 1 {
		t.Fatalf("%d connections, %d responses", len(m.trs), n)
	}
}

// hangingDialer never connects, and records the connect timeout asked
// for.
type hangingDialer struct {
	timeouts []time.Duration
	pending  []*deferred.Deferred[protocol.Protocol]
}

func (h *hangingDialer) ConnectTCPOn(lp protocol.Loop, address string, f protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	h.timeouts = append(h.timeouts, timeout)
	d := deferred.New[protocol.Protocol]()
	h.pending = append(h.pending, d)
	return d
}

// The connect timeout goes to the Dialer; the whole-request timeout covers
// a connect that does not finish, on the loop's clock, no earlier than
// set.
func TestClientRequestTimeoutCoversAConnectThatHangs(t *testing.T) {
	loop := reactortest.NewLoop()
	h := &hangingDialer{}
	c, err := NewClient(loop, h, WithConnectTimeout(3*time.Second), WithRequestTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got error
	done := false
	c.Get("http://127.0.0.1:80/").AddBoth(func(r *ClientResponse, e error) (*ClientResponse, error) {
		done, got = true, e
		return r, nil
	})
	if len(h.timeouts) != 1 || h.timeouts[0] != 3*time.Second {
		t.Fatalf("connect timeouts asked for: %v", h.timeouts)
	}
	loop.Advance(2*time.Second - time.Millisecond)
	if done {
		t.Fatalf("failed early: %v", got)
	}
	loop.Advance(time.Millisecond)
	if !errors.Is(got, ErrRequestTimeout) {
		t.Fatalf("got %v, want ErrRequestTimeout", got)
	}
	// The connect failing later changes nothing for the request.
	h.pending[0].Errback(errors.New("refused"))
}

// Whether a connection carries the next request follows RFC 9112 §9.3:
// HTTP/1.1 unless either side said "close", HTTP/1.0 only with
// "keep-alive", and never after a body read until the close.
func TestClientKeepsAConnectionOnlyWhenBothSidesAllow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reqConn string
		resp    string
		reuse   bool
	}{
		{"1.1", "", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", true},
		{"1.1 close", "", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", false},
		{"1.1 close in a list", "", "HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 1\r\n\r\nx", false},
		{"request close", "close", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", false},
		{"1.0", "", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false},
		{"1.0 keep-alive", "", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", true},
		{"chunked", "", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", true},
		{"204", "", "HTTP/1.1 204 No Content\r\n\r\n", true},
		{"more than the response", "", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, m := memClient(t)
			ok := 0
			send := func() {
				req := NewRequest("GET", "http://127.0.0.1:80/", nil)
				if tc.reqConn != "" {
					req.AddHeader("Connection", tc.reqConn)
				}
				c.Do(req).AddBoth(func(r *ClientResponse, e error) (*ClientResponse, error) {
					if e == nil {
						ok++
					}
					return r, nil
				})
			}
			send()
			m.ps[0].DataReceived([]byte(tc.resp))
			if ok != 1 {
				t.Fatal("first response not delivered")
			}
			closed := m.trs[0].Disconnecting() || m.trs[0].Aborted()
			send()
			if reused := len(m.trs) == 1; reused != tc.reuse || closed == tc.reuse {
				t.Errorf("reused %v (closed %v), want %v", reused, closed, tc.reuse)
			}
		})
	}
}
