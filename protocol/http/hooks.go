package http

import (
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
)

// ErrorResponse is a response the server generates itself, for a request
// it refuses (400, 408, 413, 414, 417, 431, 501, 505) or a handler that
// panicked (500), as the hook of WithErrorHandler sees it. The hook may
// set header fields and write a body (a JSON problem details document,
// RFC 9457, say); the server adds Date, Content-Length and
// "Connection: close", since every such response closes the connection.
// A hook that writes no body leaves the default plain-text answer.
type ErrorResponse struct {
	// Status is the response's status code; the hook cannot change it.
	Status int
	// Request is the request: for a 500, the one the handler had; for an
	// error found while the request was read, a Request with only Method
	// (when it was parsed) and RemoteAddr set. Valid only during the hook.
	Request *Request

	headers []headerField
	body    []byte
}

// SetHeader adds a header field to the error response. The framing
// fields (Content-Length, Transfer-Encoding, Connection) are the
// server's and are ignored.
func (e *ErrorResponse) SetHeader(name, value string) {
	if equalFoldString(name, "content-length") || equalFoldString(name, "transfer-encoding") ||
		equalFoldString(name, "connection") {
		return
	}
	e.headers = append(e.headers, headerField{name, value})
}

// Write appends p to the error response's body.
func (e *ErrorResponse) Write(p []byte) (int, error) {
	e.body = append(e.body, p...)
	return len(p), nil
}

// WriteString appends s to the error response's body.
func (e *ErrorResponse) WriteString(s string) (int, error) {
	e.body = append(e.body, s...)
	return len(s), nil
}

// WithErrorHandler sets a hook, called on the loop, that may replace the
// body of every response the server generates itself (see
// ErrorResponse). A panic in the hook is recovered and the default answer
// is sent. Without the hook the answers are plain text, as before.
func WithErrorHandler(fn func(e *ErrorResponse)) Option {
	return func(c *config) { c.onError = fn }
}

// ResponseInfo describes a finished response, for access logs and
// metrics (WithResponseHook).
type ResponseInfo struct {
	// Status is the status code sent (or that would have been sent).
	Status int
	// Bytes is the number of body bytes the handler wrote (for a HEAD
	// request, the bytes it would have sent), or the length of a
	// server-generated error body.
	Bytes int64
	// Duration runs from the end of the request's head to the end of the
	// response, by the loop's clock.
	Duration time.Duration
	// Err is nil for a response sent whole. Otherwise it tells why the
	// response did not complete: ErrClientGone, ErrTimeout or
	// ErrServerShutdown (the connection went first), or a
	// *protocol.PanicError (the handler panicked).
	Err error
	// ServerGenerated is set for the server's own error responses (see
	// ErrorResponse).
	ServerGenerated bool
}

// WithResponseHook sets fn to be called on the loop once per response,
// when it is finished: answered at once, deferred or streamed, a
// server-generated error, or cut short by a lost connection or a panic.
// r is valid only during the call (for a server-generated error, see
// ErrorResponse.Request). The hook runs on the hot path: keep it cheap, and
// allocation-free if you can.
func WithResponseHook(fn func(r *Request, info ResponseInfo)) Option {
	return func(c *config) { c.onResponse = fn }
}

// report calls the response hook, once per response.
func (c *conn) report(status int, n int64, err error, generated bool) {
	fn := c.srv.cfg.onResponse
	if fn == nil || c.reported {
		return
	}
	c.reported = true
	var d time.Duration
	if !c.started.IsZero() {
		d = c.ls.loop.Now().Sub(c.started)
	}
	r := c.req
	if generated {
		r = c.errRequest()
	}
	fn(r, ResponseInfo{Status: status, Bytes: n, Duration: d, Err: err, ServerGenerated: generated})
}

// errRequest is the request to show the hooks for an error found while
// reading it: its head is not complete, so only what is safe to read is
// copied.
func (c *conn) errRequest() *Request {
	if c.req == nil {
		return &Request{remote: c.t.RemoteAddr()}
	}
	if c.state == stateHandler {
		return c.req
	}
	r := &Request{remote: c.t.RemoteAddr()}
	r.method = c.req.method
	return r
}

// errorBody runs the error hook for status; it returns the header fields
// and body to send, or ok false for the default answer.
func (c *conn) errorBody(status int) (headers []headerField, body []byte, ok bool) {
	fn := c.srv.cfg.onError
	if fn == nil {
		return nil, nil, false
	}
	e := &ErrorResponse{Status: status, Request: c.errRequest()}
	defer func() {
		if v := recover(); v != nil {
			c.logPanic(&protocol.PanicError{Value: v}, "http error hook panicked")
			headers, body, ok = nil, nil, false
		}
	}()
	fn(e)
	if len(e.body) == 0 {
		return nil, nil, false
	}
	return e.headers, e.body, true
}

// panicked reports a handler panic: to the WithPanicHandler hook, or by
// default to the reactor's logger (to standard error when the loop has
// none).
func (c *conn) panicked(pe *protocol.PanicError) {
	if c.srv.cfg.onPanic != nil {
		c.srv.cfg.onPanic(pe)
		return
	}
	c.logPanic(pe, "http handler panicked")
}

// loopLogger is implemented by the reactor's loops.
type loopLogger interface{ Logger() *zerolog.Logger }

func (c *conn) logPanic(pe *protocol.PanicError, msg string) {
	if ll, ok := c.ls.loop.(loopLogger); ok {
		e := ll.Logger().Error().Str("panic", fmt.Sprint(pe.Value))
		if c.t != nil && c.t.RemoteAddr() != nil {
			e = e.Str("peer", c.t.RemoteAddr().String())
		}
		if pe.Stack != nil {
			e = e.Bytes("stack", pe.Stack)
		}
		e.Msg(msg)
		return
	}
	fmt.Fprintf(os.Stderr, "mustaine/http: %s: %v\n%s", msg, pe.Value, pe.Stack)
}
