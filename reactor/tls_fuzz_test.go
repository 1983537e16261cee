package reactor

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
)

// The TLS fuzz targets run on real loopback sockets: the TLS layer sits on
// a reactor conn, not on a Transport interface. Each target starts one
// reactor per process (per fuzz worker, or once for the seed run) and
// feeds it one connection at a time, waiting after each until the
// connection, its handshake goroutine and its handshake slot are gone.
//
// To fuzz:
//
//	go test -run '^$' -fuzz FuzzTLSServerRecords -parallel 1 -fuzztime 3m ./reactor/
//	go test -run '^$' -fuzz FuzzTLSApplicationRecords -parallel 1 -fuzztime 3m ./reactor/
//
// The seed corpora in testdata/fuzz are written by TestTLSFuzzSeedCorpus
// with MUSTAINE_WRITE_FUZZ_SEEDS=1 (they hold ClientHellos captured from
// crypto/tls).

// fuzzTLSTimeout is the handshake timeout of FuzzTLSServerRecords' reactor:
// short, as an input that never completes a ClientHello costs that long.
const fuzzTLSTimeout = 100 * time.Millisecond

// fuzzMaxInput bounds what one input sends (the fuzzer may grow inputs).
const fuzzMaxInput = 64 << 10

const http400 = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

// fuzzLog is the reactor's log during a fuzz target: it keeps the current
// input's lines and remembers any panic the reactor recovered, whenever it
// was logged.
type fuzzLog struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	panicked string
}

func (l *fuzzLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.panicked == "" && (bytes.Contains(p, []byte("callback panicked")) || bytes.Contains(p, []byte("internal error"))) {
		l.panicked = string(p)
	}
	return l.buf.Write(p)
}

func (l *fuzzLog) reset() {
	l.mu.Lock()
	l.buf.Reset()
	l.mu.Unlock()
}

func (l *fuzzLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *fuzzLog) panic() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.panicked
}

// tlsFuzzEnv is a fuzz target's reactor and TLS listener.
type tlsFuzzEnv struct {
	r         *Reactor
	log       *fuzzLog
	addr      string
	built     atomic.Int64 // TLS layers built
	collected atomic.Int64 // TLS layers the GC has collected
	execs     int
}

// layerCounter wraps the TLS server factory to count the layers it builds
// and the ones the GC collects (a layer holds the bio and crypto/tls's
// state: one left reachable after its connection closed is a leak).
type layerCounter struct {
	inner protocol.Factory
	env   *tlsFuzzEnv
}

func (f *layerCounter) BuildProtocol(addr net.Addr) protocol.Protocol {
	p := f.inner.BuildProtocol(addr)
	f.env.built.Add(1)
	runtime.AddCleanup(p.(*tlsLayer), func(n *atomic.Int64) { n.Add(1) }, &f.env.collected)
	return p
}

func newTLSFuzzEnv(f *testing.F, config *tls.Config, user protocol.Factory, opts ...Option) *tlsFuzzEnv {
	env := &tlsFuzzEnv{log: &fuzzLog{}}
	opts = append([]Option{WithLoops(1), WithLogger(zerolog.New(env.log).Level(zerolog.DebugLevel))}, opts...)
	env.r = startReactor(f, opts...)
	sf, err := env.r.tlsServerFactory(config, user)
	if err != nil {
		f.Fatal(err)
	}
	ln, err := env.r.ListenTCP("127.0.0.1:0", &layerCounter{inner: sf, env: env})
	if err != nil {
		f.Fatal(err)
	}
	env.addr = ln.Addr().String()
	return env
}

