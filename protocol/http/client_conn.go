package http

import (
	"errors"
	"fmt"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// Client connection states.
const (
	ccConnecting = iota // dialled, not yet handed a request
	ccIdle              // in the pool, no request
	ccBusy              // carrying cx
	ccClosed            // closing or closed: carries nothing more
)

// clientConn is one client connection: the Protocol the Dialer's
// connection runs, carrying one request at a time.
type clientConn struct {
	c      *Client
	hp     *hostPool
	t      protocol.Transport
	state  uint8
	served int // requests sent on it

	cx       *clientExchange
	resp     *ClientResponse
	gotBytes bool // a byte of cx's response arrived
	headDone bool
	framing  int
	left     int64 // Content-Length bytes still to come
	chunk    chunkedDecoder
	parser   respParser
	in       []byte // unparsed bytes, kept between reads
	scratch  []byte // decoded chunk data of a streamed body
	paused   bool   // a streamed body is paused by its consumer
	resumeAt bool   // a resume is scheduled
	sending  bool   // a BodyProducer is still writing the request body
	bodyCut  bool   // the request body was not sent whole: no reuse

	idleTimer, headerTimer timer.Handle
}

// ConnectionMade implements protocol.Protocol.
func (cc *clientConn) ConnectionMade(t protocol.Transport) { cc.t = t }

// assign sends cx's request on the connection.
func (cc *clientConn) assign(cx *clientExchange) {
	cc.idleTimer.Cancel()
	cc.state = ccBusy
	if cc.served > 0 {
		cc.c.stats.Reused++
	}
	cc.served++
	cc.cx, cx.conn = cx, cc
	cc.resp = newClientResponse()
	cc.gotBytes, cc.headDone, cc.paused = false, false, false
	cc.parser = respParser{}
	cc.chunk = chunkedDecoder{}
	if p := cx.req.BodyProducer; p != nil && cx.body == nil {
		cc.t.Write(cx.head)
		cc.sending = true
		w := &BodyWriter{cc: cc, cx: cx, left: p.Length()}
		if err := cc.t.RegisterProducer(p, true); err != nil {
			cc.sending = false
			return // the connection is closed: ConnectionLost follows
		}
		p.StartProducing(w)
		return
	}
	if len(cx.body) > 0 {
		cc.t.Writev(cx.head, cx.body)
	} else {
		cc.t.Write(cx.head)
	}
	cc.requestSent()
}

// requestSent starts the wait for the response head.
func (cc *clientConn) requestSent() {
	if d := cc.c.cfg.headerTimeout; d > 0 && !cc.headDone {
		cx := cc.cx
		cc.headerTimer = cc.c.lp.CallLater(d, func() {
			if cc.cx == cx && !cc.headDone {
				cx.fail(ErrResponseHeaderTimeout)
			}
		})
	}
}

// startIdleTimer closes the connection after the idle timeout.
func (cc *clientConn) startIdleTimer() {
	if d := cc.c.cfg.idleTimeout; d > 0 {
		cc.idleTimer = cc.c.lp.CallLater(d, func() {
			if cc.state == ccIdle {
				cc.close()
			}
		})
	}
}

// DataReceived implements protocol.Protocol.
func (cc *clientConn) DataReceived(data []byte) {
	if cc.state != ccBusy || cc.cx == nil {
		// Bytes nobody asked for (RFC 9112 §9.3.2 has no unsolicited
		// responses): what they mean is unknown, so the connection goes.
		cc.abort()
		return
	}
	cc.gotBytes = true
	if cc.paused || len(cc.in) > 0 {
		cc.in = append(cc.in, data...)
		if cc.paused {
			return
		}
		cc.feed(cc.in, true)
		return
	}
	cc.feed(data, false)
}

// feed processes buf and keeps what is left of it for the next read.
func (cc *clientConn) feed(buf []byte, owned bool) {
	n := cc.process(buf)
	if cc.state == ccClosed {
		cc.in = nil
		return
	}
	rest := buf[n:]
	switch {
	case len(rest) == 0:
		cc.in = cc.in[:0]
		if cap(cc.in) > 64<<10 {
			cc.in = nil
		}
	case owned:
		cc.in = cc.in[:copy(cc.in, rest)]
	default:
		cc.in = append(cc.in[:0], rest...)
	}
	if cc.state == ccIdle && len(cc.in) > 0 {
		cc.abort() // the server sent more than the response
	}
}

// process parses what it can of buf and returns the bytes consumed.
func (cc *clientConn) process(buf []byte) int {
	pos := 0
	lim := &cc.c.cfg.lim
	for cc.cx != nil && !cc.paused {
		cx := cc.cx
		if !cc.headDone {
			n, err := cc.parser.parse(buf[pos:], cc.resp, lim)
			if err != nil {
				cc.failConn(err)
				return pos
			}
			if n == 0 {
				return pos
			}
			resp := cc.resp
			resp.hdr.head = append([]byte(nil), buf[pos:pos+n]...)
			pos += n
			if resp.status < 200 && resp.status != 101 {
				// RFC 9110 §15.2: interim responses are skipped (100
				// Continue, 103 Early Hints); the final one follows.
				cc.resp = newClientResponse()
				continue
			}
			framing, err := responseFraming(resp, cx.method)
			if err != nil {
				cc.failConn(err)
				return pos
			}
			if resp.status == 101 {
				framing = frameClose // no upgrade: nothing after it is HTTP
			}
			if framing == frameLength && !cx.streaming() && resp.hdr.contentLength > cc.c.cfg.maxBody {
				cc.failConn(fmt.Errorf("%w: Content-Length %d", ErrResponseBodyTooLarge, resp.hdr.contentLength))
				return pos
			}
			cc.headDone = true
			cc.headerTimer.Cancel()
			cc.framing = framing
			cc.left = resp.hdr.contentLength
			if framing == frameLength && !cx.streaming() {
				resp.body = make([]byte, 0, resp.hdr.contentLength)
			}
			if cc.sending {
				// The server answered before the request body was all
				// sent: the rest will not be, and the connection cannot
				// carry another request.
				cc.stopSending()
				cc.bodyCut = true
			}
			cx.headReceived(resp)
			if cc.cx != cx {
				return pos // cancelled by the consumer
			}
			if framing == frameClose && resp.status == 101 {
				cc.complete(false)
				return pos
			}
			if framing == frameNone {
				cc.complete(pos < len(buf))
			}
			continue
		}
		switch cc.framing {
		case frameLength:
			k := int64(len(buf) - pos)
			if k > cc.left {
				k = cc.left
			}
			cc.deliver(buf[pos : pos+int(k)])
			pos += int(k)
			cc.left -= k
			if cc.cx != cx {
				return pos
			}
			if cc.left == 0 {
				cc.complete(pos < len(buf))
				continue
			}
			return pos
		case frameChunked:
			var n, st int
			if cx.streaming() {
				var out []byte
				n, out, st = cc.chunk.decode(buf[pos:], cc.scratch[:0], &streamLimits)
				cc.scratch = out[:0]
				if len(out) > 0 {
					cc.deliver(out)
				}
			} else {
				n, cc.resp.body, st = cc.chunk.decode(buf[pos:], cc.resp.body, lim)
			}
			pos += n
			if cc.cx != cx {
				return pos
			}
			if st != 0 {
				cc.failConn(chunkError(st))
				return pos
			}
			if cc.chunk.state == chunkDone {
				cc.complete(pos < len(buf))
				continue
			}
			return pos
		default: // frameClose
			if !cx.streaming() && int64(len(cc.resp.body)+len(buf)-pos) > cc.c.cfg.maxBody {
				cc.failConn(ErrResponseBodyTooLarge)
				return pos
			}
			cc.deliver(buf[pos:])
			return len(buf)
		}
	}
	return pos
}

// streamLimits bound a streamed chunked body only by its framing.
var streamLimits = limits{maxHeader: 64 << 10, maxFields: 100, maxBody: maxContentLength}

// chunkError maps the chunked decoder's status codes to the client's
// errors.
func chunkError(st int) error {
	switch st {
	case statusPayloadTooLarge:
		return ErrResponseBodyTooLarge
	case statusHeaderTooLarge:
		return fmt.Errorf("%w: trailer section", ErrResponseHeaderTooLarge)
	}
	return fmt.Errorf("%w: broken chunked framing", ErrMalformedResponse)
}

// deliver hands decoded body bytes to the buffer or the consumer.
func (cc *clientConn) deliver(p []byte) {
	if len(p) == 0 {
		return
	}
	if cc.cx.streaming() {
		cc.cx.bodyData(p)
		return
	}
	cc.resp.body = append(cc.resp.body, p...)
}

// complete ends the current response: the connection goes back to the
// pool when both sides allow it, and the clientExchange gets the response.
// more reports bytes after the response in the same read.
func (cc *clientConn) complete(more bool) {
	cx, resp := cc.cx, cc.resp
	cc.cx, cx.conn = nil, nil
	cc.headerTimer.Cancel()
	if cc.paused {
		// The consumer paused on the last piece: the body is over, and
		// the connection reads again (a close with reading held back
		// would linger).
		cc.paused = false
		cc.t.ResumeReading()
	}
	keep := !more && !cx.closeConn && !cc.sending && !cc.bodyCut && cc.framing != frameClose && resp.keepAlive()
	cc.resp = nil
	if keep {
		cc.hp.release(cc)
	} else {
		cc.close()
	}
	cx.complete(resp)
}

// failConn fails the current request for a fault of the connection's
// input and closes the connection.
func (cc *clientConn) failConn(err error) {
	cx := cc.cx
	cc.abort()
	if cx != nil {
		cx.fail(err)
	}
}

// close closes the connection cleanly; it carries nothing more.
func (cc *clientConn) close() {
	if cc.retire() && cc.t != nil {
		cc.t.LoseConnection()
	}
}

// abort closes the connection at once (a reset), dropping its request.
func (cc *clientConn) abort() {
	if cx := cc.cx; cx != nil {
		cc.cx, cx.conn = nil, nil
	}
	if cc.retire() && cc.t != nil {
		cc.t.AbortConnection()
	}
}

// retire marks the connection closed, stops its timers and takes it out of
// its host's pool; it reports false, doing nothing, if it was closed.
func (cc *clientConn) retire() bool {
	if cc.state == ccClosed {
		return false
	}
	cc.state = ccClosed
	cc.idleTimer.Cancel()
	cc.headerTimer.Cancel()
	cc.hp.gone(cc)
	return true
}

// ConnectionLost implements protocol.Protocol.
func (cc *clientConn) ConnectionLost(reason error) {
	wasClosed := cc.state == ccClosed
	cc.state = ccClosed
	cc.idleTimer.Cancel()
	cc.headerTimer.Cancel()
	cc.sending = false
	if !wasClosed {
		cc.hp.gone(cc)
	}
	cx := cc.cx
	if cx == nil {
		return
	}
	if cc.headDone && cc.framing == frameClose && cc.closedCleanly(reason) {
		// RFC 9112 §6.3: a body without framing ends with the
		// connection. What a paused consumer held back goes first.
		if len(cc.in) > 0 {
			in := cc.in
			cc.in = nil
			cc.deliver(in)
			if cc.cx != cx {
				return
			}
		}
		cc.complete(false)
		return
	}
	cc.cx, cx.conn = nil, nil
	if !cc.gotBytes && cc.served > 1 && !cx.retried && cx.replayable() {
		// The server closed a keep-alive connection as the request went
		// out on it: nothing was processed (RFC 9112 §9.3.1), so try once
		// more on a new connection.
		cx.retried, cx.fresh = true, true
		cc.c.stats.Retried++
		cc.c.enqueue(cx, true)
		return
	}
	cx.fail(fmt.Errorf("%w: %w", ErrResponseIncomplete, reason))
}

// closedCleanly reports whether a connection that ended with reason ended
// a body framed by the close: not a reset or an abort, and over TLS only
// after the server's close_notify (RFC 9112 §9.8: without it the body may
// have been truncated by an attacker). The reactor reports a close_notify
// as protocol.ErrPeerClosed alone, an EOF without one joined with its
// ErrNoCloseNotify.
func (cc *clientConn) closedCleanly(reason error) bool {
	if errors.Is(reason, protocol.ErrPeerReset) || errors.Is(reason, protocol.ErrAborted) {
		return false
	}
	return cc.hp.tls == nil || reason == protocol.ErrPeerClosed
}

// cancelBody abandons a streamed body: the connection is aborted and the
// consumer told.
func (cc *clientConn) cancelBody() {
	if cx := cc.cx; cx != nil && cx.delivered {
		cx.fail(errors.Join(ErrBodyCancelled, deferred.ErrCancelled))
	}
}

// pauseBody stops reading for a streamed body's consumer.
func (cc *clientConn) pauseBody() {
	if cc.paused || cc.state != ccBusy {
		return
	}
	cc.paused = true
	cc.t.PauseReading()
}

// resumeBody delivers what was held back, on a later turn, and reads
// again.
func (cc *clientConn) resumeBody() {
	if !cc.paused || cc.resumeAt {
		return
	}
	cc.resumeAt = true
	cc.c.lp.CallSoon(func() {
		cc.resumeAt = false
		if !cc.paused || cc.state == ccClosed {
			return
		}
		cc.paused = false
		cc.t.ResumeReading()
		if len(cc.in) > 0 {
			cc.feed(cc.in, true)
		}
	})
}

// stopSending abandons a request body being produced.
func (cc *clientConn) stopSending() {
	cc.sending = false
	cc.t.UnregisterProducer()
	if p := cc.cx.req.BodyProducer; p != nil {
		p.StopProducing()
	}
}

// BodyProducer streams a request body (Twisted's IBodyProducer). The
// client registers it with the connection's transport as a streaming
// producer, so PauseProducing and ResumeProducing follow the transport's
// water marks; StopProducing is called when the connection is lost or the
// server answered before the body was all sent. Its methods run on the
// client's loop.
type BodyProducer interface {
	protocol.Producer
	// Length is the body's length in bytes, or -1 for a body of unknown
	// length, sent chunked.
	Length() int64
	// StartProducing is called once, when the request head has been
	// written: from then on the producer writes the body with w, now or
	// later, and ends it with w.Close.
	StartProducing(w *BodyWriter)
}

// BodyWriter writes a streamed request body on its connection.
type BodyWriter struct {
	cc     *clientConn
	cx     *clientExchange
	left   int64 // bytes still due with a Content-Length; -1: chunked
	closed bool
}

// Write sends p as the next bytes of the body. It fails with
// ErrConnectionLost once the request is over (cancelled, failed, or
// answered) and with ErrContentLength beyond the declared Length.
func (w *BodyWriter) Write(p []byte) (int, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.left >= 0 {
		if int64(len(p)) > w.left {
			return 0, ErrContentLength
		}
		w.left -= int64(len(p))
		return w.cc.t.Write(p)
	}
	var hdr [18]byte
	h := append(appendHex(hdr[:0], uint64(len(p))), '\r', '\n')
	if _, err := w.cc.t.Writev(h, p, crlf); err != nil {
		return 0, err
	}
	return len(p), nil
}

var crlf = []byte("\r\n")

// Close ends the body: the last chunk of a chunked body is sent, and the
// wait for the response head begins. A body shorter than its declared
// Length fails the request with ErrInvalidRequest and closes the
// connection.
func (w *BodyWriter) Close() error {
	if err := w.usable(); err != nil {
		return err
	}
	w.closed = true
	cc := w.cc
	cc.sending = false
	cc.t.UnregisterProducer()
	if w.left > 0 {
		cc.failConn(fmt.Errorf("%w: body shorter than its Length", ErrInvalidRequest))
		return ErrInvalidRequest
	}
	if w.left < 0 {
		cc.t.Write([]byte("0\r\n\r\n"))
	}
	cc.requestSent()
	return nil
}

func (w *BodyWriter) usable() error {
	if w.closed || w.cc.cx != w.cx || !w.cc.sending {
		return ErrConnectionLost
	}
	return nil
}
