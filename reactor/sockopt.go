package reactor

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// SocketOptions are socket options for a listener (ListenOptions; applied
// to the listening socket and to every connection it accepts) or for an
// outgoing connection (ConnectOptions). The zero value changes nothing:
// the kernel's defaults apply, except that TCP_NODELAY is on (Nagle's
// algorithm off), as with Go's net package.
type SocketOptions struct {
	// KeepAlive turns on TCP keepalive probes (SO_KEEPALIVE). Setting any
	// of the three KeepAlive fields below turns it on too.
	KeepAlive bool
	// KeepAliveIdle is how long a connection is idle before the first
	// probe (TCP_KEEPIDLE; TCP_KEEPALIVE on macOS), in whole seconds.
	KeepAliveIdle time.Duration
	// KeepAliveInterval is the time between probes (TCP_KEEPINTVL), in
	// whole seconds.
	KeepAliveInterval time.Duration
	// KeepAliveCount is how many unanswered probes drop the connection
	// (TCP_KEEPCNT).
	KeepAliveCount int
	// RecvBuffer and SendBuffer set SO_RCVBUF and SO_SNDBUF in bytes (the
	// kernel may round or double them; Linux doubles). On a listener they
	// are set before listen, so that accepted connections negotiate a
	// window scale that fits.
	RecvBuffer, SendBuffer int
	// NoDelayOff leaves Nagle's algorithm on (TCP_NODELAY off): small
	// writes are coalesced by the kernel at the cost of latency.
	NoDelayOff bool
	// V6Only makes an IPv6 socket IPv6-only (IPV6_V6ONLY). By default a
	// listener on "[::]:port" also accepts IPv4, as Go's net package does.
	V6Only bool
}

// ListenOptions configure one listener (Reactor.ListenTCPWith).
type ListenOptions struct {
	// Backlog is the listen backlog (default 4096; the kernel caps it at
	// net.core.somaxconn).
	Backlog int
	// Socket are the options of the listening socket and of every
	// connection it accepts.
	Socket SocketOptions
}

// ConnectOptions configure one outgoing connection (Reactor.ConnectTCPWith).
type ConnectOptions struct {
	// Timeout bounds the whole connect, host name lookup included; 0
	// means no timeout of our own (the kernel's still applies).
	Timeout time.Duration
	// AttemptDelay is how long a connect attempt to one of a host name's
	// addresses runs alone before the next address is tried beside it
	// (RFC 8305's Connection Attempt Delay; default 250 ms). A failed
	// attempt starts the next one at once.
	AttemptDelay time.Duration
	// Socket are the connection's socket options.
	Socket SocketOptions
}

// defaultAttemptDelay is RFC 8305's recommended Connection Attempt Delay.
const defaultAttemptDelay = 250 * time.Millisecond

// keepAliveOn reports whether o asks for keepalive.
func (o *SocketOptions) keepAliveOn() bool {
	return o.KeepAlive || o.KeepAliveIdle > 0 || o.KeepAliveInterval > 0 || o.KeepAliveCount > 0
}

// applyEarly sets the options that must be set before connect or
// listen (buffers, IPV6_V6ONLY) on a TCP socket of family.
func (o *SocketOptions) applyEarly(fd, family int) error {
	if o.RecvBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.RecvBuffer); err != nil {
			return fmt.Errorf("SO_RCVBUF: %w", err)
		}
	}
	if o.SendBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, o.SendBuffer); err != nil {
			return fmt.Errorf("SO_SNDBUF: %w", err)
		}
	}
	if family == unix.AF_INET6 {
		v := 0
		if o.V6Only {
			v = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v); err != nil {
			return fmt.Errorf("IPV6_V6ONLY: %w", err)
		}
	}
	return nil
}

// applyConn sets the per-connection options (TCP_NODELAY, keepalive) on a
// TCP connection's socket, connecting or accepted.
func (o *SocketOptions) applyConn(fd int) error {
	nodelay := 1
	if o.NoDelayOff {
		nodelay = 0
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, nodelay); err != nil {
		return fmt.Errorf("TCP_NODELAY: %w", err)
	}
	if !o.keepAliveOn() {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return fmt.Errorf("SO_KEEPALIVE: %w", err)
	}
	if o.KeepAliveIdle > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, sysTCPKeepIdle, seconds(o.KeepAliveIdle)); err != nil {
			return fmt.Errorf("keepalive idle: %w", err)
		}
	}
	if o.KeepAliveInterval > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, seconds(o.KeepAliveInterval)); err != nil {
			return fmt.Errorf("TCP_KEEPINTVL: %w", err)
		}
	}
	if o.KeepAliveCount > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, o.KeepAliveCount); err != nil {
			return fmt.Errorf("TCP_KEEPCNT: %w", err)
		}
	}
	return nil
}

// seconds rounds d up to whole seconds, at least 1.
func seconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}