// tlsHandshakeGoroutines counts the goroutines started by tlsLayer.begin.
func tlsHandshakeGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("reactor.(*tlsLayer).begin in goroutine"))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// quiet waits until the input's connection is gone from the loop (its
// "connection lost" logged), no handshake goroutine is left and every
// handshake slot is free; when fuzzing, every 64 inputs, it also waits for
// the GC to collect all but layerSlack of the TLS layers built so far (a
// layer left reachable per connection would exceed it within a few hundred
// inputs). It fails the input on a panic the reactor recovered.
func (env *tlsFuzzEnv) quiet(t *testing.T) {
	t.Helper()
	env.execs++
	checkGC := isFuzzing() && env.execs%64 == 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		var nconns int
		onLoop(t, env.r, func() { nconns = env.r.loops[0].nconns })
		h := &env.r.handshakes
		h.mu.Lock()
		running, waiting := h.running, len(h.waiting)
		h.mu.Unlock()
		hs := tlsHandshakeGoroutines()
		lost := strings.Contains(env.log.String(), "connection lost")
		built, collected := env.built.Load(), int64(0)
		if checkGC {
			runtime.GC()
			collected = env.collected.Load()
		}
		if nconns == 0 && running == 0 && waiting == 0 && hs == 0 && lost && (!checkGC || built-collected <= layerSlack) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection not cleaned up: %d conns on the loop, %d handshakes running, %d waiting, %d handshake goroutines, lost logged %v, %d of %d TLS layers collected\nlog:\n%s",
				nconns, running, waiting, hs, lost, collected, built, env.log.String())
		}
		time.Sleep(time.Millisecond)
	}
	if p := env.log.panic(); p != "" {
		t.Fatalf("the reactor recovered a panic:\n%s", p)
	}
}

// layerSlack is how many closed connections' TLS layers may stay
// reachable while the reactor runs: the current input's, whose server
// Protocol (holding its Transport) FuzzTLSApplicationRecords still reads.
// It was 32 while a lingering close's timer held its connection for
// lingerTimeout (a dozen of 17 seen in the seed run); that timer no longer
// does (see TestTLSLayersOfClosedConnectionsAreCollected).
const layerSlack = 1

// isFuzzing reports whether the test binary runs with -test.fuzz (seeds
// only otherwise).
func isFuzzing() bool {
	fz := flag.Lookup("test.fuzz")
	return fz != nil && fz.Value.String() != ""
}

// fuzzCuts cuts data into pieces whose sizes come from seed: mostly small
// (1..64 bytes, often 1), sometimes up to 4 KiB.
func fuzzCuts(data []byte, seed uint64) [][]byte {
	var pieces [][]byte
	for len(data) > 0 {
		seed = seed*6364136223846793005 + 1442695040888963407
		var n int
		switch seed >> 61 {
		case 0, 1:
			n = 1
		case 2:
			n = int(seed>>52&0xfff) + 1
		default:
			n = int(seed>>58) + 1
		}
		n = min(n, len(data))
		pieces = append(pieces, data[:n])
		data = data[n:]
	}
	return pieces
}

// rawSend connects with plain TCP, writes pieces one by one (no Nagle, so
// they tend to leave as separate segments), half-closes when fin, and
// reads until the server closes. It reports what the server sent, whether
// the close was a reset, and how long the connection lived.
func rawSend(t *testing.T, addr string, pieces [][]byte, fin bool) (out []byte, reset bool, lived time.Duration) {
	t.Helper()
	// The clock starts before the connect: the server may accept, and arm
	// its handshake timer, before Dial returns here.
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	tc.SetNoDelay(true)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	for _, p := range pieces {
		if _, err := c.Write(p); err != nil {
			break // the server closed; what it said is read below
		}
	}
	if fin {
		tc.CloseWrite()
	}
	out, err = io.ReadAll(c)
	lived = time.Since(start)
	switch {
	case err == nil:
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		reset = true
	default:
		t.Fatalf("reading the server: %v (after %q)", err, out)
	}
	return out, reset, lived
}

// tlsRecordsError checks that out is a sequence of TLS records (a last
// one may be cut short when the close was a reset).
func tlsRecordsError(out []byte, truncatedOK bool) string {
	for len(out) > 0 {
		if len(out) < 5 {
			if truncatedOK {
				return ""
			}
			return "a record header cut short"
		}
		typ, n := out[0], int(out[3])<<8|int(out[4])
		if typ < 20 || typ > 23 || out[1] != 3 {
			return "not a TLS record"
		}
		if len(out) < 5+n {
			if truncatedOK {
				return ""
			}
			return "a record cut short"
		}
		out = out[5+n:]
	}
	return ""
}

// helloPending reports whether a server holding in has not started a
// handshake: it needs a whole first handshake record, or a first record
// header that is not one (see bio.helloReady).
func helloPending(in []byte) bool {
	if len(in) < 5 {
		return true
	}
	n := 5 + (int(in[3])<<8 | int(in[4]))
	return in[0] == 22 && n <= maxRecord && len(in) < n
}

