package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/bench/loadgen"
)

var addrField = regexp.MustCompile(`addr=(\S+)`)

// startListening runs bin and returns its process and the address of its
// 'listening addr=' line; it is killed when the benchmark ends.
func startListening(b *testing.B, bin string, args ...string) (*exec.Cmd, string) {
	b.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := addrField.FindStringSubmatch(sc.Text()); m != nil && strings.Contains(sc.Text(), "listening") {
			go io.Copy(io.Discard, stderr)
			return cmd, m[1]
		}
	}
	b.Fatalf("%s exited before listening", bin)
	return nil, ""
}

// BenchmarkProxyRelay measures the CPU a proxy spends per relayed message,
// examples/proxy against a goroutine-per-connection io.Copy proxy
// (bench/peers/copyproxy), both with one loop / GOMAXPROCS 1 in front of
// the same examples/echo, under 64 connections × 64-byte request/response
// from the Go load generator. It reports each proxy's CPU ns per message
// (utime+stime from /proc) and their ratio; run it with
//
//	go test ./bench -run '^$' -bench ProxyRelay -benchtime 1x
func BenchmarkProxyRelay(b *testing.B) {
	dir := b.TempDir()
	for _, p := range [][2]string{{"echo", "./examples/echo"}, {"proxy", "./examples/proxy"}, {"copyproxy", "./bench/peers/copyproxy"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, p[0]), p[1])
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", p[1], err, out)
		}
	}
	_, echoAddr := startListening(b, filepath.Join(dir, "echo"), "-addr", "127.0.0.1:0", "-loops", "1")
	perMsg := map[string]float64{}
	for range b.N {
		for _, name := range []string{"mustaine", "iocopy"} {
			var cmd *exec.Cmd
			var addr string
			if name == "mustaine" {
				cmd, addr = startListening(b, filepath.Join(dir, "proxy"), "-listen", "127.0.0.1:0", "-backend", echoAddr, "-loops", "1")
			} else {
				cmd, addr = startListening(b, filepath.Join(dir, "copyproxy"), "-addr", "127.0.0.1:0", "-backend", echoAddr, "-loops", "1")
			}
			cfg := loadgen.Config{Addr: addr, Conns: 64, Size: 64, Pipeline: 1, Duration: 3 * time.Second}
			before, err := processCPU(cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			res, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			after, err := processCPU(cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			ns := float64(after-before) / float64(res.Messages)
			perMsg[name] = ns
			b.Logf("%s: %d messages in %v (%.0f msg/s), proxy CPU %v, %.0f ns/message", name, res.Messages, res.Elapsed, res.MsgsPerSec(), after-before, ns)
			cmd.Process.Kill()
		}
	}
	b.ReportMetric(perMsg["mustaine"], "mustaine-cpu-ns/msg")
	b.ReportMetric(perMsg["iocopy"], "iocopy-cpu-ns/msg")
	b.ReportMetric(perMsg["mustaine"]/perMsg["iocopy"], "cpu-ratio")
}
