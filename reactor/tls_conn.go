package reactor

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// tlsState is where a TLS layer is in its life.
type tlsState uint8

const (
	tlsWaiting     tlsState = iota // handshake not started: no ClientHello yet, or no free slot
	tlsHandshaking                 // the handshake goroutine runs
	tlsOpen                        // records are read and written on the loop
	tlsFailed                      // the handshake or a record failed; the socket is closing
	tlsClosed                      // the socket is gone
)

// Limits of the handshake phase.
const (
	// handshakeInputMax is how much ciphertext is buffered while the
	// handshake runs before the socket stops being read.
	handshakeInputMax = 64 << 10
	// maxRecord is the largest TLS record a peer may send, header included.
	maxRecord = 5 + 16384 + 2048
)

// tlsLayer is the TLS layer between a socket (its conn) and the user's
// Protocol, as Twisted's TLSMemoryBIOProtocol: it is the conn's Protocol,
// and the conn's Transport methods divert to it (see conn.tls), so the user
// keeps the conn as its Transport and sees plaintext. All fields but b are
// touched only on the conn's loop.
type tlsLayer struct {
	c         *conn
	tc        *tls.Conn
	b         bio // in the layer: one allocation less per connection
	config    *tls.Config
	factory   protocol.Factory  // builds user after the handshake; nil for StartTLS
	dial      *clientTLSFactory // set for ConnectTLS
	user      protocol.Protocol // nil until the handshake is done (StartTLS: from the start)
	timer     timer.Handle      // the handshake timeout
	pending   [][]byte          // plaintext written during a StartTLS handshake
	lostErr   error             // what ConnectionLost tells the user, if not the socket's reason
	state     tlsState
	server    bool
	made      bool // user's ConnectionMade has run (or StartTLS: the user was there before)
	handshook bool // the handshake succeeded
	queued    bool // waiting for a handshake slot
	// Reading: userPaused is PauseReading; hsPaused holds the socket back
	// while too much input waits for the handshake; peerDone is set once
	// the peer's close_notify or EOF has been handled.
	userPaused, hsPaused, peerDone bool
	drainQueued                    bool
	// What a StartTLS user asked for during the handshake.
	loseAfter, closeWriteAfter bool
}

// ConnectionState returns the TLS state once the handshake is done; see
// protocol.TLSTransport.
func (c *conn) ConnectionState() (tls.ConnectionState, bool) {
	if c.tls == nil || !c.tls.handshook {
		return tls.ConnectionState{}, false
	}
	return c.tls.tc.ConnectionState(), true
}

var (
	_ protocol.TLSTransport = (*conn)(nil)
	_ protocol.TLSStarter   = (*conn)(nil)
)

// StartTLS switches an established connection to TLS; see
// protocol.TLSStarter. A client config without ServerName (and without
// InsecureSkipVerify) verifies the peer's IP address.
func (c *conn) StartTLS(config *tls.Config, server bool) error {
	if c.tls != nil {
		return ErrTLSStarted
	}
	if !c.writable() {
		return protocol.ErrClosed
	}
	if config == nil {
		return fmt.Errorf("%w: nil config", ErrTLSConfig)
	}
	if !server {
		host := ""
		if ta, ok := c.remote.(*net.TCPAddr); ok {
			host = ta.IP.String()
		}
		config = clientTLSConfig(config, host)
	}
	t := &tlsLayer{config: config, server: server, user: c.proto, made: true, userPaused: c.flags&fPaused != 0}
	c.proto = t
	t.attach(c)
	if c.flags&fReadClosed != 0 {
		t.b.setErr(io.EOF) // the peer's FIN came first: the handshake fails at once
	}
	t.syncPaused() // the handshake reads even if the Protocol paused
	return nil
}

// ConnectionMade starts the layer on a new socket.
func (t *tlsLayer) ConnectionMade(tr protocol.Transport) {
	t.attach(tr.(*conn))
}

