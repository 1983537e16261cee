package protocol

import (
	"errors"
	"time"

	"github.com/mustaine/mustaine/deferred"
)

// ErrNoConnector is the failure of ConnectTCP on a Loop that cannot connect
// out (it does not implement Connector).
var ErrNoConnector = errors.New("mustaine: loop cannot connect out (no Connector)")

// Connector connects out: Twisted's IReactorTCP.connectTCP, reachable from
// protocol code. Every reactor loop implements it, and so does
// reactortest.Loop (a fake in the manner of Twisted's MemoryReactor), so a
// protocol that connects out through its own Transport's Loop needs neither
// the reactor nor a lock: the new connection lives on the same loop as the
// connection that asked, and the Deferred fires there.
type Connector interface {
	// ConnectTCP connects to address ("host:port"; the host may be a name,
	// looked up off the loop) and serves the connection with a Protocol
	// from factory. The Deferred fires, on the loop, with that Protocol
	// after its ConnectionMade, or fails (refused, timed out, cancelled,
	// lookup failed). timeout <= 0 means no timeout of our own. Call it
	// on the loop.
	ConnectTCP(address string, factory Factory, timeout time.Duration) *deferred.Deferred[Protocol]
}

// ConnectTCP connects out through lp, which must implement Connector (every
// reactor loop and reactortest.Loop do): usually t.Loop() for a
// connection's own Transport t. On any other Loop the Deferred has already
// failed with ErrNoConnector.
func ConnectTCP(lp Loop, address string, factory Factory, timeout time.Duration) *deferred.Deferred[Protocol] {
	c, ok := lp.(Connector)
	if !ok {
		return deferred.FailForCaller[Protocol](ErrNoConnector)
	}
	return c.ConnectTCP(address, factory, timeout)
}
