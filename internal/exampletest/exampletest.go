// Package exampletest runs an example program's main in a child process,
// so that the examples' tests see its exit status and its stderr as a user
// does. The child is the test binary itself, re-executed with an
// environment variable set and the arguments after "--"; each example's
// test file has a TestFlagsHelperProcess that calls HelperProcess.
package exampletest

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// HelperProcess, called from a test named TestFlagsHelperProcess, runs
// main as the program name with the arguments after "--" when env is set
// to "1", and exits; otherwise it does nothing.
func HelperProcess(env, name string, main func()) {
	if os.Getenv(env) != "1" {
		return
	}
	i := slices.Index(os.Args, "--")
	os.Args = append([]string{name}, os.Args[i+1:]...)
	flag.CommandLine = flag.NewFlagSet(name, flag.ExitOnError)
	main()
	os.Exit(0)
}

// MainCommand returns the command that runs main with args in a child,
// its stderr going to stderr. NO_COLOR is cleared, so that only the
// program decides about colour.
func MainCommand(ctx context.Context, env string, stderr *os.File, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestFlagsHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), env+"=1", "NO_COLOR=")
	cmd.Stderr = stderr
	return cmd
}

// RunMain runs main with args to completion and returns its exit status
// and stderr. A program that does not exit within a minute is killed,
// which the caller sees as a status other than the one it wants.
func RunMain(t *testing.T, env string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := os.Create(t.TempDir() + "/stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = MainCommand(ctx, env, f, args...).Run()
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

// CheckLoopsBelowOneIsAUsageError checks that -loops 0 and -1 end the
// program with the flag package's exit status 2, a message naming the
// flag, the usage, and no server.
func CheckLoopsBelowOneIsAUsageError(t *testing.T, env string) {
	t.Helper()
	for _, loops := range []string{"0", "-1"} {
		code, stderr := RunMain(t, env, "-addr", "127.0.0.1:0", "-loops", loops)
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

// CheckMalformedLoopsIsAUsageError checks the reference -loops 0 is
// measured against: the flag package's own handling of a bad value.
func CheckMalformedLoopsIsAUsageError(t *testing.T, env string) {
	t.Helper()
	code, stderr := RunMain(t, env, "-loops", "two")
	if code != 2 || !strings.Contains(stderr, `invalid value "two" for flag -loops`) {
		t.Fatalf("-loops two: exit status %d, stderr:\n%s", code, stderr)
	}
}
