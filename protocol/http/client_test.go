package http

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/reactor"
)

// Sequential requests to one host go over one keep-alive connection
// (RFC 9112 §9.3: HTTP/1.1 connections persist by default), counted by
// the server.
func TestClientReusesOneKeepAliveConnectionForSequentialRequests(t *testing.T) {
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	e := startClient(t)
	for i := range 10 {
		resp := e.mustGet(t, srv.URL+"/n"+strconv.Itoa(i))
		if resp.StatusCode() != 200 || string(resp.Body()) != "hello /n"+strconv.Itoa(i) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode(), resp.Body())
		}
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("server accepted %d connections for 10 sequential requests, want 1", n)
	}
	var st ClientStats
	e.onLoop(func() { st = e.c.Stats() })
	if st.Dials != 1 || st.Reused != 9 {
		t.Errorf("stats %+v, want 1 dial and 9 reuses", st)
	}
}

// Content-Length, chunked (net/http chunks a flushed body) and empty
// bodies all arrive whole, with the server's header fields.
func TestClientReadsContentLengthAndChunkedBodiesFromNetHTTP(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Header().Set("X-Kind", "length")
			io.WriteString(w, big)
		case "/chunked":
			w.Header().Set("X-Kind", "chunked")
			for i := 0; i < len(big); i += 100000 {
				io.WriteString(w, big[i:min(i+100000, len(big))])
				w.(nethttp.Flusher).Flush()
			}
		case "/empty":
			w.WriteHeader(200)
		}
	}))
	e := startClient(t)
	for _, path := range []string{"/length", "/chunked", "/length", "/empty"} {
		resp := e.mustGet(t, srv.URL+path)
		want := big
		if path == "/empty" {
			want = ""
		} else if resp.Header("x-kind") != path[1:] {
			t.Errorf("%s: X-Kind %q", path, resp.Header("x-kind"))
		}
		if string(resp.Body()) != want {
			t.Errorf("%s: body of %d bytes, want %d", path, len(resp.Body()), len(want))
		}
		if path == "/chunked" && resp.ContentLength() != -1 {
			t.Errorf("chunked: ContentLength %d, want -1", resp.ContentLength())
		}
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// A POST body arrives as sent, with its Content-Type.
func TestClientPostSendsTheBodyWithContentLength(t *testing.T) {
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d %s", r.Method, r.Header.Get("Content-Type"), r.ContentLength, b)
	}))
	e := startClient(t)
	resp, err := wait(t, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] {
		return c.Post(srv.URL+"/p", "text/plain", []byte("payload"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Body()); got != "POST text/plain 7 payload" {
		t.Errorf("server saw %q", got)
	}
}

// 1,000 concurrent requests with a per-host limit of 64: no more than 64
// connections are opened, every request is answered with its own body,
// against net/http and against this package's server.
func TestClientThousandConcurrentRequestsOverSixtyFourConnections(t *testing.T) {
	body := func(path string) string { return strings.Repeat(path, 50) }
	ns := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.WriteString(w, body(r.URL.Path))
	}))
	ms := startMustaine(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.WriteString(body(r.Path()))
	}))
	for _, target := range []struct{ name, base string }{{"net/http", ns.URL}, {"mustaine", "http://" + ms.addr}} {
		t.Run(target.name, func(t *testing.T) {
			e := startClient(t, WithMaxConnsPerHost(64))
			const n = 1000
			ds := make([]*deferred.Deferred[*ClientResponse], n)
			e.onLoop(func() {
				for i := range ds {
					ds[i] = e.c.Get(target.base + "/r" + strconv.Itoa(i))
				}
			})
			for i, d := range ds {
				resp, err := wait(t, d)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if want := body("/r" + strconv.Itoa(i)); string(resp.Body()) != want {
					t.Fatalf("request %d: body %q, want %q", i, resp.Body(), want)
				}
			}
			var st ClientStats
			e.onLoop(func() { st = e.c.Stats() })
			if st.Dials > 64 || st.Dials < 1 {
				t.Errorf("%d connections dialled, want 1..64", st.Dials)
			}
			if st.Reused != n-st.Dials {
				t.Errorf("%d requests on reused connections, want %d", st.Reused, n-st.Dials)
			}
		})
	}
	if c := ns.newConns.Load(); c > 64 {
		t.Errorf("net/http accepted %d connections, want at most 64", c)
	}
}