// FuzzTLSServerRecords sends arbitrary bytes, cut at points the seed
// chooses, as a client's side of a connection to a Mustaine TLS server,
// then half-closes when fin (else waits for the server). The server must
// never panic, must close the connection (on its own, or at the handshake
// timeout, never before it), must leave no handshake goroutine, slot or
// TLS layer behind, must answer a plain HTTP request with net/http's 400
// text, a ClientHello it never got whole with a decode_error alert (on
// the FIN) or silence (at the timeout), and anything else with TLS
// records only; a server that gives up on its own says why first.
func FuzzTLSServerRecords(f *testing.F) {
	env := newTLSFuzzEnv(f, tlsServerConfig(f, 0), echoFactory(), WithTLSHandshakeTimeout(fuzzTLSTimeout))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, fin bool) {
		if len(in) > fuzzMaxInput {
			in = in[:fuzzMaxInput]
		}
		env.log.reset()
		out, reset, lived := rawSend(t, env.addr, fuzzCuts(in, seed), fin)
		env.quiet(t)
		log := env.log.String()
		timedOut := strings.Contains(log, "TLS handshake timed out")
		if timedOut && lived < fuzzTLSTimeout {
			t.Fatalf("closed at the handshake timeout after %v, before the %v", lived, fuzzTLSTimeout)
		}
		switch {
		case len(in) >= 5 && recordLooksLikeHTTP([5]byte(in[:5])):
			if string(out) != http400 && !(reset && strings.HasPrefix(http400, string(out))) {
				t.Fatalf("a plain HTTP request got %q (reset %v), want net/http's 400", out, reset)
			}
		case helloPending(in) && !fin:
			if !timedOut || len(out) != 0 {
				t.Fatalf("an incomplete first record without FIN: got %q, timed out %v; want silence until the timeout\nlog:\n%s", out, timedOut, log)
			}
		case helloPending(in) && len(in) == 0:
			if len(out) != 0 || timedOut {
				t.Fatalf("connect and FIN: got %q, timed out %v; want a silent close", out, timedOut)
			}
		case helloPending(in):
			if want := alertRecord(alertDecodeError); !bytes.Equal(out, want) && !(reset && bytes.HasPrefix(want, out)) {
				t.Fatalf("an incomplete first record and FIN: got %q, want the decode_error alert", out)
			}
		default:
			if msg := tlsRecordsError(out, reset); msg != "" {
				t.Fatalf("server output is not TLS records (%s): %q\nlog:\n%s", msg, out, log)
			}
			if !fin && !timedOut && !reset && len(out) == 0 {
				t.Fatalf("the server closed on its own without a word\nlog:\n%s", log)
			}
			if len(out) > 0 && out[0] != 22 && len(out) != 7 && !reset {
				t.Fatalf("the server's first record is not a handshake record, and the output not one alert: %q", out)
			}
			if len(out) > 0 && out[0] != 22 && out[0] != 21 {
				t.Fatalf("the server's first record is neither a handshake record nor an alert: %q", out)
			}
		}
		if !strings.Contains(log, "TLS handshake failed") && !timedOut && !strings.Contains(log, "connection lost") {
			t.Fatalf("no reason logged:\n%s", log)
		}
	})
}

// switchConn passes a TLS client's handshake through to the socket, then
// captures the records it writes, so the test can cut them and slip
// garbage between them.
type switchConn struct {
	net.Conn
	capture bool
	buf     bytes.Buffer
}

func (c *switchConn) Write(p []byte) (int, error) {
	if c.capture {
		return c.buf.Write(p)
	}
	return c.Conn.Write(p)
}

// SetWriteDeadline is ignored once capturing: crypto/tls's CloseWrite sets
// the deadline to now, which must not stop the test's raw writes.
func (c *switchConn) SetWriteDeadline(d time.Time) error {
	if c.capture {
		return nil
	}
	return c.Conn.SetWriteDeadline(d)
}

// tlsRecorder is the server's Protocol in FuzzTLSApplicationRecords: it
// records the plaintext, optionally pausing after each delivery and
// resuming on a later turn.
type tlsRecorder struct {
	protocol.Base
	pause bool
	mu    sync.Mutex
	data  bytes.Buffer
	lost  chan error
}

func (p *tlsRecorder) DataReceived(b []byte) {
	p.mu.Lock()
	p.data.Write(b)
	p.mu.Unlock()
	if p.pause {
		tr := p.Transport
		tr.PauseReading()
		tr.Loop().CallSoon(tr.ResumeReading)
	}
}

func (p *tlsRecorder) ConnectionLost(reason error) { p.lost <- reason }

func (p *tlsRecorder) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.data.String()
}