// attach sets the layer up on c and starts the handshake clock.
func (t *tlsLayer) attach(c *conn) {
	t.c = c
	c.tls = t
	c.loop.stats.tlsStarted++
	t.b.init(c)
	if t.server {
		t.tc = tls.Server(&t.b, t.config)
	} else {
		t.tc = tls.Client(&t.b, t.config)
	}
	timeout := c.loop.r.cfg.tlsTimeout
	if timeout == 0 {
		timeout = defaultTLSHandshakeTimeout
	}
	if timeout > 0 {
		t.timer = c.loop.CallLater(timeout, t.timedOut)
	}
	if !t.server {
		t.tryBegin()
	}
}

// DataReceived takes ciphertext from the socket.
func (t *tlsLayer) DataReceived(data []byte) {
	switch t.state {
	case tlsWaiting, tlsHandshaking:
		if t.b.push(data) > handshakeInputMax && !t.hsPaused {
			// Hold the peer back until the handshake has read it down
			// (a large client certificate chain) or is done.
			t.hsPaused = true
			t.b.watchDrain(func() { c := t.c; c.loop.CallFromThread(t.inputDrained) })
			t.syncPaused()
		}
		if t.state == tlsWaiting && t.server && t.b.helloReady() {
			t.tryBegin()
		}
	case tlsOpen:
		t.b.borrow(data)
		t.drain()
		t.b.unborrow()
	}
}

// ReadConnectionLost handles the socket's EOF.
func (t *tlsLayer) ReadConnectionLost() {
	switch t.state {
	case tlsWaiting:
		if t.b.buffered() == 0 {
			t.c.loseRaw() // connected and left: nothing to say
			return
		}
		t.handshakeFailed(fmt.Errorf("tls: peer closed during the first handshake message: %w", io.ErrUnexpectedEOF))
	case tlsHandshaking:
		t.b.setErr(io.EOF)
	case tlsOpen:
		// Records still buffered (the user paused reading) come first;
		// the EOF is seen after them.
		t.b.setErr(io.EOF)
		if !t.userPaused {
			t.drain()
		}
	default:
		t.c.loseRaw()
	}
}

// Drain passes a graceful stop on to a Protocol that is a
// protocol.Drainer; any other connection, or one still in its handshake,
// is closed after its output (with close_notify once TLS is up).
func (t *tlsLayer) Drain() {
	if d, ok := t.user.(protocol.Drainer); ok && t.made && t.state == tlsOpen {
		d.Drain()
		return
	}
	t.loseConnection()
}

// WriteConnectionLost tells the user its CloseWrite is done.
func (t *tlsLayer) WriteConnectionLost() {
	if wc, ok := t.user.(protocol.WriteHalfCloseable); ok && t.made {
		wc.WriteConnectionLost()
	}
}

// ConnectionLost ends the layer when the socket is gone.
func (t *tlsLayer) ConnectionLost(reason error) {
	prev := t.state
	t.state = tlsClosed
	t.c.loop.stats.tlsLost(t.handshook)
	t.timer.Cancel()
	t.b.setErr(net.ErrClosed)
	t.pending = nil
	if t.lostErr != nil {
		reason = t.lostErr
	} else if prev < tlsOpen {
		reason = fmt.Errorf("%w: %w", ErrTLSHandshake, reason)
	}
	if t.dial != nil && !t.made {
		t.dial.failed(t.c.remote, reason)
	}
	if t.made && t.user != nil {
		t.user.ConnectionLost(reason)
	}
}

// inputDrained reads again once the handshake has consumed most of what
// was held.
func (t *tlsLayer) inputDrained() {
	if t.hsPaused && t.state < tlsOpen {
		t.hsPaused = false
		t.syncPaused()
	}
}

// tryBegin starts the handshake if a slot is free, else queues for one.
func (t *tlsLayer) tryBegin() {
	if t.state != tlsWaiting || t.queued {
		return
	}
	if !t.c.loop.r.handshakes.acquire(t, t.handshakeLimit()) {
		t.queued = true
		return
	}
	t.begin()
}

func (t *tlsLayer) handshakeLimit() int {
	if n := t.c.loop.r.cfg.tlsHandshakes; n > 0 {
		return n
	}
	return defaultTLSHandshakes
}

