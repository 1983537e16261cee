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
// The package also has an HTTP/1.1 client, Client (Twisted's Agent): it
// runs on one loop, returns Deferreds of ClientResponse, pools keep-alive
// connections per scheme, host and port, speaks "http" and, through the
// reactor's TLS (crypto/tls, verified by default), "https", and parses
// responses with the same field and framing rules as the server; see
// Client.
//
// # Routing
//
// A Router dispatches requests with the patterns and precedence of Go
// 1.22's net/http.ServeMux ("GET /users/{id}", "/static/{path...}",
// "/{$}", host patterns), refuses conflicting patterns at registration,
// answers 405 with Allow and redirects as ServeMux does; r.PathValue reads
// wildcards. Middleware is func(Handler) Handler (Router.Use, Chain).
// Routing a request, path values included, allocates nothing.
//
// # Request context, decoded access
//
// r.Context() is made on first use and is cancelled when the client goes
// (ErrClientGone), a connection timeout expires (ErrTimeout), the server
// drains (ErrServerShutdown), or the response is finished; pass it to
// reactor.DeferToThreadContext so pool work whose client left can stop.
// r.Query, r.URL and r.Cookie decode on demand; the Bytes accessors stay
// zero-copy.
//
// # Streaming request bodies
//
// A handler marked with StreamingBody runs as soon as the head is parsed
// and reads the body with r.ReadBody as it arrives, pausing it
// (r.PauseBody, r.ResumeBody) while its consumer is busy: reading from the
// client stops meanwhile, so an upload of any size takes one read's worth
// of memory. 100 Continue is sent only when the handler asks for the body.
// Other handlers get the whole body in r.Body(), bounded by
// WithMaxBodyBytes.
//
// # Hooks
//
// WithErrorHandler lets the application write the body of every response
// the server generates itself (400, 408, 413, 414, 417, 431, 501, 505, and
// 500 after a panic), for instance as JSON problem details.
// WithResponseHook is called once per finished response (status, bytes,
// duration, error), deferred, streamed and lost ones included. Panics are
// logged through the reactor's logger unless WithPanicHandler says
// otherwise. Package nethttpbridge serves a standard net/http.Handler on the
// worker pool.
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
// transport in one Write, so pipelined requests cost one write(2). Each
// loop remembers its last small request head and its parse: a head
// byte-identical to it, as a client repeating one request sends, takes
// that parse instead of being parsed again, which gives exactly what
// parsing would (the parse depends on the bytes and the server's limits
// alone); a head with Authorization, Proxy-Authorization or Cookie is
// never remembered. A kept-alive connection's idle timeout moves without touching
// its neighbours on the loop's timeout queue unless it moves by more than
// a 64th of the timeout; it still expires exactly the timeout after the
// last request.
//
// # Safety
//
// The parser is strict where leniency lets requests be smuggled or
// misread, and bounded everywhere:
//
//   - request line over 8 KiB: 414; header section over 16 KiB or 100
//     fields: 431; body over 1 MiB: 413 (all configurable);
//   - every line ends with CRLF: a bare LF ending the request line, a
//     field line, the head, a chunk-size line, chunk data or a trailer
//     line, or before the request line, is 400 (RFC 9112 §2.2 allows
//     either; a peer that reads LF otherwise sees other fields and
//     another request). Empty lines (CRLF) before a request line are
//     ignored, as RFC 9112 §2.2 asks;
//   - a missing (HTTP/1.1) or repeated Host, whitespace before a colon or
//     at the start of a line (obs-fold), bare CR, NUL and other control
//     characters, a malformed request line, a target with bytes outside
//     ASCII VCHAR: 400; versions other than 1.0 and 1.1: 505. A line that
//     cannot start a field line or end the head is refused as soon as its
//     first bytes arrive;
//   - Transfer-Encoding with Content-Length, differing Content-Lengths,
//     chunked not the final coding or there twice, Transfer-Encoding in
//     HTTP/1.0: 400; any transfer coding other than chunked, wherever it
//     stands in the list: 501 (RFC 9112 §6.1); an Expect other than
//     100-continue: 417;
//   - chunk sizes of at most 16 hex digits with no whitespace after them;
//     chunk extensions must follow RFC 9112 §7.1.1 without whitespace
//     (";" token ["=" (token / quoted-string)]: no empty name or value, no
//     unbalanced quote) and are bounded; trailers checked and dropped.
//
// Every error response closes the connection (after a lingering close
// that keeps the client's unread input from turning it into a reset).
// Timeouts run on the loop's timer wheel: reading a head (slowloris),
// reading a body, keep-alive idleness, and a client that stops reading a
// streamed response. A handler panic is answered with 500 (or aborts the
// connection if the response had begun) and affects that connection only.
//
// # Compared with llhttp
//
// Every request case of llhttp's strict-mode test suite (Node.js's
// parser) is replayed through the connection by the tests, as it is and
// with a Host field added; the server never serves a request llhttp
// refuses nor reads more messages than llhttp does. Where the verdicts
// differ:
//
//   - stricter: an HTTP/1.1 request without Host (400, RFC 9112 §3.2;
//     llhttp does not check Host); HTTP/0.9 request lines (400); RTSP/1.0
//     and ICE/1.0 versions, which are not HTTP (400); "*" as the target of
//     a method other than OPTIONS, such as SSDP's M-SEARCH (400, RFC 9112
//     §3.2.4); userinfo in an absolute-form target (400, RFC 9110 §4.2.4);
//     transfer codings such as deflate before chunked, which the server
//     does not decode (501, RFC 9112 §6.1; llhttp hands the coded body
//     on);
//   - methods: the server serves the methods llhttp knows (RFC 9110's,
//     WebDAV's, CalDAV's, PATCH, PURGE, QUERY and the rest of its list) and
//     answers any other with 501 (RFC 9110 §9.1), as llhttp refuses them;
//     WithExtensionMethods names more;
//   - later: an unfinished request line is judged at its CRLF, where
//     llhttp refuses a bad version as soon as it is read.
//
// llhttp stops at a request with Upgrade or CONNECT and hands the rest of
// the stream over; the server implements no upgrade: it serves such a
// request as any other, and parses what follows as the next request.
//
// # Divergences from net/http
//
// The package is checked against net/http's request parser by a
// differential fuzz test. Where they differ on purpose, this package
// follows RFC 9112 more strictly: it refuses bare LF line ends, obs-fold,
// Transfer-Encoding in HTTP/1.0 and together with Content-Length, HTTP/1.x
// versions other than 1.0 and 1.1, methods outside llhttp's list unless
// named by WithExtensionMethods (501), "*" for methods other than OPTIONS,
// userinfo in an absolute-form target, targets with bytes outside ASCII,
// whitespace after a chunk size and chunk extensions outside RFC 9112's
// grammar (net/http ignores them); and it ignores empty lines before a
// request line, as RFC 9112 §2.2 asks.
package http