// A server that closes in the middle of a body fails the request; a
// truncated body is never a success.
func TestClientServerClosingMidBodyFailsTheRequest(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly fifty bytes ........................ ........"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nwor"},
		{"head", "HTTP/1.1 200 OK\r\nContent-Le"},
		{"nothing", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, func(c *rawConn) {
				c.readHead()
				io.WriteString(c, tc.resp)
			})
			e := startClient(t)
			resp, err := e.get(t, srv.url("/"))
			if !errors.Is(err, ErrResponseIncomplete) {
				t.Fatalf("got %v, %v; want ErrResponseIncomplete", resp, err)
			}
		})
	}
}

// Without Content-Length or Transfer-Encoding, a response body ends
// with the connection (RFC 9112 §6.3 rule 8); an HTTP/1.0 response is
// not kept alive.
func TestClientReadsAnUnframedBodyUntilTheServerCloses(t *testing.T) {
	for _, status := range []string{"HTTP/1.1 200 OK", "HTTP/1.0 200 OK"} {
		srv := newRawServer(t, func(c *rawConn) {
			c.readHead()
			io.WriteString(c, status+"\r\nX: y\r\n\r\nuntil the end")
		})
		e := startClient(t)
		for range 2 {
			resp := e.mustGet(t, srv.url("/"))
			if string(resp.Body()) != "until the end" || resp.ContentLength() != -1 {
				t.Errorf("%s: body %q, length %d", status, resp.Body(), resp.ContentLength())
			}
		}
	}
}

// Interim 1xx responses are skipped (RFC 9110 §15.2); HEAD, 204 and 304
// responses have no body whatever their Content-Length says (RFC 9112
// §6.3 rule 1), and the connection carries the next request.
func TestClientSkipsInterimResponsesAndReadsNoBodyForHeadAnd204And304(t *testing.T) {
	answers := []string{
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
		"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", // to HEAD
		"HTTP/1.1 204 No Content\r\nContent-Length: 1000\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast",
	}
	srv := newRawServer(t, func(c *rawConn) {
		for _, a := range answers {
			if _, err := c.readHead(); err != nil {
				return
			}
			io.WriteString(c, a)
		}
		c.waitClosed()
	})
	e := startClient(t)
	methods := []string{"GET", "HEAD", "GET", "GET", "GET"}
	wantStatus := []int{200, 200, 204, 304, 200}
	wantBody := []string{"final", "", "", "", "last"}
	for i, m := range methods {
		resp, err := wait(t, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] {
			return c.Do(NewRequest(m, srv.url("/"), nil))
		}))
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, m, err)
		}
		if resp.StatusCode() != wantStatus[i] || string(resp.Body()) != wantBody[i] {
			t.Errorf("request %d: %d %q, want %d %q", i, resp.StatusCode(), resp.Body(), wantStatus[i], wantBody[i])
		}
	}
	var st ClientStats
	e.onLoop(func() { st = e.c.Stats() })
	if st.Dials != 1 {
		t.Errorf("%d connections, want 1", st.Dials)
	}
}

