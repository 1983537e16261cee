package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMissingWrkExitsTwoWithTheInstallLine(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no wrk, no taskset
	var out, errb bytes.Buffer
	code := harnessMain([]string{"-loads", "plaintext", "-configs", "unpinned", "-out", filepath.Join(t.TempDir(), "r.md")}, &out, &errb)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, errb.String())
	}
	if !strings.Contains(errb.String(), "wrk is not installed") || !strings.Contains(errb.String(), "apt-get install -y wrk") {
		t.Fatalf("stderr does not say how to install wrk: %q", errb.String())
	}
}

func TestFlagsOfReadsTheUsage(t *testing.T) {
	dir := t.TempDir()
	script := func(name, usage string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\nprintf '"+usage+"' >&2\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	with := script("with", `Usage of x:\n  -addr string\n    \taddress\n  -backend string\n    \tepoll or io_uring\n`)
	without := script("without", `Usage of x:\n  -addr string\n    \taddress\n  -backends string\n`)
	if !flagsOf(context.Background(), with)("backend") {
		t.Error("a usage listing -backend was not recognised")
	}
	if flagsOf(context.Background(), without)("backend") {
		t.Error("-backends was taken for -backend")
	}
}

func TestProgressScalesTheEstimateByTheTimeRunsTook(t *testing.T) {
	o := &options{Duration: 4 * time.Second, Warmup: time.Second, Rounds: 1}
	l := load{Name: "plaintext", WrkDepth: 1}
	var w bytes.Buffer
	p := &progress{o: o, w: &w, total: 2, left: 2 * estimate(o, l), began: time.Now().Add(-12 * time.Second)}
	p.start("[pinned 1/1] plaintext mustaine")
	if !strings.Contains(w.String(), "run 1/2") || !strings.Contains(w.String(), "about 12s left") {
		t.Fatalf("before any run: %q, want run 1/2 and the plain estimate (12s)", w.String())
	}
	p.done(l) // took 12s against an estimate of 6s: the rest should take twice its estimate
	w.Reset()
	p.start("[pinned 1/1] plaintext gnet")
	if !strings.Contains(w.String(), "run 2/2") || !strings.Contains(w.String(), "about 12s left") {
		t.Fatalf("after one run: %q, want run 2/2 and about 12s left", w.String())
	}
}
