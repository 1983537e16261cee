package reactor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLookupFailed is the failure of a connect or listen whose host name
// could not be resolved. The resolver's own error is joined to it, so
// errors.As finds the *net.DNSError.
var ErrLookupFailed = errors.New("mustaine: host name lookup failed")

// ErrLookupOnLoop is returned by ListenTCP given a host name on a loop
// goroutine: the lookup would block the loop. Pass an IP literal, or call
// it from another goroutine (before Run, say).
var ErrLookupOnLoop = errors.New("mustaine: host name lookup would block a loop")

// Resolver looks up host names; *net.Resolver satisfies it (see
// WithResolver).
type Resolver interface {
	// LookupNetIP returns the addresses of host; network is "ip".
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// WithResolver sets the resolver that ListenTCP and ConnectTCP use for
// host names (default net.DefaultResolver). Lookups never run on a loop:
// a connect looks its name up on the reactor's worker pool and goes on
// on its loop with the result.
func WithResolver(res Resolver) Option {
	return func(c *config) {
		if res != nil {
			c.resolver = res
		}
	}
}

// defaultLookupTimeout bounds a lookup made for a connect without a
// timeout, so that a stuck resolver cannot hold a worker forever.
const defaultLookupTimeout = 30 * time.Second

// HostAddr is the destination of a connect to a host name, before it is
// resolved: what a protocol.ClientFactory's StartedConnecting gets (and
// ClientConnectionFailed, when no address could be connected); BuildProtocol
// and ClientConnectionLost get the *net.TCPAddr actually connected.
type HostAddr struct {
	// Host is the host name as given.
	Host string
	// Port is the TCP port.
	Port int
}

// Network returns "tcp".
func (a *HostAddr) Network() string { return "tcp" }

// String returns "host:port".
func (a *HostAddr) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// tcpTarget is a parsed "host:port": either an address (sa) or a name to
// look up.
type tcpTarget struct {
	sa     unix.Sockaddr
	family int
	host   string // set when a lookup is needed
	port   int
}

// parseTCP splits "host:port" into an IP address or a host name to look
// up. An empty host is the unspecified address (all interfaces).
func parseTCP(address string) (tcpTarget, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return tcpTarget{}, fmt.Errorf("%w: %q: %v", ErrBadAddress, address, err)
	}
	port, err := net.LookupPort("tcp", portStr)
	if err != nil {
		return tcpTarget{}, fmt.Errorf("%w: %q: bad port", ErrBadAddress, address)
	}
	if host == "" {
		return tcpTarget{sa: &unix.SockaddrInet6{Port: port}, family: unix.AF_INET6, port: port}, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if !validHostName(host) {
			return tcpTarget{}, fmt.Errorf("%w: %q: bad host name", ErrBadAddress, address)
		}
		return tcpTarget{host: host, port: port}, nil
	}
	sa, family, err := ipSockaddr(ip, port)
	if err != nil {
		return tcpTarget{}, fmt.Errorf("%w: %q: %v", ErrBadAddress, address, err)
	}
	return tcpTarget{sa: sa, family: family, port: port}, nil
}

// validHostName is a loose check (letters, digits, '-', '_', '.'), enough to
// refuse what no resolver could answer.
func validHostName(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ipSockaddr is the socket address of ip and port.
func ipSockaddr(ip netip.Addr, port int) (unix.Sockaddr, int, error) {
	if ip.Is4() || ip.Is4In6() {
		return &unix.SockaddrInet4{Port: port, Addr: ip.Unmap().As4()}, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return nil, 0, fmt.Errorf("unknown zone %q", z)
		}
		sa.ZoneId = uint32(ifi.Index)
	}
	return sa, unix.AF_INET6, nil
}

// interleave orders looked-up addresses for connecting as RFC 8305
// (Happy Eyeballs v2) section 4 does: alternating address families,
// starting with the family of the resolver's first answer, each family in
// the resolver's order.
func interleave(ips []netip.Addr) []netip.Addr {
	if len(ips) == 0 {
		return nil
	}
	first := ips[0].Unmap().Is4()
	var a, b []netip.Addr
	for _, ip := range ips {
		if ip.Unmap().Is4() == first {
			a = append(a, ip)
		} else {
			b = append(b, ip)
		}
	}
	out := make([]netip.Addr, 0, len(ips))
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

// lookupError is the failure of a lookup of host: err joined with
// ErrLookupFailed, or a not-found *net.DNSError when there was no address.
func lookupError(host string, ips []netip.Addr, err error) error {
	if err == nil && len(ips) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return fmt.Errorf("%w: %w", ErrLookupFailed, err)
}

// lookupNow resolves host in the calling goroutine for ListenTCP, which
// binds the first address. It refuses to run on a loop.
func (r *Reactor) lookupNow(host string) (netip.Addr, error) {
	for _, l := range r.loops {
		if l.onLoop() {
			return netip.Addr{}, ErrLookupOnLoop
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultLookupTimeout)
	defer cancel()
	ips, err := r.cfg.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, lookupError(host, ips, err)
	}
	return ips[0], nil
}

// resolveTCP turns "host:port" into a socket address without a lookup:
// the host must be an IP literal, "localhost" (127.0.0.1) or empty. The
// UDP ports use it.
func resolveTCP(address string) (unix.Sockaddr, int, error) {
	tg, err := parseTCP(address)
	if err != nil {
		return nil, 0, err
	}
	if tg.host != "" {
		if tg.host != "localhost" {
			return nil, 0, fmt.Errorf("%w: %q: host must be an IP literal or localhost", ErrBadAddress, address)
		}
		return ipSockaddr(netip.AddrFrom4([4]byte{127, 0, 0, 1}), tg.port)
	}
	return tg.sa, tg.family, nil
}
