package http

// Handler answers HTTP requests. ServeHTTP runs on the connection's loop
// goroutine: it must not block. It may answer at once (the response is
// finished when ServeHTTP returns) or later: call w.Defer before
// returning, and w.Finish once the answer is complete, on the same loop —
// typically from the callback of a Deferred returned by the reactor's
// worker pool, or from a timer of w.Loop().
//
// Requests on one connection are answered in order: while a response is
// unfinished, the connection's later (pipelined) requests wait, unparsed.
// A response already started is still finished when the client shuts its
// write side (half-close) or the reactor stops gracefully (within its
// shutdown timeout; the worker pool keeps running meanwhile), so a
// deferred handler needs no special case for either.
type Handler interface {
	ServeHTTP(w *ResponseWriter, r *Request)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(w *ResponseWriter, r *Request)

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w *ResponseWriter, r *Request) { f(w, r) }
