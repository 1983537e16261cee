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
// factory's client hooks.
type dialState struct {
	d         *deferred.Deferred[protocol.Protocol]
	factory   protocol.Factory
	client    protocol.ClientFactory // nil unless factory implements it
	addr      net.Addr
	timer     timer.Handle
	cancelled bool
	started   bool
}

func (ds *dialState) lost(reason error) {
	if ds.client != nil {
		ds.client.ClientConnectionLost(ds.addr, reason)
	}
}

// ConnectTCP connects to address (an IP literal or "localhost" with a port)
// without blocking: the socket connects on loop 0 and the returned Deferred
// fires there with the connected Protocol (after its ConnectionMade), or
// fails with ErrConnectRefused, ErrConnectTimeout, ErrConnectCancelled or
// ErrConnectFailed. timeout <= 0 means no timeout of our own (the kernel's
// still applies). Call it on loop 0 or before Run; to connect on another
// loop use ConnectTCPOn.
func (r *Reactor) ConnectTCP(address string, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	return r.ConnectTCPOn(r.loops[0], address, factory, timeout)
}

// ConnectTCPOn is ConnectTCP on a chosen loop (one of r.Loops(), or a
// Transport's Loop() to keep a proxy's two legs on one loop). The Deferred
// fires on that loop: add callbacks to it from that loop.
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
	ds := &dialState{factory: factory, addr: sockaddrToAddr(sa, isUnix)}
	ds.client, _ = factory.(protocol.ClientFactory)
	var c *conn
	ds.d = deferred.NewForCaller(func(*deferred.Deferred[protocol.Protocol]) {
		ds.cancelled = true
		if c != nil {
			l.failDial(c, ErrConnectCancelled)
		}
	})
	l.CallFromThread(func() {
		if ds.cancelled {
			return
		}
		c = l.startDial(ds, family, sa, isUnix, timeout)
	})
	return ds.d
}

// startDial opens the socket and starts a non-blocking connect.
func (l *loop) startDial(ds *dialState, family int, sa unix.Sockaddr, isUnix bool, timeout time.Duration) *conn {
	fail := func(err error) *conn {
		l.dialFailed(ds, err)
		return nil
	}
	if l.shutdown != nil {
		return fail(ErrReactorStopping)
	}
	fd, err := sysSocket(family, unix.SOCK_STREAM)
	if err != nil {
		return fail(errors.Join(ErrConnectFailed, err))
	}
	if !isUnix {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if ds.client != nil {
		l.guard(nil, func() { ds.client.StartedConnecting(ds.addr) })
	}
	ds.started = true
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		unix.Close(fd)
		return fail(dialError(err))
	}
	c := &conn{fd: fd, loop: l, remote: ds.addr, dial: ds, flags: fConnecting, id: l.r.nextConnID.Add(1)}
	if isUnix {
		c.flags |= fUnix
	}
	// The socket is registered for writability; the event that reports the
	// connect's outcome arrives on a later turn (also when it already
	// connected, as a Unix socket can).
	if err := l.register(c); err != nil {
		unix.Close(fd)
		return fail(errors.Join(ErrConnectFailed, err))
	}
	if timeout > 0 {
		ds.timer = l.CallLater(timeout, func() { l.failDial(c, ErrConnectTimeout) })
	}
	return c
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

// finishDial completes a connect that the poller reported on.
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

// dialFailed tells the factory and the Deferred that the connect failed.
func (l *loop) dialFailed(ds *dialState, reason error) {
	if ds.client != nil {
		l.guard(nil, func() { ds.client.ClientConnectionFailed(ds.addr, reason) })
	}
	l.guard(nil, func() { ds.d.Errback(reason) })
}
