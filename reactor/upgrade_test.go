package reactor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/internal/exampletest"
)

const upgradeHelperEnv = "MUSTAINE_TEST_UPGRADE_HELPER"

// TestUpgradeHelperProcess is the server of the upgrade tests: TCP and
// Unix listeners serving pidEchoFactory, upgraded on SIGHUP. Upgrade
// starts this same test binary with the same arguments, so the new process
// runs this function again; HELPER_FAIL makes that new process exit
// ("exit") or never get ready ("hang").
func TestUpgradeHelperProcess(t *testing.T) {
	if os.Getenv(upgradeHelperEnv) != "1" {
		return
	}
	if os.Getenv(envUpgradePID) != "" {
		switch os.Getenv("HELPER_FAIL") {
		case "exit":
			fmt.Println("new process failing on purpose")
			os.Exit(3)
		case "hang":
			time.Sleep(time.Minute)
			os.Exit(4)
		}
	}
	loops, _ := strconv.Atoi(os.Getenv("HELPER_LOOPS"))
	log := zerolog.New(os.Stdout).Level(zerolog.InfoLevel)
	r, err := New(WithLoops(loops), WithReusePort(true), WithLogger(log),
		WithUpgradeOn(syscall.SIGHUP), WithUpgradeTimeout(2*time.Second))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	ln, err := r.ListenTCP("127.0.0.1:0", pidEchoFactory())
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if _, err := r.ListenUnix(os.Getenv("HELPER_UNIX"), pidEchoFactory()); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	r.CallWhenRunning(func() {
		fmt.Printf("listening %s pid %d sockets %d\n", ln.Addr(), os.Getpid(), max(1, len(ln.fds)))
	})
	if err := r.Run(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Printf("stopped pid %d\n", os.Getpid())
	os.Exit(0)
}

var listeningLine = regexp.MustCompile(`^listening (\S+) pid (\d+) sockets (\d+)$`)

// pidClients connects to the TCP and the Unix address over and over, from
// a few goroutines, until stopped, counting connections per serving pid
// and keeping every failure.
type pidClients struct {
	mu     sync.Mutex
	perPID map[int]int
	errs   []error
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startPIDClients(tcpAddr, unixPath string) *pidClients {
	pc := &pidClients{perPID: map[int]int{}, stop: make(chan struct{})}
	for g := range 4 {
		pc.wg.Add(1)
		go func() {
			defer pc.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-pc.stop:
					return
				default:
				}
				network, addr := "tcp", tcpAddr
				if (g+i)%2 == 1 {
					network, addr = "unix", unixPath
				}
				pid, err := pidEcho(network, addr, fmt.Sprintf("client %d message %d", g, i))
				pc.mu.Lock()
				if err != nil {
					pc.errs = append(pc.errs, fmt.Errorf("%s connection %d of client %d: %w", network, i, g, err))
				} else {
					pc.perPID[pid]++
				}
				pc.mu.Unlock()
			}
		}()
	}
	return pc
}

// waitFor waits until pid served n connections.
func (pc *pidClients) waitFor(t *testing.T, pid, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		pc.mu.Lock()
		got := pc.perPID[pid]
		pc.mu.Unlock()
		if got >= n {
			return
		}
	}
	t.Fatalf("pid %d did not serve %d connections within 30s", pid, n)
}

// finish stops the clients and returns the counts and failures.
func (pc *pidClients) finish() (map[int]int, []error) {
	close(pc.stop)
	pc.wg.Wait()
	return pc.perPID, pc.errs
}

// TestUpgradeHandsListenersOverWithoutRefusingOrLosingAConnection: SIGHUP
// makes the server start a new copy of itself on the same sockets (each
// loop's SO_REUSEPORT socket, and a Unix socket) while clients connect
// without a pause; the new process serves from then on, the old one exits
// with status 0, and every connection of the clients, before, during and
// after, got a greeting and its bytes echoed: none was refused or reset.
// The Unix socket file is still there for the new process.
func TestUpgradeHandsListenersOverWithoutRefusingOrLosingAConnection(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			unixPath := filepath.Join(t.TempDir(), "s")
			h := startHelper(t, "TestUpgradeHelperProcess", []string{
				upgradeHelperEnv + "=1", "HELPER_LOOPS=" + strconv.Itoa(loops), "HELPER_UNIX=" + unixPath,
			}, nil, false)
			m, next := h.Wait(t, listeningLine, 0)
			addr, sockets := m[1], m[3]
			oldPID, _ := strconv.Atoi(m[2])
			if want := strconv.Itoa(loops); sockets != want {
				t.Fatalf("%s listening sockets, want %s (one per loop)", sockets, want)
			}
			pc := startPIDClients(addr, unixPath)
			pc.waitFor(t, oldPID, 20)
			if err := syscall.Kill(oldPID, syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			m, _ = h.Wait(t, listeningLine, next)
			newPID, _ := strconv.Atoi(m[2])
			defer h.StopPID(t, newPID)
			if m[1] != addr || m[3] != sockets || newPID == oldPID {
				t.Fatalf("after the upgrade: %q, want %s with %s sockets from a new pid", m[0], addr, sockets)
			}
			if err := exampletest.WaitExit(t, h.cmd); err != nil {
				t.Fatalf("old process: %v, want exit status 0", err)
			}
			pc.waitFor(t, newPID, 20)
			perPID, errs := pc.finish()
			for _, err := range errs[:min(len(errs), 10)] {
				t.Error(err)
			}
			if len(errs) > 0 {
				t.Fatalf("%d connections failed during the upgrade (served: %v)", len(errs), perPID)
			}
			if len(perPID) != 2 {
				t.Fatalf("connections served per pid %v, want only the old %d and the new %d", perPID, oldPID, newPID)
			}
			if _, err := os.Stat(unixPath); err != nil {
				t.Fatalf("Unix socket file gone after the old process exited: %v", err)
			}
			t.Logf("connections served: %d by the old process, %d by the new one, none failed", perPID[oldPID], perPID[newPID])
			h.Wait(t, regexp.MustCompile(`upgrade: new process ready`), 0)
		})
	}
}

