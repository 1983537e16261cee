//go:build darwin || freebsd

package reactor

import "golang.org/x/sys/unix"

// checkPortOwned is the second step of listenReusePortGroup on Linux. The
// BSDs and macOS do not put SO_REUSEPORT sockets into a balancing group of
// the user's (macOS and FreeBSD without SO_REUSEPORT_LB give each new
// connection to one socket), and reuseport is off by default there: the
// probe alone guards the port.
func checkPortOwned(unix.Sockaddr, []int) error { return nil }

// probeStaysBound: the BSDs refuse a SO_REUSEPORT bind beside a socket
// without SO_REUSEPORT, listening or not, so the probe is closed before
// the group binds; with port 0 another socket could take the port in that
// moment, and the group's bind then fails with EADDRINUSE.
const probeStaysBound = false
