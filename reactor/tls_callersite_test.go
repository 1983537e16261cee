package reactor_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mustaine/mustaine/internal/testpki"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

//go:noinline
func abandonConnectTLS(r *reactor.Reactor, addr string) {
	r.ConnectTLS(addr, &tls.Config{RootCAs: x509.NewCertPool()}, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }), 0)
}

//go:noinline
func abandonConnectTLSOn(lp protocol.Loop, r *reactor.Reactor, addr string) {
	r.ConnectTLSOn(lp, addr, &tls.Config{RootCAs: x509.NewCertPool()}, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }), 0)
}

//go:noinline
func abandonConnectUnixTLS(r *reactor.Reactor, path string) {
	r.ConnectUnixTLS(path, &tls.Config{ServerName: "x"}, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }), 0)
}

// untrustedTLSServer is a crypto/tls server with a certificate from a CA
// no client here trusts; it completes no handshake.
func untrustedTLSServer(t *testing.T) string {
	t.Helper()
	ca, err := testpki.NewCA("untrusted")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Valid("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// The unhandled-error report of a Deferred made by ConnectTLS,
// ConnectTLSOn or ConnectUnixTLS names the user's line that called the
// library, as ConnectTCP's does: for a bad address, a loop of another
// reactor, a refused connect and a failed handshake.
func TestTLSConnectDeferredsReportTheCallersSite(t *testing.T) {
	reports := captureUnhandledSites(t)
	r, other := runSiteReactor(t), runSiteReactor(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	untrusted := untrustedTLSServer(t)
	noSocket := filepath.Join(t.TempDir(), "none.sock")
	lp := r.Loops()[0]
	for _, tc := range []struct {
		name, helper string
		run          func()
	}{
		{"bad address", "abandonConnectTLSOn", func() { abandonConnectTLSOn(lp, r, "not an address") }},
		{"foreign loop", "abandonConnectTLSOn", func() { abandonConnectTLSOn(other.Loops()[0], r, refused) }},
		{"refused", "abandonConnectTLS", func() { abandonConnectTLS(r, refused) }},
		{"handshake", "abandonConnectTLSOn", func() { abandonConnectTLSOn(lp, r, untrusted) }},
		{"unix", "abandonConnectUnixTLS", func() { abandonConnectUnixTLS(r, noSocket) }},
	} {
		r.CallFromThread(tc.run)
		at := awaitSite(t, reports, tc.helper)
		if !strings.Contains(at, "tls_callersite_test.go:") {
			t.Errorf("%s: creation site %q is not in the test file", tc.name, at)
		}
	}
}
