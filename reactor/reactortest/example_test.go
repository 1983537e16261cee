package reactortest_test

import (
	"fmt"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// greeter says hello, then hangs up on a peer that stays silent for a
// second.
type greeter struct {
	protocol.Base
}

func (g *greeter) ConnectionMade(t protocol.Transport) {
	g.Base.ConnectionMade(t)
	t.Write([]byte("hello\n"))
	t.Loop().CallLater(time.Second, t.LoseConnection)
}

func (g *greeter) ConnectionLost(reason error) { fmt.Println("lost:", reason) }

func ExampleConnect() {
	tr := reactortest.Connect(&greeter{})
	fmt.Printf("wrote %q\n", tr.String())
	tr.FakeLoop().Advance(999 * time.Millisecond)
	fmt.Println("closing after 999ms:", tr.Disconnecting())
	tr.FakeLoop().Advance(time.Millisecond)
	fmt.Println("closing after 1s:", tr.Disconnecting())
	tr.FakeLoop().RunPending()
	// Output:
	// wrote "hello\n"
	// closing after 999ms: false
	// closing after 1s: true
	// lost: mustaine: connection closed cleanly
}

// echo writes back what it reads.
type echo struct{ protocol.Base }

func (e *echo) DataReceived(data []byte) { e.Transport.Write(data) }

// printer prints what it reads and how the connection ended.
type printer struct{ protocol.Base }

func (p *printer) DataReceived(data []byte)    { fmt.Printf("client got %q\n", data) }
func (p *printer) ConnectionLost(reason error) { fmt.Println("client lost:", reason) }

func ExampleConnectedPair() {
	client := &printer{}
	p := reactortest.ConnectedPair(&echo{}, client)
	client.Transport.Write([]byte("ping"))
	p.Flush()
	p.Server.LoseConnection()
	p.Flush()
	// Output:
	// client got "ping"
	// client lost: mustaine: connection closed by peer
}
