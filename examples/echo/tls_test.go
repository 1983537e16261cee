package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestTLSFlagsServeTLSWithHalfClose: -tls-cert and -tls-key serve TLS on
// -addr; a client that sends 1 MiB and half-closes with close_notify gets
// the whole echo, then the server's close_notify (a clean EOF); so does
// Twisted's TLS client half-closing the same way.
func TestTLSFlagsServeTLSWithHalfClose(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	leaf, _ := x509.ParseCertificate(der)
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
