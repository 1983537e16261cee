//go:build linux

package reactor

import (
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpReusePortSpreads: Linux spreads the datagrams of a SO_REUSEPORT
// group over its sockets by a hash of the sender (ListenUDPEach).
const udpReusePortSpreads = true

// mmsghdr is struct mmsghdr (x/sys/unix has no recvmmsg or sendmmsg): a
// msghdr and the byte count the kernel fills in. Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpRecv is a loop's receive area for recvmmsg(2): udpBatch headers,
// slots and source addresses, made once and reused for every batch, so
// receiving allocates nothing.
type udpRecv struct {
	hdrs  [udpBatch]mmsghdr
	iovs  [udpBatch]unix.Iovec
	names [udpBatch]unix.RawSockaddrAny
	buf   []byte
}

func newUDPRecv() *udpRecv {
	rx := &udpRecv{buf: make([]byte, udpBatch*udpSlot)}
	for i := range rx.hdrs {
		rx.iovs[i].Base = &rx.buf[i*udpSlot]
		rx.iovs[i].SetLen(udpSlot)
		h := &rx.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&rx.names[i]))
		h.Iov = &rx.iovs[i]
		h.SetIovlen(1)
	}
	return rx
}

// recv reads up to udpBatch datagrams from fd.
func (rx *udpRecv) recv(fd int) (int, error) {
	for i := range rx.hdrs {
		rx.hdrs[i].hdr.Namelen = unix.SizeofSockaddrAny
		rx.hdrs[i].hdr.Flags = 0
	}
	// Non-blocking: RawSyscall, as sysRead.
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(&rx.hdrs[0])), udpBatch, unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// datagram returns the i-th datagram of the last batch and its source.
func (rx *udpRecv) datagram(i int) ([]byte, netip.AddrPort) {
	h := &rx.hdrs[i]
	off := i * udpSlot
	data := rx.buf[off : off+min(int(h.n), udpSlot)]
	if h.hdr.Namelen == 0 {
		return data, netip.AddrPort{}
	}
	return data, rawAddrPort(&rx.names[i])
}

// rawAddrPort converts a kernel socket address without allocating (except
// for an IPv6 zone).
func rawAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		port := (*[2]byte)(unsafe.Pointer(&a.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(port[0])<<8|uint16(port[1]))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		port := (*[2]byte)(unsafe.Pointer(&a.Port))
		ip := netip.AddrFrom16(a.Addr).Unmap()
		if a.Scope_id != 0 {
			ip = ip.WithZone(strconv.Itoa(int(a.Scope_id)))
		}
		return netip.AddrPortFrom(ip, uint16(port[0])<<8|uint16(port[1]))
	}
	return netip.AddrPort{}
}

// udpSender is a port's sendmmsg(2) batch: headers, vectors and
// destination addresses, made with the port and reused.
type udpSender struct {
	hdrs  [udpBatch]mmsghdr
	iovs  [udpBatch]unix.Iovec
	names [udpBatch]unix.RawSockaddrInet6 // an IPv4 address fits too
}

func newUDPSender() *udpSender { return &udpSender{} }

// send sends the first datagrams of batch (at most udpBatch) with one
// sendmmsg and reports how many the kernel took; err is for the first
// one it refused, only when it took none (as sendmmsg reports).
func (tx *udpSender) send(p *UDPPort, batch []udpOut) (int, error) {
	n := min(len(batch), udpBatch)
	for i := 0; i < n; i++ {
		o := &batch[i]
		if o.n > 0 {
			tx.iovs[i].Base = &p.outBuf[o.off]
		} else {
			tx.iovs[i].Base = nil
		}
		tx.iovs[i].SetLen(o.n)
		h := &tx.hdrs[i].hdr
		h.Iov = &tx.iovs[i]
		h.SetIovlen(1)
		if o.to.IsValid() {
			h.Name = (*byte)(unsafe.Pointer(&tx.names[i]))
			h.Namelen = putRawSockaddr(&tx.names[i], o.to, p.family)
		} else {
			h.Name, h.Namelen = nil, 0
		}
	}
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(p.fd),
		uintptr(unsafe.Pointer(&tx.hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// putRawSockaddr writes ap as a kernel address for a socket of family (an
// IPv4 peer of an IPv6 socket becomes ::ffff:a.b.c.d) and returns its
// length.
func putRawSockaddr(raw *unix.RawSockaddrInet6, ap netip.AddrPort, family int) uint32 {
	port := ap.Port()
	if family == unix.AF_INET {
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		a.Family = unix.AF_INET
		pb := (*[2]byte)(unsafe.Pointer(&a.Port))
		pb[0], pb[1] = byte(port>>8), byte(port)
		a.Addr = ap.Addr().As4()
		a.Zero = [8]uint8{}
		return unix.SizeofSockaddrInet4
	}
	raw.Family = unix.AF_INET6
	pb := (*[2]byte)(unsafe.Pointer(&raw.Port))
	pb[0], pb[1] = byte(port>>8), byte(port)
	raw.Flowinfo = 0
	raw.Addr = ap.Addr().As16()
	raw.Scope_id = zoneIndex(ap.Addr().Zone())
	return unix.SizeofSockaddrInet6
}

// UDP sockets are watched for reading only, edge-triggered: unlike TCP,
// a UDP socket reports writability each time the kernel frees a sent
// datagram (on loopback, at once), so with EPOLLOUT always on, every send
// woke the loop once more for nothing (measured: 1.56 loop turns per
// ping-pong instead of 1). Writability is asked for only while the kernel
// refuses datagrams (EAGAIN), one epoll_ctl on and one off per episode.

func (l *loop) watchUDP(fd int) error {
	ep, ok := epollOf(l.poller)
	if !ok {
		return l.poller.addConn(fd)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}
	return unix.EpollCtl(ep.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// watchUDPWrite turns writability reports for fd on or off.
func (l *loop) watchUDPWrite(fd int, on bool) error {
	ep, ok := epollOf(l.poller)
	if !ok {
		return nil // registered for both directions
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}
	if on {
		// If room appeared meanwhile, EPOLL_CTL_MOD reports it at once.
		ev.Events |= unix.EPOLLOUT
	}
	return unix.EpollCtl(ep.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}
