package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The flag tests run main in a child process (this test binary, re-executed
// with runMainEnv set), so that they see its exit status and its stderr as
// a user does.

const runMainEnv = "MUSTAINE_ECHO_RUN_MAIN"

// loopbackAddr finds the address in the listening line.
var loopbackAddr = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

// TestFlagsHelperProcess is not a test: in the child process it runs main
// with the arguments after "--".
func TestFlagsHelperProcess(t *testing.T) {
	if os.Getenv(runMainEnv) != "1" {
		return
	}
	i := slices.Index(os.Args, "--")
	os.Args = append([]string{"echo"}, os.Args[i+1:]...)
	flag.CommandLine = flag.NewFlagSet("echo", flag.ExitOnError)
	main()
	os.Exit(0)
}

// mainCommand returns the command that runs main with args, its stderr
// going to stderr. NO_COLOR is cleared, so that only the program decides
// about colour.
func mainCommand(ctx context.Context, stderr *os.File, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestFlagsHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "NO_COLOR=")
	cmd.Stderr = stderr
	return cmd
}

// runMain runs main with args to completion and returns its exit status
// and stderr. A server that does not exit within a minute is killed, which
// the caller sees as a status other than the one it wants.
func runMain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := os.Create(t.TempDir() + "/stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = mainCommand(ctx, f, args...).Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if exit != nil {
		return exit.ExitCode(), string(out)
	}
	return 0, string(out)
}

func TestFlagsLoopsBelowOneIsAUsageError(t *testing.T) {
	for _, loops := range []string{"0", "-1"} {
		code, stderr := runMain(t, "-addr", "127.0.0.1:0", "-loops", loops)
		if code != 2 {
			t.Errorf("-loops %s: exit status %d, want 2 (as for a flag error)\n%s", loops, code, stderr)
		}
		if want := `invalid value "` + loops + `" for flag -loops: must be at least 1`; !strings.Contains(stderr, want) {
			t.Errorf("-loops %s: stderr does not say %q:\n%s", loops, want, stderr)
		}
		if !strings.Contains(stderr, "Usage") || strings.Contains(stderr, "server listening") {
			t.Errorf("-loops %s: want the usage and no server:\n%s", loops, stderr)
		}
	}
}

func TestFlagsMalformedLoopsIsAUsageError(t *testing.T) {
	// The reference -loops 0 is measured against: the flag package's own
	// handling of a bad value.
	code, stderr := runMain(t, "-loops", "two")
	if code != 2 || !strings.Contains(stderr, `invalid value "two" for flag -loops`) {
		t.Fatalf("-loops two: exit status %d, stderr:\n%s", code, stderr)
	}
}

func TestFlagsLogHasNoColourWhenStderrIsAFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := os.Create(t.TempDir() + "/stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := mainCommand(ctx, f, "-addr", "127.0.0.1:0", "-loops", "1", "-v")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once an echo comes back, Run has started, and with it the SIGTERM
	// handling; then stop the server as a user does, so that the shutdown
	// lines are logged too. Polling for the listening line only waits: the
	// outcome does not depend on how long anything takes.
	var addr string
	for addr == "" && ctx.Err() == nil {
		out, _ := os.ReadFile(f.Name())
		if bytes.Contains(out, []byte("server listening")) {
			addr = string(loopbackAddr.Find(out))
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("dial %q: %v", addr, err)
	}
	conn.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 4)
	_, err = conn.Write([]byte("ping"))
	if err == nil {
		_, err = io.ReadFull(conn, buf)
	}
	conn.Close()
	if err != nil || string(buf) != "ping" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no echo from %s: %q, %v", addr, buf, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("echo did not stop cleanly on SIGTERM: %v", err)
	}
	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("server listening")) || !bytes.Contains(out, []byte("stopped")) {
		t.Fatalf("log lacks the listening and stopped lines:\n%s", out)
	}
	if i := bytes.IndexByte(out, 0x1b); i >= 0 {
		t.Fatalf("log written to a file holds an ESC byte at %d (colour codes):\n%q", i, out)
	}
}
