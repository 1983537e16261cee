package http

import (
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// streamThreshold is how much body a response buffers before it commits
// its head and streams (chunked, or raw with a declared Content-Length).
// Below it, a response goes out whole with an exact Content-Length.
const streamThreshold = 32 << 10

// Body framing of a committed response.
const (
	modeFixed   = iota // Content-Length
	modeChunked        // Transfer-Encoding: chunked
	modeClose          // HTTP/1.0 without a length: ends when the connection closes
	modeNoBody         // HEAD, 1xx, 204, 304
)

type headerField struct{ name, value string }

// ResponseWriter builds the response to one Request. Like the Request, it
// belongs to the connection and is reused for the next request once the
// response is finished: do not use it after Finish.
//
// The status and header fields may be set until the head is sent, which
// happens when the response is finished, on Flush, or once more than
// 32 KiB of body was written. A response finished with its whole body
// buffered goes out with an exact Content-Length; a streamed one uses a
// length declared with SetContentLength, or else chunked encoding (or, for
// an HTTP/1.0 client, ends by closing the connection).
//
// All methods must be called on the connection's loop (ResponseWriter.Loop).
type ResponseWriter struct {
	c        *conn
	status   int
	headers  []headerField
	body     []byte // body buffered until the head is committed
	declared int64  // SetContentLength, or -1
	written  int64  // body bytes accepted, HEAD included

	mode       uint8
	inHandler  bool // ServeHTTP is running
	deferred   bool // Defer was called
	finished   bool
	committed  bool // the head is in the connection's output
	closeAfter bool // close the connection after this response
	customDate bool // the handler set its own Date
	isHead     bool
	producer   protocol.Producer
}

// start prepares w for the connection's current request.
func (w *ResponseWriter) start(c *conn) {
	headers, body := w.headers[:0], w.body[:0]
	// Zeroing in place and then storing the few non-zero fields avoids
	// building a composite literal on the stack and copying it, which
	// stalls on store forwarding (mixed-width stores read back as wide
	// loads) and showed as the costliest line of a pipelined request.
	*w = ResponseWriter{}
	w.c = c
	w.headers, w.body = headers, body
	w.status = 200
	w.declared = -1
	w.inHandler = true
	w.isHead = c.req.method == "HEAD"
}

// SetStatus sets the status code; the default is 200. Codes outside
// 200..999 (1xx responses other than the server's own 100 Continue are
// not supported) become 500. It has no effect once the head was sent.
func (w *ResponseWriter) SetStatus(code int) {
	if w.committed || w.finished {
		return
	}
	if code < 200 || code > 999 {
		code = statusInternalError
	}
	w.status = code
}

// Status is the status code set so far.
func (w *ResponseWriter) Status() int { return w.status }

// SetHeader sets the header field name to value, replacing any earlier
// value. Header fields set after the head was sent are ignored. The
// server owns the framing fields: "Content-Length" is taken as
// SetContentLength (ignored if it is not a number), "Connection: close"
// makes the server close the connection after this response, and
// "Transfer-Encoding" and other Connection values are ignored. Names with
// characters outside RFC 9110's token are dropped when the head is
// written, and control characters in a value (CR, LF, NUL...) are replaced
// by spaces, so a header can never split the response.
func (w *ResponseWriter) SetHeader(name, value string) {
	if w.committed || w.finished || w.framingField(name, value) {
		return
	}
	for i := range w.headers {
		if equalFoldString(w.headers[i].name, name) {
			w.headers[i].value = value
			w.dropHeader(name, i+1)
			return
		}
	}
	w.headers = append(w.headers, headerField{name, value})
}

// AddHeader adds a header field line, keeping earlier ones of the same
// name (as for Set-Cookie). The rules of SetHeader apply.
func (w *ResponseWriter) AddHeader(name, value string) {
	if w.committed || w.finished || w.framingField(name, value) {
		return
	}
	w.headers = append(w.headers, headerField{name, value})
}

// DelHeader removes every header field called name.
func (w *ResponseWriter) DelHeader(name string) {
	if w.committed || w.finished {
		return
	}
	if equalFoldString(name, "date") {
		w.customDate = false
	}
	w.dropHeader(name, 0)
}

// dropHeader removes the fields called name at index from and after.
func (w *ResponseWriter) dropHeader(name string, from int) {
	kept := w.headers[:from]
	for _, h := range w.headers[from:] {
		if !equalFoldString(h.name, name) {
			kept = append(kept, h)
		}
	}
	clear(w.headers[len(kept):])
	w.headers = kept
}

// framingField handles the fields the server owns and reports whether
// name was one of them.
func (w *ResponseWriter) framingField(name, value string) bool {
	switch {
	case equalFoldString(name, "content-length"):
		var n int64
		if value == "" || len(value) > 18 {
			return true
		}
		for i := 0; i < len(value); i++ {
			if value[i] < '0' || value[i] > '9' {
				return true
			}
			n = n*10 + int64(value[i]-'0')
		}
		w.SetContentLength(n)
		return true
	case equalFoldString(name, "transfer-encoding"):
		return true
	case equalFoldString(name, "connection"):
		b := []byte(value)
		for len(b) > 0 {
			var opt []byte
			opt, b = cutByte(b, ',')
			if equalFoldLower(trimOWS(opt), "close") {
				w.closeAfter = true
			}
		}
		return true
	case equalFoldString(name, "date"):
		w.customDate = true
	}
	return false
}

// SetContentLength declares the body's length, so a streamed body can go
// out without chunked encoding, and a HEAD response can tell the length a
// GET would have. Writing more returns ErrContentLength; finishing with
// less closes the connection after the short body, so the client sees the
// truncation. Negative values remove the declaration.
func (w *ResponseWriter) SetContentLength(n int64) {
	if w.committed || w.finished {
		return
	}
	if n < 0 {
		n = -1
	}
	w.declared = n
}

// Write appends p to the body. Before the head is committed, the body is
// buffered; afterwards each Write goes to the transport (inside ServeHTTP,
// when it returns, together with the connection's other output). For a
// HEAD request the bytes are counted and dropped. It returns
// ErrBodyNotAllowed for a 204 or 304 response, ErrContentLength past a
// declared length, ErrResponseFinished after Finish, and ErrConnectionLost
// once the connection is gone.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if err := w.writable(len(p)); err != nil {
		return 0, err
	}
	if w.isHead {
		return len(p), nil
	}
	if !w.committed {
		c := w.c
		if w.body == nil {
			w.body = c.ls.getBuf()
		}
		w.body = append(w.body, p...)
		if len(w.body) >= streamThreshold {
			w.commit(false)
			c.flushIfOutside()
		}
		return len(p), nil
	}
	w.writeFramed(p)
	return len(p), nil
}

