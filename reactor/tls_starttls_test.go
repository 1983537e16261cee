package reactor

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// tlsLineProto splits input into lines ending in "\r\n" and hands each to
// onLine; it records the handshake.
type tlsLineProto struct {
	protocol.Base
	buf       []byte
	onLine    func(p *tlsLineProto, line string)
	handshake chan tls.ConnectionState
	lost      chan error
}

func (p *tlsLineProto) DataReceived(b []byte) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.Index(p.buf, []byte("\r\n"))
		if i < 0 {
			return
		}
		line := string(p.buf[:i])
		p.buf = p.buf[i+2:]
		p.onLine(p, line)
	}
}

func (p *tlsLineProto) HandshakeCompleted() {
	st, ok := p.Transport.(protocol.TLSTransport).ConnectionState()
	if !ok {
		panic("HandshakeCompleted without a ConnectionState")
	}
	if p.handshake != nil {
		p.handshake <- st
	}
}

func (p *tlsLineProto) ConnectionLost(reason error) {
	if p.lost != nil {
		p.lost <- reason
	}
}

// startTLSLineServer answers STARTTLS with OK in clear, then TLS: each line
// comes back as "secret <line>", QUIT closes.
func startTLSLineServer(t *testing.T, cfg *tls.Config, handshakes chan tls.ConnectionState) protocol.Factory {
	return tlsFactoryFunc(func() protocol.Protocol {
		return &tlsLineProto{handshake: handshakes, onLine: func(p *tlsLineProto, line string) {
			switch line {
			case "STARTTLS":
				p.Transport.Write([]byte("OK\r\n"))
				if err := p.Transport.(protocol.TLSStarter).StartTLS(cfg, true); err != nil {
					panic(err)
				}
			case "QUIT":
				p.Transport.LoseConnection()
			default:
				_, tlsOn := p.Transport.(protocol.TLSTransport).ConnectionState()
				if !tlsOn {
					p.Transport.Write([]byte("clear " + line + "\r\n"))
					return
				}
				p.Transport.Write([]byte("secret " + line + "\r\n"))
			}
		}}
	})
}

// tlsTee is a TCP proxy that records what the client sends.
type tlsTee struct {
	mu  sync.Mutex
	c2s bytes.Buffer
}

func (tp *tlsTee) run(t *testing.T, target string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer s.Close()
		done := make(chan struct{})
		go func() {
			io.Copy(c, s)
			c.(*net.TCPConn).CloseWrite()
			close(done)
		}()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			tp.mu.Lock()
			tp.c2s.Write(buf[:n])
			tp.mu.Unlock()
			s.Write(buf[:n])
			if err != nil {
				s.(*net.TCPConn).CloseWrite()
				break
			}
		}
		<-done
	}()
	return ln.Addr().String()
}

func (tp *tlsTee) sent() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]byte(nil), tp.c2s.Bytes()...)
}

// TestTLSStartTLSBothSidesMustaine: a line protocol switches to TLS after
// STARTTLS, server and client both Mustaine. What was written before
// StartTLS crosses the wire in clear, what was written after (even before
// the handshake finished) only encrypted; both sides see the handshake and
// the client sees the server's clean close.
func TestTLSStartTLSBothSidesMustaine(t *testing.T) {
	for _, ver := range tlsVersions {
		t.Run(ver.name, func(t *testing.T) {
			tlsEachLoops(t, func(t *testing.T, loops int) {
				r := startReactor(t, WithLoops(loops))
				srvStates := make(chan tls.ConnectionState, 1)
				ln, err := r.ListenTCP("127.0.0.1:0", startTLSLineServer(t, tlsServerConfig(t, ver.v), srvStates))
				if err != nil {
					t.Fatal(err)
				}
				proxy := (&tlsTee{})
				addr := proxy.run(t, ln.Addr().String())
				var lines []string
				cliStates := make(chan tls.ConnectionState, 1)
				client := &tlsLineProto{handshake: cliStates, lost: make(chan error, 1), onLine: func(p *tlsLineProto, line string) {
					lines = append(lines, line)
					switch line {
					case "clear hello":
						p.Transport.Write([]byte("STARTTLS\r\n"))
					case "OK":
						if err := p.Transport.(protocol.TLSStarter).StartTLS(tlsClientConfig(t), false); err != nil {
							panic(err)
						}
						// Held until the handshake is done, then encrypted.
						p.Transport.Write([]byte("PING\r\n"))
						p.Transport.Writev([]byte("QU"), []byte("IT\r\n"))
					}
				}}
				_, err = awaitTLS(t, r.ConnectTCP(addr, protocolFactory(client), 10*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				onLoop(t, r, func() { client.Transport.Write([]byte("hello\r\n")) })
				reason := tlsWaitLost(t, client.lost)
				if !errors.Is(reason, protocol.ErrPeerClosed) || errors.Is(reason, ErrNoCloseNotify) {
					t.Fatalf("client ConnectionLost(%v), want a clean peer close", reason)
				}
				var got string
				onLoop(t, r, func() { got = strings.Join(lines, "|") })
				if got != "clear hello|OK|secret PING" {
					t.Fatalf("client lines %q", got)
				}
				for _, ch := range []chan tls.ConnectionState{srvStates, cliStates} {
					if st := <-ch; st.Version != ver.v {
						t.Fatalf("negotiated %x", st.Version)
					}
				}
				wire := proxy.sent()
				i := bytes.Index(wire, []byte("hello\r\nSTARTTLS\r\n"))
				if i != 0 || len(wire) < 20 || wire[17] != 22 {
					t.Fatalf("client's bytes on the wire do not start with the clear lines and a ClientHello: %q", wire[:min(len(wire), 40)])
				}
				if bytes.Contains(wire, []byte("PING")) || bytes.Contains(wire, []byte("QUIT")) {
					t.Fatal("a line written after StartTLS crossed the wire in clear")
				}
			})
		})
	}
}

// TestTLSStartTLSServerWithGoClient: Mustaine's StartTLS server side with
// Go's crypto/tls client upgrading the same TCP connection.
func TestTLSStartTLSServerWithGoClient(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		ln, err := r.ListenTCP("127.0.0.1:0", startTLSLineServer(t, tlsServerConfig(t, 0), nil))
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "one\r\nSTARTTLS\r\n")
		br := bufio.NewReader(c)
		for _, want := range []string{"clear one\r\n", "OK\r\n"} {
			if line, err := br.ReadString('\n'); line != want {
				t.Fatalf("read %q, %v; want %q", line, err, want)
			}
		}
		if br.Buffered() != 0 {
			t.Fatal("server sent more in clear")
		}
		cfg := tlsClientConfig(t)
		cfg.ServerName = "127.0.0.1"
		tc := tls.Client(c, cfg)
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(tc, "two\r\nQUIT\r\n")
		got, err := io.ReadAll(tc)
		if err != nil || string(got) != "secret two\r\n" {
			t.Fatalf("read %q, %v", got, err)
		}
	})
}
