package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a server gets to exit after SIGTERM before SIGKILL.
const stopGrace = 3 * time.Second

// env is what every measurement shares.
type env struct {
	o      *options
	self   string // this executable, for the loadgen and tlsload subcommands
	script string // the wrk pipelining script
	cert   tlsFiles
	client *tls.Config // the Go TLS clients' config (probe, idle-https)
}

// harnessMain runs the whole measurement and returns the exit status.
func harnessMain(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}
	if runtime.GOOS != "linux" {
		fmt.Fprintln(stderr, "bench: the harness needs Linux (/proc, taskset); the servers and loadgen build anywhere")
		return exitUsage
	}
	loads := o.selectedLoads()
	targets := o.selectedTargets(loads)
	configs := o.runConfigs()
	if err := checkTools(o, loads); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}
	nofile, err := raiseNoFile()
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}
	if slices.ContainsFunc(loads, func(l load) bool { return l.Idle }) && nofile < uint64(o.IdleConns)+1024 {
		fmt.Fprintf(stderr, "bench: RLIMIT_NOFILE hard limit %d is too low for -idle-conns %d: raise it (ulimit -Hn, /etc/security/limits.conf) or lower -idle-conns\n", nofile, o.IdleConns)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root, err := moduleRoot(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}
	tmp, err := os.MkdirTemp("", "mustaine-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}
	defer os.RemoveAll(tmp)
	e := &env{o: o}
	if e.script, err = writePipelineScript(tmp); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}
	if e.self, err = os.Executable(); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}
	if e.cert, err = writeTLSCert(tmp); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}
	if e.client, err = benchClientTLS(o.KeyShare); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}

	fmt.Fprintf(stderr, "bench: building %d servers in %s\n", len(targets), tmp)
	bins := buildTargets(ctx, root, tmp, targets, stderr)
	for _, t := range targets {
		if t.Backend != "" && t.Backend != defaultBackend && bins[t.binary()].Path != "" && !bins[t.binary()].Backend {
			fmt.Fprintf(stderr, "bench: %s (%s) has no -backend flag yet: %s skipped; %s runs on its default, %s\n",
				t.binary(), t.Pkg, t.label(), t.Name, defaultBackend)
		}
	}
	prog := newProgress(o, configs, loads, targets, bins, stderr)
	fmt.Fprintf(stderr, "bench: %d rounds × %d tables, %d runs, about %v\n", o.Rounds, len(configs), prog.total,
		prog.left.Round(time.Second))

	res := results{}
	failed := false
	for _, t := range targets {
		b := bins[t.binary()]
		for _, cfg := range configs {
			for _, l := range loads {
				if !l.appliesTo(t) {
					continue
				}
				c := res.at(cellKey{cfg.Name, l.Name, t.label()})
				c.Missing = b.Missing
				if c.Missing == "" && b.Path != "" && !runnable(t, b) {
					c.Missing = t.Pkg + " has no -backend flag yet (runs once it takes -backend " + t.Backend + ")"
				}
				if b.Err != nil {
					c.Failures = append(c.Failures, b.Err.Error())
					failed = true
				}
			}
		}
	}
