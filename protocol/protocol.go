package protocol

import "net"

// Protocol is the per-connection handler a user implements, as in Twisted.
// Every method runs on the connection's loop goroutine, one at a time, so a
// Protocol needs no locks for its own state.
type Protocol interface {
	// ConnectionMade is called once, when the connection is established,
	// before any DataReceived. t stays valid until ConnectionLost returns.
	ConnectionMade(t Transport)
	// DataReceived is called with bytes read from the peer. data is only
	// valid during the call: keep a copy of what must outlive it.
	DataReceived(data []byte)
	// ConnectionLost is called exactly once when the connection is gone.
	// reason tells why; errors.Is matches ErrConnectionDone, ErrPeerClosed,
	// ErrPeerReset, ErrAborted, ErrTimeout or a *PanicError.
	ConnectionLost(reason error)
}

// HalfCloseable is implemented by a Protocol that wants to keep writing after
// the peer has closed its write side (Twisted's IHalfCloseableProtocol).
// Without it, the peer's FIN closes the connection.
type HalfCloseable interface {
	// ReadConnectionLost is called when the peer sends FIN. The transport
	// stays writable until LoseConnection or the peer resets.
	ReadConnectionLost()
}

// WriteHalfCloseable is implemented by a Protocol that wants to know when
// its own write side was shut down with Transport.CloseWrite and flushed.
type WriteHalfCloseable interface {
	// WriteConnectionLost is called once the write side is shut down.
	WriteConnectionLost()
}

// Drainer is implemented by a Protocol that can finish the work it has
// started before a graceful stop closes its connection (HTTP's requests in
// flight, say). When the reactor begins a graceful stop it calls Drain on
// the connection's loop instead of LoseConnection: the protocol finishes
// what it has started, starts nothing new, and closes the connection
// itself (LoseConnection) once done. Connections still open at the
// shutdown deadline are aborted.
type Drainer interface {
	// Drain is called once, when the reactor begins a graceful stop.
	Drain()
}

// Factory builds one Protocol per accepted or connected connection.
type Factory interface {
	// BuildProtocol returns the Protocol for a connection from addr, or nil
	// to refuse it (the connection is closed at once).
	BuildProtocol(addr net.Addr) Protocol
}

// Starter is an optional Factory extension (Twisted's doStart/doStop). The
// reactor reference-counts a factory across the listeners and connectors that
// use it: StartFactory runs when the first starts and StopFactory when the
// last stops.
type Starter interface {
	StartFactory()
	StopFactory()
}

// ClientFactory is an optional extension for factories used to connect out
// (Twisted's ClientFactory hooks).
type ClientFactory interface {
	Factory
	// StartedConnecting is called when a connection attempt begins.
	StartedConnecting(addr net.Addr)
	// ClientConnectionFailed is called when the attempt fails: refused,
	// timed out or cancelled.
	ClientConnectionFailed(addr net.Addr, reason error)
	// ClientConnectionLost is called after an established client connection
	// has been lost, after the Protocol's ConnectionLost.
	ClientConnectionLost(addr net.Addr, reason error)
}

// FactoryFunc adapts a function to the Factory interface.
type FactoryFunc func(addr net.Addr) Protocol

// BuildProtocol calls f(addr).
func (f FactoryFunc) BuildProtocol(addr net.Addr) Protocol { return f(addr) }

// Base is an embeddable Protocol with no-op methods that keeps the transport
// in its Transport field. Embed it and override only what you need.
type Base struct {
	// Transport is set by ConnectionMade.
	Transport Transport
}

// ConnectionMade stores t in b.Transport.
func (b *Base) ConnectionMade(t Transport) { b.Transport = t }

// DataReceived discards data.
func (b *Base) DataReceived(data []byte) {}

// ConnectionLost does nothing.
func (b *Base) ConnectionLost(reason error) {}

// Funcs adapts plain functions to the Protocol interface; nil fields are
// skipped.
type Funcs struct {
	OnConnect func(t Transport)
	OnData    func(t Transport, data []byte)
	OnLost    func(t Transport, reason error)

	t Transport
}

// ConnectionMade records t and calls OnConnect.
func (f *Funcs) ConnectionMade(t Transport) {
	f.t = t
	if f.OnConnect != nil {
		f.OnConnect(t)
	}
}

// DataReceived calls OnData.
func (f *Funcs) DataReceived(data []byte) {
	if f.OnData != nil {
		f.OnData(f.t, data)
	}
}

// ConnectionLost calls OnLost.
func (f *Funcs) ConnectionLost(reason error) {
	if f.OnLost != nil {
		f.OnLost(f.t, reason)
	}
}

// ForProtocol returns a Factory that makes a new, zero-valued P for every
// connection, as Twisted's Factory.forProtocol does: protocol.ForProtocol[Echo]()
// where *Echo is the Protocol (typically a struct embedding Base).
func ForProtocol[P any, PP interface {
	*P
	Protocol
}]() Factory {
	return FactoryFunc(func(net.Addr) Protocol { return PP(new(P)) })
}
