package protocol

import (
	"time"

	"github.com/mustaine/mustaine/deferred"
)

// Connector connects out: Twisted's IReactorTCP.connectTCP, reachable from
// protocol code: every Loop is one (t.Loop().ConnectTCP). Every reactor
// loop implements it, and so does
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
