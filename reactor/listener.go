package reactor

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
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
//
// Its sockets are shared by the loops, which watch them and accept from
// them, and closed by whichever goroutine closes the listener. A loop
// touches a listener's fd only between acquire and release, and closing
// waits for those to end, so no loop ever uses an fd number after it was
// closed (and maybe reused for another socket).
type Listener struct {
	r       *Reactor
	fd      int
	fds     []int // with WithReusePort: one socket per loop (fds[0] == fd)
	addr    net.Addr
	factory protocol.Factory
	unix    bool
	path    string // Unix socket file, removed on close

	closed   atomic.Bool
	users    atomic.Int32 // loops inside a system call on the fds
	attached atomic.Int32 // loops that still hold the listener
	fdClosed sync.Once
	done     chan struct{}

	// backoff is per loop: each loop backs off on its own.
	backoff []time.Duration

	sockopts *SocketOptions // applied to accepted connections; nil: the defaults

	key        string      // names it for an upgrade (inherit.go); guarded by r.mu
	handedOver atomic.Bool // a new process serves its sockets: keep the Unix file
}

// Addr returns the address the listener is bound to (with the real port
// when port 0 was asked for).
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Close stops accepting and closes the listening sockets before it
// returns, from any goroutine, a loop's included (it waits only for a
// loop's non-blocking accept or epoll_ctl on them to return): once Close
// returns nothing listens on the port, and listening on it again, with
// ListenTCP or Go's net.Listen, succeeds at once. Established connections
// are not touched (they keep the port bound, which SO_REUSEADDR, set by
// both, allows; a listener without it must wait for them to end, as with
// any server). Connections the kernel had queued but nobody accepted yet
// are reset. StopFactory, if the factory has no other user, runs inside
// Close. A second Close returns ErrListenerClosed.
func (ln *Listener) Close() error {
	if ln.closed.Swap(true) {
		return ErrListenerClosed
	}
	ln.closeFD()
	if s := ln.r.state.Load(); s == stateRunning || s == stateStopping {
		// The loops drop their entries for the closed sockets (the
		// poller forgot them when they were closed).
		for _, l := range ln.r.loops {
			l.CallFromThread(func() { l.detach(ln) })
		}
	}
	return nil
}

// acquire reports whether the listener is open and, if so, holds its
// sockets open until release.
func (ln *Listener) acquire() bool {
	ln.users.Add(1)
	if ln.closed.Load() {
		ln.users.Add(-1)
		return false
	}
	return true
}

func (ln *Listener) release() { ln.users.Add(-1) }

// closeFD closes the sockets exactly once, after every loop's system call
// on them has returned, and tells the factory it stopped.
func (ln *Listener) closeFD() {
	ln.fdClosed.Do(func() {
		ln.closed.Store(true)
		for ln.users.Load() != 0 {
			runtime.Gosched() // a non-blocking accept or epoll_ctl: brief
		}
		unix.Close(ln.fd)
		for _, fd := range ln.fds[min(1, len(ln.fds)):] {
			unix.Close(fd)
		}
		if ln.path != "" && !ln.handedOver.Load() {
			os.Remove(ln.path)
		}
		ln.r.removeListener(ln)
		ln.r.factoryStopped(ln.factory)
		close(ln.done)
	})
}

// ListenTCP listens on a TCP address ("127.0.0.1:7000", "[::1]:0", ":8080")
// and serves each connection with a Protocol from factory. The host is an
// IP literal, "localhost" (127.0.0.1), empty (all interfaces, IPv4 and
// IPv6) or a host name (see ListenTCPWith).
// Port 0 picks a free port: see Listener.Addr.
//
// The port is ours alone: when another socket listens on it (another
// process, or another Listener of this process), ListenTCP fails with an
// error matching syscall.EADDRINUSE, also with one SO_REUSEPORT socket per
// loop (WithReusePort), although Linux lets every SO_REUSEPORT socket of
// the same user join the group and share the connections (socket(7)). See
// listenReusePortGroup for how, and for the one race that remains.
//
// In a process started by Upgrade, ListenTCP on the address the previous
// process listened on serves the sockets it handed over instead.
//
// opts configure this listener (WithProxyProtocol).
func (r *Reactor) ListenTCP(address string, factory protocol.Factory, opts ...ListenOption) (*Listener, error) {
	return r.ListenTCPWith(address, r.applyListenOptions(factory, opts), ListenOptions{})
}