// Malformed and ambiguous responses fail their request with a sentinel
// and close that connection; the client goes on with a new one.
func TestClientMalformedResponsesFailTheRequestAndCloseOnlyThatConnection(t *testing.T) {
	long := strings.Repeat("a", 70<<10)
	cases := []struct {
		name string
		resp string
		want error
	}{
		{"cl and te", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrAmbiguousFraming},
		{"te and cl", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", ErrAmbiguousFraming},
		{"differing cl", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", ErrAmbiguousFraming},
		{"cl list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", ErrMalformedResponse},
		{"negative cl", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ErrMalformedResponse},
		{"chunked not last", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n", ErrAmbiguousFraming},
		{"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", ErrAmbiguousFraming},
		{"te in 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrAmbiguousFraming},
		{"unknown coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", ErrMalformedResponse},
		{"bare lf in head", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", ErrMalformedResponse},
		{"bare lf in field", "HTTP/1.1 200 OK\r\nX: y\nContent-Length: 0\r\n\r\n", ErrMalformedResponse},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX: y\r\n z\r\nContent-Length: 0\r\n\r\n", ErrMalformedResponse},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", ErrMalformedResponse},
		{"bare cr in value", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", ErrMalformedResponse},
		{"nul in value", "HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n", ErrMalformedResponse},
		{"bad status line", "HTTP/1.1 OK\r\n\r\n", ErrMalformedResponse},
		{"http/2 version", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", ErrMalformedResponse},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", ErrMalformedResponse},
		{"status 099", "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n", ErrMalformedResponse},
		{"oversized field", "HTTP/1.1 200 OK\r\nX: " + long + "\r\nContent-Length: 0\r\n\r\n", ErrResponseHeaderTooLarge},
		{"oversized status line", "HTTP/1.1 200 " + long + "\r\n\r\n", ErrResponseHeaderTooLarge},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", ErrMalformedResponse},
		{"chunk size space", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", ErrMalformedResponse},
		{"chunk bare lf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", ErrMalformedResponse},
		{"chunk data too long", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", ErrMalformedResponse},
		{"chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n", ErrMalformedResponse},
		{"bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", ErrMalformedResponse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			closed := make(chan bool, 1)
			srv := newRawServer(t, func(c *rawConn) {
				if _, err := c.readHead(); err != nil {
					return
				}
				io.WriteString(c, tc.resp)
				closed <- c.waitClosed()
			})
			e := startClient(t)
			resp, err := e.get(t, srv.url("/"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, %v; want %v", resp, err, tc.want)
			}
			if !<-closed {
				t.Error("the client kept the connection open")
			}
		})
	}
}

// A request already failed by a bad response does not disturb another
// connection's request to the same host.
func TestClientBadResponseOnOneConnectionLeavesTheOtherAlone(t *testing.T) {
	srv := newRawServer(t, nil)
	e := startClient(t)
	var bad, good *deferred.Deferred[*ClientResponse]
	e.onLoop(func() { bad = e.c.Get(srv.url("/bad")) })
	c1 := srv.next(t)
	c1.readHead()
	e.onLoop(func() { good = e.c.Get(srv.url("/good")) })
	c2 := srv.next(t)
	c2.readHead()
	io.WriteString(c1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx")
	if _, err := wait(t, bad); !errors.Is(err, ErrAmbiguousFraming) {
		t.Fatalf("bad: %v", err)
	}
	io.WriteString(c2, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	resp, err := wait(t, good)
	if err != nil || string(resp.Body()) != "ok" {
		t.Fatalf("good: %v %v", resp, err)
	}
}

// The response header timeout fails a request whose server does not
// answer, never before the timeout, and closes the connection.
func TestClientResponseHeaderTimeoutFiresNoEarlierThanSet(t *testing.T) {
	closed := make(chan bool, 1)
	srv := newRawServer(t, func(c *rawConn) {
		c.readHead()
		closed <- c.waitClosed()
	})
	const timeout = 150 * time.Millisecond
	e := startClient(t, WithResponseHeaderTimeout(timeout))
	start := time.Now()
	_, err := e.get(t, srv.url("/slow"))
	if el := time.Since(start); el < timeout {
		t.Errorf("failed after %v, before the %v timeout", el, timeout)
	}
	if !errors.Is(err, ErrResponseHeaderTimeout) {
		t.Fatalf("got %v, want ErrResponseHeaderTimeout", err)
	}
	if !<-closed {
		t.Error("connection left open")
	}
}

// The whole-request timeout covers a body that trickles.
func TestClientRequestTimeoutCoversTheBody(t *testing.T) {
	srv := newRawServer(t, func(c *rawConn) {
		c.readHead()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		c.waitClosed()
	})
	const timeout = 150 * time.Millisecond
	e := startClient(t, WithRequestTimeout(timeout))
	start := time.Now()
	_, err := e.get(t, srv.url("/"))
	if el := time.Since(start); el < timeout {
		t.Errorf("failed after %v, before the %v timeout", el, timeout)
	}
	if !errors.Is(err, ErrRequestTimeout) {
		t.Fatalf("got %v, want ErrRequestTimeout", err)
	}
}

// Cancelling a request that is on a connection aborts that connection
// and fails the Deferred with deferred.ErrCancelled.
func TestClientCancelAbortsTheRequestsConnection(t *testing.T) {
	srv := newRawServer(t, nil)
	e := startClient(t)
	d := e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Get(srv.url("/")) })
	c := srv.next(t)
	if _, err := c.readHead(); err != nil {
		t.Fatal(err)
	}
	e.onLoop(d.Cancel)
	if _, err := wait(t, d); !errors.Is(err, deferred.ErrCancelled) {
		t.Fatalf("got %v, want ErrCancelled", err)
	}
	if !c.waitClosed() {
		t.Error("connection not closed by the cancel")
	}
}

// Cancelling a request waiting for a connection (the host is at its
// limit) takes it off the queue; the requests around it are served.
func TestClientCancelOfAQueuedRequestLeavesTheOthers(t *testing.T) {
	srv := newRawServer(t, nil)
	e := startClient(t, WithMaxConnsPerHost(1))
	var first, second, third *deferred.Deferred[*ClientResponse]
	e.onLoop(func() {
		first = e.c.Get(srv.url("/1"))
		second = e.c.Get(srv.url("/2"))
		third = e.c.Get(srv.url("/3"))
	})
	c := srv.next(t)
	if h, _ := c.readHead(); !strings.HasPrefix(h, "GET /1 ") {
		t.Fatalf("first head %q", h)
	}
	e.onLoop(second.Cancel)
	if _, err := wait(t, second); !errors.Is(err, deferred.ErrCancelled) {
		t.Fatalf("second: %v", err)
	}
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")
	if h, _ := c.readHead(); !strings.HasPrefix(h, "GET /3 ") {
		t.Fatalf("next head on the connection %q, want /3", h)
	}
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3")
	for i, d := range []*deferred.Deferred[*ClientResponse]{first, third} {
		if resp, err := wait(t, d); err != nil || len(resp.Body()) != 1 {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
	}
}

// A reused connection that the server closed without answering: an
// idempotent request is sent again once on a new connection; a POST is
// not (net/http's rule), and fails.
func TestClientRetriesAnIdempotentRequestOnceWhenAReusedConnectionWasClosed(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			srv := newRawServer(t, nil)
			e := startClient(t)
			d := e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Get(srv.url("/a")) })
			c1 := srv.next(t)
			c1.readHead()
			io.WriteString(c1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
			if _, err := wait(t, d); err != nil {
				t.Fatal(err)
			}
			d = e.start(func(c *Client) *deferred.Deferred[*ClientResponse] {
				return c.Do(NewRequest(method, srv.url("/b"), []byte("x")))
			})
			c1.readHead()
			c1.Close() // read the request, answered nothing
			if method == "POST" {
				if _, err := wait(t, d); !errors.Is(err, ErrResponseIncomplete) {
					t.Fatalf("POST: %v, want ErrResponseIncomplete", err)
				}
				return
			}
			c2 := srv.next(t)
			if h, _ := c2.readHead(); !strings.HasPrefix(h, "GET /b ") {
				t.Fatalf("retried head %q", h)
			}
			io.WriteString(c2, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
			resp, err := wait(t, d)
			if err != nil || string(resp.Body()) != "b" {
				t.Fatalf("retried: %v %v", resp, err)
			}
			var st ClientStats
			e.onLoop(func() { st = e.c.Stats() })
			if st.Retried != 1 || st.Dials != 2 {
				t.Errorf("stats %+v, want 1 retry over 2 connections", st)
			}
		})
	}
}

// Redirects are returned as they are by default and followed, up to the
// limit, when asked; 303 turns a POST into a GET.
func TestClientFollowsRedirectsOnlyWhenAskedAndUpToTheLimit(t *testing.T) {
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/loop":
			nethttp.Redirect(w, r, "/loop", nethttp.StatusFound)
		case "/post":
			nethttp.Redirect(w, r, "/final", nethttp.StatusSeeOther)
		case "/moved":
			nethttp.Redirect(w, r, "/final?x=1", nethttp.StatusMovedPermanently)
		default:
			fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
		}
	}))
	e := startClient(t)
	resp := e.mustGet(t, srv.URL+"/moved")
	if resp.StatusCode() != 301 || resp.Header("Location") != "/final?x=1" {
		t.Fatalf("default: %d %q", resp.StatusCode(), resp.Header("Location"))
	}
	f := startClient(t, WithFollowRedirects(3))
	resp = f.mustGet(t, srv.URL+"/moved")
	if resp.StatusCode() != 200 || string(resp.Body()) != "GET /final?x=1" || resp.URL() != srv.URL+"/final?x=1" {
		t.Fatalf("followed: %d %q %s", resp.StatusCode(), resp.Body(), resp.URL())
	}
	resp, err := wait(t, f.start(func(c *Client) *deferred.Deferred[*ClientResponse] {
		return c.Post(srv.URL+"/post", "text/plain", []byte("x"))
	}))
	if err != nil || string(resp.Body()) != "GET /final" {
		t.Fatalf("303: %v %v", resp, err)
	}
	if _, err := f.get(t, srv.URL+"/loop"); !errors.Is(err, ErrTooManyRedirects) {
		t.Fatalf("loop: %v, want ErrTooManyRedirects", err)
	}
}

// An idle connection is closed by the client after its idle timeout.
func TestClientClosesIdleConnectionsAfterTheIdleTimeout(t *testing.T) {
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {}))
	e := startClient(t, WithIdleConnTimeout(50*time.Millisecond))
	e.mustGet(t, srv.URL+"/")
	for deadline := time.Now().Add(20 * time.Second); srv.closed.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("idle connection never closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.mustGet(t, srv.URL+"/")
	if n := srv.newConns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// A buffered body over the limit fails with ErrResponseBodyTooLarge.
func TestClientRefusesABufferedBodyOverTheLimit(t *testing.T) {
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.URL.Path == "/chunked" {
			w.(nethttp.Flusher).Flush()
		} else {
			w.Header().Set("Content-Length", "2000")
		}
		w.Write(make([]byte, 2000))
	}))
	e := startClient(t, WithMaxResponseBodyBytes(1000))
	for _, p := range []string{"/length", "/chunked"} {
		if _, err := e.get(t, srv.URL+p); !errors.Is(err, ErrResponseBodyTooLarge) {
			t.Errorf("%s: %v, want ErrResponseBodyTooLarge", p, err)
		}
	}
}

