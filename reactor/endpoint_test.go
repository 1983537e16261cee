package reactor

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// Server endpoint strings as Twisted's serverFromString reads them.
func TestParseServerEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ServerEndpoint
	}{
		{"tcp:8080", ServerEndpoint{Type: "tcp", Port: 8080}},
		{"tcp:8080:interface=127.0.0.1:backlog=512", ServerEndpoint{Type: "tcp", Port: 8080, Interface: "127.0.0.1", Backlog: 512}},
		{"tcp:port=80:interface=\\:\\:1", ServerEndpoint{Type: "tcp", Port: 80, Interface: "::1"}},
		{"tcp:backlog=5:port=0", ServerEndpoint{Type: "tcp", Port: 0, Backlog: 5}},
		{"unix:/run/app.sock:mode=660", ServerEndpoint{Type: "unix", Path: "/run/app.sock", Mode: 0o660}},
		{"unix:address=/tmp/a\\:b.sock:backlog=64:lockfile=1", ServerEndpoint{Type: "unix", Path: "/tmp/a:b.sock", Backlog: 64}},
		{"tls:8443:privateKey=key.pem:certKey=cert.pem:interface=127.0.0.1", ServerEndpoint{Type: "tls", Port: 8443, Interface: "127.0.0.1", KeyFile: "key.pem", CertFile: "cert.pem"}},
		{"ssl:443:privateKey=both.pem", ServerEndpoint{Type: "ssl", Port: 443, KeyFile: "both.pem", CertFile: "both.pem"}},
	} {
		got, err := ParseServerEndpoint(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if *got != tc.want {
			t.Errorf("%q = %+v, want %+v", tc.in, *got, tc.want)
		}
	}
}

// Client endpoint strings as Twisted's clientFromString reads them.
func TestParseClientEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ClientEndpoint
	}{
		{"tcp:host=example.internal:port=443:timeout=5", ClientEndpoint{Type: "tcp", Host: "example.internal", Port: 443, Timeout: 5 * time.Second}},
		{"tcp:example.internal:443", ClientEndpoint{Type: "tcp", Host: "example.internal", Port: 443}},
		{"tcp:host=\\:\\:1:port=7000:timeout=0.25", ClientEndpoint{Type: "tcp", Host: "::1", Port: 7000, Timeout: 250 * time.Millisecond}},
		{"unix:path=/run/app.sock:timeout=2", ClientEndpoint{Type: "unix", Path: "/run/app.sock", Timeout: 2 * time.Second}},
		{"unix:/run/app.sock", ClientEndpoint{Type: "unix", Path: "/run/app.sock"}},
		{"tls:example.internal:443:trustRoots=/etc/ca.pem", ClientEndpoint{Type: "tls", Host: "example.internal", Port: 443, TrustRoots: "/etc/ca.pem"}},
	} {
		got, err := ParseClientEndpoint(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if *got != tc.want {
			t.Errorf("%q = %+v, want %+v", tc.in, *got, tc.want)
		}
	}
}

// A malformed string gets an error that names the bad field.
func TestMalformedEndpointsNameTheBadField(t *testing.T) {
	for _, tc := range []struct {
		in, field string
		client    bool
	}{
		{"", "type", false},
		{"port=80", "type", false},
		{"udp:53", "type", false},
		{"tcp", "port", false},
		{"tcp:http", "port", false},
		{"tcp:70000", "port", false},
		{"tcp:80:interface=localhost", "interface", false},
		{"tcp:80:backlog=-1", "backlog", false},
		{"tcp:80:backlog=lots", "backlog", false},
		{"tcp:80:colour=blue", "colour", false},
		{"tcp:80:port=81", "port", false},
		{"tcp:80:81", "argument 2", false},
		{"tcp:interface=127.0.0.1:80", "argument 2", false},
		{"tcp:80:=x", "argument 2", false},
		{"tcp:80\\", "argument 1", false},
		{"unix:", "address", false},
		{"unix:/s:mode=999", "mode", false},
		{"unix:/s:mode=rw", "mode", false},
		{"unix:/s:lockfile=yes", "lockfile", false},
		{"tcp:port=443", "host", true},
		{"tcp:host=a b:port=443", "host", true},
		{"tcp:host=example.internal", "port", true},
		{"tcp:host=example.internal:port=443:timeout=soon", "timeout", true},
		{"tcp:host=example.internal:port=443:timeout=-1", "timeout", true},
		{"tcp:host=x:port=1:backlog=5", "backlog", true},
		{"unix:timeout=1", "path", true},
		{"ssl:host=x:port=1", "type", true},
		{"tls:443", "privateKey", false},
		{"tls:443:privateKey=k.pem:certKey=", "certKey", false},
		{"tcp:443:privateKey=k.pem", "privateKey", false},
		{"tcp:host=x:port=1:trustRoots=ca.pem", "trustRoots", true},
		{"tls:host=x:port=1:trustRoots=", "trustRoots", true},
	} {
		var err error
		if tc.client {
			_, err = ParseClientEndpoint(tc.in)
		} else {
			_, err = ParseServerEndpoint(tc.in)
		}
		var ee *EndpointError
		if !errors.As(err, &ee) || !errors.Is(err, ErrBadEndpoint) {
			t.Errorf("%q: %v, want an *EndpointError", tc.in, err)
			continue
		}
		if ee.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: %v names field %q, want %q", tc.in, err, ee.Field, tc.field)
		}
	}
}

