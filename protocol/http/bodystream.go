package http

import (
	"errors"
	"math"
)

// Errors of streamed request bodies.
var (
	// ErrNotStreaming is returned by ReadBody for a request whose handler
	// was not marked with StreamingBody (its body is in Body()), or that
	// has no body.
	ErrNotStreaming = errors.New("mustaine/http: request body is not streamed")
	// ErrBodyStarted is returned by a second ReadBody.
	ErrBodyStarted = errors.New("mustaine/http: request body already being read")
	// ErrBadBody ends a streamed body whose chunked framing is malformed;
	// the connection is closed.
	ErrBadBody = errors.New("mustaine/http: malformed request body")
)

// RequestBodyConsumer receives a request body as it arrives
// (Request.ReadBody); the client's BodyConsumer is its counterpart for
// response bodies.
// Both methods are called on the connection's loop.
type RequestBodyConsumer interface {
	// BodyData is called with the next piece of the body, decoded. p is
	// valid only during the call: copy what must be kept, for instance
	// for a pool job, and call Request.PauseBody until the job is done.
	BodyData(p []byte)
	// BodyEnd is called once, last: with nil after the whole body, or
	// with why it ended early (ErrClientGone, ErrTimeout, ErrBadBody,
	// io.ErrUnexpectedEOF when the client shut its side mid-body, or
	// ErrResponseFinished when the response was finished first).
	BodyEnd(err error)
}

// StreamingBody marks h as a handler that reads the request body as it
// arrives rather than from Body(): the server calls it as soon as the
// request's head is parsed, and h calls r.ReadBody to receive the body,
// with backpressure through r.PauseBody and r.ResumeBody. Such a body is
// not bounded by WithMaxBodyBytes, which bounds memory (a streamed body
// takes at most one read's worth), and Body() stays empty.
//
// The server sees the mark on the handler given to NewServer, or on a
// route's handler when that handler is a Router (wrap a Router in
// middleware with Router.Use, not around it, for routes to stream).
//
// A request with "Expect: 100-continue" gets its 100 Continue only when
// h calls ReadBody, so a handler that refuses the request (401, 413...)
// without reading the body makes the client skip sending it. A response
// finished before the body was read to its end closes the connection
// after it.
func StreamingBody(h Handler) Handler { return streamHandler{h} }

type streamHandler struct{ Handler }

func (streamHandler) streamsBody() {}

func (streamHandler) wantsBodyStream(*Request) bool { return true }

// bodyStreamer is a handler that decides, once a request's head is
// parsed, whether it streams the body: a Router, or a StreamingBody.
type bodyStreamer interface {
	wantsBodyStream(r *Request) bool
}

// bodyStream is the state of a request body being streamed.
type bodyStream struct {
	active     bool // the current request's body is streamed
	done       bool // BodyEnd was called
	paused     bool
	delivering bool
	consumer   RequestBodyConsumer
	remaining  int64 // Content-Length: body bytes still to come
	lim        limits
}

// bodyPending reports whether a streamed body has not ended yet.
func (c *conn) bodyPending() bool { return c.bs.active && !c.bs.done }

// wantsStream asks the handler whether the request just parsed streams
// its body.
func (c *conn) wantsStream() bool {
	bs, ok := c.srv.handler.(bodyStreamer)
	return ok && bs.wantsBodyStream(c.req)
}

// startStream dispatches a streaming request once its head, the first
// headLen bytes of buf[pos:], is parsed: the head is copied to a held
// buffer (it must outlive the read), the rest of the input is kept for the
// body, and the handler runs.
func (c *conn) startStream(buf []byte, owned bool, pos int) {
	c.pinned = true // the handler reads the body later: see reqState.pinned
	if c.feedFn == nil {
		c.feedFn = c.feed
	}
	c.held = append(c.ls.getBuf(), buf[pos:pos+c.headLen]...)
	c.req.head = c.held
	rest := buf[pos+c.headLen:]
	if owned {
		n := copy(buf, rest)
		c.in = buf[:n]
		if n == 0 {
			c.ls.putBuf(buf)
			c.in = nil
		}
	} else if len(rest) > 0 {
		c.in = append(c.ls.getBuf(), rest...)
	}
	c.bs = bodyStream{active: true, remaining: c.req.contentLength, lim: c.srv.cfg.limits}
	c.bs.lim.maxBody = math.MaxInt64
	c.dispatch()
	c.updateReading()
}

// ReadBody starts delivering a streamed body to bc (see StreamingBody):
// on the loop, after ReadBody returns, bc.BodyData with each piece as it
// arrives and bc.BodyEnd at the end. It sends 100 Continue when the
// client asked for it. It returns ErrNotStreaming when the body is not
// streamed (read Body instead), ErrBodyStarted when called twice, and
// ErrConnectionLost once the connection is gone.
func (r *Request) ReadBody(bc RequestBodyConsumer) error {
	c := r.c
	switch {
	case c == nil || c.curReq() != r || !c.bs.active:
		return ErrNotStreaming
	case c.bs.consumer != nil:
		return ErrBodyStarted
	case c.state >= stateClosed:
		return ErrConnectionLost
	}
	c.bs.consumer = bc
	if r.expect && !c.continueSent && !c.w.committed {
		c.continueSent = true
		c.out = append(c.outBuf(), "HTTP/1.1 100 Continue\r\n\r\n"...)
	}
	c.ls.loop.CallSoon(c.feedFn)
	c.flushIfOutside()
	return nil
}