// granted runs on the loop when a slot was handed to a queued layer.
func (t *tlsLayer) granted() {
	t.queued = false
	if t.state != tlsWaiting {
		t.c.loop.r.handshakes.release() // gone meanwhile: pass it on
		return
	}
	t.begin()
}

// begin runs the handshake on its own goroutine; the slot is held.
func (t *tlsLayer) begin() {
	t.state = tlsHandshaking
	if t.server {
		t.b.reframeHello()
	}
	go t.handshake()
	t.c.loop.readied()
}

// handshake is the handshake goroutine: crypto/tls's handshake blocks on
// the bio, which the loop feeds; it ends when the handshake does.
func (t *tlsLayer) handshake() {
	err := t.runHandshake()
	t.c.loop.r.handshakes.release()
	t.c.loop.CallFromThread(func() { t.handshakeDone(err) })
}

func (t *tlsLayer) runHandshake() (err error) {
	defer func() {
		// A panic in a tls.Config callback (GetCertificate,
		// VerifyPeerCertificate) fails this handshake, not the process.
		if v := recover(); v != nil {
			err = &protocol.PanicError{Value: v}
		}
	}()
	return t.tc.Handshake()
}

// handshakeDone runs on the loop after the handshake goroutine.
func (t *tlsLayer) handshakeDone(err error) {
	t.b.handshakeOver()
	if t.state != tlsHandshaking {
		return // closed or timed out meanwhile
	}
	if err != nil {
		t.handshakeFailed(err)
		return
	}
	t.timer.Cancel()
	t.state = tlsOpen
	t.handshook = true
	t.c.loop.stats.tlsDone++
	c, l := t.c, t.c.loop
	if t.user == nil {
		l.guard(c, func() { t.user = t.factory.BuildProtocol(c.remote) })
		if c.flags&fClosed != 0 {
			return
		}
		if t.user == nil {
			t.lostErr = protocol.ErrRefused
			t.loseConnection()
			return
		}
	}
	if !t.made {
		t.made = true
		l.guard(c, func() { t.user.ConnectionMade(c) })
	}
	if hl, ok := t.user.(protocol.HandshakeListener); ok && c.flags&fClosed == 0 {
		l.guard(c, hl.HandshakeCompleted)
	}
	if t.dial != nil {
		l.guard(nil, func() { t.dial.d.Callback(t.user) })
	}
	if c.flags&fClosed != 0 {
		return
	}
	// What a StartTLS user wrote or asked for during the handshake.
	pending := t.pending
	t.pending = nil
	for _, p := range pending {
		t.write(p)
	}
	if t.loseAfter {
		t.loseConnection()
	} else if t.closeWriteAfter {
		t.closeWrite()
	}
	t.hsPaused = false
	t.syncPaused()
	// Application data may have come with the handshake's last flight.
	t.drain()
	t.b.unborrow() // and the handshake's input buffer goes
}

// handshakeFailed answers a failed handshake and closes: a plain HTTP
// request gets net/http's 400, a first message that is not TLS at all gets
// an alert (crypto/tls sends one for every other failure), and the reason
// is logged.
func (t *tlsLayer) handshakeFailed(err error) {
	c, l := t.c, t.c.loop
	var re tls.RecordHeaderError
	switch {
	case t.server && errors.As(err, &re) && re.Conn != nil && recordLooksLikeHTTP(re.RecordHeader):
		c.appendRaw([]byte("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"))
	case !t.b.wroteAny() && !errors.Is(err, net.ErrClosed):
		// crypto/tls sent nothing (it does not answer a first record that
		// is not TLS, nor a truncated one): the alert is ours, in clear,
		// as no keys exist yet.
		c.appendRaw(alertRecord(alertDecodeError))
	}
	connLogTLS(l, c, err, "TLS handshake failed")
	t.fail(fmt.Errorf("%w: %w", ErrTLSHandshake, err), false)
}

// fail closes the connection with reason; abort drops queued output.
func (t *tlsLayer) fail(reason error, abort bool) {
	if t.state >= tlsFailed {
		return
	}
	t.state = tlsFailed
	t.timer.Cancel()
	t.lostErr = reason
	t.b.setErr(net.ErrClosed)
	if t.dial != nil && !t.made {
		// The connect fails now, not once the alert is flushed and the
		// socket closed (which may linger).
		t.dial.failed(t.c.remote, reason)
	}
	if abort {
		t.c.AbortConnection()
		return
	}
	t.c.loseRaw()
}

