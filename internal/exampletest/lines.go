package exampletest

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Lines is the output, stdout and stderr together, of a process and of
// every process it starts that keeps them (a server that upgrades itself
// hands them to its successor), read line by line until the last of them
// is gone. Unlike exec.Cmd's StderrPipe, it never closes the reading end
// while a writer remains, which would kill a successor with SIGPIPE.
type Lines struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{} // signalled on each line
	done  chan struct{} // closed once every writer is gone
}

// StartLines starts cmd with its stdout and stderr going to a new Lines.
// When the test fails, the output is logged.
func StartLines(t *testing.T, cmd *exec.Cmd) *Lines {
	t.Helper()
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = wr, wr
	err = cmd.Start()
	wr.Close()
	if err != nil {
		rd.Close()
		t.Fatal(err)
	}
	l := &Lines{more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(rd)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.mu.Unlock()
			select {
			case l.more <- struct{}{}:
			default:
			}
		}
		rd.Close()
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output of %s:\n%s", cmd.Path, l)
		}
	})
	return l
}

// String returns the lines so far.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// Done is closed once every process writing the output is gone.
func (l *Lines) Done() <-chan struct{} { return l.done }

// Wait waits up to 30 seconds for the first line from index from on that
// matches re, and returns its submatches and the index after it; the test
// fails if none comes.
func (l *Lines) Wait(t *testing.T, re *regexp.Regexp, from int) ([]string, int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if m := re.FindStringSubmatch(l.lines[i]); m != nil {
				l.mu.Unlock()
				return m, i + 1
			}
		}
		from = len(l.lines)
		l.mu.Unlock()
		select {
		case <-l.more:
		case <-l.done:
			l.mu.Lock()
			n := len(l.lines)
			l.mu.Unlock()
			if n == from {
				t.Fatalf("output ended without a line matching %q", re)
			}
		case <-deadline:
			t.Fatalf("no line matching %q within 30s", re)
		}
	}
}

// StopPID sends SIGTERM to pid, a process the test started (directly, or
// through an upgrade of one it started), and waits up to 30 seconds for
// every writer of the output to be gone; past that it kills pid and fails.
func (l *Lines) StopPID(t *testing.T, pid int) {
	t.Helper()
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-l.done:
	case <-time.After(30 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d did not stop on SIGTERM within 30s", pid)
	}
}

// WaitExit waits up to 30 seconds for cmd, started by the test, to exit,
// and returns cmd.Wait's answer (nil for exit status 0); past that it
// kills cmd and fails.
func WaitExit(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		cmd.Process.Kill() // by PID
		<-done
		t.Fatalf("process %d did not exit within 30s", cmd.Process.Pid)
		return nil
	}
}
