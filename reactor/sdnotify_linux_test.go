package reactor

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/internal/sdnotifytest"
)

// TestSystemdNotifyReadyAndStopping follows sd_notify(3): a Type=notify
// service sends READY=1 once it serves and STOPPING=1 when it begins to
// stop, from its main process, to the socket NOTIFY_SOCKET names (a path
// or an abstract "@name").
func TestSystemdNotifyReadyAndStopping(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		for _, loops := range []int{1, 2} {
			t.Run(fmt.Sprintf("abstract=%v/loops=%d", abstract, loops), func(t *testing.T) {
				m := sdnotifytest.Listen(t, abstract)
				r, err := New(WithLoops(loops), WithSignalHandling(false))
				if err != nil {
					t.Fatal(err)
				}
				ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- r.Run() }()
				got, err := m.Next(30 * time.Second)
				if err != nil {
					t.Fatalf("waiting for READY=1: %v", err)
				}
				if got.State != "READY=1" || got.PID != os.Getpid() {
					t.Fatalf("first notification %+v, want READY=1 from pid %d", got, os.Getpid())
				}
				// READY=1 means the listener accepts.
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatalf("dial after READY=1: %v", err)
				}
				c.Close()
				if err := r.Stop(); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if rest, err := m.Pending(); err != nil || len(rest) != 1 || rest[0].State != "STOPPING=1" || rest[0].PID != os.Getpid() {
					t.Fatalf("after Stop: %+v, %v; want exactly STOPPING=1 from pid %d", rest, err, os.Getpid())
				}
			})
		}
	}
}

// runAndStop runs a reactor made with opts until it runs, stops it and
// returns what Run returned.
func runAndStop(t *testing.T, opts ...Option) error {
	t.Helper()
	r, err := New(append([]Option{WithSignalHandling(false)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	waitFor(t, "the reactor to run", r.Running)
	r.Stop()
	return <-done
}

func TestSystemdNotifyOffSendsNothing(t *testing.T) {
	m := sdnotifytest.Listen(t, false)
	if err := runAndStop(t, WithSystemdNotify(false)); err != nil {
		t.Fatal(err)
	}
	// Run sends its notifications before it returns: any would be queued.
	if got, err := m.Pending(); err != nil || len(got) != 0 {
		t.Fatalf("with WithSystemdNotify(false): %+v, %v; want nothing", got, err)
	}
}

func TestSystemdNotifyToAMissingSocketIsLoggedAndChangesNothing(t *testing.T) {
	t.Setenv(envNotifySocket, filepath.Join(t.TempDir(), "nobody-listens"))
	logged := &syncBuffer{}
	if err := runAndStop(t, WithLogger(zerolog.New(logged))); err != nil {
		t.Fatalf("Run: %v, want nil: a manager that is not there is not the service's failure", err)
	}
	if !strings.Contains(logged.String(), "cannot notify the service manager") {
		t.Fatalf("log lacks the failed notification:\n%s", logged.String())
	}
}

// TestWatchdogIntervalFollowsSdWatchdogEnabled: WATCHDOG_USEC in
// microseconds, for this process when WATCHDOG_PID is unset or names it
// (sd_watchdog_enabled(3)).
func TestWatchdogIntervalFollowsSdWatchdogEnabled(t *testing.T) {
	for _, c := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"500000", "", 500 * time.Millisecond},
		{"500000", "42", 500 * time.Millisecond},
		{"500000", "43", 0},
		{"0", "", 0},
		{"-5", "", 0},
		{"soon", "", 0},
	} {
		env := map[string]string{envWatchdogUSec: c.usec, envWatchdogPID: c.pid}
		if got := watchdogInterval(func(k string) string { return env[k] }, 42); got != c.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, want %v", c.usec, c.pid, got, c.want)
		}
	}
}

// TestWatchdogPingsOnlyWhileEveryLoopTurns drives the watchdog's ticks by
// hand: a tick pings when every loop answered the previous probe; a loop
// held by a callback withholds the pings until it is free again, and its
// queue gets one probe, not one per tick.
func TestWatchdogPingsOnlyWhileEveryLoopTurns(t *testing.T) {
	m := sdnotifytest.Listen(t, false)
	r := startReactor(t, WithLoops(2), WithSystemdNotify(false))
	// A notifier of the test's own, whose ticks the test calls.
	n := &serviceNotifier{addr: m.Addr(), watchdog: time.Hour, probes: make([]loopProbe, len(r.loops))}
	answered := func() bool { return n.probes[0].answered.Load() && n.probes[1].answered.Load() }
	n.probe(r)
	waitFor(t, "both loops to answer the probe", answered)
	if !n.watchdogTick(r) {
		t.Fatal("no ping although both loops answered")
	}
	waitFor(t, "both loops to answer again", answered)
	held, release := make(chan struct{}), make(chan struct{})
	r.loops[1].CallFromThread(func() { close(held); <-release })
	<-held
	n.watchdogTick(r) // both had answered: pings, and probes again; loop 1 cannot answer
	queued := r.loops[1].queue.n.Load()
	for range 3 {
		if n.watchdogTick(r) {
			t.Fatal("pinged while loop 1 was held by a callback")
		}
	}
	if got := r.loops[1].queue.n.Load(); got != queued {
		t.Fatalf("loop 1's queue went from %d to %d calls: a stuck loop must get one probe", queued, got)
	}
	close(release)
	waitFor(t, "loop 1 to answer once free", answered)
	if !n.watchdogTick(r) {
		t.Fatal("no ping once loop 1 answered again")
	}
	got, err := m.Pending()
	if err != nil {
		t.Fatal(err)
	}
	pings := 0
	for _, g := range got {
		if g.State == "WATCHDOG=1" && g.PID == os.Getpid() {
			pings++
		}
	}
	if pings != 3 {
		t.Fatalf("%d WATCHDOG=1 among %+v, want the 3 ticks that found every loop answering", pings, got)
	}
}

// TestWatchdogPingsWhileRunning: with WatchdogSec's WATCHDOG_USEC set, a
// running reactor pings on its own, after its READY=1.
func TestWatchdogPingsWhileRunning(t *testing.T) {
	m := sdnotifytest.Listen(t, false)
	t.Setenv(envWatchdogUSec, "100000") // 100 ms: a ping every 50 ms
	r, err := New(WithLoops(2), WithSignalHandling(false))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	var states []string
	for pings := 0; pings < 3; {
		n, err := m.Next(30 * time.Second)
		if err != nil {
			t.Fatalf("after %q: %v", states, err)
		}
		states = append(states, n.State)
		if n.State == "WATCHDOG=1" {
			pings++
		}
	}
	if states[0] != "READY=1" {
		t.Fatalf("notifications %q, want READY=1 first", states)
	}
	r.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
