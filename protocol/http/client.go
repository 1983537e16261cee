package http

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// Errors of the Client. Match them with errors.Is.
var (
	// ErrInvalidRequest: the request cannot be sent as it is (a URL that
	// does not parse or has no host, a header name or value that is not
	// allowed, a framing field set by hand).
	ErrInvalidRequest = errors.New("mustaine/http: invalid client request")
	// ErrUnsupportedScheme: the URL's scheme is neither "http" nor
	// "https", or it is "https" and the Client's Dialer is not a TLSDialer.
	ErrUnsupportedScheme = errors.New("mustaine/http: unsupported URL scheme")
	// ErrMalformedResponse: the response breaks RFC 9112's syntax (status
	// line, field line, bare LF, chunked framing) or frames its body
	// ambiguously. The connection it came on is closed.
	ErrMalformedResponse = errors.New("mustaine/http: malformed response")
	// ErrAmbiguousFraming: the response's framing could be read two ways
	// (Transfer-Encoding with Content-Length, differing Content-Lengths,
	// chunked not last): the smuggling patterns. It comes with
	// ErrMalformedResponse.
	ErrAmbiguousFraming = errors.New("mustaine/http: ambiguous response framing")
	// ErrResponseHeaderTooLarge: the response head is over the client's
	// limits (WithMaxResponseHeaderBytes).
	ErrResponseHeaderTooLarge = errors.New("mustaine/http: response header too large")
	// ErrResponseBodyTooLarge: a buffered response body is over the
	// client's limit (WithMaxResponseBodyBytes).
	ErrResponseBodyTooLarge = errors.New("mustaine/http: response body too large")
	// ErrResponseIncomplete: the connection closed (or was reset) before
	// the response was complete: no truncated body is ever delivered as a
	// success.
	ErrResponseIncomplete = errors.New("mustaine/http: connection closed before the response was complete")
	// ErrResponseHeaderTimeout: the response head did not arrive within
	// WithResponseHeaderTimeout of the request being sent.
	ErrResponseHeaderTimeout = errors.New("mustaine/http: timeout awaiting response headers")
	// ErrRequestTimeout: the whole request (queueing, connecting, sending,
	// receiving) took longer than WithRequestTimeout.
	ErrRequestTimeout = errors.New("mustaine/http: request timed out")
	// ErrTooManyRedirects: a redirect chain was longer than the limit given
	// to WithFollowRedirects.
	ErrTooManyRedirects = errors.New("mustaine/http: too many redirects")
	// ErrBodyCancelled: ClientResponse.CancelBody abandoned a streamed
	// body.
	ErrBodyCancelled = errors.New("mustaine/http: response body cancelled")
	// ErrClientClosed: the Client was closed before the request finished.
	ErrClientClosed = errors.New("mustaine/http: client closed")
)

// Dialer opens client connections on a loop. *reactor.Reactor is one: its
// ConnectTCPOn connects to an IP literal or "localhost" with a port and
// fires the Deferred on lp once the Protocol's ConnectionMade ran.
type Dialer interface {
	// ConnectTCPOn connects to address ("host:port") on lp with factory's
	// Protocol, failing after timeout (0: none), and fires the Deferred on
	// lp with the connected Protocol or the connect's error.
	ConnectTCPOn(lp protocol.Loop, address string, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol]
}

// TLSDialer is a Dialer that also opens TLS connections, which "https"
// URLs need; the Client finds it with a type assertion on its Dialer.
// *reactor.Reactor is one: its ConnectTLSOn fires the Deferred once the
// handshake has succeeded (and the Protocol's ConnectionMade ran), or
// fails it with the handshake's error, which wraps crypto/tls's and
// crypto/x509's (errors.As finds an x509.UnknownAuthorityError,
// x509.HostnameError or x509.CertificateInvalidError in it).
type TLSDialer interface {
	Dialer
	// ConnectTLSOn is ConnectTCPOn followed by a TLS client handshake
	// with config; timeout bounds the TCP connect.
	ConnectTLSOn(lp protocol.Loop, address string, config *tls.Config, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol]
}

// ClientOption configures a Client.
type ClientOption func(*clientConfig)

type clientConfig struct {
	maxConnsPerHost int
	idleTimeout     time.Duration
	connectTimeout  time.Duration
	headerTimeout   time.Duration
	requestTimeout  time.Duration
	maxRedirects    int
	maxBody         int64
	lim             limits
	tls             *tls.Config
}

