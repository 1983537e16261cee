package http

import (
	"net"
	"net/url"
)

// span is a byte range of a request's head, as offsets from its start.
// Offsets rather than slices let the connection move the head to another
// buffer (when a handler defers its answer) by replacing one slice.
type span struct{ off, end int32 }

func (s span) of(b []byte) []byte { return b[s.off:s.end] }

// field is one header field line: its name and its value with the
// surrounding whitespace already trimmed.
type field struct{ name, value span }

// Request is one parsed HTTP/1.x request.
//
// A Request belongs to its connection and is reused for the next request
// once the response is finished: it and every byte slice its accessors
// return are valid until the response is finished (when ServeHTTP returns,
// or, after ResponseWriter.Defer, until ResponseWriter.Finish). Copy what
// must live longer. The string accessors return copies that stay valid.
//
// Accessors ending in Bytes return slices of the raw request, which the
// caller must not modify, and do not allocate; the matching string accessors allocate, except Method, which
// returns constants for the standard methods.
type Request struct {
	reqParsed

	// remote is the peer's address for a Request made by errRequest;
	// a connection's own Request asks the transport (see RemoteAddr),
	// so that serving a request does not copy it.
	remote net.Addr
	c      *conn

	// Path values (router.go): the first npv are valid. They are not
	// cleared between requests: npv is.
	pv        [inlinePathValues]pathValue
	pvMore    []pathValue
	pvDecoded []string
}

// reqParsed is what reset clears for every request: kept apart from the
// path values, whose 112 bytes would otherwise be zeroed per request for
// nothing (npv says how many are valid).
type reqParsed struct {
	head   []byte // request line and field lines, CRLFs included
	body   []byte
	method string

	target, path, query, host span
	fields                    []field

	contentLength int64 // -1 with a chunked body
	minor         uint8 // HTTP/1.minor: 0 or 1
	chunked       bool
	hasHost       bool // a Host field or an absolute-form authority
	connClose     bool // Connection: close
	connKeepAlive bool // Connection: keep-alive
	expect        bool // Expect: 100-continue (HTTP/1.1 only)
	rootPath      bool // absolute form without a path: the path is "/"
	flags         uint16

	// Routing (router.go): set by the Router that matched the request.
	router    *Router
	matched   *route
	redirect  string
	npv       uint8
	routeKind uint8

	url  *url.URL // URL, parsed on first use
	ctx  *reqContext
	gone error // why the request's context is cancelled, once it is
}

// reset clears the request for reuse, keeping the fields slice's memory.
func (r *Request) reset() {
	r.reqParsed = reqParsed{fields: r.fields[:0]}
}

// Method is the request method, such as "GET". The standard methods are
// returned as constants without allocating.
func (r *Request) Method() string { return r.method }

// TargetBytes is the request-target exactly as received: "/path?query" in
// origin form, "http://host/path?query" in absolute form, "*" for
// "OPTIONS *", "host:port" for CONNECT.
func (r *Request) TargetBytes() []byte { return r.target.of(r.head) }

// Target returns TargetBytes as a string.
func (r *Request) Target() string { return string(r.TargetBytes()) }

// PathBytes is the path of the target, not percent-decoded: "/a%20b" stays
// as it is. It is "/" for an absolute-form target with an empty path, "*"
// for "OPTIONS *", and empty for an authority-form CONNECT target. To
// compare without allocating, write `string(r.PathBytes()) == "/json"`.
func (r *Request) PathBytes() []byte {
	if r.rootPath {
		return rootPath
	}
	return r.path.of(r.head)
}

// rootPath is the path of an absolute-form target without one. Callers must
// not modify what the Bytes accessors return, so sharing it is safe.
var rootPath = []byte("/")

// Path returns PathBytes as a string.
func (r *Request) Path() string { return string(r.PathBytes()) }

// RawQueryBytes is the query of the target without the '?', not decoded.
func (r *Request) RawQueryBytes() []byte { return r.query.of(r.head) }

// RawQuery returns RawQueryBytes as a string.
func (r *Request) RawQuery() string { return string(r.RawQueryBytes()) }

// QueryBytes returns the raw (not percent-decoded) value of the first
// query parameter called name, and whether it is present. Use net/url's
// ParseQuery on RawQuery for decoded values.
func (r *Request) QueryBytes(name string) ([]byte, bool) {
	q := r.RawQueryBytes()
	for len(q) > 0 {
		var pair []byte
		pair, q = cutByte(q, '&')
		key, value := cutByte(pair, '=')
		if string(key) == name {
			return value, true
		}
	}
	return nil, false
}

