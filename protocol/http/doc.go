// Package http is an HTTP/1.1 server protocol (RFC 9112) for Mustaine's
// transports: a Server is a protocol.Factory, so it listens like any other
// protocol, and its handlers run on the connection's event loop, with no
// goroutine per connection or per request.
//
//	srv, err := http.NewServer(http.HandlerFunc(func(w *http.ResponseWriter, r *http.Request) {
//		w.SetHeader("Content-Type", "text/plain")
//		w.WriteString("Hello, World!")
//	}))
//
// # Answering later
//
// A handler must not block the loop. To answer from work done elsewhere
// (the reactor's worker pool, a timer, another connection), it calls
// w.Defer before returning and w.Finish later, on the same loop. Until
// then the Request and its byte slices stay valid, and the connection's
// next (pipelined) requests wait unparsed, so responses always leave in
// request order.
//
// # Closing: half-close, graceful stop, clients that do not read
//
// A client may shut its write side once its requests are sent (curl,
// HAProxy health checks and many scripts do): the connection is
// half-closeable (protocol.HalfCloseable). Nothing is parsed after the
// peer's EOF, every request received before it is answered in order,
// deferred and streamed responses included, and the connection closes
// after the last response. A request the EOF cuts short gets 400 Bad
// Request and the connection closes, as net/http answers (nginx closes
// without a response; the client that half-closed is still reading, and a
// 400 tells it more than a bare close).
//
// When the reactor stops gracefully (Stop, SIGINT, SIGTERM) each
// connection is drained (protocol.Drainer), as net/http's Server.Shutdown
// does: an idle keep-alive connection closes at once; a request being
// received or answered is finished, within the reactor's shutdown timeout,
// and its response carries "Connection: close" (if its head was already
// sent, the connection closes after it); and no new request is started on
// the connection. Requests pipelined behind the last one are not answered
// with 503: the connection closes without reading them. RFC 9112 §9.6 has
// a server that sent "close" process no further request, and a client
// knows that requests a closed connection left unanswered were not
// processed and may be retried; a 503 would tell it no more and would mean
// parsing, and answering, requests on a connection being closed. The
// worker pool keeps running while connections drain, so a response waiting
// for a job still gets it. What is left at the deadline is aborted by the
// reactor, which logs each connection it cuts.
//
// A client that pipelines requests and does not read the responses cannot
// make the server's memory grow: the connection is the transport's
// streaming producer, so once its unsent output passes the transport's
// high-water mark the transport pauses it (PauseProducing) and no new
// request is dispatched, reading stops, and what was read and not parsed
// waits (at most one read's worth); below the low mark it goes on. A
// streamed response's own producer is paused and resumed with it, and the
// write timeout runs while the output is held up.
//
// # Memory and allocations
//
// The Request and ResponseWriter belong to the connection and are reused:
// neither may be kept past Finish. Requests are parsed in place from the
// bytes read; only a request that arrives in pieces, or is deferred, is
// copied into a buffer of the loop's pool, and a connection between
// requests holds no buffer. Accessors ending in Bytes return views of the
// request without allocating; serving a plaintext GET allocates nothing in
// steady state. All responses produced while handling one read go to the
// transport in one Write, so pipelined requests cost one write(2).
//
// # Safety
//
// The parser is strict where leniency lets requests be smuggled or
// misread, and bounded everywhere:
//
//   - request line over 8 KiB: 414; header section over 16 KiB or 100
//     fields: 431; body over 1 MiB: 413 (all configurable);
//   - a missing (HTTP/1.1) or repeated Host, whitespace before a colon,
//     obs-fold, bare CR, NUL and other control characters, a malformed
//     request line or target: 400; versions other than 1.0 and 1.1: 505;
//   - Transfer-Encoding with Content-Length, differing Content-Lengths,
//     chunked not the final coding, Transfer-Encoding in HTTP/1.0: 400;
//     other transfer codings: 501; an Expect other than 100-continue: 417;
//   - chunk sizes of at most 16 hex digits, chunk extensions bounded,
//     CRLF required in chunked framing, trailers checked and dropped.
//
// Every error response closes the connection (after a lingering close
// that keeps the client's unread input from turning it into a reset).
// Timeouts run on the loop's timer wheel: reading a head (slowloris),
// reading a body, keep-alive idleness, and a client that stops reading a
// streamed response. A handler panic is answered with 500 (or aborts the
// connection if the response had begun) and affects that connection only.
//
// # Divergences from net/http
//
// The package is checked against net/http's request parser by a
// differential fuzz test. Where they differ on purpose, this package
// follows RFC 9112 more strictly: it refuses obs-fold, Transfer-Encoding
// in HTTP/1.0 and together with Content-Length, HTTP/1.x versions other
// than 1.0 and 1.1, "*" for methods other than OPTIONS, userinfo in an
// absolute-form target, and whitespace after a chunk size; and it ignores
// empty lines before a request line, as RFC 9112 §2.2 asks.
package http
