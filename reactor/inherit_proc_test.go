package reactor

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/internal/exampletest"
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
// Test...HelperProcess) and the output of it and of what it starts.
type helperProc struct {
	cmd *exec.Cmd
	*exampletest.Lines
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
	return &helperProc{cmd: cmd, Lines: exampletest.StartLines(t, cmd)}
}