// streamSink is a BodyConsumer that pauses after every piece and resumes
// on a later turn, checking that nothing arrives while paused.
type streamSink struct {
	t      *testing.T
	e      *clientEnv
	got    []byte
	n      int
	paused bool
	pauses int
	end    chan error
}

func (s *streamSink) BodyData(resp *ClientResponse, p []byte) {
	if s.paused {
		s.t.Error("BodyData while paused")
	}
	s.got = append(s.got, p...)
	s.n += len(p)
	s.paused = true
	s.pauses++
	resp.PauseBody()
	s.e.lp.CallLater(time.Millisecond, func() {
		s.paused = false
		resp.ResumeBody()
	})
}

func (s *streamSink) BodyEnd(resp *ClientResponse, err error) { s.end <- err }

// A streamed response body arrives whole through a consumer that pauses
// and resumes it, and nothing is delivered while it is paused.
func TestClientStreamsAResponseBodyToAConsumerThatPauses(t *testing.T) {
	data := bytes.Repeat([]byte("streamed body "), 80000) // ~1 MiB
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.URL.Path == "/length" {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		}
		w.Write(data)
	}))
	for _, p := range []string{"/chunked", "/length"} {
		e := startClient(t)
		sink := &streamSink{t: t, e: e, end: make(chan error, 1)}
		req := NewRequest("GET", srv.URL+p, nil)
		req.BodyConsumer = sink
		resp, err := wait(t, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Do(req) }))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != 200 || len(resp.Body()) != 0 {
			t.Fatalf("%s: %d, %d buffered bytes", p, resp.StatusCode(), len(resp.Body()))
		}
		select {
		case err := <-sink.end:
			if err != nil {
				t.Fatalf("%s: BodyEnd(%v)", p, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("body never ended")
		}
		var got []byte
		var pauses int
		e.onLoop(func() { got, pauses = sink.got, sink.pauses })
		if !bytes.Equal(got, data) || pauses < 2 {
			t.Errorf("%s: %d bytes in %d pieces, want the %d sent", p, len(got), pauses, len(data))
		}
	}
}

