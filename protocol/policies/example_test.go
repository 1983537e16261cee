package policies_test

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/policies"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// quiet reports how its connection ended.
type quiet struct{ protocol.Base }

func (*quiet) ConnectionLost(reason error) {
	fmt.Println("timed out:", errors.Is(reason, protocol.ErrTimeout))
}

func ExampleTimeoutFactory() {
	f := policies.TimeoutFactory(protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &quiet{} }), 30*time.Second)
	tr := reactortest.Connect(f.BuildProtocol(reactortest.ClientAddr))
	tr.FakeLoop().Advance(30 * time.Second) // no traffic for 30s
	tr.FakeLoop().RunPending()
	// Output: timed out: true
}

func ExampleLimiter() {
	l := policies.NewLimiter(protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }),
		policies.Limits{Total: 100, PerIP: 2})
	peer := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
	for i := range 3 {
		fmt.Printf("connection %d accepted: %v\n", i+1, l.BuildProtocol(peer) != nil)
	}
	// Output:
	// connection 1 accepted: true
	// connection 2 accepted: true
	// connection 3 accepted: false
}

// session greets, then drops clients that stay silent for a minute.
type session struct {
	protocol.Base
	policies.Timeout
}

func (s *session) ConnectionMade(t protocol.Transport) {
	s.Base.ConnectionMade(t)
	s.Start(t, time.Minute, func() {
		t.Write([]byte("bye\n"))
		t.LoseConnection()
	})
}

func (s *session) DataReceived(data []byte) { s.Reset() }

func ExampleTimeout() {
	tr := reactortest.Connect(&session{})
	tr.FakeLoop().Advance(time.Minute)
	fmt.Printf("%q closing=%v\n", tr.String(), tr.Disconnecting())
	// Output: "bye\n" closing=true
}
