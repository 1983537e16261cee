package reactor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// dialState is a client connection's link to its connect Deferred and its
// factory's client hooks. It is touched only on the dial's loop.
type dialState struct {
	r        *Reactor
	d        *deferred.Deferred[protocol.Protocol]
	factory  protocol.Factory
	client   protocol.ClientFactory // nil unless factory implements it
	addr     net.Addr               // the destination; once connected, the address connected
	opts     ConnectOptions
	isUnix   bool
	addrs    []unix.Sockaddr // addresses still to try
	timer    timer.Handle    // starts the next attempt beside those in flight
	deadline timer.Handle    // the whole connect's timeout
	lastErr  error           // why the last attempt failed
	stop     func()          // cancels a lookup in progress
	attempts []*conn         // the attempts in flight
	failed   bool            // the connect failed or was cancelled: no more hooks
	expired  bool            // the whole connect's timeout fired
}

// lost runs after an established client connection's ConnectionLost.
func (ds *dialState) lost(reason error) {
	if ds.client != nil {
		ds.client.ClientConnectionLost(ds.addr, reason)
	}
	ds.r.factoryStopped(ds.factory)
}

// ConnectTCP connects to address ("host:port": an IP literal, or a host
// name, looked up off the loop) without blocking: the socket connects on
// loop 0 and the returned Deferred fires there with the connected Protocol
// (after its ConnectionMade), or fails with ErrConnectRefused,
// ErrConnectTimeout, ErrConnectCancelled, ErrConnectFailed or
// ErrLookupFailed (joined with the resolver's error: errors.As finds the
// *net.DNSError). timeout <= 0 means no timeout of our own (the kernel's
// still applies). Call it on loop 0 or before Run; to connect on another
// loop use ConnectTCPOn, or a Transport's Loop().ConnectTCP.
//
// A host name is looked up with the reactor's Resolver (WithResolver) on
// the worker pool and its addresses are raced as RFC 8305 (Happy Eyeballs
// v2) does: in order, address families alternating, each attempt started
// when the previous one fails or after ConnectOptions.AttemptDelay
// (250 ms) without an answer, the earlier ones still running; the first
// to connect wins and the others are closed.
//
// As Twisted's connectors do, the factory's hooks run in this order:
// StartFactory (protocol.Starter, reference-counted with the listeners and
// connectors sharing the factory) before ConnectTCP returns; then, on the
// loop, StartedConnecting (protocol.ClientFactory; with a *HostAddr for a
// host name) before the lookup or the first connect is sent; then either
// BuildProtocol and, once the connection is lost, ClientConnectionLost,
// or ClientConnectionFailed alone; StopFactory last.
//
// Cancelling the Deferred (on its loop) stops a connect that has not
// completed, also from inside StartedConnecting, where it stops the
// connect before it is sent: ClientConnectionFailed runs once, inside
// Cancel, the Deferred fails with ErrConnectCancelled (which also matches
// deferred.ErrCancelled) and no Protocol is built. A cancel before the
// loop has started the dial calls no StartedConnecting.
func (r *Reactor) ConnectTCP(address string, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	return r.ConnectTCPOn(r.loops[0], address, factory, timeout)
}

// ConnectTCPOn is ConnectTCP on a chosen loop (one of r.Loops(), or a
// Transport's Loop() to keep a proxy's two legs on one loop). The Deferred
// fires on that loop: add callbacks to it, and cancel it, from that loop.
func (r *Reactor) ConnectTCPOn(lp protocol.Loop, address string, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	return r.ConnectTCPWith(lp, address, factory, ConnectOptions{Timeout: timeout})
}

