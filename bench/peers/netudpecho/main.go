// Command netudpecho is the plain Go UDP echo server the bench harness's
// UDP load measures Mustaine against: goroutines reading datagrams from one
// net.UDPConn and writing each back, the way most Go programs serve UDP.
// -loops sets GOMAXPROCS and the number of reading goroutines, so each
// target may use the same number of cores.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "listen address host:port")
	loops := flag.Int("loops", 1, "GOMAXPROCS and reading goroutines")
	flag.Parse()
	runtime.GOMAXPROCS(*loops)
	ua, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netudpecho:", err)
		os.Exit(1)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netudpecho:", err)
		os.Exit(1)
	}
	var wg sync.WaitGroup
	for range *loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			echo(c)
		}()
	}
	wg.Wait()
}

// echo sends every datagram back until c is closed; the AddrPort calls
// allocate nothing per datagram.
func echo(c *net.UDPConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		c.WriteToUDPAddrPort(buf[:n], from)
	}
}
