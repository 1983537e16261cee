package reactor

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// ErrNotListeningSocket is returned by ListenFD, ListenFile and
// ListenActivated for a descriptor that is not a listening stream socket
// (TCP over IPv4 or IPv6, or Unix): a file, a datagram socket, a socket
// nobody called listen(2) on, or a closed descriptor.
var ErrNotListeningSocket = errors.New("mustaine: not a listening stream socket")

// ListenFD serves the connections of a listening socket that was opened
// elsewhere (a supervisor, a parent process, systemd) and handed to this
// process as descriptor fd. The listener takes fd over: it is made
// non-blocking and close-on-exec, and Close closes it. fd must be a
// listening stream socket, TCP (IPv4 or IPv6) or Unix, which is checked
// with getsockopt SO_ACCEPTCONN and SO_TYPE and getsockname; anything else
// fails with an error matching ErrNotListeningSocket and fd is left open
// and untouched.
//
// Spreading over the loops: when the adopted TCP socket has SO_REUSEPORT
// set, WithReusePort is on and there are several loops, every loop but the
// first binds its own SO_REUSEPORT copy to the same address (the kernel
// spreads connections over the group, as for ListenTCP). The kernel lets
// only sockets of the same effective user join a group: when the copies
// cannot bind (a socket opened by root for a service running as another
// user, say), a warning is logged and all loops share the adopted socket,
// as they do when it has no SO_REUSEPORT, for Unix sockets, with one loop
// or with WithReusePort(false).
//
// The socket keeps the options it was made with (backlog, TCP_DEFER_ACCEPT
// and the like); opts configure what this listener does with its
// connections (WithProxyProtocol).
func (r *Reactor) ListenFD(fd int, factory protocol.Factory, opts ...ListenOption) (*Listener, error) {
	return r.adopt([]int{fd}, "", r.applyListenOptions(factory, opts), nil)
}

// ListenFile is ListenFD for an *os.File (from os.NewFile, or a
// net.TCPListener's File): the listener serves a duplicate of f's
// descriptor, so f stays the caller's to close, which does not stop the
// listener. The two share one open file description, so f's descriptor is
// in non-blocking mode from then on.
func (r *Reactor) ListenFile(f *os.File, factory protocol.Factory, opts ...ListenOption) (*Listener, error) {
	fd, err := dupFile(f)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", f.Name(), err)
	}
	ln, err := r.adopt([]int{fd}, "", r.applyListenOptions(factory, opts), nil)
	if err != nil {
		unix.Close(fd)
	}
	return ln, err
}

// dupFile duplicates f's descriptor (close-on-exec) without the blocking
// mode change that f.Fd() makes.
func dupFile(f *os.File) (int, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("%w: %v", ErrNotListeningSocket, err)
	}
	nfd, dupErr := -1, error(nil)
	if err := sc.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("%w: %v", ErrNotListeningSocket, err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup: %w", dupErr)
	}
	return nfd, nil
}

// checkListening reports whether fd is a listening stream socket, and
// whether it is a Unix one.
func checkListening(fd int) (sa unix.Sockaddr, isUnix bool, err error) {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return nil, false, fmt.Errorf("%w: fd %d: SO_TYPE: %v", ErrNotListeningSocket, fd, err)
	} else if v != unix.SOCK_STREAM {
		return nil, false, fmt.Errorf("%w: fd %d is not a stream socket (SO_TYPE %d)", ErrNotListeningSocket, fd, v)
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil {
		return nil, false, fmt.Errorf("%w: fd %d: SO_ACCEPTCONN: %v", ErrNotListeningSocket, fd, err)
	} else if v == 0 {
		return nil, false, fmt.Errorf("%w: fd %d is a stream socket nobody listens on", ErrNotListeningSocket, fd)
	}
	sa, err = unix.Getsockname(fd)
	if err != nil {
		return nil, false, fmt.Errorf("%w: fd %d: getsockname: %v", ErrNotListeningSocket, fd, err)
	}
	switch sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		return sa, false, nil
	case *unix.SockaddrUnix:
		return sa, true, nil
	}
	return nil, false, fmt.Errorf("%w: fd %d: address family of %T", ErrNotListeningSocket, fd, sa)
}