func defaultClientConfig() clientConfig {
	return clientConfig{
		maxConnsPerHost: 16,
		idleTimeout:     90 * time.Second,
		connectTimeout:  30 * time.Second,
		maxBody:         10 << 20,
		lim:             limits{maxLine: 8 << 10, maxHeader: 64 << 10, maxFields: 100},
	}
}

// WithMaxConnsPerHost bounds the connections (open or connecting) to one
// host and port; requests beyond it wait, in order, for a connection to be
// free. Default 16.
func WithMaxConnsPerHost(n int) ClientOption {
	return func(c *clientConfig) { c.maxConnsPerHost = n }
}

// WithIdleConnTimeout closes a keep-alive connection that has carried no
// request for d. Default 90 s; 0 keeps idle connections until the server
// closes them.
func WithIdleConnTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.idleTimeout = d }
}

// WithConnectTimeout bounds each TCP connect. Default 30 s; 0: the
// kernel's own.
func WithConnectTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.connectTimeout = d }
}

// WithResponseHeaderTimeout bounds the wait for the response head once the
// request is sent, as net/http's Transport.ResponseHeaderTimeout. Default
// 0: none.
func WithResponseHeaderTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.headerTimeout = d }
}

// WithRequestTimeout bounds a whole request, from Do to the end of the
// body, as net/http's Client.Timeout. Default 0: none.
func WithRequestTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.requestTimeout = d }
}

// WithFollowRedirects makes the client follow up to max redirects (301,
// 302, 303, 307, 308 with a Location) for requests with a buffered body.
// As net/http does, 301, 302 and 303 turn a request other than GET and HEAD
// into a GET without body; 307 and 308 repeat it. Also as net/http does,
// from the first redirect to a host that is neither the first request's
// nor a subdomain of it, Authorization, WWW-Authenticate, Cookie and
// Cookie2 are no longer sent (for the rest of the chain), and a Host field
// the caller set is sent only until a redirect names a host of its own.
// Default 0: redirect responses are returned as they are.
func WithFollowRedirects(max int) ClientOption {
	return func(c *clientConfig) { c.maxRedirects = max }
}

// WithMaxResponseBodyBytes bounds a buffered response body (default 10
// MiB); a larger one fails with ErrResponseBodyTooLarge. Streamed bodies
// (BodyConsumer) are not bounded.
func WithMaxResponseBodyBytes(n int64) ClientOption {
	return func(c *clientConfig) { c.maxBody = n }
}

// WithMaxResponseHeaderBytes bounds the response head, status line
// included (default 64 KiB; the status line alone 8 KiB), and
// WithMaxResponseHeaderFields its field lines (default 100).
func WithMaxResponseHeaderBytes(n int) ClientOption {
	return func(c *clientConfig) { c.lim.maxHeader = n }
}

// WithMaxResponseHeaderFields bounds the number of response field lines.
func WithMaxResponseHeaderFields(n int) ClientOption {
	return func(c *clientConfig) { c.lim.maxFields = n }
}

// WithTLSConfig sets the TLS configuration of "https" requests (default:
// an empty one, which verifies the server's certificate against the
// system's roots). The Client keeps a copy: later changes to cfg do not
// reach it. In that copy NextProtos is "http/1.1", the only protocol the
// Client speaks, and an empty ServerName becomes each request's host name
// (without port), as net/http does; a ServerName set in cfg is used for
// every host.
func WithTLSConfig(cfg *tls.Config) ClientOption {
	return func(c *clientConfig) { c.tls = cfg }
}

