package http

import (
	"github.com/mustaine/mustaine/reactor/reactortest"
	"reflect"
	"strings"
	"testing"
)

// parsedView is what a handler's Request holds once its head is parsed,
// as comparable values: the head's bytes, every parse result, the fields
// as spans, and the first line of the server's response.
type parsedView struct {
	head, body string
	parsed     reqParsed
	fields     []field
	status     string
}

// serveParsed serves prime, when not empty, on a connection of a new
// server (so its head, if valid, is in the loop's parse memo), then the
// pieces, one read each, on a second connection of the same loop, and
// returns the view of the second connection's last request. A request
// the server refuses has only its status.
func serveParsed(t testing.TB, prime string, pieces ...string) parsedView {
	t.Helper()
	var v parsedView
	srv, err := NewServer(HandlerFunc(func(w *ResponseWriter, r *Request) {
		v.head, v.body = string(r.head), string(r.body)
		v.parsed = r.reqParsed
		v.fields = append([]field(nil), r.fields...)
		v.parsed.head, v.parsed.body, v.parsed.fields = nil, nil, nil
		v.parsed.router, v.parsed.matched = nil, nil
		w.WriteString("ok")
	}))
	if err != nil {
		t.Fatal(err)
	}
	loop := reactortest.NewLoop()
	if prime != "" {
		first := srv.BuildProtocol(reactortest.ClientAddr)
		reactortest.Connect(first, reactortest.WithLoop(loop))
		first.DataReceived([]byte(prime))
	}
	p := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(p, reactortest.WithLoop(loop))
	for _, piece := range pieces {
		v = parsedView{}
		tr.Clear()
		p.DataReceived([]byte(piece))
	}
	v.status, _, _ = strings.Cut(tr.String(), "\r\n")
	return v
}

// checkMemoAgrees checks that serving next after prev on one loop (prev's
// head in the memo) gives the request and status that serving next alone
// does.
func checkMemoAgrees(t testing.TB, prev, next string) {
	t.Helper()
	want := serveParsed(t, "", next)
	got := serveParsed(t, prev, next)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after %q, %q parsed as\n%+v\nwant (parsed alone)\n%+v", prev, next, got, want)
	}
}

// TestParseMemoGivesWhatParsingGives serves, after a request, a request
// that differs from it in one byte at each position of its head (with a
// byte the parser treats differently: another token character, a space, a
// bare LF, a NUL, a colon), the same request again, and the same request
// with another pipelined behind it; each must be parsed, or refused, as
// it is on a connection of its own.
func TestParseMemoGivesWhatParsingGives(t *testing.T) {
	heads := []string{
		"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
		"POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
		"GET http://example.com/p HTTP/1.0\r\nHost: b\r\nConnection: keep-alive\r\n\r\n",
		"PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n",
	}
	for _, a := range heads {
		checkMemoAgrees(t, a, a)
		checkMemoAgrees(t, a, a+a)
		end := strings.Index(a, "\r\n\r\n") + 4
		for i := range end {
			for _, c := range []byte{'x', ' ', '\n', 0, ':', '1'} {
				if a[i] == c {
					continue
				}
				b := a[:i] + string(c) + a[i+1:]
				checkMemoAgrees(t, a, b)
				checkMemoAgrees(t, b, a)
			}
		}
		for _, b := range heads {
			checkMemoAgrees(t, a, b)
		}
	}
}

// TestParseMemoWithRequestsInPieces checks the memo against a head that
// arrives cut at every position after the same head arrived whole: the
// first piece is shorter than the memo's head, so the parser takes over.
func TestParseMemoWithRequestsInPieces(t *testing.T) {
	a := "GET /users/42?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n"
	want := serveParsed(t, "", a)
	for cut := 1; cut < len(a); cut++ {
		got := serveParsed(t, a, a[:cut], a[cut:])
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cut at %d: %+v, want %+v", cut, got, want)
		}
	}
}

// TestParseMemoKeepsSmallHeadsOnly checks the memo's bounds: a head of
// more fields or bytes than it keeps, or with credentials, clears it, so
// the next request is parsed.
func TestParseMemoKeepsSmallHeadsOnly(t *testing.T) {
	var m parseMemo
	small := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	many := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: 1\r\n", parseMemoFields) + "\r\n"
	long := "GET /" + strings.Repeat("a", parseMemoBytes) + " HTTP/1.1\r\nHost: a\r\n\r\n"
	withCredentials := func(name string) string {
		return "GET / HTTP/1.1\r\nHost: a\r\n" + name + ": secret\r\n\r\n"
	}
	lim := defaultConfig().limits
	for _, tc := range []struct {
		head string
		kept bool
	}{
		{small, true}, {many, false}, {small, true}, {long, false},
		{withCredentials("Authorization"), false}, {withCredentials("cookie"), false},
		{withCredentials("Proxy-Authorization"), false}, {withCredentials("X-Cookie"), true},
	} {
		var r Request
		if n, st := parseHead([]byte(tc.head), &r, &lim); n != len(tc.head) || st != 0 {
			t.Fatalf("parse %q: %d %d", tc.head, n, st)
		}
		m.keep(&r)
		var again Request
		if got := m.take([]byte(tc.head), &again) != 0; got != tc.kept {
			t.Fatalf("%d bytes, %d fields: kept %v, want %v", len(tc.head), len(r.fields), got, tc.kept)
		}
	}
}

// FuzzParseMemo serves b after a on one loop, and b alone, and compares
// what each parse gave.
func FuzzParseMemo(f *testing.F) {
	for _, s := range [][2]string{
		{wrkGET, wrkGET},
		{wrkGET, "GET / HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n\r\n"},
		{wrkGET, "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\nGET /x HTTP/1.1\r\n\r\n"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\na"},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\n"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 4096 || len(b) > 4096 {
			return
		}
		checkMemoAgrees(t, a, b)
	})
}
