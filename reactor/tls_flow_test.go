package reactor

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/http"
)

// tlsStreamer streams total bytes with a streaming producer and closes.
type tlsStreamer struct {
	protocol.Base
	total, sent int
	chunk       []byte
	paused      bool
	pauses      *atomic.Int64
}

func (s *tlsStreamer) ConnectionMade(t protocol.Transport) {
	s.Base.ConnectionMade(t)
	t.RegisterProducer(s, true)
	s.ResumeProducing()
}
func (s *tlsStreamer) PauseProducing() { s.paused = true; s.pauses.Add(1) }
func (s *tlsStreamer) ResumeProducing() {
	s.paused = false
	for !s.paused && s.sent < s.total {
		n := min(len(s.chunk), s.total-s.sent)
		s.Transport.Write(s.chunk[:n])
		s.sent += n
	}
	if s.sent == s.total {
		s.Transport.UnregisterProducer()
		s.Transport.LoseConnection()
	}
}
func (s *tlsStreamer) StopProducing() {}

func tlsLiveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestTLSBackpressureSlowReaderBoundedHeap: 64 MiB streamed over TLS by a
// producer to a reader slower than the loop keep the live heap bounded:
// the producer is paused above the high-water mark of ciphertext.
func TestTLSBackpressureSlowReaderBoundedHeap(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		const total = 64 << 20
		var pauses atomic.Int64
		chunk := tlsRandomBytes(32<<10, 5)
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), tlsFactoryFunc(func() protocol.Protocol {
			return &tlsStreamer{total: total, chunk: chunk, pauses: &pauses}
		}))
		if err != nil {
			t.Fatal(err)
		}
		c := tlsDialTest(t, ln.Addr().String(), 120*time.Second)
		base := tlsLiveHeap()
		peak := base
		buf := make([]byte, 16<<10)
		got := 0
		for {
			n, err := c.Read(buf)
			if n > 0 && string(buf[:min(n, 8)]) != string(chunk[got%len(chunk):got%len(chunk)+min(n, 8)]) {
				t.Fatalf("stream differs at %d", got)
			}
			got += n
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read after %d bytes: %v", got, err)
			}
			if got%(1<<20) < n {
				time.Sleep(2 * time.Millisecond) // a slow reader
				if h := tlsLiveHeap(); h > peak {
					peak = h
				}
			}
		}
		if got != total {
			t.Fatalf("read %d bytes, want %d", got, total)
		}
		if pauses.Load() == 0 {
			t.Fatal("the producer was never paused")
		}
		growth := int64(peak) - int64(base)
		t.Logf("live heap: base %d KiB, peak %d KiB (+%d KiB) over %d MiB; producer paused %d times",
			base>>10, peak>>10, growth>>10, total>>20, pauses.Load())
		if growth > 8<<20 {
			t.Fatalf("live heap grew by %d KiB while streaming", growth>>10)
		}
	})
}

// tlsPausingProto pauses reading after its first delivery and records
// everything.
type tlsPausingProto struct {
	tlsCollector
	loop        chan protocol.Loop
	pausedOnce  bool
	whilePaused atomic.Int64
	isPaused    bool
}

func (p *tlsPausingProto) ConnectionMade(t protocol.Transport) {
	p.tlsCollector.ConnectionMade(t)
	p.loop <- t.Loop()
}

func (p *tlsPausingProto) DataReceived(b []byte) {
	if p.isPaused {
		p.whilePaused.Add(1)
	}
	p.tlsCollector.DataReceived(b)
	if !p.pausedOnce {
		p.pausedOnce = true
		p.isPaused = true
		p.Transport.PauseReading()
	}
}

// TestTLSPauseReadingHoldsDecryptedRecords: nothing is delivered while
// reading is paused, not even records already read and decrypted, and
// ResumeReading delivers them all (also the peer's close_notify, after
// them).
func TestTLSPauseReadingHoldsDecryptedRecords(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		p := &tlsPausingProto{tlsCollector: tlsCollector{lost: make(chan error, 1)}, loop: make(chan protocol.Loop, 1)}
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), protocolFactory(p))
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), tlsClientConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		payload := tlsRandomBytes(200<<10, 11)
		for i := 0; i < len(payload); i += 1000 {
			c.Write(payload[i:min(i+1000, len(payload))]) // many small records
		}
		c.CloseWrite()
		time.Sleep(50 * time.Millisecond) // let the records arrive while paused
		if n := p.whilePaused.Load(); n != 0 {
			t.Fatalf("%d deliveries while paused", n)
		}
		(<-p.loop).CallFromThread(func() {
			p.isPaused = false
			p.Transport.ResumeReading()
		})
		reason := tlsWaitLost(t, p.lost)
		if !errors.Is(reason, protocol.ErrPeerClosed) || errors.Is(reason, ErrNoCloseNotify) {
			t.Fatalf("ConnectionLost(%v)", reason)
		}
		if p.String() != string(payload) {
			t.Fatalf("got %d bytes, want %d", len(p.String()), len(payload))
		}
	})
}