// ListenTCPWith is ListenTCP with a backlog and socket options (see
// ListenOptions). A host name other than "localhost" (which is 127.0.0.1)
// is looked up with the reactor's Resolver in the calling goroutine and
// the first address is bound; since that blocks, a call with a host name
// on a loop goroutine fails with ErrLookupOnLoop, and a failed lookup with
// ErrLookupFailed joined with the resolver's error.
func (r *Reactor) ListenTCPWith(address string, factory protocol.Factory, opts ListenOptions) (*Listener, error) {
	tg, err := parseTCP(address)
	if err != nil {
		return nil, err
	}
	if tg.host != "" {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if tg.host != "localhost" {
			if ip, err = r.lookupNow(tg.host); err != nil {
				return nil, fmt.Errorf("listen %s: %w", address, err)
			}
		}
		if tg.sa, tg.family, err = ipSockaddr(ip, tg.port); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrBadAddress, address, err)
		}
	}
	sa, family := tg.sa, tg.family
	if r.state.Load() >= stateStopping {
		return nil, ErrStopped
	}
	so := &opts.Socket
	if ln, ok, err := r.adoptInherited(listenKey(false, address), factory, so); ok {
		return ln, err
	}
	backlog := listenBacklog
	if opts.Backlog > 0 {
		backlog = opts.Backlog
	}
	var fds []int
	if r.cfg.reusePort && len(r.loops) > 1 {
		fds, err = listenReusePortGroup(family, sa, len(r.loops), so, backlog)
	} else {
		// One socket without SO_REUSEPORT: the kernel refuses to bind it
		// next to any other listener, and nothing can join it.
		var fd int
		if fd, err = tcpListenSocketWith(family, false, so); err == nil {
			if err = bindListenBacklog(fd, sa, backlog); err != nil {
				unix.Close(fd)
			} else {
				fds = []int{fd}
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	if *so == (SocketOptions{}) {
		so = nil // the defaults: no setsockopt per accept but TCP_NODELAY
	}
	return r.serve(fds, false, "", address, factory, so)
}

// listenReusePortGroup makes n listening sockets in one SO_REUSEPORT group
// on sa, which the kernel balances by a hash of each connection's
// addresses, and makes sure no other socket is in the group.
//
// Linux puts every SO_REUSEPORT socket of the same user bound to the same
// address into the group (socket(7)), so binding with SO_REUSEPORT alone
// would silently share a port that another program, or another Listener
// of ours, already serves. Two steps prevent that:
//
//  1. A probe socket without SO_REUSEPORT (with SO_REUSEADDR, as Go's
//     net.Listen) is bound first. The kernel refuses it, with EADDRINUSE,
//     exactly when an ordinary listener would be refused: some socket,
//     SO_REUSEPORT or not, listens on an overlapping address and port. With
//     port 0 the probe picks the port. On Linux a bound socket that is not
//     listening lets our group bind beside it, so the probe holds the port
//     until the group is up; the BSDs refuse that (every socket on the port
//     must set SO_REUSEPORT), so there it is closed before the group binds.
//  2. Once the group listens, the check in portcheck (sock_diag on Linux)
//     lists the listening TCP sockets on the port, and any whose inode is
//     not one of ours, on an overlapping address, makes ListenTCP close
//     its sockets and fail with EADDRINUSE. This catches a SO_REUSEPORT
//     socket that joined between the probe and our bind.
//
// What remains: a program that sets SO_REUSEPORT itself, runs as the same
// user and binds after step 2 still joins the group; the kernel allows it
// and only a continuous watch could notice. Another Mustaine listener
// never does that (its own probe fails). Two of them starting at the same
// instant can both fail step 2 (never both succeed). In the moment between
// an intruder joining and step 2 failing, connections that the kernel put
// in our queues are reset when we close them.
func listenReusePortGroup(family int, sa unix.Sockaddr, n int, so *SocketOptions, backlog int) (fds []int, err error) {
	probe, err := tcpListenSocketWith(family, false, so)
	if err != nil {
		return nil, err
	}
	closeProbe := func() {
		if probe >= 0 {
			unix.Close(probe)
			probe = -1
		}
	}
	defer closeProbe()
	if err := unix.Bind(probe, sa); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	bound, err := unix.Getsockname(probe)
	if err != nil {
		return nil, err
	}
	if !probeStaysBound {
		closeProbe()
	}
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			fds = nil
		}
	}()
	for range n {
		fd, err := tcpListenSocketWith(family, true, so)
		if err != nil {
			return fds, err
		}
		fds = append(fds, fd)
		if err := bindListenBacklog(fd, bound, backlog); err != nil {
			return fds, err
		}
	}
	return fds, checkPortOwned(bound, fds)
}

// bindListen binds fd to sa and listens with the default backlog.
func bindListen(fd int, sa unix.Sockaddr) error { return bindListenBacklog(fd, sa, listenBacklog) }

// bindListenBacklog binds fd to sa and listens.
func bindListenBacklog(fd int, sa unix.Sockaddr, backlog int) error {
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return unix.Listen(fd, backlog)
}

// tcpListenSocket makes a socket ready to bind for listening.
func tcpListenSocket(family int, reusePort bool) (int, error) {
	return tcpListenSocketWith(family, reusePort, &SocketOptions{})
}

