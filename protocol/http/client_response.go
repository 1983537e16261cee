package http

import (
	"bytes"
	"fmt"
	"net/url"
)

// ClientResponse is a response received by a Client.
//
// With a buffered body (the default) the response Deferred fires once the
// whole body has arrived, and Body holds it. With a BodyConsumer on the
// request the Deferred fires as soon as the head has arrived and the body
// goes to the consumer as it comes; Body is then empty.
//
// A ClientResponse owns its memory: it stays valid for as long as the
// caller keeps it, whatever the connection does next.
type ClientResponse struct {
	// hdr holds the head and its fields, parsed by the same field rules
	// as requests.
	hdr    Request
	status int
	reason span
	body   []byte
	url    *url.URL
	cx     *clientExchange // while the body is streamed, for PauseBody
	fields [8]field        // the first field lines, without allocating
}

func newClientResponse() *ClientResponse {
	r := &ClientResponse{}
	r.hdr.fields = r.fields[:0]
	return r
}

// StatusCode is the response's status code, such as 200.
func (r *ClientResponse) StatusCode() int { return r.status }

// Reason is the reason phrase of the status line, possibly empty. RFC 9112
// §4 has clients ignore it; use StatusCode.
func (r *ClientResponse) Reason() string { return string(r.reason.of(r.hdr.head)) }

// Proto is "HTTP/1.1" or "HTTP/1.0".
func (r *ClientResponse) Proto() string { return r.hdr.Proto() }

// HeaderBytes returns the value of the first header field called name
// (ASCII case-insensitive) and whether there is one, without allocating.
func (r *ClientResponse) HeaderBytes(name string) ([]byte, bool) { return r.hdr.HeaderBytes(name) }

// Header returns the value of the first header field called name, or "".
func (r *ClientResponse) Header(name string) string { return r.hdr.Header(name) }

// NumHeaders is the number of header field lines, in the order received.
func (r *ClientResponse) NumHeaders() int { return r.hdr.NumHeaders() }

// HeaderAt returns the name and value of the i-th field line,
// 0 <= i < NumHeaders.
func (r *ClientResponse) HeaderAt(i int) (name, value []byte) { return r.hdr.HeaderAt(i) }

// ContentLength is the length the response declared with Content-Length,
// or -1 when it declared none (chunked, or read until the connection
// closed). It is 0 for a response that has no body by definition (HEAD,
// 204, 304).
func (r *ClientResponse) ContentLength() int64 { return r.hdr.contentLength }

// Body is the whole decoded body when it was buffered (the default).
func (r *ClientResponse) Body() []byte { return r.body }

// URL is the URL the response answers: the request's, or the last one a
// followed redirect led to.
func (r *ClientResponse) URL() string { return r.url.String() }

// PauseBody stops the delivery of a streamed body (a request with a
// BodyConsumer): the connection stops reading, so the server is held back
// by TCP's flow control. Call it on the client's loop, from the consumer
// or later. It does nothing for a buffered body or once the body ended.
func (r *ClientResponse) PauseBody() {
	if r.cx != nil && r.cx.conn != nil {
		r.cx.conn.pauseBody()
	}
}

// ResumeBody undoes PauseBody: what was read and not delivered is
// delivered (on a later turn of the loop, never inside ResumeBody), then
// reading goes on.
func (r *ClientResponse) ResumeBody() {
	if r.cx != nil && r.cx.conn != nil {
		r.cx.conn.resumeBody()
	}
}

// CancelBody abandons a streamed body (a request with a BodyConsumer) that
// has not ended: the connection it comes on is aborted, and the consumer's
// BodyEnd gets an error matching ErrBodyCancelled and
// deferred.ErrCancelled. Call it on the client's loop.
func (r *ClientResponse) CancelBody() {
	if r.cx != nil && r.cx.conn != nil {
		r.cx.conn.cancelBody()
	}
}

// BodyConsumer receives a response body as it arrives (Twisted's
// Response.deliverBody). Its methods run on the client's loop.
type BodyConsumer interface {
	// BodyData is called with the next bytes of the decoded body; p is
	// valid only during the call. The consumer may call the response's
	// PauseBody to hold the rest back.
	BodyData(resp *ClientResponse, p []byte)
	// BodyEnd is called once, after the last BodyData: err is nil when
	// the body is complete, otherwise why it is not (errors.Is matches
	// the package's sentinels, such as ErrResponseIncomplete).
	BodyEnd(resp *ClientResponse, err error)
}

// Response framing, decided from the head (RFC 9112 §6.3).
const (
	frameNone   = iota // no body
	frameLength        // Content-Length bytes
	frameChunked
	frameClose // until the connection closes
)

// respParser parses a response head incrementally: next is the offset of
// the first line not parsed yet (0: the status line) and scanned how far
// the search for that line's end has gone, so a head that trickles in
// costs linear time.
type respParser struct {
	next, scanned int
}

