package reactor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/internal/testpki"
	"github.com/mustaine/mustaine/protocol"
)

// tlsTestPKI is a CA and certificates it signed, made for one test run
// (internal/testpki), failing the test on error.
type tlsTestPKI struct {
	ca    *testpki.CA
	pool  *x509.CertPool
	caPEM []byte
}

var (
	tlsPKIOnce sync.Once
	tlsPKI     *tlsTestPKI
)

func getTLSPKI(t testing.TB) *tlsTestPKI {
	t.Helper()
	tlsPKIOnce.Do(func() {
		ca, err := testpki.NewCA("Mustaine test CA")
		if err != nil {
			panic(err)
		}
		tlsPKI = &tlsTestPKI{ca: ca, pool: ca.Pool, caPEM: tlsPEM("CERTIFICATE", ca.Cert.Raw)}
	})
	return tlsPKI
}

// leaf issues a server certificate for hosts (IPs or DNS names), valid
// from notBefore to notAfter.
func (p *tlsTestPKI) leaf(t testing.TB, notBefore, notAfter time.Time, hosts ...string) tls.Certificate {
	t.Helper()
	cert, err := p.ca.Server(notBefore, notAfter, hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// clientLeaf issues a client certificate.
func (p *tlsTestPKI) clientLeaf(t testing.TB, name string) tls.Certificate {
	t.Helper()
	cert, err := p.ca.Client(name)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// goodCert is valid now for 127.0.0.1 and localhost.
func (p *tlsTestPKI) goodCert(t testing.TB) tls.Certificate {
	return p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "127.0.0.1", "localhost")
}

func tlsServerConfig(t testing.TB, version uint16) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{getTLSPKI(t).goodCert(t)}}
	if version != 0 {
		cfg.MinVersion, cfg.MaxVersion = version, version
	}
	return cfg
}

func tlsClientConfig(t testing.TB) *tls.Config {
	return &tls.Config{RootCAs: getTLSPKI(t).pool}
}

// tlsDialTest dials addr with Go's TLS client trusting the test CA, closes
// the connection when the test ends, and bounds its reads and writes by
// hang (a guard against a hung test, never a measure).
func tlsDialTest(t *testing.T, addr string, hang time.Duration) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, tlsClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(hang))
	return c
}

// tlsVersions and loopCounts make the table every TLS behaviour runs on.
var tlsVersions = []struct {
	name string
	v    uint16
}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}}

func tlsEachLoops(t *testing.T, fn func(t *testing.T, loops int)) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) { fn(t, loops) })
	}
}

// tlsEcho echoes, is half-close aware, and records the negotiated
// version.
type tlsEcho struct {
	protocol.Base
	states chan tls.ConnectionState
}

func (e *tlsEcho) ConnectionMade(t protocol.Transport) {
	e.Base.ConnectionMade(t)
	st, ok := t.(protocol.TLSTransport).ConnectionState()
	if ok && e.states != nil {
		e.states <- st
	}
}

// DataReceived echoes through Writev (even sizes, three pieces) or Write.
func (e *tlsEcho) DataReceived(b []byte) {
	if n := len(b); n%2 == 0 && n >= 4 {
		e.Transport.Writev(b[:n/4], b[n/4:n/2], b[n/2:])
		return
	}
	e.Transport.Write(b)
}
func (e *tlsEcho) ReadConnectionLost() { e.Transport.LoseConnection() }

