package main

import (
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
	nethttp "net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeSelfSigned writes a self-signed pair for 127.0.0.1 with the given
// serial number and returns its certificate.
func writeSelfSigned(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	// The key first: the reloader watches the certificate file.
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// TestHTTPSWithCertificateReload: -tls-cert/-tls-key serve HTTPS on the
// same address, and a renewed pair written over the files is served to new
// connections without a restart.
func TestHTTPSWithCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeSelfSigned(t, certFile, keyFile, 1)
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
	if s, err := serialSeen(roots); err != nil || s != 1 {
		t.Fatalf("first certificate: serial %d, %v", s, err)
	}

	second := writeSelfSigned(t, certFile, keyFile, 2)
	future := time.Now().Add(time.Minute)
	os.Chtimes(certFile, future, future)
	roots.AddCert(second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := serialSeen(roots)
		if err != nil {
			t.Fatal(err)
		}
		if s == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was never served")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
