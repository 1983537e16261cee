package reactor

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

func TestSignalStopsGracefullyAndASecondOneStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("sends signals to the test process")
	}
	// Our own subscription keeps a stray signal from killing the test
	// binary whatever the reactor does.
	guard := make(chan os.Signal, 4)
	signal.Notify(guard, syscall.SIGINT)
	defer signal.Stop(guard)

	var logs syncBuffer
	r := newQuietReactor(t, WithLoops(1), WithSignalHandling(true), WithShutdownTimeout(10*time.Minute),
		WithLogger(zerolog.New(&logs).Level(zerolog.InfoLevel)))
	stopping := make(chan struct{})
	mustAdd(t, r, Before, Shutdown, func() *deferred.Deferred[struct{}] {
		close(stopping)
		return deferred.New[struct{}]() // would hold the stop for ten minutes
	})
	s := &streamer{total: 1 << 40, chunk: make([]byte, 16<<10), lost: make(chan error, 1)}
	ln, err := r.ListenTCP("127.0.0.1:0", protocolFactory(s))
	if err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	done := runAsync(r)
	<-running
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Read(make([]byte, 1)) // streaming to a peer that reads no more

	syscall.Kill(os.Getpid(), syscall.SIGINT)
	<-stopping
	if !strings.Contains(logs.String(), "received interrupt; shutting down") {
		t.Fatalf("no info line for the first signal:\n%s", logs.String())
	}
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	waitRun(t, done)
	if reason := <-s.lost; !errors.Is(reason, protocol.ErrAborted) || !errors.Is(reason, ErrReactorStopping) {
		t.Fatalf("ConnectionLost(%v), want an abort for the stop", reason)
	}
	if !strings.Contains(logs.String(), "stopping now") {
		t.Fatalf("no line for the second signal:\n%s", logs.String())
	}
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func TestSIGTERMStopsTheEchoExampleCleanlyWithExitCodeZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs examples/echo")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command")
	}
	bin := filepath.Join(t.TempDir(), "echo")
	if out, err := exec.Command(goBin, "build", "-o", bin, "../examples/echo").CombinedOutput(); err != nil {
		t.Fatalf("building examples/echo: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-loops", "2")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- ansiEscape.ReplaceAllString(sc.Text(), "")
		}
	}()
	var log []string
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				return ""
			}
			log = append(log, l)
			return l
		case <-time.After(30 * time.Second):
			t.Fatalf("echo said nothing more; log so far:\n%s", strings.Join(log, "\n"))
			return ""
		}
	}
	addr := ""
	for addr == "" {
		l := next()
		if l == "" {
			t.Fatalf("echo exited early:\n%s", strings.Join(log, "\n"))
		}
		if m := regexp.MustCompile(`listening.*addr=(\S+)`).FindStringSubmatch(l); m != nil {
			addr = m[1]
		}
	}
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "hello before SIGTERM")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for next() != "" {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("echo after SIGTERM: %v, want exit code 0; log:\n%s", err, strings.Join(log, "\n"))
	}
	all := strings.Join(log, "\n")
	for _, want := range []string{"received terminated; shutting down", "echo server stopped"} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %q:\n%s", want, all)
		}
	}
	// The open connection was closed cleanly by the stop.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("client read %d, %v after the server stopped; want EOF", n, err)
	}
}