func tlsRandomBytes(n int, seed uint64) []byte {
	rng := mrand.New(mrand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestTLSEchoGoClientEveryByte: 4 MiB through a TLS echo with Go's
// crypto/tls client, in random-sized writes, both TLS versions, 1 and 2
// loops; the client half-closes with close_notify and reads the echo to a
// clean EOF (the server's close_notify).
func TestTLSEchoGoClientEveryByte(t *testing.T) {
	for _, ver := range tlsVersions {
		t.Run(ver.name, func(t *testing.T) {
			tlsEachLoops(t, func(t *testing.T, loops int) {
				r := startReactor(t, WithLoops(loops))
				states := make(chan tls.ConnectionState, 4)
				ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, ver.v), protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
					return &tlsEcho{states: states}
				}))
				if err != nil {
					t.Fatal(err)
				}
				cfg := tlsClientConfig(t)
				cfg.ServerName = "localhost"
				c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				payload := tlsRandomBytes(4<<20, uint64(loops)+uint64(ver.v))
				writeErr := make(chan error, 1)
				go func() {
					rng := mrand.New(mrand.NewPCG(3, 4))
					rest := payload
					for len(rest) > 0 {
						n := min(len(rest), 1+rng.IntN(40000))
						if _, err := c.Write(rest[:n]); err != nil {
							writeErr <- err
							return
						}
						rest = rest[n:]
					}
					writeErr <- c.CloseWrite()
				}()
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatalf("read: %v (after %d bytes)", err, len(got))
				}
				if err := <-writeErr; err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, payload) {
					t.Fatalf("echo differs: sent %d bytes, got %d", len(payload), len(got))
				}
				st := <-states
				if st.Version != ver.v || !st.HandshakeComplete || st.ServerName != "localhost" {
					t.Fatalf("server's ConnectionState: version %x complete %v SNI %q", st.Version, st.HandshakeComplete, st.ServerName)
				}
			})
		})
	}
}

// tlsCollector is a client Protocol that records what it gets.
type tlsCollector struct {
	protocol.Base
	mu     sync.Mutex
	data   bytes.Buffer
	lost   chan error
	onData func(c *tlsCollector, b []byte)
}

func newTLSCollector() *tlsCollector { return &tlsCollector{lost: make(chan error, 1)} }

func (c *tlsCollector) DataReceived(b []byte) {
	c.mu.Lock()
	c.data.Write(b)
	c.mu.Unlock()
	if c.onData != nil {
		c.onData(c, b)
	}
}
func (c *tlsCollector) ConnectionLost(reason error) { c.lost <- reason }
func (c *tlsCollector) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data.String()
}

func tlsWaitLost(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("ConnectionLost was not called")
		return nil
	}
}

func awaitTLS(t *testing.T, d *deferred.Deferred[protocol.Protocol]) (protocol.Protocol, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return d.Await(ctx)
}

// TestTLSConnectTLSToGoServer: Mustaine's client against a crypto/tls
// server that speaks first, then echoes; the server's close with
// close_notify is a clean peer close, a close without it is reported with
// ErrNoCloseNotify.
func TestTLSConnectTLSToGoServer(t *testing.T) {
	for _, ver := range tlsVersions {
		for _, notify := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/close_notify=%v", ver.name, notify), func(t *testing.T) {
				tlsEachLoops(t, func(t *testing.T, loops int) {
					connectToGoServer(t, loops, ver.v, notify)
				})
			})
		}
	}
}

func connectToGoServer(t *testing.T, loops int, version uint16, notify bool) {
	r := startReactor(t, WithLoops(loops))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsServerConfig(t, version))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		tc := c.(*tls.Conn)
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(tc, "220 hello\r\n"); err != nil {
			srvErr <- err
			return
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(tc, buf); err != nil {
			srvErr <- err
			return
		}
		if _, err := tc.Write(bytes.ToUpper(buf)); err != nil {
			srvErr <- err
			return
		}
		if notify {
			srvErr <- tc.Close()
		} else {
			srvErr <- tc.NetConn().Close()
		}
	}()
	col := newTLSCollector()
	sent := false
	col.onData = func(c *tlsCollector, b []byte) {
		if !sent && strings.HasSuffix(c.data.String(), "\r\n") {
			sent = true
			c.Transport.Write([]byte("howdy"))
		}
	}
	p, err := awaitTLS(t, r.ConnectTLS(ln.Addr().String(), tlsClientConfig(t), protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return col }), 10*time.Second))
	if err != nil {
		t.Fatalf("ConnectTLS: %v", err)
	}
	if p != col {
		t.Fatalf("Deferred fired with %v", p)
	}
	reason := tlsWaitLost(t, col.lost)
	if err := <-srvErr; err != nil {
		t.Fatalf("server: %v", err)
	}
	if got := col.String(); got != "220 hello\r\nHOWDY" {
		t.Fatalf("client got %q", got)
	}
	if !errors.Is(reason, protocol.ErrPeerClosed) {
		t.Fatalf("ConnectionLost(%v), want ErrPeerClosed", reason)
	}
	if errors.Is(reason, ErrNoCloseNotify) == notify {
		t.Fatalf("ConnectionLost(%v): close_notify sent %v", reason, notify)
	}
}

