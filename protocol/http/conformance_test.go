package http

import (
	"strings"
	"testing"
)

// TestConformance pins the server's answer to request framings that RFC
// 9112 and 9110 rule on. status 200 means the handler ran (and echoed the
// request); any other status means the server refused the request and
// closed the connection.
func TestConformance(t *testing.T) {
	long := strings.Repeat("a", DefaultMaxRequestLine)
	manyFields := strings.Repeat("X-A: b\r\n", DefaultMaxHeaderFields)
	bigField := "X-Big: " + strings.Repeat("b", DefaultMaxHeaderBytes) + "\r\n"
	cases := []struct {
		name   string
		req    string
		status int
		echo   string // the 200 body, when set
	}{
		// Accepted framings.
		{"minimal HTTP/1.1", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, "GET / host=a path=/ query= body="},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 200, "GET / host= path=/ query= body="},
		{"query split from path", "GET /p/q?a=1&b HTTP/1.1\r\nHost: a\r\n\r\n", 200, "GET /p/q?a=1&b host=a path=/p/q query=a=1&b body="},
		{"absolute form wins over Host", "GET http://b.example:8080/x?y HTTP/1.1\r\nHost: a\r\n\r\n", 200,
			"GET http://b.example:8080/x?y host=b.example:8080 path=/x query=y body="},
		{"absolute form without path", "GET https://b.example?q HTTP/1.1\r\nHost: a\r\n\r\n", 200,
			"GET https://b.example?q host=b.example path=/ query=q body="},
		{"asterisk form for OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 200, "OPTIONS * host=a path=* query= body="},
		{"authority form for CONNECT", "CONNECT b.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n", 200,
			"CONNECT b.example:443 host=b.example:443 path= query= body="},
		{"absolute form with an IP-literal", "GET http://[::1]:8080/x HTTP/1.1\r\nHost: a\r\n\r\n", 200,
			"GET http://[::1]:8080/x host=[::1]:8080 path=/x query= body="},
		{"authority form with an IP-literal", "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", 200, ""},
		{"extension method", "PURGE / HTTP/1.1\r\nHost: a\r\n\r\n", 200, "PURGE / host=a path=/ query= body="},
		{"empty lines before request line", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, ""},
		{"OWS around value trimmed", "GET / HTTP/1.1\r\nHost: \t a \t\r\n\r\n", 200, "GET / host=a path=/ query= body="},
		{"obs-text in value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", 200, ""},
		{"raw percent in query", "GET /?q=100% HTTP/1.1\r\nHost: a\r\n\r\n", 200, ""},
		{"pct-encoded path", "GET /a%20b HTTP/1.1\r\nHost: a\r\n\r\n", 200, "GET /a%20b host=a path=/a%20b query= body="},
		{"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 200, ""},
		{"Content-Length body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 200, "POST / host=a path=/ query= body=hello"},
		{"identical duplicate Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi", 200, ""},
		{"leading zeros in Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0002\r\n\r\nhi", 200, ""},
		{"chunked body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 200,
			"POST / host=a path=/ query= body=hello world"},
		{"chunk extensions: token and quoted values, quoted-pair",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a;b=c;d=\"x\\\"; y\"\r\nhi\r\n0;e\r\n\r\n", 200,
			"POST / host=a path=/ query= body=hi"},
		{"chunked case-insensitive with extension and trailer",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\nA;name=\"v\"\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n", 200,
			"POST / host=a path=/ query= body=0123456789"},
		{"chunked split over two fields", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200, ""},

		// Line ends: CRLF only (RFC 9112 §2.2 lets a server take a bare LF
		// for a line end; llhttp's strict mode and this package do not).
		{"bare LF ending the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400, ""},
		{"bare LF ending a field line", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, ""},
		{"bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400, ""},
		{"bare LF line ends throughout", "GET /x HTTP/1.1\nHost: a\n\n", 400, ""},
		{"bare LF before the request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"bare LF hiding a Content-Length", "GET / HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 23\r\n\r\n" +
			"GET / HTTP/1.1\r\nDummy: GET /admin HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"CR without LF ending the head", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\rabc", 400, ""},
		{"whitespace starting an unfinished first field line", "GET / HTTP/1.1\r\n Host: a", 400, ""},

		// Request line.
		{"missing version", "GET /\r\nHost: a\r\n\r\n", 400, ""},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, ""},
		{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"bare CR in request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"NUL in target", "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"raw UTF-8 in target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"raw UTF-8 in query", "GET /?q=caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"non-token method", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"asterisk for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"bad pct-encoding in path", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"userinfo in absolute form", "GET http://u@b/ HTTP/1.1\r\nHost: b\r\n\r\n", 400, ""},
		{"absolute form without authority", "GET http:/x HTTP/1.1\r\nHost: b\r\n\r\n", 400, ""},
		{"absolute form with a non-numeric port", "GET http://b:x/ HTTP/1.1\r\nHost: b\r\n\r\n", 400, ""},
		{"absolute form with a pct-encoded host", "GET http://b%00c/ HTTP/1.1\r\nHost: b\r\n\r\n", 400, ""},
		{"absolute form with a colon in the host", "GET http://b:1:2/ HTTP/1.1\r\nHost: b\r\n\r\n", 400, ""},
		{"authority form with a non-numeric port", "CONNECT b.example:x HTTP/1.1\r\nHost: b.example:x\r\n\r\n", 400, ""},
		{"version 2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, ""},
		{"version 1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, ""},
		{"version 0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, ""},
		{"request line over the limit", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, ""},
		{"endless request line", "GET /" + long, 414, ""},

		// Header fields.
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, ""},
		{"repeated Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, ""},
		{"invalid Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, ""},
		{"whitespace before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, ""},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400, ""},
		{"whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, ""},
		{"empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400, ""},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400, ""},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n", 400, ""},
		{"bare CR ending a line", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n", 400, ""},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\x00c\r\n\r\n", 400, ""},
		{"control byte in value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\x01c\r\n\r\n", 400, ""},
		{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\x7fc\r\n\r\n", 400, ""},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + manyFields + "\r\n", 431, ""},
		{"header section too large", "GET / HTTP/1.1\r\nHost: a\r\n" + bigField + "\r\n", 431, ""},
		{"endless header section", "GET / HTTP/1.1\r\nHost: a\r\n" + bigField, 431, ""},
		{"unmet expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417, ""},

		// Body framing and smuggling defences.
		{"Transfer-Encoding with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"differing Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400, ""},
		{"Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nab", 400, ""},
		{"signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nab", 400, ""},
		{"empty Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, ""},
		{"overflowing Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, ""},
		{"Content-Length over the body limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413, ""},
		// RFC 9112 §6.1: a coding the server does not understand is 501,
		// wherever it stands; §6.3: chunked not last (of known codings) 400.
		{"unknown coding after chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501, ""},
		{"only an unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, ""},
		{"identity coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501, ""},
		{"unknown coding in a second field", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n", 501, ""},
		{"chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400, ""},
		{"unknown coding before chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, ""},
		{"unknown coding with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: gzip\r\n\r\nx", 400, ""},
		{"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"bare LF after chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", 400, ""},
		{"bare LF after chunk data", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n", 400, ""},
		{"chunk data longer than its size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", 400, ""},
		{"whitespace after chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n", 400, ""},
		{"non-hex chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n0\r\n\r\n", 400, ""},
		{"empty chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n0\r\n\r\n", 400, ""},
		{"chunk size of 17 digits", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n", 400, ""},
		{"chunk size over the body limit", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n", 413, ""},
		{"control byte in chunk extension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a\x01\r\nx\r\n0\r\n\r\n", 400, ""},
		{"chunk extension without a name", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\naa\r\n0\r\n\r\n", 400, ""},
		{"chunk extension with an empty value", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\r\naa\r\n0\r\n\r\n", 400, ""},
		{"chunk extension with an unbalanced quote", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\"b; c\r\naa\r\n0\r\n\r\n", 400, ""},
		{"chunk extension name not a token", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a@b\r\naa\r\n0\r\n\r\n", 400, ""},
		{"whitespace in chunk extension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2; a=b\r\naa\r\n0\r\n\r\n", 400, ""},
		{"text after a quoted chunk extension value", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\"b\"c\r\naa\r\n0\r\n\r\n", 400, ""},
		{"bare LF ending a trailer line", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n", 400, ""},
		{"bare LF ending the trailer section", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", 400, ""},
		{"invalid trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, echo)
			h.send(tc.req)
			r := h.response()
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", r.StatusCode, tc.status, body(r))
			}
			if tc.status != 200 {
				if !h.closed() {
					t.Fatalf("connection still open after %d", tc.status)
				}
				if !r.Close {
					t.Fatalf("error response without Connection: close")
				}
				return
			}
			if h.closed() && !strings.Contains(tc.req, "HTTP/1.0") {
				t.Fatalf("connection closed after a good HTTP/1.1 request")
			}
			if tc.echo != "" && body(r) != tc.echo {
				t.Fatalf("handler saw %q, want %q", body(r), tc.echo)
			}
		})
	}
}
