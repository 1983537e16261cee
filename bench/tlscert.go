package main

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mustaine/mustaine/internal/testpki"
)

// tlsFiles are the PEM certificate and key every TLS target is started
// with (-tls-cert, -tls-key), so all of them do the same crypto.
type tlsFiles struct{ Cert, Key string }

// writeTLSCert writes a self-signed ECDSA P-256 certificate for 127.0.0.1
// and localhost, valid for a day, and its key into dir. P-256 is what
// crypto/tls and most public servers sign with; the clients do not verify
// it (wrk never does, and the Go clients skip it to keep the load
// generator's CPU for the load), but they do check the handshake's
// signature, which InsecureSkipVerify does not skip.
func writeTLSCert(dir string) (tlsFiles, error) {
	f := tlsFiles{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	_, err := testpki.WriteSelfSigned(f.Cert, f.Key, time.Now().Add(24*time.Hour), "127.0.0.1", "localhost")
	return f, err
}

// benchClientTLS is the Go clients' config: TLS 1.3 only (a server that
// cannot do it fails the probe), HTTP/1.1 through ALPN, no session cache
// (every handshake is a full one), and the key share -tls-keyshare names.
func benchClientTLS(keyShare string) (*tls.Config, error) {
	c := &tls.Config{
		InsecureSkipVerify: true, // self-signed; see writeTLSCert
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{"http/1.1"},
	}
	switch keyShare {
	case "x25519mlkem768", "":
		// Go's default preferences: X25519MLKEM768 and X25519 shares.
	case "x25519":
		c.CurvePreferences = []tls.CurveID{tls.X25519}
	default:
		return nil, fmt.Errorf("%w: unknown key share %q", errUsage, keyShare)
	}
	return c, nil
}

// checkTLS13 fails unless c negotiated TLS 1.3 and HTTP/1.1 (or no ALPN).
func checkTLS13(c *tls.Conn) error {
	st := c.ConnectionState()
	if st.Version != tls.VersionTLS13 {
		return fmt.Errorf("%w: negotiated %s, not TLS 1.3", errProbe, tls.VersionName(st.Version))
	}
	if p := st.NegotiatedProtocol; p != "" && p != "http/1.1" {
		return fmt.Errorf("%w: ALPN chose %q, not http/1.1", errProbe, p)
	}
	return nil
}
