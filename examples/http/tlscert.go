package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves a PEM key pair from disk and picks up a new one
// without a restart: when the certificate file's modification time has
// changed (checked at most once a second), the pair is loaded again. It is
// tls.Config.GetCertificate, which the reactor calls from the handshake's
// goroutine, never on a loop, so reading files here blocks nobody.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	cr := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := cr.load(); err != nil {
		return nil, err
	}
	return cr, nil
}

func (cr *certReloader) load() error {
	st, err := os.Stat(cr.certFile)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(cr.certFile, cr.keyFile)
	if err != nil {
		return fmt.Errorf("load key pair: %w", err)
	}
	cr.cert, cr.modTime = &cert, st.ModTime()
	return nil
}

// GetCertificate returns the current pair, reloading it if the file
// changed. A pair that fails to load keeps the previous one in service.
func (cr *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if now := time.Now(); now.Sub(cr.checked) >= time.Second {
		cr.checked = now
		if st, err := os.Stat(cr.certFile); err == nil && !st.ModTime().Equal(cr.modTime) {
			cr.load()
		}
	}
	return cr.cert, nil
}

// tlsServerConfig is the config for -tls-cert and -tls-key.
func tlsServerConfig(certFile, keyFile string) (*tls.Config, error) {
	cr, err := newCertReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{GetCertificate: cr.GetCertificate, NextProtos: []string{"http/1.1"}}, nil
}
