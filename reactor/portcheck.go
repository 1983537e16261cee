package reactor

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// boundAddr is the address part of a listening socket's binding.
type boundAddr struct {
	ip     netip.Addr // IPv4 as a 4-byte address
	v6only bool       // an IPv6 socket that takes no IPv4
}

// boundAddrOf splits one of our TCP socket addresses; ours never set
// IPV6_V6ONLY (see tcpListenSocket).
func boundAddrOf(sa unix.Sockaddr) (boundAddr, int, bool) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return boundAddr{ip: netip.AddrFrom4(a.Addr)}, a.Port, true
	case *unix.SockaddrInet6:
		return boundAddr{ip: netip.AddrFrom16(a.Addr)}, a.Port, true
	}
	return boundAddr{}, 0, false
}

// overlaps reports whether two listeners on one port could both be given
// a connection to the same address, as the kernel's bind conflict check
// judges it: the same address, or a wildcard on either side, across the
// families for an IPv6 socket that also takes IPv4 (directly when it is
// bound to "::", or to an IPv4-mapped address).
func (a boundAddr) overlaps(b boundAddr) bool {
	if a.ip.Is4() == b.ip.Is4() {
		return a.ip == b.ip || a.ip.IsUnspecified() || b.ip.IsUnspecified()
	}
	v4, v6 := a, b
	if !v4.ip.Is4() {
		v4, v6 = b, a
	}
	switch {
	case v6.v6only:
		return false
	case v6.ip.IsUnspecified():
		return true
	case v6.ip.Is4In6():
		return v4.ip.IsUnspecified() || v6.ip.Unmap() == v4.ip
	}
	return false
}
