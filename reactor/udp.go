package reactor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// UDP ports: sizes and bounds.
const (
	// udpBatch is the number of datagrams one recvmmsg or sendmmsg moves.
	udpBatch = 32
	// udpSlot is a receive slot: any UDP datagram fits, so none is
	// truncated. The loop's receive area is udpBatch slots (2 MiB of
	// address space, shared by the loop's ports); only the pages that
	// datagrams touch become resident.
	udpSlot = 64 << 10
	// Largest UDP payloads (65,535 minus the IP and UDP headers).
	maxUDPPayload4 = 65507
	maxUDPPayload6 = 65527
	// Default bound of a port's send queue: what the kernel refused with
	// EAGAIN, waiting for room.
	defaultUDPQueueBytes     = 256 << 10
	defaultUDPQueueDatagrams = 1024
	// udpAddrCacheMax bounds a port's table of peer addresses.
	udpAddrCacheMax = 4096
	// udpKeepBuf: a drained send queue keeps a buffer up to this size.
	udpKeepBuf = 64 << 10
)

// Errors of UDP ports. Match them with errors.Is.
var (
	// ErrPortClosed is returned by a second UDPPort.Close.
	ErrPortClosed = errors.New("mustaine: UDP port closed")
	// ErrForeignLoop: ListenUDPOn was given a loop of another reactor.
	ErrForeignLoop = errors.New("mustaine: loop does not belong to this reactor")
)

// UDPOption configures a UDP port.
type UDPOption func(*udpConfig)

type udpConfig struct {
	readBuffer, writeBuffer int
	queueBytes, queueCount  int
	reuse                   bool // SO_REUSEADDR and SO_REUSEPORT (WithUDPReuseAddr)
	group                   bool // SO_REUSEPORT only: one socket per loop (ListenUDPEach)
}

// WithUDPBuffers sets the socket's kernel buffers (SO_RCVBUF, SO_SNDBUF);
// 0 keeps the system's default.
func WithUDPBuffers(read, write int) UDPOption {
	return func(c *udpConfig) { c.readBuffer, c.writeBuffer = read, write }
}

// WithUDPQueueLimit bounds the datagrams a port holds when the kernel's
// send buffer is full (default 256 KiB and 1,024 datagrams): a write beyond
// either bound is dropped with ErrDatagramDropped.
func WithUDPQueueLimit(bytes, datagrams int) UDPOption {
	return func(c *udpConfig) {
		if bytes > 0 {
			c.queueBytes = bytes
		}
		if datagrams > 0 {
			c.queueCount = datagrams
		}
	}
}

// WithUDPReuseAddr lets several sockets bind the same address and port
// (SO_REUSEADDR and SO_REUSEPORT), as Twisted's listenMultiple does for
// multicast receivers: each gets a copy of every multicast datagram.
func WithUDPReuseAddr() UDPOption { return func(c *udpConfig) { c.reuse = true } }

// UDPStats are a port's counters since it was opened.
type UDPStats struct {
	// Received and Sent count datagrams.
	Received, Sent uint64
	// Dropped counts writes refused because the send queue was at its
	// bound (ErrDatagramDropped).
	Dropped uint64
	// Errors counts writes refused as too long (ErrMessageTooLong),
	// queued datagrams the kernel refused for good (EMSGSIZE, ENOBUFS,
	// EACCES...) and receive errors.
	Errors uint64
	// Refused counts ICMP refusals reported on a connected port.
	Refused uint64
}

// add adds o's counters to s's.
func (s *UDPStats) add(o UDPStats) {
	s.Received += o.Received
	s.Sent += o.Sent
	s.Dropped += o.Dropped
	s.Errors += o.Errors
	s.Refused += o.Refused
}

// Port state bits, touched only on the port's loop.
const (
	uStarted   uint32 = 1 << iota // StartProtocol ran
	uClosed                       // closed on the loop: no more callbacks
	uDirty                        // on the loop's dirty list
	uWantWrite                    // the kernel refused: wait for writability
	uFlushing                     // inside flush (no re-entry)
	uConnected                    // Connect succeeded
	uReadMore                     // a read is scheduled after the budget ran out
)

