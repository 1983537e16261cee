package reactor

import (
	"net"

	"golang.org/x/sys/unix"
)

// sockaddrToAddr converts what accept or getsockname returned into the
// net.Addr users expect (a *net.TCPAddr or *net.UnixAddr).
func sockaddrToAddr(sa unix.Sockaddr, unixSocket bool) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		addr := &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				addr.Zone = ifi.Name
			}
		}
		return addr
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	if unixSocket {
		return &net.UnixAddr{Net: "unix"}
	}
	return nil
}
