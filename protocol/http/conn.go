package http

import (
	"context"
	"io"
	"math"
	"runtime/debug"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// Connection states. A connection is in exactly one of them; the table
// says what each means and what moves the connection on. The order
// matters: every state from stateClosing on takes no more requests, and
// every state from stateClosed on writes nothing more.
//
//	state         meaning                                  moves on
//	------------  ---------------------------------------  ------------------------------------------
//	idle          between requests, no byte of the next    a byte → head; idle timeout → closed;
//	                                                       Drain, or the peer's EOF → closing (Drain
//	                                                       in head, body or handler: they go on)
//	head          reading a request head                   head parsed → body; bad head → closing*;
//	                                                       header timeout → closing (408); EOF → closing (400)
//	body          head parsed, reading its body            body complete → handler; as head otherwise
//	handler       the handler has the request; the         Finish → idle (head with pipelined input),
//	              response is unfinished; later input      or closing (closing* with input behind it)
//	              waits unparsed in c.in                   for a last response (Connection: close,
//	                                                       endDrain); write timeout or panic → closed
//	closing       no more requests: close once the         flush → closed (LoseConnection)
//	              output is handed to the transport
//	closing*      closingLinger: closing after an error    flush → lingering (CloseWrite)
//	              response, or with input nobody will
//	              read behind the last response
//	lingering     write side shut, input read and dropped  the peer's EOF or the linger timeout → closed
//	closed        LoseConnection or AbortConnection issued ConnectionLost → lost
//	lost          ConnectionLost ran; a deferred response  final
//	              may still call Finish, which only
//	              releases its buffers
//
// How the connection will end is the second half of its state, ending;
// it only changes what happens once the current request is done:
//
//	endNone    keep-alive
//	endEOF     the peer shut its write side (half-close): the requests
//	           already received are served in order, then the connection
//	           closes; a request the EOF cut short gets 400
//	endDrain   the reactor is stopping (Drain): the request in progress is
//	           answered with "Connection: close" (or, when its head is out
//	           already, the connection closes after it); no request is
//	           started after it
//
// Beside them, two facts that are not states of the connection: outPaused,
// the transport's flow control (the output is above the transport's
// high-water mark: no new request is dispatched and reading is paused, in
// any state), and processing, which says process is on the stack (so a
// response finished inside it is flushed when it returns).
const (
	stateIdle = iota
	stateHead
	stateBody
	stateHandler
	stateClosing
	stateClosingLinger
	stateLingering
	stateClosed
	stateLost
)

// Endings: see the state table.
const (
	endNone = iota
	endEOF
	endDrain
)

// Timeout kinds: what expiry of the connection's one timer means.
const (
	timeoutNone   = iota
	timeoutIdle   // keep-alive idle: close quietly
	timeoutHead   // slowloris: 408 when a partial head was received
	timeoutBody   // slow body: 408
	timeoutWrite  // the client stopped reading: the output stays above the high-water mark
	timeoutLinger // a lingering close has waited long enough
)

// lingerTimeout bounds a lingering close: after an error response the
// server stops writing but keeps draining the client's input for this long,
// so that the client gets the response instead of a reset.
const lingerTimeout = 2 * time.Second

// outHandOver is how much output process gathers before handing it to the
// transport in the middle of a batch of pipelined requests. Handing over
// costs no system call (the transport writes once the read callback
// returns) but lets the transport's flow control pause the connection
// (PauseProducing) before the next request is dispatched, so a client
// that pipelines and never reads cannot make the output grow without
// bound.
const outHandOver = 32 << 10

// exchange is what a connection needs while it has a request in
// progress: the request, its response and the parser and buffer state
// between them, allocated together with the connection's first bytes and
// given back to the loop's pool when the connection goes idle between
// requests (see conn.releaseExchange), so that an idle connection holds
// only its small conn.
type exchange struct {
	reqState
	request Request
	writer  ResponseWriter
}

// reqState is the per-request half of a connection's state. conn embeds a
// pointer to it, nil while the connection is idle with nothing buffered.
type reqState struct {
	req *Request
	w   *ResponseWriter

	in   []byte // unconsumed input starting at the current request, owned
	held []byte // a deferred request's bytes, owned until its response ends
	body []byte // a chunked request's decoded body
	out  []byte // output not yet handed to the transport

	continueSent bool // 100 Continue went out for the current request
	reported     bool // the response hook ran for the current response
	streamReq    bool // the head just parsed is for a handler that streams its body
	// pinned marks an exchange a handler may still hold after its
	// response ended (it deferred its response or streamed the body): it
	// stays with its connection rather than going back to the pool, so
	// a stale *Request or *ResponseWriter never reaches another
	// connection's request.
	pinned   bool
	hp       headParser
	headLen  int
	rawPos   int // chunked: raw bytes consumed, from the request's start
	dec      chunkedDecoder
	panicErr error // the panic a 500 answers, during fail
	bs       bodyStream
	feedFn   func()    // c.feed, made when a body stream starts
	started  time.Time // the current request's dispatch, with a response hook
}

// conn is the HTTP protocol of one connection. It is also the transport's
// streaming producer for the whole life of the connection: the transport
// pauses it above its high-water mark and resumes it below the low mark,
// and it forwards both to a streamed response's producer.
//
// It is kept small, because an idle connection holds only this: the
// per-request state is in *reqState (nil while idle), the loop is reached
// through ls, and the one timeout waits on one of the loop's timeout
// queues (see timeoutQueue) rather than holding a timer of its own.
type conn struct {
	srv *Server
	ls  *loopState
	t   protocol.Transport
	*reqState

	tprev, tnext *conn  // c's neighbours on its timeout queue
	deadline     int64  // c's place on its timeout queue, on ls's clock (loopState.mono)
	extended     uint32 // ns the timeout expires after deadline (see setTimeout)
	requests     uint32 // served so far, for WithMaxRequests (saturates)
	tq           uint8  // 1 + the index in ls.queues of the queue c waits on; 0: none

	state       uint8 // see the state table
	ending      uint8
	timeoutKind uint8
	outPaused   bool // the transport paused us: dispatch nothing, read nothing
	processing  bool // inside process: output is flushed when it ends
	// batching says process is serving a batch of requests, and
	// idlePending that a response of the batch left the connection idle:
	// its idle timeout is set once, when the batch ends (see endBatch).
	batching    bool
	idlePending bool
}

var (
	_ protocol.HalfCloseable = (*conn)(nil)
	_ protocol.Drainer       = (*conn)(nil)
	_ protocol.Producer      = (*conn)(nil)
)

// ConnectionMade registers the connection as the transport's producer and
// starts the header timeout: a connection that never sends a request is
// closed after the read-header timeout.
func (c *conn) ConnectionMade(t protocol.Transport) {
	c.t = t
	c.ls = c.srv.loopState(t.Loop())
	_ = t.RegisterProducer(c, true)
	c.setTimeout(timeoutIdle, c.srv.cfg.readHeaderTimeout)
}

// DataReceived parses what it can of data and serves the complete
// requests. Data is parsed in place; only an unfinished request's bytes (or
// requests waiting behind a deferred response, or while the output is
// paused) are copied.
func (c *conn) DataReceived(data []byte) {
	if c.state >= stateClosing || len(data) == 0 {
		return // closing: input is dropped
	}
	if c.reqState == nil {
		c.takeExchange()
	}
	if c.state == stateHandler && c.bodyPending() {
		c.streamData(data)
		c.flush()
		return
	}
	waiting := c.state == stateHandler || c.outPaused
	if c.state == stateIdle && !waiting {
		c.state = stateHead
	}
	if len(c.in) == 0 && !waiting {
		c.process(data, false)
	} else {
		if c.in == nil {
			c.in = c.ls.getBuf()
		}
		c.in = append(c.in, data...)
		if waiting {
			// Requests wait behind an unfinished response or for the
			// client to read; past a bound, hold the client back instead
			// of buffering more.
			c.updateReading()
			return
		}
		c.process(c.in, true)
	}
	c.flush()
	c.releaseExchange()
}

// takeExchange gives c the per-request state it needs from its first
// byte on: one from the loop's pool, or a new one.
func (c *conn) takeExchange() {
	rs := c.ls.getExchange()
	rs.req.c = c
	c.reqState = rs
}

// releaseExchange gives the per-request state back to the loop's pool
// once the connection is idle between requests with nothing buffered, so
// that a kept-alive connection waiting for its next request holds only
// its conn. A pinned exchange (see reqState.pinned) stays.
func (c *conn) releaseExchange() {
	rs := c.reqState
	if rs == nil || c.state != stateIdle || c.processing || rs.pinned ||
		rs.in != nil || rs.held != nil || rs.body != nil || rs.out != nil || rs.bs.active || c.responding() {
		return
	}
	c.reqState = nil
	rs.req.c = nil
	c.ls.putExchange(rs)
}

// hasInput reports whether unparsed input is buffered.
func (c *conn) hasInput() bool { return c.reqState != nil && len(c.in) > 0 }

// curReq is the request in progress or last served, or nil while idle.
func (c *conn) curReq() *Request {
	if c.reqState == nil {
		return nil
	}
	return c.req
}

// parkLimit is how much input may wait behind an unfinished response.
func (c *conn) parkLimit() int { return c.srv.cfg.maxLine + c.srv.cfg.maxHeader + 64<<10 }

// updateReading pauses or resumes reading from the peer: no reading while
// the output is paused or while more than parkLimit waits unparsed behind
// an unfinished response. Both transport calls do nothing when reading
// already is as asked.
func (c *conn) updateReading() {
	switch {
	case c.state >= stateClosed:
	case c.outPaused:
		c.t.PauseReading()
	case c.state == stateHandler && c.bodyPending():
		if c.bs.consumer == nil || c.bs.paused {
			c.t.PauseReading()
		} else {
			c.t.ResumeReading()
		}
	case c.state == stateHandler && len(c.in) > c.parkLimit():
		c.t.PauseReading()
	default:
		c.t.ResumeReading()
	}
}

// ReadConnectionLost is called when the peer shuts its write side
// (half-close): no more input will come. The requests already received
// are served in order and the connection closes after the last response;
// a request the EOF cut short is answered with 400, as net/http does.
func (c *conn) ReadConnectionLost() {
	switch c.state {
	case stateClosed, stateLost:
		return
	case stateClosing, stateClosingLinger:
		c.state = stateClosing // nothing left to linger for
		c.flush()
		return
	case stateLingering:
		c.closeNow()
		return
	}
	if c.ending == endNone {
		c.ending = endEOF
	}
	if c.responding() {
		c.req.cancelContext(ErrClientGone)
		c.endBody(io.ErrUnexpectedEOF)
	}
	if c.state != stateHandler && !c.outPaused && !c.processing {
		c.inputEnded()
		c.flush()
	}
}

// Drain is called by the reactor when it begins a graceful stop. An idle
// connection closes at once. A request being received is served and its
// response carries "Connection: close"; a response in flight gets it too
// if its head is not written yet, and the connection closes after it.
// Requests waiting behind it (pipelined) are not started: the connection
// closes before reading them, and the client may retry them elsewhere, as
// RFC 9112 §9.6 allows for requests a closed connection did not answer.
func (c *conn) Drain() {
	if c.state >= stateClosing || c.ending == endDrain {
		return
	}
	eof := c.ending == endEOF
	c.ending = endDrain
	if c.responding() {
		c.req.cancelContext(ErrServerShutdown)
	}
	if c.state == stateHandler ||
		!eof && (c.state == stateBody || c.state == stateHead && len(c.in) > 0) {
		return // the current request finishes, then the connection closes
	}
	c.closeAfterOutput(c.hasInput())
	c.flush()
}

// ConnectionLost releases the connection's buffers. A deferred response
// keeps its request's buffers until its Finish.
func (c *conn) ConnectionLost(reason error) {
	c.state = stateLost
	c.timeoutKind = timeoutNone
	c.unqueue()
	if c.reqState == nil {
		return
	}
	responding := c.responding()
	c.req.cancelContext(ErrClientGone)
	if responding {
		c.report(c.w.status, c.w.written, c.req.gone, false)
	}
	c.ls.putBuf(c.in)
	c.ls.putBuf(c.out)
	c.in, c.out = nil, nil
	c.endBody(ErrClientGone)
	if !responding {
		c.requestDone()
	}
}

// responding reports whether a response was started and is not finished.
func (c *conn) responding() bool {
	return c.reqState != nil && c.w.c == c && !c.w.finished
}

// process parses and serves the requests in buf, which starts at the
// current request's first byte. owned tells whether buf is c.in (and may
// be kept) or the transport's data (and must be copied to be kept).
func (c *conn) process(buf []byte, owned bool) {
	c.processing = true
	c.batching = true
	pos := 0
loop:
	for c.state < stateHandler {
		switch c.state {
		case stateIdle, stateHead:
			if c.hp == (headParser{}) {
				if c.outPaused {
					// The client is not reading: dispatch nothing more
					// until the transport resumes us.
					break loop
				}
				pos += skipEmptyLines(buf[pos:])
				// A lone CR may be the start of one more empty line.
				if rest := len(buf) - pos; rest == 0 || rest == 1 && buf[pos] == '\r' {
					break loop
				}
			}
			c.state = stateHead
			n, st := c.readHead(buf[pos:])
			if st != 0 {
				c.fail(st)
				break loop
			}
			if n == 0 {
				// Only a head that does not arrive whole starts the header
				// timeout, so a request in steady state costs no timer
				// operation; the deadline runs from its first read.
				if c.timeoutKind != timeoutHead {
					c.setTimeout(timeoutHead, c.srv.cfg.readHeaderTimeout)
				}
				break loop
			}
			c.headLen, c.rawPos = n, n
			c.continueSent = false
			c.dec = chunkedDecoder{}
			if c.streamReq {
				// The handler streams the body: it runs now.
				c.streamReq = false
				c.startStream(buf, owned, pos)
				if c.state == stateHandler {
					c.endBatch()
					return
				}
				buf, owned, pos = c.in, true, 0
				c.in = nil
				continue
			}
			c.state = stateBody
		case stateBody:
			end, st := c.readBody(buf[pos:])
			if st != 0 {
				c.fail(st)
				break loop
			}
			if end == 0 {
				if c.req.expect && !c.continueSent {
					c.continueSent = true
					c.out = append(c.outBuf(), "HTTP/1.1 100 Continue\r\n\r\n"...)
				}
				if c.timeoutKind != timeoutBody {
					c.setTimeout(timeoutBody, c.srv.cfg.readBodyTimeout)
				}
				if c.req.chunked {
					buf = c.compactChunked(buf, owned, pos)
					pos, owned = 0, true
				}
				break loop
			}
			c.req.head = buf[pos : pos+c.headLen]
			c.dispatch()
			if c.state == stateHandler {
				c.hold(buf, owned, pos, end)
				c.endBatch()
				return
			}
			pos += end
			if c.state == stateClosing && pos < len(buf) {
				c.closeAfterOutput(true) // pipelined input nobody will read
			}
			if len(c.out) >= outHandOver {
				c.handOver()
			}
		}
	}
	c.keep(buf, owned, pos)
	c.endBatch()
	if c.ending == endEOF && c.state < stateHandler && !c.outPaused {
		c.inputEnded()
	}
}

// endBatch ends process's batch: the idle timeout a response of the batch
// asked for is set now, once per batch rather than once per pipelined
// request, if the connection is still idle waiting for it.
func (c *conn) endBatch() {
	c.processing, c.batching = false, false
	if c.idlePending {
		c.idlePending = false
		if c.state == stateIdle && c.timeoutKind == timeoutIdle {
			c.setTimeout(timeoutIdle, c.srv.cfg.idleTimeout)
		}
	}
}

// inputEnded handles the end of the peer's input once every complete
// request before it was served: a request cut short gets 400 (net/http
// does the same; nginx closes without a word, but a client that
// half-closed is still reading and learns more from a 400), and the
// connection closes.
func (c *conn) inputEnded() {
	cut := c.state == stateBody ||
		c.state == stateHead && len(c.in) > 0 && !(len(c.in) == 1 && c.in[0] == '\r')
	if cut {
		c.fail(statusBadRequest)
		return
	}
	c.closeAfterOutput(false)
}

// closeAfterOutput makes the connection close once its output is handed
// over: with a lingering close when input may follow that nobody will
// read (closing with unread input would reset the connection and could
// destroy the last response before the client reads it).
func (c *conn) closeAfterOutput(unread bool) {
	if unread && c.ending != endEOF {
		c.state = stateClosingLinger
	} else {
		c.state = stateClosing
	}
}

// readHead goes on parsing the head at the start of b.
func (c *conn) readHead(b []byte) (int, int) {
	var n, st int
	if c.hp == (headParser{}) {
		n = c.ls.lastParse.take(b, c.req)
		if n == 0 {
			c.req.reset()
		}
	}
	if n == 0 {
		n, st = c.hp.parse(b, c.req, &c.srv.cfg.limits)
		if n > 0 && st == 0 {
			c.ls.lastParse.keep(c.req)
		}
	}
	if st == statusPayloadTooLarge && c.req.head != nil && c.req.contentLength > c.srv.cfg.maxBody &&
		c.hp == (headParser{}) && c.wantsStream() {
		// The head is whole: only its length is over the in-memory
		// limit, which a streamed body does not have.
		c.streamReq = true
		return len(c.req.head), 0
	}
	if st != 0 {
		c.hp = headParser{}
		return n, st
	}
	c.streamReq = n > 0 && (c.req.contentLength > 0 || c.req.chunked) && c.wantsStream()
	return n, st
}

// readBody returns the request's length (head and raw body) once its body
// is complete in r (which starts at the request), or 0.
func (c *conn) readBody(r []byte) (int, int) {
	req := c.req
	if req.chunked {
		if c.body == nil {
			c.body = c.ls.getBuf()
		}
		k, body, st := c.dec.decode(r[c.rawPos:], c.body, &c.srv.cfg.limits)
		c.body = body
		c.rawPos += k
		if st != 0 || c.dec.state != chunkDone {
			return 0, st
		}
		req.body = c.body
		return c.rawPos, 0
	}
	end := c.headLen + int(req.contentLength)
	if len(r) < end {
		return 0, 0
	}
	req.body = r[c.headLen:end]
	return end, 0
}

// compactChunked keeps an unfinished chunked request as its head followed
// by the raw bytes not decoded yet, dropping the decoded ones, and returns
// the new c.in.
func (c *conn) compactChunked(buf []byte, owned bool, pos int) []byte {
	r := buf[pos:]
	rest := len(r) - c.rawPos
	if owned {
		copy(buf, r[:c.headLen])
		copy(buf[c.headLen:], r[c.rawPos:])
		c.in = buf[:c.headLen+rest]
	} else {
		in := c.ls.getBuf()
		in = append(in, r[:c.headLen]...)
		c.in = append(in, r[c.rawPos:]...)
	}
	c.rawPos = c.headLen
	return c.in
}

// keep makes buf[pos:], the unconsumed input, the content of c.in.
func (c *conn) keep(buf []byte, owned bool, pos int) {
	if owned {
		n := copy(buf, buf[pos:])
		c.in = buf[:n]
		if n == 0 {
			c.ls.putBuf(c.in)
			c.in = nil
		}
		return
	}
	if pos < len(buf) && c.state < stateClosing {
		c.in = append(c.ls.getBuf(), buf[pos:]...)
	}
}

// hold keeps a deferred request's bytes, buf[pos:pos+end], valid until its
// response ends, and the input after it for later.
func (c *conn) hold(buf []byte, owned bool, pos, end int) {
	rest := buf[pos+end:]
	if owned {
		// Hand the whole input buffer to the request: nothing moves.
		c.held = buf
		c.in = nil
	} else {
		keep := c.headLen
		if !c.req.chunked {
			keep = end
		}
		c.held = append(c.ls.getBuf(), buf[pos:pos+keep]...)
		c.req.head = c.held[:c.headLen]
		if !c.req.chunked {
			c.req.body = c.held[c.headLen:keep]
		}
	}
	if len(rest) > 0 {
		c.in = append(c.ls.getBuf(), rest...)
	}
}

// dispatch runs the handler for the parsed request.
func (c *conn) dispatch() {
	if c.requests < math.MaxUint32 {
		c.requests++
	}
	c.timeoutKind = timeoutNone
	c.state = stateHandler
	c.reported = false
	if c.srv.cfg.onResponse != nil {
		c.started = c.ls.loop.Now()
	}
	w := c.w
	w.start(c)
	c.serve()
	w.inHandler = false
	if w.deferred {
		c.pinned = true // the handler keeps w: see reqState.pinned
	}
	if !w.finished && !w.deferred {
		_ = w.Finish()
	}
}

// serve calls the handler, turning a panic into a 500 (or an abort, if the
// response had begun) for this connection only.
func (c *conn) serve() {
	defer func() {
		if v := recover(); v != nil {
			c.handlerPanic(v)
		}
	}()
	c.srv.handler.ServeHTTP(c.w, c.req)
}

func (c *conn) handlerPanic(v any) {
	pe := &protocol.PanicError{Value: v, Stack: debug.Stack()}
	w := c.w
	if !w.finished {

		w.finished = true
		w.releaseProducer()
		if w.committed {
			c.report(w.status, w.written, pe, false)
			c.state = stateClosed
			c.t.AbortConnection()
		} else {
			c.ls.putBuf(w.body)
			w.body = nil
			c.panicErr = pe
			c.fail(statusInternalError)
			c.panicErr = nil
		}
		c.requestDone()
	}
	c.panicked(pe)
}

// maxedOut reports whether this request is the last the connection may
// serve.
func (c *conn) maxedOut() bool {
	return c.srv.cfg.maxRequests > 0 && int64(c.requests) >= int64(c.srv.cfg.maxRequests)
}

// responseDone moves on once a response is finished: to the next request,
// or to closing when it was the last.
func (c *conn) responseDone(closeAfter bool) {
	c.requestDone()
	if c.state >= stateClosing {
		return // aborted meanwhile
	}
	if closeAfter || c.ending == endDrain {
		c.closeAfterOutput(len(c.in) > 0)
	} else {
		c.state = stateIdle
		if c.batching {
			// Set when the batch ends: until then nothing else runs on
			// this loop, so no timeout can be missed.
			c.timeoutKind, c.idlePending = timeoutIdle, true
		} else {
			c.setTimeout(timeoutIdle, c.srv.cfg.idleTimeout)
		}
	}
	if c.processing {
		return // process goes on with the next pipelined request
	}
	c.resume()
}

// resume goes on with the input that waited behind a deferred response or
// while the output was paused, then flushes.
func (c *conn) resume() {
	if c.state < stateHandler && !c.outPaused && (c.hasInput() || c.ending == endEOF) {
		if c.reqState == nil {
			c.takeExchange()
		}
		c.process(c.in, true)
	}
	c.updateReading()
	c.flush()
	c.releaseExchange()
}

// requestDone releases the finished request's buffers.
func (c *conn) requestDone() {
	if c.reqState == nil {
		return
	}
	c.ls.putBuf(c.held)
	c.held = nil
	c.ls.putBuf(c.body)
	c.body = nil
	if c.bs.active {
		c.bs = bodyStream{}
	}
	c.req.body = nil
	c.req.head = nil
	if c.req.ctx != nil {
		c.req.cancelContext(context.Canceled)
	}
}

// fail answers a request the server refuses with status and closes the
// connection: with a lingering close, unless the client is gone (408), the
// server is at fault (500) or the client's input has ended.
func (c *conn) fail(status int) {
	if c.state != stateHandler {
		// Not a handler's panic: a response of its own, with no duration.
		c.reported = false
		c.started = time.Time{}
	}
	b := c.ls.prefix.appendFixed(c.outBuf(), status, true, c.ls.loop.Now())
	var n int
	if headers, body, ok := c.errorBody(status); ok {
		for i := range headers {
			b = appendField(b, headers[i].name, headers[i].value)
		}
		b = append(b, "Content-Length: "...)
		b = appendUint(b, uint64(len(body)))
		b = append(b, "\r\nConnection: close\r\n\r\n"...)
		c.out = append(b, body...)
		n = len(body)
	} else {
		b = append(b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
		text := StatusText(status)
		b = appendUint(b, uint64(len(text)+1))
		b = append(b, "\r\nConnection: close\r\n\r\n"...)
		b = append(b, text...)
		c.out = append(b, '\n')
		n = len(text) + 1
	}
	c.report(status, int64(n), c.panicErr, c.panicErr == nil)
	c.closeAfterOutput(status != statusInternalError && status != statusRequestTimeout)
}

// outBuf returns c.out, taking a buffer from the pool if it has none.
func (c *conn) outBuf() []byte {
	if c.out == nil {
		c.out = c.ls.getBuf()
	}
	return c.out
}

// flushIfOutside flushes now unless process is running, which flushes
// everything it produced at once when it ends.
func (c *conn) flushIfOutside() {
	if !c.processing {
		c.flush()
	}
}

// flush hands the output to the transport and, when closing, closes.
func (c *conn) flush() {
	if c.reqState == nil {
		if c.state == stateClosing || c.state == stateClosingLinger {
			c.closeNow()
		}
		return
	}
	c.handOver()
	switch c.state {
	case stateClosing, stateClosingLinger:
	default:
		return
	}
	c.ls.putBuf(c.in)
	c.in = nil
	if c.state == stateClosingLinger && c.t.CloseWrite() == nil {
		// Keep reading (and dropping) for a while: closing with unread
		// input would reset the connection and could destroy the last
		// response before the client reads it.
		c.state = stateLingering
		c.updateReading()
		c.setTimeout(timeoutLinger, lingerTimeout)
		return
	}
	c.closeNow()
}

// handOver writes the output gathered so far to the transport. The
// transport may pause the connection from inside Write (PauseProducing).
func (c *conn) handOver() {
	out := c.out
	if out == nil {
		return
	}
	// c.out is cleared first: Write may call back into a producer that
	// writes again.
	c.out = nil
	if len(out) > 0 && c.state < stateLingering {
		_, _ = c.t.Write(out)
	}
	c.ls.putBuf(out)
}

// closeNow closes the connection once the transport has sent what it holds.
func (c *conn) closeNow() {
	c.state = stateClosed
	c.timeoutKind = timeoutNone
	c.t.LoseConnection()
}

// setTimeout starts the timeout of the given kind, d from now (d <= 0:
// none). c waits on the loop's queue for d, whose connections all expire
// in the order they joined it (see timeoutQueue), with no timer-wheel
// operation. Moving the deadline later, as every request on a kept-alive
// connection does, leaves c where it is when the move is within the
// queue's slack: c.extended records it and the queue moves c when its
// place comes (timeoutQueue.fire). Only a longer move is an unlink and an
// append, whose three links are cache misses on busy connections.
func (c *conn) setTimeout(kind uint8, d time.Duration) {
	if d <= 0 || c.state >= stateClosed {
		c.timeoutKind = timeoutNone
		c.unqueue()
		return
	}
	c.timeoutKind = kind
	q := c.ls.queue(d)
	deadline := c.ls.mono() + int64(d)
	if c.tq == q.index {
		if c.tnext == nil {
			// Already last: its later deadline keeps the order.
			c.deadline, c.extended = deadline, 0
			return
		}
		if ext := deadline - c.deadline; ext >= 0 && ext <= q.slack {
			c.extended = uint32(ext)
			return
		}
	}
	c.unqueue()
	c.deadline, c.extended = deadline, 0
	q.push(c)
}

// onTimer is called by c's timeout queue once c's deadline has passed.
func (c *conn) onTimer() {
	if c.timeoutKind == timeoutNone || c.state >= stateClosed {
		return
	}
	kind := c.timeoutKind
	c.timeoutKind = timeoutNone
	switch kind {
	case timeoutHead:
		if c.state == stateHead && len(c.in) > 0 {
			c.fail(statusRequestTimeout)
			c.flush()
			return
		}
		c.closeNow()
	case timeoutBody:
		if c.state == stateHandler && c.bodyPending() {
			c.bodyTimedOut()
			return
		}
		if c.state == stateBody {
			c.fail(statusRequestTimeout)
			c.flush()
		}
	case timeoutIdle, timeoutLinger:
		c.closeNow()
	case timeoutWrite:
		if c.responding() {
			c.req.cancelContext(ErrTimeout)
		}
		c.state = stateClosed
		c.t.AbortConnection()
	}
}

// PauseProducing is called by the transport, from inside Write, when the
// connection's unsent output rises above its high-water mark: the client
// is not reading fast enough. No new request is dispatched and reading
// stops (what was read and not parsed stays in c.in) until
// ResumeProducing; a streamed response's producer is paused too, and the
// write timeout runs until the client drains the output.
func (c *conn) PauseProducing() {
	c.outPaused = true
	if c.state >= stateClosed {
		return
	}
	c.setTimeout(timeoutWrite, c.srv.cfg.writeTimeout)
	c.t.PauseReading()
	if c.responding() {
		if p := c.w.producer; p != nil {
			p.PauseProducing()
		}
	}
}

// ResumeProducing is called by the transport once the output has drained
// to its low-water mark: a streamed response goes on, then the requests
// that waited are served and reading resumes.
func (c *conn) ResumeProducing() {
	c.outPaused = false
	if c.state >= stateClosed {
		return
	}
	if c.timeoutKind == timeoutWrite {
		c.timeoutKind = timeoutNone
		if c.state == stateIdle {
			c.setTimeout(timeoutIdle, c.srv.cfg.idleTimeout)
		}
	}
	if c.responding() {
		if p := c.w.producer; p != nil {
			p.ResumeProducing()
		}
	}
	if !c.outPaused && !c.processing {
		c.resume()
	}
}

// StopProducing is called when the connection is lost: a streamed
// response's producer learns it must stop.
func (c *conn) StopProducing() {
	if c.reqState == nil {
		return
	}
	if p := c.w.producer; p != nil {
		c.w.producer = nil
		p.StopProducing()
	}
}