// UDPPort is a UDP socket served by one DatagramProtocol on one loop
// (Twisted's udp.Port). It is the protocol's DatagramTransport and
// MulticastTransport. Its methods must be called on its loop, except Close,
// Stats, LocalAddr and Loop, which are safe from any goroutine.
type UDPPort struct {
	r      *Reactor
	l      *loop
	fd     int
	family int
	cfg    udpConfig
	proto  protocol.DatagramProtocol
	local  net.Addr

	flags  uint32
	peer   *net.UDPAddr // the connected peer
	peerAP netip.AddrPort

	// The send queue: datagrams out[outHead:], their bytes in outBuf.
	out     []udpOut
	outHead int
	outBuf  []byte
	queued  int // bytes in out[outHead:]

	addrs    map[netip.AddrPort]*net.UDPAddr
	tx       *udpSender
	readMore func()

	closing   atomic.Bool
	closeOnce sync.Once
	done      chan struct{}

	received, sent, dropped, errs, refused atomic.Uint64
}

// udpOut is one queued datagram.
type udpOut struct {
	off, n int
	to     netip.AddrPort // invalid: the connected peer
}

var _ protocol.MulticastTransport = (*UDPPort)(nil)

// loopUDP is a loop's UDP state.
type loopUDP struct {
	ports   []*UDPPort // by fd
	dirty   []*UDPPort
	rx      *udpRecv   // the receive area, made with the first port
	scratch []*UDPPort // for closeUDPPorts
	totals  udpTotals
}

// udpTotals are a loop's UDP counters: its ports' UDPStats summed, closed
// ports included, and the ports open now (LoopStats.UDP, UDPPorts).
// They are atomic, unlike the loop's other counters, because a port
// closed after Run returned makes its last flush on the closing
// goroutine, which Stats may read at the same time.
type udpTotals struct {
	received, sent, dropped, errs, refused atomic.Uint64
	open                                   atomic.Int64
}

// stats reads the totals as UDPStats.
func (t *udpTotals) stats() UDPStats {
	return UDPStats{
		Received: t.received.Load(), Sent: t.sent.Load(), Dropped: t.dropped.Load(),
		Errors: t.errs.Load(), Refused: t.refused.Load(),
	}
}

// count adds n to one of a port's counters and to the same counter of its
// loop's totals.
func count(port, total *atomic.Uint64, n uint64) {
	port.Add(n)
	total.Add(n)
}

// ListenUDP binds a UDP socket to address ("127.0.0.1:9000", "[::1]:0",
// ":0" for every interface, IPv4 and IPv6) and serves it with proto on
// loop 0. Port 0 picks a free port: see LocalAddr. The socket is bound
// before ListenUDP returns (so a port in use is an error matching
// syscall.EADDRINUSE); StartProtocol runs on the loop, before ListenUDP
// returns when called from that loop, as Twisted's listenUDP. To serve on
// another loop use ListenUDPOn.
//
// Received datagrams are read up to 32 at a time (recvmmsg(2) on Linux)
// and handed to DatagramReceived one by one; everything written meanwhile
// goes out when the batch is done, in sendmmsg(2) calls of up to 32. See
// protocol.DatagramTransport for what happens when the kernel refuses a
// write: a write never blocks the loop, and the queue of refused datagrams
// is bounded (WithUDPQueueLimit), beyond which writes are dropped with
// ErrDatagramDropped and counted in Stats. On loopback the kernel never
// refuses for want of room: Linux frees a datagram's send-buffer space as
// soon as the loopback device takes it, so an overwhelmed receiver drops
// what its receive buffer cannot hold instead, as UDP may.
//
// The reactor closes its ports when it stops (after the Before Shutdown
// triggers), calling StopProtocol.
func (r *Reactor) ListenUDP(address string, proto protocol.DatagramProtocol, opts ...UDPOption) (*UDPPort, error) {
	return r.ListenUDPOn(r.loops[0], address, proto, opts...)
}

