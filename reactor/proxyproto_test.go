package reactor

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/proxyproto"
)

// whoProto answers each connection with one line naming the addresses its
// Transport reports and the PROXY header's authority TLV, then echoes.
type whoProto struct{ protocol.Base }

func (w *whoProto) ConnectionMade(t protocol.Transport) {
	w.Base.ConnectionMade(t)
	hdr := "none"
	if pi, ok := t.(protocol.ProxyInfo); ok {
		if h, ok := pi.ProxyHeader(); ok {
			hdr = fmt.Sprintf("v%d", h.Version)
			if a, ok := h.Authority(); ok {
				hdr += "," + a
			}
		}
	}
	fmt.Fprintf(t, "%s %s %s\n", t.RemoteAddr(), t.LocalAddr(), hdr)
}

func (w *whoProto) DataReceived(b []byte) { w.Transport.Write(b) }

// proxyServer listens with WithProxyProtocol(pp) and counts the Protocols
// the user's factory made; logs collects the reactor's warnings.
func proxyServer(t *testing.T, loops int, pp ProxyProtocol, tlsConfig *tls.Config) (addr string, made *atomic.Int32, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	r := startReactor(t, WithLoops(loops), WithLogger(zerolog.New(logs).Level(zerolog.WarnLevel)))
	made = &atomic.Int32{}
	f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol { made.Add(1); return &whoProto{} })
	var ln *Listener
	var err error
	if tlsConfig != nil {
		ln, err = r.ListenTLS("127.0.0.1:0", tlsConfig, f, WithProxyProtocol(pp))
	} else {
		ln, err = r.ListenTCP("127.0.0.1:0", f, WithProxyProtocol(pp))
	}
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), made, logs
}

func dialProxy(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// writeSlowly writes b one byte at a time, so the header arrives cut.
func writeSlowly(t *testing.T, c net.Conn, b []byte) {
	for i := range b {
		if _, err := c.Write(b[i : i+1]); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func proxyEachLoops(t *testing.T, fn func(t *testing.T, loops int)) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) { fn(t, loops) })
	}
}

var testHeader = proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Family: proxyproto.INET, Transport: proxyproto.Stream,
	Source:      netip.MustParseAddrPort("192.0.2.1:50000"),
	Destination: netip.MustParseAddrPort("198.51.100.7:443"),
	TLVs:        []proxyproto.TLV{{Type: proxyproto.TypeAuthority, Value: []byte("example.com")}, {Type: proxyproto.TypeCRC32C}}}

func TestProxyHeaderSetsAddressesAndTLVs(t *testing.T) {
	v2, _ := proxyproto.AppendV2(nil, &testHeader)
	v1 := []byte("PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n")
	proxyEachLoops(t, func(t *testing.T, loops int) {
		addr, _, _ := proxyServer(t, loops, ProxyProtocol{}, nil)
		for _, c := range []struct {
			name string
			hdr  []byte
			want string
		}{
			{"v2", v2, "192.0.2.1:50000 198.51.100.7:443 v2,example.com"},
			{"v1", v1, "[2001:db8::1]:1234 [2001:db8::2]:80 v1"},
		} {
			t.Run(c.name, func(t *testing.T) {
				conn := dialProxy(t, addr)
				// The header and the first payload bytes in one segment, then
				// again cut byte by byte.
				if _, err := conn.Write(append(append([]byte(nil), c.hdr...), "ping\n"...)); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(conn)
				expectLine(t, br, c.want)
				expectLine(t, br, "ping")
				conn2 := dialProxy(t, addr)
				writeSlowly(t, conn2, append(append([]byte(nil), c.hdr...), "pong\n"...))
				br2 := bufio.NewReader(conn2)
				expectLine(t, br2, c.want)
				expectLine(t, br2, "pong")
			})
		}
	})
}

func expectLine(t *testing.T, br *bufio.Reader, want string) {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSuffix(line, "\n") != want {
		t.Fatalf("read %q (%v), want %q", line, err, want)
	}
}

