package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// The UDP echo load: go run ./bench udp [flags]. Each target is a UDP echo
// server (Mustaine's examples/echo -udp, gnet's UDP echo, a goroutine
// net.UDPConn echo); the load generator (this binary's udpload subcommand,
// pinned to its own CPU) keeps -window datagrams of -size bytes outstanding
// on each of -clients sockets for -duration, resending a window that got
// no echo within 200 ms (UDP may drop datagrams when a receiver falls
// behind). Targets are interleaved in each round, rotated between rounds,
// and the table shows medians and ratios to gnet.

// udpTarget is one UDP echo server.
type udpTarget struct {
	Name  string
	Pkg   string
	Extra []string // flags besides -addr and -loops
}

var udpTargets = []udpTarget{
	{Name: "mustaine", Pkg: "./examples/echo", Extra: []string{"-udp"}},
	{Name: "gnet", Pkg: "./bench/peers/gnetudpecho"},
	{Name: "netudp", Pkg: "./bench/peers/netudpecho"},
}

// udpResult is what one udpload run reports (as JSON on stdout).
type udpResult struct {
	Messages uint64  // echoes received while measuring
	Seconds  float64 // how long it measured
	Resent   uint64  // windows resent after 200 ms without an echo
}

type udpSample struct {
	msgsPerS  float64
	cpuPerMsg time.Duration
	resent    uint64
}

func udpMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench udp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rf := addRoundFlags(fs)
	duration, warmup, rounds, serverCPU, loadCPU := rf.duration, rf.warmup, rf.rounds, rf.serverCPU, rf.loadCPU
	clients := fs.Int("clients", 64, "client sockets")
	size := fs.Int("size", 64, "datagram size in bytes")
	window := fs.Int("window", 8, "datagrams outstanding per client socket")
	gen := fs.String("gen", "reactor", "load generator engine: reactor or net (see udpload -h)")
	loops := fs.Int("loops", 1, "server loops (GOMAXPROCS for the net.UDPConn echo)")
	only := fs.String("targets", "mustaine,gnet,netudp", "targets to measure")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	ctx := context.Background()
	root, err := moduleRoot(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "bench udp:", err)
		return exitUsage
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "bench udp:", err)
		return exitUsage
	}
	dir, err := os.MkdirTemp("", "bench-udp")
	if err != nil {
		fmt.Fprintln(stderr, "bench udp:", err)
		return exitFailure
	}
	defer os.RemoveAll(dir)
	var targets []udpTarget
	for _, t := range udpTargets {
		if strings.Contains(","+*only+",", ","+t.Name+",") {
			targets = append(targets, t)
		}
	}
	bins := map[string]string{}
	for _, t := range targets {
		bin := filepath.Join(dir, t.Name+"-udp")
		if err := goBuild(ctx, root, t.Pkg, bin); err != nil {
			fmt.Fprintln(stderr, "bench udp:", err)
			return exitFailure
		}
		bins[t.Name] = bin
	}
	samples := map[string][]udpSample{}
	for round := range *rounds {
		for _, t := range rotate(targets, round) {
			s, err := measureUDP(ctx, bins[t.Name], t, pinTo(*serverCPU), pinTo(*loadCPU), self, *gen, *loops,
				*clients, *size, *window, *warmup, *duration)
			if err != nil {
				fmt.Fprintf(stderr, "bench udp: %s: %v\n", t.Name, err)
				return exitFailure
			}
			fmt.Fprintf(stderr, "bench udp: round %d %-8s %10.0f msgs/s %8v CPU/msg (%d windows resent)\n",
				round+1, t.Name, s.msgsPerS, s.cpuPerMsg, s.resent)
			samples[t.Name] = append(samples[t.Name], s)
		}
	}
	fmt.Fprintf(stdout, "UDP echo, %d client sockets × %d B, %d outstanding each (%s load generator); server %d loop(s)%s; %d rounds of %v, medians\n\n",
		*clients, *size, *window, *gen, *loops, pinNote(*serverCPU, *loadCPU), *rounds, *duration)
	fmt.Fprintln(stdout, "| server | msgs/s | vs gnet | server CPU/msg | vs gnet |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	med := func(name string) (float64, float64) {
		var r, c []float64
		for _, s := range samples[name] {
			r = append(r, s.msgsPerS)
			c = append(c, float64(s.cpuPerMsg))
		}
		return median(r), median(c)
	}
	gr, gc := med("gnet")
	for _, t := range targets {
		r, c := med(t.Name)
		fmt.Fprintf(stdout, "| %s | %.0f | %s | %s | %s |\n", t.Name, r, ratioOf(r, gr), fmtNanos(c), ratioOf(c, gc))
	}
	return exitOK
}

func pinNote(server, load int) string {
	if server < 0 || load < 0 {
		return ", unpinned"
	}
	return fmt.Sprintf(" pinned to CPU %d, load on CPU %d", server, load)
}

func ratioOf(v, base float64) string {
	if base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v/base)
}

