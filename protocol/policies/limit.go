package policies

import (
	"net"
	"net/netip"
	"sync"

	"github.com/mustaine/mustaine/protocol"
)

// Limits configures a Limiter. A zero field means no limit.
type Limits struct {
	// Total is the most connections served at once.
	Total int
	// PerIP is the most connections served at once from one remote IP
	// address. Addresses that carry no IP (Unix sockets) are counted by
	// their String.
	PerIP int
	// Overflow, if not nil, builds the protocol for a connection over a
	// limit, for example one that answers "busy" and closes. Without it
	// such a connection is refused (BuildProtocol returns nil). Overflow
	// connections are not counted against the limits, so keep them short.
	Overflow protocol.Factory
}

// Limiter is a protocol.Factory that caps the connections another factory
// serves, Twisted's LimitTotalConnectionsFactory and LimitConnectionsByPeer
// in one. A connection counts from BuildProtocol until its ConnectionLost.
// BuildProtocol is safe to call from several loops at once.
type Limiter struct {
	starter
	f      protocol.Factory
	limits Limits

	mu    sync.Mutex
	total int
	perIP map[string]int
}

// NewLimiter returns a Limiter that serves connections with f within
// limits. f's StartFactory and StopFactory hooks, if any, are forwarded.
func NewLimiter(f protocol.Factory, limits Limits) *Limiter {
	return &Limiter{starter: starter{f}, f: f, limits: limits, perIP: make(map[string]int)}
}

// BuildProtocol returns f's protocol for addr wrapped so that its
// connection is counted until ConnectionLost; or, over a limit, the
// Overflow protocol or nil.
func (l *Limiter) BuildProtocol(addr net.Addr) protocol.Protocol {
	key := peerKey(addr)
	if !l.acquire(key) {
		if l.limits.Overflow == nil {
			return nil
		}
		return l.limits.Overflow.BuildProtocol(addr)
	}
	p := l.f.BuildProtocol(addr)
	if p == nil {
		l.release(key)
		return nil
	}
	return preserve(&countedProtocol{p: p, l: l, key: key})
}

// Count returns the number of connections served now.
func (l *Limiter) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// CountFrom returns the number of connections served now from addr's IP.
func (l *Limiter) CountFrom(addr net.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perIP[peerKey(addr)]
}

func (l *Limiter) acquire(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limits.Total > 0 && l.total >= l.limits.Total {
		return false
	}
	if l.limits.PerIP > 0 && l.perIP[key] >= l.limits.PerIP {
		return false
	}
	l.total++
	l.perIP[key]++
	return true
}

func (l *Limiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[key]--; l.perIP[key] <= 0 {
		delete(l.perIP, key)
	}
}

// peerKey is the remote IP of addr, without port or zone, with IPv4-mapped
// IPv6 addresses unmapped so that one host counts once.
func peerKey(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			ip = ap.Addr()
		}
	}
	if !ip.IsValid() {
		return addr.String()
	}
	return ip.Unmap().WithZone("").String()
}

// countedProtocol releases its Limiter slot when its connection is lost.
type countedProtocol struct {
	p        protocol.Protocol
	l        *Limiter
	key      string
	released bool
}

func (c *countedProtocol) wrapped() protocol.Protocol { return c.p }

func (c *countedProtocol) ConnectionMade(t protocol.Transport) { c.p.ConnectionMade(t) }

func (c *countedProtocol) DataReceived(data []byte) { c.p.DataReceived(data) }

func (c *countedProtocol) ConnectionLost(reason error) {
	if !c.released {
		c.released = true
		c.l.release(c.key)
	}
	c.p.ConnectionLost(reason)
}
