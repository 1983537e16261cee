// Command nethttp is the Go net/http plaintext server the bench harness
// measures Mustaine against: GET / answers "Hello, World!" as text/plain.
//
// -loops sets GOMAXPROCS so each target may use the same number of cores.
// With -tls-cert and -tls-key (PEM files) it serves HTTPS on the same
// -addr with http.Server.ListenAndServeTLS and net/http's default TLS
// settings (TLS 1.3 preferred, HTTP/2 offered through ALPN; the harness's
// clients ask for HTTP/1.1 or send no ALPN).
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
	certFile := flag.String("tls-cert", "", "serve HTTPS with this PEM certificate (with -tls-key)")
	keyFile := flag.String("tls-key", "", "PEM private key for -tls-cert")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}
	s := &http.Server{Addr: *addr, Handler: http.HandlerFunc(plaintext)}
	var err error
	if *certFile != "" || *keyFile != "" {
		err = s.ListenAndServeTLS(*certFile, *keyFile)
	} else {
		err = s.ListenAndServe()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
}
