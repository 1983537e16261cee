package http

import (
	"testing"
)

// BenchmarkClientGet is the client's own cost per request on a kept-alive
// in-memory connection: Get, the request written, a small response parsed,
// the Deferred fired.
func BenchmarkClientGet(b *testing.B) {
	c, m := memClient(b)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\nHello, World!")
	n := 0
	cb := func(r *ClientResponse, err error) (*ClientResponse, error) {
		if err == nil && len(r.Body()) == 13 {
			n++
		}
		return r, nil
	}
	c.Get("http://127.0.0.1:8080/").AddBoth(cb)
	m.ps[0].DataReceived(resp)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Get("http://127.0.0.1:8080/").AddBoth(cb)
		m.trs[0].Clear()
		m.ps[0].DataReceived(resp)
	}
	if n != b.N+1 || len(m.trs) != 1 {
		b.Fatalf("%d responses on %d connections", n, len(m.trs))
	}
}