// ListenUDPOn is ListenUDP on a chosen loop (one of r.Loops(), or a
// Transport's Loop()).
func (r *Reactor) ListenUDPOn(lp protocol.Loop, address string, proto protocol.DatagramProtocol, opts ...UDPOption) (*UDPPort, error) {
	l, ok := lp.(*loop)
	if !ok || l.r != r {
		return nil, fmt.Errorf("listen udp %s: %w", address, ErrForeignLoop)
	}
	cfg := udpConfig{queueBytes: defaultUDPQueueBytes, queueCount: defaultUDPQueueDatagrams}
	for _, o := range opts {
		o(&cfg)
	}
	sa, family, err := resolveTCP(address)
	if err != nil {
		return nil, err
	}
	if r.state.Load() >= stateStopping {
		return nil, ErrStopped
	}
	fd, err := udpSocket(family, sa, &cfg)
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", address, err)
	}
	p := newUDPPort(r, l, fd, family, proto, cfg)
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen udp %s: %w", address, err)
	}
	p.local = udpAddrOf(bound)
	p.start()
	return p, nil
}

// ListenUDPEach serves a UDP address on every loop: one socket per loop,
// all bound to the address with SO_REUSEPORT, each served by its own
// protocol from newProto (called once per loop, before ListenUDPEach
// returns, with the loop the protocol will run on). The kernel spreads
// datagrams over the sockets by a hash of the sender's address and port, so
// each peer keeps talking to one loop while the set of sockets stays the
// same, and each protocol needs no lock. The ports' LocalAddr is the same.
//
// With one loop, with WithReusePort(false), or on the BSDs and macOS
// (where SO_REUSEPORT does not spread unicast datagrams) it makes one port
// on loop 0, as ListenUDP.
//
// As for ListenTCP, the address must be free: a socket without
// SO_REUSEPORT is bound first and must succeed (it fails with EADDRINUSE
// if anything, a SO_REUSEPORT group included, holds the port), then is
// closed and the group binds where it was. A program of the same user
// that sets SO_REUSEPORT and binds the port in that moment could join the
// group; nothing else can.
func (r *Reactor) ListenUDPEach(address string, newProto func(lp protocol.Loop) protocol.DatagramProtocol, opts ...UDPOption) ([]*UDPPort, error) {
	if !r.cfg.reusePort || len(r.loops) == 1 || !udpReusePortSpreads {
		p, err := r.ListenUDPOn(r.loops[0], address, newProto(r.loops[0]), opts...)
		if err != nil {
			return nil, err
		}
		return []*UDPPort{p}, nil
	}
	cfg := udpConfig{queueBytes: defaultUDPQueueBytes, queueCount: defaultUDPQueueDatagrams}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.group = true
	sa, family, err := resolveTCP(address)
	if err != nil {
		return nil, err
	}
	if r.state.Load() >= stateStopping {
		return nil, ErrStopped
	}
	probe, err := udpSocket(family, sa, &udpConfig{})
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", address, err)
	}
	bound, err := unix.Getsockname(probe)
	unix.Close(probe)
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", address, err)
	}
	fds := make([]int, 0, len(r.loops))
	for range r.loops {
		fd, err := udpSocket(family, bound, &cfg)
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("listen udp %s: %w", address, err)
		}
		fds = append(fds, fd)
	}
	local := udpAddrOf(bound)
	ports := make([]*UDPPort, len(fds))
	for i, l := range r.loops {
		ports[i] = newUDPPort(r, l, fds[i], family, newProto(l), cfg)
		ports[i].local = local
	}
	for _, p := range ports {
		p.start()
	}
	return ports, nil
}

