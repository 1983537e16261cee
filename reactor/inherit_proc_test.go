package reactor

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// pidEchoFactory serves connections that get this process's pid and a
// newline first, then an echo of what they send: a client can tell which
// process of an upgrade served it. It is a request-response protocol that
// drains like HTTP: a connection asked to drain closes once it has echoed
// something (at once if it already has).
func pidEchoFactory() protocol.Factory {
	greeting := []byte(strconv.Itoa(os.Getpid()) + "\n")
	return protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &pidEchoProto{greeting: greeting} })
}

type pidEchoProto struct {
	protocol.Base
	greeting         []byte
	echoed, draining bool
}

func (p *pidEchoProto) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	t.Write(p.greeting)
}

func (p *pidEchoProto) DataReceived(b []byte) {
	p.Transport.Write(b)
	p.echoed = true
	if p.draining {
		p.Transport.LoseConnection()
	}
}

func (p *pidEchoProto) Drain() {
	p.draining = true
	if p.echoed {
		p.Transport.LoseConnection()
	}
}

// pidEcho connects to addr over network, reads the serving process's pid
// and checks that msg comes back byte for byte.
func pidEcho(network, addr, msg string) (pid int, err error) {
	c, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reading the greeting: %w", err)
	}
	if pid, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
		return 0, fmt.Errorf("greeting %q", line)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return pid, fmt.Errorf("write: %w", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(rd, buf); err != nil {
		return pid, fmt.Errorf("reading the echo: %w", err)
	}
	if string(buf) != msg {
		return pid, fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return pid, nil
}

// helperProc is a test helper process (this test binary running one
// Test...HelperProcess) and whatever it starts, all writing to one pipe.
type helperProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	more  chan struct{} // signalled on each line
	eof   chan struct{} // closed when every writer (child and grandchildren) is gone
}

// startHelper runs the test binary's helper test named run, with env
// added and extra as descriptors 3, 4, ...; through /bin/sh setting
// LISTEN_PID to the helper's own pid when listenPID is set, as systemd
// does.
func startHelper(t *testing.T, run string, env []string, extra []*os.File, listenPID bool) *helperProc {
	t.Helper()
	args := []string{"-test.run=^" + run + "$", "-test.v"}
	var cmd *exec.Cmd
	if listenPID {
		cmd = exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, os.Args[0]}, args...)...)
	} else {
		cmd = exec.Command(os.Args[0], args...)
	}
	cmd.Env = append(os.Environ(), env...)
	cmd.ExtraFiles = extra
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = wr, wr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	h := &helperProc{cmd: cmd, more: make(chan struct{}, 1), eof: make(chan struct{})}
	go func() {
		defer close(h.eof)
		sc := bufio.NewScanner(rd)
		for sc.Scan() {
			h.mu.Lock()
			h.lines = append(h.lines, sc.Text())
			h.mu.Unlock()
			select {
			case h.more <- struct{}{}:
			default:
			}
		}
		rd.Close()
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("helper output:\n%s", h.output())
		}
	})
	return h
}

func (h *helperProc) output() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.lines, "\n")
}

// waitLine waits for the first line from index from on that matches re
// and returns its submatches and the index after it.
func (h *helperProc) waitLine(t *testing.T, re *regexp.Regexp, from int) ([]string, int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		h.mu.Lock()
		for i := from; i < len(h.lines); i++ {
			if m := re.FindStringSubmatch(h.lines[i]); m != nil {
				h.mu.Unlock()
				return m, i + 1
			}
		}
		from = len(h.lines)
		h.mu.Unlock()
		select {
		case <-h.more:
		case <-h.eof:
			h.mu.Lock()
			n := len(h.lines)
			h.mu.Unlock()
			if n == from {
				t.Fatalf("helper output ended without a line matching %q", re)
			}
		case <-deadline:
			t.Fatalf("no line matching %q within 30s", re)
		}
	}
}

// stopPID sends SIGTERM to pid (a process this test started, directly or
// through an upgrade) and waits for every writer of the pipe to be gone.
func (h *helperProc) stopPID(t *testing.T, pid int) {
	t.Helper()
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-h.eof:
	case <-time.After(30 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d did not stop on SIGTERM", pid)
	}
}
