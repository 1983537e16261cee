package http

import (
	"context"
	"errors"
)

// Causes of a request context's cancellation, read with context.Cause.
var (
	// ErrClientGone: the connection was lost, or the client shut its
	// sending side (TCP cannot tell a client that left from one that only
	// half-closed without writing to it; net/http cancels too).
	ErrClientGone = errors.New("mustaine/http: client gone")
	// ErrTimeout: one of the connection's timeouts expired (the client
	// stopped reading the response, or sending the body).
	ErrTimeout = errors.New("mustaine/http: connection timed out")
	// ErrServerShutdown: the reactor began a graceful stop. The response
	// may still be finished, within the shutdown timeout.
	ErrServerShutdown = errors.New("mustaine/http: server shutting down")
)

// reqContext is a request's context, made on the first Context call.
type reqContext struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// Context returns the request's context. It is made on the first call,
// so a handler that never asks pays nothing. It is cancelled when the
// response is finished (cause context.Canceled, as net/http does when
// ServeHTTP returns), and before that when the client goes (cause
// ErrClientGone), a connection timeout expires (ErrTimeout) or the server
// begins a graceful stop (ErrServerShutdown). Pass it to work started for
// the request, such as reactor.DeferToThreadContext, so that work can stop
// once nobody waits for its result. Unlike the Request, the context may
// be kept and used from any goroutine. Call it on the loop, like every
// Request method.
func (r *Request) Context() context.Context {
	if r.ctx != nil {
		return r.ctx.ctx
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r.ctx = &reqContext{ctx: ctx, cancel: cancel}
	if r.gone != nil {
		cancel(r.gone)
	}
	return ctx
}

// cancelContext cancels the request's context, if it has one, with cause;
// a context made later starts cancelled with it. The first cause wins.
func (r *Request) cancelContext(cause error) {
	if r.gone == nil {
		r.gone = cause
	}
	if r.ctx != nil {
		r.ctx.cancel(cause)
	}
}