// WriteString is Write for a string, without converting it.
func (w *ResponseWriter) WriteString(s string) (int, error) {
	if err := w.writable(len(s)); err != nil {
		return 0, err
	}
	if w.isHead {
		return len(s), nil
	}
	if !w.committed {
		c := w.c
		if w.body == nil {
			w.body = c.ls.getBuf()
		}
		w.body = append(w.body, s...)
		if len(w.body) >= streamThreshold {
			w.commit(false)
			c.flushIfOutside()
		}
		return len(s), nil
	}
	w.writeFramedString(s)
	return len(s), nil
}

// writable checks that n more body bytes may be written, and counts them.
func (w *ResponseWriter) writable(n int) error {
	switch {
	case w.c == nil || w.finished:
		return ErrResponseFinished
	case w.c.state >= stateClosed:
		return ErrConnectionLost
	case !bodyAllowed(w.status):
		return ErrBodyNotAllowed
	case w.declared >= 0 && w.written+int64(n) > w.declared:
		return ErrContentLength
	}
	w.written += int64(n)
	return nil
}

func bodyAllowed(status int) bool { return status != 204 && status != 304 }

// Flush sends the head and the body written so far now, instead of when
// the response is finished. The rest of the body is streamed: with the
// declared Content-Length, or chunked.
func (w *ResponseWriter) Flush() error {
	switch {
	case w.c == nil || w.finished:
		return ErrResponseFinished
	case w.c.state >= stateClosed:
		return ErrConnectionLost
	}
	if !w.committed {
		w.commit(false)
	}
	w.c.flushIfOutside()
	return nil
}

// Defer tells the server that the response will be finished later, by a
// call to Finish on the connection's loop; without it the response is
// finished when ServeHTTP returns. The Request stays valid until then,
// and the connection's next requests wait. Defer has no effect outside
// ServeHTTP.
func (w *ResponseWriter) Defer() {
	if w.inHandler && !w.finished {
		w.deferred = true
	}
}

// Finish completes the response: it sends the head and the buffered body
// (or ends a streamed body), then lets the connection go on to its next
// request or close. Calling it inside ServeHTTP is allowed; calling it
// again returns ErrResponseFinished. When the connection was lost in the
// meantime, Finish releases the request and returns ErrConnectionLost.
func (w *ResponseWriter) Finish() error {
	c := w.c
	if c == nil || w.finished {
		return ErrResponseFinished
	}
	w.finished = true
	w.releaseProducer()
	if c.state >= stateClosed {
		err := c.req.gone
		if err == nil {
			err = ErrClientGone
		}
		c.report(w.status, w.written, err, false)
		c.requestDone()
		return ErrConnectionLost
	}
	if c.bodyPending() {
		// The body was not read to its end: only closing can skip it.
		w.closeAfter = true
		c.endBody(ErrResponseFinished)
	}
	if c.srv.cfg.onResponse != nil {
		c.report(w.status, w.written, nil, false)
	}
	if !w.committed {
		w.commit(true)
	} else {
		switch w.mode {
		case modeChunked:
			c.out = append(c.outBuf(), "0\r\n\r\n"...)
		case modeFixed:
			if !w.isHead && w.written < w.declared {
				w.closeAfter = true
			}
		}
	}
	c.responseDone(w.closeAfter)
	return nil
}

