package main

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStatCPUAddsUtimeAndStimeInClockTicks(t *testing.T) {
	// A name with spaces and a ')' must not shift the fields.
	stat := []byte("4242 (we ird) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 37 0 0 20 0 3 0 12345 1000000 500 18446744073709551615\n")
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 287 * 10 * time.Millisecond; got != want {
		t.Fatalf("cpu = %v, want %v", got, want)
	}
}

func TestParseStatCPURejectsTruncatedStat(t *testing.T) {
	for _, s := range []string{"", "12 (x) S 1 2 3", "12 x S 1 2 3 4 5 6 7 8 9 10 11 12 13"} {
		if _, err := parseStatCPU([]byte(s)); !errors.Is(err, errProcFormat) {
			t.Errorf("parseStatCPU(%q) err = %v, want errProcFormat", s, err)
		}
	}
	bad := []byte("1 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 5 0 0")
	if _, err := parseStatCPU(bad); !errors.Is(err, errProcFormat) {
		t.Errorf("non-numeric utime: err = %v, want errProcFormat", err)
	}
}

func TestParseStatusRSSReadsKilobytes(t *testing.T) {
	status := []byte("Name:\tgnethttp\nVmPeak:\t  99999 kB\nVmRSS:\t    6144 kB\nThreads:\t5\n")
	got, err := parseStatusRSS(status)
	if err != nil {
		t.Fatal(err)
	}
	if got != 6144*1024 {
		t.Fatalf("rss = %d, want %d", got, 6144*1024)
	}
	if _, err := parseStatusRSS([]byte("Name:\tx\n")); !errors.Is(err, errProcFormat) {
		t.Fatalf("missing VmRSS: err = %v, want errProcFormat", err)
	}
}

func TestProcessReadersWorkOnThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc as proc(5) describes it is Linux's")
	}
	pid := os.Getpid()
	if _, err := processCPU(pid); err != nil {
		t.Fatalf("processCPU: %v", err)
	}
	if rss, err := processRSS(pid); err != nil || rss <= 0 {
		t.Fatalf("processRSS = %d, %v; want > 0", rss, err)
	}
	if n, err := processFDs(pid); err != nil || n < 3 {
		t.Fatalf("processFDs = %d, %v; want ≥ 3", n, err)
	}
}
