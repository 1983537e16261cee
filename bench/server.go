package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// errServerExited reports a server process that ended while it should
// have been serving.
var errServerExited = errors.New("server exited")

// server is one running server process, started and stopped by PID.
type server struct {
	cmd  *exec.Cmd
	Pid  int
	Addr string
	done chan struct{} // closed once the process has been reaped
	err  error         // Wait's result, valid after done is closed
	out  *tailBuffer
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago. The tiny race with other programs is acceptable on a bench machine.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// startServer starts bin listening on addr with the given loop count and
// extra flags (-tls-cert, -tls-key), prefixed by pin (taskset) when pin
// is not empty.
func startServer(bin string, pin []string, addr string, loops int, extra ...string) (*server, error) {
	argv := append(append([]string{}, pin...), bin, "-addr", addr, "-loops", strconv.Itoa(loops))
	return startCommand(append(argv, extra...), addr)
}

// startCommand starts the server argv (pin included) that listens on addr.
func startCommand(argv []string, addr string) (*server, error) {
	bin := argv[0]
	cmd := exec.Command(argv[0], argv[1:]...)
	out := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	// taskset execs the server in place, so the PID is the server's; the
	// parent-death signal kills it even if the harness itself is killed.
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &server{cmd: cmd, Pid: cmd.Process.Pid, Addr: addr, done: make(chan struct{}), out: out}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// exited reports whether the process has ended.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// exitError describes how the server ended, with the end of its output.
func (s *server) exitError() error {
	return fmt.Errorf("%w (%v): %s", errServerExited, s.err, tail(s.out.String(), 400))
}

// waitListening polls until the server accepts a TCP connection, the
// process exits, or timeout passes.
func (s *server) waitListening(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if s.exited() {
			return s.exitError()
		}
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v: %w", s.Addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the server: SIGTERM, then SIGKILL if it is still there after
// grace. Signals go to this PID only.
func (s *server) stop(grace time.Duration) {
	if s.exited() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// tailBuffer keeps the last max bytes written to it: enough of a server's
// output to explain a failure without holding a chatty log.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

// Write appends p and drops what exceeds the bound from the front.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// String returns the kept bytes.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
