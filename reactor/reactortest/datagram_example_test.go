package reactortest_test

import (
	"fmt"
	"net"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// shouter answers every datagram in capitals.
type shouter struct{ protocol.DatagramBase }

func (s *shouter) DatagramReceived(data []byte, addr net.Addr) {
	out := make([]byte, len(data))
	for i, c := range data {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	s.Transport.WriteTo(out, addr)
}

// A DatagramProtocol is tested without sockets.
func ExampleListen() {
	port := reactortest.Listen(&shouter{}, nil, nil)
	peer := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5353}
	port.Receive([]byte("hello"), peer)
	for _, d := range port.Written() {
		fmt.Printf("%q to %v\n", d.Data, d.To)
	}
	// Output: "HELLO" to 192.0.2.7:5353
}
