//go:build darwin || freebsd

package reactor

import (
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// udpReusePortSpreads: SO_REUSEPORT on macOS and FreeBSD hands unicast
// datagrams to one socket of the group, so ListenUDPEach makes one port.
const udpReusePortSpreads = false

// On the BSDs and macOS there is no recvmmsg/sendmmsg worth using (macOS
// has none; FreeBSD's is a libc loop): a batch is up to udpBatch
// recvfrom(2) or sendto(2) calls. unix.Recvfrom and unix.Sendto convert
// addresses through unix.Sockaddr, which allocates per datagram here.

// udpRecv is a loop's receive area: udpBatch slots and their sources.
type udpRecv struct {
	buf   []byte
	lens  [udpBatch]int
	addrs [udpBatch]netip.AddrPort
}

func newUDPRecv() *udpRecv { return &udpRecv{buf: make([]byte, udpBatch*udpSlot)} }

// recv reads up to udpBatch datagrams from fd; an error is reported only
// when none was read.
func (rx *udpRecv) recv(fd int) (int, error) {
	for i := 0; i < udpBatch; i++ {
		n, from, err := unix.Recvfrom(fd, rx.buf[i*udpSlot:(i+1)*udpSlot], 0)
		if err != nil {
			if i > 0 && err != unix.EINTR {
				// Reported again by the next call, as recvmmsg does.
				return i, nil
			}
			return i, err
		}
		rx.lens[i] = n
		rx.addrs[i] = sockaddrAddrPort(from)
	}
	return udpBatch, nil
}

// datagram returns the i-th datagram of the last batch and its source.
func (rx *udpRecv) datagram(i int) ([]byte, netip.AddrPort) {
	off := i * udpSlot
	return rx.buf[off : off+rx.lens[i]], rx.addrs[i]
}

func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr).Unmap()
		if a.ZoneId != 0 {
			ip = ip.WithZone(strconv.Itoa(int(a.ZoneId)))
		}
		return netip.AddrPortFrom(ip, uint16(a.Port))
	}
	return netip.AddrPort{}
}

// udpSender sends with sendto(2), one datagram per call.
type udpSender struct{}

func newUDPSender() *udpSender { return &udpSender{} }

// send sends the first datagrams of batch and reports how many the kernel
// took; err is for the first one it refused, only when it took none.
func (tx *udpSender) send(p *UDPPort, batch []udpOut) (int, error) {
	n := min(len(batch), udpBatch)
	for i := 0; i < n; i++ {
		o := &batch[i]
		data := p.outBuf[o.off : o.off+o.n]
		var err error
		if o.to.IsValid() {
			err = unix.Sendto(p.fd, data, 0, sockaddrOf(o.to, p.family))
		} else {
			_, err = unix.Write(p.fd, data)
		}
		if err != nil {
			if i > 0 {
				return i, nil
			}
			return 0, err
		}
	}
	return n, nil
}

// UDP sockets are watched for reading only: a UDP socket is writable
// nearly always, and each freed datagram would wake the loop for nothing.
// Writability is asked for with a one-shot filter while the kernel refuses
// datagrams (EAGAIN).

func (l *loop) watchUDP(fd int) error {
	kp, ok := l.poller.(*kqueuePoller)
	if !ok {
		return l.poller.addConn(fd)
	}
	ch := []unix.Kevent_t{{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_ADD | unix.EV_CLEAR}}
	_, err := unix.Kevent(kp.kq, ch, nil, nil)
	return err
}

// watchUDPWrite asks for one writability report for fd (off: nothing to
// do, the one-shot filter removed itself when it fired).
func (l *loop) watchUDPWrite(fd int, on bool) error {
	kp, ok := l.poller.(*kqueuePoller)
	if !ok || !on {
		return nil
	}
	ch := []unix.Kevent_t{{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: unix.EV_ADD | unix.EV_ONESHOT}}
	_, err := unix.Kevent(kp.kq, ch, nil, nil)
	return err
}
