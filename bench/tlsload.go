package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mustaine/mustaine/bench/loadgen"
)

// handshakeRequest is the one request of each connection of the
// https-handshake load.
const handshakeRequest = "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"

// handshakeReport is the tlsload subcommand's -json output.
type handshakeReport struct {
	Conns     uint64  `json:"conns"` // connections that completed handshake, request and response
	ElapsedNs int64   `json:"elapsed_ns"`
	PerSec    float64 `json:"per_s"`
	P99Ns     int64   `json:"p99_ns"`
	Resumed   uint64  `json:"resumed"` // handshakes that resumed a session: must be 0
	// CPUNs is the load generator's own CPU time (user+system) over the
	// run: near ElapsedNs, it was the bottleneck.
	CPUNs int64  `json:"cpu_ns"`
	Error string `json:"error,omitempty"`
}

// handshakeLoad is one run of the tlsload subcommand, as a child process
// (pinned like the echo load generator).
type handshakeLoad struct {
	Self     string
	Pin      []string
	Addr     string
	Conns    int
	KeyShare string
	Duration time.Duration
}

func (l handshakeLoad) run(ctx context.Context) (handshakeReport, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Duration+30*time.Second)
	defer cancel()
	argv := append(append([]string{}, l.Pin...), l.Self, "tlsload", "-json",
		"-addr", l.Addr, "-conns", strconv.Itoa(l.Conns), "-keyshare", l.KeyShare,
		"-duration", l.Duration.String())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = childProcAttr()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep handshakeReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return rep, fmt.Errorf("tlsload: %v: %s", cmpOr(runErr, err), tail(stderr.String(), 300))
	}
	switch {
	case rep.Error != "":
		return rep, errors.New(rep.Error)
	case runErr != nil:
		return rep, fmt.Errorf("tlsload: %w: %s", runErr, tail(stderr.String(), 300))
	}
	return rep, nil
}

// tlsloadMain runs "bench tlsload": -conns workers, each dialing a new
// TLS connection (a full handshake: no session cache), sending one GET
// with Connection: close, checking the 200 and its body, and closing,
// for -duration.
func tlsloadMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench tlsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "HTTPS server host:port")
	conns := fs.Int("conns", 64, "connections in flight")
	keyShare := fs.String("keyshare", keyShareNames[0], "key exchange: x25519mlkem768 (Go's default) or x25519")
	d := fs.Duration("duration", 10*time.Second, "measured window")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := benchClientTLS(*keyShare)
	if err != nil || *conns < 1 || *d <= 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "bench tlsload: bad flags")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep := runHandshakes(ctx, *addr, cfg, *conns, *d)
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(rep)
	} else if rep.Error == "" {
		fmt.Fprintf(stdout, "%d conns in flight, %v: %.0f handshakes+requests/s, p99 %v, load generator CPU %.0f%%\n",
			*conns, time.Duration(rep.ElapsedNs), rep.PerSec, time.Duration(rep.P99Ns), 100*float64(rep.CPUNs)/float64(rep.ElapsedNs))
	}
	if rep.Error != "" {
		fmt.Fprintln(stderr, "bench tlsload:", rep.Error)
		return exitFailure
	}
	return exitOK
}

// runHandshakes is the load itself; the first error stops it.
func runHandshakes(ctx context.Context, addr string, cfg *tls.Config, conns int, d time.Duration) handshakeReport {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		done, resumed atomic.Uint64
		mu            sync.Mutex
		firstErr      error
		hist          loadgen.Histogram
		wg            sync.WaitGroup
	)
	cpu0 := selfCPU()
	start := time.Now()
	end := start.Add(d)
	for range conns {
		wg.Go(func() {
			var h loadgen.Histogram
			defer func() { mu.Lock(); hist.Merge(&h); mu.Unlock() }()
			for ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				r, err := oneHandshakeRequest(ctx, addr, cfg)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = cmpOr(firstErr, err)
						mu.Unlock()
						cancel()
					}
					return
				}
				if t1 := time.Now(); t1.Before(end) {
					h.Record(t1.Sub(t0))
					done.Add(1)
					if r {
						resumed.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := min(time.Since(start), d)
	rep := handshakeReport{Conns: done.Load(), ElapsedNs: int64(elapsed), Resumed: resumed.Load(),
		PerSec: float64(done.Load()) / elapsed.Seconds(), P99Ns: int64(hist.Quantile(0.99)),
		CPUNs: int64(selfCPU() - cpu0)}
	switch {
	case firstErr != nil:
		rep.Error = firstErr.Error()
	case ctx.Err() != nil && time.Now().Before(end):
		rep.Error = ctx.Err().Error()
	case rep.Resumed > 0:
		rep.Error = fmt.Sprintf("%d handshakes resumed a session", rep.Resumed)
	}
	return rep
}

// oneHandshakeRequest makes one connection: handshake, GET, response
// checked, close. It reports whether the handshake resumed a session.
func oneHandshakeRequest(ctx context.Context, addr string, cfg *tls.Config) (bool, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	c := nc.(*tls.Conn)
	defer abortConn(c)
	_ = c.SetDeadline(time.Now().Add(probeTimeout))
	if err := checkTLS13(c); err != nil {
		return false, err
	}
	if _, err := io.WriteString(c, handshakeRequest); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false, fmt.Errorf("%w: %v", errProbe, err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return false, fmt.Errorf("%w: body: %v", errProbe, err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != helloBody {
		return false, fmt.Errorf("%w: %s %q", errProbe, resp.Status, body)
	}
	return c.ConnectionState().DidResume, nil
}

// selfCPU is this process's CPU time so far (user+system), 0 if unknown.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