// cutByte splits b around the first c; after is empty when c is absent.
func cutByte(b []byte, c byte) (before, after []byte) {
	for i := 0; i < len(b); i++ {
		if b[i] == c {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// Proto is "HTTP/1.1" or "HTTP/1.0".
func (r *Request) Proto() string {
	if r.minor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// ProtoMinor is the minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
func (r *Request) ProtoMinor() int { return int(r.minor) }

// HostBytes is the authority the request is for: the host of an
// absolute-form target (which takes precedence, RFC 9112 §3.2.2) or else
// the Host field. It may be empty for HTTP/1.0.
func (r *Request) HostBytes() []byte { return r.host.of(r.head) }

// Host returns HostBytes as a string.
func (r *Request) Host() string { return string(r.HostBytes()) }

// HeaderBytes returns the value of the first header field called name
// (ASCII case-insensitive), with surrounding whitespace removed, and
// whether there is one. It does not allocate.
func (r *Request) HeaderBytes(name string) ([]byte, bool) {
	for i := range r.fields {
		f := &r.fields[i]
		if equalFold(f.name.of(r.head), name) {
			return f.value.of(r.head), true
		}
	}
	return nil, false
}

// Header returns the value of the first header field called name, or ""
// when there is none.
func (r *Request) Header(name string) string {
	v, _ := r.HeaderBytes(name)
	return string(v)
}

// NumHeaders is the number of header field lines, in the order received.
// Together with HeaderAt it walks all fields, repeated names included,
// without allocating.
func (r *Request) NumHeaders() int { return len(r.fields) }

// HeaderAt returns the name (as received, case preserved) and value of
// the i-th field line, 0 <= i < NumHeaders.
func (r *Request) HeaderAt(i int) (name, value []byte) {
	f := &r.fields[i]
	return f.name.of(r.head), f.value.of(r.head)
}

// ContentLength is the length the request declared with Content-Length,
// 0 when it has no body, and -1 for a chunked body (len(Body()) is then
// the decoded length).
func (r *Request) ContentLength() int64 { return r.contentLength }

// Body is the whole request body, already received and, when chunked,
// decoded. The server buffers bodies up to the server's body limit
// (WithMaxBodyBytes, 1 MiB by default; larger bodies get 413) before it
// calls the handler, so Body never blocks. Valid until the response is
// finished.
func (r *Request) Body() []byte { return r.body }

// RemoteAddr is the peer's address.
func (r *Request) RemoteAddr() net.Addr {
	if r.remote == nil && r.c != nil {
		return r.c.t.RemoteAddr()
	}
	return r.remote
}

// KeepAlive reports whether the connection stays open after this response
// as far as the request is concerned: HTTP/1.1 without "Connection:
// close", or HTTP/1.0 with "Connection: keep-alive". The server may still
// close it (request limit, errors, a streamed HTTP/1.0 response).
func (r *Request) KeepAlive() bool {
	if r.minor == 0 {
		return r.connKeepAlive && !r.connClose
	}
	return !r.connClose
}

// Query returns the first value of the query parameter called name,
// percent-decoded as url.ParseQuery does ("+" is a space), or "" when
// there is none. A value that does not decode is returned raw. Use
// QueryBytes for the raw value without allocating.
func (r *Request) Query(name string) string {
	v, _ := r.LookupQuery(name)
	return v
}

// LookupQuery is Query that also reports whether the parameter is
// present. Parameter names are compared after decoding.
func (r *Request) LookupQuery(name string) (string, bool) {
	q := r.RawQueryBytes()
	for len(q) > 0 {
		var pair []byte
		pair, q = cutByte(q, '&')
		if len(pair) == 0 {
			continue
		}
		key, value := cutByte(pair, '=')
		if string(key) == name || needsQueryUnescape(key) && queryUnescape(key) == name {
			return queryUnescape(value), true
		}
	}
	return "", false
}

func needsQueryUnescape(b []byte) bool {
	for _, c := range b {
		if c == '%' || c == '+' {
			return true
		}
	}
	return false
}

func queryUnescape(b []byte) string {
	s := string(b)
	if !needsQueryUnescape(b) {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// URL returns the request-target parsed by net/url, on first use, and
// cached until the response is finished (the same *url.URL is returned
// for every call). For an origin-form target ("/path?q") Host and Scheme
// are empty, as in net/http's server requests; use Host for the
// authority. It fails only for a target net/url cannot parse.
func (r *Request) URL() (*url.URL, error) {
	if r.url != nil {
		return r.url, nil
	}
	target := r.Target()
	if r.method == "CONNECT" && len(target) > 0 && target[0] != '/' {
		r.url = &url.URL{Host: target}
		return r.url, nil
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, err
	}
	r.url = u
	return u, nil
}

// CookieBytes returns the raw value of the first cookie called name in
// the request's Cookie fields (RFC 6265 §5.4: "name=value" pairs
// separated by "; "), with surrounding double quotes removed, and whether
// there is one. It does not allocate.
func (r *Request) CookieBytes(name string) ([]byte, bool) {
	for i := range r.fields {
		f := &r.fields[i]
		if !equalFold(f.name.of(r.head), "cookie") {
			continue
		}
		v := f.value.of(r.head)
		for len(v) > 0 {
			var part []byte
			part, v = cutByte(v, ';')
			part = trimOWS(part)
			k, val := cutByte(part, '=')
			if string(trimOWS(k)) != name || len(part) == len(k) {
				continue
			}
			val = trimOWS(val)
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			return val, true
		}
	}
	return nil, false
}

// Cookie returns the value of the first cookie called name, as
// CookieBytes, copied.
func (r *Request) Cookie(name string) (string, bool) {
	v, ok := r.CookieBytes(name)
	return string(v), ok
}
