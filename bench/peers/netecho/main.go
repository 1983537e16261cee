// Command netecho is the goroutine-per-connection echo server the bench
// harness measures Mustaine against: the way most Go programs serve TCP.
//
// Each connection is echoed by io.Copy, which on Linux moves the bytes
// with splice(2) and so holds no user-space buffer per connection.
// -loops sets GOMAXPROCS so each target may use the same number of cores.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "listen address host:port")
	loops := flag.Int("loops", 0, "GOMAXPROCS (0 keeps Go's default)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netecho:", err)
		os.Exit(1)
	}
	if err := serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "netecho:", err)
		os.Exit(1)
	}
}

// serve echoes every accepted connection until ln is closed, which ends
// it with a nil error.
func serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			// EMFILE and friends pass: keep serving the connections
			// already open, and back off so the accept loop does not spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go echo(c)
	}
}

func echo(c net.Conn) {
	defer c.Close()
	_, _ = io.Copy(c, c)
}