// udpSocket makes a bound, non-blocking UDP socket.
func udpSocket(family int, sa unix.Sockaddr, cfg *udpConfig) (int, error) {
	fd, err := sysSocket(family, unix.SOCK_DGRAM)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	if family == unix.AF_INET6 {
		// As Go's net package: "[::]:port" also receives IPv4.
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if cfg.reuse {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("SO_REUSEADDR", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("SO_REUSEPORT", err)
		}
	}
	if cfg.group && !cfg.reuse {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("SO_REUSEPORT", err)
		}
	}
	if cfg.readBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.readBuffer); err != nil {
			return fail("SO_RCVBUF", err)
		}
	}
	if cfg.writeBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.writeBuffer); err != nil {
			return fail("SO_SNDBUF", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	return fd, nil
}

func newUDPPort(r *Reactor, l *loop, fd, family int, proto protocol.DatagramProtocol, cfg udpConfig) *UDPPort {
	p := &UDPPort{
		r: r, l: l, fd: fd, family: family, cfg: cfg, proto: proto,
		addrs: make(map[netip.AddrPort]*net.UDPAddr),
		tx:    newUDPSender(),
		done:  make(chan struct{}),
	}
	p.readMore = func() {
		p.flags &^= uReadMore
		if p.flags&uClosed == 0 {
			p.l.readUDP(p)
		}
	}
	return p
}

// start hands the port to its loop: at once when called on the loop,
// otherwise through its queue.
func (p *UDPPort) start() {
	if p.r.state.Load() == stateRunning && p.l.onLoop() {
		p.l.attachUDP(p)
		return
	}
	p.l.CallFromThread(func() { p.l.attachUDP(p) })
}

// LocalAddr returns the address the port is bound to (a *net.UDPAddr, with
// the real port when port 0 was asked for).
func (p *UDPPort) LocalAddr() net.Addr { return p.local }

// RemoteAddr returns the connected peer (a *net.UDPAddr), or nil.
func (p *UDPPort) RemoteAddr() net.Addr {
	if p.peer == nil {
		return nil
	}
	return p.peer
}

func (p *UDPPort) addrString() string {
	if p.local == nil {
		return ""
	}
	return p.local.String()
}

// Loop returns the loop that owns the port.
func (p *UDPPort) Loop() protocol.Loop { return p.l }

// Stats returns the port's counters; safe from any goroutine.
func (p *UDPPort) Stats() UDPStats {
	return UDPStats{
		Received: p.received.Load(), Sent: p.sent.Load(), Dropped: p.dropped.Load(),
		Errors: p.errs.Load(), Refused: p.refused.Load(),
	}
}

// StopListening closes the port; see Close.
func (p *UDPPort) StopListening() error { return p.Close() }

// Close closes the port from any goroutine, its own loop's included: the
// datagrams still queued get one last attempt to go out, the socket is
// closed and StopProtocol has been called (on the port's loop while it
// runs) when Close returns, so binding the address again succeeds at once.
// The one exception is a call from another loop of the reactor: waiting
// there could deadlock two loops closing each other's ports, so the close
// is queued on the port's loop and Close returns at once (writes fail with
// protocol.ErrClosed from then on; the socket closes and StopProtocol runs
// on the port's loop's next turn). A second Close returns ErrPortClosed.
func (p *UDPPort) Close() error {
	if p.closing.Swap(true) {
		return ErrPortClosed
	}
	l := p.l
	if l.onLoop() {
		l.closeUDP(p)
		return nil
	}
	if s := p.r.state.Load(); s == stateRunning || s == stateStopping {
		l.CallFromThread(func() { l.closeUDP(p) })
		if p.r.onSomeLoop() {
			return nil
		}
		select {
		case <-p.done:
			return nil
		case <-l.done:
			// The loop returned before it ran the call: nothing else
			// touches the port now.
		}
	}
	l.closeUDP(p)
	return nil
}

// Write queues data for the connected peer; see
// protocol.DatagramTransport.
func (p *UDPPort) Write(data []byte) (int, error) {
	if p.flags&uConnected == 0 {
		return 0, protocol.ErrNotConnected
	}
	return p.queue(data, netip.AddrPort{})
}

// WriteTo queues data for addr; see protocol.DatagramTransport.
func (p *UDPPort) WriteTo(data []byte, addr net.Addr) (int, error) {
	if p.flags&uConnected != 0 {
		if addr == nil {
			return p.queue(data, netip.AddrPort{})
		}
		to, err := p.destination(addr)
		if err != nil {
			return 0, err
		}
		if to != p.peerAP {
			return 0, fmt.Errorf("%w: to %v, not %v", protocol.ErrAlreadyConnected, addr, p.peer)
		}
		return p.queue(data, netip.AddrPort{})
	}
	if addr == nil {
		return 0, protocol.ErrNotConnected
	}
	to, err := p.destination(addr)
	if err != nil {
		return 0, err
	}
	return p.queue(data, to)
}

// destination converts a user's address to the AddrPort the queue keeps,
// without allocating for a *net.UDPAddr.
func (p *UDPPort) destination(addr net.Addr) (netip.AddrPort, error) {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.Port <= 0 || a.Port > 0xffff {
			return ap, fmt.Errorf("%w: %v", ErrBadAddress, addr)
		}
		ip = ip.Unmap()
		if a.Zone != "" {
			ip = ip.WithZone(a.Zone)
		}
		ap = netip.AddrPortFrom(ip, uint16(a.Port))
	default:
		var err error
		if ap, err = netip.ParseAddrPort(addr.String()); err != nil || ap.Port() == 0 {
			return ap, fmt.Errorf("%w: %v: want an IP literal and a port", ErrBadAddress, addr)
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if p.family == unix.AF_INET && !ap.Addr().Is4() {
		return ap, fmt.Errorf("%w: %v: an IPv6 peer for an IPv4 port", ErrBadAddress, addr)
	}
	return ap, nil
}

// queue appends one datagram to the send queue, sending a full batch at
// once, and dropping the datagram when the kernel is full and the queue is
// at its bound.
func (p *UDPPort) queue(data []byte, to netip.AddrPort) (int, error) {
	if p.flags&uClosed != 0 || p.closing.Load() {
		return 0, protocol.ErrClosed
	}
	dst := to
	if !dst.IsValid() {
		dst = p.peerAP
	}
	limit := maxUDPPayload4
	if p.family == unix.AF_INET6 && !dst.Addr().Is4() {
		limit = maxUDPPayload6
	}
	if len(data) > limit {
		count(&p.errs, &p.l.udp.totals.errs, 1)
		return 0, fmt.Errorf("%w: %d bytes, at most %d", protocol.ErrMessageTooLong, len(data), limit)
	}
	n := len(p.out) - p.outHead
	if p.flags&uWantWrite == 0 && (n >= udpBatch || n >= p.cfg.queueCount || p.queued+len(data) > p.cfg.queueBytes) {
		p.l.flushUDPPort(p)
		n = len(p.out) - p.outHead
	}
	if n >= p.cfg.queueCount || p.queued+len(data) > p.cfg.queueBytes {
		count(&p.dropped, &p.l.udp.totals.dropped, 1)
		return 0, protocol.ErrDatagramDropped
	}
	if p.outHead > 0 && (len(p.outBuf)+len(data) > p.cfg.queueBytes || len(p.out) >= p.cfg.queueCount) {
		p.compact()
	}
	p.out = append(p.out, udpOut{off: len(p.outBuf), n: len(data), to: to})
	p.outBuf = append(p.outBuf, data...)
	p.queued += len(data)
	p.l.markUDPDirty(p)
	return len(data), nil
}

// compact moves the unsent datagrams to the front of the queue, so that
// its memory follows the unsent bytes.
func (p *UDPPort) compact() {
	rest := p.out[p.outHead:]
	base := rest[0].off
	copy(p.outBuf, p.outBuf[base:])
	p.outBuf = p.outBuf[:len(p.outBuf)-base]
	for i := range rest {
		rest[i].off -= base
	}
	p.out = p.out[:copy(p.out, rest)]
	p.outHead = 0
}

// Connect makes the port a connected one; see protocol.DatagramTransport.
func (p *UDPPort) Connect(addr net.Addr) error {
	if p.flags&uClosed != 0 {
		return protocol.ErrClosed
	}
	if p.flags&uConnected != 0 {
		return protocol.ErrAlreadyConnected
	}
	if addr == nil {
		return fmt.Errorf("%w: nil", ErrBadAddress)
	}
	ap, err := p.destination(addr)
	if err != nil {
		return err
	}
	if err := unix.Connect(p.fd, sockaddrOf(ap, p.family)); err != nil {
		return fmt.Errorf("connect udp %v: %w", addr, err)
	}
	p.peerAP = ap
	p.peer = net.UDPAddrFromAddrPort(ap)
	p.flags |= uConnected
	return nil
}

// addrFor returns the shared *net.UDPAddr for a peer.
func (p *UDPPort) addrFor(ap netip.AddrPort) net.Addr {
	if !ap.IsValid() {
		if p.peer != nil {
			return p.peer
		}
		return nil
	}
	if a, ok := p.addrs[ap]; ok {
		return a
	}
	if len(p.addrs) >= udpAddrCacheMax {
		clear(p.addrs)
	}
	a := net.UDPAddrFromAddrPort(ap)
	p.addrs[ap] = a
	return a
}

// JoinGroup joins a multicast group; see protocol.MulticastTransport.
func (p *UDPPort) JoinGroup(group net.IP, ifi *net.Interface) error {
	return p.membership(group, ifi, true)
}

// LeaveGroup leaves a multicast group; see protocol.MulticastTransport.
func (p *UDPPort) LeaveGroup(group net.IP, ifi *net.Interface) error {
	return p.membership(group, ifi, false)
}

func (p *UDPPort) membership(group net.IP, ifi *net.Interface, join bool) error {
	if !group.IsMulticast() {
		return fmt.Errorf("%w: %v is not a multicast group", ErrBadAddress, group)
	}
	if g4 := group.To4(); g4 != nil {
		mreq := &unix.IPMreq{Multiaddr: [4]byte(g4)}
		if ifi != nil {
			a, err := interfaceIPv4(ifi)
			if err != nil {
				return err
			}
			mreq.Interface = a
		}
		opt := unix.IP_ADD_MEMBERSHIP
		if !join {
			opt = unix.IP_DROP_MEMBERSHIP
		}
		return wrapSockopt("IP_ADD_MEMBERSHIP", unix.SetsockoptIPMreq(p.fd, unix.IPPROTO_IP, opt, mreq))
	}
	mreq := &unix.IPv6Mreq{Multiaddr: [16]byte(group.To16())}
	if ifi != nil {
		mreq.Interface = uint32(ifi.Index)
	}
	opt := unix.IPV6_JOIN_GROUP
	if !join {
		opt = unix.IPV6_LEAVE_GROUP
	}
	return wrapSockopt("IPV6_JOIN_GROUP", unix.SetsockoptIPv6Mreq(p.fd, unix.IPPROTO_IPV6, opt, mreq))
}

// SetMulticastInterface sets the interface multicast datagrams leave from.
func (p *UDPPort) SetMulticastInterface(ifi *net.Interface) error {
	if p.family == unix.AF_INET6 {
		return wrapSockopt("IPV6_MULTICAST_IF", unix.SetsockoptInt(p.fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index))
	}
	a, err := interfaceIPv4(ifi)
	if err != nil {
		return err
	}
	return wrapSockopt("IP_MULTICAST_IF", unix.SetsockoptInet4Addr(p.fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, a))
}

// SetMulticastTTL sets the TTL of multicast datagrams sent (default 1).
func (p *UDPPort) SetMulticastTTL(ttl int) error {
	if ttl < 0 || ttl > 255 {
		return fmt.Errorf("%w: TTL %d", ErrBadAddress, ttl)
	}
	if p.family == unix.AF_INET6 {
		return wrapSockopt("IPV6_MULTICAST_HOPS", unix.SetsockoptInt(p.fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, ttl))
	}
	// A byte: the BSDs take only a u_char, Linux either.
	return wrapSockopt("IP_MULTICAST_TTL", unix.SetsockoptByte(p.fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, byte(ttl)))
}

// SetMulticastLoopback sets whether multicast datagrams sent are delivered
// to this host's own members too (default on).
func (p *UDPPort) SetMulticastLoopback(on bool) error {
	v := 0
	if on {
		v = 1
	}
	if p.family == unix.AF_INET6 {
		return wrapSockopt("IPV6_MULTICAST_LOOP", unix.SetsockoptInt(p.fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, v))
	}
	return wrapSockopt("IP_MULTICAST_LOOP", unix.SetsockoptByte(p.fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, byte(v)))
}

func wrapSockopt(name string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// interfaceIPv4 is ifi's first IPv4 address, which IPv4 multicast options
// name an interface by.
func interfaceIPv4(ifi *net.Interface) ([4]byte, error) {
	if ifi == nil {
		return [4]byte{}, nil
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return [4]byte{}, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil {
				return [4]byte(v4), nil
			}
		}
	}
	return [4]byte{}, fmt.Errorf("%w: interface %s has no IPv4 address", ErrBadAddress, ifi.Name)
}

// udpAddrOf converts getsockname's answer to a *net.UDPAddr.
func udpAddrOf(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.UDPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		addr := &net.UDPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
		if a.ZoneId != 0 {
			addr.Zone = strconv.Itoa(int(a.ZoneId))
		}
		return addr
	}
	return nil
}

// sockaddrOf converts an AddrPort for a socket of family.
func sockaddrOf(ap netip.AddrPort, family int) unix.Sockaddr {
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16(), ZoneId: zoneIndex(ap.Addr().Zone())}
}

