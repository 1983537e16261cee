package http_test

import (
	"fmt"
	"strings"

	"github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// A handler that answers at once, served over an in-memory transport.
// With a reactor, pass the Server to a listener instead.
func Example() {
	srv, err := http.NewServer(http.HandlerFunc(func(w *http.ResponseWriter, r *http.Request) {
		if string(r.PathBytes()) != "/" {
			w.SetStatus(404)
			return
		}
		w.SetHeader("Content-Type", "text/plain")
		w.SetHeader("Date", "Thu, 01 Jan 2026 00:00:00 GMT") // fixed for the example output
		w.WriteString("Hello, World!")
	}))
	if err != nil {
		panic(err)
	}
	conn := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(conn)
	conn.DataReceived([]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	fmt.Print(strings.ReplaceAll(tr.String(), "\r\n", "\n"))
	// Output:
	// HTTP/1.1 200 OK
	// Content-Type: text/plain
	// Date: Thu, 01 Jan 2026 00:00:00 GMT
	// Content-Length: 13
	//
	// Hello, World!
}

// A handler that answers later: it hands the work to another goroutine
// (with a reactor, the worker pool's DeferToThread does this) and
// finishes the response back on the connection's loop. Meanwhile the loop
// serves other connections, and this connection's next requests wait.
func ExampleResponseWriter_Defer() {
	srv, _ := http.NewServer(http.HandlerFunc(func(w *http.ResponseWriter, r *http.Request) {
		w.Defer()
		loop := w.Loop()
		n := len(r.Body())
		go func() {
			result := fmt.Sprintf("counted %d bytes", n) // slow work, off the loop
			loop.CallFromThread(func() {
				w.SetHeader("Date", "Thu, 01 Jan 2026 00:00:00 GMT")
				w.WriteString(result)
				w.Finish()
			})
		}()
	}))
	conn := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(conn)
	conn.DataReceived([]byte("POST /count HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"))
	fmt.Printf("before: %q\n", tr.String())
	for tr.String() == "" {
		tr.FakeLoop().Advance(0) // a reactor loop runs CallFromThread calls by itself
	}
	fmt.Print(strings.ReplaceAll(tr.String(), "\r\n", "\n"))
	// Output:
	// before: ""
	// HTTP/1.1 200 OK
	// Date: Thu, 01 Jan 2026 00:00:00 GMT
	// Content-Length: 15
	//
	// counted 5 bytes
}
