// Package protocol holds the interfaces Mustaine users implement and call —
// Protocol, Factory, Transport, Producer and Loop, and for UDP
// DatagramProtocol and DatagramTransport — and the ready protocols built on
// them. It knows nothing of epoll or kqueue: the reactor package
// drives these interfaces with real sockets, and reactor/reactortest drives
// them in memory for tests.
//
// The threading rule: every method of a Protocol and every call on its
// Transport happens on the connection's loop goroutine, one at a time, so
// protocol code needs no locks. From other goroutines, reach the loop with
// Transport.Loop().CallFromThread.
package protocol
