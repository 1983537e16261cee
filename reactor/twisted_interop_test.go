package reactor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// twistedPython is Debian's Python, which python3-twisted installs into.
const twistedPython = "/usr/bin/python3"

func needTwisted(t *testing.T) {
	t.Helper()
	if err := exec.Command(twistedPython, "-c", "import twisted").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-twisted is missing (.ci/run installs it): %v", err)
		}
		t.Skip("python3-twisted not installed")
	}
}

func TestTwistedLineClientGetsEveryLineEchoedByOurServer(t *testing.T) {
	needTwisted(t)
	r := startReactor(t, WithLoops(2))
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, twistedPython, "testdata/twisted/echo_client.py", host, port).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lines echoed: 500") {
		t.Fatalf("Twisted client: %v\n%s", err, out)
	}
}

// twistedChecker sends a payload to a Twisted echo server and collects the
// echo until it has all of it, then closes cleanly.
type twistedChecker struct {
	protocol.Base
	payload []byte
	got     bytes.Buffer
	done    chan error
}

func (c *twistedChecker) ConnectionMade(t protocol.Transport) {
	c.Base.ConnectionMade(t)
	t.Write(c.payload)
}

func (c *twistedChecker) DataReceived(b []byte) {
	c.got.Write(b)
	if c.got.Len() >= len(c.payload) {
		c.Transport.LoseConnection()
	}
}

func (c *twistedChecker) ConnectionLost(reason error) {
	if !bytes.Equal(c.got.Bytes(), c.payload) {
		c.done <- errors.New("echo from Twisted differs")
		return
	}
	c.done <- reason
}

func TestOurClientTalksToATwistedServer(t *testing.T) {
	needTwisted(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, twistedPython, "testdata/twisted/echo_server.py")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatal("the Twisted server printed no port")
	}
	port := strings.TrimSpace(lines.Text())

	r := startReactor(t, WithLoops(1))
	payload := bytes.Repeat([]byte("mustaine<->twisted "), 100000) // 1.9 MB
	checker := &twistedChecker{payload: payload, done: make(chan error, 1)}
	var d *deferred.Deferred[protocol.Protocol]
	onLoop(t, r, func() { d = r.ConnectTCP("127.0.0.1:"+port, protocolFactory(checker), 10*time.Second) })
	if _, err := await(t, d); err != nil {
		t.Fatal(err)
	}
	if reason := <-checker.done; !errors.Is(reason, protocol.ErrConnectionDone) {
		t.Fatalf("ConnectionLost(%v), want a clean close after the whole echo", reason)
	}
	// Twisted saw our close as a clean one.
	if !lines.Scan() || !strings.Contains(lines.Text(), "ConnectionDone") {
		t.Fatalf("Twisted server saw %q, want ConnectionDone", lines.Text())
	}
}