// TestFailedUpgradeKeepsTheOldProcessServing: a new process that exits at
// once, or never reports ready within WithUpgradeTimeout, is given up
// (killed) with a logged reason, and the old process goes on serving every
// connection; a later SIGTERM still stops it with status 0.
func TestFailedUpgradeKeepsTheOldProcessServing(t *testing.T) {
	for _, mode := range []string{"exit", "hang"} {
		t.Run(mode, func(t *testing.T) {
			unixPath := filepath.Join(t.TempDir(), "s")
			h := startHelper(t, "TestUpgradeHelperProcess", []string{
				upgradeHelperEnv + "=1", "HELPER_LOOPS=1", "HELPER_UNIX=" + unixPath, "HELPER_FAIL=" + mode,
			}, nil, false)
			m, next := h.Wait(t, listeningLine, 0)
			oldPID, _ := strconv.Atoi(m[2])
			pc := startPIDClients(m[1], unixPath)
			pc.waitFor(t, oldPID, 10)
			if err := syscall.Kill(oldPID, syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			m, _ = h.Wait(t, regexp.MustCompile(`"new_pid":(\d+).*upgrade failed; this process keeps serving`), next)
			newPID, _ := strconv.Atoi(m[1])
			if err := syscall.Kill(newPID, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("failed new process %d still exists (kill 0: %v)", newPID, err)
			}
			pc.mu.Lock()
			servedBefore := pc.perPID[oldPID]
			pc.mu.Unlock()
			pc.waitFor(t, oldPID, servedBefore+20)
			perPID, errs := pc.finish()
			if len(errs) > 0 || len(perPID) != 1 {
				t.Fatalf("after a failed upgrade: served %v, errors %v; want all by the old process", perPID, errs)
			}
			h.StopPID(t, oldPID)
			if err := h.cmd.Wait(); err != nil {
				t.Fatalf("old process after SIGTERM: %v", err)
			}
		})
	}
}

// TestUpgradeEnvironmentRoundTrips: what Upgrade sets for the new process
// reads back as the same listeners and descriptors (keys hold ':' and
// spaces: addresses and paths do), with the sockets of one listener (one
// per loop) grouped in their order; variables of an earlier upgrade or of
// systemd are not passed on; and a process whose parent is not the one
// named takes nothing.
func TestUpgradeEnvironmentRoundTrips(t *testing.T) {
	keys := []string{"tcp:127.0.0.1:0", "tcp:127.0.0.1:0", "unix:/tmp/a b:c", "activated:http@[::1]:80"}
	env := upgradeEnv([]string{"HOME=/root", "LISTEN_FDS=2", envUpgradeFDs + "=old", "WATCHDOG_PID=1", "WATCHDOG_USEC=5000000"}, keys, 7)
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := vars[k]; dup {
			t.Fatalf("%s set twice in %q", k, env)
		}
		vars[k] = v
	}
	// WATCHDOG_PID named this process: the successor must not inherit it
	// (it would take the watchdog for another's), WATCHDOG_USEC it keeps.
	if vars["HOME"] != "/root" || vars["LISTEN_FDS"] != "" || vars["WATCHDOG_PID"] != "" || vars["WATCHDOG_USEC"] != "5000000" {
		t.Fatalf("environment passed on: %q", env)
	}
	byKey, order, ready, err := parseInherited(func(k string) string { return vars[k] }, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{"tcp:127.0.0.1:0": {3, 4}, "unix:/tmp/a b:c": {5}, "activated:http@[::1]:80": {6}}
	if !reflect.DeepEqual(byKey, want) || ready != 7 || !slices.Equal(order, []string{keys[0], keys[2], keys[3]}) {
		t.Fatalf("read back %v (order %q), ready fd %d; want %v, 7", byKey, order, ready, want)
	}
	if byKey, _, ready, err := parseInherited(func(k string) string { return vars[k] }, os.Getpid()+1); byKey != nil || ready != -1 || err != nil {
		t.Fatalf("another parent's variables taken: %v %d %v", byKey, ready, err)
	}
}

// TestUpgradeNeedsARunningReactor: Upgrade before Run (or after Stop)
// returns ErrNotRunning and starts nothing.
func TestUpgradeNeedsARunningReactor(t *testing.T) {
	r, err := New(WithLoops(1), WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Upgrade(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Upgrade before Run: %v, want ErrNotRunning", err)
	}
	r.CallWhenRunning(func() { r.Stop() })
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	if err := r.Upgrade(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Upgrade after Stop: %v, want ErrNotRunning", err)
	}
}
