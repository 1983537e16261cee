package protocol_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/mustaine/mustaine/protocol"
)

type counter struct {
	protocol.Base
	n int
}

func (c *counter) DataReceived(b []byte) { c.n += len(b) }

// Each connection gets its own zero-valued Protocol.
func TestForProtocolMakesAFreshProtocolPerConnection(t *testing.T) {
	f := protocol.ForProtocol[counter]()
	a := f.BuildProtocol(&net.TCPAddr{})
	b := f.BuildProtocol(&net.TCPAddr{})
	ca, ok := a.(*counter)
	if !ok {
		t.Fatalf("built %T, want *counter", a)
	}
	ca.DataReceived([]byte("abc"))
	if cb := b.(*counter); cb == ca || cb.n != 0 || ca.n != 3 {
		t.Fatalf("protocols share state: a=%p n=%d, b=%p n=%d", ca, ca.n, cb, cb.n)
	}
}

func ExampleForProtocol() {
	f := protocol.ForProtocol[counter]()
	p := f.BuildProtocol(nil)
	fmt.Printf("%T\n", p)
	// Output: *protocol_test.counter
}