// timedOut is the handshake timeout.
func (t *tlsLayer) timedOut() {
	if t.state >= tlsOpen {
		return
	}
	connLogTLS(t.c.loop, t.c, ErrTLSHandshakeTimeout, "TLS handshake timed out")
	t.fail(ErrTLSHandshakeTimeout, false)
}

func connLogTLS(l *loop, c *conn, err error, msg string) {
	l.connLog(c, l.log.Info()).Err(err).Msg(msg)
}

// drain decrypts what the bio and crypto/tls hold and delivers it, until
// crypto/tls needs more ciphertext, the user pauses or the connection
// closes.
func (t *tlsLayer) drain() {
	c := t.c
	buf := c.loop.tlsPlain()
	for t.state == tlsOpen && !t.userPaused && !t.peerDone && c.flags&(fClosed|fClosing) == 0 {
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = t.tc.Read(buf[n:])
			n += m
		}
		if n > 0 {
			t.deliver(buf[:n])
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, errWouldBlock):
			return
		case err == io.EOF && !t.b.eofGiven():
			t.closeNotified()
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			// The socket's EOF reached crypto/tls: no close_notify came.
			t.peerDone = true
			t.lostErr = fmt.Errorf("%w: %w", protocol.ErrPeerClosed, ErrNoCloseNotify)
			t.closeSending()
		case errors.Is(err, net.ErrClosed):
			return
		default:
			connLogTLS(c.loop, c, err, "TLS error")
			t.fail(fmt.Errorf("%w: %w", ErrTLS, err), false)
		}
		return
	}
}

// deliver hands plaintext to the user, recovering a panic as the loop
// does for a socket's DataReceived.
func (t *tlsLayer) deliver(p []byte) {
	defer func() {
		if v := recover(); v != nil {
			t.c.loop.panicked(t.c, v)
		}
	}()
	t.user.DataReceived(p)
}

// closeNotified handles the peer's close_notify: a half-close aware user
// hears ReadConnectionLost and may go on writing; any other is closed
// after its output, as a plain connection is on the peer's FIN.
func (t *tlsLayer) closeNotified() {
	t.peerDone = true
	c := t.c
	if hc, ok := t.user.(protocol.HalfCloseable); ok && c.flags&(fShutWrPending|fShutWr) == 0 {
		c.loop.guard(c, hc.ReadConnectionLost)
		return
	}
	// Not half-close aware, or both directions are now done.
	t.lostErr = protocol.ErrPeerClosed
	t.closeSending()
}

// closeSending sends close_notify and closes after the output.
func (t *tlsLayer) closeSending() {
	c := t.c
	if c.flags&(fClosed|fClosing) != 0 {
		return
	}
	if c.flags&(fShutWrPending|fShutWr) == 0 {
		t.tc.CloseWrite()
	}
	c.loseRaw()
}