// ConnectTCPWith is ConnectTCPOn with socket options and a per-attempt
// timeout (see ConnectOptions).
func (r *Reactor) ConnectTCPWith(lp protocol.Loop, address string, factory protocol.Factory, opts ConnectOptions) *deferred.Deferred[protocol.Protocol] {
	tg, err := parseTCP(address)
	if err != nil {
		return deferred.FailForCaller[protocol.Protocol](err)
	}
	if tg.host != "" {
		return r.dial(lp, nil, &HostAddr{Host: tg.host, Port: tg.port}, false, factory, opts)
	}
	return r.dial(lp, []unix.Sockaddr{tg.sa}, sockaddrToAddr(tg.sa, false), false, factory, opts)
}

// ConnectUnix connects to a Unix-domain stream socket on loop 0; see
// ConnectTCP.
func (r *Reactor) ConnectUnix(path string, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	sa := &unix.SockaddrUnix{Name: path}
	return r.dial(r.loops[0], []unix.Sockaddr{sa}, sockaddrToAddr(sa, true), true, factory, ConnectOptions{Timeout: timeout})
}

// dial starts a connect to addrs, or, when addrs is nil, to the addresses
// of dest (a *HostAddr) once looked up.
func (r *Reactor) dial(lp protocol.Loop, addrs []unix.Sockaddr, dest net.Addr, isUnix bool, factory protocol.Factory, opts ConnectOptions) *deferred.Deferred[protocol.Protocol] {
	l, ok := lp.(*loop)
	if !ok || l.r != r {
		return deferred.FailForCaller[protocol.Protocol](fmt.Errorf("%w: loop does not belong to this reactor", ErrConnectFailed))
	}
	if r.state.Load() >= stateStopping {
		return deferred.FailForCaller[protocol.Protocol](ErrReactorStopping)
	}
	ds := &dialState{r: r, factory: factory, addr: dest, opts: opts, isUnix: isUnix, addrs: addrs}
	ds.client, _ = factory.(protocol.ClientFactory)
	ds.d = deferred.NewForCaller(func(*deferred.Deferred[protocol.Protocol]) { l.cancelDial(ds) })
	r.factoryStarted(factory)
	l.CallFromThread(func() {
		if !ds.failed {
			l.beginDial(ds)
		}
	})
	return ds.d
}

// cancelDial is the connect Deferred's canceller.
func (l *loop) cancelDial(ds *dialState) {
	if len(ds.attempts) > 0 {
		l.abandon(ds, errConnectCancelled)
		return
	}
	if !ds.failed {
		// beginDial has not run yet (it will see failed and do nothing),
		// or a lookup is in progress.
		l.dialFailed(ds, errConnectCancelled)
	}
}

// beginDial runs the client hooks and starts the lookup or the first
// attempt.
func (l *loop) beginDial(ds *dialState) {
	if l.shutdown != nil {
		l.dialFailed(ds, ErrReactorStopping)
		return
	}
	if ds.client != nil {
		// Twisted's startedConnecting may call stopConnecting: a cancel
		// from here stops the connect before anything is sent.
		l.guard(nil, func() { ds.client.StartedConnecting(ds.addr) })
		if ds.failed {
			return
		}
	}
	if t := ds.opts.Timeout; t > 0 {
		ds.deadline = l.CallLater(t, func() { l.dialTimedOut(ds) })
	}
	if ds.addrs == nil {
		l.lookup(ds)
		return
	}
	l.nextAttempt(ds)
}

