package http_test

import (
	"fmt"
	"strings"

	"github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// get sends one request through a server over an in-memory transport and
// prints the status line and body.
func get(srv *http.Server, method, target string) {
	conn := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(conn)
	conn.DataReceived([]byte(method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	out := tr.String()
	status, _, _ := strings.Cut(out, "\r\n")
	_, body, _ := strings.Cut(out, "\r\n\r\n")
	fmt.Printf("%s %s: %s %q\n", method, target, status, body)
}

// A Router with ServeMux patterns: the most specific pattern wins, a path
// known for other methods gets 405.
func ExampleRouter() {
	rt := http.NewRouter()
	rt.HandleFunc("GET /users/{id}", func(w *http.ResponseWriter, r *http.Request) {
		w.WriteString("user " + r.PathValue("id"))
	})
	rt.HandleFunc("GET /users/me", func(w *http.ResponseWriter, r *http.Request) {
		w.WriteString("the current user")
	})
	rt.HandleFunc("GET /static/{path...}", func(w *http.ResponseWriter, r *http.Request) {
		w.WriteString("file " + r.PathValue("path"))
	})
	if err := rt.HandleFunc("GET /users/{name}", func(*http.ResponseWriter, *http.Request) {}); err != nil {
		fmt.Println("refused:", strings.Contains(err.Error(), "conflicts"))
	}
	srv, _ := http.NewServer(rt)
	get(srv, "GET", "/users/42")
	get(srv, "GET", "/users/me")
	get(srv, "GET", "/static/css/site.css")
	get(srv, "DELETE", "/users/42")
	// Output:
	// refused: true
	// GET /users/42: HTTP/1.1 200 OK "user 42"
	// GET /users/me: HTTP/1.1 200 OK "the current user"
	// GET /static/css/site.css: HTTP/1.1 200 OK "file css/site.css"
	// DELETE /users/42: HTTP/1.1 405 Method Not Allowed "Method Not Allowed\n"
}

// An error hook turns the server's own error responses into JSON.
func ExampleWithErrorHandler() {
	srv, _ := http.NewServer(http.NewRouter(), http.WithErrorHandler(func(e *http.ErrorResponse) {
		e.SetHeader("Content-Type", "application/problem+json")
		fmt.Fprintf(e, `{"status":%d,"title":%q}`, e.Status, http.StatusText(e.Status))
	}))
	get(srv, "GET", "/a b") // a space in the target
	// Output:
	// GET /a b: HTTP/1.1 400 Bad Request "{\"status\":400,\"title\":\"Bad Request\"}"
}

// byteCounter counts a streamed body.
type byteCounter struct {
	w *http.ResponseWriter
	n int
}

func (c *byteCounter) BodyData(p []byte) { c.n += len(p) }

func (c *byteCounter) BodyEnd(err error) {
	fmt.Fprintf(c.w, "%d bytes, err=%v", c.n, err)
	c.w.Finish()
}

// A handler that reads its body as it arrives.
func ExampleStreamingBody() {
	rt := http.NewRouter()
	rt.Handle("POST /upload", http.StreamingBody(http.HandlerFunc(func(w *http.ResponseWriter, r *http.Request) {
		w.Defer()
		r.ReadBody(&byteCounter{w: w})
	})))
	srv, _ := http.NewServer(rt)
	conn := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(conn)
	conn.DataReceived([]byte("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"))
	tr.FakeLoop().Advance(0) // delivery starts on the loop's next turn
	conn.DataReceived([]byte("6\r\n world\r\n0\r\n\r\n"))
	_, body, _ := strings.Cut(tr.String(), "\r\n\r\n")
	fmt.Println(body)
	// Output:
	// 11 bytes, err=<nil>
}