// tlsRecordEnd is how a stream of records after the handshake ends, as
// crypto/tls's server reads it.
type tlsRecordEnd int

const (
	endEOF         tlsRecordEnd = iota // the FIN, without close_notify
	endCloseNotify                     // a valid close_notify
	endError                           // a record crypto/tls rejects
)

// expectRecords models crypto/tls's server reading stream after the
// handshake: valid[i] is the offset in stream of the i-th valid record
// (the client's, in order), plain[i] its plaintext (nil for close_notify).
// Garbage cannot decrypt (the keys are fresh), so a record is accepted
// only if it is the next valid one at its own offset; in TLS 1.3 a plain
// change_cipher_spec record (exactly 14 03 03 00 01 01) is ignored, up to
// 16 in a row (RFC 8446, Appendix D.4; readRecordOrCCS in crypto/tls).
// It returns the plaintext delivered and how the stream ends.
func expectRecords(stream []byte, valid []int, plain [][]byte, tls13 bool) ([]byte, tlsRecordEnd) {
	var got []byte
	next, ignored := 0, 0
	maxLen := 16384 + 2048
	if tls13 {
		maxLen = 16384 + 256
	}
	for pos := 0; ; {
		if pos == len(stream) {
			return got, endEOF
		}
		if len(stream)-pos < 5 {
			return got, endEOF // cut short by the FIN
		}
		h := stream[pos:]
		n := int(h[3])<<8 | int(h[4])
		if h[1] != 3 || h[2] != 3 || n > maxLen {
			return got, endError
		}
		if len(h) < 5+n {
			return got, endEOF
		}
		if next < len(valid) && valid[next] == pos {
			if plain[next] == nil {
				return got, endCloseNotify
			}
			got = append(got, plain[next]...)
			next++
			ignored = 0
			pos += 5 + n
			continue
		}
		if tls13 && h[0] == 20 {
			if n != 1 || h[5] != 1 {
				return got, endError
			}
			if ignored++; ignored > 16 {
				return got, endError
			}
			pos += 6
			continue
		}
		return got, endError
	}
}

