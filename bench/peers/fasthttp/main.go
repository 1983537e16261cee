// Command fasthttp is the fasthttp plaintext server the bench harness
// measures Mustaine against: GET / answers "Hello, World!" as text/plain.
//
// -loops sets GOMAXPROCS, the nearest thing fasthttp has to a loop count,
// so each target may use the same number of cores.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/valyala/fasthttp"
)

var body = []byte("Hello, World!")

func plaintext(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain")
	ctx.SetBody(body)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address host:port")
	loops := flag.Int("loops", 0, "GOMAXPROCS (0 keeps Go's default)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}
	s := &fasthttp.Server{Handler: plaintext, Name: "fasthttp"}
	if err := s.ListenAndServe(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "fasthttp:", err)
		os.Exit(1)
	}
}
