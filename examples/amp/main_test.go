package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/internal/exampletest"
	"github.com/mustaine/mustaine/protocol/amp"
	"github.com/mustaine/mustaine/reactor"
)

// The tests run main in a child process (this test binary, re-executed
// with runMainEnv set), so that they see its exit status, stdout and
// stderr as a user does.

const runMainEnv = "MUSTAINE_AMP_RUN_MAIN"

var listeningAddr = regexp.MustCompile(`amp server listening addr=(127\.0\.0\.1:[0-9]+)`)

// TestFlagsHelperProcess is not a test: in the child process it runs main
// with the arguments after "--".
func TestFlagsHelperProcess(t *testing.T) {
	exampletest.HelperProcess(runMainEnv, "amp", main)
}

// mainCommand is the command that runs main with args in a child; the
// caller sets its Stdout and Stderr.
func mainCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exampletest.MainCommand(ctx, runMainEnv, nil, args...)
	cmd.Stderr = nil
	return cmd
}

// runMain runs main with args to completion and returns its exit status,
// stdout and stderr (stderr is a file, not a terminal).
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := mainCommand(ctx, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	code := 0
	if exit != nil {
		code = exit.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

// startServer runs main -listen 127.0.0.1:0 and returns the address it
// logged; the process is killed by PID at cleanup.
func startServer(t *testing.T, extra ...string) (addr, stderrPath string) {
	t.Helper()
	s := startServerAt(t, "127.0.0.1:0", extra...)
	return s.addr, s.stderrPath
}

// server is a main -listen child process.
type server struct {
	cmd        *exec.Cmd
	addr       string // the address it logged
	stderrPath string // its log
}

// kill kills the server by PID and waits for it to be gone.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// log is what the server has logged so far.
func (s *server) log() string {
	b, _ := os.ReadFile(s.stderrPath)
	return string(b)
}

// startServerAt runs main -listen addr and waits for it to log its
// address; the process is killed by PID at cleanup.
func startServerAt(t *testing.T, addr string, extra ...string) *server {
	t.Helper()
	s := &server{stderrPath: filepath.Join(t.TempDir(), "stderr")}
	f, err := os.Create(s.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	s.cmd = mainCommand(context.Background(), append([]string{"-listen", addr}, extra...)...)
	s.cmd.Stderr = f
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kill)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := listeningAddr.FindStringSubmatch(s.log()); m != nil {
			s.addr = m[1]
			return s
		}
	}
	t.Fatalf("server never logged its address:\n%s", s.log())
	return nil
}

func TestFlagsLoopsBelowOneIsAUsageError(t *testing.T) {
	for _, loops := range []string{"0", "-1"} {
		code, _, stderr := runMain(t, "-listen", "127.0.0.1:0", "-loops", loops)
		if code != 2 {
			t.Errorf("-loops %s: exit status %d, want 2 (as for a flag error)\n%s", loops, code, stderr)
		}
		if want := `invalid value "` + loops + `" for flag -loops: must be at least 1`; !strings.Contains(stderr, want) {
			t.Errorf("-loops %s: stderr does not say %q:\n%s", loops, want, stderr)
		}
		if !strings.Contains(stderr, "Usage") || strings.Contains(stderr, "listening") {
			t.Errorf("-loops %s: want the usage and no server:\n%s", loops, stderr)
		}
	}
}

func TestFlagsNeitherListenNorCallIsAUsageError(t *testing.T) {
	if code, _, stderr := runMain(t); code != 2 || !strings.Contains(stderr, "Usage") {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
}

// Twisted's calculator example: Sum(13, 81) is 94, Divide(1234, 10) is
// 123.4, Divide(1, 0) fails with the declared ZERO_DIVISION.
func TestCallGetsTheCalculatorsAnswers(t *testing.T) {
	for _, loops := range []string{"1", "2"} {
		t.Run("loops="+loops, func(t *testing.T) {
			addr, stderrPath := startServer(t, "-loops", loops, "-v")
			code, stdout, stderr := runMain(t, "-call", addr, "-loops", loops)
			want := "Sum(13, 81) = 94\nDivide(1234, 10) = 123.4\nDivide(1, 0): ZERO_DIVISION: division by zero\n"
			if code != 0 || stdout != want {
				t.Fatalf("exit status %d, stdout %q, want %q; stderr:\n%s", code, stdout, want, stderr)
			}
			log, _ := os.ReadFile(stderrPath)
			if bytes.Contains(log, []byte("\x1b[")) {
				t.Errorf("colour codes in a log written to a file:\n%q", log)
			}
			if !bytes.Contains(log, []byte("Divide")) {
				t.Errorf("-v did not log the calls:\n%s", log)
			}
		})
	}
}

func TestCallFailsWhenNoServer(t *testing.T) {
	addr, _ := startServer(t)
	code, _, _ := runMain(t, "-call", addr)
	if code != 0 {
		t.Fatalf("reference call failed: %d", code)
	}
	// A port nothing listens on: the server's port after it is gone is
	// racy, so use port 1 on loopback, which is refused.
	code, stdout, stderr := runMain(t, "-call", "127.0.0.1:1")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "amp:") {
		t.Fatalf("exit status %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

// Twisted's own client, with the example's commands, against our server.
func TestTwistedClientCallsTheServer(t *testing.T) {
	requireTwisted(t)
	addr, _ := startServer(t)
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(twistedClient), 0o644); err != nil {
		t.Fatal(err)
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", script, port).CombinedOutput()
	if want := "94 123.4 ZeroDivisionError"; err != nil || strings.TrimSpace(string(out)) != want {
		t.Fatalf("Twisted client: %v, output %q, want %q", err, out, want)
	}
}

const twistedClient = `
import sys
from twisted.internet import reactor, defer, endpoints
from twisted.protocols import amp

class Sum(amp.Command):
    arguments = [(b'a', amp.Integer()), (b'b', amp.Integer())]
    response = [(b'total', amp.Integer())]

class Divide(amp.Command):
    arguments = [(b'numerator', amp.Integer()), (b'denominator', amp.Integer())]
    response = [(b'result', amp.Float())]
    errors = {ZeroDivisionError: b'ZERO_DIVISION'}

@defer.inlineCallbacks
def main():
    ep = endpoints.TCP4ClientEndpoint(reactor, '127.0.0.1', int(sys.argv[1]))
    p = yield endpoints.connectProtocol(ep, amp.AMP())
    s = yield p.callRemote(Sum, a=13, b=81)
    d = yield p.callRemote(Divide, numerator=1234, denominator=10)
    try:
        yield p.callRemote(Divide, numerator=1, denominator=0)
        z = 'no error'
    except ZeroDivisionError:
        z = 'ZeroDivisionError'
    print(s['total'], d['result'], z, flush=True)

def stop(r):
    if isinstance(r, Exception) or hasattr(r, 'getTraceback'):
        print(r.getTraceback(), flush=True)
    reactor.stop()

main().addBoth(stop)
reactor.run()
`

// calculatorRound is what -call prints for round k, written from the
// calculator's arithmetic: 13 + (80+k), and 1234·k / 10 as a decimal
// (integer part, and the tenths when not zero).
func calculatorRound(k int) string {
	n := 1234 * k
	quotient := strconv.Itoa(n / 10)
	if n%10 != 0 {
		quotient += "." + strconv.Itoa(n%10)
	}
	return fmt.Sprintf("Sum(13, %d) = %d\nDivide(%d, 10) = %s\nDivide(1, 0): ZERO_DIVISION: division by zero\n",
		80+k, 93+k, n, quotient)
}

// waitFor polls cond until it holds, failing the test after a minute with
// what describe says.
func waitFor(t *testing.T, what string, cond func() bool, describe func() string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened:\n%s", what, describe())
		}
	}
}

var sumLogged = regexp.MustCompile(`Sum a=13 b=([0-9]+)`)

// sumsServed are the rounds whose Sum a server's log shows (-v logs each
// call), in order.
func sumsServed(log string) []int {
	var rounds []int
	for _, m := range sumLogged.FindAllStringSubmatch(log, -1) {
		b, _ := strconv.Atoi(m[1])
		rounds = append(rounds, b-80)
	}
	return rounds
}

// -call -count N keeps calling through a server restart: the server is
// killed by PID after a few rounds, the caller's reconnects are refused
// while it is down, it comes back on the same port, and the caller
// reconnects and finishes. Every round is printed once and correct (rounds
// due while disconnected waited; a round cut by the kill was made again),
// and the rounds after the restart were answered by the new server.
func TestCallSurvivesAServerRestart(t *testing.T) {
	const rounds = 40
	var want strings.Builder
	for k := 1; k <= rounds; k++ {
		want.WriteString(calculatorRound(k))
	}
	for _, loops := range []string{"1", "2"} {
		t.Run("loops="+loops, func(t *testing.T) {
			first := startServerAt(t, "127.0.0.1:0", "-loops", loops, "-v")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var stdout, stderr exampletest.Buffer
			caller := mainCommand(ctx, "-call", first.addr, "-count", strconv.Itoa(rounds), "-every", "25ms", "-retries", "100", "-loops", loops)
			caller.Stdout, caller.Stderr = &stdout, &stderr
			if err := caller.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- caller.Wait() }()
			describe := func() string { return "stdout:\n" + stdout.String() + "\nstderr:\n" + stderr.String() }

			waitFor(t, "five rounds answered", func() bool { return strings.Count(stdout.String(), "\n") >= 5*3 }, describe)
			first.kill()
			waitFor(t, "a refused reconnect", func() bool { return strings.Contains(stderr.String(), "connect failed") }, describe)
			printedBefore := strings.Count(stdout.String(), "\n") / 3
			second := startServerAt(t, first.addr, "-loops", loops, "-v")

			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("caller: %v\n%s", err, describe())
				}
			case <-ctx.Done():
				t.Fatalf("caller did not finish\n%s", describe())
			}
			if got := stdout.String(); got != want.String() {
				t.Fatalf("stdout is not the %d rounds, each once:\n%s\nwant:\n%s\nstderr:\n%s", rounds, got, want.String(), stderr.String())
			}
			if n := strings.Count(stderr.String(), "INF connected"); n != 2 {
				t.Errorf("connected %d times, want 2 (before and after the restart):\n%s", n, stderr.String())
			}
			// The first server answered the rounds printed before it was
			// killed (and maybe began the next); the second one all the
			// rest, in order, up to the last.
			before, after := sumsServed(first.log()), sumsServed(second.log())
			if len(before) < printedBefore || len(after) == 0 {
				t.Fatalf("first server served rounds %v, second %v; %d printed before the kill", before, after, printedBefore)
			}
			for i, k := range after {
				if k != after[0]+i || (i == 0 && k > before[len(before)-1]+1) {
					t.Fatalf("the second server served rounds %v after the first's %v", after, before)
				}
			}
			if last := after[len(after)-1]; last != rounds {
				t.Fatalf("the second server's last round is %d, want %d", last, rounds)
			}
		})
	}
}

func TestFlagsBadCallFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"-count", "0"}, {"-every", "-1s"}, {"-retries", "-1"}} {
		code, stdout, stderr := runMain(t, append([]string{"-call", "127.0.0.1:1"}, args...)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "-count must be at least 1") || !strings.Contains(stderr, "Usage") {
			t.Errorf("%v: exit status %d, stdout %q, stderr:\n%s", args, code, stdout, stderr)
		}
	}
}

// readmeAMPScript is the python block of the README's AMP section. Until
// the section is in README.md it is in README-amp-section.md, beside it.
func readmeAMPScript(t *testing.T) []byte {
	t.Helper()
	for _, name := range []string{"../../README.md", "../../README-amp-section.md"} {
		text, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		_, after, ok := bytes.Cut(text, []byte("## Go and Twisted calling each other (AMP)"))
		if ok {
			_, after, ok = bytes.Cut(after, []byte("```python\n"))
		}
		code, _, closed := bytes.Cut(after, []byte("```"))
		if ok && closed {
			return code
		}
	}
	t.Fatal("neither README.md nor README-amp-section.md has a python block under \"Go and Twisted calling each other (AMP)\"")
	return nil
}

// The README's Twisted script is twisted_calc.py, byte for byte; its
// calling part (after the command declarations) is five lines; and run by
// Twisted against our server it prints the calculator's answers.
func TestREADMETwistedScriptCallsTheServer(t *testing.T) {
	script, err := os.ReadFile("twisted_calc.py")
	if err != nil {
		t.Fatal(err)
	}
	if quoted := readmeAMPScript(t); !bytes.Equal(quoted, script) {
		t.Fatalf("the README's script is not twisted_calc.py:\n%s\nwant:\n%s", quoted, script)
	}
	_, calls, ok := bytes.Cut(script, []byte("errors = {ZeroDivisionError: b\"ZERO_DIVISION\"}\n"))
	if !ok || countLines(calls) != 5 {
		t.Fatalf("the calling part is %d lines, want 5:\n%s", countLines(calls), calls)
	}
	requireTwisted(t)
	addr, _ := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "twisted_calc.py", "tcp:host=127.0.0.1:port="+addr[strings.LastIndexByte(addr, ':')+1:])
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if want := "Sum(13, 81) = 94\nDivide(1234, 10) = 123.4\n"; err != nil || string(out) != want {
		t.Fatalf("twisted_calc.py: %v, stdout %q, want %q; stderr:\n%s", err, out, want, stderr.String())
	}
}

