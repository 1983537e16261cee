package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// twistedPython is Debian's Python, which python3-twisted installs into.
const twistedPython = "/usr/bin/python3"

var udpAddr = regexp.MustCompile(`udp=(\S+)`)

// startUDPEcho runs main (this test binary re-executed, so with the race
// detector when the test has it) with -udp on a free loopback port and
// returns the TCP and UDP addresses it logged.
func startUDPEcho(t *testing.T, loops string) (tcp, udp string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := mainCommand(ctx, pw, "-addr", "127.0.0.1:0", "-loops", loops, "-udp")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		pr.Close()
	})
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		line := ansiEscape.ReplaceAllString(lines.Text(), "")
		if !strings.Contains(line, "listening") {
			continue
		}
		a, u := listeningAddr.FindStringSubmatch(line), udpAddr.FindStringSubmatch(line)
		if a == nil || u == nil {
			t.Fatalf("listening line without addr= and udp=: %q", line)
		}
		go io.Copy(io.Discard, pr)
		return a[1], u[1]
	}
	t.Fatalf("the server exited before it was listening: %v", lines.Err())
	return "", ""
}

func TestUDPFlagServesUDPOnTheTCPListenersPort(t *testing.T) {
	tcp, udp := startUDPEcho(t, "1")
	_, tcpPort, _ := net.SplitHostPort(tcp)
	_, udpPort, _ := net.SplitHostPort(udp)
	if tcpPort != udpPort || tcpPort == "0" {
		t.Fatalf("TCP on port %s, UDP on port %s: want the same port", tcpPort, udpPort)
	}
	// Both answer on it.
	c, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for attempt := 0; ; attempt++ {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			if string(buf[:n]) != "ping" {
				t.Fatalf("UDP echo %q, want ping", buf[:n])
			}
			break
		}
		if attempt == 20 {
			t.Fatalf("no UDP echo: %v", err)
		}
	}
	tc, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.Write([]byte("pong"))
	if _, err := io.ReadFull(tc, buf[:4]); err != nil || string(buf[:4]) != "pong" {
		t.Fatalf("TCP echo %q, %v", buf[:4], err)
	}
}

// Twisted's DatagramProtocol client sends 10,000 datagrams of random sizes
// up to 1,400 bytes, 64 outstanding, retransmitting any not echoed (UDP may
// lose some, even on loopback), and checks every echo byte for byte.
func TestUDPTwistedClientGetsEveryDatagramEchoed(t *testing.T) {
	if err := exec.Command(twistedPython, "-c", "import twisted").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-twisted is missing (CI must install it): %v", err)
		}
		t.Skip("python3-twisted not installed")
	}
	for _, loops := range []string{"1", "2"} {
		t.Run("loops="+loops, func(t *testing.T) {
			_, udp := startUDPEcho(t, loops)
			host, port, _ := net.SplitHostPort(udp)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, twistedPython, "../../reactor/testdata/twisted/udp_echo_client.py", host, port, "10000").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "datagrams echoed: 10000 of 10000, bad: 0") {
				t.Fatalf("Twisted client: %v\n%s", err, out)
			}
			t.Logf("%s", strings.TrimSpace(string(out)))
		})
	}
}
