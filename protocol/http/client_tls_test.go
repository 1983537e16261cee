package http

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/internal/testpki"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// testPKI is a CA made for the test and the server certificates it
// signs, failing the test on error.
type testPKI struct {
	ca    *testpki.CA
	roots *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := testpki.NewCA("mustaine test CA")
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{ca: ca, roots: ca.Pool}
}

// leaf is a server certificate for names, valid from notBefore to
// notAfter.
func (p *testPKI) leaf(t *testing.T, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	cert, err := p.ca.Server(notBefore, notAfter, names...)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// valid is a leaf valid now for names.
func (p *testPKI) valid(t *testing.T, names ...string) tls.Certificate {
	return p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), names...)
}

// newCountingTLSServer is newCountingServer over TLS with cert, TLS
// versions bounded by minV and maxV (0: crypto/tls's defaults).
func newCountingTLSServer(t *testing.T, h nethttp.Handler, cert tls.Certificate, minV, maxV uint16) *countingServer {
	t.Helper()
	return startCountingServer(t, h, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: minV, MaxVersion: maxV})
}

// tlsReport answers what the server saw of the connection's TLS state.
func tlsReport(w nethttp.ResponseWriter, r *nethttp.Request) bool {
	if r.TLS == nil {
		w.Header().Set("X-TLS", "none")
		return false
	}
	w.Header().Set("X-TLS", strconv.Itoa(int(r.TLS.Version)))
	w.Header().Set("X-ALPN", r.TLS.NegotiatedProtocol)
	w.Header().Set("X-SNI", r.TLS.ServerName)
	return true
}

// Over TLS 1.2 and 1.3 (each forced on the server), sequential https
// requests, small and 1 MiB bodies, arrive byte for byte over one
// keep-alive connection (counted by the server's ConnState), with ALPN
// http/1.1 and SNI taken from the URL's host.
func TestClientHTTPSAgainstNetHTTPOverTLS12And13(t *testing.T) {
	pki := newTestPKI(t)
	cert := pki.valid(t, "localhost", "127.0.0.1")
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, loops := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/loops=%d", tls.VersionName(v), loops), func(t *testing.T) {
				srv := newCountingTLSServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
					tlsReport(w, r)
					if r.URL.Path == "/big" {
						w.Write(big)
						return
					}
					fmt.Fprintf(w, "hello %s", r.URL.Path)
				}), cert, v, v)
				_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
				e := startClientLoops(t, loops, WithTLSConfig(&tls.Config{RootCAs: pki.roots}))
				for i := range 10 {
					path := "/n" + strconv.Itoa(i)
					want := []byte("hello " + path)
					if i == 5 {
						path, want = "/big", big
					}
					resp := e.mustGet(t, "https://localhost:"+port+path)
					if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), want) {
						t.Fatalf("request %d: %d, %d bytes; want 200, %d bytes", i, resp.StatusCode(), len(resp.Body()), len(want))
					}
					if got := resp.Header("X-TLS"); got != strconv.Itoa(int(v)) {
						t.Fatalf("server saw TLS version %s, want %d", got, v)
					}
					if alpn, sni := resp.Header("X-ALPN"), resp.Header("X-SNI"); alpn != "http/1.1" || sni != "localhost" {
						t.Fatalf("server saw ALPN %q, SNI %q; want http/1.1, localhost", alpn, sni)
					}
				}
				e.wantConnections(t, srv.newConns.Load(), 1, 9)
			})
		}
	}
}

