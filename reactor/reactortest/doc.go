// Package reactortest is what you need to unit-test a protocol without
// sockets or sleeping, in the manner of Twisted's StringTransport,
// MemoryReactorClock and iosim:
//
//   - Loop is a fake event loop driven by a manual timer.Clock: timers,
//     CallSoon and CallFromThread run only when the test calls Advance or
//     RunPending, so a protocol with timeouts is tested without waiting.
//   - Transport is an in-memory protocol.Transport that records what the
//     protocol writes (Value, Clear) and how it closes, aborts, half-closes
//     or pauses the connection, and honours the transport contract: writes
//     after close fail with protocol.ErrClosed, ConnectionLost comes once and
//     on a later turn of the loop, producers are paused and resumed.
//   - Pair connects a server protocol and a client protocol in memory; bytes
//     move only when the test calls Pump or Flush, and a close or abort on one
//     side reaches the other as ConnectionLost with the right reason.
//   - Loop is also a protocol.Connector, Twisted's MemoryReactor.connectTCP:
//     a protocol's t.Loop().ConnectTCP is recorded (Loop.PendingConnects),
//     and the test completes it with an in-memory Pair
//     (ConnectRequest.Complete) or fails it with an error
//     (ConnectRequest.Fail); the factory's client hooks run as on a
//     reactor.
//
// Everything here, like a real loop, belongs to one goroutine: the test's.
// The exception is Loop.CallFromThread, which is safe from any goroutine.
package reactortest
