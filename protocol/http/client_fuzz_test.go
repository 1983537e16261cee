package http

import (
	"bufio"
	"bytes"
	"io"
	nethttp "net/http"
	"testing"
)

// FuzzClientResponse feeds arbitrary bytes to a client as the answer to a
// GET, cut into two reads, and checks: no panic; the outcome does not
// depend on the cut; and a response the client accepts is one net/http's
// ReadResponse accepts too, with the same status and body (the client is
// never looser than net/http about framing).
func FuzzClientResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nto the end",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n",
	} {
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		s := string(data)
		whole := exchangeIn(t, s, nil)
		split := exchangeIn(t, s, []int{int(cut) % (len(s) + 1)})
		if !sameOutcome(whole, split) {
			t.Fatalf("whole %+v, cut at %d %+v", whole, int(cut)%(len(s)+1), split)
		}
		if whole.err != nil {
			return
		}
		req, _ := nethttp.NewRequest("GET", "http://127.0.0.1/", nil)
		br := bufio.NewReader(bytes.NewReader(data))
		var resp *nethttp.Response
		var err error
		for {
			resp, err = nethttp.ReadResponse(br, req)
			if err != nil || resp.StatusCode >= 200 || resp.StatusCode == 101 {
				break
			}
		}
		if err != nil {
			t.Fatalf("client accepted %q (%+v), net/http refuses: %v", data, whole, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("client accepted %q (%+v), net/http's body fails: %v", data, whole, err)
		}
		if resp.StatusCode != whole.status || string(body) != whole.body {
			t.Fatalf("client %d %q, net/http %d %q for %q", whole.status, whole.body, resp.StatusCode, body, data)
		}
	})
}