// A certificate that does not verify fails the request with an error in
// which errors.As finds crypto/x509's type for the reason, and
// errors.Is the reactor's ErrTLSHandshake; no request reaches the server.
func TestClientHTTPSCertificateErrorsReachTheDeferredAsX509Errors(t *testing.T) {
	pki := newTestPKI(t)
	other := newTestPKI(t)
	now := time.Now()
	for _, tc := range []struct {
		name  string
		cert  tls.Certificate
		roots *x509.CertPool
		host  string
		check func(error) bool
	}{
		{"untrusted", pki.valid(t, "127.0.0.1"), other.roots, "127.0.0.1", func(err error) bool {
			var e x509.UnknownAuthorityError
			return errors.As(err, &e)
		}},
		{"wrong-host", pki.valid(t, "127.0.0.1"), pki.roots, "localhost", func(err error) bool {
			var e x509.HostnameError
			return errors.As(err, &e) && e.Host == "localhost"
		}},
		{"expired", pki.leaf(t, now.Add(-2*time.Hour), now.Add(-time.Hour), "127.0.0.1"), pki.roots, "127.0.0.1", func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int64
			srv := newCountingTLSServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
				requests.Add(1)
			}), tc.cert, 0, 0)
			_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			e := startClient(t, WithTLSConfig(&tls.Config{RootCAs: tc.roots}))
			resp, err := e.get(t, "https://"+net.JoinHostPort(tc.host, port)+"/")
			if err == nil {
				t.Fatalf("got %d, want an error", resp.StatusCode())
			}
			if !tc.check(err) || !errors.Is(err, reactor.ErrTLSHandshake) {
				t.Fatalf("error %v (%T) does not match the x509 type or ErrTLSHandshake", err, err)
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("%d requests reached the server", n)
			}
		})
	}
}

// A server that closes mid-body over TLS, with close_notify or without,
// fails the request with ErrResponseIncomplete: a truncated body is never
// a success.
func TestClientHTTPSServerClosingMidBodyFailsTheRequest(t *testing.T) {
	pki := newTestPKI(t)
	cert := pki.valid(t, "127.0.0.1")
	for _, tc := range []struct {
		name        string
		closeNotify bool
		chunked     bool
	}{
		{"content-length/close_notify", true, false},
		{"content-length/no-close_notify", false, false},
		{"chunked/close_notify", true, true},
		{"chunked/no-close_notify", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newCountingTLSServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
				if !tc.chunked {
					w.Header().Set("Content-Length", "100000")
				}
				w.Write(bytes.Repeat([]byte("x"), 1000))
				w.(nethttp.Flusher).Flush()
				c, _, err := w.(nethttp.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				if tc.closeNotify {
					c.Close() // *tls.Conn: close_notify, then the socket
				} else {
					c.(*tls.Conn).NetConn().Close()
				}
			}), cert, 0, 0)
			e := startClient(t, WithTLSConfig(&tls.Config{RootCAs: pki.roots}))
			resp, err := e.get(t, srv.URL+"/")
			if !errors.Is(err, ErrResponseIncomplete) {
				t.Fatalf("got error %v (response %v); want ErrResponseIncomplete", err, resp != nil)
			}
		})
	}
}

// sniffListener serves TLS and plain HTTP on one port: a connection whose
// first byte is a TLS handshake record (22) gets a tls.Server.
type sniffListener struct {
	net.Listener
	config *tls.Config
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	first, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if err == nil && first[0] == 22 {
		return tls.Server(pc, l.config), nil
	}
	return pc, nil
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// "http" and "https" requests to one host and port never share a
// connection: on a port that serves both, every https request is
// answered over TLS and every http request in clear, over one kept-alive
// connection each.
func TestClientHTTPAndHTTPSPoolsToOneHostPortDoNotMix(t *testing.T) {
	pki := newTestPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := &nethttp.Server{
		Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) { tlsReport(w, r) }),
		ConnState: func(_ net.Conn, st nethttp.ConnState) {
			if st == nethttp.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(&sniffListener{Listener: ln, config: &tls.Config{Certificates: []tls.Certificate{pki.valid(t, "127.0.0.1")}}})
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			before := conns.Load()
			e := startClientLoops(t, loops, WithTLSConfig(&tls.Config{RootCAs: pki.roots}))
			for i := range 6 {
				scheme, want := "http", "none"
				if i%2 == 1 {
					scheme, want = "https", strconv.Itoa(tls.VersionTLS13)
				}
				resp := e.mustGet(t, scheme+"://"+addr+"/")
				if got := resp.Header("X-TLS"); resp.StatusCode() != 200 || got != want {
					t.Fatalf("request %d (%s): %d, server's TLS version %q; want 200, %q", i, scheme, resp.StatusCode(), got, want)
				}
			}
			e.wantConnections(t, conns.Load()-before, 2, 4) // one connection per scheme
		})
	}
}