// expectRefused checks that the server closes without a byte and without
// making the user's Protocol, and that the log says why.
func expectRefused(t *testing.T, conn net.Conn, made *atomic.Int32, logs *syncBuffer, why string) {
	t.Helper()
	b, err := io.ReadAll(conn)
	if len(b) != 0 {
		t.Fatalf("server sent %q before closing", b)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v", err)
	}
	if made.Load() != 0 {
		t.Fatalf("the user's factory made %d Protocols", made.Load())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), why) {
		if time.Now().After(deadline) {
			t.Fatalf("log does not say %q:\n%s", why, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := logs.String(); !strings.Contains(s, `"conn":`) || !strings.Contains(s, `"peer":"127.0.0.1:`) || !strings.Contains(s, `"level":"warn"`) {
		t.Fatalf("log lacks the connection's fields or warn level:\n%s", s)
	}
}

func TestProxyHeaderFromSourceNotAllowedIsRefused(t *testing.T) {
	v2, _ := proxyproto.AppendV2(nil, &testHeader)
	proxyEachLoops(t, func(t *testing.T, loops int) {
		addr, made, logs := proxyServer(t, loops, ProxyProtocol{Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, nil)
		conn := dialProxy(t, addr)
		conn.Write(append(v2, "ping\n"...))
		expectRefused(t, conn, made, logs, "not allowed")
	})
}

func TestProxyBadHeadersAreRefused(t *testing.T) {
	cases := []struct {
		name, in, why string
	}{
		{"malformed v1", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "malformed"},
		{"v1 over 107 bytes", "PROXY UNKNOWN " + strings.Repeat("x", 120), "too long"},
		{"v2 over the bound", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff", "too long"},
		{"v2 bad command", "\r\n\r\n\x00\r\nQUIT\n\x2f\x11\x00\x00", "unsupported"},
		{"no header", "GET / HTTP/1.1\r\n\r\n", "no PROXY protocol header"},
	}
	proxyEachLoops(t, func(t *testing.T, loops int) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				addr, made, logs := proxyServer(t, loops, ProxyProtocol{}, nil)
				conn := dialProxy(t, addr)
				conn.Write([]byte(c.in))
				expectRefused(t, conn, made, logs, c.why)
			})
		}
	})
}

func TestProxyHeaderThatDoesNotArriveInTimeIsRefused(t *testing.T) {
	proxyEachLoops(t, func(t *testing.T, loops int) {
		const timeout = 150 * time.Millisecond
		addr, made, logs := proxyServer(t, loops, ProxyProtocol{Timeout: timeout}, nil)
		start := time.Now()
		conn := dialProxy(t, addr)
		conn.Write([]byte("PROXY TCP4 ")) // a start, never finished
		expectRefused(t, conn, made, logs, "timed out")
		if el := time.Since(start); el < timeout {
			t.Fatalf("closed after %v, before the %v timeout", el, timeout)
		}
	})
}

func TestProxyOptionalModeAcceptsConnectionsWithoutHeader(t *testing.T) {
	v2, _ := proxyproto.AppendV2(nil, &testHeader)
	proxyEachLoops(t, func(t *testing.T, loops int) {
		addr, _, _ := proxyServer(t, loops, ProxyProtocol{Optional: true}, nil)
		conn := dialProxy(t, addr)
		writeSlowly(t, conn, []byte("\r\nhello\n")) // starts like the v2 signature, then is not
		br := bufio.NewReader(conn)
		expectLine(t, br, conn.LocalAddr().String()+" "+conn.RemoteAddr().String()+" none")
		expectLine(t, br, "\r") // the "\r\n" that looked like a signature, passed on
		expectLine(t, br, "hello")
		conn2 := dialProxy(t, addr)
		conn2.Write(append(v2, "x\n"...))
		br2 := bufio.NewReader(conn2)
		expectLine(t, br2, "192.0.2.1:50000 198.51.100.7:443 v2,example.com")
		expectLine(t, br2, "x")
	})
}

func TestProxyLocalCommandAndUnknownKeepSocketAddresses(t *testing.T) {
	local, _ := proxyproto.AppendV2(nil, &proxyproto.Header{Version: 2, Command: proxyproto.Local})
	proxyEachLoops(t, func(t *testing.T, loops int) {
		addr, _, _ := proxyServer(t, loops, ProxyProtocol{}, nil)
		for _, c := range []struct{ hdr, v string }{{string(local), "v2"}, {"PROXY UNKNOWN\r\n", "v1"}} {
			conn := dialProxy(t, addr)
			conn.Write([]byte(c.hdr + "ok\n"))
			br := bufio.NewReader(conn)
			expectLine(t, br, conn.LocalAddr().String()+" "+conn.RemoteAddr().String()+" "+c.v)
			expectLine(t, br, "ok")
		}
	})
}

func TestProxyHeaderThenTLS(t *testing.T) {
	proxyEachLoops(t, func(t *testing.T, loops int) {
		addr, _, _ := proxyServer(t, loops, ProxyProtocol{}, tlsServerConfig(t, 0))
		raw := dialProxy(t, addr)
		if _, err := raw.Write([]byte("PROXY TCP4 192.0.2.9 198.51.100.7 4242 443\r\n")); err != nil {
			t.Fatal(err)
		}
		cfg := tlsClientConfig(t)
		cfg.ServerName = "localhost"
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS after the PROXY header: %v", err)
		}
		br := bufio.NewReader(tc)
		expectLine(t, br, "192.0.2.9:4242 198.51.100.7:443 v1")
		tc.Write([]byte("secret\n"))
		expectLine(t, br, "secret")
	})
}
