package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests run main in a child process (this test binary, re-executed
// with runMainEnv set), so that they see its exit status, stdout and
// stderr as a user does.

const runMainEnv = "MUSTAINE_AMP_RUN_MAIN"

var listeningAddr = regexp.MustCompile(`amp server listening addr=(127\.0\.0\.1:[0-9]+)`)

// TestFlagsHelperProcess is not a test: in the child process it runs main
// with the arguments after "--".
func TestFlagsHelperProcess(t *testing.T) {
	if os.Getenv(runMainEnv) != "1" {
		return
	}
	i := slices.Index(os.Args, "--")
	os.Args = append([]string{"amp"}, os.Args[i+1:]...)
	flag.CommandLine = flag.NewFlagSet("amp", flag.ExitOnError)
	main()
	os.Exit(0)
}

func mainCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestFlagsHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "NO_COLOR=")
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
	stderrPath = filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd := mainCommand(context.Background(), append([]string{"-listen", "127.0.0.1:0"}, extra...)...)
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		log, _ := os.ReadFile(stderrPath)
		if m := listeningAddr.FindSubmatch(log); m != nil {
			return string(m[1]), stderrPath
		}
	}
	log, _ := os.ReadFile(stderrPath)
	t.Fatalf("server never logged its address:\n%s", log)
	return "", ""
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
	if err := exec.Command("/usr/bin/python3", "-c", "import twisted.protocols.amp").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-twisted is missing: %v", err)
		}
		t.Skip("python3-twisted not installed")
	}
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