// write encrypts p onto the socket's output; see protocol.Transport.Write.
func (t *tlsLayer) write(p []byte) (int, error) {
	c := t.c
	if !c.writable() {
		return 0, protocol.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	switch t.state {
	case tlsOpen:
	case tlsWaiting, tlsHandshaking:
		if t.factory == nil { // StartTLS: hold it until the handshake is done
			t.pending = append(t.pending, append([]byte(nil), p...))
			return len(p), nil
		}
		return 0, protocol.ErrClosed
	default:
		return 0, protocol.ErrClosed
	}
	n, err := t.tc.Write(p)
	// The user's producer may be paused only now, with no crypto/tls lock
	// held (the bio queues ciphertext without calling user code).
	c.afterWrite()
	if err != nil {
		return n, protocol.ErrClosed
	}
	return n, nil
}

// writev gathers small buffers into one record.
func (t *tlsLayer) writev(bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if total <= 16<<10 && len(bufs) > 1 && t.state == tlsOpen {
		l := t.c.loop
		s := l.tls.scratch[:0]
		for _, b := range bufs {
			s = append(s, b...)
		}
		l.tls.scratch = s
		return t.write(s)
	}
	n := 0
	for _, b := range bufs {
		m, err := t.write(b)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// loseConnection sends close_notify, then closes after the output.
func (t *tlsLayer) loseConnection() {
	c := t.c
	if c.flags&(fClosed|fClosing) != 0 {
		return
	}
	switch t.state {
	case tlsOpen:
		t.closeSending()
	case tlsWaiting, tlsHandshaking:
		if t.factory == nil && len(t.pending) > 0 {
			t.loseAfter = true // StartTLS: send the held writes first
			return
		}
		c.loseRaw()
	default:
		c.loseRaw()
	}
}

// closeWrite sends close_notify and shuts the socket's write side; reading
// goes on (TLS 1.3 allows it, and crypto/tls reads after CloseWrite).
func (t *tlsLayer) closeWrite() error {
	c := t.c
	if c.flags&(fClosed|fClosing) != 0 {
		return protocol.ErrClosed
	}
	switch t.state {
	case tlsOpen:
		if c.flags&(fShutWrPending|fShutWr) != 0 {
			return nil
		}
		if t.peerDone {
			// The peer's close_notify came first: both directions are
			// done, so this is a close.
			t.lostErr = protocol.ErrPeerClosed
			t.closeSending()
			return nil
		}
		t.tc.CloseWrite()
	case tlsWaiting, tlsHandshaking:
		if t.factory == nil {
			t.closeWriteAfter = true
			return nil
		}
	}
	return c.closeWriteRaw()
}

func (t *tlsLayer) pauseReading() {
	t.userPaused = true
	t.syncPaused()
}

// resumeReading reads again; records crypto/tls or the bio still hold are
// delivered on a later turn, never inside the call.
func (t *tlsLayer) resumeReading() {
	if !t.userPaused {
		return
	}
	t.userPaused = false
	t.syncPaused()
	if t.state == tlsOpen && !t.drainQueued {
		t.drainQueued = true
		t.c.loop.CallSoon(func() {
			t.drainQueued = false
			if !t.userPaused {
				t.drain()
			}
		})
	}
}

// syncPaused makes the socket's read pause follow the layer's reasons: too
// much input waiting for the handshake, or the Protocol's PauseReading,
// which takes effect once the handshake is done (the handshake must read).
func (t *tlsLayer) syncPaused() {
	c := t.c
	if t.hsPaused || t.userPaused && t.state >= tlsOpen {
		c.flags |= fPaused
		return
	}
	c.resumeRaw()
}

// appendRaw queues bytes on the socket as they are (ciphertext, or a
// plaintext answer to a non-TLS peer). It calls no user code, so it is
// safe under crypto/tls's locks.
func (c *conn) appendRaw(p []byte) error {
	if c.flags&(fClosed|fShutWr) != 0 {
		return protocol.ErrClosed
	}
	c.loop.reserveOut(c, len(p))
	c.out = append(c.out, p...)
	c.loop.markDirty(c)
	return nil
}

// recordLooksLikeHTTP is net/http's test for a plain HTTP request sent to
// a TLS port.
func recordLooksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

const alertDecodeError = 50

// alertRecord is a fatal TLS alert record in clear.
func alertRecord(desc byte) []byte {
	return []byte{21, 3, 1, 0, 2, 2, desc}
}

// errWouldBlock is what the bio returns when it has no ciphertext left
// after the handshake. crypto/tls treats a net.Error whose Temporary() is
// true as "try again": it keeps a partial record in its own buffer and
// does not poison the connection (see readRecordOrCCS in crypto/tls).
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "mustaine: no TLS input yet" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// bio is the in-memory net.Conn crypto/tls runs over ("BIO", as in
// OpenSSL). Input: the loop pushes ciphertext it read; crypto/tls reads
// it. Output: what crypto/tls writes goes to the socket's output buffer.
//
// While the handshake runs on its goroutine the bio is blocking: Read waits
// for the loop to push, and writes are handed to the loop with
// CallFromThread. After it, everything happens on the loop: Read returns
// errWouldBlock when empty, and Write appends to the socket's output at
// once. mu guards the fields below it.
type bio struct {
	c *conn

	mu       sync.Mutex
	buf      []byte // owned unread ciphertext is buf[off:]
	off      int
	borrowed []byte // ciphertext read by the loop, valid during DataReceived
	err      error  // returned once the input is drained: the socket's EOF or close
	errGiven bool   // err was returned to crypto/tls
	blocking bool
	wrote    bool          // crypto/tls has written something
	hs       *bioHandshake // what only the handshake needs; nil once it is over
}

// bioHandshake is the part of a bio that only the handshake uses, dropped
// once it is over, so an idle connection does not hold it.
type bioHandshake struct {
	cond    sync.Cond // Read waits on it while blocking; L is the bio's mu
	drained func()    // called (once) when Read has taken the input below half of handshakeInputMax
	// Re-framing of a server's first record (see reframeHello): hello is
	// its header, helloLeft the payload bytes not yet framed, fragLeft
	// those left of the fragment being read, hdrLeft its header bytes
	// not yet read.
	hello                        [5]byte
	helloLeft, fragLeft, hdrLeft int
	// plan is the first fragment's size; handLen and handCap follow
	// crypto/tls's handshake buffer as the fragments fill it.
	plan, handLen, handCap int
}

// init readies b, blocking, for a handshake on c.
func (b *bio) init(c *conn) {
	b.c = c
	b.blocking = true
	b.hs = &bioHandshake{}
	b.hs.cond.L = &b.mu
}

// handshakeOver makes b non-blocking and drops its handshake state; the
// handshake goroutine has returned.
func (b *bio) handshakeOver() {
	b.mu.Lock()
	b.blocking = false
	b.hs = nil
	b.mu.Unlock()
}

// maxHelloFragment is the largest fragment reframeHello cuts the first
// record into: with its 5-byte header it fills the 576 bytes crypto/tls
// first allocates for its record buffer (bytes.Buffer.Grow of a header
// plus bytes.MinRead, rounded up to Go's size class), so that buffer never
// grows for the ClientHello.
const maxHelloFragment = 576 - 5

// maxPlannedHello is the largest ClientHello whose fragment sizes are
// planned to keep crypto/tls's handshake buffer small (see helloPlan);
// a larger one is cut into maxHelloFragment pieces.
const maxPlannedHello = 4096

// reframeHello cuts a server's first record, a ClientHello of more than
// maxHelloFragment bytes (about 1.5 KB from clients that send an ML-KEM
// key share), into smaller records, which Read hands out one at a time.
// crypto/tls keeps the capacity of two buffers for the life of the
// connection (bytes.Buffer never shrinks): its record buffer, which must
// hold a whole record, and its handshake buffer, which must hold the
// whole ClientHello and grows, as bytes.Buffer does, by doubling as the
// records' payloads are appended to it. Fed the ClientHello as it came,
// they keep 2.7 KB and 1.5 KB; fed fragments of at most maxHelloFragment,
// the record buffer keeps 576 bytes, and the fragments' sizes are chosen
// (helloPlan) so that the handshake buffer's doublings end at the
// smallest size class that holds the ClientHello: 1536 bytes for Go's
// default client rather than 2048 for fragments of 512. RFC 8446 section
// 5.1 lets a handshake message be fragmented across records (the
// transcript covers the messages, not the records), and crypto/tls
// reassembles them; only plaintext records can be re-framed, and the
// first is always one. Anything that is not a whole handshake record is
// left alone for crypto/tls to judge. On the loop, before the handshake
// goroutine starts.
func (b *bio) reframeHello() {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.buf[b.off:]
	if len(in) < 5 || in[0] != 22 {
		return
	}
	n := int(in[3])<<8 | int(in[4])
	if n <= maxHelloFragment || n > 16384 || len(in) < 5+n {
		return
	}
	copy(b.hs.hello[:], in[:5])
	b.off += 5
	b.hs.helloLeft = n
	b.hs.plan = helloPlan(n)
}

// helloPlan returns the size of the first fragment of a ClientHello of n
// bytes. The next ones are as large as the simulated handshake buffer's
// capacity (or maxHelloFragment), which makes each growth a doubling
// (bytes.Buffer grows to twice its capacity when that is enough, rounded
// up to the allocator's size class): the buffer's final capacity is the
// first of first's class, then its doublings, that holds n. The first
// fragment is the largest whose chain ends lowest.
func helloPlan(n int) int {
	if n > maxPlannedHello {
		return maxHelloFragment
	}
	classes := allocClasses()
	best, bestCap := maxHelloFragment, 1<<30
	for _, c := range classes {
		if c <= 64 { // a first write of 64 bytes or less gets 64 (bytes.Buffer's smallBufferSize)
			continue
		}
		first := min(c, maxHelloFragment)
		if first > n {
			break
		}
		end := allocRound(classes, first)
		for end < n {
			end = allocRound(classes, 2*end)
		}
		if end <= bestCap {
			best, bestCap = first, end
		}
	}
	return best
}

var (
	allocClassesOnce sync.Once
	allocClassTable  []int
)

// allocClasses returns the capacities Go's allocator gives byte slices,
// ascending, up to twice maxPlannedHello, found once by asking it.
func allocClasses() []int {
	allocClassesOnce.Do(func() {
		for n := 1; n <= 2*maxPlannedHello; {
			c := cap(append([]byte(nil), make([]byte, n)...))
			allocClassTable = append(allocClassTable, c)
			n = c + 1
		}
	})
	return allocClassTable
}

// allocRound is the capacity of a byte slice of n bytes, from classes.
func allocRound(classes []int, n int) int {
	for _, c := range classes {
		if c >= n {
			return c
		}
	}
	return n
}

// readHello is Read while reframeHello's fragments last: it returns at
// most one fragment, its synthesised header first. Under mu.
func (b *bio) readHello(p []byte) int {
	h := b.hs
	if h.hdrLeft == 0 && h.fragLeft == 0 {
		n := h.nextFragment()
		h.helloLeft -= n
		h.fragLeft, h.hdrLeft = n, 5
		h.hello[3], h.hello[4] = byte(n>>8), byte(n)
	}
	w := 0
	if h.hdrLeft > 0 {
		w = copy(p, h.hello[5-h.hdrLeft:])
		h.hdrLeft -= w
	}
	if h.hdrLeft == 0 {
		k := copy(p[w:min(len(p), w+h.fragLeft)], b.buf[b.off:])
		b.off += k
		h.fragLeft -= k
		w += k
	}
	return w
}

// nextFragment is the size of the next fragment of the ClientHello (see
// helloPlan), and follows crypto/tls's handshake buffer as it will grow.
func (h *bioHandshake) nextFragment() int {
	n := h.plan
	if h.handCap > 0 {
		n = h.handCap
	}
	n = min(n, h.helloLeft, maxHelloFragment)
	if h.handLen+n > h.handCap {
		if h.handCap == 0 {
			h.handCap = n
		} else {
			h.handCap = max(2*h.handCap, h.handLen+n)
		}
		if h.handLen+n <= 2*maxPlannedHello {
			h.handCap = allocRound(allocClasses(), h.handCap)
		}
	}
	h.handLen += n
	return n
}

// reframing reports whether Read is handing out reframeHello's
// fragments. Under mu.
func (b *bio) reframing() bool {
	h := b.hs
	return h != nil && (h.helloLeft > 0 || h.fragLeft > 0 || h.hdrLeft > 0)
}

// watchDrain arranges for fn to be called from Read once the buffered
// input falls below half of handshakeInputMax.
func (b *bio) watchDrain(fn func()) {
	b.mu.Lock()
	if b.hs != nil {
		b.hs.drained = fn
	}
	b.mu.Unlock()
}

var _ net.Conn = (*bio)(nil)

// push appends ciphertext for the handshake goroutine; it returns what is
// buffered.
func (b *bio) push(p []byte) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.off == len(b.buf) {
		b.buf, b.off = b.buf[:0], 0
	}
	if b.buf == nil {
		b.buf = b.c.loop.tlsInput()
	}
	b.buf = append(b.buf, p...)
	if b.hs != nil {
		b.hs.cond.Signal()
		b.c.loop.readied()
	}
	return len(b.buf) - b.off
}

// borrow lends p to crypto/tls for one DataReceived (no copy: crypto/tls
// copies what it reads into its own record buffer).
func (b *bio) borrow(p []byte) {
	b.mu.Lock()
	if b.off < len(b.buf) {
		b.buf = append(b.buf, p...) // older bytes first
	} else {
		b.borrowed = p
	}
	b.mu.Unlock()
}

// unborrow copies what crypto/tls did not take (the user paused reading)
// and drops a drained buffer, so an idle connection holds none.
func (b *bio) unborrow() {
	b.mu.Lock()
	if len(b.borrowed) > 0 {
		// borrow lends only when the owned buffer is drained.
		b.buf, b.off = append(b.buf[:0], b.borrowed...), 0
		b.borrowed = nil
	}
	if b.off == len(b.buf) {
		if b.hs == nil {
			// The handshake goroutine is gone: nobody else holds it.
			b.c.loop.tlsInputDone(b.buf)
		}
		b.buf, b.off = nil, 0
	}
	b.mu.Unlock()
}

func (b *bio) buffered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf) - b.off + len(b.borrowed)
}

