package protocol_test

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// Client embeds ReconnectingClientFactory, as Twisted's clients subclass
// it: BuildProtocol resets the delay once a connection is made.
type Client struct {
	protocol.ReconnectingClientFactory
}

// BuildProtocol resets the backoff and returns the connection's protocol.
func (c *Client) BuildProtocol(net.Addr) protocol.Protocol {
	c.ResetDelay()
	return &protocol.Base{}
}

// The backoff on a fake loop: every connect is refused, and each retry
// comes e times later than the previous one (no jitter here, to print
// round numbers), up to MaxDelay.
func ExampleReconnectingClientFactory() {
	loop := reactortest.NewLoop() // a Connector and a manual clock
	c := &Client{}
	c.Jitter = -1 // none
	c.MaxDelay = time.Minute
	c.Connect(loop, "server.internal:7000", c, 5*time.Second)
	for range 6 {
		loop.PendingConnects()[0].Fail(errors.New("connection refused"))
		fmt.Println(c.Delay().Round(time.Millisecond))
		loop.Advance(c.Delay())
	}
	// A connection resets the delay.
	loop.PendingConnects()[0].Complete(&protocol.Base{})
	fmt.Println(c.Delay(), c.Retries())
	// Output:
	// 2.718s
	// 7.389s
	// 20.086s
	// 54.598s
	// 1m0s
	// 1m0s
	// 1s 0
}