// TestTLSUnixSocketEcho: TLS over a Unix socket, both ends Mustaine.
func TestTLSUnixSocketEcho(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		path := filepath.Join(t.TempDir(), "tls.sock")
		if _, err := r.ListenUnixTLS(path, tlsServerConfig(t, 0), tlsFactoryFunc(func() protocol.Protocol { return &tlsEcho{} })); err != nil {
			t.Fatal(err)
		}
		col := newTLSCollector()
		col.onData = func(c *tlsCollector, b []byte) {
			if c.data.Len() == 6 {
				c.Transport.LoseConnection()
			}
		}
		cfg := tlsClientConfig(t)
		cfg.ServerName = "localhost"
		d := r.ConnectUnixTLS(path, cfg, protocolFactory(col), 10*time.Second)
		p, err := awaitTLS(t, d)
		if err != nil {
			t.Fatal(err)
		}
		onLoop(t, r, func() { p.(*tlsCollector).Transport.Write([]byte("abcdef")) })
		if reason := tlsWaitLost(t, col.lost); !errors.Is(reason, protocol.ErrConnectionDone) {
			t.Fatalf("ConnectionLost(%v)", reason)
		}
		if col.String() != "abcdef" {
			t.Fatalf("got %q", col.String())
		}
	})
}

func tlsFactoryFunc(fn func() protocol.Protocol) protocol.Factory {
	return protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return fn() })
}

// tlsTestLogger captures the reactor's log at info level.
func tlsTestLogger() (*syncBuffer, Option) {
	buf := &syncBuffer{}
	return buf, WithLogger(zerolog.New(buf).Level(zerolog.InfoLevel))
}

func tlsPEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// tlsRawExchange connects with plain TCP, sends msg (then half-closes when
// closeWrite), and reads everything until the server closes.
func tlsRawExchange(t *testing.T, addr string, msg []byte, closeWrite bool) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		c.(*net.TCPConn).CloseWrite()
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return got
}

// tlsWaitLog waits for the log to contain all of want.
func tlsWaitLog(t *testing.T, log *syncBuffer, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := log.String()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", want, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTLSBadClientHello: a first record that is not TLS, and a ClientHello
// cut short by the client's FIN, get a decode_error alert and a close, and
// the reason is logged with the connection's fields; the factory is never
// asked for a Protocol.
func TestTLSBadClientHello(t *testing.T) {
	cases := []struct {
		name, input, reason string
	}{
		{"garbage", "\x00\x01\x02\x03\x04 this is not TLS at all", "does not look like a TLS handshake"},
		{"truncated", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "unexpected EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tlsEachLoops(t, func(t *testing.T, loops int) {
				log, logOpt := tlsTestLogger()
				r := startReactor(t, WithLoops(loops), logOpt)
				var built sync.WaitGroup
				ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), tlsFactoryFunc(func() protocol.Protocol {
					built.Add(1)
					return &tlsEcho{}
				}))
				if err != nil {
					t.Fatal(err)
				}
				got := tlsRawExchange(t, ln.Addr().String(), []byte(tc.input), true)
				if want := []byte{21, 3, 1, 0, 2, 2, 50}; !bytes.Equal(got, want) {
					t.Fatalf("server answered %q, want the decode_error alert %q", got, want)
				}
				tlsWaitLog(t, log, "TLS handshake failed", tc.reason, `"peer":"127.0.0.1:`, `"conn":`)
			})
		})
	}
}

// TestTLSPlainHTTPRequestGets400: a plain HTTP request to a TLS port gets
// net/http's answer, byte for byte, and a close.
func TestTLSPlainHTTPRequestGets400(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		got := tlsRawExchange(t, ln.Addr().String(), []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), false)
		const want = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
		if string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// TestTLSHandshakeTimeout: a client that connects and sends nothing is