// chunkProducer streams a request body of n pieces, as the transport lets
// it.
type chunkProducer struct {
	w      *BodyWriter
	piece  []byte
	left   int
	paused bool
	length int64
}

func (p *chunkProducer) Length() int64 { return p.length }
func (p *chunkProducer) StartProducing(w *BodyWriter) {
	p.w = w
	p.ResumeProducing()
}
func (p *chunkProducer) PauseProducing() { p.paused = true }
func (p *chunkProducer) ResumeProducing() {
	p.paused = false
	for !p.paused && p.left > 0 {
		p.left--
		if _, err := p.w.Write(p.piece); err != nil {
			return
		}
	}
	if p.left == 0 && p.w != nil {
		p.w.Close()
		p.w = nil
	}
}
func (p *chunkProducer) StopProducing() { p.left = 0 }

// A streamed request body (chunked, or with a declared length) reaches
// the server whole.
func TestClientStreamsARequestBodyFromAProducer(t *testing.T) {
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %v %d %x", n, r.TransferEncoding, r.ContentLength, h.Sum(nil))
	}))
	piece := bytes.Repeat([]byte("x"), 64<<10)
	const pieces = 64 // 4 MiB
	sum := sha256.Sum256(bytes.Repeat(piece, pieces))
	e := startClient(t)
	for _, length := range []int64{-1, int64(len(piece) * pieces)} {
		req := NewRequest("PUT", srv.URL+"/up", nil)
		req.BodyProducer = &chunkProducer{piece: piece, left: pieces, length: length}
		resp, err := wait(t, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Do(req) }))
		if err != nil {
			t.Fatal(err)
		}
		te := "[chunked] -1"
		if length >= 0 {
			te = "[] " + strconv.FormatInt(length, 10)
		}
		want := fmt.Sprintf("%d %s %s", len(piece)*pieces, te, hex.EncodeToString(sum[:]))
		if string(resp.Body()) != want {
			t.Errorf("server saw %q, want %q", resp.Body(), want)
		}
	}
}

