package reactor

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/http"
)

// tlsNeedTool skips when a command-line tool is missing here; in CI (where
// .ci/run installs it) a missing tool fails the test.
func tlsNeedTool(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI must install it): %v", path, err)
		}
		t.Skipf("%s not installed", path)
	}
}

// tlsWriteCAFile writes the test CA's certificate for external clients.
func tlsWriteCAFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, getTLSPKI(t).caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func tlsRunTool(t *testing.T, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// tlsLineCloser echoes and closes (with close_notify) after the first
// newline it echoed.
func tlsLineCloser() protocol.Protocol {
	return &protocol.Funcs{OnData: func(t protocol.Transport, b []byte) {
		t.Write(b)
		if bytes.IndexByte(b, '\n') >= 0 {
			t.LoseConnection()
		}
	}}
}

// TestTLSInteropOpenSSLClient: openssl s_client verifies our certificate,
// negotiates TLS 1.2 and 1.3 with ALPN http/1.1, gets its line echoed and
// sees our close.
func TestTLSInteropOpenSSLClient(t *testing.T) {
	tlsNeedTool(t, "openssl")
	ca := tlsWriteCAFile(t)
	r := startReactor(t, WithLoops(2))
	cfg := tlsServerConfig(t, 0)
	cfg.NextProtos = []string{"http/1.1"}
	ln, err := r.ListenTLS("127.0.0.1:0", cfg, tlsFactoryFunc(tlsLineCloser))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ flag, name string }{{"-tls1_2", "TLSv1.2"}, {"-tls1_3", "TLSv1.3"}} {
		out, err := tlsRunTool(t, "hello from openssl\n", "openssl", "s_client", "-connect", ln.Addr().String(),
			"-servername", "localhost", "-CAfile", ca, "-verify_return_error", "-alpn", "http/1.1", v.flag, "-ign_eof")
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", v.flag, err, out)
		}
		for _, want := range []string{"Verify return code: 0 (ok)", "ALPN protocol: http/1.1", "Protocol  : " + v.name, "hello from openssl"} {
			if !strings.Contains(out, want) && !(strings.HasPrefix(want, "Protocol") && strings.Contains(out, ", "+v.name+",")) {
				t.Fatalf("openssl %s output lacks %q:\n%s", v.flag, want, out)
			}
		}
	}
}

// TestTLSInteropOpenSSLRenegotiationRefused: a TLS 1.2 renegotiation asked
// by openssl s_client ("R") is refused with an alert, logged, and the
// connection closed; the server goes on serving.
func TestTLSInteropOpenSSLRenegotiationRefused(t *testing.T) {
	tlsNeedTool(t, "openssl")
	ca := tlsWriteCAFile(t)
	log, logOpt := tlsTestLogger()
	r := startReactor(t, WithLoops(1), logOpt)
	ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), tlsFactoryFunc(tlsLineCloser))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", "s_client", "-connect", ln.Addr().String(), "-servername", "localhost",
		"-CAfile", ca, "-tls1_2")
	stdin, _ := cmd.StdinPipe()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("R\n")) // s_client's renegotiate command; stdin stays open
	err = cmd.Wait()
	stdin.Close()
	if !strings.Contains(out.String(), "RENEGOTIATING") || !strings.Contains(out.String(), "alert unexpected message") {
		t.Fatalf("openssl did not renegotiate (%v):\n%s", err, out.String())
	}
	tlsWaitLog(t, log, "TLS error", "unexpected handshake message")
	// Still serving.
	if out, err := tlsRunTool(t, "again\n", "openssl", "s_client", "-connect", ln.Addr().String(), "-servername", "localhost",
		"-CAfile", ca, "-verify_return_error", "-quiet"); err != nil || !strings.Contains(out, "again") {
		t.Fatalf("second openssl: %v\n%s", err, out)
	}
}

// TestTLSInteropCurl: curl --cacert against an HTTPS server made of
// protocol/http.
func TestTLSInteropCurl(t *testing.T) {
	tlsNeedTool(t, "curl")
	ca := tlsWriteCAFile(t)
	r := startReactor(t, WithLoops(2))
	srv, err := http.NewServer(http.HandlerFunc(func(w *http.ResponseWriter, req *http.Request) {
		w.WriteString("hello curl\n")
	}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := tlsServerConfig(t, 0)
	cfg.NextProtos = []string{"http/1.1"}
	ln, err := r.ListenTLS("127.0.0.1:0", cfg, srv)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, url := range []string{"https://127.0.0.1:" + port + "/", "https://localhost:" + port + "/a"} {
		out, err := tlsRunTool(t, "", "curl", "-sS", "--fail", "--cacert", ca, "--max-time", "30", url, url)
		if err != nil || out != "hello curl\nhello curl\n" {
			t.Fatalf("curl %s: %v\n%s", url, err, out)
		}
	}
}

// TestTLSInteropTwistedClient: Twisted's TLS client (pyOpenSSL) through
// our echo server, once closing after the echo and once half-closing at
// once (its close_notify right after the data: the whole echo still
// arrives before ours), and Twisted's startTLS against our StartTLS server.
func TestTLSInteropTwistedClient(t *testing.T) {
	needTwisted(t)
	if err := exec.Command(twistedPython, "-c", "import OpenSSL").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-openssl is missing (.ci/run installs it): %v", err)
		}
		t.Skip("python3-openssl not installed")
	}
	ca := tlsWriteCAFile(t)
	r := startReactor(t, WithLoops(2))
	echo, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	starttls, err := r.ListenTCP("127.0.0.1:0", startTLSLineServer(t, tlsServerConfig(t, 0), nil))
	if err != nil {
		t.Fatal(err)
	}
	for mode, addr := range map[string]net.Addr{"echo": echo.Addr(), "halfclose": echo.Addr(), "starttls": starttls.Addr()} {
		host, port, _ := net.SplitHostPort(addr.String())
		out, err := tlsRunTool(t, "", twistedPython, "testdata/twisted/tls_client.py", mode, host, port, ca)
		if err != nil || !strings.Contains(out, "ok") {
			t.Fatalf("Twisted %s: %v\n%s", mode, err, out)
		}
	}
}