// RegisterProducer ties a streaming body to the transport's flow control:
// p.PauseProducing is called when the client reads too slowly and the
// connection's output passes its high-water mark, p.ResumeProducing when
// it has drained, and p.StopProducing if the connection is lost. A
// handler streaming a large body should write only while not paused. When
// the output is paused already, p.PauseProducing is called at once. The
// producer is unregistered when the response is finished.
func (w *ResponseWriter) RegisterProducer(p protocol.Producer) error {
	c := w.c
	switch {
	case c == nil || w.finished:
		return ErrResponseFinished
	case c.state >= stateClosed:
		return ErrConnectionLost
	}
	w.producer = p
	if c.outPaused {
		p.PauseProducing()
	}
	return nil
}

// Paused reports whether the transport's flow control currently asks the
// response's producer to pause (see RegisterProducer).
func (w *ResponseWriter) Paused() bool { return w.c != nil && w.c.outPaused }

// releaseProducer unregisters the response's producer. The connection
// itself stays the transport's producer.
func (w *ResponseWriter) releaseProducer() { w.producer = nil }

// Loop is the loop of the request's connection: its clock and timers, and
// where a deferred response must be finished.
func (w *ResponseWriter) Loop() protocol.Loop { return w.c.ls.loop }

// commit appends the head to the connection's output, followed by the
// buffered body. With final, the body is complete and gets an exact
// Content-Length; otherwise the response streams.
func (w *ResponseWriter) commit(final bool) {
	c := w.c
	w.committed = true
	if c.maxedOut() || !c.req.KeepAlive() || c.ending == endDrain || c.bodyPending() {
		w.closeAfter = true
	}
	length := w.declared
	switch {
	case w.status < 200 || !bodyAllowed(w.status):
		w.mode = modeNoBody
		length = -1
	case w.isHead:
		w.mode = modeNoBody
		if final && length < 0 && w.written > 0 {
			length = w.written
		}
	case final:
		w.mode = modeFixed
		if length < 0 {
			length = int64(len(w.body))
		} else if int64(len(w.body)) < length {
			w.closeAfter = true // short body: only closing can tell the client
		}
	case length >= 0:
		w.mode = modeFixed
	case c.req.minor >= 1:
		w.mode = modeChunked
	default:
		w.mode = modeClose
		w.closeAfter = true
	}
	b := w.appendHead(c.outBuf(), length)
	if len(w.body) > 0 {
		if w.mode == modeChunked {
			b = appendHex(b, uint64(len(w.body)))
			b = append(b, '\r', '\n')
			b = append(b, w.body...)
			b = append(b, '\r', '\n')
		} else {
			b = append(b, w.body...)
		}
	}
	c.out = b
	w.keepBody()
}

// keepBody empties the body buffer once its bytes are in the connection's
// output. A small one stays with w for the next response (and with the
// exchange while it waits in the loop's pool), which saves each response
// a trip through the loop's buffer pool; a larger one goes back to it.
func (w *ResponseWriter) keepBody() {
	if cap(w.body) > bufInitial {
		w.c.ls.putBuf(w.body)
		w.body = nil
		return
	}
	w.body = w.body[:0]
}

// appendHead appends the status line and header section. length < 0
// means no Content-Length field.
func (w *ResponseWriter) appendHead(b []byte, length int64) []byte {
	c := w.c
	now := c.ls.loop.Now()
	m := &c.ls.lastHead
	if m.same(w, length, now) {
		return append(b, m.out...)
	}
	start := len(b)
	b = w.buildHead(b, length, now)
	m.keep(w, length, now, b[start:])
	return b
}

// buildHead is appendHead without the loop's memo.
func (w *ResponseWriter) buildHead(b []byte, length int64, now time.Time) []byte {
	c := w.c
	b = c.ls.prefix.appendFixed(b, w.status, !w.customDate, now)
	for i := range w.headers {
		b = appendField(b, w.headers[i].name, w.headers[i].value)
	}
	switch {
	case w.mode == modeChunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case length >= 0:
		b = append(b, "Content-Length: "...)
		b = appendUint(b, uint64(length))
		b = append(b, '\r', '\n')
	}
	if w.closeAfter {
		b = append(b, "Connection: close\r\n"...)
	} else if c.req.minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	return append(b, '\r', '\n')
}

