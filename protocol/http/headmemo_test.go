package http

import (
	"strings"
	"testing"
	"time"
)

// TestLastHeadMemoNeverChangesAResponse alternates, on one connection
// (one loop, so one remembered head), a plain response with responses that
// differ from it in one input of the head each: status, a field's value,
// the body's length, the client's HTTP version, Connection: close, a Date
// of the handler's own, the clock's second. Every response must carry its
// own head.
func TestLastHeadMemoNeverChangesAResponse(t *testing.T) {
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		ct, body := "text/plain", "hi"
		switch r.Path() {
		case "/html":
			ct = "text/html"
		case "/long":
			body = "hello"
		case "/created":
			w.SetStatus(201)
		case "/dated":
			w.SetHeader("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		case "/extra":
			w.SetHeader("X-Extra", "1")
		}
		w.SetHeader("Content-Type", ct)
		w.WriteString(body)
	}))
	type want struct {
		status         int
		ct, date, conn string
		length         int
		extra          bool
	}
	check := func(i int, req string, wnt want) {
		t.Helper()
		h.send(req)
		raw := h.tr.String()
		r := h.response()
		conn := ""
		for _, v := range []string{"close", "keep-alive"} {
			if strings.Contains(raw, "\r\nConnection: "+v+"\r\n") {
				conn = v
			}
		}
		if r.StatusCode != wnt.status || r.Header.Get("Content-Type") != wnt.ct || r.ContentLength != int64(wnt.length) ||
			(wnt.date != "" && r.Header.Get("Date") != wnt.date) || conn != wnt.conn ||
			(r.Header.Get("X-Extra") == "1") != wnt.extra {
			t.Fatalf("response %d to %q: %q, want %+v", i, req, raw, wnt)
		}
	}
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n" }
	now := func() string { return h.loop.Now().UTC().Format(TimeFormat) }
	plain := func() want { return want{status: 200, ct: "text/plain", date: now(), length: 2} }
	steps := []struct {
		req string
		w   func() want
	}{
		{get("/"), plain},
		{get("/"), plain},
		{get("/html"), func() want { w := plain(); w.ct = "text/html"; return w }},
		{get("/"), plain},
		{get("/long"), func() want { w := plain(); w.length = 5; return w }},
		{get("/"), plain},
		{get("/created"), func() want { w := plain(); w.status = 201; return w }},
		{get("/"), plain},
		{get("/dated"), func() want { w := plain(); w.date = "Mon, 02 Jan 2006 15:04:05 GMT"; return w }},
		{get("/"), plain},
		{get("/extra"), func() want { w := plain(); w.extra = true; return w }},
		{get("/"), plain},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", func() want { w := plain(); w.conn = "keep-alive"; return w }},
		{get("/"), plain},
	}
	for i, s := range steps {
		check(i, s.req, s.w())
		if i == 5 {
			h.loop.Advance(1500 * time.Millisecond) // a new second: a new Date
		}
	}
	if m := &h.p.(*conn).ls.lastHead; !m.valid {
		t.Fatal("no head was remembered: the sequence did not exercise the memo")
	}
	check(len(steps), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", func() want { w := plain(); w.conn = "close"; return w }())
}
