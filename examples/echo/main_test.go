package main

import (
	"bytes"
	"context"
	"github.com/mustaine/mustaine/internal/exampletest"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
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
func TestFlagsHelperProcess(t *testing.T) { exampletest.HelperProcess(runMainEnv, "echo", main) }

func mainCommand(ctx context.Context, stderr *os.File, args ...string) *exec.Cmd {
	return exampletest.MainCommand(ctx, runMainEnv, stderr, args...)
}

func TestFlagsLoopsBelowOneIsAUsageError(t *testing.T) {
	exampletest.CheckLoopsBelowOneIsAUsageError(t, runMainEnv)
}

func TestFlagsMalformedLoopsIsAUsageError(t *testing.T) {
	exampletest.CheckMalformedLoopsIsAUsageError(t, runMainEnv)
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
