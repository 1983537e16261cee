package protocol_test

import (
	"errors"
	"fmt"
	"net"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// Upper answers every chunk in upper case. Embedding protocol.Base gives it
// the Transport and no-op methods for what it does not override.
type Upper struct{ protocol.Base }

// DataReceived may not keep data after it returns; Write copies it.
func (u *Upper) DataReceived(data []byte) {
	out := make([]byte, len(data))
	for i, c := range data {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	u.Transport.Write(out)
}

// A Protocol is tested without sockets through reactor/reactortest.
func ExampleBase() {
	u := &Upper{}
	tr := reactortest.Connect(u)
	u.DataReceived([]byte("hello"))
	fmt.Println(tr.String())
	// Output: HELLO
}

// Funcs turns plain functions into a Protocol; FactoryFunc makes a Factory.
func ExampleFuncs() {
	factory := protocol.FactoryFunc(func(addr net.Addr) protocol.Protocol {
		return &protocol.Funcs{
			OnConnect: func(t protocol.Transport) { t.Write([]byte("welcome\n")) },
			OnData:    func(t protocol.Transport, data []byte) { t.LoseConnection() },
			OnLost: func(t protocol.Transport, reason error) {
				fmt.Println("clean close:", errors.Is(reason, protocol.ErrConnectionDone))
			},
		}
	})
	p := factory.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(p)
	fmt.Print(tr.String())
	p.DataReceived([]byte("bye"))
	tr.FakeLoop().RunPending()
	// Output:
	// welcome
	// clean close: true
}
