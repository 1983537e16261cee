// Package policies holds protocol and factory wrappers that enforce
// policies on connections, as Twisted's twisted.protocols.policies does:
//
//   - Timeout is an idle timeout a protocol keeps for itself (Twisted's
//     TimeoutMixin): arm it, reset it on meaningful traffic, and the
//     connection is closed when it expires.
//   - TimeoutFactory and WithTimeout wrap any protocol with an idle timeout
//     reset by traffic in either direction (Twisted's TimeoutFactory and
//     TimeoutProtocol). The wrapped protocol's ConnectionLost then gets a
//     reason that matches protocol.ErrTimeout.
//   - Limiter caps the connections a factory serves, in total and per
//     remote IP, refusing the excess or handing it to an overflow factory
//     that can answer "busy" (Twisted's LimitTotalConnectionsFactory and
//     LimitConnectionsByPeer).
//
// Timers run on the connection's loop (Transport.Loop().CallLater), so a
// million idle connections cost a million wheel entries and no goroutine.
// Every wrapper keeps the wrapped protocol's optional interfaces
// (protocol.HalfCloseable, protocol.WriteHalfCloseable): the reactor sees
// exactly what the wrapped protocol supports.
package policies
