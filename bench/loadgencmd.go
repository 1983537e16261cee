package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/mustaine/mustaine/bench/loadgen"
)

// echoReport is the loadgen subcommand's -json output, which the harness
// reads back from the pinned child process.
type echoReport struct {
	Messages  uint64  `json:"messages"`
	Bytes     uint64  `json:"bytes"`
	ElapsedNs int64   `json:"elapsed_ns"`
	MsgsPerS  float64 `json:"msgs_per_s"`
	MBPerS    float64 `json:"mb_per_s"`
	P50Ns     int64   `json:"p50_ns"`
	P99Ns     int64   `json:"p99_ns"`
	P999Ns    int64   `json:"p999_ns"`
	Error     string  `json:"error,omitempty"`
	Mismatch  bool    `json:"mismatch,omitempty"`
}

func newEchoReport(res loadgen.Result, err error) echoReport {
	r := echoReport{
		Messages: res.Messages, Bytes: res.Bytes, ElapsedNs: int64(res.Elapsed),
		MsgsPerS: res.MsgsPerSec(), MBPerS: res.MBPerSec(),
		P50Ns: int64(res.P50), P99Ns: int64(res.P99), P999Ns: int64(res.P999),
	}
	if err != nil {
		r.Error = err.Error()
		r.Mismatch = errors.Is(err, loadgen.ErrMismatch)
	}
	return r
}

// loadgenMain runs "bench loadgen": one echo load, printed for a person or,
// with -json, for the harness. It exits non-zero when the run failed, and
// in particular when an echo was wrong.
func loadgenMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:7000", "echo server host:port")
	fs.IntVar(&cfg.Conns, "conns", 64, "connections")
	fs.IntVar(&cfg.Size, "size", 64, "bytes per message")
	fs.IntVar(&cfg.Pipeline, "pipeline", 1, "messages in flight per connection")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench loadgen: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(newEchoReport(res, err))
	} else if err == nil {
		fmt.Fprintf(stdout, "%d conns × %d B, pipeline %d, %v: %.0f msg/s, %.2f MB/s, latency p50 %v p99 %v p99.9 %v\n",
			cfg.Conns, cfg.Size, cfg.Pipeline, res.Elapsed, res.MsgsPerSec(), res.MBPerSec(), res.P50, res.P99, res.P999)
	}
	switch {
	case errors.Is(err, loadgen.ErrConfig):
		fmt.Fprintln(stderr, "bench loadgen:", err)
		return exitUsage
	case err != nil:
		fmt.Fprintln(stderr, "bench loadgen:", err)
		return exitFailure
	}
	return exitOK
}