// Client is an HTTP/1.1 client bound to one loop (Twisted's Agent): every
// method must be called on that loop, every Deferred it returns fires
// there, and its connections belong to it. From another goroutine, reach
// the loop with its CallFromThread and wait for the result with the
// Deferred's Await. Nothing in the client starts a goroutine.
//
// # Connections
//
// The client keeps a pool of keep-alive connections per scheme, host and
// port (so "http" and "https" requests to one host:port never share a
// connection), each carrying one request at a time (no pipelining): a request takes the
// most recently used idle connection, or a new one while the host is below
// WithMaxConnsPerHost, or else waits in a queue, in order. A connection is
// kept after a response when both sides allow it (RFC 9112 §9.3: HTTP/1.1
// without "Connection: close", HTTP/1.0 with "keep-alive") and the body
// was framed; it is closed after WithIdleConnTimeout without a request.
// Connections are opened by the Dialer given to NewClient, through one
// internal function, so host-name resolution can come from it.
//
// # HTTPS
//
// An "https" URL (default port 443) is fetched over TLS when the Dialer
// is a TLSDialer (*reactor.Reactor is), with the configuration of
// WithTLSConfig; the request's Deferred waits for the handshake, which
// WithConnectTimeout does not bound (the reactor's WithTLSHandshakeTimeout
// does). A certificate that does not verify fails the request with the
// Dialer's error, in which errors.As finds crypto/x509's:
// x509.UnknownAuthorityError (untrusted issuer), x509.HostnameError (not
// valid for the URL's host), x509.CertificateInvalidError (expired, not
// yet valid, wrong usage). A response without framing (read until the
// connection closes) is complete over TLS only if the server sent
// close_notify before closing (RFC 9112 §9.8); without it the request
// fails with ErrResponseIncomplete, as the body may have been cut short
// by an attacker. Redirects between "http" and "https" follow the rules of
// WithFollowRedirects in both directions, as net/http's do.
//
// # Responses
//
// Responses are parsed by the server's field rules, as strictly: every
// line ends with CRLF (a bare LF, obs-fold, whitespace before a colon,
// control bytes in a value fail); Transfer-Encoding with Content-Length,
// differing Content-Lengths, chunked repeated or not last, and
// Transfer-Encoding in HTTP/1.0 are ambiguous framing (ErrAmbiguousFraming,
// with ErrMalformedResponse); codings other than chunked are refused; the
// chunked framing is checked as in requests (sizes, extensions, CRLF after
// data, trailers). Any of these fails that request and aborts its
// connection only. net/http's client (Go 1.26) is looser: it takes bare
// LF and obs-fold, and lets chunked override a Content-Length; it refuses
// differing Content-Lengths and other codings too. Interim 1xx responses are skipped; responses to HEAD and
// 204 and 304 responses have no body; a response without framing is read
// until the connection closes; one that ends early fails with
// ErrResponseIncomplete, never as a truncated success. A 101 response is
// returned as it is, and its connection closed: there is no upgrade.
//
// Not done: proxies, cookies, content decoding, HTTP/2, Expect:
// 100-continue (a request body is sent at once).
type Client struct {
	lp     protocol.Loop
	dialer Dialer
	cfg    clientConfig
	hosts  map[string]*hostPool
	closed bool
	stats  ClientStats
	last   lastRequest
}

// ClientStats counts what a Client did, for tests and metrics.
type ClientStats struct {
	Dials   int // connections attempted
	Reused  int // requests sent on a connection that had carried one before
	Retried int // requests resent after a reused connection was found closed
}

