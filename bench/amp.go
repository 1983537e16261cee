package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The AMP load: go run ./bench amp [flags]. Calls per second and server
// CPU per call over one connection with -outstanding Sum calls in flight,
// for Mustaine's AMP server (examples/amp), Go's net/rpc (gob over TCP,
// bench/peers/netrpcsum) and Twisted's own AMP server (/usr/bin/python3,
// the same Sum command). The server is pinned to -server-cpu with one loop
// (GOMAXPROCS 1 for net/rpc; Twisted is single-threaded), the load
// generator (this binary's ampload subcommand) to -load-cpu. Server CPU is
// read from /proc/PID/stat before and after the measured run. The load
// generator checks every answer; it writes its calls a batch at a time
// (as many as came back in one read for AMP, eight for net/rpc, whose
// server writes each reply on its own), so its own CPU stays well below
// the server's. Targets are
// interleaved in each round and rotated between rounds; the table shows
// medians and ratios to net/rpc.

// ampTarget is one server of the AMP load.
type ampTarget struct {
	Name  string
	Proto string // what ampload speaks to it: amp or netrpc
	// argv returns the server's command line (before pinning): bin is
	// what was built for it, if anything.
	argv func(bin, addr string) []string
	Pkg  string // the package to build, or "" for none
}

var ampTargets = []ampTarget{
	{Name: "mustaine", Proto: "amp", Pkg: "./examples/amp",
		argv: func(bin, addr string) []string { return []string{bin, "-listen", addr, "-loops", "1"} }},
	{Name: "netrpc", Proto: "netrpc", Pkg: "./bench/peers/netrpcsum",
		argv: func(bin, addr string) []string { return []string{bin, "-addr", addr, "-loops", "1"} }},
	{Name: "twisted", Proto: "amp",
		argv: func(script, addr string) []string { return []string{"/usr/bin/python3", script, addr} }},
}

// ampBaseline is the target the ratios are computed against.
const ampBaseline = "netrpc"

// twistedAMPServer is Twisted's AMP server for the load: the Sum of
// Twisted's calculator example, on the address given as host:port.
const twistedAMPServer = `import sys
from twisted.internet import endpoints, protocol, reactor
from twisted.protocols import amp

class Sum(amp.Command):
    arguments = [(b"a", amp.Integer()), (b"b", amp.Integer())]
    response = [(b"total", amp.Integer())]

class Calculator(amp.AMP):
    @Sum.responder
    def sum(self, a, b):
        return {"total": a + b}

host, port = sys.argv[1].rsplit(":", 1)
endpoints.TCP4ServerEndpoint(reactor, int(port), interface=host).listen(protocol.Factory.forProtocol(Calculator))
reactor.run()
`

type ampSample struct {
	callsPerS  float64
	cpuPerCall float64 // server CPU, ns
	serverUse  float64 // server CPU / wall time
	loadUse    float64 // load generator CPU / wall time
}

func ampMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench amp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rf := addRoundFlags(fs)
	duration, warmup, rounds, serverCPU, loadCPU := rf.duration, rf.warmup, rf.rounds, rf.serverCPU, rf.loadCPU
	outstanding := fs.Int("outstanding", 64, "calls in flight on the connection")
	only := fs.String("targets", "mustaine,netrpc,twisted", "targets to measure, comma-separated")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	var targets []ampTarget
	for _, t := range ampTargets {
		if slices.Contains(strings.Split(*only, ","), t.Name) {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 || *rounds < 1 || *outstanding < 1 || *duration <= 0 || *warmup < 0 {
		fmt.Fprintln(stderr, "bench amp: -targets names none of mustaine,netrpc,twisted, or -rounds, -outstanding or -duration is below 1")
		return exitUsage
	}
	if slices.ContainsFunc(targets, func(t ampTarget) bool { return t.Name == "twisted" }) {
		if err := exec.Command("/usr/bin/python3", "-c", "import twisted.protocols.amp").Run(); err != nil {
			fmt.Fprintln(stderr, "bench amp: /usr/bin/python3 has no Twisted (apt-get install python3-twisted), or leave twisted out of -targets:", err)
			return exitUsage
		}
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-amp")
	if err != nil {
		fmt.Fprintln(stderr, "bench amp:", err)
		return exitFailure
	}
	defer os.RemoveAll(dir)
	self, bins, err := buildAMPTargets(ctx, dir, targets)
	if err != nil {
		fmt.Fprintln(stderr, "bench amp:", err)
		return exitFailure
	}
	samples := map[string][]ampSample{}
	for round := range *rounds {
		for _, t := range rotate(targets, round) {
			s, err := measureAMP(ctx, t, bins[t.Name], pinTo(*serverCPU), pinTo(*loadCPU), self, *outstanding, *warmup, *duration)
			if err != nil {
				fmt.Fprintf(stderr, "bench amp: %s: %v\n", t.Name, err)
				return exitFailure
			}
			fmt.Fprintf(stderr, "bench amp: round %d %-8s %9.0f calls/s %9s server CPU/call, server %3.0f%% busy, load %3.0f%%\n",
				round+1, t.Name, s.callsPerS, fmtNanos(s.cpuPerCall), 100*s.serverUse, 100*s.loadUse)
			samples[t.Name] = append(samples[t.Name], s)
		}
	}
	writeAMPTable(stdout, targets, samples, fmt.Sprintf("AMP Sum, 1 connection, %d calls outstanding; server 1 loop%s; %d rounds of %v, medians",
		*outstanding, pinNote(*serverCPU, *loadCPU), *rounds, *duration))
	return exitOK
}

// roundFlags are the flags the one-load subcommands (amp, udp) share: how
// long and how often each target runs, and where server and load run.
type roundFlags struct {
	duration, warmup           *time.Duration
	rounds, serverCPU, loadCPU *int
}

// addRoundFlags defines the roundFlags on fs.
func addRoundFlags(fs *flag.FlagSet) roundFlags {
	return roundFlags{
		duration:  fs.Duration("duration", 5*time.Second, "measured load per run"),
		warmup:    fs.Duration("warmup", time.Second, "unmeasured load before each run (0 for none)"),
		rounds:    fs.Int("rounds", 3, "runs per target (the table shows medians)"),
		serverCPU: fs.Int("server-cpu", 0, "CPU the server is pinned to (-1: no pinning)"),
		loadCPU:   fs.Int("load-cpu", 1, "CPU the load generator is pinned to (-1: no pinning)"),
	}
}

// pinTo is the taskset prefix that pins a command to cpu (none for -1).
func pinTo(cpu int) []string {
	if cpu < 0 {
		return nil
	}
	return []string{"taskset", "-c", strconv.Itoa(cpu)}
}

// buildAMPTargets builds the Go targets into dir and writes Twisted's
// script there, returning this executable (the load generator) and what
// each target's argv takes as bin.
func buildAMPTargets(ctx context.Context, dir string, targets []ampTarget) (self string, bins map[string]string, err error) {
	if self, err = os.Executable(); err != nil {
		return "", nil, err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", nil, err
	}
	bins = map[string]string{}
	for _, t := range targets {
		bin := filepath.Join(dir, t.Name+"-amp")
		if t.Pkg == "" {
			bin += ".py"
			if err := os.WriteFile(bin, []byte(twistedAMPServer), 0o644); err != nil {
				return "", nil, err
			}
		} else {
			if err := goBuild(ctx, root, t.Pkg, bin); err != nil {
				return "", nil, err
			}
		}
		bins[t.Name] = bin
	}
	return self, bins, nil
}

// measureAMP runs the load against a fresh server process.
func measureAMP(ctx context.Context, t ampTarget, bin string, pinServer, pinLoad []string, self string,
	outstanding int, warmup, duration time.Duration) (ampSample, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return ampSample{}, err
	}
	srv, err := startCommand(append(append([]string{}, pinServer...), t.argv(bin, addr)...), addr)
	if err != nil {
		return ampSample{}, err
	}
	defer srv.stop(stopGrace)
	if err := srv.waitListening(ctx, 30*time.Second); err != nil {
		return ampSample{}, err
	}
	load := func(d time.Duration) (ampLoadResult, error) {
		return runLoadJSON[ampLoadResult](ctx, "ampload", append(append([]string{}, pinLoad...), self, "ampload", "-addr", addr, "-proto", t.Proto,
			"-outstanding", strconv.Itoa(outstanding), "-duration", d.String()))
	}
	r, cpu, err := serverCPUDuring(srv, load, warmup, duration)
	if err != nil {
		return ampSample{}, err
	}
	if srv.exited() {
		return ampSample{}, srv.exitError()
	}
	if r.Calls == 0 {
		return ampSample{}, errors.New("no call answered")
	}
	return ampSample{
		callsPerS:  float64(r.Calls) / r.Seconds,
		cpuPerCall: float64(cpu) / float64(r.Calls),
		serverUse:  cpu.Seconds() / r.Seconds,
		loadUse:    r.CPU.Seconds() / r.Seconds,
	}, nil
}

// writeAMPTable prints the medians and the ratios to ampBaseline.
func writeAMPTable(w io.Writer, targets []ampTarget, samples map[string][]ampSample, title string) {
	med := func(name string, f func(ampSample) float64) float64 {
		var xs []float64
		for _, s := range samples[name] {
			xs = append(xs, f(s))
		}
		return median(xs)
	}
	rate := func(s ampSample) float64 { return s.callsPerS }
	cpu := func(s ampSample) float64 { return s.cpuPerCall }
	baseRate, baseCPU := med(ampBaseline, rate), med(ampBaseline, cpu)
	fmt.Fprintf(w, "%s\n\n", title)
	fmt.Fprintln(w, "| server | calls/s | vs net/rpc | server CPU/call | vs net/rpc | server busy | load generator busy |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, t := range targets {
		r, c := med(t.Name, rate), med(t.Name, cpu)
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %.0f%% | %.0f%% |\n", t.Name, r, ratioOf(r, baseRate), fmtNanos(c), ratioOf(c, baseCPU),
			100*med(t.Name, func(s ampSample) float64 { return s.serverUse }), 100*med(t.Name, func(s ampSample) float64 { return s.loadUse }))
	}
}

// runLoadJSON runs the load generator name (this binary's subcommand,
// argv, pinned by its prefix) and decodes the JSON result it prints.
func runLoadJSON[T any](ctx context.Context, name string, argv []string) (T, error) {
	var r T
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Stderr = os.Stderr
	b, err := c.Output()
	if err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	return r, json.Unmarshal(b, &r)
}

// serverCPUDuring runs load for warmup (unless it is 0), then for
// duration, and returns the second run's result with the CPU time srv
// used meanwhile, read from /proc.
func serverCPUDuring[T any](srv *server, load func(time.Duration) (T, error), warmup, duration time.Duration) (T, time.Duration, error) {
	var zero T
	if warmup > 0 {
		if _, err := load(warmup); err != nil {
			return zero, 0, err
		}
	}
	cpu0, err := processCPU(srv.Pid)
	if err != nil {
		return zero, 0, err
	}
	r, err := load(duration)
	if err != nil {
		return zero, 0, err
	}
	cpu1, err := processCPU(srv.Pid)
	if err != nil {
		return zero, 0, err
	}
	return r, cpu1 - cpu0, nil
}