// FuzzTLSApplicationRecords: after a real handshake with crypto/tls's
// client, the client's application data (cut into records the seed sizes)
// goes out with garbage slipped in after record at, the whole stream cut
// at arbitrary points, then close_notify (flags&2) and a FIN. The server's
// Protocol must receive exactly the plaintext of the records crypto/tls
// accepts (those before the garbage, and after it only if the garbage is
// records TLS 1.3 ignores), in order, and the connection must end as the
// stream does: a logged TLS error, a close_notify, or an EOF without one.
// flags&1 picks TLS 1.2, flags&4 makes the Protocol pause after every
// delivery.
func FuzzTLSApplicationRecords(f *testing.F) {
	made := make(chan *tlsRecorder, 1)
	var pause atomic.Bool
	env := newTLSFuzzEnv(f, tlsServerConfig(f, 0), tlsFactoryFunc(func() protocol.Protocol {
		p := &tlsRecorder{pause: pause.Load(), lost: make(chan error, 1)}
		made <- p
		return p
	}))
	roots := tlsClientConfig(f).RootCAs
	cache := tls.NewLRUClientSessionCache(8)
	f.Fuzz(func(t *testing.T, data, garbage []byte, seed uint64, at uint8, flags uint8) {
		if len(data) > fuzzMaxInput {
			data = data[:fuzzMaxInput]
		}
		if len(garbage) > fuzzMaxInput {
			garbage = garbage[:fuzzMaxInput]
		}
		env.log.reset()
		tls13 := flags&1 == 0
		pause.Store(flags&4 != 0)
		cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: cache,
			DynamicRecordSizingDisabled: true, MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13}
		if !tls13 {
			cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		}
		raw, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.(*net.TCPConn).SetNoDelay(true)
		raw.SetDeadline(time.Now().Add(30 * time.Second))
		sw := &switchConn{Conn: raw}
		client := tls.Client(sw, cfg)
		if err := client.Handshake(); err != nil {
			t.Fatalf("handshake: %v\nlog:\n%s", err, env.log.String())
		}
		var srv *tlsRecorder
		select {
		case srv = <-made:
		case <-time.After(30 * time.Second):
			t.Fatal("the server's Protocol was not made")
		}

		// The client's records: one per piece (no record is over 16 KiB,
		// and dynamic record sizing is off).
		sw.capture = true
		var plain [][]byte
		for _, p := range fuzzCuts(data, seed) {
			for len(p) > 0 {
				n := min(len(p), 16384)
				if _, err := client.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				plain = append(plain, p[:n])
				p = p[n:]
			}
		}
		if flags&2 != 0 {
			client.CloseWrite()
			plain = append(plain, nil)
		}
		records := sw.buf.Bytes()
		var offs []int
		for off := 0; off < len(records); off += 5 + (int(records[off+3])<<8 | int(records[off+4])) {
			offs = append(offs, off)
		}
		if len(offs) != len(plain) {
			t.Fatalf("%d records for %d writes", len(offs), len(plain))
		}

		// Garbage after record at.
		k := int(at) % (len(offs) + 1)
		cut := len(records)
		if k < len(offs) {
			cut = offs[k]
		}
		stream := make([]byte, 0, len(records)+len(garbage))
		stream = append(stream, records[:cut]...)
		stream = append(stream, garbage...)
		stream = append(stream, records[cut:]...)
		valid := make([]int, len(offs))
		for i, o := range offs {
			valid[i] = o
			if i >= k {
				valid[i] += len(garbage)
			}
		}
		want, end := expectRecords(stream, valid, plain, tls13)

		for _, p := range fuzzCuts(stream, seed>>7^0x9e3779b97f4a7c15) {
			if _, err := raw.Write(p); err != nil {
				break // the server gave up; its reason is checked below
			}
		}
		raw.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, raw)

		var reason error
		select {
		case reason = <-srv.lost:
		case <-time.After(30 * time.Second):
			t.Fatalf("the server's Protocol was not told the connection was lost\nlog:\n%s", env.log.String())
		}
		env.quiet(t)
		if got := srv.String(); got != string(want) {
			t.Fatalf("the server's Protocol got %d bytes, want %d (the valid records' plaintext before the garbage)\ngot  %.300q\nwant %.300q", len(got), len(want), got, want)
		}
		log := env.log.String()
		switch end {
		case endError:
			if !errors.Is(reason, ErrTLS) || !strings.Contains(log, "TLS error") {
				t.Fatalf("garbage after the handshake: ConnectionLost(%v), want ErrTLS and a logged reason\nlog:\n%s", reason, log)
			}
		case endCloseNotify:
			if !errors.Is(reason, protocol.ErrPeerClosed) || errors.Is(reason, ErrNoCloseNotify) || errors.Is(reason, ErrTLS) {
				t.Fatalf("close_notify: ConnectionLost(%v), want ErrPeerClosed alone", reason)
			}
		case endEOF:
			if !errors.Is(reason, protocol.ErrPeerClosed) || !errors.Is(reason, ErrNoCloseNotify) || errors.Is(reason, ErrTLS) {
				t.Fatalf("FIN without close_notify: ConnectionLost(%v), want ErrPeerClosed and ErrNoCloseNotify\nlog:\n%s", reason, log)
			}
		}
		if !strings.Contains(log, "connection lost") {
			t.Fatalf("no reason logged:\n%s", log)
		}
	})
}

// captureConn is a net.Conn that keeps what is written and reads EOF: it
// captures a crypto/tls client's ClientHello.
type captureConn struct {
	net.Conn // nil: the methods crypto/tls does not call are absent
	buf      bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error)      { return c.buf.Write(p) }
func (c *captureConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }

func captureClientHello(cfg *tls.Config) []byte {
	cc := &captureConn{}
	tls.Client(cc, cfg).Handshake()
	return cc.buf.Bytes()
}