// TestTLSPanicInDataReceivedAbortsConnection: a panic in the Protocol's
// DataReceived over TLS aborts that connection with a *PanicError.
func TestTLSPanicInDataReceivedAbortsConnection(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	lost := make(chan error, 1)
	ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), tlsFactoryFunc(func() protocol.Protocol {
		return &protocol.Funcs{
			OnData: func(protocol.Transport, []byte) { panic("boom") },
			OnLost: func(_ protocol.Transport, reason error) { lost <- reason },
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", ln.Addr().String(), tlsClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "x")
	if reason := tlsWaitLost(t, lost); !errors.Is(reason, protocol.ErrPanic) {
		t.Fatalf("ConnectionLost(%v)", reason)
	}
}

// tlsClientHello is the first flight of a Go client, to replay from
// a client that then stalls mid-handshake.
func tlsClientHello(t *testing.T) []byte {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}).Handshake()
	b.SetDeadline(time.Now().Add(10 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// TestTLSHandshakeLimitQueuesHandshakes: with one handshake slot, a client
// stalled in its handshake holds it and the next client waits; when the
// stalled one leaves, the next one's handshake runs.
func TestTLSHandshakeLimitQueuesHandshakes(t *testing.T) {
	r := startReactor(t, WithLoops(2), WithTLSHandshakes(1))
	ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	stalled, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	stalled.Write(tlsClientHello(t))
	waitForTLS(t, "the stalled handshake to take the slot", func() bool {
		r.handshakes.mu.Lock()
		defer r.handshakes.mu.Unlock()
		return r.handshakes.running == 1
	})
	done := make(chan error, 1)
	go func() {
		c, err := tls.Dial("tcp", ln.Addr().String(), tlsClientConfig(t))
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	waitForTLS(t, "the second handshake to queue", func() bool {
		r.handshakes.mu.Lock()
		defer r.handshakes.mu.Unlock()
		return len(r.handshakes.waiting) == 1
	})
	select {
	case err := <-done:
		t.Fatalf("second handshake finished while the slot was taken: %v", err)
	default:
	}
	stalled.Close()
	if err := <-done; err != nil {
		t.Fatalf("second handshake: %v", err)
	}
	waitForTLS(t, "the slot to be free", func() bool {
		r.handshakes.mu.Lock()
		defer r.handshakes.mu.Unlock()
		return r.handshakes.running == 0 && len(r.handshakes.waiting) == 0
	})
}

func waitForTLS(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestTLSConnectCancelledDuringHandshake: cancelling ConnectTLS while the
// handshake runs fails it with ErrConnectCancelled and closes the socket.
func TestTLSConnectCancelledDuringHandshake(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	var d *deferred.Deferred[protocol.Protocol]
	onLoop(t, r, func() { d = r.ConnectTLS(ln.Addr().String(), tlsClientConfig(t), echoFactory(), 10*time.Second) })
	sc := <-accepted
	defer sc.Close()
	sc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := sc.Read(make([]byte, 1)); err != nil { // the ClientHello is on its way
		t.Fatal(err)
	}
	onLoop(t, r, d.Cancel)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Await(ctx); !errors.Is(err, ErrConnectCancelled) || !errors.Is(err, deferred.ErrCancelled) {
		t.Fatalf("Await: %v", err)
	}
	if _, err := io.Copy(io.Discard, sc); err == nil || !strings.Contains(err.Error(), "reset") {
		t.Logf("server side ended with %v", err)
	}
}

// TestTLSHTTPSWithNetHTTPClient: Go's net/http client against a small
// HTTPS server made of protocol/http, TLS 1.2 and 1.3, keep-alive and a
// POST body.
func TestTLSHTTPSWithNetHTTPClient(t *testing.T) {
	for _, ver := range tlsVersions {
		t.Run(ver.name, func(t *testing.T) {
			tlsEachLoops(t, func(t *testing.T, loops int) {
				r := startReactor(t, WithLoops(loops))
				srv, err := http.NewServer(http.HandlerFunc(func(w *http.ResponseWriter, req *http.Request) {
					w.SetHeader("Content-Type", "text/plain")
					if len(req.Body()) > 0 {
						w.Write(req.Body())
						return
					}
					w.WriteString("hello over TLS\n")
				}))
				if err != nil {
					t.Fatal(err)
				}
				cfg := tlsServerConfig(t, ver.v)
				cfg.NextProtos = []string{"http/1.1"}
				ln, err := r.ListenTLS("127.0.0.1:0", cfg, srv)
				if err != nil {
					t.Fatal(err)
				}
				ccfg := tlsClientConfig(t)
				ccfg.NextProtos = []string{"http/1.1"}
				tr := &nethttp.Transport{TLSClientConfig: ccfg}
				defer tr.CloseIdleConnections()
				client := &nethttp.Client{Transport: tr, Timeout: 30 * time.Second}
				url := "https://" + ln.Addr().String() + "/"
				for i := 0; i < 3; i++ {
					resp, err := client.Get(url)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != "hello over TLS\n" || resp.TLS == nil || resp.TLS.Version != ver.v {
						t.Fatalf("GET: %d %q TLS %v", resp.StatusCode, body, resp.TLS)
					}
					if resp.TLS.NegotiatedProtocol != "http/1.1" {
						t.Fatalf("ALPN %q", resp.TLS.NegotiatedProtocol)
					}
				}
				big := strings.Repeat("0123456789abcdef", 20000)
				resp, err := client.Post(url, "text/plain", strings.NewReader(big))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != big {
					t.Fatalf("POST echoed %d bytes", len(body))
				}
			})
		})
	}
}

// TestTLSStopDuringHandshake: stopping the reactor while handshakes are
// stalled (one running, one queued for a slot) ends them: Run returns and
// no handshake goroutine is left (goleak checks at the end).
func TestTLSStopDuringHandshake(t *testing.T) {
	r := startReactor(t, WithLoops(2), WithTLSHandshakes(1), WithShutdownTimeout(time.Second))
	ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	hello := tlsClientHello(t)
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(hello)
	}
	waitForTLS(t, "one handshake running and one queued", func() bool {
		r.handshakes.mu.Lock()
		defer r.handshakes.mu.Unlock()
		return r.handshakes.running == 1 && len(r.handshakes.waiting) == 1
	})
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestTLSManyConcurrentConnectionsFewSlots: 200 clients at once through 4
// handshake slots, each echo compared byte for byte: queued handshakes all
// run, and the slots are all given back.
func TestTLSManyConcurrentConnectionsFewSlots(t *testing.T) {
	tlsEachLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops), WithTLSHandshakes(4))
		ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), tlsFactoryFunc(func() protocol.Protocol { return &tlsEcho{} }))
		if err != nil {
			t.Fatal(err)
		}
		const clients = 200
		errs := make(chan error, clients)
		for i := range clients {
			go func() {
				errs <- func() error {
					c, err := tls.Dial("tcp", ln.Addr().String(), tlsClientConfig(t))
					if err != nil {
						return err
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(60 * time.Second))
					payload := tlsRandomBytes(16<<10+i, uint64(i))
					go func() {
						c.Write(payload)
						c.CloseWrite()
					}()
					got, err := io.ReadAll(c)
					if err != nil {
						return err
					}
					if string(got) != string(payload) {
						return errors.New("echo differs")
					}
					return nil
				}()
			}()
		}
		for range clients {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		waitForTLS(t, "every slot back", func() bool {
			r.handshakes.mu.Lock()
			defer r.handshakes.mu.Unlock()
			return r.handshakes.running == 0 && len(r.handshakes.waiting) == 0
		})
	})
}

// TestTLSGracefulStopDrainsHTTPS: a graceful stop reaches protocol/http's
// Drain through the TLS layer: an idle keep-alive HTTPS connection is
// closed with close_notify at once, not left to the shutdown deadline.
func TestTLSGracefulStopDrainsHTTPS(t *testing.T) {
	r := startReactor(t, WithLoops(1), WithShutdownTimeout(20*time.Second))
	srv, err := http.NewServer(http.HandlerFunc(func(w *http.ResponseWriter, req *http.Request) { w.WriteString("hi") }))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, 0), srv)
	if err != nil {
		t.Fatal(err)
	}
	c := tlsDialTest(t, ln.Addr().String(), 30*time.Second)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	stopped := make(chan error, 1)
	go func() { stopped <- r.Stop() }()
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("idle connection at Stop: read %d, %v; want a clean EOF", n, err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}
