package main

import (
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/internal/exampletest"
)

// listeningLine is the example's "listening" log line: its address and pid.
var listeningLine = regexp.MustCompile(`http server listening addr=http://(\S+)/ .*pid=(\d+)`)

// serverProc is the example binary running as a process, its output read to
// the end of every process writing it (its upgraded successors too).
type serverProc struct {
	bin  string // the example binary
	cmd  *exec.Cmd
	out  *exampletest.Lines
	addr string
	pid  int
	next int // index of the output line after the last one waited for
}

// startProcess runs the example binary with args and waits for it to
// listen. With viaShell, /bin/sh sets LISTEN_PID to the server's own pid
// first, as systemd does for socket activation.
func startProcess(t *testing.T, env []string, extra []*os.File, viaShell bool, args ...string) *serverProc {
	t.Helper()
	bin := exampleBinary(t)
	cmd := exec.Command(bin, args...)
	if viaShell {
		cmd = exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, bin}, args...)...)
	}
	cmd.Env = append(os.Environ(), env...)
	cmd.ExtraFiles = extra
	s := &serverProc{bin: bin, cmd: cmd, out: exampletest.StartLines(t, cmd)}
	t.Cleanup(func() {
		cmd.Process.Kill() // by PID; a no-op once it exited
		cmd.Wait()
	})
	s.waitListening(t)
	return s
}

// waitListening waits for the next "listening" line and records the
// address and pid it names.
func (s *serverProc) waitListening(t *testing.T) {
	t.Helper()
	m, next := s.out.Wait(t, listeningLine, s.next)
	s.addr, s.next = m[1], next
	s.pid, _ = strconv.Atoi(m[2])
}

// fetch does GET path on client and returns the status and body.
func fetch(client *nethttp.Client, url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// keepAliveClient uses one connection for all its requests.
func keepAliveClient() *nethttp.Client {
	return &nethttp.Client{Timeout: 10 * time.Second, Transport: &nethttp.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
}

// waitHealthz503 polls /healthz over client's kept-alive connection until
// it answers 503 "draining", for at most 10 s.
func waitHealthz503(t *testing.T, client *nethttp.Client, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		code, body, err := fetch(client, "http://"+addr+"/healthz")
		if err != nil {
			t.Fatalf("GET /healthz while draining: %v", err)
		}
		if code == 503 {
			if body != "draining\n" {
				t.Fatalf("503 body %q, want %q", body, "draining\n")
			}
			return
		}
		if code != 200 {
			t.Fatalf("GET /healthz: %d %q", code, body)
		}
	}
	t.Fatal("/healthz did not answer 503 within 10s of the stop")
}

// TestHealthzAnswers200ThenFailsOnceTheServerDrains: /healthz answers 200
// "ok" while the server serves; after SIGTERM, with -drain-delay keeping
// the open connection served for a while, the same connection's /healthz
// answers 503 (what takes the server out of a balancer), and the server
// still exits with status 0.
func TestHealthzAnswers200ThenFailsOnceTheServerDrains(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			s := startProcess(t, nil, nil, false, "-addr", "127.0.0.1:0", "-loops", strconv.Itoa(loops), "-drain-delay", "3s")
			client := keepAliveClient()
			defer client.CloseIdleConnections()
			code, body, err := fetch(client, "http://"+s.addr+"/healthz")
			if err != nil || code != 200 || body != "ok\n" {
				t.Fatalf("GET /healthz: %d %q %v, want 200 \"ok\\n\"", code, body, err)
			}
			syscall.Kill(s.pid, syscall.SIGTERM)
			waitHealthz503(t, client, s.addr)
			if err := exampletest.WaitExit(t, s.cmd); err != nil {
				t.Fatalf("after SIGTERM: %v, want exit status 0", err)
			}
		})
	}
}

// loadClients GET / over new connections, from a few goroutines, until
// stopped, and keep every answer that is not 200 "Hello, World!".
type loadClients struct {
	mu   sync.Mutex
	ok   int
	bad  []string
	stop chan struct{}
	wg   sync.WaitGroup
}

func startLoad(addr string) *loadClients {
	lc := &loadClients{stop: make(chan struct{})}
	for range 4 {
		lc.wg.Add(1)
		go func() {
			defer lc.wg.Done()
			tr := &nethttp.Transport{DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			client := &nethttp.Client{Transport: tr, Timeout: 10 * time.Second}
			for {
				select {
				case <-lc.stop:
					return
				default:
				}
				code, body, err := fetch(client, "http://"+addr+"/")
				lc.mu.Lock()
				if err != nil || code != 200 || body != "Hello, World!" {
					lc.bad = append(lc.bad, fmt.Sprintf("%d %q %v", code, body, err))
				} else {
					lc.ok++
				}
				lc.mu.Unlock()
			}
		}()
	}
	return lc
}

func (lc *loadClients) served() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.ok
}

// waitServed waits until n more requests than now have been answered.
func (lc *loadClients) waitServed(t *testing.T, n int) {
	t.Helper()
	want := lc.served() + n
	for deadline := time.Now().Add(30 * time.Second); lc.served() < want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests answered, want %d within 30s", lc.served(), want)
		}
	}
}

func (lc *loadClients) finish(t *testing.T) {
	t.Helper()
	close(lc.stop)
	lc.wg.Wait()
	for _, b := range lc.bad[:min(10, len(lc.bad))] {
		t.Error(b)
	}
	if len(lc.bad) > 0 {
		t.Fatalf("%d of %d requests failed or were not 200 \"Hello, World!\"", len(lc.bad), len(lc.bad)+lc.ok)
	}
}

