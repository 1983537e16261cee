package http

import (
	"strings"
	"testing"
)

// TestUnknownTransferCodingIs501OnTheWire pins the status line the server
// writes for transfer codings, byte for byte: RFC 9112 §6.1 says a server
// that receives a transfer coding it does not understand should answer 501
// (Not Implemented), wherever the coding stands in the list; a list of
// codings it knows but that does not end with one chunked (§6.3), and any
// Transfer-Encoding with Content-Length, is a framing error: 400. Either
// way the handler does not run and the connection closes.
func TestUnknownTransferCodingIs501OnTheWire(t *testing.T) {
	const head = "POST / HTTP/1.1\r\nHost: a\r\n"
	cases := []struct {
		name, fields, statusLine string
	}{
		{"unknown coding alone", "Transfer-Encoding: gzip\r\n", "HTTP/1.1 501 Not Implemented\r\n"},
		{"unknown coding before chunked", "Transfer-Encoding: gzip, chunked\r\n", "HTTP/1.1 501 Not Implemented\r\n"},
		{"unknown coding after chunked", "Transfer-Encoding: chunked, br\r\n", "HTTP/1.1 501 Not Implemented\r\n"},
		{"unknown coding in its own field", "Transfer-Encoding: chunked\r\nTransfer-Encoding: deflate\r\n", "HTTP/1.1 501 Not Implemented\r\n"},
		{"identity, no longer a transfer coding", "Transfer-Encoding: identity\r\n", "HTTP/1.1 501 Not Implemented\r\n"},
		{"a name that merely contains chunked", "Transfer-Encoding: chunkedchunked\r\n", "HTTP/1.1 501 Not Implemented\r\n"},
		{"chunked twice", "Transfer-Encoding: chunked, chunked\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"no coding at all", "Transfer-Encoding: ,\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"unknown coding with Content-Length", "Content-Length: 0\r\nTransfer-Encoding: gzip\r\n", "HTTP/1.1 400 Bad Request\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ran := false
			h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) { ran = true }))
			h.send(head + tc.fields + "\r\n0\r\n\r\n")
			out := h.tr.String()
			if !strings.HasPrefix(out, tc.statusLine) {
				t.Fatalf("output %q, want it to start with %q", out, tc.statusLine)
			}
			if !strings.Contains(out, "\r\nConnection: close\r\n") {
				t.Errorf("no Connection: close in %q", out)
			}
			if ran {
				t.Errorf("the handler ran")
			}
			if !h.closed() {
				t.Errorf("connection still open")
			}
		})
	}
}