// zoneIndex is the interface index an IPv6 zone names.
func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if n, err := strconv.Atoi(zone); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// onSomeLoop reports whether the caller is one of the reactor's loops.
func (r *Reactor) onSomeLoop() bool {
	id := currentGoroutineID()
	for _, l := range r.loops {
		if l.gid.Load() == id {
			return true
		}
	}
	return false
}

// attachUDP registers a port on this loop and starts its protocol; a port
// closed meanwhile, or arriving during a shutdown, is closed instead.
func (l *loop) attachUDP(p *UDPPort) {
	if p.closing.Load() || l.shutdown != nil {
		l.closeUDP(p)
		return
	}
	if err := l.watchUDP(p.fd); err != nil {
		l.log.Error().Err(err).Str("addr", p.addrString()).Msg("cannot watch UDP port")
		l.closeUDP(p)
		return
	}
	for p.fd >= len(l.udp.ports) {
		l.udp.ports = append(l.udp.ports, make([]*UDPPort, len(l.udp.ports)+16)...)
	}
	l.udp.ports[p.fd] = p
	l.udp.totals.open.Add(1)
	if l.udp.rx == nil {
		l.udp.rx = newUDPRecv()
	}
	p.flags |= uStarted
	l.guard(nil, func() { p.proto.StartProtocol(p) })
	l.flushUDPPort(p)
}