// TestTLSFuzzSeedCorpus writes the fuzz targets' seed corpora when
// MUSTAINE_WRITE_FUZZ_SEEDS=1, and otherwise checks they are there.
func TestTLSFuzzSeedCorpus(t *testing.T) {
	hello13 := captureClientHello(&tls.Config{ServerName: "localhost"})
	hello12 := captureClientHello(&tls.Config{ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if len(hello13) < 100 || hello13[0] != 22 {
		t.Fatalf("captured ClientHello %q", hello13)
	}
	type seed struct {
		name string
		args []any
	}
	bigRecord := []byte{22, 3, 1, 0xff, 0xff}
	sslv2 := []byte{0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10}
	sslv2 = append(sslv2, make([]byte, 0x15+0x10)...)
	closeNotify := []byte{21, 3, 1, 0, 2, 1, 0}
	garbage := tlsRandomBytes(300, 9)
	server := []seed{
		{"clienthello-tls13", []any{hello13, uint64(1), true}},
		{"clienthello-tls13-nofin", []any{hello13, uint64(2), false}},
		{"clienthello-tls12", []any{hello12, uint64(3), true}},
		{"clienthello-truncated", []any{hello13[:len(hello13)/2], uint64(4), true}},
		{"clienthello-truncated-nofin", []any{hello13[:len(hello13)/2], uint64(5), false}},
		{"http-get", []any{[]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), uint64(6), false}},
		{"http-post-fin", []any{[]byte("POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"), uint64(7), true}},
		{"garbage", []any{garbage, uint64(8), true}},
		{"garbage-nofin", []any{garbage, uint64(9), false}},
		{"sslv2-hello", []any{sslv2, uint64(10), false}},
		{"huge-record-length", []any{append(bigRecord, hello13[5:]...), uint64(11), false}},
		{"close-notify", []any{closeNotify, uint64(12), false}},
		{"clienthello-then-garbage", []any{append(append([]byte(nil), hello13...), garbage...), uint64(13), false}},
		{"clienthello-then-close-notify", []any{append(append([]byte(nil), hello12...), closeNotify...), uint64(14), false}},
		{"empty-fin", []any{[]byte{}, uint64(15), true}},
		{"header-only-nofin", []any{hello13[:5], uint64(16), false}},
	}
	ccs := []byte{20, 3, 3, 0, 1, 1}
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog\n", 40))
	app := []seed{
		{"no-garbage", []any{text, []byte{}, uint64(1), uint8(0), uint8(0)}},
		{"no-garbage-close-notify", []any{text, []byte{}, uint64(2), uint8(0), uint8(2)}},
		{"random-garbage-middle", []any{text, garbage, uint64(3), uint8(3), uint8(0)}},
		{"random-garbage-tls12", []any{text, garbage, uint64(4), uint8(2), uint8(1)}},
		{"bad-mac-record", []any{text, append([]byte{23, 3, 3, 0, 40}, tlsRandomBytes(40, 3)...), uint64(5), uint8(1), uint8(2)}},
		{"ccs-ignored-tls13", []any{text, bytes.Repeat(ccs, 3), uint64(6), uint8(2), uint8(2)}},
		{"ccs-too-many-tls13", []any{text, bytes.Repeat(ccs, 17), uint64(7), uint8(2), uint8(0)}},
		{"ccs-tls12", []any{text, ccs, uint64(8), uint8(2), uint8(1)}},
		{"plain-alert", []any{text, []byte{21, 3, 3, 0, 2, 2, 40}, uint64(9), uint8(1), uint8(0)}},
		{"plain-close-notify", []any{text, []byte{21, 3, 3, 0, 2, 1, 0}, uint64(10), uint8(1), uint8(3)}},
		{"huge-length", []any{text, []byte{23, 3, 3, 0xff, 0xff}, uint64(11), uint8(1), uint8(0)}},
		{"partial-header", []any{text, []byte{23, 3}, uint64(12), uint8(1), uint8(0)}},
		{"swallowing-header", []any{text, []byte{23, 3, 3, 0x40, 0}, uint64(13), uint8(1), uint8(6)}},
		{"bad-version", []any{text, []byte{23, 3, 1, 0, 1, 0}, uint64(14), uint8(0), uint8(0)}},
		{"pause-big-records", []any{bytes.Repeat(text, 30), []byte{}, uint64(15), uint8(0), uint8(6)}},
		{"garbage-at-start", []any{text, garbage, uint64(16), uint8(0), uint8(4)}},
		{"empty", []any{[]byte{}, []byte{}, uint64(17), uint8(0), uint8(0)}},
	}
	write := os.Getenv("MUSTAINE_WRITE_FUZZ_SEEDS") == "1"
	for target, seeds := range map[string][]seed{"FuzzTLSServerRecords": server, "FuzzTLSApplicationRecords": app} {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seeds {
			path := filepath.Join(dir, s.name)
			if !write {
				if _, err := os.Stat(path); err != nil {
					t.Errorf("seed missing (MUSTAINE_WRITE_FUZZ_SEEDS=1 writes it): %v", err)
				}
				continue
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, marshalFuzzSeed(s.args...), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// marshalFuzzSeed writes a corpus file as go test's fuzzing engine does.
func marshalFuzzSeed(args ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		default:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		}
	}
	return b.Bytes()
}
