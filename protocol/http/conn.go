package http

import (
	"runtime/debug"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// Connection states.
const (
	stateIdle    = iota // between requests: no byte of the next one yet
	stateHead           // reading a request head
	stateBody           // head parsed, reading its body
	stateHandler        // the handler has the request; its response is unfinished
	stateClosing        // no more requests: closing once the output is out
)

// Timeout kinds: what expiry of the connection's one timer means.
const (
	timeoutNone   = iota
	timeoutIdle   // keep-alive idle: close quietly
	timeoutHead   // slowloris: 408 when a partial head was received
	timeoutBody   // slow body: 408
	timeoutWrite  // the client stopped reading a streamed response
	timeoutLinger // a lingering close has waited long enough
)

// lingerTimeout bounds a lingering close: after an error response the
// server stops writing but keeps draining the client's input for this long,
// so that the client gets the response instead of a reset.
const lingerTimeout = 2 * time.Second

// exchange is a connection's request and response, allocated together.
type exchange struct {
	req Request
	w   ResponseWriter
}

// conn is the HTTP protocol of one connection.
type conn struct {
	srv  *Server
	cfg  *config
	ls   *loopState
	t    protocol.Transport
	loop protocol.Loop

	// The request and response are reused for every request on the
	// connection; they are allocated with its first bytes, so that an idle
	// connection that has sent nothing stays small.
	req *Request
	w   *ResponseWriter

	in   []byte // unconsumed input starting at the current request, owned
	held []byte // a deferred request's bytes, owned until its response ends
	body []byte // a chunked request's decoded body
	out  []byte // output not yet handed to the transport

	state        uint8
	hp           headParser
	headLen      int
	rawPos       int // chunked: raw bytes consumed, from the request's start
	dec          chunkedDecoder
	continueSent bool
	requests     int

	processing     bool // inside process: output is flushed when it ends
	readPaused     bool
	closing        bool // no more requests: close once the output is flushed
	lingering      bool // error close: write side shut, input drained
	closeIssued    bool
	lost           bool
	producing      bool // c is registered as the transport's producer
	producerPaused bool

	timer       timer.Handle
	timerArmed  bool
	armedFor    time.Time
	deadline    time.Time
	deadFrom    time.Time     // the clock reading deadline was computed from
	deadDur     time.Duration // and the duration added to it
	timeoutKind uint8
	fire        func()
}

// ConnectionMade starts the header timeout: a connection that never sends
// a request is closed after the read-header timeout.
func (c *conn) ConnectionMade(t protocol.Transport) {
	c.t = t
	c.loop = t.Loop()
	c.ls = c.srv.loopState(c.loop)
	c.fire = c.onTimer
	c.setTimeout(timeoutIdle, c.cfg.readHeaderTimeout)
}

// DataReceived parses what it can of data and serves the complete
// requests. Data is parsed in place; only an unfinished request's bytes (or
// requests waiting behind a deferred response) are copied.
func (c *conn) DataReceived(data []byte) {
	if c.closing || c.lost || len(data) == 0 {
		return
	}
	if c.req == nil {
		ex := new(exchange)
		c.req, c.w = &ex.req, &ex.w
		c.req.remote = c.t.RemoteAddr()
	}
	if c.state == stateIdle {
		c.state = stateHead
	}
	if len(c.in) == 0 && c.state != stateHandler {
		c.process(data, false)
	} else {
		if c.in == nil {
			c.in = c.ls.getBuf()
		}
		c.in = append(c.in, data...)
		if c.state == stateHandler {
			// Pipelined requests wait behind an unfinished response; past
			// a bound, hold the client back instead of buffering more.
			if len(c.in) > c.parkLimit() && !c.readPaused {
				c.readPaused = true
				c.t.PauseReading()
			}
			return
		}
		c.process(c.in, true)
	}
	c.flush()
}

// parkLimit is how much input may wait behind an unfinished response.
func (c *conn) parkLimit() int { return c.cfg.maxLine + c.cfg.maxHeader + 64<<10 }

// ConnectionLost releases the connection's buffers. A deferred response
// keeps its request's buffers until its Finish.
func (c *conn) ConnectionLost(reason error) {
	c.lost = true
	c.timeoutKind = timeoutNone
	if c.timerArmed {
		c.timer.Cancel()
		c.timerArmed = false
	}
	c.producing = false
	c.ls.putBuf(c.in)
	c.ls.putBuf(c.out)
	c.in, c.out = nil, nil
	if c.state != stateHandler {
		c.requestDone()
	}
}

// process parses and serves the requests in buf, which starts at the
// current request's first byte. owned tells whether buf is c.in (and may
// be kept) or the transport's data (and must be copied to be kept).
func (c *conn) process(buf []byte, owned bool) {
	c.processing = true
	pos := 0
loop:
	for !c.closing && !c.lost {
		switch c.state {
		case stateIdle, stateHead:
			if c.hp == (headParser{}) {
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
					c.setTimeout(timeoutHead, c.cfg.readHeaderTimeout)
				}
				break loop
			}
			c.headLen, c.rawPos = n, n
			c.continueSent = false
			c.dec = chunkedDecoder{}
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
					c.setTimeout(timeoutBody, c.cfg.readBodyTimeout)
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
				c.processing = false
				return
			}
			pos += end
		default:
			break loop
		}
	}
	c.keep(buf, owned, pos)
	c.processing = false
}