measure:
	for _, cfg := range configs {
		for round := range o.Rounds {
			for li, l := range loads {
				for _, t := range rotate(targetsFor(targets, l), round+li) {
					b := bins[t.binary()]
					if b.Path == "" || !runnable(t, b) {
						continue
					}
					if ctx.Err() != nil {
						break measure
					}
					label := fmt.Sprintf("[%s %d/%d] %s %s", cfg.Name, round+1, o.Rounds, l.Name, t.label())
					prog.start(label)
					s, err := e.measure(ctx, cfg, l, t, b)
					prog.done(l)
					c := res.at(cellKey{cfg.Name, l.Name, t.label()})
					if err != nil {
						if ctx.Err() != nil {
							break measure
						}
						failed = true
						c.Failures = append(c.Failures, err.Error())
						fmt.Fprintf(stderr, "%s: FAILED: %v\n", label, err)
						continue
					}
					s.Round = round + 1
					c.Samples = append(c.Samples, s)
					fmt.Fprintf(stderr, "%s: %s\n", label, describe(l, s))
				}
			}
		}
	}
	interrupted := ctx.Err() != nil
	header := fmt.Sprintf("Measured %s on %s/%s with %d CPUs (%s), %d rounds of %v (warm-up %v).",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(),
		runtime.Version(), o.Rounds, o.Duration, o.Warmup)
	if interrupted {
		header += " **Interrupted: partial results.**"
	}
	spec := tableSpec{Configs: configs, Loads: loads, Targets: targets, Header: header}
	md := renderMarkdown(spec, res)
	fmt.Fprint(stdout, md)
	if err := os.WriteFile(o.Out, []byte(md), 0o644); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "bench: tables written to %s\n", o.Out)
	if o.Charts {
		files, err := writeCharts(filepath.Dir(o.Out), spec, res)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return exitFailure
		}
		if len(files) > 0 {
			fmt.Fprintf(stderr, "bench: charts written to %s\n", strings.Join(files, ", "))
		}
	}
	if failed || interrupted {
		return exitFailure
	}
	return exitOK
}

// checkTools fails early, with the line that installs it, when a tool the
// selected loads need is missing.
func checkTools(o *options, loads []load) error {
	if slices.ContainsFunc(loads, func(l load) bool { return l.WrkDepth > 0 }) {
		if _, err := exec.LookPath("wrk"); err != nil {
			return fmt.Errorf("wrk is not installed; install it with\n\n    %s\n\nor leave the HTTP loads out: -loads echo64,echo4k,idle-http,idle-echo", wrkInstall)
		}
	}
	if slices.Contains(o.Configs, "pinned") {
		if _, err := exec.LookPath("taskset"); err != nil {
			return errors.New("taskset is not installed; install it with\n\n    sudo apt-get install -y util-linux\n\nor use -configs unpinned")
		}
		if n := runtime.NumCPU(); o.ServerCPU >= n || o.LoadCPU >= n {
			return fmt.Errorf("-server-cpu %d / -load-cpu %d: this machine has %d CPUs", o.ServerCPU, o.LoadCPU, n)
		}
	}
	return nil
}

// targetsFor returns the targets load l applies to.
func targetsFor(targets []target, l load) []target {
	var out []target
	for _, t := range targets {
		if l.appliesTo(t) {
			out = append(out, t)
		}
	}
	return out
}

// rotate returns ts starting at index k mod len(ts), so each target takes
// each position in turn across rounds and none always runs first (on a
// cold cache) or right after the same neighbour.
func rotate[T any](ts []T, k int) []T {
	if len(ts) == 0 {
		return nil
	}
	k %= len(ts)
	return append(slices.Clone(ts[k:]), ts[:k]...)
}

// runnable reports whether target t can run from binary b: on its
// default backend always, on another one only if b takes -backend.
func runnable(t target, b built) bool {
	return t.Backend == "" || t.Backend == defaultBackend || b.Backend
}

// estimate is the wall time one run of load l should take.
func estimate(o *options, l load) time.Duration {
	switch {
	case l.Idle && l.TLS:
		return 3*time.Second + time.Duration(o.IdleConns)*300*time.Microsecond // the handshakes
	case l.Idle:
		return 3 * time.Second
	default:
		return o.Warmup + o.Duration + time.Second
	}
}

// progress reports on stderr which run starts, how many are done and
// the time left: the estimate of the runs left, scaled by how the
// estimates of the runs done compared with the time they took.
type progress struct {
	o       *options
	w       io.Writer
	total   int
	n       int
	left    time.Duration // estimated time of the runs not done yet
	estDone time.Duration // estimated time of the runs done
	began   time.Time
}

func newProgress(o *options, configs []runConfig, loads []load, targets []target, bins map[string]built, w io.Writer) *progress {
	p := &progress{o: o, w: w, began: time.Now()}
	for _, l := range loads {
		for _, t := range targetsFor(targets, l) {
			if b := bins[t.binary()]; b.Path == "" || !runnable(t, b) {
				continue
			}
			p.total += o.Rounds * len(configs)
			p.left += estimate(o, l) * time.Duration(o.Rounds*len(configs))
		}
	}
	return p
}

