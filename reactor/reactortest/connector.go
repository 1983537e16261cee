package reactortest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// ErrConnectCancelled is the failure of a fake connect whose Deferred was
// cancelled before the test completed or failed it. It also matches
// deferred.ErrCancelled.
var ErrConnectCancelled = errors.New("reactortest: connect cancelled")

// ConnectTCP records a connect request, as Twisted's MemoryReactor does,
// and returns its Deferred, which fires only when the test calls Complete
// or Fail on the request (see Connects). A protocol.ClientFactory's
// StartedConnecting is called at once. Loop thus implements
// protocol.Connector.
func (l *Loop) ConnectTCP(address string, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	req := &ConnectRequest{Address: address, Factory: factory, Timeout: timeout, loop: l}
	req.client, _ = factory.(protocol.ClientFactory)
	req.Deferred = deferred.NewWithCanceller(func(*deferred.Deferred[protocol.Protocol]) {
		req.fail(fmt.Errorf("%w: %w", ErrConnectCancelled, deferred.ErrCancelled))
	})
	l.connects = append(l.connects, req)
	if req.client != nil {
		req.client.StartedConnecting(req.addr())
	}
	return req.Deferred
}

var _ protocol.Connector = (*Loop)(nil)

// Connects returns every connect request made through the loop, oldest
// first, including those already completed or failed (see
// ConnectRequest.Done).
func (l *Loop) Connects() []*ConnectRequest {
	return append([]*ConnectRequest(nil), l.connects...)
}

// PendingConnects returns the connect requests not yet completed, failed
// or cancelled, oldest first.
func (l *Loop) PendingConnects() []*ConnectRequest {
	var out []*ConnectRequest
	for _, r := range l.connects {
		if !r.done {
			out = append(out, r)
		}
	}
	return out
}

// ConnectRequest is one connect recorded by Loop.ConnectTCP.
type ConnectRequest struct {
	// Address, Factory and Timeout are what ConnectTCP was given.
	Address string
	Factory protocol.Factory
	Timeout time.Duration
	// Deferred is what ConnectTCP returned.
	Deferred *deferred.Deferred[protocol.Protocol]

	loop   *Loop
	client protocol.ClientFactory
	done   bool
	pair   *Pair
}

// Done reports whether the request was completed, failed or cancelled.
func (r *ConnectRequest) Done() bool { return r.done }

// Pair returns the Pair that Complete made, or nil.
func (r *ConnectRequest) Pair() *Pair { return r.pair }

// addr is the peer's address: Address as a *net.TCPAddr when it is an IP
// literal with a port, else ServerAddr.
func (r *ConnectRequest) addr() net.Addr {
	if ap, err := netip.ParseAddrPort(r.Address); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return ServerAddr
}

// Complete connects the request in memory to server, as if the remote end
// had accepted: the factory builds the client protocol, the two are joined
// in a Pair on the request's loop (server's ConnectionMade first), and the
// Deferred fires with the client protocol. Move bytes with the Pair's Pump
// or Flush. A protocol.ClientFactory's ClientConnectionLost is called
// after the client protocol's ConnectionLost. If the factory builds nil,
// the request fails with protocol.ErrRefused and Complete returns nil.
// Completing a request that is done panics.
func (r *ConnectRequest) Complete(server protocol.Protocol) *Pair {
	if r.done {
		panic(fmt.Sprintf("reactortest: connect to %s completed twice", r.Address))
	}
	addr := r.addr()
	client := r.Factory.BuildProtocol(addr)
	if client == nil {
		r.fail(protocol.ErrRefused)
		return nil
	}
	r.done = true
	p := connectedPairOn(r.loop, server, client, addr)
	if r.client != nil {
		p.Client.afterLost = func(reason error) { r.client.ClientConnectionLost(addr, reason) }
	}
	r.pair = p
	r.Deferred.Callback(client)
	return p
}

// Fail fails the request with err (say reactor.ErrConnectRefused or a
// *net.DNSError): a protocol.ClientFactory's ClientConnectionFailed runs,
// then the Deferred fails. Failing a request that is done does nothing.
func (r *ConnectRequest) Fail(err error) {
	r.fail(err)
}

func (r *ConnectRequest) fail(err error) {
	if r.done {
		return
	}
	r.done = true
	if r.client != nil {
		r.client.ClientConnectionFailed(r.addr(), err)
	}
	r.Deferred.Errback(err)
}
