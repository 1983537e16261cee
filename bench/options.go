package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errUsage reports flags the harness cannot run with.
var errUsage = errors.New("usage")

// options are the harness's flags.
type options struct {
	Loads         []string
	Targets       []string
	Backends      []string // Mustaine's reactor backends: backendNames
	Configs       []string
	Duration      time.Duration
	Warmup        time.Duration
	Rounds        int
	PinnedLoops   int
	UnpinnedLoops int
	ServerCPU     int
	LoadCPU       int
	WrkConns      int
	Depth         int
	EchoPipeline  int
	IdleConns     int
	IdleTouch     bool
	KeyShare      string // the Go TLS clients' key exchange: keyShareNames
	Out           string
	Charts        bool // write the SVG charts beside Out
}

// runConfig is one table: where the server and the load run.
type runConfig struct {
	Name   string
	Title  string
	Pinned bool
	Loops  int
}

var (
	loadNames = []string{"plaintext", "pipelined", "echo64", "echo4k", "idle-http", "idle-echo", "https", "https-handshake", "idle-https"}
	// keyShareNames are the -tls-keyshare values: Go's default client
	// (an X25519MLKEM768 and an X25519 key share, the hybrid chosen by
	// both servers) or X25519 alone (what wrk's OpenSSL 3.0 sends).
	keyShareNames = []string{"x25519mlkem768", "x25519"}
	targetNames   = []string{"mustaine", "gnet", "fasthttp", "nethttp", "netecho", "canned"}
	// defaultTargets is targetNames without canned, an experiment rather
	// than a server anyone would run (see bench/peers/cannedhttp).
	defaultTargets = targetNames[:len(targetNames)-1]
	configNames    = []string{"pinned", "unpinned"}
	// backendNames are the reactor backends Mustaine's targets run on
	// (the examples' -backend flag).
	backendNames = []string{"epoll", "io_uring"}
)

// parseOptions reads the harness flags; -h prints the usage to stderr.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loads := fs.String("loads", strings.Join(loadNames, ","), "loads to run, comma-separated: "+strings.Join(loadNames, ","))
	targets := fs.String("targets", strings.Join(defaultTargets, ","), "servers to run, comma-separated: "+strings.Join(targetNames, ",")+
		" (canned: gnet's canned HTTP responder on Mustaine's reactor, the reactor's own cost without HTTP parsing)")
	backends := fs.String("backends", strings.Join(backendNames, ","), "reactor backends Mustaine's servers run on (their -backend flag), comma-separated: "+strings.Join(backendNames, ","))
	configs := fs.String("configs", strings.Join(configNames, ","), "tables to produce: pinned (server on -server-cpu with -pinned-loops, load on -load-cpu), unpinned (-unpinned-loops, no taskset)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per run (wrk rounds up to whole seconds)")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load before each measured run (0 for none)")
	fs.IntVar(&o.Rounds, "rounds", 5, "rounds; targets are interleaved within each round")
	fs.IntVar(&o.PinnedLoops, "pinned-loops", 1, "server loops (GOMAXPROCS for Go-runtime peers) in the pinned table")
	fs.IntVar(&o.UnpinnedLoops, "unpinned-loops", 2, "server loops in the unpinned table")
	fs.IntVar(&o.ServerCPU, "server-cpu", 0, "CPU the server is pinned to")
	fs.IntVar(&o.LoadCPU, "load-cpu", 1, "CPU wrk and the echo load generator are pinned to")
	fs.IntVar(&o.WrkConns, "wrk-conns", 64, "wrk connections (-c)")
	fs.IntVar(&o.Depth, "depth", 16, "requests per connection pipelined by the pipelined load")
	fs.IntVar(&o.EchoPipeline, "echo-pipeline", 1, "messages in flight per echo connection")
	fs.IntVar(&o.IdleConns, "idle-conns", 10000, "connections held by the idle loads")
	fs.BoolVar(&o.IdleTouch, "idle-touch", false, "make one exchange on each idle connection before measuring")
	fs.StringVar(&o.KeyShare, "tls-keyshare", keyShareNames[0], "key exchange of the Go TLS clients (https-handshake, idle-https): "+strings.Join(keyShareNames, ", "))
	fs.StringVar(&o.Out, "out", "bench-results.md", "markdown file the tables are written to (also printed)")
	fs.BoolVar(&o.Charts, "charts", true, "also draw the results as SVG charts beside -out: results-cpu.svg, results-rate.svg, results-memory.svg")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var err error
	if o.Loads, err = pickList("-loads", *loads, loadNames); err != nil {
		return nil, err
	}
	if o.Targets, err = pickList("-targets", *targets, targetNames); err != nil {
		return nil, err
	}
	if o.Configs, err = pickList("-configs", *configs, configNames); err != nil {
		return nil, err
	}
	if o.Backends, err = pickList("-backends", *backends, backendNames); err != nil {
		return nil, err
	}
	return o, o.validate()
}