// closeUDP closes a port: one last flush, the socket, StopProtocol. It runs
// once; on the port's loop, or anywhere once the loop has returned.
func (l *loop) closeUDP(p *UDPPort) {
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		if p.flags&uStarted != 0 && p.flags&uWantWrite == 0 {
			l.flushUDPPort(p)
		}
		p.flags |= uClosed
		if p.fd < len(l.udp.ports) && l.udp.ports[p.fd] == p {
			l.udp.ports[p.fd] = nil
			l.udp.totals.open.Add(-1)
		}
		if l.forgetFD != nil {
			l.forgetFD(p.fd)
		}
		unix.Close(p.fd) // closing also removes it from the poller
		p.out, p.outBuf, p.outHead, p.queued = nil, nil, 0, 0
		if p.flags&uStarted != 0 {
			l.guard(nil, p.proto.StopProtocol)
		}
		close(p.done)
	})
}

// closeUDPPorts closes every port of this loop (at shutdown).
func (l *loop) closeUDPPorts() {
	ports := l.udp.scratch[:0]
	for _, p := range l.udp.ports {
		if p != nil {
			ports = append(ports, p)
		}
	}
	for i, p := range ports {
		l.closeUDP(p)
		ports[i] = nil
	}
	l.udp.scratch = ports[:0]
}

