package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// listenEcho serves handle on a loopback port until the test ends.
func listenEcho(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

func runLoadgenCmd(t *testing.T, args ...string) (int, echoReport, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := loadgenMain(args, &stdout, &stderr)
	var rep echoReport
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("-json output %q: %v", stdout.String(), err)
		}
	}
	return code, rep, stderr.String()
}

func TestLoadgenCommandReportsJSONAndExitsZeroOnFaithfulEcho(t *testing.T) {
	addr := listenEcho(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	code, rep, stderr := runLoadgenCmd(t, "-json", "-addr", addr, "-conns", "2", "-size", "64", "-duration", "100ms")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if rep.Messages == 0 || rep.Bytes != 64*rep.Messages || rep.Error != "" || rep.Mismatch {
		t.Fatalf("report = %+v", rep)
	}
}

func TestLoadgenCommandExitsNonZeroOnWrongEcho(t *testing.T) {
	addr := listenEcho(t, func(c net.Conn) {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			buf[10]++
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	code, rep, _ := runLoadgenCmd(t, "-json", "-addr", addr, "-conns", "1", "-size", "64", "-duration", "1s")
	if code != exitFailure || !rep.Mismatch || rep.Error == "" {
		t.Fatalf("exit %d, report %+v; want exit %d with mismatch", code, rep, exitFailure)
	}
}

func TestLoadgenCommandRejectsBadFlags(t *testing.T) {
	if code, _, _ := runLoadgenCmd(t, "-conns", "0", "-addr", "127.0.0.1:1"); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := runLoadgenCmd(t, "extra"); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
}
