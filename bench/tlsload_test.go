package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startHTTPS serves handler over TLS with the harness's certificate, with
// server settings changed by tweak.
func startHTTPS(t *testing.T, handler http.HandlerFunc, tweak func(*tls.Config)) string {
	t.Helper()
	files, err := writeTLSCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(handler)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if tweak != nil {
		tweak(s.TLS)
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func hello(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, helloBody) }

func TestRunHandshakesCountsFullHandshakes(t *testing.T) {
	addr := startHTTPS(t, hello, nil)
	for _, ks := range keyShareNames {
		cfg, err := benchClientTLS(ks)
		if err != nil {
			t.Fatal(err)
		}
		rep := runHandshakes(context.Background(), addr, cfg, 4, 300*time.Millisecond)
		if rep.Error != "" || rep.Conns == 0 || rep.Resumed != 0 || rep.PerSec <= 0 || rep.P99Ns <= 0 {
			t.Fatalf("%s: %+v", ks, rep)
		}
	}
}

func TestRunHandshakesFailsOnAWrongAnswer(t *testing.T) {
	addr := startHTTPS(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "Hello, Moon!") }, nil)
	cfg, _ := benchClientTLS("")
	rep := runHandshakes(context.Background(), addr, cfg, 2, 300*time.Millisecond)
	if !strings.Contains(rep.Error, errProbe.Error()) {
		t.Fatalf("want a probe error, got %+v", rep)
	}
}

func TestRunHandshakesRefusesTLS12(t *testing.T) {
	addr := startHTTPS(t, hello, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 })
	cfg, _ := benchClientTLS("")
	if rep := runHandshakes(context.Background(), addr, cfg, 2, 300*time.Millisecond); rep.Error == "" {
		t.Fatalf("a TLS 1.2 server passed: %+v", rep)
	}
	// The probe refuses it too, with a TLS 1.2 client config.
	cfg12 := cfg.Clone()
	cfg12.MinVersion = 0
	if err := probe(kindHTTP, addr, cfg12); !errors.Is(err, errProbe) {
		t.Fatalf("probe of a TLS 1.2 server: %v", err)
	}
}

func TestRunHandshakesFailsWhenSessionsResume(t *testing.T) {
	addr := startHTTPS(t, hello, nil)
	cfg, _ := benchClientTLS("")
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	rep := runHandshakes(context.Background(), addr, cfg, 1, 500*time.Millisecond)
	if rep.Resumed == 0 || !strings.Contains(rep.Error, "resumed") {
		t.Fatalf("resumed handshakes not caught: %+v", rep)
	}
}

func TestProbeSpeaksTLS(t *testing.T) {
	addr := startHTTPS(t, hello, nil)
	cfg, _ := benchClientTLS("x25519")
	if err := probe(kindHTTP, addr, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestTLSLoadsRunOnlyAgainstTLSTargetsWithNetHTTPAsBase(t *testing.T) {
	o := &options{WrkConns: 64, Depth: 16, IdleConns: 100, KeyShare: "x25519"}
	for _, l := range allLoads(o) {
		for _, tg := range allTargets {
			if l.TLS && l.appliesTo(tg) && !tg.TLS {
				t.Errorf("%s applies to %s, which has no TLS", l.Name, tg.Name)
			}
		}
		if l.TLS != (l.base() == tlsBaseline) {
			t.Errorf("%s: base %s", l.Name, l.base())
		}
	}
	res := results{}
	res.at(cellKey{"pinned", "https", "nethttp"}).Samples = []sample{{Throughput: 30e3, CPUPerOp: 12 * time.Microsecond, P99: time.Millisecond}}
	res.at(cellKey{"pinned", "https", "mustaine"}).Samples = []sample{{Throughput: 60e3, CPUPerOp: 6 * time.Microsecond, P99: time.Millisecond}}
	res.at(cellKey{"pinned", "idle-https", "nethttp"}).Samples = []sample{{BytesPerConn: 40000}}
	res.at(cellKey{"pinned", "idle-https", "mustaine"}).Samples = []sample{{BytesPerConn: 10000}}
	var loads []load
	for _, l := range allLoads(o) {
		if l.Name == "https" || l.Name == "idle-https" {
			loads = append(loads, l)
		}
	}
	md := renderMarkdown(tableSpec{Configs: []runConfig{{Name: "pinned", Title: "Pinned"}}, Loads: loads, Targets: allTargets}, res)
	for _, want := range []string{
		"| Load | Target | Throughput | vs nethttp | Server CPU / op | vs nethttp |",
		"| HTTPS keep-alive, wrk -c 64 | mustaine | 60.0k req/s | 2.00× | 6 µs | 0.50× |",
		"| 100 idle HTTPS conns (x25519) | mustaine | 10000 B | 0.25× |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	if strings.Contains(md, "| gnet |") {
		t.Errorf("gnet got a TLS row:\n%s", md)
	}
}