// udpEvent handles readiness of a UDP port.
func (l *loop) udpEvent(p *UDPPort, flags uint32) {
	if flags&evWrite != 0 && p.flags&uWantWrite != 0 {
		p.flags &^= uWantWrite
		l.flushUDPPort(p)
		if p.flags&(uWantWrite|uClosed) == 0 {
			l.watchUDPWrite(p.fd, false)
		}
		if p.flags&uClosed != 0 {
			return
		}
	}
	if flags&evRead != 0 {
		l.readUDP(p)
	}
}

// readUDP reads batches of datagrams until the socket is drained (a short
// batch: edge-triggered, a new datagram makes a new edge) or the port's
// fair share is used, delivers them, and sends what the protocol wrote.
func (l *loop) readUDP(p *UDPPort) {
	rx := l.udp.rx
	for i := 0; ; i++ {
		if i == maxReadsPerEvent {
			// Fairness: go on after the other ready sockets.
			if p.flags&uReadMore == 0 {
				p.flags |= uReadMore
				l.CallSoon(p.readMore)
			}
			break
		}
		n, err := rx.recv(p.fd)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			if err == unix.ECONNREFUSED {
				l.udpRefused(p)
				if p.flags&uClosed != 0 {
					return
				}
				continue
			}
			if err != unix.EAGAIN {
				count(&p.errs, &p.l.udp.totals.errs, 1)
				l.log.Debug().Err(err).Str("addr", p.addrString()).Msg("UDP receive failed")
			}
			break
		}
		count(&p.received, &p.l.udp.totals.received, uint64(n))
		for j := 0; j < n; {
			j = l.deliverDatagrams(p, rx, j, n)
		}
		if p.flags&uClosed != 0 {
			return
		}
		if n < udpBatch {
			break
		}
	}
	l.flushUDPPort(p)
}

