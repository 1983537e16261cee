package main

import (
	"bytes"
	"encoding/json"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"testing"
)

func runHTTPLoadCmd(t *testing.T, args ...string) (int, httpLoadReport, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := httploadMain(args, &stdout, &stderr)
	var rep httpLoadReport
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("-json output %q: %v", stdout.String(), err)
		}
	}
	return code, rep, stderr.String()
}

// httpload counts completed requests, keeps one connection per request in
// flight and exits zero against a healthy server.
func TestHTTPLoadReportsRequestsOverKeptAliveConnections(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	code, rep, stderr := runHTTPLoadCmd(t, "-json", "-url", srv.URL+"/", "-conns", "4", "-loops", "2", "-duration", "200ms", "-warmup", "50ms")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if rep.Requests == 0 || rep.Errors != 0 || rep.BadStatus != 0 || rep.Dials != 4 || rep.CPUPerReq <= 0 {
		t.Fatalf("report = %+v", rep)
	}
}

// Non-200 answers make the run fail.
func TestHTTPLoadExitsNonZeroOnErrorStatuses(t *testing.T) {
	srv := httptest.NewServer(nethttp.NotFoundHandler())
	defer srv.Close()
	code, rep, _ := runHTTPLoadCmd(t, "-json", "-url", srv.URL+"/", "-conns", "2", "-duration", "100ms", "-warmup", "10ms")
	if code != exitFailure || rep.BadStatus == 0 {
		t.Fatalf("exit %d, report %+v", code, rep)
	}
}

// Bad flags are a usage error.
func TestHTTPLoadRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-conns", "0"}, {"-loops", "3", "-conns", "2"}, {"extra"}} {
		if code, _, _ := runHTTPLoadCmd(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