// headMemo is a loop's last response head and everything it was made
// from: a response with the same status, fields, length, framing and Date
// second (every response of a pipelined batch to the same handler, within
// a second) copies it instead of building it again. Its buffers are made
// once, so it never allocates per response.
type headMemo struct {
	valid   bool
	status  int
	length  int64
	sec     int64
	flags   uint8
	headers []headerField
	out     []byte
}

// Bounds of what headMemo keeps.
const (
	headMemoFields = 8
	headMemoBytes  = 512
)

// headFlags are the inputs of a head besides its status, fields and
// length.
func headFlags(w *ResponseWriter) uint8 {
	var f uint8
	if w.mode == modeChunked {
		f |= 1
	}
	if w.closeAfter {
		f |= 2
	}
	if w.c.req.minor == 0 {
		f |= 4
	}
	if w.customDate {
		f |= 8
	}
	return f
}

// same reports whether w's head, at now, is m's.
func (m *headMemo) same(w *ResponseWriter, length int64, now time.Time) bool {
	if !m.valid || m.status != w.status || m.length != length || len(m.headers) != len(w.headers) ||
		m.flags != headFlags(w) || m.sec != now.Unix() {
		return false
	}
	for i := range w.headers {
		if m.headers[i] != w.headers[i] {
			return false
		}
	}
	return true
}

// keep remembers head, w's head at now, if it fits.
func (m *headMemo) keep(w *ResponseWriter, length int64, now time.Time, head []byte) {
	if len(w.headers) > headMemoFields || len(head) > headMemoBytes {
		m.valid = false
		return
	}
	if m.out == nil {
		m.out = make([]byte, 0, headMemoBytes)
		m.headers = make([]headerField, 0, headMemoFields)
	}
	m.valid, m.status, m.length, m.flags, m.sec = true, w.status, length, headFlags(w), now.Unix()
	m.headers = append(m.headers[:0], w.headers...)
	m.out = append(m.out[:0], head...)
}

// appendField appends "name: value\r\n", dropping an invalid name and
// replacing control characters in the value with spaces.
func appendField(b []byte, name, value string) []byte {
	if !validToken(name) {
		return b
	}
	b = append(b, name...)
	b = append(b, ':', ' ')
	start := len(b)
	b = append(b, value...)
	if !plainFieldValue(value) {
		for i := start; i < len(b); i++ {
			if charClass[b[i]]&classValue == 0 {
				b[i] = ' '
			}
		}
	}
	return append(b, '\r', '\n')
}

// plainWord reports whether none of the eight bytes of x is a control
// byte (below 0x20, or DEL). A byte below 0x20 sets its high bit in
// x-0x2020... while its own high bit is clear, and x^0x7f7f... has a zero
// byte exactly where x holds DEL; borrows between bytes only ever start
// at such a byte, so neither test fires without one.
func plainWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	y := x ^ 0x7f*ones
	return ((x-0x20*ones)&^x|(y-ones)&^y)&highs == 0
}

// validToken reports whether s is a non-empty RFC 9110 token. The names
// handlers set most often are recognised whole, which costs a length
// switch and a compare or two instead of a table lookup per byte.
func validToken(s string) bool {
	switch s {
	case "Content-Type", "Cache-Control", "Content-Encoding", "Content-Language",
		"Location", "Set-Cookie", "Vary", "ETag", "Last-Modified", "Expires",
		"Allow", "Access-Control-Allow-Origin", "X-Content-Type-Options":
		return true
	case "":
		return false
	}
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&classToken == 0 {
			return false
		}
	}
	return true
}

// plainFieldValue reports whether s has no control character at all
// (below 0x20, or DEL). It tests eight bytes per step, so it may answer
// false for a value that is valid only because of an HTAB; the caller then
// checks byte by byte.
func plainFieldValue(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if !plainWord(x) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// writeFramed appends body bytes to a committed response.
func (w *ResponseWriter) writeFramed(p []byte) {
	if w.mode == modeNoBody || len(p) == 0 {
		return
	}
	c := w.c
	b := c.outBuf()
	if w.mode == modeChunked {
		b = appendHex(b, uint64(len(p)))
		b = append(b, '\r', '\n')
		b = append(b, p...)
		b = append(b, '\r', '\n')
	} else {
		b = append(b, p...)
	}
	c.out = b
	c.flushIfOutside()
}

func (w *ResponseWriter) writeFramedString(s string) {
	if w.mode == modeNoBody || len(s) == 0 {
		return
	}
	c := w.c
	b := c.outBuf()
	if w.mode == modeChunked {
		b = appendHex(b, uint64(len(s)))
		b = append(b, '\r', '\n')
		b = append(b, s...)
		b = append(b, '\r', '\n')
	} else {
		b = append(b, s...)
	}
	c.out = b
	c.flushIfOutside()
}

// equalFoldString is equalFold for two strings.
func equalFoldString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
