package reactor_test

import (
	"bufio"
	"fmt"
	"net"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// Echo writes back whatever it receives.
type Echo struct{ protocol.Base }

// DataReceived echoes data; the reactor sends everything written during
// the call with one write(2) when it returns.
func (e *Echo) DataReceived(data []byte) { e.Transport.Write(data) }

// An echo server: a Protocol per connection, a Factory per listener, and a
// reactor that runs them.
func Example() {
	r, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		panic(err)
	}
	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &Echo{}
	}))
	if err != nil {
		panic(err)
	}

	// A plain Go client, on its own goroutine, stops the reactor when done.
	go func() {
		defer r.Stop()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "hello, reactor\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print(line)
	}()

	if err := r.Run(); err != nil {
		fmt.Println(err)
	}
	// Output: hello, reactor
}
