//go:build linux

package reactor

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// checkPortOwned fails with EADDRINUSE if a TCP socket other than ours
// (fds) listens on bound's port at an overlapping address. It asks the
// kernel through sock_diag (NETLINK_SOCK_DIAG, as ss(8) does) for the
// listening TCP sockets only, so its cost does not grow with the number of
// established connections, and recognises ours by socket inode. Where
// sock_diag is unavailable (some sandboxes, a kernel without inet_diag),
// the check is skipped and only the probe of listenReusePortGroup protects
// the port.
func checkPortOwned(bound unix.Sockaddr, fds []int) error {
	self, port, ok := boundAddrOf(bound)
	if !ok {
		return nil
	}
	ours := make(map[uint32]bool, len(fds))
	for _, fd := range fds {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("fstat listening socket: %w", err)
		}
		ours[uint32(st.Ino)] = true
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		listeners, err := tcpListeners(family)
		if err != nil {
			// No sock_diag here (EPROTONOSUPPORT), no inet_diag module
			// (ENOENT), no IPv6: nothing to check against, and refusing
			// to listen for that would be worse than the rare intruder.
			continue
		}
		for _, other := range listeners {
			if other.port == port && !ours[other.inode] && other.addr.overlaps(self) {
				return fmt.Errorf("%w: another socket (inode %d, %v) listens on port %d in our SO_REUSEPORT group",
					unix.EADDRINUSE, other.inode, other.addr.ip, port)
			}
		}
	}
	return nil
}

// diagListener is one listening socket as sock_diag reports it.
type diagListener struct {
	addr  boundAddr
	port  int
	inode uint32
}

// Layout of the sock_diag messages (linux/inet_diag.h), a stable ABI.
const (
	sizeofInetDiagReqV2 = 56 // family, protocol, ext, pad, states, inet_diag_sockid
	sizeofInetDiagMsg   = 72 // family, state, timer, retrans, sockid, expires, rqueue, wqueue, uid, inode
	inetDiagSKV6Only    = 11 // INET_DIAG_SKV6ONLY attribute
	tcpListenState      = 10 // TCP_LISTEN
)

// tcpListeners dumps the listening TCP sockets of one address family in
// this network namespace.
func tcpListeners(family uint8) ([]diagListener, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)

	req := make([]byte, unix.SizeofNlMsghdr+sizeofInetDiagReqV2)
	hdr := (*unix.NlMsghdr)(unsafe.Pointer(&req[0]))
	hdr.Len = uint32(len(req))
	hdr.Type = unix.SOCK_DIAG_BY_FAMILY
	hdr.Flags = unix.NLM_F_REQUEST | unix.NLM_F_DUMP
	hdr.Seq = 1
	body := req[unix.SizeofNlMsghdr:]
	body[0] = family
	body[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(body[4:8], 1<<tcpListenState)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}

	var out []diagListener
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return nil, err
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			mlen := int(binary.NativeEndian.Uint32(b[0:4]))
			mtype := binary.NativeEndian.Uint16(b[4:6])
			if mlen < unix.SizeofNlMsghdr || mlen > len(b) {
				return nil, fmt.Errorf("sock_diag: malformed netlink message")
			}
			data := b[unix.SizeofNlMsghdr:mlen]
			switch mtype {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(data) >= 4 {
					if errno := -int32(binary.NativeEndian.Uint32(data[:4])); errno != 0 {
						return nil, unix.Errno(errno)
					}
				}
				return out, nil
			case unix.SOCK_DIAG_BY_FAMILY:
				if l, ok := parseDiagMsg(data); ok {
					out = append(out, l)
				}
			}
			b = b[min((mlen+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), len(b)):]
		}
	}
}

// parseDiagMsg reads an inet_diag_msg and its attributes.
func parseDiagMsg(b []byte) (diagListener, bool) {
	if len(b) < sizeofInetDiagMsg || b[1] != tcpListenState {
		return diagListener{}, false
	}
	l := diagListener{
		port:  int(binary.BigEndian.Uint16(b[4:6])),
		inode: binary.NativeEndian.Uint32(b[68:72]),
	}
	switch b[0] {
	case unix.AF_INET:
		l.addr.ip = netip.AddrFrom4([4]byte(b[8:12]))
	case unix.AF_INET6:
		l.addr.ip = netip.AddrFrom16([16]byte(b[8:24]))
	default:
		return diagListener{}, false
	}
	for attrs := b[sizeofInetDiagMsg:]; len(attrs) >= unix.SizeofRtAttr; {
		alen := int(binary.NativeEndian.Uint16(attrs[0:2]))
		atype := binary.NativeEndian.Uint16(attrs[2:4])
		if alen < unix.SizeofRtAttr || alen > len(attrs) {
			break
		}
		if atype == inetDiagSKV6Only && alen > unix.SizeofRtAttr {
			l.addr.v6only = attrs[unix.SizeofRtAttr] != 0
		}
		attrs = attrs[min((alen+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1), len(attrs)):]
	}
	return l, true
}

// probeStaysBound: Linux binds SO_REUSEPORT sockets beside a bound socket
// that does not listen, so listenReusePortGroup's probe holds the port
// (port 0's pick included) until the group is bound.
const probeStaysBound = true
