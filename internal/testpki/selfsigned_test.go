package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"
)

// The pair loads as crypto/tls loads -tls-cert/-tls-key, and a pool with
// the certificate trusts it for each of its hosts, and for no other.
func TestWriteSelfSignedLoadsAndVerifiesForItsHosts(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert, err := WriteSelfSigned(certFile, keyFile, time.Now().Add(time.Hour), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatalf("LoadX509KeyPair: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("Verify for %s: %v", host, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "example.com"}); err == nil {
		t.Error("verified for example.com, a host it does not name")
	}
	again, err := WriteSelfSigned(certFile, keyFile, time.Now().Add(time.Hour), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if again.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}
