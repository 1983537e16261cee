// Command gnetecho is the gnet v2 echo server the bench harness measures
// Mustaine against: every byte a connection sends is written straight back.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/panjf2000/gnet/v2"
)

// echoServer writes back whatever a connection sent, in one Write per
// readable event, which is the idiom gnet's own echo examples use.
type echoServer struct {
	gnet.BuiltinEventEngine
}

// OnTraffic hands gnet the whole inbound buffer: Next(-1) takes every
// buffered byte and Write queues it for the flush at the end of the event.
func (*echoServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	_, _ = c.Write(buf)
	return gnet.None
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "listen address host:port")
	// gnet's other options stay at their defaults (no LockOSThread, one
	// listener): that is what a gnet user gets and what TechEmpower runs.
	loops := flag.Int("loops", 1, "number of gnet event loops")
	flag.Parse()
	err := gnet.Run(&echoServer{}, "tcp://"+*addr,
		gnet.WithNumEventLoop(*loops),
		gnet.WithMulticore(*loops > 1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnetecho:", err)
		os.Exit(1)
	}
}
