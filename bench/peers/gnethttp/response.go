package main

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"time"
)

// headerEnd is the blank line that ends an HTTP/1.1 request head. The peer
// treats it as the whole request because plaintext requests carry no body,
// the same shortcut TechEmpower's "stripped" gnet entry takes.
var headerEnd = []byte("\r\n\r\n")

// maxPending bounds the bytes held for a request whose end has not arrived,
// so a client that never sends the blank line cannot grow the buffer forever.
const maxPending = 64 << 10

const (
	responseHead = "HTTP/1.1 200 OK\r\nServer: gnet\r\nContent-Type: text/plain\r\nDate: "
	responseTail = "\r\nContent-Length: 13\r\n\r\nHello, World!"
)

// appendResponses appends one response to dst for every complete request at
// the start of in and reports how many bytes of in those requests used; the
// rest is an unfinished request the caller keeps for the next read.
func appendResponses(dst, in, date []byte) (out []byte, consumed int) {
	for {
		i := bytes.Index(in[consumed:], headerEnd)
		if i < 0 {
			return dst, consumed
		}
		consumed += i + len(headerEnd)
		dst = append(dst, responseHead...)
		dst = append(dst, date...)
		dst = append(dst, responseTail...)
	}
}

// dateCache holds the formatted Date header value. Formatting the time per
// response would cost more than the rest of the response, so, like every
// fast server, the peer formats it once per second.
type dateCache struct {
	v atomic.Pointer[[]byte]
}

// set stores t formatted as an HTTP date (RFC 9110 IMF-fixdate).
func (d *dateCache) set(t time.Time) {
	b := t.UTC().AppendFormat(make([]byte, 0, len(http.TimeFormat)), http.TimeFormat)
	d.v.Store(&b)
}

// get returns the current value; callers must not modify it.
func (d *dateCache) get() []byte {
	return *d.v.Load()
}

// refresh updates d every second until stop is closed.
func (d *dateCache) refresh(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			d.set(now)
		case <-stop:
			return
		}
	}
}
