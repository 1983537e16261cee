package canned

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

const req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

var date = []byte("Mon, 02 Jan 2006 15:04:05 GMT")

func TestAppendResponsesAnswersEachPipelinedRequestAndKeepsTheTail(t *testing.T) {
	in := []byte(req + req + req + "GET / HT")
	out, n := AppendResponses(nil, in, date)
	if want := 3 * len(req); n != want {
		t.Fatalf("consumed %d bytes, want %d", n, want)
	}
	one := ResponseHead + string(date) + ResponseTail
	if want := one + one + one; string(out) != want {
		t.Fatalf("responses = %q, want %q", out, want)
	}
}

func TestAppendResponsesLeavesAnUnfinishedRequestUntouched(t *testing.T) {
	out, n := AppendResponses([]byte("keep"), []byte("GET / HTTP/1.1\r\nHost: x\r\n"), date)
	if n != 0 || string(out) != "keep" {
		t.Fatalf("got (%q, %d), want (\"keep\", 0)", out, n)
	}
}

func TestResponseIsAValidHTTPResponseWithHelloWorld(t *testing.T) {
	out, _ := AppendResponses(nil, []byte(req), date)
	if !bytes.HasSuffix(out, []byte("\r\n\r\nHello, World!")) {
		t.Fatalf("body missing: %q", out)
	}
	if !bytes.Contains(out, []byte("\r\nContent-Length: 13\r\n")) {
		t.Fatalf("Content-Length missing: %q", out)
	}
}

func TestDateCacheFormatsIMFFixdateInUTC(t *testing.T) {
	var d DateCache
	loc := time.FixedZone("X", 3600)
	d.Set(time.Date(2024, 2, 29, 13, 4, 5, 0, loc))
	if got, want := string(d.Get()), "Thu, 29 Feb 2024 12:04:05 GMT"; got != want {
		t.Fatalf("date = %q, want %q", got, want)
	}
	if _, err := http.ParseTime(string(d.Get())); err != nil {
		t.Fatalf("not an HTTP date: %v", err)
	}
}
