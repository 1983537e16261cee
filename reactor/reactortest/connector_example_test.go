package reactortest_test

import (
	"fmt"
	"net"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// Greeter connects out through its own loop when a client arrives and
// tells the client whether the backend answered.
type Greeter struct{ protocol.Base }

// ConnectionMade connects to the backend from the connection's own loop.
func (g *Greeter) ConnectionMade(t protocol.Transport) {
	g.Base.ConnectionMade(t)
	d := t.Loop().ConnectTCP("backend.internal:7000", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &protocol.Base{}
	}), 5*time.Second)
	d.AddCallbacks(func(p protocol.Protocol) (protocol.Protocol, error) {
		t.Write([]byte("backend up\n"))
		return p, nil
	}, func(err error) (protocol.Protocol, error) {
		t.Write([]byte("backend down: " + err.Error() + "\n"))
		t.LoseConnection()
		return nil, nil
	})
}

// A protocol that connects out, tested without sockets: the fake loop
// records the connect, and the test completes it with an in-memory Pair
// or fails it.
func ExampleLoop_ConnectTCP() {
	loop := reactortest.NewLoop()
	up := reactortest.Connect(&Greeter{}, reactortest.WithLoop(loop))
	req := loop.PendingConnects()[0]
	fmt.Println("connect to", req.Address)
	req.Complete(&protocol.Base{}) // the backend accepts
	fmt.Print(up.String())

	down := reactortest.Connect(&Greeter{}, reactortest.WithLoop(loop))
	loop.PendingConnects()[0].Fail(fmt.Errorf("connection refused"))
	fmt.Print(down.String())
	fmt.Println("closing:", down.Disconnecting())
	// Output:
	// connect to backend.internal:7000
	// backend up
	// backend down: connection refused
	// closing: true
}