// lookup resolves the destination's host name on the worker pool and goes
// on with the attempts on this loop.
func (l *loop) lookup(ds *dialState) {
	dest := ds.addr.(*HostAddr)
	timeout := defaultLookupTimeout
	if ds.opts.Timeout > 0 {
		timeout = ds.opts.Timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	if l.lookups == nil {
		l.lookups = make(map[*dialState]struct{})
	}
	l.lookups[ds] = struct{}{}
	ds.stop = func() {
		cancel()
		delete(l.lookups, ds)
	}
	res := l.r.cfg.resolver
	d := DeferToThread(l, func() ([]netip.Addr, error) { return res.LookupNetIP(ctx, "ip", dest.Host) })
	d.AddBoth(func(ips []netip.Addr, err error) ([]netip.Addr, error) {
		if ds.stop != nil {
			ds.stop()
			ds.stop = nil
		}
		if ds.failed {
			return nil, nil
		}
		if l.shutdown != nil {
			l.dialFailed(ds, ErrReactorStopping)
			return nil, nil
		}
		if err != nil || len(ips) == 0 {
			l.dialFailed(ds, lookupError(dest.Host, ips, err))
			return nil, nil
		}
		ds.addrs = make([]unix.Sockaddr, 0, len(ips))
		for _, ip := range interleave(ips) {
			if sa, _, err := ipSockaddr(ip, dest.Port); err == nil {
				ds.addrs = append(ds.addrs, sa)
			}
		}
		l.nextAttempt(ds)
		return nil, nil
	})
}

// dialTimedOut ends a connect whose ConnectOptions.Timeout expired.
func (l *loop) dialTimedOut(ds *dialState) {
	ds.expired = true
	l.abandon(ds, ErrConnectTimeout)
}

// abandon closes every attempt in flight and fails the connect.
func (l *loop) abandon(ds *dialState, reason error) {
	attempts := ds.attempts
	ds.attempts = nil
	for _, c := range attempts {
		c.flags &^= fConnecting
		l.release(c)
	}
	l.dialFailed(ds, reason)
}

// dropAttempt removes c from the attempts in flight.
func (ds *dialState) dropAttempt(c *conn) {
	for i, a := range ds.attempts {
		if a == c {
			ds.attempts = append(ds.attempts[:i], ds.attempts[i+1:]...)
			return
		}
	}
}

// attemptDelay is how long an attempt runs alone before the next address
// is tried beside it.
func (ds *dialState) attemptDelay() time.Duration {
	if ds.opts.AttemptDelay > 0 {
		return ds.opts.AttemptDelay
	}
	return defaultAttemptDelay
}

// nextAttempt starts an attempt on the next address, or, when none is
// left and no attempt is in flight, fails the connect with the last
// attempt's error.
func (l *loop) nextAttempt(ds *dialState) {
	for !ds.failed {
		if len(ds.addrs) == 0 {
			if len(ds.attempts) > 0 {
				return
			}
			err := ds.lastErr
			if err == nil {
				err = ErrConnectFailed
			}
			l.dialFailed(ds, err)
			return
		}
		sa := ds.addrs[0]
		ds.addrs = ds.addrs[1:]
		if l.startAttempt(ds, sa) {
			return
		}
	}
}

// startAttempt opens a socket and starts a non-blocking connect to sa. It
// reports false when the attempt failed at once (ds.lastErr says why).
func (l *loop) startAttempt(ds *dialState, sa unix.Sockaddr) bool {
	family := unix.AF_UNIX
	switch sa.(type) {
	case *unix.SockaddrInet4:
		family = unix.AF_INET
	case *unix.SockaddrInet6:
		family = unix.AF_INET6
	}
	fd, err := sysSocket(family, unix.SOCK_STREAM)
	if err != nil {
		ds.lastErr = fmt.Errorf("%w: %w", ErrConnectFailed, err)
		return false
	}
	if !ds.isUnix {
		err := ds.opts.Socket.applyEarly(fd, family)
		if err == nil {
			err = ds.opts.Socket.applyConn(fd)
		}
		if err != nil {
			unix.Close(fd)
			ds.lastErr = fmt.Errorf("%w: %w", ErrConnectFailed, err)
			return false
		}
	}
	c := &conn{fd: fd, loop: l, remote: sockaddrToAddr(sa, ds.isUnix), aux: &connAux{dial: ds}, flags: fConnecting, id: l.r.nextConnID.Add(1)}
	if ds.isUnix {
		c.flags |= fUnix
	}
	ds.attempts = append(ds.attempts, c)
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		l.failDial(c, dialError(err))
		return true // failDial went on with the next address
	}
	// The socket is registered for writability; the event that reports the
	// connect's outcome arrives on a later turn (also when it already
	// connected, as a Unix socket can).
	if err := l.register(c); err != nil {
		l.failDial(c, fmt.Errorf("%w: %w", ErrConnectFailed, err))
		return true
	}
	ds.timer.Cancel()
	if len(ds.addrs) > 0 {
		ds.timer = l.CallLater(ds.attemptDelay(), func() { l.nextAttempt(ds) })
	}
	return true
}

