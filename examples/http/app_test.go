package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"
)

func TestUsersLookupOnThePool(t *testing.T) {
	_, addr := startServer(t, 2)
	c := newClient()
	defer c.CloseIdleConnections()
	for _, tc := range []struct {
		path   string
		status int
		ctype  string
		body   string
	}{
		{"/users/7", 200, "application/json", `{"id":7,"name":"user 7"}`},
		{"/users/5000", 404, "application/problem+json", `{"detail":"no user 5000","status":404,"title":"Not Found"}`},
		{"/users/abc", 400, "application/problem+json", `{"detail":"id must be an integer","status":400,"title":"Bad Request"}`},
	} {
		resp, body := get(t, c, "http://"+addr+tc.path)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.ctype || body != tc.body {
			t.Errorf("GET %s: %d %q %q, want %d %q %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.ctype, tc.body)
		}
	}
	resp, err := c.Post("http://"+addr+"/users/7", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /users/7: %d Allow %q, want 405 \"GET, HEAD\"", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// patternReader yields n bytes of a repeating pattern.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	for i := range b {
		b[i] = byte(p.left - int64(i))
	}
	p.left -= int64(len(b))
	return len(b), nil
}

func TestUploadStreamsAndAnswersLengthAndSHA256(t *testing.T) {
	_, addr := startServer(t, 1)
	c := newClient()
	defer c.CloseIdleConnections()
	const size = 32 << 20 // over the 1 MiB in-memory body limit
	for _, chunked := range []bool{false, true} {
		sum := sha256.New()
		body := io.TeeReader(&patternReader{left: size}, sum)
		req, _ := nethttp.NewRequest("POST", "http://"+addr+"/upload", body)
		if !chunked {
			req.ContentLength = size
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Bytes  int64
			SHA256 string
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || got.Bytes != size || got.SHA256 != hex.EncodeToString(sum.Sum(nil)) {
			t.Errorf("chunked=%v: %d %+v %v", chunked, resp.StatusCode, got, err)
		}
	}
}

func TestServerErrorsAreJSONProblemDetails(t *testing.T) {
	_, addr := startServer(t, 1)
	conn := dialRaw(t, addr, 10*time.Second)
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\n\r\n") // no Host
	resp, err := nethttp.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" ||
		string(b) != `{"status":400,"title":"Bad Request"}` {
		t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}
