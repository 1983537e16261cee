// Command nethttp is the Go net/http plaintext server the bench harness
// measures Mustaine against: GET / answers "Hello, World!" as text/plain.
//
// -loops sets GOMAXPROCS so each target may use the same number of cores.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
)

var body = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(body)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address host:port")
	loops := flag.Int("loops", 0, "GOMAXPROCS (0 keeps Go's default)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}
	s := &http.Server{Addr: *addr, Handler: http.HandlerFunc(plaintext)}
	if err := s.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
}