// helloReady reports whether a server has enough to start the handshake
// without waiting in it: the whole first record, or a first header that is
// not a handshake record (crypto/tls rejects it from the header).
func (b *bio) helloReady() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.buf[b.off:]
	if len(in) < 5 {
		return false
	}
	n := 5 + (int(in[3])<<8 | int(in[4]))
	return in[0] != 22 || len(in) >= n || n > maxRecord
}

func (b *bio) setErr(err error) {
	b.mu.Lock()
	if b.err == nil || b.err == io.EOF && err != io.EOF {
		b.err = err
	}
	if b.hs != nil {
		b.hs.cond.Broadcast()
	}
	b.mu.Unlock()
}

func (b *bio) eofGiven() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.errGiven
}

func (b *bio) wroteAny() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wrote
}

// Read gives crypto/tls ciphertext; see bio.
func (b *bio) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reframing() {
		if len(p) == 0 {
			return 0, nil
		}
		return b.readHello(p), nil
	}
	for {
		if len(b.borrowed) > 0 {
			n := copy(p, b.borrowed)
			b.borrowed = b.borrowed[n:]
			return n, nil
		}
		if b.off < len(b.buf) {
			n := copy(p, b.buf[b.off:])
			b.off += n
			if h := b.hs; h != nil && h.drained != nil && len(b.buf)-b.off < handshakeInputMax/2 {
				h.drained()
				h.drained = nil
			}
			return n, nil
		}
		if b.err != nil {
			b.errGiven = true
			return 0, b.err
		}
		if !b.blocking {
			return 0, errWouldBlock
		}
		b.hs.cond.Wait()
	}
}

// Write takes crypto/tls's ciphertext; see bio.
func (b *bio) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.wrote = true
	blocking, err := b.blocking, b.err
	b.mu.Unlock()
	if err == net.ErrClosed {
		return 0, err
	}
	c := b.c
	if blocking {
		cp := append([]byte(nil), p...)
		c.loop.CallFromThread(func() { c.appendRaw(cp) })
		return len(p), nil
	}
	if err := c.appendRaw(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close wakes a blocked Read; the socket is the loop's to close.
func (b *bio) Close() error {
	b.setErr(net.ErrClosed)
	return nil
}

// LocalAddr is not known to the bio (crypto/tls does not ask for it).
func (b *bio) LocalAddr() net.Addr { return nil }

// RemoteAddr is the socket's peer, set before the handshake starts.
func (b *bio) RemoteAddr() net.Addr { return b.c.remote }

// SetDeadline does nothing: the handshake timeout is a loop timer, and
// after the handshake nothing blocks.
func (b *bio) SetDeadline(time.Time) error { return nil }

// SetReadDeadline does nothing; see SetDeadline.
func (b *bio) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline does nothing; see SetDeadline.
func (b *bio) SetWriteDeadline(time.Time) error { return nil }
