package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mustaine/mustaine/internal/testpki"
)

// TestTLSFlagsServeTLSWithHalfClose: -tls-cert and -tls-key serve TLS on
// -addr; a client that sends 1 MiB and half-closes with close_notify gets
// the whole echo, then the server's close_notify (a clean EOF); so does
// Twisted's TLS client half-closing the same way.
func TestTLSFlagsServeTLSWithHalfClose(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	leaf, err := testpki.WriteSelfSigned(certFile, keyFile, time.Now().Add(time.Hour), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logFile := filepath.Join(dir, "stderr")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFlagsHelperProcess$", "--",
		"-addr", "127.0.0.1:0", "-loops", "2", "-tls-cert", certFile, "-tls-key", keyFile)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	var addr string
	for addr == "" && ctx.Err() == nil {
		out, _ := os.ReadFile(logFile)
		if bytes.Contains(out, []byte("server listening")) {
			addr = string(loopbackAddr.Find(out))
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("dial %q: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	go func() {
		c.Write(payload)
		c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo: %d of %d bytes, %v", len(got), len(payload), err)
	}

	// Twisted's TLS client (pyOpenSSL), half-closing with close_notify
	// right after its data, gets the whole echo too.
	const python = "/usr/bin/python3" // Debian's, where python3-twisted installs
	if err := exec.Command(python, "-c", "import twisted, OpenSSL").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-twisted and python3-openssl are missing (CI installs them): %v", err)
		}
		t.Log("Twisted or pyOpenSSL not installed: Twisted half-close skipped")
		return
	}
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.CommandContext(ctx, python, "../../reactor/testdata/twisted/tls_client.py", "halfclose", host, port, certFile).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("ok")) {
		t.Fatalf("Twisted half-close: %v\n%s", err, out)
	}
}
