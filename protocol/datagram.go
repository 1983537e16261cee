package protocol

import (
	"errors"
	"net"
)

// DatagramProtocol handles the datagrams of one UDP port, as Twisted's
// DatagramProtocol does. There is one instance per port (not per peer), and
// every method runs on the port's loop goroutine, one at a time.
type DatagramProtocol interface {
	// StartProtocol is called once, when the port is ready, before any
	// DatagramReceived (Twisted's startProtocol). t stays valid until
	// StopProtocol returns.
	StartProtocol(t DatagramTransport)
	// DatagramReceived is called with each datagram and the address it came
	// from. data is only valid during the call: keep a copy of what must
	// outlive it. addr may be kept, but must not be modified (the port
	// shares one *net.UDPAddr per peer between calls).
	DatagramReceived(data []byte, addr net.Addr)
	// StopProtocol is called once, when the port has stopped listening
	// (Twisted's stopProtocol).
	StopProtocol()
}

// ConnectionRefuser is implemented by a DatagramProtocol that wants to
// know when a connected port's peer refused a datagram (Twisted's
// connectionRefused): the kernel got an ICMP port unreachable for a
// datagram sent earlier, and reported it on a later send or receive. It is
// only called on a connected port (DatagramTransport.Connect); the kernel
// does not report refusals to an unconnected one.
type ConnectionRefuser interface {
	// ConnectionRefused is called on the port's loop, once per refusal
	// the kernel reports; the port stays open.
	ConnectionRefused()
}

// DatagramTransport is a UDP port as its DatagramProtocol sees it. Every
// method must be called from the port's loop goroutine; from another
// goroutine use Loop().CallFromThread.
//
// Writes never block and never grow memory without bound. A datagram is
// copied into the port's queue and sent together with the others written
// while the port's batch of received datagrams is handled (or during the
// loop's turn, for writes from timers and queued calls): one sendmmsg(2)
// per 32 datagrams on Linux. Only what the kernel refuses with EAGAIN stays
// queued, up to a bound in bytes and in datagrams; a write beyond the bound
// is dropped: it returns an error matching ErrDatagramDropped and the
// port's drop counter grows. (Twisted drops a datagram at the first
// EAGAIN.) A datagram larger than UDP allows (65,507 bytes of payload over
// IPv4, 65,527 over IPv6) returns an error matching ErrMessageTooLong at
// once, and nothing else is lost. An error the kernel gives later, when the
// queue is sent, for one datagram (EMSGSIZE for a route's MTU with
// don't-fragment set, EACCES, ENETUNREACH) cannot be returned by its Write,
// which has returned: that datagram alone is dropped and counted, and the
// rest of the queue goes out.
type DatagramTransport interface {
	// WriteTo queues data for addr (Twisted's transport.write(data, addr))
	// and returns len(data), nil. It copies data, so data may be reused at
	// once. addr must be a *net.UDPAddr or an address whose String is an IP
	// literal and port. On a connected port, addr must be nil or the
	// connected peer.
	WriteTo(data []byte, addr net.Addr) (int, error)
	// Write queues data for the connected peer (Twisted's
	// transport.write(data) after connect). On a port that is not
	// connected it returns ErrNotConnected.
	Write(data []byte) (int, error)
	// Connect limits the port to one peer (Twisted's transport.connect):
	// from then on only datagrams from addr are received, Write sends to
	// it, and refusals are reported with ConnectionRefused. addr must be
	// an IP literal with a port; a port connects once.
	Connect(addr net.Addr) error
	// RemoteAddr is the connected peer, or nil.
	RemoteAddr() net.Addr
	// LocalAddr is the address the port is bound to.
	LocalAddr() net.Addr
	// Loop is the event loop that owns the port.
	Loop() Loop
	// StopListening closes the port (Twisted's stopListening): the socket
	// is closed and StopProtocol is called before it returns.
	StopListening() error
}

// MulticastTransport is a DatagramTransport that can join multicast groups
// (Twisted's IMulticastTransport). A UDP port implements it.
type MulticastTransport interface {
	DatagramTransport
	// JoinGroup joins the multicast group on the interface ifi (nil: the
	// one the kernel picks for the group's route).
	JoinGroup(group net.IP, ifi *net.Interface) error
	// LeaveGroup leaves a group joined with JoinGroup.
	LeaveGroup(group net.IP, ifi *net.Interface) error
	// SetMulticastInterface sets the interface multicast datagrams are sent
	// from.
	SetMulticastInterface(ifi *net.Interface) error
	// SetMulticastTTL sets the TTL (hop limit) of multicast datagrams sent;
	// the default is 1, the local network only.
	SetMulticastTTL(ttl int) error
	// SetMulticastLoopback sets whether multicast datagrams sent are also
	// delivered to this host's own members of the group (default on).
	SetMulticastLoopback(on bool) error
}

// Errors of datagram transports. Match them with errors.Is.
var (
	// ErrDatagramDropped: the kernel's send buffer is full and the port's
	// queue is at its bound, so the datagram was dropped.
	ErrDatagramDropped = errors.New("mustaine: datagram dropped: send queue full")
	// ErrMessageTooLong: the datagram is larger than UDP allows (EMSGSIZE).
	ErrMessageTooLong = errors.New("mustaine: datagram too long")
	// ErrNotConnected: Write on a port that is not connected.
	ErrNotConnected = errors.New("mustaine: datagram port not connected")
	// ErrAlreadyConnected: a second Connect, or WriteTo a peer other than
	// the connected one.
	ErrAlreadyConnected = errors.New("mustaine: datagram port already connected")
)

// DatagramBase is an embeddable DatagramProtocol with no-op methods that
// keeps the transport in its Transport field. Embed it and override only
// what you need.
type DatagramBase struct {
	// Transport is set by StartProtocol.
	Transport DatagramTransport
}

// StartProtocol stores t in b.Transport.
func (b *DatagramBase) StartProtocol(t DatagramTransport) { b.Transport = t }

// DatagramReceived discards the datagram.
func (b *DatagramBase) DatagramReceived(data []byte, addr net.Addr) {}

// StopProtocol does nothing.
func (b *DatagramBase) StopProtocol() {}
