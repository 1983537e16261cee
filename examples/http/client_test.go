package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/reactor"
)

// mustaineClient runs protocol/http's Client on a reactor of its own and
// sends requests to it from the test goroutine.
type mustaineClient struct {
	r *reactor.Reactor
	c *http.Client
}

func newMustaineClient(t *testing.T, opts ...http.ClientOption) *mustaineClient {
	t.Helper()
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false), reactor.WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := http.NewClient(r.Loops()[0], r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	<-running
	mc := &mustaineClient{r: r, c: c}
	t.Cleanup(func() {
		mc.on(c.Close)
		r.Stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("client reactor did not stop")
		}
	})
	return mc
}

// on runs fn on the client's loop and waits for it.
func (mc *mustaineClient) on(fn func()) {
	ran := make(chan struct{})
	mc.r.Loops()[0].CallFromThread(func() { fn(); close(ran) })
	<-ran
}

// do sends req and waits for the response.
func (mc *mustaineClient) do(t *testing.T, req *http.ClientRequest) *http.ClientResponse {
	t.Helper()
	var d *deferred.Deferred[*http.ClientResponse]
	mc.on(func() { d = mc.c.Do(req) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := d.Await(ctx)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method(), req.URL(), err)
	}
	return resp
}

// The example server answers protocol/http's own client on every endpoint
// kind (fixed, chunked stream, echo, HEAD), over one kept-alive
// connection.
func TestEndpointsAnswerMustainesClient(t *testing.T) {
	_, addr := startServer(t, 2)
	checkEndpointsOverOneConnection(t, newMustaineClient(t), "http://"+addr)
}

// checkEndpointsOverOneConnection sends a request to each endpoint kind
// under base, compares each body byte for byte, and checks that they all
// went over one connection.
func checkEndpointsOverOneConnection(t *testing.T, mc *mustaineClient, base string) {
	t.Helper()
	upload := bytes.Repeat([]byte("upload "), 40000)
	for _, tc := range []struct {
		method, path string
		body         []byte
		status       int
		want         string
	}{
		{"GET", "/", nil, 200, "Hello, World!"},
		{"GET", "/json", nil, 200, `{"message":"Hello, World!"}`},
		{"HEAD", "/", nil, 200, ""},
		{"GET", "/stream?n=1000", nil, 200, streamLinesString(1000)},
		{"POST", "/echo", upload, 200, string(upload)},
		{"GET", "/nowhere", nil, 404, "404 page not found\n"},
	} {
		resp := mc.do(t, http.NewRequest(tc.method, base+tc.path, tc.body))
		if resp.StatusCode() != tc.status || string(resp.Body()) != tc.want {
			t.Errorf("%s %s: %d, %d bytes; want %d, %d bytes", tc.method, tc.path, resp.StatusCode(), len(resp.Body()), tc.status, len(tc.want))
		}
	}
	var st http.ClientStats
	mc.on(func() { st = mc.c.Stats() })
	if st.Dials != 1 {
		t.Errorf("%d connections for sequential requests, want 1", st.Dials)
	}
}

// The example started with -tls-cert/-tls-key answers protocol/http's
// client over https on every endpoint kind, over one kept-alive TLS
// connection, with 1 and 2 server loops; a client that does not trust the
// certificate gets x509.UnknownAuthorityError.
func TestEndpointsAnswerMustainesClientOverHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := writeSelfSigned(t, certFile, keyFile)
	cfg, err := tlsServerConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig = cfg
	t.Cleanup(func() { tlsConfig = nil })
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			_, addr := startServer(t, loops)
			checkEndpointsOverOneConnection(t, newMustaineClient(t, http.WithTLSConfig(&tls.Config{RootCAs: roots})), "https://"+addr)

			untrusting := newMustaineClient(t, http.WithTLSConfig(&tls.Config{RootCAs: x509.NewCertPool()}))
			var d *deferred.Deferred[*http.ClientResponse]
			untrusting.on(func() { d = untrusting.c.Get("https://" + addr + "/") })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var unknown x509.UnknownAuthorityError
			if _, err := d.Await(ctx); !errors.As(err, &unknown) {
				t.Fatalf("untrusted certificate: %v, want x509.UnknownAuthorityError", err)
			}
		})
	}
}

// 1,000 requests at once with a limit of 64 connections: every answer
// right, no more than 64 connections.
func TestThousandConcurrentRequestsFromMustainesClient(t *testing.T) {
	_, addr := startServer(t, 2)
	mc := newMustaineClient(t, http.WithMaxConnsPerHost(64))
	const n = 1000
	ds := make([]*deferred.Deferred[*http.ClientResponse], n)
	mc.on(func() {
		for i := range ds {
			ds[i] = mc.c.Get(fmt.Sprintf("http://%s/stream?n=%d", addr, i%50+1))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, d := range ds {
		resp, err := d.Await(ctx)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if want := streamLinesString(i%50 + 1); string(resp.Body()) != want {
			t.Fatalf("request %d: body %q", i, resp.Body())
		}
	}
	var st http.ClientStats
	mc.on(func() { st = mc.c.Stats() })
	if st.Dials > 64 {
		t.Errorf("%d connections, want at most 64", st.Dials)
	}
}

func streamLinesString(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d of %d\n", i, n)
	}
	return b.String()
}
