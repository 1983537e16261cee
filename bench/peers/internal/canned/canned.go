// Package canned is the plaintext HTTP responder of TechEmpower's "stripped"
// entries, shared by the bench peers that use it: request boundaries are
// found by scanning for the blank line (no HTTP parsing), and every
// complete request gets the same "Hello, World!" response with a Date
// refreshed once per second.
package canned

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"time"
)

// headerEnd is the blank line that ends an HTTP/1.1 request head. The responder
// treats it as the whole request because plaintext requests carry no body,
// the same shortcut TechEmpower's "stripped" gnet entry takes.
var headerEnd = []byte("\r\n\r\n")

// MaxPending bounds the bytes held for a request whose end has not arrived,
// so a client that never sends the blank line cannot grow the buffer forever.
const MaxPending = 64 << 10

// ResponseHead and ResponseTail are the response around its Date value.
const (
	ResponseHead = "HTTP/1.1 200 OK\r\nServer: gnet\r\nContent-Type: text/plain\r\nDate: "
	ResponseTail = "\r\nContent-Length: 13\r\n\r\nHello, World!"
)

// AppendResponses appends one response to dst for every complete request at
// the start of in and reports how many bytes of in those requests used; the
// rest is an unfinished request the caller keeps for the next read.
func AppendResponses(dst, in, date []byte) (out []byte, consumed int) {
	for {
		i := bytes.Index(in[consumed:], headerEnd)
		if i < 0 {
			return dst, consumed
		}
		consumed += i + len(headerEnd)
		dst = append(dst, ResponseHead...)
		dst = append(dst, date...)
		dst = append(dst, ResponseTail...)
	}
}

// DateCache holds the formatted Date header value. Formatting the time per
// response would cost more than the rest of the response, so, like every
// fast server, the peer formats it once per second.
type DateCache struct {
	v atomic.Pointer[[]byte]
}

// Set stores t formatted as an HTTP date (RFC 9110 IMF-fixdate).
func (d *DateCache) Set(t time.Time) {
	b := t.UTC().AppendFormat(make([]byte, 0, len(http.TimeFormat)), http.TimeFormat)
	d.v.Store(&b)
}

// Get returns the current value; callers must not modify it.
func (d *DateCache) Get() []byte {
	return *d.v.Load()
}

// Refresh updates d every second until stop is closed.
func (d *DateCache) Refresh(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			d.Set(now)
		case <-stop:
			return
		}
	}
}