// countLines counts the lines of text that are not blank.
func countLines(text []byte) int {
	n := 0
	for _, line := range bytes.Split(text, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
	}
	return n
}

// requireTwisted skips the test when /usr/bin/python3 has no Twisted, and
// fails it under CI, which installs it.
func requireTwisted(t *testing.T) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import twisted.protocols.amp").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-twisted is missing: %v", err)
		}
		t.Skip("python3-twisted not installed")
	}
}

// A round whose calls are lost with the connection is made again, whole,
// once the caller has reconnected: the server here (in the test's process)
// aborts the connection at round 3's Sum the first time it comes, and the
// caller still prints rounds 1 to 5, each once and in order.
func TestCallMakesARoundLostWithTheConnectionAgain(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) { checkLostRoundMadeAgain(t, loops) })
	}
}

// checkLostRoundMadeAgain runs the test above with a server and a caller
// of loops loops.
func checkLostRoundMadeAgain(t *testing.T, loops int) {
	r, err := reactor.New(reactor.WithLoops(loops), reactor.WithSignalHandling(false), reactor.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	rs := calculator(zerolog.Nop())
	// The b of each Sum received. The two connections may be on two
	// loops: the race detector cannot see that TCP orders them.
	var mu sync.Mutex
	var sums []int64
	amp.RespondDeferred(rs, sum, func(p *amp.Protocol, a SumArgs) *deferred.Deferred[SumResult] {
		mu.Lock()
		defer mu.Unlock()
		sums = append(sums, a.B)
		if a.B == 83 && slices.Index(sums, 83) == len(sums)-1 {
			p.Transport().AbortConnection()
			return deferred.New[SumResult]() // never answered: lost with the connection
		}
		return deferred.Succeed(SumResult{a.A + a.B})
	})
	ln, err := r.ListenTCP("127.0.0.1:0", amp.NewFactory(rs, amp.WithLogger(zerolog.Nop())))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	code, stdout, stderr := runMain(t, "-call", ln.Addr().String(), "-count", "5", "-every", "10ms", "-retries", "20", "-loops", strconv.Itoa(loops))
	_ = r.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for k := 1; k <= 5; k++ {
		want.WriteString(calculatorRound(k))
	}
	if code != 0 || stdout != want.String() {
		t.Fatalf("exit status %d, stdout:\n%s\nwant:\n%s\nstderr:\n%s", code, stdout, want.String(), stderr)
	}
	if !strings.Contains(stderr, "round lost with the connection") || !strings.Contains(stderr, "round=3") {
		t.Errorf("the caller did not say round 3 was lost:\n%s", stderr)
	}
	if want := []int64{81, 82, 83, 83, 84, 85}; !slices.Equal(sums, want) {
		t.Errorf("the server got Sums with b = %v, want %v (round 3 twice)", sums, want)
	}
}
