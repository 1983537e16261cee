package http

import (
	"strings"
	"testing"
)

// TestRouterMemoNeverChangesTheAnswer sends, on one connection (one loop,
// so one remembered match), sequences where the previous request's route
// would be the wrong answer for the next: another Host with a host
// pattern, another method, path values, a route registered between two
// requests, a redirect. Each answer must be what ServeMux's rules give.
func TestRouterMemoNeverChangesTheAnswer(t *testing.T) {
	rt := NewRouter()
	say := func(s string) HandlerFunc {
		return func(w *ResponseWriter, r *Request) { w.WriteString(s) }
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rt.Handle("GET /a", say("A")))
	must(rt.Handle("GET example.com/a", say("B")))
	must(rt.HandleFunc("GET /u/{id}", func(w *ResponseWriter, r *Request) { w.WriteString("u" + r.PathValue("id")) }))
	must(rt.Handle("GET /dir/", say("D")))
	h := newHarness(t, rt)
	get := func(method, host, path string) (int, string) {
		t.Helper()
		h.send(method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		resp := h.responses(method)[0]
		return resp.StatusCode, body(resp)
	}
	for i, c := range []struct {
		method, host, path string
		status             int
		body               string
	}{
		{"GET", "other.org", "/a", 200, "A"},
		{"GET", "other.org", "/a", 200, "A"},
		{"GET", "example.com", "/a", 200, "B"},
		{"GET", "example.com:8080", "/a", 200, "B"},
		{"GET", "other.org", "/a", 200, "A"},
		{"POST", "other.org", "/a", 405, ""},
		{"GET", "other.org", "/a", 200, "A"},
		{"HEAD", "other.org", "/a", 200, ""},
		{"GET", "other.org", "/u/1", 200, "u1"},
		{"GET", "other.org", "/u/2", 200, "u2"},
		{"GET", "other.org", "/dir/x", 200, "D"},
		{"GET", "other.org", "/dir", 307, ""},
		{"GET", "other.org", "/a/../a", 307, ""},
		{"GET", "other.org", "/a", 200, "A"},
	} {
		status, b := get(c.method, c.host, c.path)
		if status != c.status || (c.body != "" || c.method == "HEAD") && b != c.body {
			t.Fatalf("request %d, %s %s%s: %d %q, want %d %q", i, c.method, c.host, c.path, status, b, c.status, c.body)
		}
	}
	if m := &h.p.(*conn).ls.memo; m.route == nil || string(m.path) != "/a" {
		t.Fatal("the loop remembered no match: the sequence did not exercise the memo")
	}
	// A route registered after the match was remembered wins when it is
	// more specific.
	must(rt.Handle("GET other.org/a", say("C")))
	if status, b := get("GET", "other.org", "/a"); status != 200 || b != "C" {
		t.Fatalf("after registering other.org/a: %d %q, want 200 C", status, b)
	}
	if status, b := get("GET", "x.org", "/a"); status != 200 || b != "A" {
		t.Fatalf("another host: %d %q, want 200 A", status, b)
	}
	// A path longer than the memo's buffers is routed every time, and
	// right.
	long := "/u/" + strings.Repeat("x", 2*routeMemoMax)
	for range 2 {
		if status, b := get("GET", "x.org", long); status != 200 || b != "u"+long[3:] {
			t.Fatalf("long path: %d %q", status, b)
		}
	}
}