// closed, never before the handshake timeout.
func TestTLSHandshakeTimeout(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		const timeout = 300 * time.Millisecond
		log, logOpt := tlsTestLogger()
		r := startReactor(t, WithLoops(loops), WithTLSHandshakeTimeout(timeout), logOpt)
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		// The clock starts before the dial: the server may accept (and
		// start its timer) before Dial returns to this goroutine.
		start := time.Now()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if elapsed := time.Since(start); elapsed < timeout {
			t.Fatalf("closed after %v, before the %v timeout", elapsed, timeout)
		}
		if n != 0 || err != io.EOF {
			t.Fatalf("read %d, %v; want EOF", n, err)
		}
		tlsWaitLog(t, log, "TLS handshake timed out")
	})
}

// TestTLSHandshakeTimeoutFailsConnect: a Mustaine client whose server never
// answers fails with ErrTLSHandshakeTimeout (also protocol.ErrTimeout).
func TestTLSHandshakeTimeoutFailsConnect(t *testing.T) {
	r := startReactor(t, WithLoops(1), WithTLSHandshakeTimeout(200*time.Millisecond))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c) // reads the ClientHello, never answers
			c.Close()
		}
	}()
	start := time.Now()
	_, err = awaitTLS(t, r.ConnectTLS(ln.Addr().String(), tlsClientConfig(t), echoFactory(), 10*time.Second))
	if !errors.Is(err, ErrTLSHandshakeTimeout) || !errors.Is(err, protocol.ErrTimeout) {
		t.Fatalf("ConnectTLS: %v", err)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Fatalf("failed after %v", time.Since(start))
	}
}

// TestTLSConnectBadCertificates: a certificate for another host, an
// expired one, and one from an unknown CA fail ConnectTLS with
// ErrTLSHandshake and the crypto/x509 error, for errors.As; a
// ClientFactory hears ClientConnectionFailed and the Protocol is never
// made.
func TestTLSConnectBadCertificates(t *testing.T) {
	p := getTLSPKI(t)
	now := time.Now()
	cases := []struct {
		name  string
		cert  tls.Certificate
		roots *x509.CertPool
		check func(error) bool
	}{
		{"wrong host", p.leaf(t, now.Add(-time.Hour), now.Add(time.Hour), "example.com"), p.pool,
			func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) }},
		{"expired", p.leaf(t, now.Add(-2*time.Hour), now.Add(-time.Hour), "127.0.0.1"), p.pool,
			func(err error) bool {
				var e x509.CertificateInvalidError
				return errors.As(err, &e) && e.Reason == x509.Expired
			}},
		{"unknown authority", p.goodCert(t), x509.NewCertPool(),
			func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tlsEachLoops(t, func(t *testing.T, loops int) {
				r := startReactor(t, WithLoops(loops))
				ln, err := r.ListenTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tc.cert}}, echoFactory())
				if err != nil {
					t.Fatal(err)
				}
				cf := &tlsHookFactory{}
				_, err = awaitTLS(t, r.ConnectTLS(ln.Addr().String(), &tls.Config{RootCAs: tc.roots}, cf, 10*time.Second))
				if !errors.Is(err, ErrTLSHandshake) || !tc.check(err) {
					t.Fatalf("ConnectTLS: %v", err)
				}
				var events string
				onLoop(t, r, func() { events = strings.Join(cf.events, ",") })
				if events != "started,failed" {
					t.Fatalf("client factory hooks: %s, want started,failed", events)
				}
			})
		})
	}
}

// tlsHookFactory is a ClientFactory that records its hooks (on the loop).
type tlsHookFactory struct {
	events []string
}

func (f *tlsHookFactory) BuildProtocol(net.Addr) protocol.Protocol {
	f.events = append(f.events, "build")
	return &tlsEcho{}
}
func (f *tlsHookFactory) StartedConnecting(net.Addr) { f.events = append(f.events, "started") }
func (f *tlsHookFactory) ClientConnectionFailed(_ net.Addr, err error) {
	f.events = append(f.events, "failed")
}
func (f *tlsHookFactory) ClientConnectionLost(_ net.Addr, err error) {
	f.events = append(f.events, "lost")
}