// PauseBody stops the delivery of a streamed body, and reading from the
// client, until ResumeBody: the backpressure of a consumer that is busy,
// such as one waiting for a pool job that holds the previous piece.
func (r *Request) PauseBody() {
	c := r.c
	if c == nil || c.curReq() != r || !c.bodyPending() {
		return
	}
	c.bs.paused = true
	if c.timeoutKind == timeoutBody {
		c.timeoutKind = timeoutNone // the server is slow, not the client
	}
	c.updateReading()
}

// ResumeBody resumes a paused streamed body: what was read already is
// delivered (possibly before ResumeBody returns), then reading goes on.
func (r *Request) ResumeBody() {
	c := r.c
	if c == nil || c.curReq() != r || !c.bodyPending() || !c.bs.paused {
		return
	}
	c.bs.paused = false
	if c.bs.delivering {
		return // the delivery loop below us goes on
	}
	c.feed()
}

// afterDelivery goes on once body bytes were delivered: with the next
// requests if the response was finished meanwhile (responseDone left
// that to us), else by waiting for more of the body.
func (c *conn) afterDelivery() {
	if c.state != stateHandler && !c.processing {
		c.resume()
		return
	}
	c.waitBody()
	c.updateReading()
}

// feed delivers the body bytes waiting in c.in, then lets reading go on.
func (c *conn) feed() {
	if !c.bodyPending() || c.state >= stateClosed {
		return
	}
	if len(c.in) > 0 {
		n := c.deliver(c.in)
		if c.in != nil {
			k := copy(c.in, c.in[n:])
			c.in = c.in[:k]
			if k == 0 {
				c.ls.putBuf(c.in)
				c.in = nil
			}
		}
	}
	c.afterDelivery()
	c.flushIfOutside()
}

// streamData handles input while a body streams: delivered at once when
// the consumer is ready and nothing waits before it, kept otherwise.
func (c *conn) streamData(data []byte) {
	n := 0
	fed := len(c.in) == 0
	if fed {
		n = c.deliver(data)
	}
	if rest := data[n:]; len(rest) > 0 && c.state < stateClosing {
		if c.in == nil {
			c.in = c.ls.getBuf()
		}
		c.in = append(c.in, rest...)
		if !fed {
			c.feed()
			return
		}
	}
	c.afterDelivery()
}

// waitBody starts the body timeout while the body waits for the client.
func (c *conn) waitBody() {
	if c.bodyPending() && !c.bs.paused && c.bs.consumer != nil && c.state == stateHandler {
		c.setTimeout(timeoutBody, c.srv.cfg.readBodyTimeout)
	}
}

// deliver hands the body bytes at the start of p to the consumer while it
// is ready, and returns how many bytes of p it consumed.
func (c *conn) deliver(p []byte) int {
	bs := &c.bs
	bs.delivering = true
	// A response finished during delivery must not parse c.in (it still
	// holds the bytes delivered): the caller goes on (afterDelivery).
	wasProcessing := c.processing
	c.processing = true
	defer func() { bs.delivering, c.processing = false, wasProcessing }()
	used := 0
	for used < len(p) && c.bodyPending() && bs.consumer != nil && !bs.paused && c.state < stateClosed {
		if !c.req.chunked {
			k := int64(len(p) - used)
			if k > bs.remaining {
				k = bs.remaining
			}
			piece := p[used : used+int(k)]
			used += int(k)
			bs.remaining -= k
			bs.consumer.BodyData(piece)
			if bs.remaining == 0 {
				c.endBody(nil)
			}
			continue
		}
		if c.body == nil {
			c.body = c.ls.getBuf()
		}
		k, out, st := c.dec.decode(p[used:], c.body[:0], &bs.lim)
		used += k
		c.body = out[:0]
		if st != 0 {
			c.badBody(st)
			return used
		}
		if len(out) > 0 {
			bs.consumer.BodyData(out)
		}
		if c.dec.state == chunkDone {
			c.endBody(nil)
		} else if k == 0 {
			break // an unfinished chunk line: wait for more
		}
	}
	return used
}

// endBody ends a streamed body, telling the consumer why.
func (c *conn) endBody(err error) {
	if !c.bodyPending() {
		return
	}
	c.bs.done = true
	if c.timeoutKind == timeoutBody {
		c.timeoutKind = timeoutNone
	}
	if bc := c.bs.consumer; bc != nil {
		bc.BodyEnd(err)
	}
}

// badBody ends a streamed body with malformed framing: the client gets the
// error status if the response has not begun, and the connection closes.
func (c *conn) badBody(st int) {
	c.req.cancelContext(ErrBadBody)
	c.endBody(ErrBadBody)
	if c.state >= stateClosed || !c.responding() {
		return
	}
	w := c.w
	w.finished = true
	w.releaseProducer()
	if w.committed {
		c.state = stateClosed
		c.t.AbortConnection()
		return
	}
	c.ls.putBuf(w.body)
	w.body = nil
	c.fail(st)
	c.requestDone()
	c.flushIfOutside()
}

// bodyTimedOut handles the body timeout of a streamed body: the client
// stopped sending it.
func (c *conn) bodyTimedOut() {
	c.req.cancelContext(ErrTimeout)
	c.endBody(ErrTimeout)
	if c.state < stateClosed {
		c.state = stateClosed
		c.t.AbortConnection()
	}
}
