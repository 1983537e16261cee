package reactor

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// Twisted's DatagramProtocol client against our UDP echo port: 10,000
// datagrams of random sizes up to 1,400 bytes, 64 outstanding, missing ones
// resent, every echo compared byte for byte (the script's exit status).
func TestUDPTwistedClientGetsEveryDatagramEchoedByOurPort(t *testing.T) {
	needTwisted(t)
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		p := listenUDPOn(t, r, lp, "127.0.0.1:0", &udpEchoer{})
		host, port, _ := net.SplitHostPort(p.LocalAddr().String())
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, twistedPython, "testdata/twisted/udp_echo_client.py", host, port, "10000").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "datagrams echoed: 10000 of 10000, bad: 0") {
			t.Fatalf("Twisted client: %v\n%s", err, out)
		}
		t.Logf("%s", strings.TrimSpace(string(out)))
	})
}

// Our connected client against Twisted's DatagramProtocol echo server.
func TestUDPOurConnectedClientTalksToATwistedServer(t *testing.T) {
	needTwisted(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, twistedPython, "testdata/twisted/udp_echo_server.py")
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
	server, err := net.ResolveUDPAddr("udp", "127.0.0.1:"+strings.TrimSpace(lines.Text()))
	if err != nil {
		t.Fatal(err)
	}
	r := startReactor(t, WithLoops(1))
	client := newWindowClient(server, 2000)
	listenUDPOn(t, r, r.Loops()[0], "127.0.0.1:0", client)
	if err := waitChan(t, client.done, "the echoes"); err != nil {
		t.Fatal(err)
	}
}