// TestTLSLoseConnectionSendsCloseNotify: LoseConnection sends close_notify
// after the queued output: Go's client reads everything then io.EOF, and a
// Mustaine client hears a clean peer close, not ErrNoCloseNotify.
func TestTLSLoseConnectionSendsCloseNotify(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		payload := tlsRandomBytes(300<<10, 9)
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), tlsFactoryFunc(func() protocol.Protocol {
			return &protocol.Funcs{OnConnect: func(tr protocol.Transport) {
				tr.Write(payload)
				tr.LoseConnection()
				if n, err := tr.Write([]byte("late")); n != 0 || !errors.Is(err, protocol.ErrClosed) {
					panic("Write after LoseConnection succeeded")
				}
			}}
		}))
		if err != nil {
			t.Fatal(err)
		}
		c := tlsDialTest(t, ln.Addr().String(), 30*time.Second)
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("Go client read %d bytes, %v", len(got), err)
		}
		col := newTLSCollector()
		if _, err := awaitTLS(t, r.ConnectTLS(ln.Addr().String(), tlsClientConfig(t), protocolFactory(col), 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		reason := tlsWaitLost(t, col.lost)
		if !errors.Is(reason, protocol.ErrPeerClosed) || errors.Is(reason, ErrNoCloseNotify) {
			t.Fatalf("ConnectionLost(%v), want a clean peer close", reason)
		}
		if !bytes.Equal([]byte(col.String()), payload) {
			t.Fatalf("Mustaine client got %d bytes", len(col.String()))
		}
	})
}

// TestTLSPeerClosesWithoutCloseNotify: the server's Protocol hears
// ErrNoCloseNotify (with ErrPeerClosed) when a client closes its TCP
// connection without close_notify, after getting the data sent before.
func TestTLSPeerClosesWithoutCloseNotify(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		col := newTLSCollector()
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), protocolFactory(col))
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), tlsClientConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "partial")
		c.NetConn().Close()
		reason := tlsWaitLost(t, col.lost)
		if !errors.Is(reason, ErrNoCloseNotify) || !errors.Is(reason, protocol.ErrPeerClosed) {
			t.Fatalf("ConnectionLost(%v)", reason)
		}
		if col.String() != "partial" {
			t.Fatalf("got %q", col.String())
		}
	})
}

// tlsHalfCloser writes a greeting, half-closes, and records what it reads
// afterwards.
type tlsHalfCloser struct {
	tlsCollector
	wrote chan struct{}
}

func (h *tlsHalfCloser) ConnectionMade(t protocol.Transport) {
	h.tlsCollector.ConnectionMade(t)
	t.Write([]byte("greeting"))
	if err := t.CloseWrite(); err != nil {
		panic(err)
	}
	if _, err := t.Write([]byte("late")); !errors.Is(err, protocol.ErrClosed) {
		panic("Write after CloseWrite succeeded")
	}
}
func (h *tlsHalfCloser) WriteConnectionLost() { close(h.wrote) }
func (h *tlsHalfCloser) ReadConnectionLost()  {}

// TestTLSCloseWriteKeepsReading: CloseWrite sends close_notify and shuts
// the write side (the peer reads EOF); reading goes on, and the peer's own
// close_notify then ends the connection.
func TestTLSCloseWriteKeepsReading(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		h := &tlsHalfCloser{tlsCollector: tlsCollector{lost: make(chan error, 1)}, wrote: make(chan struct{})}
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, tls.VersionTLS13), protocolFactory(h))
		if err != nil {
			t.Fatal(err)
		}
		c := tlsDialTest(t, ln.Addr().String(), 30*time.Second)
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "greeting" {
			t.Fatalf("read %q, %v", got, err)
		}
		<-h.wrote
		io.WriteString(c, "reply after the server's close_notify")
		c.CloseWrite()
		reason := tlsWaitLost(t, h.lost)
		if !errors.Is(reason, protocol.ErrPeerClosed) {
			t.Fatalf("ConnectionLost(%v)", reason)
		}
		if h.String() != "reply after the server's close_notify" {
			t.Fatalf("server read %q", h.String())
		}
	})
}