// Requests that cannot be sent fail at once, on the loop.
func TestClientRefusesRequestsItCannotSend(t *testing.T) {
	e := startClient(t)
	for _, tc := range []struct {
		req  *ClientRequest
		want error
	}{
		{NewRequest("GET", "ftp://127.0.0.1/", nil), ErrUnsupportedScheme},
		{NewRequest("GET", "http:///nohost", nil), ErrInvalidRequest},
		{NewRequest("GE T", "http://127.0.0.1:1/", nil), ErrInvalidRequest},
		{func() *ClientRequest {
			r := NewRequest("GET", "http://127.0.0.1:1/", nil)
			r.AddHeader("X", "a\r\nInjected: 1")
			return r
		}(), ErrInvalidRequest},
		{func() *ClientRequest {
			r := NewRequest("GET", "http://127.0.0.1:1/", nil)
			r.AddHeader("Content-Length", "3")
			return r
		}(), ErrInvalidRequest},
	} {
		_, err := wait(t, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Do(tc.req) }))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s %s: %v, want %v", tc.req.Method(), tc.req.URL(), err, tc.want)
		}
	}
}

// A connect that fails fails the request with the Dialer's error.
func TestClientRefusedConnectFailsTheRequestWithTheDialersError(t *testing.T) {
	ln := newRawServer(t, nil)
	addr := ln.ln.Addr().String()
	ln.ln.Close() // nothing listens there any more
	e := startClient(t)
	if _, err := e.get(t, "http://"+addr+"/"); !errors.Is(err, reactor.ErrConnectRefused) {
		t.Fatalf("got %v, want reactor.ErrConnectRefused", err)
	}
}

