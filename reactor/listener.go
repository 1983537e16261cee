package reactor

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// Accept back-off after EMFILE/ENFILE: the listener is taken out of the
// loop's poller (so a level-triggered backlog cannot spin the CPU) and put
// back after a delay that doubles up to a second, as Go's net/http does.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	listenBacklog    = 4096 // the kernel caps it at net.core.somaxconn
)

// Listener is a listening socket whose connections are spread over the
// reactor's loops.
type Listener struct {
	r       *Reactor
	fd      int
	fds     []int // with WithReusePort: one socket per loop (fds[0] == fd)
	addr    net.Addr
	factory protocol.Factory
	unix    bool
	path    string // Unix socket file, removed on close

	closed   atomic.Bool
	attached atomic.Int32 // loops that still watch fd
	fdClosed sync.Once
	done     chan struct{}

	// backoff is per loop: each loop backs off on its own.
	backoff []time.Duration
}

// Addr returns the address the listener is bound to (with the real port
// when port 0 was asked for).
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Close stops accepting. Established connections are not touched. The
// socket is closed once every loop has let go of it; Close does not wait
// for that when called on a loop.
func (ln *Listener) Close() error {
	if ln.closed.Swap(true) {
		return ErrListenerClosed
	}
	if s := ln.r.state.Load(); s == stateNew || s == stateStopped {
		// No loop is watching it (attach calls still queued see closed).
		ln.closeFD()
		return nil
	}
	for _, l := range ln.r.loops {
		l.CallFromThread(func() { l.detach(ln) })
	}
	return nil
}

// closeFD closes the socket exactly once and tells the factory it stopped.
func (ln *Listener) closeFD() {
	ln.fdClosed.Do(func() {
		unix.Close(ln.fd)
		for _, fd := range ln.fds[min(1, len(ln.fds)):] {
			unix.Close(fd)
		}
		if ln.path != "" {
			os.Remove(ln.path)
		}
		ln.r.removeListener(ln)
		ln.r.factoryStopped(ln.factory)
		close(ln.done)
	})
}

// ListenTCP listens on a TCP address ("127.0.0.1:7000", "[::1]:0", ":8080")
// and serves each connection with a Protocol from factory. The host must be
// an IP literal, "localhost" or empty (all interfaces, IPv4 and IPv6).
// Port 0 picks a free port: see Listener.Addr.
func (r *Reactor) ListenTCP(address string, factory protocol.Factory) (*Listener, error) {
	sa, family, err := resolveTCP(address)
	if err != nil {
		return nil, err
	}
	reusePort := r.cfg.reusePort && len(r.loops) > 1
	fd, err := tcpListenSocket(family, reusePort)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	ln, err := r.listen(fd, sa, false, "", address, factory, func(bound unix.Sockaddr) ([]int, error) {
		if !reusePort {
			return nil, nil
		}
		// One more socket per loop on the port the first one got; the
		// kernel spreads new connections over them by address hash.
		fds := []int{fd}
		for range len(r.loops) - 1 {
			extra, err := tcpListenSocket(family, true)
			if err == nil {
				if err = unix.Bind(extra, bound); err == nil {
					err = unix.Listen(extra, listenBacklog)
				}
				if err != nil {
					unix.Close(extra)
				}
			}
			if err != nil {
				for _, f := range fds[1:] {
					unix.Close(f)
				}
				return nil, err
			}
			fds = append(fds, extra)
		}
		return fds, nil
	})
	return ln, err
}

// tcpListenSocket makes a socket ready to bind for listening.
func tcpListenSocket(family int, reusePort bool) (int, error) {
	fd, err := sysSocket(family, unix.SOCK_STREAM)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("SO_REUSEPORT: %w", err)
		}
	}
	if family == unix.AF_INET6 {
		// Like Go's net package: "[::]:port" also accepts IPv4.
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	return fd, nil
}

// ListenUnix listens on a Unix-domain stream socket at path.
func (r *Reactor) ListenUnix(path string, factory protocol.Factory) (*Listener, error) {
	fd, err := sysSocket(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return nil, fmt.Errorf("listen unix %s: socket: %w", path, err)
	}
	return r.listen(fd, &unix.SockaddrUnix{Name: path}, true, path, path, factory, nil)
}

