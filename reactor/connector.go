package reactor

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// dialState is a client connection's link to its connect Deferred and its
// factory's client hooks. It is touched only on the dial's loop.
type dialState struct {
	r       *Reactor
	d       *deferred.Deferred[protocol.Protocol]
	factory protocol.Factory
	client  protocol.ClientFactory // nil unless factory implements it
	addr    net.Addr
	timer   timer.Handle
	c       *conn // the socket, once startDial made it
	failed  bool  // the connect failed or was cancelled: no more hooks
}

// lost runs after an established client connection's ConnectionLost.
func (ds *dialState) lost(reason error) {
	if ds.client != nil {
		ds.client.ClientConnectionLost(ds.addr, reason)
	}
	ds.r.factoryStopped(ds.factory)
}

// ConnectTCP connects to address (an IP literal or "localhost" with a port)
// without blocking: the socket connects on loop 0 and the returned Deferred
// fires there with the connected Protocol (after its ConnectionMade), or
// fails with ErrConnectRefused, ErrConnectTimeout, ErrConnectCancelled or
// ErrConnectFailed. timeout <= 0 means no timeout of our own (the kernel's
// still applies). Call it on loop 0 or before Run; to connect on another
// loop use ConnectTCPOn.
//
// As Twisted's connectors do, the factory's hooks run in this order:
// StartFactory (protocol.Starter, reference-counted with the listeners and
// connectors sharing the factory) before ConnectTCP returns; then, on the
// loop, StartedConnecting (protocol.ClientFactory) before the connect is
// sent; then either BuildProtocol and, once the connection is lost,
// ClientConnectionLost, or ClientConnectionFailed alone; StopFactory last.
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
	sa, family, err := resolveTCP(address)
	if err != nil {
		return deferred.FailForCaller[protocol.Protocol](err)
	}
	return r.dial(lp, family, sa, false, factory, timeout)
}

// ConnectUnix connects to a Unix-domain stream socket on loop 0; see
// ConnectTCP.
func (r *Reactor) ConnectUnix(path string, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	return r.dial(r.loops[0], unix.AF_UNIX, &unix.SockaddrUnix{Name: path}, true, factory, timeout)
}

func (r *Reactor) dial(lp protocol.Loop, family int, sa unix.Sockaddr, isUnix bool, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	l, ok := lp.(*loop)
	if !ok || l.r != r {
		return deferred.FailForCaller[protocol.Protocol](fmt.Errorf("%w: loop does not belong to this reactor", ErrConnectFailed))
	}
	if r.state.Load() >= stateStopping {
		return deferred.FailForCaller[protocol.Protocol](ErrReactorStopping)
	}
	ds := &dialState{r: r, factory: factory, addr: sockaddrToAddr(sa, isUnix)}
	ds.client, _ = factory.(protocol.ClientFactory)
	ds.d = deferred.NewForCaller(func(*deferred.Deferred[protocol.Protocol]) { l.cancelDial(ds) })
	r.factoryStarted(factory)
	l.CallFromThread(func() {
		if !ds.failed {
			l.startDial(ds, family, sa, isUnix, timeout)
		}
	})
	return ds.d
}

// cancelDial is the connect Deferred's canceller.
func (l *loop) cancelDial(ds *dialState) {
	if ds.c != nil {
		l.failDial(ds.c, ErrConnectCancelled)
		return
	}
	if !ds.failed {
		// startDial has not run yet; it will see failed and do nothing.
		l.dialFailed(ds, errors.Join(ErrConnectCancelled, deferred.ErrCancelled))
	}
}

// startDial opens the socket and starts a non-blocking connect.
func (l *loop) startDial(ds *dialState, family int, sa unix.Sockaddr, isUnix bool, timeout time.Duration) {
	if l.shutdown != nil {
		l.dialFailed(ds, ErrReactorStopping)
		return
	}
	fd, err := sysSocket(family, unix.SOCK_STREAM)
	if err != nil {
		l.dialFailed(ds, errors.Join(ErrConnectFailed, err))
		return
	}
	if !isUnix {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	c := &conn{fd: fd, loop: l, remote: ds.addr, dial: ds, flags: fConnecting, id: l.r.nextConnID.Add(1)}
	if isUnix {
		c.flags |= fUnix
	}
	ds.c = c
	if ds.client != nil {
		// Twisted's startedConnecting may call stopConnecting: a cancel
		// from here closes the socket before anything is sent.
		l.guard(nil, func() { ds.client.StartedConnecting(ds.addr) })
		if c.flags&fConnecting == 0 {
			return
		}
	}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		l.failDial(c, dialError(err))
		return
	}
	// The socket is registered for writability; the event that reports the
	// connect's outcome arrives on a later turn (also when it already
	// connected, as a Unix socket can).
	if err := l.register(c); err != nil {
		l.failDial(c, errors.Join(ErrConnectFailed, err))
		return
	}
	if timeout > 0 {
		ds.timer = l.CallLater(timeout, func() { l.failDial(c, ErrConnectTimeout) })
	}
}

// dialError maps a connect error to the package's sentinels.
func dialError(err error) error {
	switch err {
	case unix.ECONNREFUSED, unix.ENOENT:
		return errors.Join(ErrConnectRefused, err)
	case unix.ETIMEDOUT:
		return errors.Join(ErrConnectTimeout, err)
	}
	return errors.Join(ErrConnectFailed, err)
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
	ds := c.dial
	c.flags &^= fConnecting
	ds.timer.Cancel()
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

// failDial abandons a connect in progress.
func (l *loop) failDial(c *conn, reason error) {
	if c.flags&fConnecting == 0 {
		return
	}
	c.flags &^= fConnecting
	c.dial.timer.Cancel()
	l.release(c)
	if errors.Is(reason, ErrConnectCancelled) {
		reason = errors.Join(reason, deferred.ErrCancelled)
	}
	l.dialFailed(c.dial, reason)
}

// dialFailed tells the factory and the Deferred that the connect failed,
// once, and lets go of the factory.
func (l *loop) dialFailed(ds *dialState, reason error) {
	if ds.failed {
		return
	}
	ds.failed = true
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