// upgradeUnderLoad installs a new build of the binary and sends SIGHUP to
// s while clients keep making new connections: a new process, running the
// new file, must log that it listens on the same
// address, the old one must answer 503 on /healthz over a connection it
// already had while it drains and then exit 0, the new one must answer the
// requests that follow, and no request may fail.
func upgradeUnderLoad(t *testing.T, s *serverProc) {
	t.Helper()
	old := keepAliveClient()
	defer old.CloseIdleConnections()
	if code, _, err := fetch(old, "http://"+s.addr+"/healthz"); err != nil || code != 200 {
		t.Fatalf("GET /healthz before the upgrade: %d %v", code, err)
	}
	lc := startLoad(s.addr)
	lc.waitServed(t, 50)
	replaceBinary(t, s.bin)
	oldPID, addr := s.pid, s.addr
	syscall.Kill(oldPID, syscall.SIGHUP)
	s.waitListening(t)
	if s.addr != addr || s.pid == oldPID {
		t.Fatalf("after SIGHUP: pid %d listening on %s, want a new pid on %s", s.pid, s.addr, addr)
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.pid)); err == nil && exe != s.bin {
		t.Fatalf("the new process runs %q, want the new build at %s", exe, s.bin)
	}
	waitHealthz503(t, old, addr)
	if err := exampletest.WaitExit(t, s.cmd); err != nil {
		t.Fatalf("old process after the upgrade: %v, want exit status 0", err)
	}
	lc.waitServed(t, 50) // answered by the new process: the old one is gone
	lc.finish(t)
	t.Logf("%d requests, each on a new connection, answered across the upgrade", lc.ok)
	if code, body, err := fetch(keepAliveClient(), "http://"+addr+"/healthz"); err != nil || code != 200 {
		t.Fatalf("GET /healthz from the new process: %d %q %v", code, body, err)
	}
	if m := regexp.MustCompile(`metrics listening addr=http://(\S+)/metrics`).FindStringSubmatch(s.out.String()); m != nil {
		if code, _, err := fetch(keepAliveClient(), "http://"+m[1]+"/metrics"); err != nil || code != 200 {
			t.Fatalf("GET /metrics after the upgrade: %d %v", code, err)
		}
	}
	s.out.StopPID(t, s.pid)
}

// replaceBinary puts a new file at bin, as installing a new build does
// (rename over the old one, whose running copy's /proc/PID/exe then says
// "(deleted)"), so that the upgrade must start the file now at that path.
func replaceBinary(t *testing.T, bin string) {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin+".new", data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
}

// TestSIGHUPUpgradeAnswersEveryRequest: see upgradeUnderLoad, on 1 and 2
// loops (with 2, each loop's SO_REUSEPORT socket is handed over). The
// server also serves -metrics on a fixed port, which the new process must
// be able to listen on while the old one still does; the new one answers
// /metrics after the upgrade.
func TestSIGHUPUpgradeAnswersEveryRequest(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			metrics := l.Addr().String()
			l.Close()
			s := startProcess(t, nil, nil, false, "-addr", "127.0.0.1:0", "-loops", strconv.Itoa(loops), "-drain-delay", "1s", "-metrics", metrics)
			upgradeUnderLoad(t, s)
			if code, _, err := fetch(keepAliveClient(), "http://"+metrics+"/metrics"); err == nil || code == 200 {
				t.Fatalf("/metrics answered %d %v after the new process stopped", code, err)
			}
		})
	}
}

// TestSocketActivatedServerServesThePassedSocketAndUpgrades starts the
// example as systemd does for a .socket unit (the socket as descriptor 3,
// LISTEN_FDS=1, LISTEN_PID its pid): it serves that socket, not -addr,
// and a SIGHUP upgrade hands the same socket to the new process.
func TestSocketActivatedServerServesThePassedSocketAndUpgrades(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			nl, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			f, err := nl.(*net.TCPListener).File()
			nl.Close()
			if err != nil {
				t.Fatal(err)
			}
			// The socket is passed blocking, as systemd passes it.
			unix.SetNonblock(int(f.Fd()), false)
			s := startProcess(t, []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=http"}, []*os.File{f}, true,
				"-addr", "127.0.0.1:1", "-loops", strconv.Itoa(loops), "-drain-delay", "1s")
			want := nl.Addr().String()
			f.Close()
			if s.addr != want {
				t.Fatalf("serving %s, want the passed socket's %s", s.addr, want)
			}
			upgradeUnderLoad(t, s)
		})
	}
}

// TestFlagsUpgradeOnRejectsUnknownSignal: -upgrade-on takes SIGHUP,
// SIGUSR2 or none; anything else is a usage error (exit status 2, the
// flag named, no server), as a malformed flag is.
func TestFlagsUpgradeOnRejectsUnknownSignal(t *testing.T) {
	code, stderr := exampletest.RunMain(t, runMainEnv, "-addr", "127.0.0.1:0", "-upgrade-on", "SIGFOO")
	if code != 2 || !regexp.MustCompile(`invalid value "SIGFOO" for flag -upgrade-on`).MatchString(stderr) || listeningLine.MatchString(stderr) {
		t.Fatalf("-upgrade-on SIGFOO: exit status %d, stderr:\n%s", code, stderr)
	}
}