// A server endpoint listens and a client endpoint connects, on real
// loopback sockets, TCP (the client by host name) and Unix (with the mode
// applied to the socket file).
func TestEndpointsListenAndConnect(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		ln, err := r.ListenEndpoint("tcp:0:interface=127.0.0.1:backlog=512", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ce, err := ParseClientEndpoint("tcp:host=localhost:port=" + strconv.Itoa(port) + ":timeout=5")
		if err != nil {
			t.Fatal(err)
		}
		cp := &clientProto{got: make(chan string, 1)}
		var d *deferred.Deferred[protocol.Protocol]
		onLoop(t, r, func() { d = ce.Connect(r.Loops()[0], protocolFactory(cp)) })
		if _, err := await(t, d); err != nil {
			t.Fatal(err)
		}
		if got := <-cp.got; got != "ping" {
			t.Fatalf("tcp endpoint echo: %q", got)
		}

		path := filepath.Join(t.TempDir(), "e.sock")
		uln, err := r.ListenEndpoint("unix:"+escapeEndpoint(path)+":mode=660", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		defer uln.Close()
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 {
			t.Fatalf("socket file mode %v (%v), want 0660", fi.Mode().Perm(), err)
		}
		ucp := &clientProto{got: make(chan string, 1)}
		ue, err := ParseClientEndpoint("unix:path=" + escapeEndpoint(path) + ":timeout=5")
		if err != nil {
			t.Fatal(err)
		}
		onLoop(t, r, func() { d = ue.Connect(r.Loops()[0], protocolFactory(ucp)) })
		if _, err := await(t, d); err != nil {
			t.Fatal(err)
		}
		if got := <-ucp.got; got != "ping" {
			t.Fatalf("unix endpoint echo: %q", got)
		}
	})
}

// FuzzParseEndpoint: the parsers never panic, every error is an
// *EndpointError, and what parses prints to a string that parses back to
// the same endpoint.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{
		"tcp:8080", "tcp:8080:interface=127.0.0.1:backlog=512", "tcp:port=80:interface=\\:\\:1",
		"tcp:host=example.internal:port=443:timeout=5", "tcp:example.internal:443",
		"unix:/run/app.sock:mode=660", "unix:path=/run/app.sock:timeout=2", "unix:a\\=b",
		"tcp:80:=x", "tcp:\\", "::::", "tls:443:privateKey=k\\:1.pem", "tls:h:1:trustRoots=ca.pem", "tcp:host=a=b:port=1", "tcp:1e3", "tcp:host=x:port=1:timeout=1e-9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if e, err := ParseServerEndpoint(s); err != nil {
			var ee *EndpointError
			if !errors.As(err, &ee) {
				t.Fatalf("%q: error %v is not an *EndpointError", s, err)
			}
		} else {
			again, err := ParseServerEndpoint(e.String())
			if err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("%q parsed to %+v, printed %q, reparsed to %+v (%v)", s, e, e.String(), again, err)
			}
		}
		if e, err := ParseClientEndpoint(s); err != nil {
			var ee *EndpointError
			if !errors.As(err, &ee) {
				t.Fatalf("%q: error %v is not an *EndpointError", s, err)
			}
		} else {
			again, err := ParseClientEndpoint(e.String())
			if err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("%q parsed to %+v, printed %q, reparsed to %+v (%v)", s, e, e.String(), again, err)
			}
		}
	})
}

// A tls endpoint listens with its key pair and a tls client endpoint,
// trusting the CA file it names, connects to it by host name.
func TestTLSEndpointsListenAndConnect(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		pki := getTLSPKI(t)
		cert := pki.goodCert(t)
		dir := t.TempDir()
		keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		var chain []byte
		for _, c := range cert.Certificate {
			chain = append(chain, tlsPEM("CERTIFICATE", c)...)
		}
		for name, data := range map[string][]byte{"key.pem": tlsPEM("PRIVATE KEY", keyDER), "cert.pem": chain, "ca.pem": pki.caPEM} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		r := startReactor(t, WithLoops(loops))
		ln, err := r.ListenEndpoint("tls:0:interface=127.0.0.1:privateKey="+escapeEndpoint(filepath.Join(dir, "key.pem"))+":certKey="+escapeEndpoint(filepath.Join(dir, "cert.pem")), echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		ce, err := ParseClientEndpoint("tls:host=localhost:port=" + itoa(ln.Addr().(*net.TCPAddr).Port) + ":timeout=10:trustRoots=" + escapeEndpoint(filepath.Join(dir, "ca.pem")))
		if err != nil {
			t.Fatal(err)
		}
		cp := &clientProto{got: make(chan string, 1)}
		var d *deferred.Deferred[protocol.Protocol]
		onLoop(t, r, func() { d = ce.Connect(r.Loops()[0], protocolFactory(cp)) })
		if _, err := await(t, d); err != nil {
			t.Fatal(err)
		}
		if got := <-cp.got; got != "ping" {
			t.Fatalf("tls endpoint echo: %q", got)
		}
	})
}
