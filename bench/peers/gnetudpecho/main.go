// Command gnetudpecho is the gnet v2 UDP echo server the bench harness's
// UDP load measures Mustaine against: every datagram is sent straight back
// to its sender.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/panjf2000/gnet/v2"
)

// echoServer writes each datagram back in OnTraffic, as gnet's own UDP
// echo example does: for a datagram, Write sends to the sender.
type echoServer struct {
	gnet.BuiltinEventEngine
}

// OnTraffic echoes the datagram gnet read.
func (*echoServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	_, _ = c.Write(buf)
	return gnet.None
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "listen address host:port")
	// gnet's other options stay at their defaults, as for the TCP peer.
	loops := flag.Int("loops", 1, "number of gnet event loops")
	flag.Parse()
	err := gnet.Run(&echoServer{}, "udp://"+*addr,
		gnet.WithNumEventLoop(*loops),
		gnet.WithMulticore(*loops > 1),
		gnet.WithReusePort(*loops > 1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnetudpecho:", err)
		os.Exit(1)
	}
}
