package reactor

import (
	"fmt"
	"net"
	"net/netip"

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

// resolveTCP turns "host:port" into a socket address and its family. Only
// literal IPs and "localhost" are resolved here: a reactor never blocks on
// DNS (resolve names first, on a worker, and pass the IP).
func resolveTCP(address string) (unix.Sockaddr, int, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %q: %v", ErrBadAddress, address, err)
	}
	port, err := net.LookupPort("tcp", portStr)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %q: bad port", ErrBadAddress, address)
	}
	var ip netip.Addr
	switch host {
	case "":
		ip = netip.IPv6Unspecified()
	case "localhost":
		ip = netip.MustParseAddr("127.0.0.1")
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %q: host must be an IP literal or localhost", ErrBadAddress, address)
		}
	}
	if ip.Is4() || ip.Is4In6() {
		return &unix.SockaddrInet4{Port: port, Addr: ip.Unmap().As4()}, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %q: unknown zone", ErrBadAddress, address)
		}
		sa.ZoneId = uint32(ifi.Index)
	}
	return sa, unix.AF_INET6, nil
}
