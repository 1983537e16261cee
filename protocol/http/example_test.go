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