// measureUDP runs one load against a fresh server process.
func measureUDP(ctx context.Context, bin string, t udpTarget, pinServer, pinLoad []string, self, gen string,
	loops, clients, size, window int, warmup, duration time.Duration) (udpSample, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return udpSample{}, err
	}
	argv := append(append(append([]string{}, pinServer...), bin, "-addr", addr, "-loops", strconv.Itoa(loops)), t.Extra...)
	cmd := exec.Command(argv[0], argv[1:]...)
	out := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return udpSample{}, err
	}
	srv := &server{cmd: cmd, Pid: cmd.Process.Pid, Addr: addr, done: make(chan struct{}), out: out}
	go func() {
		srv.err = cmd.Wait()
		close(srv.done)
	}()
	defer srv.stop(stopGrace)
	if err := udpReady(addr, 10*time.Second); err != nil {
		if srv.exited() {
			return udpSample{}, srv.exitError()
		}
		return udpSample{}, err
	}
	load := func(d time.Duration) (udpResult, error) {
		return runLoadJSON[udpResult](ctx, "udpload", append(append([]string{}, pinLoad...), self, "udpload", "-addr", addr,
			"-clients", strconv.Itoa(clients), "-size", strconv.Itoa(size),
			"-window", strconv.Itoa(window), "-duration", d.String(), "-gen", gen))
	}
	r, cpu, err := serverCPUDuring(srv, load, warmup, duration)
	if err != nil {
		return udpSample{}, err
	}
	if srv.exited() {
		return udpSample{}, srv.exitError()
	}
	if r.Messages == 0 {
		return udpSample{}, errors.New("no datagram echoed")
	}
	return udpSample{
		msgsPerS:  float64(r.Messages) / r.Seconds,
		cpuPerMsg: cpu / time.Duration(r.Messages),
		resent:    r.Resent,
	}, nil
}

// udpReady waits until addr echoes a datagram.
func udpReady(addr string, timeout time.Duration) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 16)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		c.Write([]byte("ready?"))
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == "ready?" {
			return nil
		}
	}
	return fmt.Errorf("no UDP echo from %s after %v", addr, timeout)
}

// udpLoadMain is the load generator: go run ./bench udpload -addr A.
func udpLoadMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench udpload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7000", "UDP echo server")
	clients := fs.Int("clients", 64, "client sockets")
	size := fs.Int("size", 64, "datagram size")
	window := fs.Int("window", 8, "datagrams outstanding per socket")
	duration := fs.Duration("duration", 5*time.Second, "how long to load")
	gen := fs.String("gen", "reactor", "client engine: reactor (Mustaine ports, one loop: recvmmsg/sendmmsg) or net (a goroutine per net.UDPConn)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	ua, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "udpload:", err)
		return exitUsage
	}
	if *gen == "reactor" {
		r, err := reactorLoad(ua, *clients, *size, *window, *duration)
		if err != nil {
			fmt.Fprintln(stderr, "udpload:", err)
			return exitFailure
		}
		json.NewEncoder(stdout).Encode(r)
		return exitOK
	}
	conns := make([]*net.UDPConn, *clients)
	for i := range conns {
		if conns[i], err = net.DialUDP("udp", nil, ua); err != nil {
			fmt.Fprintln(stderr, "udpload:", err)
			return exitFailure
		}
	}
	var stop atomic.Bool
	var total, resent atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, *size)
			buf := make([]byte, 2048)
			var n, re uint64
			for range *window {
				c.Write(msg)
			}
			for !stop.Load() {
				c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Read(buf); err != nil {
					if stop.Load() {
						break
					}
					re++
					for range *window {
						c.Write(msg)
					}
					continue
				}
				n++
				c.Write(msg)
			}
			total.Add(n)
			resent.Add(re)
		}()
	}
	time.Sleep(*duration)
	stop.Store(true)
	elapsed := time.Since(start)
	for _, c := range conns {
		c.SetReadDeadline(time.Now())
	}
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	json.NewEncoder(stdout).Encode(udpResult{Messages: total.Load(), Seconds: elapsed.Seconds(), Resent: resent.Load()})
	return exitOK
}

// loadPort is one client socket of the reactor load generator: it keeps
// window datagrams outstanding on its connected port and resends a window
// when 200 ms brought no echo.
type loadPort struct {
	protocol.DatagramBase
	peer    net.Addr
	msg     []byte
	window  int
	stop    *atomic.Bool
	n       atomic.Uint64
	resent  atomic.Uint64
	lastN   uint64
	checkFn func()
}

func (p *loadPort) StartProtocol(t protocol.DatagramTransport) {
	p.DatagramBase.StartProtocol(t)
	if err := t.Connect(p.peer); err != nil {
		panic(err)
	}
	p.fill()
	p.checkFn = func() {
		if p.stop.Load() {
			return
		}
		if n := p.n.Load(); n == p.lastN {
			p.resent.Add(1)
			p.fill()
		} else {
			p.lastN = n
		}
		t.Loop().CallLater(200*time.Millisecond, p.checkFn)
	}
	t.Loop().CallLater(200*time.Millisecond, p.checkFn)
}

func (p *loadPort) fill() {
	for range p.window {
		p.Transport.Write(p.msg)
	}
}

func (p *loadPort) DatagramReceived(data []byte, addr net.Addr) {
	if p.stop.Load() {
		return
	}
	p.n.Add(1)
	p.Transport.Write(p.msg)
}

// reactorLoad runs the load with Mustaine's own UDP ports on one loop.
func reactorLoad(server *net.UDPAddr, clients, size, window int, d time.Duration) (udpResult, error) {
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(os.Stderr).Level(zerolog.WarnLevel)))
	if err != nil {
		return udpResult{}, err
	}
	var stop atomic.Bool
	ports := make([]*loadPort, clients)
	for i := range ports {
		ports[i] = &loadPort{peer: server, msg: make([]byte, size), window: window, stop: &stop}
		if _, err := r.ListenUDP("127.0.0.1:0", ports[i]); err != nil {
			return udpResult{}, err
		}
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- r.Run() }()
	time.Sleep(d)
	stop.Store(true)
	elapsed := time.Since(start)
	var res udpResult
	for _, p := range ports {
		res.Messages += p.n.Load()
		res.Resent += p.resent.Load()
	}
	res.Seconds = elapsed.Seconds()
	r.Stop()
	return res, <-done
}
