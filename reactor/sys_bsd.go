//go:build darwin || freebsd

package reactor

import (
	"net"

	"golang.org/x/sys/unix"
)

// On the BSDs and macOS system calls go through libc, so the plain wrappers
// are used.

func sysRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return unix.Read(fd, p)
}

func sysWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return unix.Write(fd, p)
}

// sysAccept accepts one connection as a non-blocking, close-on-exec fd.
func sysAccept(fd int) (int, unix.Sockaddr, error) {
	nfd, sa, err := unix.Accept(fd)
	if err != nil {
		return -1, nil, err
	}
	unix.CloseOnExec(nfd)
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	// A write to a socket whose peer is gone must return EPIPE, not kill us.
	unix.SetsockoptInt(nfd, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1)
	return nfd, sa, nil
}

// sysAcceptAddr is sysAccept returning the peer's address as the
// connection keeps it.
func sysAcceptAddr(fd int, isUnix bool) (int, net.Addr, error) {
	nfd, sa, err := sysAccept(fd)
	if err != nil {
		return -1, nil, err
	}
	return nfd, sockaddrToAddr(sa, isUnix), nil
}

// sysSocket creates a non-blocking, close-on-exec socket.
func sysSocket(family, typ int) (int, error) {
	fd, err := unix.Socket(family, typ, 0)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1)
	return fd, nil
}

// fionread is FIONREAD, _IOR('f', 127, int), the same on macOS and FreeBSD
// (x/sys/unix does not export it there).
const fionread = 0x4004667f

// sysUnreadBytes is the number of received bytes not yet read from fd.
func sysUnreadBytes(fd int) (int, error) { return unix.IoctlGetInt(fd, fionread) }

// sysUnsentBytes would be the bytes written to fd and not yet acknowledged;
// the BSDs do not tell it the same way, so it answers "some", which makes a
// close linger whenever the peer has not sent EOF (safe, never lossy).
func sysUnsentBytes(fd int) (int, error) { return 1, nil }
