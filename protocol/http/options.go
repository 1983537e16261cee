package http

import (
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// Default limits and timeouts.
const (
	DefaultMaxRequestLine    = 8 << 10  // request-line bytes (414 above)
	DefaultMaxHeaderBytes    = 16 << 10 // header section bytes (431 above)
	DefaultMaxHeaderFields   = 100      // header field lines (431 above)
	DefaultMaxBodyBytes      = 1 << 20  // request body bytes (413 above)
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadBodyTimeout   = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
)

// maxHeadLimit keeps head offsets within the int32 spans of Request.
const maxHeadLimit = 1 << 28

// Option configures a Server.
type Option func(*config)

type config struct {
	limits
	readHeaderTimeout time.Duration
	readBodyTimeout   time.Duration
	idleTimeout       time.Duration
	writeTimeout      time.Duration
	maxRequests       int
	serverName        string
	onPanic           func(*protocol.PanicError)
	onError           func(*ErrorResponse)
	onResponse        func(*Request, ResponseInfo)
}

func defaultConfig() config {
	return config{
		limits: limits{
			maxLine:   DefaultMaxRequestLine,
			maxHeader: DefaultMaxHeaderBytes,
			maxFields: DefaultMaxHeaderFields,
			maxBody:   DefaultMaxBodyBytes,
		},
		readHeaderTimeout: DefaultReadHeaderTimeout,
		readBodyTimeout:   DefaultReadBodyTimeout,
		idleTimeout:       DefaultIdleTimeout,
		writeTimeout:      DefaultWriteTimeout,
	}
}

func (c *config) valid() bool {
	return c.maxLine >= 16 && c.maxLine <= maxHeadLimit &&
		c.maxHeader >= 0 && c.maxHeader <= maxHeadLimit &&
		c.maxFields >= 1 && c.maxBody >= 0 &&
		c.readHeaderTimeout >= 0 && c.readBodyTimeout >= 0 &&
		c.idleTimeout >= 0 && c.writeTimeout >= 0 && c.maxRequests >= 0 &&
		validFieldValue(c.serverName)
}

// validFieldValue reports whether s may be sent as a field value as is.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&classValue == 0 {
			return false
		}
	}
	return true
}

// WithMaxRequestLine bounds the request line (method, target and version,
// CRLF excluded); longer ones get 414 URI Too Long. At least 16.
func WithMaxRequestLine(n int) Option { return func(c *config) { c.maxLine = n } }

// WithMaxHeaderBytes bounds the header section (every field line with its
// CRLF); larger ones get 431 Request Header Fields Too Large. It also
// bounds a chunked body's trailer section.
func WithMaxHeaderBytes(n int) Option { return func(c *config) { c.maxHeader = n } }

// WithMaxHeaderFields bounds the number of header field lines; more get
// 431. At least 1.
func WithMaxHeaderFields(n int) Option { return func(c *config) { c.maxFields = n } }

// WithMaxBodyBytes bounds a request body (after chunked decoding); larger
// bodies get 413 Content Too Large. The server buffers bodies whole, so
// this is also the memory a request may take. 0 refuses every body. It does
// not apply to bodies streamed to a StreamingBody handler.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithReadHeaderTimeout bounds the time from a request's first byte to the
// end of its head (the slowloris defence); it also applies to a new
// connection that sends nothing. A partial head gets 408 and the connection
// closes. 0 disables it.
func WithReadHeaderTimeout(d time.Duration) Option {
	return func(c *config) { c.readHeaderTimeout = d }
}

// WithReadBodyTimeout bounds the time from the end of a request's head to
// the end of its body; when it expires the client gets 408 and the
// connection closes. 0 disables it.
func WithReadBodyTimeout(d time.Duration) Option {
	return func(c *config) { c.readBodyTimeout = d }
}

// WithIdleTimeout closes a keep-alive connection that sends no new request
// for d after its last response. 0 disables it.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idleTimeout = d } }

// WithWriteTimeout aborts a connection whose client stops reading: it
// runs while the connection's unsent output is above the transport's
// high-water mark (a streamed response's producer, see
// ResponseWriter.RegisterProducer, is paused meanwhile, and so are
// pipelined requests). 0 disables it.
func WithWriteTimeout(d time.Duration) Option { return func(c *config) { c.writeTimeout = d } }

// WithMaxRequestsPerConn closes a connection after n responses (the n-th
// carries "Connection: close"). 0, the default, means no limit.
func WithMaxRequestsPerConn(n int) Option { return func(c *config) { c.maxRequests = n } }

// WithServerName sends "Server: name" in every response. By default no
// Server field is sent. A name with control characters is invalid.
func WithServerName(name string) Option { return func(c *config) { c.serverName = name } }

// WithPanicHandler is called, on the loop, with every panic recovered
// from a handler, after the client was answered with 500 (or the
// connection aborted, when the response had already begun). By default
// the panic and its stack are logged at error level through the reactor's
// logger (reactor.WithLogger), with the peer's address; standard error is
// used on a loop that has no logger.
func WithPanicHandler(fn func(*protocol.PanicError)) Option {
	return func(c *config) { c.onPanic = fn }
}
