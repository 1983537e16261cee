package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mustaine/mustaine/internal/exampletest"
)

// peer finds an interop peer on PATH: missing, the test fails when CI is
// set (.ci/run installs it) and is skipped otherwise.
func peer(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (.ci/run installs it)", name)
		}
		t.Skipf("%s not installed (Debian: apt-get install %s)", name, name)
	}
	return path
}

// frontSocket makes the socket HAProxy's frontend serves ("bind fd@3"): a
// port picked and held here cannot be taken by another socket between the
// moment it is chosen and the moment HAProxy binds it, as a port found free
// and closed could (loopback load churns through ephemeral ports).
func frontSocket(t *testing.T) (*os.File, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, l.Addr().String()
}

// runHAProxy runs haproxy in the foreground with cfg, its frontend bound to
// "fd@3", which is front (from frontSocket), until the test ends.
func runHAProxy(t *testing.T, bin, cfg string, front *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &exampletest.Buffer{}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{front}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill() // by PID
		<-exited
		if t.Failed() {
			t.Logf("haproxy config:\n%s\nhaproxy output:\n%s", cfg, out)
		}
	})
	// No wait: the frontend socket already listens, so connections made
	// before HAProxy accepts wait in its queue.
}

// balancer is HAProxy in HTTP mode in front of three example backends
// started with -proxy-protocol: HAProxy sends them PROXY v2 headers (its
// health checks too, as LOCAL commands), checks GET /healthz every 100 ms
// (down after 2 failures), and retries a failed request up to 3 times on
// another server. The backends run 1, 2 and 2 loops, so both loop counts
// are covered in one balancer.
type balancer struct {
	front    string
	stats    string // HAProxy's stats socket
	backends []*serverProc
}

func startBalancer(t *testing.T) *balancer {
	t.Helper()
	bin := peer(t, "haproxy")
	frontFile, front := frontSocket(t)
	b := &balancer{front: front, stats: filepath.Join(t.TempDir(), "stats.sock")}
	var servers strings.Builder
	for i, loops := range []int{1, 2, 2} {
		s := startProcess(t, nil, nil, false, "-addr", "127.0.0.1:0", "-loops", strconv.Itoa(loops), "-proxy-protocol")
		b.backends = append(b.backends, s)
		fmt.Fprintf(&servers, "    server s%d %s\n", i+1, s.addr)
	}
	cfg := fmt.Sprintf(`global
    maxconn 1000
    stats socket %s mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    retry-on all-retryable-errors

frontend fe
    bind fd@3
    default_backend be

backend be
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server send-proxy-v2 check check-send-proxy inter 100ms fall 2 rise 1
%s`, b.stats, servers.String())
	runHAProxy(t, bin, cfg, frontFile)
	b.waitStatus(t, "UP", "s1", "s2", "s3")
	return b
}

// serverStats asks HAProxy's stats socket for "show stat" and returns the
// fields (status: UP, DOWN...; stot: sessions; wretr: retries; wredis:
// redispatches) of each server of backend be, by name.
func (b *balancer) serverStats(t *testing.T) map[string]map[string]string {
	t.Helper()
	st, err := b.tryServerStats()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tryServerStats is serverStats with an error, such as the stats socket
// not there yet while HAProxy starts.
func (b *balancer) tryServerStats() (map[string]map[string]string, error) {
	c, err := net.Dial("unix", b.stats)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	head := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	col := map[string]int{}
	for i, name := range head {
		col[name] = i
	}
	out := map[string]map[string]string{}
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		if len(f) < len(head) || f[col["pxname"]] != "be" {
			continue
		}
		fields := map[string]string{}
		for _, name := range []string{"status", "stot", "wretr", "wredis"} {
			fields[name] = f[col[name]]
		}
		out[f[col["svname"]]] = fields
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no backend servers in HAProxy's show stat:\n%s", raw)
	}
	return out, nil
}

// waitStatus waits up to 20 s until HAProxy reports status for servers.
func (b *balancer) waitStatus(t *testing.T, status string, servers ...string) {
	t.Helper()
	var st map[string]map[string]string
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, err = b.tryServerStats(); err != nil {
			continue // HAProxy is starting
		}
		all := true
		for _, s := range servers {
			all = all && st[s]["status"] == status
		}
		if all {
			return
		}
	}
	t.Fatalf("servers %v not %s within 20s: %v %v", servers, status, st, err)
}