// deliverDatagrams calls DatagramReceived for datagrams i to n-1 and
// returns where it stopped: n, or after one that panicked (logged; the
// port goes on, as in Twisted).
func (l *loop) deliverDatagrams(p *UDPPort, rx *udpRecv, i, n int) (next int) {
	defer func() {
		if v := recover(); v != nil {
			l.panicked(nil, v)
			next = i + 1
		}
	}()
	for ; i < n; i++ {
		if p.flags&uClosed != 0 {
			return n
		}
		data, from := rx.datagram(i)
		p.proto.DatagramReceived(data, p.addrFor(from))
	}
	return n
}

// udpRefused reports an ICMP refusal to a connected port's protocol.
func (l *loop) udpRefused(p *UDPPort) {
	count(&p.refused, &p.l.udp.totals.refused, 1)
	if r, ok := p.proto.(protocol.ConnectionRefuser); ok && p.flags&uConnected != 0 {
		l.guard(nil, r.ConnectionRefused)
	}
}

// markUDPDirty puts p on the list flushed at the end of this turn.
func (l *loop) markUDPDirty(p *UDPPort) {
	if p.flags&uDirty == 0 {
		p.flags |= uDirty
		l.udp.dirty = append(l.udp.dirty, p)
	}
}

// flushUDP sends what the loop's ports queued outside their own read
// batches (from timers, queued calls, other sockets' callbacks).
func (l *loop) flushUDP() {
	if len(l.udp.dirty) == 0 {
		return
	}
	for round := 0; round < 4 && len(l.udp.dirty) > 0; round++ {
		batch := l.udp.dirty
		l.udp.dirty = nil
		for i, p := range batch {
			batch[i] = nil
			p.flags &^= uDirty
			l.flushUDPPort(p)
		}
		if l.udp.dirty == nil {
			l.udp.dirty = batch[:0]
		}
	}
	if len(l.udp.dirty) > 0 {
		// Flushing keeps making more (refusal hooks writing): go on
		// after the loop's other work, without sleeping first.
		l.CallSoon(l.flushUDP)
	}
}

// flushUDPPort sends the port's queue, a batch per system call, until it
// is empty or the kernel refuses for want of room (then the writability
// event resumes it). A datagram the kernel refuses for another reason is
// dropped alone and counted.
func (l *loop) flushUDPPort(p *UDPPort) {
	if p.flags&(uWantWrite|uFlushing|uClosed) != 0 || p.outHead == len(p.out) {
		return
	}
	p.flags |= uFlushing
	for p.outHead < len(p.out) {
		batch := p.out[p.outHead:min(len(p.out), p.outHead+udpBatch)]
		sent, err := p.tx.send(p, batch)
		for _, o := range batch[:sent] {
			p.queued -= o.n
		}
		p.outHead += sent
		count(&p.sent, &p.l.udp.totals.sent, uint64(sent))
		if err == nil {
			continue
		}
		if err == unix.EAGAIN {
			p.flags |= uWantWrite
			if err := l.watchUDPWrite(p.fd, true); err != nil {
				l.log.Error().Err(err).Str("addr", p.addrString()).Msg("cannot watch UDP port for writing")
			}
			break
		}
		if err == unix.EINTR {
			continue
		}
		// The datagram at the head is refused for good.
		p.queued -= p.out[p.outHead].n
		p.outHead++
		if err == unix.ECONNREFUSED {
			l.udpRefused(p)
			if p.flags&uClosed != 0 {
				return
			}
			continue
		}
		count(&p.errs, &p.l.udp.totals.errs, 1)
		l.log.Debug().Err(err).Str("addr", p.addrString()).Msg("UDP datagram refused by the kernel; dropped")
	}
	if p.outHead == len(p.out) {
		p.out, p.outHead, p.queued = p.out[:0], 0, 0
		if cap(p.outBuf) > udpKeepBuf {
			p.outBuf = nil
		} else {
			p.outBuf = p.outBuf[:0]
		}
	}
	p.flags &^= uFlushing
}
