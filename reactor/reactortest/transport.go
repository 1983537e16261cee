package reactortest

import (
	"net"

	"github.com/mustaine/mustaine/protocol"
)

// Default write-buffer limits of a Transport (see SetWriteBufferLimits).
const (
	DefaultHighWater = 64 << 10
	DefaultLowWater  = 16 << 10
)

// Default addresses of a Transport made without WithLocalAddr or
// WithRemoteAddr.
var (
	DefaultLocalAddr  net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	DefaultRemoteAddr net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321}
)

// Transport is an in-memory protocol.Transport, Twisted's StringTransport:
// what the protocol writes accumulates in an output buffer that the test
// reads with Value and empties with Clear (or a Pair's Pump, which hands it
// to the peer), and every close, abort, half-close, pause and producer
// registration is recorded.
//
// A Transport made by Connect (or by ConnectedPair) is attached to its
// protocol and keeps the transport contract towards it: ConnectionLost is
// called exactly once, never inside the call that caused it, with
// protocol.ErrConnectionDone after LoseConnection and protocol.ErrAborted
// after AbortConnection, on the next turn of the loop (RunPending). A
// Transport made by NewTransport only records.
//
// Like a real transport it belongs to its loop's goroutine: the test's.
type Transport struct {
	loop          *Loop
	local, remote net.Addr
	proto         protocol.Protocol
	pair          *Pair
	peer          *Transport

	out []byte

	disconnecting bool // LoseConnection was called
	aborted       bool
	writeClosed   bool // CloseWrite was called
	writeNotified bool // WriteConnectionLost was called
	readEOF       bool // the peer half-closed and the protocol was told
	readPaused    bool
	peerNotified  bool // the peer learned of our abort
	lost          bool
	reason        error

	producer       protocol.Producer
	streaming      bool
	producerPaused bool
	high, low      int

	afterLost func(reason error) // a fake connect's ClientConnectionLost
}

var _ protocol.Transport = (*Transport)(nil)

// Option configures a Transport.
type Option func(*Transport)

// WithLoop makes the Transport use l instead of a new Loop.
func WithLoop(l *Loop) Option { return func(t *Transport) { t.loop = l } }

// WithLocalAddr sets the Transport's LocalAddr.
func WithLocalAddr(a net.Addr) Option { return func(t *Transport) { t.local = a } }

// WithRemoteAddr sets the Transport's RemoteAddr.
func WithRemoteAddr(a net.Addr) Option { return func(t *Transport) { t.remote = a } }

// NewTransport returns a Transport attached to no protocol: it records what
// is done to it and calls nothing. Unless options say otherwise it has its
// own new Loop and the default addresses.
func NewTransport(opts ...Option) *Transport {
	t := &Transport{local: DefaultLocalAddr, remote: DefaultRemoteAddr, high: DefaultHighWater, low: DefaultLowWater}
	for _, o := range opts {
		o(t)
	}
	if t.loop == nil {
		t.loop = NewLoop()
	}
	return t
}

// Connect returns a new Transport attached to p, after calling
// p.ConnectionMade with it.
func Connect(p protocol.Protocol, opts ...Option) *Transport {
	t := NewTransport(opts...)
	t.proto = p
	p.ConnectionMade(t)
	return t
}

// Write appends p to the output buffer. After LoseConnection,
// AbortConnection, CloseWrite or ConnectionLost it returns 0,
// protocol.ErrClosed.
func (t *Transport) Write(p []byte) (int, error) {
	if !t.writable() {
		return 0, protocol.ErrClosed
	}
	t.out = append(t.out, p...)
	t.checkHigh()
	return len(p), nil
}

// Writev is Write for several buffers.
func (t *Transport) Writev(bufs ...[]byte) (int, error) {
	if !t.writable() {
		return 0, protocol.ErrClosed
	}
	n := 0
	for _, b := range bufs {
		t.out = append(t.out, b...)
		n += len(b)
	}
	t.checkHigh()
	return n, nil
}

// LoseConnection records the close. An attached protocol gets
// ConnectionLost(protocol.ErrConnectionDone) on the next turn of the loop,
// or, in a Pair, once Pump has delivered the output to the peer.
func (t *Transport) LoseConnection() {
	if t.disconnecting || t.aborted || t.lost {
		return
	}
	t.disconnecting = true
	if t.proto != nil && t.pair == nil {
		t.loop.CallSoon(func() { t.connectionLost(protocol.ErrConnectionDone) })
	}
}

// AbortConnection records the abort and drops the output buffer. An
// attached protocol gets ConnectionLost(protocol.ErrAborted) on the next
// turn of the loop; in a Pair, the peer's protocol gets
// ConnectionLost(protocol.ErrPeerReset) at the next Pump.
func (t *Transport) AbortConnection() {
	if t.aborted || t.lost {
		return
	}
	t.aborted = true
	t.out = nil
	if t.proto != nil {
		t.loop.CallSoon(func() { t.connectionLost(protocol.ErrAborted) })
	}
}

// CloseWrite records the half-close. An attached protocol that implements
// protocol.WriteHalfCloseable is told on the next turn of the loop or, in a
// Pair, once Pump has delivered the output. It returns protocol.ErrClosed
// if the transport is closing or closed.
func (t *Transport) CloseWrite() error {
	if !t.writable() {
		return protocol.ErrClosed
	}
	t.writeClosed = true
	if t.proto != nil && t.pair == nil {
		t.loop.CallSoon(t.notifyWriteClosed)
	}
	return nil
}

