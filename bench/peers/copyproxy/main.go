// Command copyproxy is the goroutine-per-connection TCP proxy the bench
// measures examples/proxy against: the way most Go programs proxy TCP,
// with two io.Copy goroutines per client (on Linux io.Copy between two
// TCP connections splices through a pipe). Half-closes are passed on.
// -loops sets GOMAXPROCS so each proxy may use the same number of cores.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7100", "listen address host:port")
	backend := flag.String("backend", "127.0.0.1:7000", "backend host:port")
	loops := flag.Int("loops", 0, "GOMAXPROCS (0 keeps Go's default)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "copyproxy:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "copyproxy listening addr=%s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "copyproxy:", err)
			os.Exit(1)
		}
		go relay(c.(*net.TCPConn), *backend)
	}
}

func relay(front *net.TCPConn, backend string) {
	defer front.Close()
	bc, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	back := bc.(*net.TCPConn)
	defer back.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(back, front)
		back.CloseWrite()
		close(done)
	}()
	io.Copy(front, back)
	front.CloseWrite()
	<-done
}