// Close fails the requests in flight and queued with ErrClientClosed and
// later requests at once.
func TestClientCloseFailsRequestsInFlightAndLater(t *testing.T) {
	srv := newRawServer(t, nil)
	e := startClient(t, WithMaxConnsPerHost(1))
	var inFlight, queued *deferred.Deferred[*ClientResponse]
	e.onLoop(func() {
		inFlight = e.c.Get(srv.url("/1"))
		queued = e.c.Get(srv.url("/2"))
	})
	c := srv.next(t)
	c.readHead()
	e.onLoop(e.c.Close)
	for _, d := range []*deferred.Deferred[*ClientResponse]{inFlight, queued, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Get(srv.url("/3")) })} {
		if _, err := wait(t, d); !errors.Is(err, ErrClientClosed) {
			t.Errorf("got %v, want ErrClientClosed", err)
		}
	}
	if !c.waitClosed() {
		t.Error("connection left open")
	}
}

// cancelSink cancels the body at its first piece.
type cancelSink struct {
	end chan error
	n   int
}

func (s *cancelSink) BodyData(resp *ClientResponse, p []byte) {
	s.n++
	resp.CancelBody()
}
func (s *cancelSink) BodyEnd(resp *ClientResponse, err error) { s.end <- err }

// CancelBody abandons a streamed body: the consumer hears of it, nothing
// more is delivered and the connection is aborted.
func TestClientCancelBodyAbortsAStreamedResponse(t *testing.T) {
	srv := newRawServer(t, nil)
	e := startClient(t)
	sink := &cancelSink{end: make(chan error, 1)}
	req := NewRequest("GET", srv.url("/"), nil)
	req.BodyConsumer = sink
	d := e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Do(req) })
	c := srv.next(t)
	c.readHead()
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nfirst")
	if _, err := wait(t, d); err != nil {
		t.Fatal(err)
	}
	if err := <-sink.end; !errors.Is(err, ErrBodyCancelled) || !errors.Is(err, deferred.ErrCancelled) {
		t.Fatalf("BodyEnd(%v)", err)
	}
	io.WriteString(c, "more")
	if !c.waitClosed() {
		t.Error("connection left open")
	}
	var n int
	e.onLoop(func() { n = sink.n })
	if n != 1 {
		t.Errorf("%d BodyData calls, want 1", n)
	}
}

// A server that answers before the streamed request body is all sent
// (an early 413, say): the response is delivered, the producer stopped,
// and the connection is not reused.
func TestClientEarlyResponseStopsTheBodyProducerAndRetiresTheConnection(t *testing.T) {
	srv := newRawServer(t, nil)
	e := startClient(t)
	prod := &chunkProducer{piece: []byte("x"), left: 1 << 30, length: -1}
	prod.paused = true
	req := NewRequest("PUT", srv.url("/up"), nil)
	req.BodyProducer = &stallingProducer{chunkProducer: prod}
	d := e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Do(req) })
	c := srv.next(t)
	c.readHead()
	io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig")
	resp, err := wait(t, d)
	if err != nil || resp.StatusCode() != 413 || string(resp.Body()) != "big" {
		t.Fatalf("%v %v", resp, err)
	}
	var stopped bool
	e.onLoop(func() { stopped = prod.left == 0 })
	if !stopped {
		t.Error("producer not stopped")
	}
	if !c.waitClosed() {
		t.Error("connection kept after a body cut short")
	}
}