// Redirects between http and https are followed both ways with the same
// rules (303 turns a POST into a GET), each hop on its scheme's pool.
func TestClientFollowsRedirectsAcrossSchemes(t *testing.T) {
	pki := newTestPKI(t)
	var plainURL atomic.Value // set after the servers start; read by a handler
	secure := newCountingTLSServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/to-plain":
			nethttp.Redirect(w, r, plainURL.Load().(string)+"/final", nethttp.StatusSeeOther)
		default:
			tlsReport(w, r)
			fmt.Fprintf(w, "secure %s %s", r.Method, r.URL.RequestURI())
		}
	}), pki.valid(t, "127.0.0.1"), 0, 0)
	plain := newCountingServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/to-secure":
			nethttp.Redirect(w, r, secure.URL+"/final?x=1", nethttp.StatusMovedPermanently)
		default:
			tlsReport(w, r)
			fmt.Fprintf(w, "plain %s %s", r.Method, r.URL.RequestURI())
		}
	}))
	plainURL.Store(plain.URL)
	e := startClient(t, WithFollowRedirects(3), WithTLSConfig(&tls.Config{RootCAs: pki.roots}))
	resp := e.mustGet(t, plain.URL+"/to-secure")
	if string(resp.Body()) != "secure GET /final?x=1" || resp.Header("X-TLS") == "none" || resp.URL() != secure.URL+"/final?x=1" {
		t.Fatalf("http -> https: %d %q %s", resp.StatusCode(), resp.Body(), resp.URL())
	}
	resp, err := wait(t, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] {
		return c.Post(secure.URL+"/to-plain", "text/plain", []byte("x"))
	}))
	if err != nil || string(resp.Body()) != "plain GET /final" || resp.Header("X-TLS") != "none" {
		t.Fatalf("https -> http: %v (response %v)", err, resp != nil)
	}
	// Without following, the redirect itself is the answer.
	f := startClient(t, WithTLSConfig(&tls.Config{RootCAs: pki.roots}))
	if resp := f.mustGet(t, plain.URL+"/to-secure"); resp.StatusCode() != 301 {
		t.Fatalf("not following: %d", resp.StatusCode())
	}
}

// tlsRecorder is a TLSDialer on a fake loop that records what it was
// asked and connects nothing.
type tlsRecorder struct {
	memDialer
	addrs   []string
	configs []*tls.Config
}

func (d *tlsRecorder) ConnectTLSOn(lp protocol.Loop, address string, config *tls.Config, f protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	d.addrs = append(d.addrs, address)
	d.configs = append(d.configs, config)
	return d.ConnectTCPOn(lp, address, f, timeout)
}

