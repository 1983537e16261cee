package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const wrkReport = `Running 1s test @ http://127.0.0.1:18080/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   831.88us    1.49ms  14.89ms   89.12%
    Req/Sec    19.41k     8.37k   34.10k    60.00%
  Latency Distribution
     50%  231.00us
     75%  800.00us
     90%    2.45ms
     99%    7.21ms
  19372 requests in 1.01s, 2.12MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  19168.51
Transfer/sec:      2.10MB
`

func TestParseWrkReadsCountRateLatencyAndErrors(t *testing.T) {
	got, err := parseWrk(wrkReport)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{
		Requests: 19372, Elapsed: 1010 * time.Millisecond, ReqPerSec: 19168.51,
		P50: 231 * time.Microsecond, P99: 7210 * time.Microsecond,
		SocketErrors: 6, Non2xxOr3xx: 7, SawLatencyDis: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseWrk =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseWrkRejectsAReportWithoutTotals(t *testing.T) {
	cut := wrkReport[:strings.Index(wrkReport, "  19372 requests")]
	if _, err := parseWrk(cut); !errors.Is(err, errWrkOutput) {
		t.Fatalf("err = %v, want errWrkOutput", err)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); !errors.Is(err, errWrkOutput) {
		t.Fatalf("err = %v, want errWrkOutput", err)
	}
}

func TestParseWrkDurationUnits(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"831.88us": 831880 * time.Nanosecond,
		"2.45ms":   2450 * time.Microsecond,
		"1.01s":    1010 * time.Millisecond,
		"2.00m":    2 * time.Minute,
		"1.50h":    90 * time.Minute,
	} {
		got, err := parseWrkDuration(in)
		if err != nil || (got-want).Abs() > time.Nanosecond {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "12", "ms", "-1ms", "1.2xs"} {
		if _, err := parseWrkDuration(bad); !errors.Is(err, errWrkOutput) {
			t.Errorf("parseWrkDuration(%q) err = %v, want errWrkOutput", bad, err)
		}
	}
}

func TestWrkArgsPassesDepthToThePipelineScript(t *testing.T) {
	got := wrkArgs("http://127.0.0.1:1/", 1, 64, 1500*time.Millisecond, "/tmp/p.lua", 16)
	want := []string{"-t", "1", "-c", "64", "-d", "2s", "--latency", "-s", "/tmp/p.lua", "http://127.0.0.1:1/", "--", "16"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("wrkArgs = %q, want %q", got, want)
	}
	plain := wrkArgs("http://127.0.0.1:1/", 2, 64, 10*time.Second, "", 1)
	if want := []string{"-t", "2", "-c", "64", "-d", "10s", "--latency", "http://127.0.0.1:1/"}; !reflect.DeepEqual(plain, want) {
		t.Fatalf("wrkArgs = %q, want %q", plain, want)
	}
}

func TestPipelineScriptIsWrittenAndRepeatsTheRequest(t *testing.T) {
	p, err := writePipelineScript(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || filepath.Ext(p) != ".lua" {
		t.Fatalf("script %s: %v", p, err)
	}
	if !strings.Contains(string(b), "string.rep(wrk.format(") {
		t.Fatal("script does not repeat the request")
	}
}