// stallingProducer writes nothing: the body is never finished.
type stallingProducer struct{ *chunkProducer }

func (p *stallingProducer) StartProducing(w *BodyWriter) { p.w = w }
func (p *stallingProducer) ResumeProducing()             {}

// holdSink pauses the body at its first piece and resumes only when told.
type holdSink struct {
	resp   *ClientResponse
	n      int
	paused chan struct{}
	end    chan error
}

func (s *holdSink) BodyData(resp *ClientResponse, p []byte) {
	s.n += len(p)
	if s.resp == nil {
		s.resp = resp
		resp.PauseBody()
		close(s.paused)
	}
}
func (s *holdSink) BodyEnd(resp *ClientResponse, err error) { s.end <- err }

// A paused streamed body holds the server back through TCP: a server
// writing 64 MiB cannot finish while the consumer is paused (the kernel's
// buffers are far smaller), and the client buffers no more than one read.
// Resumed, the body arrives whole.
func TestClientPausedBodyHoldsTheServerBack(t *testing.T) {
	const total = 64 << 20
	var written atomic.Int64
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(total))
		buf := make([]byte, 64<<10)
		for n := 0; n < total; n += len(buf) {
			if _, err := w.Write(buf); err != nil {
				return
			}
			written.Add(int64(len(buf)))
		}
	}))
	e := startClient(t)
	sink := &holdSink{paused: make(chan struct{}), end: make(chan error, 1)}
	req := NewRequest("GET", srv.URL+"/", nil)
	req.BodyConsumer = sink
	if _, err := wait(t, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Do(req) })); err != nil {
		t.Fatal(err)
	}
	<-sink.paused
	time.Sleep(200 * time.Millisecond) // let the server write what it can
	var held, got int
	e.onLoop(func() {
		for cc := range e.c.hosts["http://"+srv.Listener.Addr().String()].all {
			held = max(held, cap(cc.in))
		}
		got = sink.n
	})
	if w := written.Load(); w >= total {
		t.Fatalf("the server wrote all %d bytes while the client was paused", w)
	}
	if held > 256<<10 {
		t.Errorf("the paused connection holds %d bytes", held)
	}
	e.onLoop(func() { sink.resp.ResumeBody() })
	select {
	case err := <-sink.end:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("body never ended")
	}
	e.onLoop(func() { got = sink.n })
	if got != total {
		t.Errorf("%d bytes, want %d", got, total)
	}
}

// countingProducer is a chunkProducer that counts its pauses.
type countingProducer struct {
	chunkProducer
	pauses int
}

func (p *countingProducer) PauseProducing() { p.pauses++; p.chunkProducer.PauseProducing() }

// A streamed request body to a server that does not read is held back:
// the transport pauses the producer at its high-water mark instead of
// buffering the body. When the server reads, the body completes.
func TestClientRequestBodyProducerIsPausedByAServerThatDoesNotRead(t *testing.T) {
	gate := make(chan struct{})
	srv := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		<-gate
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}))
	e := startClient(t)
	const pieces = 1024 // 64 MiB
	prod := &countingProducer{chunkProducer: chunkProducer{piece: make([]byte, 64<<10), left: pieces, length: -1}}
	req := NewRequest("PUT", srv.URL+"/", nil)
	req.BodyProducer = prod
	d := e.start(func(c *Client) *deferred.Deferred[*ClientResponse] { return c.Do(req) })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var paused bool
		e.onLoop(func() { paused = prod.paused })
		if paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the producer was never paused")
		}
	}
	var left int
	e.onLoop(func() { left = prod.left })
	if left == 0 {
		t.Fatal("the whole body was queued while the server read nothing")
	}
	close(gate)
	resp, err := wait(t, d)
	if err != nil || string(resp.Body()) != strconv.Itoa(pieces*64<<10) {
		t.Fatalf("%v %v", resp, err)
	}
}
