package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	nethttp "net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mustaine/mustaine/internal/testpki"
)

// writeSelfSigned writes a self-signed pair for 127.0.0.1 and returns its
// certificate.
func writeSelfSigned(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	cert, err := testpki.WriteSelfSigned(certFile, keyFile, time.Now().Add(time.Hour), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestHTTPSWithCertificateReload: -tls-cert/-tls-key serve HTTPS on the
// same address, and a renewed pair written over the files is served to new
// connections without a restart.
func TestHTTPSWithCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeSelfSigned(t, certFile, keyFile)
	cfg, err := tlsServerConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig = cfg
	t.Cleanup(func() { tlsConfig = nil })
	_, addr := startServer(t, 2)

	roots := x509.NewCertPool()
	roots.AddCert(first)
	serialSeen := func(roots *x509.CertPool) (int64, error) {
		tr := &nethttp.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&nethttp.Client{Transport: tr, Timeout: 30 * time.Second}).Get("https://" + addr + "/")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "Hello, World!" {
			t.Fatalf("GET /: %d %q", resp.StatusCode, body)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
	}
	if s, err := serialSeen(roots); err != nil || s != first.SerialNumber.Int64() {
		t.Fatalf("first certificate: serial %d, %v", s, err)
	}

	second := writeSelfSigned(t, certFile, keyFile)
	future := time.Now().Add(time.Minute)
	os.Chtimes(certFile, future, future)
	roots.AddCert(second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := serialSeen(roots)
		if err != nil {
			t.Fatal(err)
		}
		if s == second.SerialNumber.Int64() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was never served")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