// NewClient returns a Client on lp that opens its connections with d.
func NewClient(lp protocol.Loop, d Dialer, opts ...ClientOption) (*Client, error) {
	if lp == nil || d == nil {
		return nil, fmt.Errorf("%w: nil loop or dialer", ErrInvalidOption)
	}
	cfg := defaultClientConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxConnsPerHost < 1 || cfg.idleTimeout < 0 || cfg.connectTimeout < 0 || cfg.headerTimeout < 0 ||
		cfg.requestTimeout < 0 || cfg.maxRedirects < 0 || cfg.maxBody < 0 || cfg.lim.maxHeader < 1 || cfg.lim.maxFields < 1 {
		return nil, ErrInvalidOption
	}
	cfg.lim.maxBody = cfg.maxBody
	if cfg.tls == nil {
		cfg.tls = &tls.Config{}
	} else {
		cfg.tls = cfg.tls.Clone()
	}
	cfg.tls.NextProtos = []string{"http/1.1"}
	return &Client{lp: lp, dialer: d, cfg: cfg, hosts: make(map[string]*hostPool)}, nil
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats { return c.stats }

// ClientRequest is a request for Client.Do. Build it with NewRequest.
type ClientRequest struct {
	method  string
	url     string
	headers []headerField
	body    []byte

	// BodyProducer, when set, streams the request body instead of Body.
	BodyProducer BodyProducer
	// BodyConsumer, when set, receives the response body as it arrives:
	// the Deferred fires as soon as the response head is in, and the body
	// is not buffered.
	BodyConsumer BodyConsumer
}

// NewRequest returns a request for method (GET when empty) and url
// ("http://host:port/path?query"), with body as its whole body (nil for
// none). The URL is checked when the request is sent.
func NewRequest(method, url string, body []byte) *ClientRequest {
	if method == "" {
		method = "GET"
	}
	return &ClientRequest{method: method, url: url, body: body}
}

// AddHeader adds a header field. Host may be set to override the URL's;
// Content-Length and Transfer-Encoding are the client's and refused when
// the request is sent.
func (r *ClientRequest) AddHeader(name, value string) {
	r.headers = append(r.headers, headerField{name, value})
}

// Method is the request's method.
func (r *ClientRequest) Method() string { return r.method }

// URL is the request's URL.
func (r *ClientRequest) URL() string { return r.url }

// Get sends a GET request for url.
func (c *Client) Get(url string) *deferred.Deferred[*ClientResponse] {
	return c.Do(NewRequest("GET", url, nil))
}

// Post sends body to url with the given Content-Type.
func (c *Client) Post(url, contentType string, body []byte) *deferred.Deferred[*ClientResponse] {
	r := NewRequest("POST", url, body)
	if contentType != "" {
		r.AddHeader("Content-Type", contentType)
	}
	return c.Do(r)
}

// Do sends req on a pooled connection to its host and returns a Deferred
// that fires with the response, or fails with one of the package's errors
// (errors.Is), or the Dialer's for a connect that failed.
//
// Cancelling the Deferred abandons the request: a request still waiting
// for a connection leaves the queue; one already sent aborts the
// connection it is on (no other). A request on a reused keep-alive
// connection that fails before any byte of the response arrived (the
// server had closed the idle connection) is sent again, once, on a new
// connection when it is idempotent (RFC 9110 §9.2.2) and its body is
// buffered, as net/http does.
func (c *Client) Do(req *ClientRequest) *deferred.Deferred[*ClientResponse] {
	cx := &clientExchange{c: c, req: req, method: req.method, body: req.body}
	cx.d = deferred.NewForCaller(func(*deferred.Deferred[*ClientResponse]) { cx.cancel() })
	if c.closed {
		cx.done = true
		cx.d.Errback(ErrClientClosed)
		return cx.d
	}
	if err := cx.prepare(req.url); err != nil {
		cx.done = true
		cx.d.Errback(err)
		return cx.d
	}
	if c.cfg.requestTimeout > 0 {
		cx.timer = c.lp.CallLater(c.cfg.requestTimeout, func() { cx.fail(ErrRequestTimeout) })
	}
	c.enqueue(cx, false)
	return cx.d
}

// CloseIdleConnections closes the connections that carry no request.
func (c *Client) CloseIdleConnections() {
	for _, hp := range c.hosts {
		idle := hp.idle
		hp.idle = nil
		for _, cc := range idle {
			cc.close()
		}
	}
}

// Close fails every request not finished with ErrClientClosed, closes
// every connection, and makes later requests fail at once.
func (c *Client) Close() {
	c.closed = true
	for _, hp := range c.hosts {
		q := hp.queue
		hp.queue = nil
		for _, cx := range q {
			cx.fail(ErrClientClosed)
		}
		for _, cc := range hp.active() {
			if cc.cx != nil {
				cc.cx.fail(ErrClientClosed)
			}
		}
	}
	c.CloseIdleConnections()
}

// clientExchange is one call of Do, across its retries and redirects.
type clientExchange struct {
	c      *Client
	req    *ClientRequest
	method string
	body   []byte
	u      *url.URL
	addr   string // host:port to dial
	key    string // the pool's: scheme "://" addr
	tls    bool   // https
	head   []byte // serialized request head
	d      *deferred.Deferred[*ClientResponse]
	conn   *clientConn
	hp     *hostPool // while queued
	resp   *ClientResponse
	timer  timer.Handle

	done      bool // fired, failed or cancelled
	delivered bool // a streamed response's head went to the Deferred
	retried   bool
	fresh     bool // must go on a connection that never carried a request
	closeConn bool // the request asked for Connection: close
	redirects int
	// After a redirect to another host (not the first request's, nor a
	// subdomain of it) the credentials fields stay unsent for the rest of
	// the chain, and after a redirect with a host of its own the caller's
	// Host field does, as net/http's Client does.
	origHost    string
	noCreds     bool
	noHostField bool
}

// prepare parses the URL and serializes the head.
func (cx *clientExchange) prepare(raw string) error {
	c := cx.c
	// A client often sends the same plain request again (a poller, a load
	// generator): the last such request's parsed URL and head are kept.
	plain := len(cx.req.headers) == 0 && cx.body == nil && cx.req.BodyProducer == nil
	if plain && c.last.head != nil && c.last.method == cx.method && c.last.url == raw {
		cx.u, cx.addr, cx.key, cx.tls, cx.head, cx.closeConn = c.last.u, c.last.addr, c.last.key, c.last.tls, c.last.head, false
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if err := cx.prepareURL(u); err != nil {
		return err
	}
	if plain {
		c.last = lastRequest{method: cx.method, url: raw, u: u, addr: cx.addr, key: cx.key, tls: cx.tls, head: cx.head}
	}
	return nil
}

// lastRequest is the head of the last plain request (no header field of
// its own, no body), for the next one to the same URL. Its URL and head
// are never modified once made.
type lastRequest struct {
	method, url, addr, key string
	tls                    bool
	u                      *url.URL
	head                   []byte
}

func (cx *clientExchange) prepareURL(u *url.URL) error {
	var port string
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		if _, ok := cx.c.dialer.(TLSDialer); !ok {
			return fmt.Errorf("%w: %q needs a Dialer that is a TLSDialer", ErrUnsupportedScheme, u.Scheme)
		}
		port = "443"
	default:
		return fmt.Errorf("%w: %q", ErrUnsupportedScheme, u.Scheme)
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: URL %q has no host, or userinfo", ErrInvalidRequest, u.String())
	}
	if p := u.Port(); p != "" {
		port = p
	}
	cx.u = u
	cx.tls = u.Scheme == "https"
	cx.addr = net.JoinHostPort(u.Hostname(), port)
	cx.key = u.Scheme + "://" + cx.addr
	target := u.RequestURI()
	if !validToken(cx.method) {
		return fmt.Errorf("%w: method %q", ErrInvalidRequest, cx.method)
	}
	for i := 0; i < len(target); i++ {
		if charClass[target[i]]&classTarget == 0 {
			return fmt.Errorf("%w: target %q", ErrInvalidRequest, target)
		}
	}
	if !validAuthority([]byte(u.Host)) {
		return fmt.Errorf("%w: host %q", ErrInvalidRequest, u.Host)
	}
	b := make([]byte, 0, 64+len(target)+len(u.Host))
	b = append(b, cx.method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\n"...)
	hostSet := false
	cx.closeConn = false
	for _, h := range cx.req.headers {
		if cx.dropped(h.name) {
			continue
		}
		if !validToken(h.name) || !validFieldValue(h.value) {
			return fmt.Errorf("%w: header %q", ErrInvalidRequest, h.name)
		}
		switch {
		case equalFoldString(h.name, "Content-Length"), equalFoldString(h.name, "Transfer-Encoding"):
			return fmt.Errorf("%w: %s is set by the client", ErrInvalidRequest, h.name)
		case equalFoldString(h.name, "Host"):
			if hostSet {
				return fmt.Errorf("%w: Host twice", ErrInvalidRequest)
			}
			hostSet = true
		case equalFoldString(h.name, "Connection"):
			var r Request
			r.onConnection([]byte(h.value))
			cx.closeConn = cx.closeConn || r.connClose
		}
	}
	if !hostSet {
		b = append(b, "Host: "...)
		b = append(b, u.Host...)
		b = append(b, '\r', '\n')
	}
	for _, h := range cx.req.headers {
		if !cx.dropped(h.name) {
			b = appendField(b, h.name, h.value)
		}
	}
	switch {
	case cx.req.BodyProducer != nil && cx.body == nil:
		if n := cx.req.BodyProducer.Length(); n >= 0 {
			b = append(b, "Content-Length: "...)
			b = appendUint(b, uint64(n))
			b = append(b, '\r', '\n')
		} else {
			b = append(b, "Transfer-Encoding: chunked\r\n"...)
		}
	case len(cx.body) > 0 || cx.method == "POST" || cx.method == "PUT" || cx.method == "PATCH":
		// RFC 9110 §8.6: a request that normally has a body says so even
		// when it is empty.
		b = append(b, "Content-Length: "...)
		b = appendUint(b, uint64(len(cx.body)))
		b = append(b, '\r', '\n')
	}
	cx.head = append(b, '\r', '\n')
	return nil
}

// streaming reports whether the response body goes to a consumer.
func (cx *clientExchange) streaming() bool { return cx.req.BodyConsumer != nil }

// replayable reports whether the request may be sent again after a
// connection closed before answering (RFC 9110 §9.2.2, net/http's rule for
// a body it can send again).
func (cx *clientExchange) replayable() bool {
	if cx.req.BodyProducer != nil && cx.body == nil {
		return false
	}
	switch cx.method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// cancel is the Deferred's canceller: it stops the request wherever it is;
// the Deferred then fails with deferred.ErrCancelled.
func (cx *clientExchange) cancel() {
	if cx.done {
		return
	}
	cx.done = true
	cx.detach()
}

// detach takes the clientExchange off its queue or connection, aborting the
// connection if the request was on one.
func (cx *clientExchange) detach() {
	cx.timer.Cancel()
	if cc := cx.conn; cc != nil {
		cx.conn = nil
		cc.cx = nil
		cc.abort()
	}
	if cx.hp != nil {
		cx.hp.unqueue(cx)
	}
}

// fail ends the clientExchange with err, if it has not ended.
func (cx *clientExchange) fail(err error) {
	if cx.done {
		return
	}
	cx.done = true
	cx.detach()
	if cx.delivered {
		cx.resp.cx = nil
		cx.req.BodyConsumer.BodyEnd(cx.resp, err)
		return
	}
	cx.d.Errback(err)
}

// headReceived is called with a complete final response head. For a
// streamed body it fires the Deferred at once.
func (cx *clientExchange) headReceived(resp *ClientResponse) {
	cx.resp = resp
	resp.url = cx.u
	if cx.streaming() {
		resp.cx = cx
		cx.delivered = true
		cx.d.Callback(resp)
	}
}

// bodyData is called with decoded body bytes of a streamed response.
func (cx *clientExchange) bodyData(p []byte) {
	if !cx.done {
		cx.req.BodyConsumer.BodyData(cx.resp, p)
	}
}

// complete ends the clientExchange with its whole response; the connection has
// already gone back to the pool or been closed.
func (cx *clientExchange) complete(resp *ClientResponse) {
	if cx.done {
		return
	}
	cx.conn = nil
	if cx.delivered {
		cx.done = true
		cx.timer.Cancel()
		resp.cx = nil
		cx.req.BodyConsumer.BodyEnd(resp, nil)
		return
	}
	if next, err := cx.redirect(resp); next != nil || err != nil {
		if err != nil {
			cx.fail(err)
			return
		}
		cx.redirects++
		cx.retried, cx.fresh = false, false
		if err := cx.prepareURL(next); err != nil {
			cx.fail(err)
			return
		}
		cx.c.enqueue(cx, false)
		return
	}
	cx.done = true
	cx.timer.Cancel()
	cx.d.Callback(resp)
}

// redirect returns the URL to follow for resp, if the client follows
// redirects and resp is one.
func (cx *clientExchange) redirect(resp *ClientResponse) (*url.URL, error) {
	max := cx.c.cfg.maxRedirects
	if max == 0 {
		return nil, nil
	}
	switch resp.status {
	case 301, 302, 303, 307, 308:
	default:
		return nil, nil
	}
	loc := resp.Header("Location")
	if loc == "" {
		return nil, nil
	}
	if cx.req.BodyProducer != nil && cx.body == nil {
		return nil, nil // a streamed body cannot be sent again
	}
	if cx.redirects >= max {
		return nil, fmt.Errorf("%w: after %d", ErrTooManyRedirects, cx.redirects)
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("%w: Location %q: %w", ErrMalformedResponse, loc, err)
	}
	next := cx.u.ResolveReference(ref)
	if resp.status <= 303 && cx.method != "GET" && cx.method != "HEAD" {
		cx.method, cx.body = "GET", nil
	}
	if cx.redirects == 0 {
		cx.origHost = strings.ToLower(cx.u.Hostname())
	}
	if !domainOrSubdomain(strings.ToLower(next.Hostname()), cx.origHost) {
		cx.noCreds = true
	}
	if ref.Host != "" {
		cx.noHostField = true
	}
	return next, nil
}

// dropped reports whether the field name is left out of this request of
// a redirect chain (see clientExchange.noCreds).
func (cx *clientExchange) dropped(name string) bool {
	if cx.noHostField && equalFoldString(name, "Host") {
		return true
	}
	if !cx.noCreds {
		return false
	}
	for _, s := range [...]string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2"} {
		if equalFoldString(name, s) {
			return true
		}
	}
	return false
}

// domainOrSubdomain reports whether host is domain or a subdomain of it
// (IP addresses match only themselves).
func domainOrSubdomain(host, domain string) bool {
	if host == domain {
		return true
	}
	if net.ParseIP(domain) != nil || net.ParseIP(host) != nil {
		return false
	}
	return strings.HasSuffix(host, "."+domain)
}