// PauseReading records that reading is paused: a Pair delivers nothing to
// this side until ResumeReading.
func (t *Transport) PauseReading() { t.readPaused = true }

// ResumeReading undoes PauseReading.
func (t *Transport) ResumeReading() { t.readPaused = false }

// PauseProducing is PauseReading: a transport is a streaming producer (see
// protocol.Transport).
func (t *Transport) PauseProducing() { t.PauseReading() }

// ResumeProducing is ResumeReading.
func (t *Transport) ResumeProducing() { t.ResumeReading() }

// StopProducing is LoseConnection, as in Twisted.
func (t *Transport) StopProducing() { t.LoseConnection() }

// RegisterProducer registers p. A streaming producer is paused when the
// output buffer grows above the high-water mark and resumed when Clear or
// Pump drains it to the low-water mark or below; a pull producer is asked
// for more (ResumeProducing) each time Clear or Pump finds the buffer empty.
// It returns protocol.ErrProducerRegistered if a producer is registered,
// and protocol.ErrClosed after ConnectionLost.
func (t *Transport) RegisterProducer(p protocol.Producer, streaming bool) error {
	if t.producer != nil {
		return protocol.ErrProducerRegistered
	}
	if t.lost {
		return protocol.ErrClosed
	}
	t.producer, t.streaming, t.producerPaused = p, streaming, false
	t.checkHigh()
	return nil
}

// UnregisterProducer removes the producer.
func (t *Transport) UnregisterProducer() {
	t.producer, t.streaming, t.producerPaused = nil, false, false
}

// BufferedAmount is the size of the output buffer.
func (t *Transport) BufferedAmount() int { return len(t.out) }

// LocalAddr returns the local address.
func (t *Transport) LocalAddr() net.Addr { return t.local }

// RemoteAddr returns the peer's address.
func (t *Transport) RemoteAddr() net.Addr { return t.remote }

// Loop returns the transport's Loop.
func (t *Transport) Loop() protocol.Loop { return t.loop }

// FakeLoop returns the transport's Loop as the *Loop the test drives.
func (t *Transport) FakeLoop() *Loop { return t.loop }

// Value returns a copy of the output buffer: what was written and not yet
// cleared or pumped.
func (t *Transport) Value() []byte { return append([]byte(nil), t.out...) }

// String returns the output buffer as a string.
func (t *Transport) String() string { return string(t.out) }

// Clear empties the output buffer, as if the peer had read it all, and
// resumes or asks the producer as described at RegisterProducer.
func (t *Transport) Clear() {
	t.out = t.out[:0]
	t.drained()
}

// SetWriteBufferLimits sets the high and low water marks that pause and
// resume a streaming producer (DefaultHighWater and DefaultLowWater unless
// set).
func (t *Transport) SetWriteBufferLimits(high, low int) {
	t.high, t.low = high, low
}

// Disconnecting reports whether LoseConnection was called.
func (t *Transport) Disconnecting() bool { return t.disconnecting }

// Aborted reports whether AbortConnection was called.
func (t *Transport) Aborted() bool { return t.aborted }

// WriteClosed reports whether CloseWrite was called.
func (t *Transport) WriteClosed() bool { return t.writeClosed }

// ReadingPaused reports whether reading is paused.
func (t *Transport) ReadingPaused() bool { return t.readPaused }

// Producer returns the registered producer and whether it is streaming, or
// nil.
func (t *Transport) Producer() (protocol.Producer, bool) { return t.producer, t.streaming }

// ProducerPaused reports whether the transport paused its streaming
// producer because the output buffer is above the high-water mark.
func (t *Transport) ProducerPaused() bool { return t.producerPaused }

// Lost reports whether the attached protocol's ConnectionLost was called,
// and with what reason.
func (t *Transport) Lost() (bool, error) { return t.lost, t.reason }

// Disconnect ends the connection from outside, as a reactor does when the
// peer closes or resets it: the attached protocol's ConnectionLost is
// called at once with reason, unless it was already called.
func (t *Transport) Disconnect(reason error) { t.connectionLost(reason) }

func (t *Transport) writable() bool {
	return !t.disconnecting && !t.aborted && !t.writeClosed && !t.lost
}

// connectionLost ends the connection once: the producer is stopped and the
// protocol told.
func (t *Transport) connectionLost(reason error) {
	if t.lost {
		return
	}
	t.lost, t.reason = true, reason
	t.out = nil
	if p := t.producer; p != nil {
		t.UnregisterProducer()
		p.StopProducing()
	}
	if t.proto != nil {
		t.proto.ConnectionLost(reason)
	}
	if t.afterLost != nil {
		t.afterLost(reason)
	}
}

func (t *Transport) notifyWriteClosed() {
	if t.writeNotified || t.lost {
		return
	}
	t.writeNotified = true
	if w, ok := t.proto.(protocol.WriteHalfCloseable); ok {
		w.WriteConnectionLost()
	}
}

func (t *Transport) checkHigh() {
	if t.producer != nil && t.streaming && !t.producerPaused && len(t.out) > t.high {
		t.producerPaused = true
		t.producer.PauseProducing()
	}
}

// drained is called after the output buffer was emptied (or partly, for a
// streaming producer's low-water mark).
func (t *Transport) drained() {
	switch {
	case t.producer == nil || t.lost:
	case t.streaming:
		if t.producerPaused && len(t.out) <= t.low {
			t.producerPaused = false
			t.producer.ResumeProducing()
		}
	case len(t.out) == 0:
		t.producer.ResumeProducing()
	}
}