// TestTLSMutualAuthentication: a server that requires client certificates
// sees the client's in ConnectionState; a client without one fails.
func TestTLSMutualAuthentication(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	p := getTLSPKI(t)
	srvCfg := tlsServerConfig(t, 0)
	srvCfg.ClientAuth = tls.RequireAndVerifyClientCert
	srvCfg.ClientCAs = p.pool
	peers := make(chan string, 1)
	ln, err := r.ListenTLS("127.0.0.1:0", srvCfg, tlsFactoryFunc(func() protocol.Protocol {
		return &protocol.Funcs{OnConnect: func(tr protocol.Transport) {
			st, _ := tr.(protocol.TLSTransport).ConnectionState()
			peers <- st.PeerCertificates[0].Subject.CommonName
			tr.LoseConnection()
		}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := tlsClientConfig(t)
	cfg.Certificates = []tls.Certificate{p.clientLeaf(t, "client.example")}
	if _, err := awaitTLS(t, r.ConnectTLS(ln.Addr().String(), cfg, protocolFactory(newTLSCollector()), 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if cn := <-peers; cn != "client.example" {
		t.Fatalf("server saw client %q", cn)
	}
	col := newTLSCollector()
	_, err = awaitTLS(t, r.ConnectTLS(ln.Addr().String(), tlsClientConfig(t), protocolFactory(col), 10*time.Second))
	if err == nil {
		// TLS 1.3: the client finishes first and hears the server's alert
		// on its first read.
		err = tlsWaitLost(t, col.lost)
	}
	if !errors.Is(err, ErrTLS) && !errors.Is(err, ErrTLSHandshake) || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("client without a certificate: %v", err)
	}
}

// tlsStarterFactory counts StartFactory and StopFactory.
type tlsStarterFactory struct {
	protocol.Factory
	started, stopped chan struct{}
}

func (f *tlsStarterFactory) StartFactory() { f.started <- struct{}{} }
func (f *tlsStarterFactory) StopFactory()  { f.stopped <- struct{}{} }

// TestTLSListenersCountTheFactoryOnce: two TLS listeners sharing a Starter
// factory start it once and stop it once, as plain listeners do.
func TestTLSListenersCountTheFactoryOnce(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	f := &tlsStarterFactory{Factory: echoFactory(), started: make(chan struct{}, 4), stopped: make(chan struct{}, 4)}
	a, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), f)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	<-f.stopped
	onLoop(t, r, func() {}) // let any second call arrive
	if len(f.started) != 1 || len(f.stopped) != 0 {
		t.Fatalf("StartFactory %d times, StopFactory %d more times", len(f.started), len(f.stopped))
	}
}

// TestTLSFactoryRefuses: a server factory that returns nil after the
// handshake closes with close_notify (the client reads a clean EOF); a
// client factory that does fails ConnectTLS with ErrRefused.
func TestTLSFactoryRefuses(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	refuse := protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return nil })
	ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), refuse)
	if err != nil {
		t.Fatal(err)
	}
	c := tlsDialTest(t, ln.Addr().String(), 30*time.Second)
	if got, err := io.ReadAll(c); err != nil || len(got) != 0 {
		t.Fatalf("read %q, %v; want a clean EOF", got, err)
	}
	echo, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := awaitTLS(t, r.ConnectTLS(echo.Addr().String(), tlsClientConfig(t), refuse, 10*time.Second)); !errors.Is(err, protocol.ErrRefused) {
		t.Fatalf("ConnectTLS with a refusing factory: %v", err)
	}
}

// TestTLSCorruptRecordAfterHandshake: a record that does not decrypt
// after the handshake gets crypto/tls's bad_record_mac alert, a logged
// reason and a close; the Protocol hears ErrTLS.
func TestTLSCorruptRecordAfterHandshake(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		log, logOpt := tlsTestLogger()
		r := startReactor(t, WithLoops(loops), logOpt)
		col := newTLSCollector()
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), protocolFactory(col))
		if err != nil {
			t.Fatal(err)
		}
		c := tlsDialTest(t, ln.Addr().String(), 30*time.Second)
		io.WriteString(c, "fine")
		// An application-data record of the right shape with garbage inside.
		c.NetConn().Write(append([]byte{23, 3, 3, 0, 40}, tlsRandomBytes(40, 3)...))
		_, err = io.ReadAll(c)
		if err == nil || !strings.Contains(err.Error(), "bad record MAC") {
			t.Fatalf("client read: %v, want the server's bad_record_mac alert", err)
		}
		reason := tlsWaitLost(t, col.lost)
		if !errors.Is(reason, ErrTLS) || col.String() != "fine" {
			t.Fatalf("ConnectionLost(%v) after %q", reason, col.String())
		}
		tlsWaitLog(t, log, "TLS error", "bad record MAC")
	})
}