// adopt makes a Listener of listening sockets handed to this process: one
// (ListenFD), or a group of SO_REUSEPORT sockets on one address that a
// previous process served with one per loop (an upgrade). key names the
// listener for a later upgrade; "" derives it from the address, so that
// ListenTCP or ListenUnix on the same address in the new process adopts it.
// On error the fds are left open, unless the error is an errServeFailed.
func (r *Reactor) adopt(fds []int, key string, factory protocol.Factory, so *SocketOptions) (*Listener, error) {
	if r.state.Load() >= stateStopping {
		return nil, ErrStopped
	}
	sa, isUnix, err := checkListening(fds[0])
	if err != nil {
		return nil, err
	}
	for _, fd := range fds[1:] {
		if _, _, err := checkListening(fd); err != nil {
			return nil, err
		}
	}
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("adopt fd %d: %w", fd, err)
		}
		unix.CloseOnExec(fd)
	}
	address, path := "", ""
	if u, ok := sa.(*unix.SockaddrUnix); ok {
		address = u.Name
		if key == listenKey(true, address) {
			// Handed over by an upgrade: the file is ours to remove now.
			// From anyone else it stays, whoever made it removes it.
			path = address
		}
	} else {
		address = sockaddrToAddr(sa, false).String()
	}
	if key == "" {
		key = listenKey(isUnix, address)
	}
	n := len(r.loops)
	if isUnix || !r.cfg.reusePort || n == 1 {
		n = 1
	}
	switch {
	case len(fds) > n:
		// Closing the surplus resets what the kernel queued on them; the
		// previous process had more loops than this one.
		r.cfg.logger.Warn().Str("addr", address).Int("sockets", len(fds)).Int("loops", n).
			Msg("adopted more SO_REUSEPORT sockets than loops; closing the rest resets the connections queued on them")
		for _, fd := range fds[n:] {
			unix.Close(fd)
		}
		fds = fds[:n]
	case len(fds) < n:
		if v, _ := unix.GetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_REUSEPORT); v == 0 {
			break // no SO_REUSEPORT: every loop shares the adopted socket
		}
		more, err := reusePortCopies(sa, n-len(fds))
		if err != nil {
			r.cfg.logger.Warn().Err(err).Str("addr", address).
				Msg("adopted socket has SO_REUSEPORT but a copy cannot bind; the loops share it")
			break
		}
		fds = append(fds[:len(fds):len(fds)], more...)
	}
	if so != nil && *so == (SocketOptions{}) {
		so = nil
	}
	// From here on serve owns the fds: it closes them if it fails.
	ln, err := r.serveKeyed(fds, isUnix, path, address, key, factory, so)
	if err != nil {
		return nil, errServeFailed{err}
	}
	return ln, nil
}

// errServeFailed is adopt's error once the sockets were closed.
type errServeFailed struct{ error }

func (e errServeFailed) Unwrap() error { return e.error }

// reusePortCopies binds n SO_REUSEPORT sockets to sa, joining the group of
// the adopted socket bound there.
func reusePortCopies(sa unix.Sockaddr, n int) ([]int, error) {
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	var fds []int
	for range n {
		fd, err := tcpListenSocket(family, true)
		if err == nil {
			if err = bindListen(fd, sa); err != nil {
				unix.Close(fd)
			}
		}
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// listenKey names a listener across an upgrade: the new process's
// ListenTCP or ListenUnix with the same address adopts it.
func listenKey(isUnix bool, address string) string {
	if isUnix {
		return "unix:" + address
	}
	return "tcp:" + address
}

// serveKeyed is serve for a listener named key for upgrades.
func (r *Reactor) serveKeyed(fds []int, isUnix bool, path, address, key string, factory protocol.Factory, so *SocketOptions) (*Listener, error) {
	ln, err := r.serve(fds, isUnix, path, address, factory, so)
	if err == nil && ln.key != key {
		r.mu.Lock() // the upgrade reads keys under mu
		ln.key = key
		r.mu.Unlock()
	}
	return ln, err
}

// adoptInherited serves the sockets a previous process handed over under
// key (see Upgrade), if there are any: ListenTCP and ListenUnix call it
// first, so a program started by an upgrade serves its predecessor's
// sockets (and their queued connections) with the same code that made
// them.
func (r *Reactor) adoptInherited(key string, factory protocol.Factory, so *SocketOptions) (*Listener, bool, error) {
	fds := takeInherited(key)
	if fds == nil {
		return nil, false, nil
	}
	ln, err := r.adopt(fds, key, factory, so)
	if err != nil {
		if !errors.As(err, new(errServeFailed)) {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
		return nil, true, fmt.Errorf("adopt inherited %s: %w", key, err)
	}
	return ln, true, nil
}