// eta is the time the runs left should take.
func (p *progress) eta() time.Duration {
	if p.estDone <= 0 {
		return p.left
	}
	return time.Duration(float64(p.left) * float64(time.Since(p.began)) / float64(p.estDone))
}

// start reports that the next run begins.
func (p *progress) start(label string) {
	p.n++
	fmt.Fprintf(p.w, "%s: run %d/%d, %v elapsed, about %v left\n", label, p.n, p.total,
		time.Since(p.began).Round(time.Second), p.eta().Round(time.Second))
}

// done accounts for a finished run of load l.
func (p *progress) done(l load) {
	d := estimate(p.o, l)
	p.left -= d
	p.estDone += d
}

// describe is the progress line of one measurement.
func describe(l load, s sample) string {
	switch {
	case l.Idle:
		return fmt.Sprintf("%.0f B per idle connection", s.BytesPerConn)
	case l.Handshake:
		return fmt.Sprintf("%s, %s server CPU/conn (server busy %.0f%%, load generator %.0f%%), p99 %s", fmtRate(s.Throughput, "conn/s"),
			fmtNanos(float64(s.CPUPerOp)), 100*s.Throughput*s.CPUPerOp.Seconds(), 100*s.LoadBusy, fmtNanos(float64(s.P99)))
	case l.Kind == kindHTTP:
		return fmt.Sprintf("%s, %s server CPU/req, p99 %s", fmtRate(s.Throughput, "req/s"),
			fmtNanos(float64(s.CPUPerOp)), fmtNanos(float64(s.P99)))
	default:
		return fmt.Sprintf("%s, %.1f MB/s, %s server CPU/msg, p99 %s", fmtRate(s.Throughput, "msg/s"),
			s.MBps, fmtNanos(float64(s.CPUPerOp)), fmtNanos(float64(s.P99)))
	}
}

// idleServerTimeout is the read-header and idle timeout the idle loads
// give a server that has them.
const idleServerTimeout = 30 * time.Minute

// measure runs one load against a fresh server process.
func (e *env) measure(ctx context.Context, cfg runConfig, l load, t target, b built) (sample, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return sample{}, err
	}
	var pinServer, pinLoad []string
	if cfg.Pinned {
		pinServer = []string{"taskset", "-c", strconv.Itoa(e.o.ServerCPU)}
		pinLoad = []string{"taskset", "-c", strconv.Itoa(e.o.LoadCPU)}
	}
	var extra []string
	var client *tls.Config
	if l.TLS {
		extra = []string{"-tls-cert", e.cert.Cert, "-tls-key", e.cert.Key}
		client = e.client
	}
	if t.Backend != "" && b.Backend {
		extra = append(extra, "-backend", t.Backend)
	}
	if l.Idle && b.Timeouts {
		// An idle load holds its connections for as long as dialing the
		// rest and reading the RSS take (minutes for 10,000 TLS
		// handshakes on a busy machine): the server must not close them
		// meanwhile, as its 10 s read-header timeout would.
		extra = append(extra, "-read-header-timeout", idleServerTimeout.String(), "-idle-timeout", idleServerTimeout.String())
	}
	srv, err := startServer(b.Path, pinServer, addr, cfg.Loops, extra...)
	if err != nil {
		return sample{}, err
	}
	defer srv.stop(stopGrace)
	if err := srv.waitListening(ctx, 10*time.Second); err != nil {
		return sample{}, err
	}
	if err := probe(t.Kind, addr, client); err != nil {
		return sample{}, err
	}

	var s sample
	switch {
	case l.Idle:
		s.BytesPerConn, err = measureIdle(ctx, srv, t.Kind, e.o.IdleConns, e.o.IdleTouch, client)
	case l.Handshake:
		s, err = e.measureHandshakes(ctx, srv, pinLoad)
	case l.WrkDepth > 0:
		s, err = e.measureWrk(ctx, cfg, l, srv, pinLoad)
	default:
		s, err = e.measureEcho(ctx, l, srv, pinLoad)
	}
	if err != nil {
		return sample{}, err
	}
	if srv.exited() {
		return sample{}, srv.exitError()
	}
	return s, nil
}

