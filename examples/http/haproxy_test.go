package main

import (
	"bufio"
	"context"
	"fmt"
	"github.com/mustaine/mustaine/internal/exampletest"
	"io"
	"net"
	nethttp "net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startProxyChild runs the example binary with -proxy-protocol.
func startProxyChild(t *testing.T, loops int) (addr string) {
	t.Helper()
	stderr := &exampletest.Buffer{}
	cmd := exec.Command(exampleBinary(t), "-addr", "127.0.0.1:0", "-loops", fmt.Sprint(loops), "-proxy-protocol")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			stderr.Write([]byte(sc.Text() + "\n"))
			if m := listenAddr.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pipe)
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // by PID: only the child this test started
		<-exited
		if t.Failed() {
			t.Logf("example server's log:\n%s", stderr)
		}
	})
	select {
	case addr = <-found:
	case <-exited:
		t.Fatalf("server exited before listening:\n%s", stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not report its address:\n%s", stderr)
	}
	return addr
}

// startHAProxy runs haproxy in the foreground in front of backend, its
// server line ending with sendProxy, and returns its frontend address.
func startHAProxy(t *testing.T, backend, sendProxy string) string {
	t.Helper()
	bin := peer(t, "haproxy")
	frontFile, front := frontSocket(t)
	cfg := fmt.Sprintf(`global
    maxconn 100

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind fd@3
    default_backend be

backend be
    server s1 %s %s
`, backend, sendProxy)
	runHAProxy(t, bin, cfg, frontFile)
	return front
}

// whoamiThrough GETs /whoami through front and returns the answer and the
// client socket's own address, which HAProxy saw as the client's.
func whoamiThrough(t *testing.T, front string) (got, client string) {
	t.Helper()
	tr := &nethttp.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			client = c.LocalAddr().String()
		}
		return c, err
	}}
	defer tr.CloseIdleConnections()
	cl := &nethttp.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := cl.Get("http://" + front + "/whoami")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /whoami: %d %q %v", resp.StatusCode, body, err)
	}
	return strings.TrimSpace(string(body)), client
}

// TestHAProxySendsClientAddressThroughPROXYProtocol puts a real HAProxy in
// front of the example with -proxy-protocol: /whoami must name the
// client's own socket address (the one HAProxy accepted), not HAProxy's
// connection to the backend. The v2 variant also has HAProxy's health
// checks send PROXY v2 LOCAL headers to the backend.
func TestHAProxySendsClientAddressThroughPROXYProtocol(t *testing.T) {
	peer(t, "haproxy")
	for _, v := range []struct{ name, server string }{
		{"v1", "send-proxy"},
		{"v2", "send-proxy-v2"},
		{"v2 with LOCAL health checks", "send-proxy-v2 check check-send-proxy inter 100ms"},
	} {
		for _, loops := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/loops=%d", v.name, loops), func(t *testing.T) {
				backend := startProxyChild(t, loops)
				front := startHAProxy(t, backend, v.server)
				for range 3 {
					got, client := whoamiThrough(t, front)
					if got != client {
						t.Fatalf("/whoami through HAProxy = %q, want the client's address %q", got, client)
					}
				}
			})
		}
	}
}

// TestProxyProtocolFlagRefusesDirectClients: with -proxy-protocol a client
// that connects without a header (and without HAProxy) is closed, not
// served.
func TestProxyProtocolFlagRefusesDirectClients(t *testing.T) {
	backend := startProxyChild(t, 1)
	resp, err := nethttp.Get("http://" + backend + "/whoami")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("direct GET answered %d, want the connection closed", resp.StatusCode)
	}
}
