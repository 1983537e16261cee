package reactor

import (
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// Connection state bits, kept in one word to keep an idle connection small.
const (
	fClosed         uint32 = 1 << iota // fd closed, ConnectionLost called or scheduled
	fClosing                           // LoseConnection: close once output is flushed
	fShutWrPending                     // CloseWrite: shut down once output is flushed
	fShutWr                            // write side shut down
	fReadClosed                        // peer sent FIN (half-close aware protocol)
	fPaused                            // PauseReading
	fReadPending                       // readable while paused, or more to read
	fWantWrite                         // the kernel refused output: wait for writability
	fDirty                             // on the loop's dirty list
	fProducerPaused                    // the streaming producer was paused by us
	fStreaming                         // the registered producer is a push producer
	fUnix                              // a Unix-domain socket
	fConnecting                        // a client connect is in progress
	fReadQueued                        // on the loop's read-again list
	fPeerClosed                        // closing because the peer sent FIN
	fOutputFull                        // unsent output above the high-water mark, no producer: not reading
	fLingering                         // closed for writing after LoseConnection; dropping input until EOF
	fDropped                           // input arrived after LoseConnection and was dropped
	fSending                           // io_uring: a send of the output is in flight
)

// readBlocked is the set of states in which the reactor does not read from
// a connection: the protocol paused it, or its unsent output is above the
// high-water mark (see fOutputFull). A closing connection is still read,
// but what it reads is dropped, not delivered (see loop.read).
const readBlocked = fPaused | fOutputFull

// lingerTimeout bounds a lingering close (see loop.linger).
const lingerTimeout = 2 * time.Second

// conn is a connection owned by one loop; it is the Transport its Protocol
// sees. Every field is touched only on the owning loop's goroutine.
type conn struct {
	fd       int
	flags    uint32
	loop     *loop
	proto    protocol.Protocol
	out      []byte // pending output from outOff on; nil when idle
	outOff   int
	remote   net.Addr
	producer protocol.Producer
	tls      *tlsLayer // set for TLS connections (see tls.go)
	aux      *connAux  // set for client connections and after a PROXY header
	id       uint64
}

// connAux is what only some connections have, each kind its own: a client
// connection its connect's state, an accepted one the PROXY header it
// came with. One pointer for both keeps conn at 128 bytes, a size class
// below the 144 that a pointer each took: 16 bytes less per idle
// connection, on the budget the bench's idle loads hold it to.
type connAux struct {
	dial  *dialState  // client connections (see connector.go)
	proxy *proxyState // once a PROXY header was read (see proxyproto.go)
}

// dialing is c's connect state, nil for an accepted connection.
func (c *conn) dialing() *dialState {
	if c.aux == nil {
		return nil
	}
	return c.aux.dial
}

// proxied is the state of c's PROXY header, nil when it had none.
func (c *conn) proxied() *proxyState {
	if c.aux == nil {
		return nil
	}
	return c.aux.proxy
}

var _ protocol.Transport = (*conn)(nil)

func (c *conn) pending() int { return len(c.out) - c.outOff }

// writable reports whether Write may still queue data.
func (c *conn) writable() bool {
	return c.flags&(fClosed|fClosing|fShutWrPending|fShutWr) == 0
}

// Write queues p; see protocol.Transport.
func (c *conn) Write(p []byte) (int, error) {
	if c.tls != nil {
		return c.tls.write(p)
	}
	if !c.writable() {
		return 0, protocol.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.loop.reserveOut(c, len(p))
	c.out = append(c.out, p...)
	c.afterWrite()
	return len(p), nil
}

// Writev queues every buffer in bufs; see protocol.Transport.
func (c *conn) Writev(bufs ...[]byte) (int, error) {
	if c.tls != nil {
		return c.tls.writev(bufs)
	}
	if !c.writable() {
		return 0, protocol.ErrClosed
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if total == 0 {
		return 0, nil
	}
	c.loop.reserveOut(c, total)
	for _, b := range bufs {
		c.out = append(c.out, b...)
	}
	c.afterWrite()
	return total, nil
}

// afterWrite arranges the flush and applies the high-water mark to a
// registered streaming producer. A connection without a producer is held
// back by its reader instead: see fOutputFull in loop.flush.
func (c *conn) afterWrite() {
	c.loop.markDirty(c)
	if c.producer != nil && c.flags&(fStreaming|fProducerPaused) == fStreaming &&
		c.pending() > c.loop.r.cfg.highWater {
		c.flags |= fProducerPaused
		c.loop.guard(c, c.producer.PauseProducing)
	}
}

// LoseConnection stops delivering input, flushes, then closes; see
// protocol.Transport. With a pull producer registered the connection stays
// open until UnregisterProducer, as in Twisted.
func (c *conn) LoseConnection() {
	if c.tls != nil {
		c.tls.loseConnection()
		return
	}
	c.loseRaw()
}

// loseRaw is LoseConnection on the socket itself, under any TLS layer.
func (c *conn) loseRaw() {
	if c.flags&(fClosed|fClosing) != 0 {
		return
	}
	c.flags |= fClosing
	c.loop.markDirty(c)
}

// AbortConnection closes at once with a reset; see protocol.Transport.
func (c *conn) AbortConnection() {
	c.loop.abort(c, protocol.ErrAborted)
}

// CloseWrite half-closes after flushing; see protocol.Transport.
func (c *conn) CloseWrite() error {
	if c.tls != nil {
		return c.tls.closeWrite()
	}
	return c.closeWriteRaw()
}

// closeWriteRaw is CloseWrite on the socket itself, under any TLS layer.
func (c *conn) closeWriteRaw() error {
	if c.flags&(fClosed|fClosing) != 0 {
		return protocol.ErrClosed
	}
	if c.flags&(fShutWrPending|fShutWr) != 0 {
		return nil
	}
	c.flags |= fShutWrPending
	c.loop.markDirty(c)
	return nil
}

// PauseReading stops reading; see protocol.Transport.
func (c *conn) PauseReading() {
	if c.tls != nil {
		c.tls.pauseReading()
		return
	}
	c.flags |= fPaused
	if c.loop.ur != nil {
		c.loop.ur.pause(c) // io_uring: stop the multishot receive now
	}
}

// ResumeReading undoes PauseReading. Data that arrived meanwhile is read on
// the next turn of the loop, never inside this call. It does not turn
// reading back on while the connection is closing, nor while its unsent
// output is above the high-water mark (reading resumes by itself once the
// output drains below the low mark).
func (c *conn) ResumeReading() {
	if c.tls != nil {
		c.tls.resumeReading()
		return
	}
	c.resumeRaw()
}

// resumeRaw is ResumeReading on the socket itself, under any TLS layer.
func (c *conn) resumeRaw() {
	if c.flags&fPaused == 0 {
		return
	}
	c.flags &^= fPaused
	c.loop.readIfPending(c)
}

// PauseProducing is PauseReading: a connection is a streaming producer of
// the bytes it reads (see protocol.Transport).
func (c *conn) PauseProducing() { c.PauseReading() }

// ResumeProducing is ResumeReading. It lifts only the pause that
// PauseProducing or PauseReading made: the reactor's own hold on a
// connection whose unsent output is above the high-water mark is a
// separate state and stays until that output drains.
func (c *conn) ResumeProducing() { c.ResumeReading() }

// StopProducing is LoseConnection, as in Twisted's tcp.Connection.
func (c *conn) StopProducing() { c.LoseConnection() }

// RegisterProducer registers p; see protocol.Transport.
func (c *conn) RegisterProducer(p protocol.Producer, streaming bool) error {
	if c.producer != nil {
		return protocol.ErrProducerRegistered
	}
	if c.flags&fClosed != 0 {
		// Twisted: registering on a disconnected transport stops the
		// producer at once.
		c.loop.guard(nil, p.StopProducing)
		return protocol.ErrClosed
	}
	c.producer = p
	c.flags &^= fProducerPaused | fStreaming
	if streaming {
		c.flags |= fStreaming
		if c.pending() > c.loop.r.cfg.highWater {
			c.flags |= fProducerPaused
			c.loop.guard(c, p.PauseProducing)
		}
	} else {
		// A pull producer is asked for its first chunk at once, as in
		// Twisted; later chunks are asked for whenever the buffer drains.
		c.loop.guard(c, p.ResumeProducing)
	}
	return nil
}

// UnregisterProducer removes the producer. A LoseConnection that was
// waiting for it (a pull producer) now goes ahead.
func (c *conn) UnregisterProducer() {
	if c.producer == nil {
		return
	}
	c.producer = nil
	c.flags &^= fProducerPaused | fStreaming
	if c.flags&(fClosing|fClosed) == fClosing {
		c.loop.markDirty(c)
	}
}

// BufferedAmount is the number of bytes not yet taken by the kernel.
func (c *conn) BufferedAmount() int { return c.pending() }

// LocalAddr returns the local address, or nil once the connection is
// closed. It is asked of the kernel each time rather than kept, which keeps
// an idle connection small. After a PROXY header with addresses it is the
// original destination.
func (c *conn) LocalAddr() net.Addr {
	if c.flags&fClosed != 0 {
		return nil
	}
	if p := c.proxied(); p != nil && p.local != nil {
		return p.local
	}
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return nil
	}
	return sockaddrToAddr(sa, c.flags&fUnix != 0)
}

// closeReason is why a connection closing after its output is flushed is
// lost: kept as a flag rather than an error field to keep a connection small.
func (c *conn) closeReason() error {
	if c.flags&fPeerClosed != 0 {
		return protocol.ErrPeerClosed
	}
	return protocol.ErrConnectionDone
}

// RemoteAddr returns the peer's address.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// Loop returns the loop that owns the connection.
func (c *conn) Loop() protocol.Loop { return c.loop }