func (e *env) measureWrk(ctx context.Context, cfg runConfig, l load, srv *server, pin []string) (sample, error) {
	threads := 1
	if !cfg.Pinned {
		threads = runtime.NumCPU()
	}
	url := "http://" + srv.Addr + "/"
	if l.TLS {
		url = "https://" + srv.Addr + "/"
	}
	if e.o.Warmup > 0 {
		if _, err := runWrk(ctx, pin, wrkArgs(url, threads, e.o.WrkConns, e.o.Warmup, e.script, l.WrkDepth), e.o.Warmup); err != nil {
			return sample{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu0, err := processCPU(srv.Pid)
	if err != nil {
		return sample{}, err
	}
	r, err := runWrk(ctx, pin, wrkArgs(url, threads, e.o.WrkConns, e.o.Duration, e.script, l.WrkDepth), e.o.Duration)
	if err != nil {
		return sample{}, err
	}
	cpu1, err := processCPU(srv.Pid)
	if err != nil {
		return sample{}, err
	}
	switch {
	case r.Non2xxOr3xx > 0:
		return sample{}, fmt.Errorf("%d responses were not 2xx/3xx", r.Non2xxOr3xx)
	case r.Requests == 0:
		return sample{}, errors.New("wrk completed no request")
	}
	return sample{
		Throughput: r.ReqPerSec,
		CPUPerOp:   (cpu1 - cpu0) / time.Duration(r.Requests),
		P99:        r.P99,
		Errors:     r.SocketErrors,
	}, nil
}

func (e *env) measureEcho(ctx context.Context, l load, srv *server, pin []string) (sample, error) {
	el := echoLoad{Self: e.self, Pin: pin, Addr: srv.Addr, Conns: l.EchoConns, Size: l.EchoSize,
		Pipeline: e.o.EchoPipeline}
	if e.o.Warmup > 0 {
		el.Duration = e.o.Warmup
		if _, err := el.run(ctx); err != nil {
			return sample{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu0, err := processCPU(srv.Pid)
	if err != nil {
		return sample{}, err
	}
	el.Duration = e.o.Duration
	r, err := el.run(ctx)
	if err != nil {
		return sample{}, err
	}
	cpu1, err := processCPU(srv.Pid)
	if err != nil {
		return sample{}, err
	}
	if r.Messages == 0 {
		return sample{}, errors.New("no message echoed")
	}
	return sample{
		Throughput: r.MsgsPerS,
		MBps:       r.MBPerS,
		CPUPerOp:   (cpu1 - cpu0) / time.Duration(r.Messages),
		P99:        time.Duration(r.P99Ns),
	}, nil
}

func (e *env) measureHandshakes(ctx context.Context, srv *server, pin []string) (sample, error) {
	hl := handshakeLoad{Self: e.self, Pin: pin, Addr: srv.Addr, Conns: e.o.WrkConns, KeyShare: e.o.KeyShare}
	if e.o.Warmup > 0 {
		hl.Duration = e.o.Warmup
		if _, err := hl.run(ctx); err != nil {
			return sample{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu0, err := processCPU(srv.Pid)
	if err != nil {
		return sample{}, err
	}
	hl.Duration = e.o.Duration
	r, err := hl.run(ctx)
	if err != nil {
		return sample{}, err
	}
	cpu1, err := processCPU(srv.Pid)
	if err != nil {
		return sample{}, err
	}
	if r.Conns == 0 {
		return sample{}, errors.New("no TLS connection completed")
	}
	return sample{
		Throughput: r.PerSec,
		CPUPerOp:   (cpu1 - cpu0) / time.Duration(r.Conns),
		P99:        time.Duration(r.P99Ns),
		LoadBusy:   float64(r.CPUNs) / float64(r.ElapsedNs),
	}, nil
}