// listen binds and listens on fd; more, when given, makes the extra
// per-loop sockets once the bound address is known.
func (r *Reactor) listen(fd int, sa unix.Sockaddr, isUnix bool, path, address string, factory protocol.Factory,
	more func(bound unix.Sockaddr) ([]int, error)) (*Listener, error) {
	if r.state.Load() >= stateStopping {
		unix.Close(fd)
		return nil, ErrStopped
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %s: bind: %w", address, err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	var fds []int
	if more != nil {
		if fds, err = more(bound); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("listen %s: %w", address, err)
		}
	}
	ln := &Listener{
		r: r, fd: fd, fds: fds, addr: sockaddrToAddr(bound, isUnix), factory: factory,
		unix: isUnix, path: path, done: make(chan struct{}),
		backoff: make([]time.Duration, len(r.loops)),
	}
	if isUnix {
		ln.addr = &net.UnixAddr{Name: path, Net: "unix"}
	}
	r.factoryStarted(factory)
	r.addListener(ln)
	ln.attached.Store(int32(len(r.loops)))
	for _, l := range r.loops {
		l.CallFromThread(func() { l.attach(ln) })
	}
	return ln, nil
}

// fdFor is the listening socket loop l accepts from.
func (ln *Listener) fdFor(l *loop) int {
	if ln.fds != nil {
		return ln.fds[l.index]
	}
	return ln.fd
}

// attach starts watching ln on this loop.
func (l *loop) attach(ln *Listener) {
	if ln.closed.Load() {
		l.letGo(ln)
		return
	}
	fd := ln.fdFor(l)
	if err := l.poller.addListener(fd); err != nil {
		l.log.Error().Err(err).Str("addr", ln.addr.String()).Msg("cannot watch listener")
		l.letGo(ln)
		return
	}
	l.listeners[fd] = ln
}

// detach stops watching ln on this loop.
func (l *loop) detach(ln *Listener) {
	fd := ln.fdFor(l)
	if l.listeners[fd] != ln {
		return // never attached, or already let go
	}
	delete(l.listeners, fd)
	l.poller.remove(fd)
	l.letGo(ln)
}

// letGo drops this loop's hold on ln; the last loop closes the socket.
func (l *loop) letGo(ln *Listener) {
	if ln.attached.Add(-1) == 0 {
		ln.closeFD()
	}
}

// accept takes a batch of pending connections.
func (l *loop) accept(ln *Listener) {
	for i := 0; i < acceptBatch; i++ {
		fd, sa, err := sysAccept(ln.fdFor(l))
		if err != nil {
			switch err {
			case unix.EAGAIN, unix.ECONNABORTED:
				if err == unix.EAGAIN {
					return
				}
				continue
			case unix.EINTR:
				continue
			case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
				l.acceptBackoff(ln, err)
				return
			default:
				l.log.Error().Err(err).Str("addr", ln.addr.String()).Msg("accept failed")
				return
			}
		}
		ln.backoff[l.index] = 0
		l.newConn(fd, sa, ln.factory, ln.unix)
	}
}

// acceptBackoff stops watching ln on this loop for a while: the pending
// connection stays in the backlog until descriptors are free again.
func (l *loop) acceptBackoff(ln *Listener, err error) {
	d := ln.backoff[l.index]*2 + acceptBackoffMin
	d = min(d, acceptBackoffMax)
	ln.backoff[l.index] = d
	fd := ln.fdFor(l)
	l.poller.remove(fd)
	delete(l.listeners, fd)
	l.log.Warn().Err(err).Str("addr", ln.addr.String()).Dur("retry_in", d).
		Msg("accept: out of file descriptors; backing off")
	l.CallLater(d, func() {
		if ln.closed.Load() {
			l.letGo(ln)
			return
		}
		if err := l.poller.addListener(fd); err != nil {
			l.log.Error().Err(err).Msg("cannot watch listener again")
			l.letGo(ln)
			return
		}
		l.listeners[fd] = ln
	})
}

// newConn sets up an accepted connection on this loop.
func (l *loop) newConn(fd int, sa unix.Sockaddr, factory protocol.Factory, isUnix bool) {
	remote := sockaddrToAddr(sa, isUnix)
	if !isUnix {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	var proto protocol.Protocol
	l.guard(nil, func() { proto = factory.BuildProtocol(remote) })
	if proto == nil {
		unix.Close(fd)
		return
	}
	c := &conn{fd: fd, loop: l, proto: proto, remote: remote, id: l.r.nextConnID.Add(1)}
	if isUnix {
		c.flags |= fUnix
	}
	if err := l.register(c); err != nil {
		unix.Close(fd)
		l.log.Error().Err(err).Msg("cannot register connection")
		return
	}
	l.start(c)
}
