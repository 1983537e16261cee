package reactortest

import (
	"bytes"
	"net"

	"github.com/mustaine/mustaine/protocol"
)

// DefaultUDPAddr is the local address of a DatagramTransport made without
// one.
var DefaultUDPAddr net.Addr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9999}

// Datagram is one datagram a protocol wrote: a copy of its bytes and where
// it was sent (nil for a connected port's Write).
type Datagram struct {
	Data []byte
	To   net.Addr
}

// DatagramTransport is an in-memory UDP port (protocol.MulticastTransport),
// for testing a DatagramProtocol without sockets: Listen attaches it and
// calls StartProtocol, Receive hands the protocol a datagram, Written and
// Clear show what it wrote, Refuse reports an ICMP refusal as the kernel
// does on a connected port, and the multicast groups joined are kept in
// Groups. It keeps the port contract: writes after StopListening fail with
// protocol.ErrClosed, StopProtocol runs once, inside StopListening.
type DatagramTransport struct {
	loop      *Loop
	local     net.Addr
	proto     protocol.DatagramProtocol
	peer      net.Addr
	written   []Datagram
	closed    bool
	groups    map[string]bool
	ttl       int
	loopback  bool
	multiIfce *net.Interface
}

var _ protocol.MulticastTransport = (*DatagramTransport)(nil)

// Listen attaches proto to a new DatagramTransport bound to local (nil:
// DefaultUDPAddr) on loop (nil: a new Loop) and calls StartProtocol.
func Listen(proto protocol.DatagramProtocol, local net.Addr, loop *Loop) *DatagramTransport {
	if local == nil {
		local = DefaultUDPAddr
	}
	if loop == nil {
		loop = NewLoop()
	}
	t := &DatagramTransport{loop: loop, local: local, proto: proto, groups: map[string]bool{}, ttl: 1, loopback: true}
	proto.StartProtocol(t)
	return t
}

// Receive hands the protocol a datagram from addr, as the port does. On a
// connected transport a datagram from another address is dropped, as the
// kernel does, and Receive reports false.
func (t *DatagramTransport) Receive(data []byte, from net.Addr) bool {
	if t.closed || (t.peer != nil && from.String() != t.peer.String()) {
		return false
	}
	// data is only valid during the call: a protocol that keeps it without
	// copying sees it overwritten.
	buf := bytes.Clone(data)
	t.proto.DatagramReceived(buf, from)
	for i := range buf {
		buf[i] = 0xdb
	}
	return true
}

// Refuse reports an ICMP refusal to a connected transport's protocol
// (ConnectionRefused), and reports whether it was told.
func (t *DatagramTransport) Refuse() bool {
	r, ok := t.proto.(protocol.ConnectionRefuser)
	if !ok || t.peer == nil || t.closed {
		return false
	}
	r.ConnectionRefused()
	return true
}

// Written returns the datagrams written since the last Clear.
func (t *DatagramTransport) Written() []Datagram { return t.written }

// Clear forgets the datagrams written so far.
func (t *DatagramTransport) Clear() { t.written = nil }

// Closed reports whether StopListening was called.
func (t *DatagramTransport) Closed() bool { return t.closed }

// Groups returns the multicast groups joined and not left.
func (t *DatagramTransport) Groups() []string {
	var out []string
	for g := range t.groups {
		out = append(out, g)
	}
	return out
}

// MulticastTTL and MulticastLoopback return what the protocol set (1 and
// true by default, as on a real socket).
func (t *DatagramTransport) MulticastTTL() int { return t.ttl }

// MulticastLoopback returns what SetMulticastLoopback set (default true).
func (t *DatagramTransport) MulticastLoopback() bool { return t.loopback }

// WriteTo records a datagram for addr.
func (t *DatagramTransport) WriteTo(data []byte, addr net.Addr) (int, error) {
	if t.closed {
		return 0, protocol.ErrClosed
	}
	if t.peer != nil && addr != nil && addr.String() != t.peer.String() {
		return 0, protocol.ErrAlreadyConnected
	}
	if t.peer == nil && addr == nil {
		return 0, protocol.ErrNotConnected
	}
	if len(data) > 65507 {
		return 0, protocol.ErrMessageTooLong
	}
	if t.peer != nil {
		addr = nil
	}
	t.written = append(t.written, Datagram{Data: bytes.Clone(data), To: addr})
	return len(data), nil
}

// Write records a datagram for the connected peer.
func (t *DatagramTransport) Write(data []byte) (int, error) {
	if t.peer == nil {
		return 0, protocol.ErrNotConnected
	}
	return t.WriteTo(data, nil)
}

// Connect makes the transport connected to addr.
func (t *DatagramTransport) Connect(addr net.Addr) error {
	if t.closed {
		return protocol.ErrClosed
	}
	if t.peer != nil {
		return protocol.ErrAlreadyConnected
	}
	t.peer = addr
	return nil
}

// RemoteAddr is the connected peer, or nil.
func (t *DatagramTransport) RemoteAddr() net.Addr { return t.peer }

// LocalAddr is the transport's address.
func (t *DatagramTransport) LocalAddr() net.Addr { return t.local }

// Loop is the transport's fake loop.
func (t *DatagramTransport) Loop() protocol.Loop { return t.loop }

// StopListening closes the transport and calls StopProtocol (once).
func (t *DatagramTransport) StopListening() error {
	if t.closed {
		return protocol.ErrClosed
	}
	t.closed = true
	t.proto.StopProtocol()
	return nil
}

// JoinGroup records the group.
func (t *DatagramTransport) JoinGroup(group net.IP, ifi *net.Interface) error {
	t.groups[group.String()] = true
	return nil
}

// LeaveGroup forgets the group.
func (t *DatagramTransport) LeaveGroup(group net.IP, ifi *net.Interface) error {
	delete(t.groups, group.String())
	return nil
}

// SetMulticastInterface records the interface.
func (t *DatagramTransport) SetMulticastInterface(ifi *net.Interface) error {
	t.multiIfce = ifi
	return nil
}

// SetMulticastTTL records the TTL.
func (t *DatagramTransport) SetMulticastTTL(ttl int) error {
	t.ttl = ttl
	return nil
}

// SetMulticastLoopback records the loopback mode.
func (t *DatagramTransport) SetMulticastLoopback(on bool) error {
	t.loopback = on
	return nil
}