// tcpListenSocketWith is tcpListenSocket with socket options.
func tcpListenSocketWith(family int, reusePort bool, so *SocketOptions) (int, error) {
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
	// Like Go's net package, "[::]:port" also accepts IPv4 unless V6Only.
	if err := so.applyEarly(fd, family); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// ListenUnix listens on a Unix-domain stream socket at path (in a process
// started by Upgrade: serves the socket the previous one handed over).
// opts configure this listener (WithProxyProtocol).
func (r *Reactor) ListenUnix(path string, factory protocol.Factory, opts ...ListenOption) (*Listener, error) {
	return r.listenUnix(path, r.applyListenOptions(factory, opts), listenBacklog)
}

// listenUnix is ListenUnix with a backlog.
func (r *Reactor) listenUnix(path string, factory protocol.Factory, backlog int) (*Listener, error) {
	if r.state.Load() >= stateStopping {
		return nil, ErrStopped
	}
	if ln, ok, err := r.adoptInherited(listenKey(true, path), factory, nil); ok {
		return ln, err
	}
	fd, err := sysSocket(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return nil, fmt.Errorf("listen unix %s: socket: %w", path, err)
	}
	if err := bindListenBacklog(fd, &unix.SockaddrUnix{Name: path}, backlog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return r.serve([]int{fd}, true, path, path, factory, nil)
}

// serve makes a Listener of listening sockets (one, or one per loop) and
// hands it to the loops.
func (r *Reactor) serve(fds []int, isUnix bool, path, address string, factory protocol.Factory, so *SocketOptions) (*Listener, error) {
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if r.state.Load() >= stateStopping {
		closeAll()
		return nil, ErrStopped
	}
	bound, err := unix.Getsockname(fds[0])
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	ln := &Listener{
		r: r, fd: fds[0], addr: sockaddrToAddr(bound, isUnix), factory: factory,
		unix: isUnix, path: path, done: make(chan struct{}),
		backoff: make([]time.Duration, len(r.loops)), sockopts: so,
		key: listenKey(isUnix, address),
	}
	if len(fds) > 1 {
		ln.fds = fds
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

// attach starts watching ln on this loop (again, after a back-off), unless
// ln was closed or the loop stopped accepting.
func (l *loop) attach(ln *Listener) {
	if l.shutdown != nil || !ln.acquire() {
		l.letGo(ln)
		return
	}
	fd := ln.fdFor(l)
	err := l.poller.addListener(fd)
	ln.release()
	if err != nil {
		l.log.Error().Err(err).Str("addr", ln.addr.String()).Msg("cannot watch listener")
		l.letGo(ln)
		return
	}
	// If ln was closed meanwhile, the poller forgot fd and the detach that
	// Close queued drops this entry.
	l.listeners[fd] = ln
}

// detach stops watching ln on this loop.
func (l *loop) detach(ln *Listener) {
	fd := ln.fdFor(l)
	if l.listeners[fd] != ln {
		return // never attached, backing off, let go, or fd reused since
	}
	delete(l.listeners, fd)
	if ln.acquire() {
		l.poller.remove(fd)
		ln.release()
	}
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
	fd := ln.fdFor(l)
	for i := 0; i < acceptBatch; i++ {
		if !ln.acquire() {
			return // closed: a stale readiness report
		}
		nfd, remote, err := sysAcceptAddr(fd, ln.unix)
		ln.release()
		if err != nil {
			switch err {
			case unix.EAGAIN:
				return
			case unix.ECONNABORTED, unix.EINTR:
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
		l.newConn(nfd, remote, ln.factory, ln.unix, ln.sockopts)
	}
}

// acceptBackoff stops watching ln on this loop for a while: the pending
// connection stays in the backlog until descriptors are free again.
func (l *loop) acceptBackoff(ln *Listener, err error) {
	d := ln.backoff[l.index]*2 + acceptBackoffMin
	d = min(d, acceptBackoffMax)
	ln.backoff[l.index] = d
	l.stats.acceptBackoffs++
	fd := ln.fdFor(l)
	if l.listeners[fd] != ln {
		return
	}
	delete(l.listeners, fd)
	if !ln.acquire() {
		l.letGo(ln)
		return
	}
	l.poller.remove(fd)
	ln.release()
	l.log.Warn().Err(err).Str("addr", ln.addr.String()).Dur("retry_in", d).
		Msg("accept: out of file descriptors; backing off")
	l.CallLater(d, func() { l.attach(ln) })
}

// newConn sets up an accepted connection, from remote, on this loop.
func (l *loop) newConn(fd int, remote net.Addr, factory protocol.Factory, isUnix bool, so *SocketOptions) {
	if !isUnix {
		if so == nil {
			unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		} else if err := so.applyConn(fd); err != nil {
			l.log.Warn().Err(err).Str("peer", remote.String()).Msg("cannot set socket options")
		}
	}
	var proto protocol.Protocol
	l.guard(nil, func() { proto = factory.BuildProtocol(remote) })
	if proto == nil {
		l.stats.refused++
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
