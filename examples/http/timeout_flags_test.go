package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// closedAfter dials addr, sends req (if any), reads the response, and
// returns how long after req was sent the server closed the connection.
// The wait is bounded by within: a server still holding the connection
// then fails the test.
func closedAfter(t *testing.T, addr, req string, within time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	br := bufio.NewReader(conn)
	if req != "" {
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		start = time.Now()
	}
	_ = conn.SetReadDeadline(start.Add(within))
	n, err := br.Read(make([]byte, 1))
	if err != io.EOF {
		t.Fatalf("read: %d bytes, %v; want EOF (the server's close) within %v", n, err, within)
	}
	return time.Since(start)
}

// -read-header-timeout and -idle-timeout are the server's: a connection
// that sends nothing is closed no earlier than the first, a kept-alive one
// no earlier than the second after its response. Each close must come
// before the package's default would have closed it (10 s, 60 s), which
// is what shows the flag was applied at all.
func TestTimeoutFlagsSetTheServersTimeouts(t *testing.T) {
	const header, idle = 300 * time.Millisecond, 700 * time.Millisecond
	for _, loops := range []int{1, 2} {
		c := startChild(t, loops, "-read-header-timeout", header.String(), "-idle-timeout", idle.String())
		if d := closedAfter(t, c.addr, "", 9*time.Second); d < header {
			t.Errorf("loops=%d: silent connection closed after %v, before -read-header-timeout %v", loops, d, header)
		}
		if d := closedAfter(t, c.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 30*time.Second); d < idle {
			t.Errorf("loops=%d: idle connection closed after %v, before -idle-timeout %v", loops, d, idle)
		}
		c.terminate(t)
	}
}

func TestNegativeTimeoutFlagsAreUsageErrors(t *testing.T) {
	bin := exampleBinary(t)
	for _, flag := range []string{"-read-header-timeout", "-idle-timeout"} {
		out, err := exec.Command(bin, "-addr", "127.0.0.1:0", flag, "-1s").CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Fatalf("%s -1s: %v, want exit status 2\n%s", flag, err, out)
		}
		if want := "invalid value \"-1s\" for flag " + flag; !strings.Contains(string(out), want) {
			t.Errorf("%s -1s: output lacks %q:\n%s", flag, want, out)
		}
	}
}