// readHead goes on parsing the head at the start of b.
func (c *conn) readHead(b []byte) (int, int) {
	if c.hp == (headParser{}) {
		c.req.reset()
	}
	n, st := c.hp.parse(b, c.req, &c.cfg.limits)
	if st != 0 {
		c.hp = headParser{}
	}
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
		k, body, st := c.dec.decode(r[c.rawPos:], c.body, &c.cfg.limits)
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
	if pos < len(buf) && !c.closing && !c.lost {
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
	c.requests++
	c.timeoutKind = timeoutNone
	c.state = stateHandler
	w := c.w
	w.start(c)
	c.serve()
	w.inHandler = false
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
			c.state = stateClosing
			c.closing, c.closeIssued = true, true
			c.t.AbortConnection()
		} else {
			c.ls.putBuf(w.body)
			w.body = nil
			c.fail(statusInternalError)
		}
		c.requestDone()
	}
	c.cfg.onPanic(pe)
}

// maxedOut reports whether this request is the last the connection may
// serve.
func (c *conn) maxedOut() bool {
	return c.cfg.maxRequests > 0 && c.requests >= c.cfg.maxRequests
}

// responseDone moves on once a response is finished: to the next request,
// or to closing.
func (c *conn) responseDone(closeAfter bool) {
	c.requestDone()
	if closeAfter {
		c.state = stateClosing
		c.closing = true
	} else {
		c.state = stateIdle
		c.setTimeout(timeoutIdle, c.cfg.idleTimeout)
	}
	if c.processing {
		return // process goes on with the next pipelined request
	}
	// A deferred response: serve the requests that waited behind it.
	if c.readPaused && !c.closing {
		c.readPaused = false
		c.t.ResumeReading()
	}
	if len(c.in) > 0 && !c.closing {
		c.process(c.in, true)
	}
	c.flush()
}

// requestDone releases the finished request's buffers.
func (c *conn) requestDone() {
	c.ls.putBuf(c.held)
	c.held = nil
	c.ls.putBuf(c.body)
	c.body = nil
	if c.req != nil {
		c.req.body = nil
		c.req.head = nil
	}
}