// dialError maps a connect error to the package's sentinels.
func dialError(err error) error {
	switch err {
	case unix.ECONNREFUSED, unix.ENOENT:
		return fmt.Errorf("%w: %w", ErrConnectRefused, err)
	case unix.ETIMEDOUT:
		return fmt.Errorf("%w: %w", ErrConnectTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrConnectFailed, err)
}

// finishDial completes a connect that the poller reported on. A connecting
// socket is reported on only once the connect is over, and possibly as
// readable rather than writable (kqueue reports the two filters apart), so
// any readiness is the outcome: a pending error means failure.
func (l *loop) finishDial(c *conn) {
	if c.flags&fConnecting == 0 {
		return
	}
	soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if err != nil {
		if err == unix.EINPROGRESS || err == unix.EALREADY {
			return
		}
		l.failDial(c, dialError(err))
		return
	}
	ds := c.dialing()
	c.flags &^= fConnecting
	ds.timer.Cancel()
	ds.deadline.Cancel()
	ds.dropAttempt(c)
	for _, other := range ds.attempts {
		// Happy Eyeballs: the losers of the race are closed unused.
		other.flags &^= fConnecting
		l.release(other)
	}
	ds.attempts = nil
	ds.addrs = nil
	ds.addr = c.remote
	var proto protocol.Protocol
	l.guard(nil, func() { proto = ds.factory.BuildProtocol(ds.addr) })
	if proto == nil {
		l.release(c)
		l.dialFailed(ds, protocol.ErrRefused)
		return
	}
	c.proto = proto
	l.start(c)
	// Like Twisted's endpoints: the Deferred fires after ConnectionMade.
	l.guard(nil, func() { ds.d.Callback(proto) })
}

// failDial ends the attempt c. The next address is tried at once unless
// the connect timed out as a whole or the reactor is stopping; once no
// address is left and no attempt is in flight, the connect fails with
// this reason. (A cancelled connect never gets here: cancelDial abandons
// its attempts.)
func (l *loop) failDial(c *conn, reason error) {
	if c.flags&fConnecting == 0 {
		return
	}
	ds := c.dialing()
	c.flags &^= fConnecting
	ds.dropAttempt(c)
	l.release(c)
	final := errors.Is(reason, ErrReactorStopping) || ds.expired
	ds.lastErr = reason
	if final {
		l.abandon(ds, reason)
		return
	}
	l.nextAttempt(ds)
}

// dialFailed tells the factory and the Deferred that the connect failed,
// once, and lets go of the factory.
func (l *loop) dialFailed(ds *dialState, reason error) {
	if ds.failed {
		return
	}
	ds.failed = true
	ds.timer.Cancel()
	ds.deadline.Cancel()
	if ds.stop != nil {
		ds.stop()
	}
	if ds.client != nil {
		l.guard(nil, func() { ds.client.ClientConnectionFailed(ds.addr, reason) })
	}
	l.guard(nil, func() { ds.d.Errback(reason) })
	l.r.factoryStopped(ds.factory)
}

// ConnectTCP connects out from this loop, as protocol.Connector: the
// connection lives on this loop and the Deferred fires here. It is
// Reactor.ConnectTCPOn with this loop.
func (l *loop) ConnectTCP(address string, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	return l.r.ConnectTCPOn(l, address, factory, timeout)
}

var _ protocol.Connector = (*loop)(nil)