// pickList splits a comma-separated flag value and checks every name.
func pickList(flagName, v string, known []string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("%w: %s: unknown %q (known: %s)", errUsage, flagName, name, strings.Join(known, ","))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", errUsage, flagName)
	}
	return out, nil
}

func (o *options) validate() error {
	switch {
	case o.Duration < time.Second:
		return fmt.Errorf("%w: -duration %v < 1s (wrk's resolution)", errUsage, o.Duration)
	case o.Warmup < 0:
		return fmt.Errorf("%w: -warmup %v < 0", errUsage, o.Warmup)
	case o.Rounds < 1:
		return fmt.Errorf("%w: -rounds %d < 1", errUsage, o.Rounds)
	case o.PinnedLoops < 1 || o.UnpinnedLoops < 1:
		return fmt.Errorf("%w: loops must be ≥ 1", errUsage)
	case o.ServerCPU < 0 || o.LoadCPU < 0 || o.ServerCPU == o.LoadCPU:
		return fmt.Errorf("%w: -server-cpu %d and -load-cpu %d must be distinct CPUs", errUsage, o.ServerCPU, o.LoadCPU)
	case o.WrkConns < 2:
		return fmt.Errorf("%w: -wrk-conns %d < 2", errUsage, o.WrkConns)
	case o.Depth < 2:
		return fmt.Errorf("%w: -depth %d < 2 (plaintext is the unpipelined load)", errUsage, o.Depth)
	case o.EchoPipeline < 1:
		return fmt.Errorf("%w: -echo-pipeline %d < 1", errUsage, o.EchoPipeline)
	case o.IdleConns < 1:
		return fmt.Errorf("%w: -idle-conns %d < 1", errUsage, o.IdleConns)
	case !slices.Contains(keyShareNames, o.KeyShare):
		return fmt.Errorf("%w: -tls-keyshare %q (known: %s)", errUsage, o.KeyShare, strings.Join(keyShareNames, ","))
	case o.Out == "":
		return fmt.Errorf("%w: -out is empty", errUsage)
	}
	return nil
}

// runConfigs returns the selected tables in flag order.
func (o *options) runConfigs() []runConfig {
	var out []runConfig
	for _, name := range o.Configs {
		switch name {
		case "pinned":
			out = append(out, runConfig{Name: name, Pinned: true, Loops: o.PinnedLoops,
				Title: fmt.Sprintf("Server pinned to CPU %d with %d loop(s), load generator pinned to CPU %d",
					o.ServerCPU, o.PinnedLoops, o.LoadCPU)})
		case "unpinned":
			out = append(out, runConfig{Name: name, Loops: o.UnpinnedLoops,
				Title: fmt.Sprintf("Server with %d loop(s), nothing pinned", o.UnpinnedLoops)})
		}
	}
	return out
}

// selectedLoads returns the selected loads in table order.
func (o *options) selectedLoads() []load {
	var out []load
	for _, l := range allLoads(o) {
		if slices.Contains(o.Loads, l.Name) {
			out = append(out, l)
		}
	}
	return out
}

// selectedTargets returns the selected targets that some selected load
// applies to, in table order; each of Mustaine's own is repeated once per
// selected backend.
func (o *options) selectedTargets(loads []load) []target {
	var out []target
	for _, t := range allTargets {
		if !slices.Contains(o.Targets, t.Name) {
			continue
		}
		if !slices.ContainsFunc(loads, func(l load) bool { return l.appliesTo(t) }) {
			continue
		}
		if !t.Ours || t.Backend != "" {
			out = append(out, t)
			continue
		}
		for _, b := range o.Backends {
			tb := t
			tb.Backend = b
			out = append(out, tb)
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