// fail answers a request the server refuses with status and closes the
// connection.
func (c *conn) fail(status int) {
	c.state = stateClosing
	b := c.ls.prefix.appendFixed(c.outBuf(), status, true, c.loop.Now())
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	text := StatusText(status)
	b = appendUint(b, uint64(len(text)+1))
	b = append(b, "\r\nConnection: close\r\n\r\n"...)
	b = append(b, text...)
	c.out = append(b, '\n')
	c.closing = true
	c.lingering = status != statusInternalError && status != statusRequestTimeout
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
	if out := c.out; out != nil {
		// c.out is cleared first: Write may call back into a producer
		// that writes again.
		c.out = nil
		if len(out) > 0 && !c.lost {
			_, _ = c.t.Write(out)
		}
		c.ls.putBuf(out)
	}
	if !c.closing || c.closeIssued || c.lost {
		return
	}
	if c.state == stateHandler {
		return // a response still running closes when finished
	}
	c.closeIssued = true
	c.ls.putBuf(c.in)
	c.in = nil
	if c.lingering && c.t.CloseWrite() == nil {
		// Keep reading (and dropping) for a while: closing with unread
		// input would reset the connection and could destroy the error
		// response before the client reads it.
		c.setTimeout(timeoutLinger, lingerTimeout)
		return
	}
	c.timeoutKind = timeoutNone
	c.t.LoseConnection()
}

// setTimeout starts the timeout of the given kind, d from now (d <= 0:
// none). One timer serves every kind: it is only moved when the new
// deadline is earlier than the one it is armed for, and on firing it
// re-arms itself if the deadline moved later meanwhile, so requests in
// steady state cost no timer-wheel operation.
func (c *conn) setTimeout(kind uint8, d time.Duration) {
	if d <= 0 || c.lost {
		c.timeoutKind = timeoutNone
		return
	}
	c.timeoutKind = kind
	// The loop's clock only moves between loop turns, so every response
	// of a pipelined batch asks for the same deadline: compute it once.
	if now := c.loop.Now(); d != c.deadDur || !now.Equal(c.deadFrom) {
		c.deadline = now.Add(d)
		c.deadFrom, c.deadDur = now, d
	}
	if c.timerArmed && !c.armedFor.After(c.deadline) {
		return
	}
	if c.timerArmed && !c.timer.Reset(d) {
		c.timer.Cancel()
		c.timerArmed = false
	}
	if !c.timerArmed {
		c.timer = c.loop.CallLater(d, c.fire)
	}
	c.timerArmed = true
	c.armedFor = c.deadline
}

func (c *conn) onTimer() {
	c.timerArmed = false
	if c.timeoutKind == timeoutNone || c.lost {
		return
	}
	if rem := c.deadline.Sub(c.loop.Now()); rem > 0 {
		c.timer = c.loop.CallLater(rem, c.fire)
		c.timerArmed = true
		c.armedFor = c.deadline
		return
	}
	kind := c.timeoutKind
	c.timeoutKind = timeoutNone
	switch kind {
	case timeoutHead:
		if len(c.in) > 0 && !c.closing {
			c.fail(statusRequestTimeout)
			c.lingering = false
			c.flush()
			return
		}
		c.closing, c.closeIssued = true, true
		c.t.LoseConnection()
	case timeoutBody:
		if !c.closing {
			c.fail(statusRequestTimeout)
			c.lingering = false
			c.flush()
		}
	case timeoutIdle, timeoutLinger:
		c.closing, c.closeIssued = true, true
		c.t.LoseConnection()
	case timeoutWrite:
		c.closing, c.closeIssued = true, true
		c.t.AbortConnection()
	}
}

// PauseProducing is called by the transport when a streamed response
// fills the output buffer: the handler's producer is paused and the write
// timeout runs until the client drains it.
func (c *conn) PauseProducing() {
	c.producerPaused = true
	c.setTimeout(timeoutWrite, c.cfg.writeTimeout)
	if c.w == nil {
		return
	}
	if p := c.w.producer; p != nil {
		p.PauseProducing()
	}
}

// ResumeProducing is called once the output buffer drained.
func (c *conn) ResumeProducing() {
	c.producerPaused = false
	if c.timeoutKind == timeoutWrite {
		c.timeoutKind = timeoutNone
	}
	if c.w == nil {
		return
	}
	if p := c.w.producer; p != nil {
		p.ResumeProducing()
	}
}

// StopProducing is called when the connection is lost while a streamed
// response is registered: the handler's producer learns it must stop.
func (c *conn) StopProducing() {
	if c.w == nil {
		return
	}
	if p := c.w.producer; p != nil {
		c.w.producer = nil
		p.StopProducing()
	}
}