// https defaults to port 443; the Client's TLS config reaches the
// TLSDialer with ALPN http/1.1 and ServerName from the URL's host (a
// ServerName the user set stays), and the user's config is not modified.
func TestClientHTTPSDialsPort443WithServerNameAndALPN(t *testing.T) {
	user := &tls.Config{NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS13}
	d := &tlsRecorder{memDialer: memDialer{loop: reactortest.NewLoop()}}
	c, err := NewClient(d.loop, d, WithTLSConfig(user))
	if err != nil {
		t.Fatal(err)
	}
	c.Get("https://example.com/a")
	c.Get("https://[::1]:8443/b")
	c.Get("http://example.com/c")
	if len(d.addrs) != 2 || d.addrs[0] != "example.com:443" || d.addrs[1] != "[::1]:8443" {
		t.Fatalf("TLS dials %v, want example.com:443 and [::1]:8443", d.addrs)
	}
	if len(d.trs) != 3 {
		t.Fatalf("%d connections, want 3 (http does not share https's pool)", len(d.trs))
	}
	for i, want := range []string{"example.com", "::1"} {
		cfg := d.configs[i]
		if cfg.ServerName != want || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "http/1.1" || cfg.MinVersion != tls.VersionTLS13 {
			t.Errorf("dial %d: ServerName %q, NextProtos %v, MinVersion %x", i, cfg.ServerName, cfg.NextProtos, cfg.MinVersion)
		}
	}
	if len(user.NextProtos) != 1 || user.NextProtos[0] != "h2" || user.ServerName != "" {
		t.Errorf("the user's config was modified: %v %q", user.NextProtos, user.ServerName)
	}
	named, _ := NewClient(d.loop, d, WithTLSConfig(&tls.Config{ServerName: "fixed.example"}))
	named.Get("https://example.com/d")
	if got := d.configs[len(d.configs)-1].ServerName; got != "fixed.example" {
		t.Errorf("ServerName %q, want the configured fixed.example", got)
	}
}

// A Dialer that cannot do TLS (reactortest's fake connects, say) fails an
// https request at once with ErrUnsupportedScheme, and connects nothing.
func TestClientHTTPSWithAPlainDialerFailsWithUnsupportedScheme(t *testing.T) {
	c, m := memClient(t)
	var got error
	c.Get("https://127.0.0.1/").AddErrback(func(err error) (*ClientResponse, error) {
		got = err
		return nil, nil
	})
	if !errors.Is(got, ErrUnsupportedScheme) {
		t.Fatalf("got %v, want ErrUnsupportedScheme", got)
	}
	if len(m.trs) != 0 {
		t.Fatalf("%d connections made", len(m.trs))
	}
}

// A body framed by the connection's close (no Content-Length, not
// chunked) is whole over TLS only if the server's close_notify came
// before the close (RFC 9112 §9.8); without it the request fails with
// ErrResponseIncomplete: an attacker can cut a TCP connection, not forge
// a close_notify.
func TestClientHTTPSUnframedBodyNeedsCloseNotify(t *testing.T) {
	pki := newTestPKI(t)
	body := bytes.Repeat([]byte("unframed "), 2000)
	for _, closeNotify := range []bool{true, false} {
		t.Run(fmt.Sprintf("close_notify=%v", closeNotify), func(t *testing.T) {
			srv := newCountingTLSServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
				c, _, err := w.(nethttp.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
				c.Write(body)
				if closeNotify {
					c.Close()
				} else {
					c.(*tls.Conn).NetConn().Close()
				}
			}), pki.valid(t, "127.0.0.1"), 0, 0)
			e := startClient(t, WithTLSConfig(&tls.Config{RootCAs: pki.roots}))
			resp, err := e.get(t, srv.URL+"/")
			if closeNotify {
				if err != nil || !bytes.Equal(resp.Body(), body) {
					t.Fatalf("with close_notify: %v, %d bytes; want the whole %d", err, len(resp.Body()), len(body))
				}
				return
			}
			if !errors.Is(err, ErrResponseIncomplete) || !errors.Is(err, reactor.ErrNoCloseNotify) {
				t.Fatalf("without close_notify: error %v (response %v); want ErrResponseIncomplete with reactor.ErrNoCloseNotify", err, resp != nil)
			}
		})
	}
}

// wantConnections checks that the server accepted dials connections (its
// own count, accepted) and that the client dialled as many and reused
// them reused times.
func (e *clientEnv) wantConnections(t *testing.T, accepted int64, dials, reused int) {
	t.Helper()
	if accepted != int64(dials) {
		t.Errorf("server accepted %d connections, want %d", accepted, dials)
	}
	var st ClientStats
	e.onLoop(func() { st = e.c.Stats() })
	if st.Dials != dials || st.Reused != reused {
		t.Errorf("stats %+v, want %d dials and %d reuses", st, dials, reused)
	}
}