// parse goes on parsing the head at the start of b (the bytes offered last
// time and more) into resp. It returns the head's length once it is
// complete, 0 while it is not, or an error.
func (p *respParser) parse(b []byte, resp *ClientResponse, lim *limits) (int, error) {
	h := &resp.hdr
	for {
		from := max(p.next, p.scanned)
		lf := bytes.IndexByte(b[from:], '\n')
		if lf < 0 {
			if p.next == 0 && len(b) > lim.maxLine+1 {
				return 0, fmt.Errorf("%w: status line longer than %d bytes", ErrResponseHeaderTooLarge, lim.maxLine)
			}
			if p.next > 0 && len(b) > lim.maxHeader {
				return 0, fmt.Errorf("%w: over %d bytes", ErrResponseHeaderTooLarge, lim.maxHeader)
			}
			p.scanned = len(b)
			return 0, nil
		}
		lf += from
		end, crlf := lineEnd(b, lf)
		if !crlf {
			return 0, fmt.Errorf("%w: line ends with a bare LF", ErrMalformedResponse)
		}
		start := p.next
		p.next, p.scanned = lf+1, lf+1
		if start == 0 {
			if end > lim.maxLine {
				return 0, fmt.Errorf("%w: status line longer than %d bytes", ErrResponseHeaderTooLarge, lim.maxLine)
			}
			if err := parseStatusLine(b[:end], resp); err != nil {
				return 0, err
			}
			continue
		}
		if end == start {
			*p = respParser{}
			h.head = b[:lf+1]
			return lf + 1, nil
		}
		if lf+1 > lim.maxHeader || len(h.fields) >= lim.maxFields {
			return 0, fmt.Errorf("%w: over %d bytes or %d fields", ErrResponseHeaderTooLarge, lim.maxHeader, lim.maxFields)
		}
		if st := parseField(b, start, end, h); st != 0 {
			if len(b) >= start+15 && equalFoldLower(b[start:start+15], "content-length:") {
				return 0, fmt.Errorf("%w: %w: invalid or differing Content-Length", ErrMalformedResponse, ErrAmbiguousFraming)
			}
			return 0, fmt.Errorf("%w: invalid field line", ErrMalformedResponse)
		}
	}
}

// parseStatusLine parses `HTTP-version SP status-code SP [reason-phrase]`
// (RFC 9112 §4). As net/http does, a missing SP after the code is
// accepted; a higher HTTP/1 minor version is read as 1.1 (RFC 9110 §6.2).
func parseStatusLine(line []byte, resp *ClientResponse) error {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[7] < '0' || line[7] > '9' || line[8] != ' ' {
		return fmt.Errorf("%w: status line %q", ErrMalformedResponse, line)
	}
	resp.hdr.minor = min(line[7]-'0', 1)
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: status code %q", ErrMalformedResponse, line[9:12])
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return fmt.Errorf("%w: status code %d", ErrMalformedResponse, code)
	}
	resp.status = code
	resp.reason = span{12, 12}
	if len(line) > 12 {
		if line[12] != ' ' {
			return fmt.Errorf("%w: status line %q", ErrMalformedResponse, line)
		}
		for _, c := range line[13:] {
			if charClass[c]&classValue == 0 {
				return fmt.Errorf("%w: control byte in the reason phrase", ErrMalformedResponse)
			}
		}
		resp.reason = span{13, int32(len(line))}
	}
	return nil
}

// responseFraming decides how the body of a complete head is delimited
// (RFC 9112 §6.3), with the server's strictness: Transfer-Encoding with
// Content-Length, differing Content-Lengths (refused by the field parser),
// chunked twice or not last, and Transfer-Encoding in HTTP/1.0 are
// ambiguous framing and fail the request; codings other than chunked,
// which the client does not decode, too.
func responseFraming(resp *ClientResponse, method string) (int, error) {
	h := &resp.hdr
	f := h.flags
	if method == "HEAD" || resp.status < 200 || resp.status == 204 || resp.status == 304 {
		h.contentLength = 0
		return frameNone, nil
	}
	if f&teSeen != 0 {
		switch {
		case f&clSeen != 0:
			return 0, fmt.Errorf("%w: %w: Transfer-Encoding with Content-Length", ErrMalformedResponse, ErrAmbiguousFraming)
		case h.minor == 0:
			return 0, fmt.Errorf("%w: %w: Transfer-Encoding in HTTP/1.0", ErrMalformedResponse, ErrAmbiguousFraming)
		case f&teChunkedTwice != 0, f&teChunkedSeen != 0 && f&teChunkedLast == 0:
			return 0, fmt.Errorf("%w: %w: chunked repeated or not last", ErrMalformedResponse, ErrAmbiguousFraming)
		case f&teOther != 0:
			return 0, fmt.Errorf("%w: transfer coding other than chunked", ErrMalformedResponse)
		case f&teChunkedLast == 0:
			// An empty Transfer-Encoding list.
			return 0, fmt.Errorf("%w: %w: empty Transfer-Encoding", ErrMalformedResponse, ErrAmbiguousFraming)
		}
		h.contentLength = -1
		return frameChunked, nil
	}
	if f&clSeen != 0 {
		if h.contentLength == 0 {
			return frameNone, nil
		}
		return frameLength, nil
	}
	h.contentLength = -1
	return frameClose, nil
}

// keepAlive reports whether the response lets the connection carry
// another request (RFC 9112 §9.3).
func (r *ClientResponse) keepAlive() bool {
	if r.hdr.minor == 0 {
		return r.hdr.connKeepAlive && !r.hdr.connClose
	}
	return !r.hdr.connClose
}
