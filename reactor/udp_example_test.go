package reactor_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// UDPEcho sends every datagram back to its sender. WriteTo copies data, which
// is only valid during DatagramReceived.
type UDPEcho struct{ protocol.DatagramBase }

func (e *UDPEcho) DatagramReceived(data []byte, addr net.Addr) { e.Transport.WriteTo(data, addr) }

// A UDP echo server, and a plain Go client asking it once.
func ExampleReactor_ListenUDP() {
	r, _ := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(io.Discard)))
	port, err := r.ListenUDP("127.0.0.1:0", &UDPEcho{})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error)
	go func() { done <- r.Run() }()

	c, _ := net.Dial("udp", port.LocalAddr().String())
	defer c.Close()
	buf := make([]byte, 64)
	for {
		// UDP may lose a datagram, even on loopback: ask again.
		c.Write([]byte("hello"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil {
			fmt.Printf("%s\n", buf[:n])
			break
		}
	}
	r.Stop()
	<-done
	// Output: hello
}