// wrkReport is what the load test reads from wrk's report.
type wrkReport struct {
	requests, non2xx, socketErrors int
	text                           string
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in `)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's report: the request count must be there; the
// socket-error and non-2xx lines are printed only when not zero.
func parseWrk(out string) (wrkReport, error) {
	r := wrkReport{text: out}
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no request count in wrk's report:\n%s", out)
	}
	r.requests, _ = strconv.Atoi(m[1])
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, n := range m[1:] {
			v, _ := strconv.Atoi(n)
			r.socketErrors += v
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(m[1])
	}
	return r, nil
}

// TestParseWrkReport pins the parser on wrk's two report shapes: a clean
// run (no error lines) and one with socket errors and non-2xx answers.
func TestParseWrkReport(t *testing.T) {
	clean := "Running 2s test @ http://127.0.0.1:1/\n  1 threads and 1 connections\n  5000 requests in 2.00s, 1.00MB read\nRequests/sec: 2500.00\n"
	bad := "  123 requests in 2.00s, 1.00MB read\n  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 7\n"
	if r, err := parseWrk(clean); err != nil || r.requests != 5000 || r.socketErrors != 0 || r.non2xx != 0 {
		t.Errorf("clean report: %+v %v", r, err)
	}
	if r, err := parseWrk(bad); err != nil || r.requests != 123 || r.socketErrors != 10 || r.non2xx != 7 {
		t.Errorf("report with errors: %+v %v", r, err)
	}
	if _, err := parseWrk("wrk: connection refused\n"); err == nil {
		t.Error("a report without a request count parsed")
	}
}

// startWrk runs wrk against url for d in the background; the returned
// function waits for it and returns its parsed report.
func startWrk(t *testing.T, url string, d time.Duration) func() wrkReport {
	t.Helper()
	bin := peer(t, "wrk")
	out := &exampletest.Buffer{}
	cmd := exec.Command(bin, "-t", "2", "-c", "16", "-d", fmt.Sprintf("%ds", int(d.Seconds())), "--timeout", "5s", url)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill() // by PID; a no-op once it exited
	})
	return func() wrkReport {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("wrk: %v\n%s", err, out)
			}
		case <-time.After(d + 30*time.Second):
			t.Fatalf("wrk did not end:\n%s", out)
		}
		r, err := parseWrk(out.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("wrk through HAProxy:\n%s", r.text)
		return r
	}
}

// checkClean fails unless wrk's report shows requests and not one
// non-2xx answer or socket error.
func checkClean(t *testing.T, r wrkReport) {
	t.Helper()
	if r.requests == 0 || r.non2xx != 0 || r.socketErrors != 0 {
		t.Fatalf("wrk: %d requests, %d non-2xx, %d socket errors; want requests and no failure", r.requests, r.non2xx, r.socketErrors)
	}
}

// TestHAProxyBalancesThreeBackendsAndTheyKnowTheClient: through HAProxy
// with send-proxy-v2, every backend's /whoami names the client's own
// socket address (the one HAProxy accepted), and round robin reaches all
// three backends (HAProxy's session counts).
func TestHAProxyBalancesThreeBackendsAndTheyKnowTheClient(t *testing.T) {
	b := startBalancer(t)
	for range 9 {
		got, client := whoamiThrough(t, b.front)
		if got != client {
			t.Fatalf("/whoami through HAProxy = %q, want the client's address %q", got, client)
		}
	}
	st := b.serverStats(t)
	for _, s := range []string{"s1", "s2", "s3"} {
		if n, _ := strconv.Atoi(st[s]["stot"]); n == 0 {
			t.Fatalf("server %s had no session: %v", s, st)
		}
	}
}

// TestHAProxyRetriesAroundABackendKilledMidLoad: SIGKILL one of the three
// backends while wrk loads HAProxy; every request it was serving or was
// about to get is retried on another (retries 3, option redispatch,
// retry-on all-retryable-errors), so wrk sees no non-2xx answer and no
// socket error, and HAProxy's health checks mark the killed one DOWN.
func TestHAProxyRetriesAroundABackendKilledMidLoad(t *testing.T) {
	b := startBalancer(t)
	wait := startWrk(t, "http://"+b.front+"/", 6*time.Second)
	time.Sleep(2 * time.Second) // mid-load: when, not whether, it passes
	victim := b.backends[1]
	if err := victim.cmd.Process.Kill(); err != nil { // SIGKILL, by PID
		t.Fatal(err)
	}
	b.waitStatus(t, "DOWN", "s2")
	r := wait()
	checkClean(t, r)
	st := b.serverStats(t)
	if st["s1"]["status"] != "UP" || st["s3"]["status"] != "UP" {
		t.Fatalf("the surviving backends are not UP: %v", st)
	}
	// The kill did hit traffic: HAProxy retried requests meant for s2
	// (otherwise this test would prove nothing).
	retried, _ := strconv.Atoi(st["s2"]["wretr"])
	redispatched, _ := strconv.Atoi(st["s2"]["wredis"])
	if retried+redispatched == 0 {
		t.Fatalf("HAProxy retried nothing for the killed backend: %v", st)
	}
	t.Logf("HAProxy for the killed backend: %d retries, %d redispatches", retried, redispatched)
}

// TestHAProxyRollingUpgradeUnderLoadLosesNothing: SIGHUP each of the three
// backends in turn, waiting each time for the new process to listen and
// the old one to exit 0, while wrk loads HAProxy: wrk's report has no
// non-2xx answer and no socket error, and HAProxy sees all three UP after.
func TestHAProxyRollingUpgradeUnderLoadLosesNothing(t *testing.T) {
	b := startBalancer(t)
	wait := startWrk(t, "http://"+b.front+"/", 10*time.Second)
	time.Sleep(time.Second)
	for i, s := range b.backends {
		oldPID, addr := s.pid, s.addr
		if err := syscall.Kill(oldPID, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitListening(t)
		if s.addr != addr || s.pid == oldPID {
			t.Fatalf("backend %d after SIGHUP: pid %d on %s, want a new pid on %s", i+1, s.pid, s.addr, addr)
		}
		if err := exampletest.WaitExit(t, s.cmd); err != nil {
			t.Fatalf("backend %d's old process: %v, want exit status 0", i+1, err)
		}
		// Kill the new one by PID when the test ends.
		pid := s.pid
		t.Cleanup(func() { s.out.StopPID(t, pid) })
	}
	r := wait()
	checkClean(t, r)
	b.waitStatus(t, "UP", "s1", "s2", "s3")
	t.Logf("HAProxy's servers after the rolling upgrade: %v", b.serverStats(t))
}
