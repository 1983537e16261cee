package http

import (
	"crypto/tls"
	"net"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// hostPool is a Client's connections to one scheme, host and port, and
// the requests waiting for one of them.
type hostPool struct {
	c       *Client
	key     string                   // scheme "://" addr: the Client's map key
	addr    string                   // host:port
	tls     *tls.Config              // for https; nil for http
	all     map[*clientConn]struct{} // connected, busy or idle
	idle    []*clientConn            // most recently used last
	dialing int
	queue   []*clientExchange // waiting for a connection, in order
	filling bool              // maybeDial is running
}

// dial opens a connection to addr through the Client's Dialer, with TLS
// when config is not nil. It is the one place that connects, so that a
// resolver can take its place.
func (c *Client) dial(addr string, config *tls.Config, f protocol.Factory) *deferred.Deferred[protocol.Protocol] {
	if config != nil {
		// prepareURL let an https request through only with a TLSDialer.
		return c.dialer.(TLSDialer).ConnectTLSOn(c.lp, addr, config, f, c.cfg.connectTimeout)
	}
	return c.dialer.ConnectTCPOn(c.lp, addr, f, c.cfg.connectTimeout)
}

// newHostPool makes the pool of cx's scheme, host and port.
func (c *Client) newHostPool(cx *clientExchange) *hostPool {
	hp := &hostPool{c: c, key: cx.key, addr: cx.addr, all: make(map[*clientConn]struct{})}
	if cx.tls {
		hp.tls = c.cfg.tls
		if hp.tls.ServerName == "" {
			hp.tls = hp.tls.Clone()
			hp.tls.ServerName = cx.u.Hostname()
		}
	}
	c.hosts[cx.key] = hp
	return hp
}

// enqueue gives cx an idle connection to its host, or queues it (at the
// front for a retry) and connects if the host is below its limit.
func (c *Client) enqueue(cx *clientExchange, front bool) {
	hp := c.hosts[cx.key]
	if hp == nil {
		hp = c.newHostPool(cx)
	}
	if !cx.fresh {
		for len(hp.idle) > 0 {
			cc := hp.idle[len(hp.idle)-1]
			hp.idle = hp.idle[:len(hp.idle)-1]
			if cc.state == ccIdle {
				cc.assign(cx)
				return
			}
		}
	}
	cx.hp = hp
	if front {
		hp.queue = append([]*clientExchange{cx}, hp.queue...)
	} else {
		hp.queue = append(hp.queue, cx)
	}
	hp.maybeDial()
}

// unqueue removes cx from the queue if it waits there.
func (hp *hostPool) unqueue(cx *clientExchange) {
	cx.hp = nil
	for i, q := range hp.queue {
		if q == cx {
			hp.queue = append(hp.queue[:i], hp.queue[i+1:]...)
			return
		}
	}
}

// maybeDial connects while requests wait that no connection being made
// will take, up to the host's limit.
func (hp *hostPool) maybeDial() {
	if hp.filling {
		return // a connect that failed at once calls back in here
	}
	hp.filling = true
	for !hp.c.closed && len(hp.queue) > hp.dialing && len(hp.all)+hp.dialing < hp.c.cfg.maxConnsPerHost {
		hp.dialOne()
	}
	hp.filling = false
}

func (hp *hostPool) dialOne() {
	c := hp.c
	hp.dialing++
	c.stats.Dials++
	cc := &clientConn{c: c, hp: hp}
	f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return cc })
	c.dial(hp.addr, hp.tls, f).AddBoth(func(p protocol.Protocol, err error) (protocol.Protocol, error) {
		hp.dialing--
		if err != nil {
			// The request at the head of the queue gets the error, as the
			// one this connect was for; the others try again.
			if len(hp.queue) > 0 {
				hp.queue[0].fail(err)
			}
			hp.maybeDial()
			hp.forgetIfEmpty()
			return nil, nil
		}
		if cc.state == ccClosed {
			// Lost already (the peer closed at once).
			hp.maybeDial()
			return p, nil
		}
		hp.all[cc] = struct{}{}
		hp.release(cc)
		return p, nil
	})
}

// release hands a free connection to the next waiting request, or keeps
// it idle.
func (hp *hostPool) release(cc *clientConn) {
	if hp.c.closed {
		cc.close()
		return
	}
	for i, cx := range hp.queue {
		if cx.fresh && cc.served > 0 {
			continue
		}
		hp.queue = append(hp.queue[:i], hp.queue[i+1:]...)
		cx.hp = nil
		cc.assign(cx)
		return
	}
	cc.state = ccIdle
	hp.idle = append(hp.idle, cc)
	cc.startIdleTimer()
}

// gone forgets a connection that closed or is closing, and connects again
// if requests wait.
func (hp *hostPool) gone(cc *clientConn) {
	if _, ok := hp.all[cc]; !ok {
		return
	}
	delete(hp.all, cc)
	for i, ic := range hp.idle {
		if ic == cc {
			hp.idle = append(hp.idle[:i], hp.idle[i+1:]...)
			break
		}
	}
	hp.maybeDial()
	hp.forgetIfEmpty()
}

// forgetIfEmpty drops the pool of a host the client no longer talks to,
// so that a client calling many hosts does not keep one pool per host
// forever.
func (hp *hostPool) forgetIfEmpty() {
	if len(hp.all) == 0 && hp.dialing == 0 && len(hp.queue) == 0 && hp.c.hosts[hp.key] == hp {
		delete(hp.c.hosts, hp.key)
	}
}

// active returns the connections carrying a request.
func (hp *hostPool) active() []*clientConn {
	var out []*clientConn
	for cc := range hp.all {
		if cc.cx != nil {
			out = append(out, cc)
		}
	}
	return out
}
