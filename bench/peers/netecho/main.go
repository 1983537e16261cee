// Command netecho is the goroutine-per-connection echo server the bench
// harness measures Mustaine against: the way most Go programs serve TCP.
//
// Each connection is echoed by a read/write loop over its own 4 KiB buffer
// (the size bufio and net/http use). io.Copy is not used on purpose: on
// Linux it splices socket to socket through a pipe held per connection,
// which costs two more descriptors per connection (10,000 idle connections
// then exceed a 20,000 descriptor limit) and hides the buffer in kernel
// memory that the idle load's RSS figure would not see.
// -loops sets GOMAXPROCS so each target may use the same number of cores.
package main

import (
	"errors"
	"flag"
	"fmt"
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

// bufSize is each connection's read buffer.
const bufSize = 4096

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
