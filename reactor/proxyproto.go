package reactor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/proxyproto"
	"github.com/mustaine/mustaine/timer"
)

// PROXY protocol errors, logged (and given to nobody else: the user's
// Protocol is never made for a refused connection). Match them with
// errors.Is; the parser's own errors (proxyproto.ErrMalformed, ErrTooLong,
// ErrUnsupported, ErrChecksum, ErrNoHeader) are wrapped inside
// ErrProxyHeader.
var (
	// ErrProxyHeader: the connection did not start with a valid PROXY
	// header.
	ErrProxyHeader = errors.New("mustaine: bad PROXY protocol header")
	// ErrProxyNotAllowed: a PROXY header came from a source outside
	// ProxyProtocol.Allowed.
	ErrProxyNotAllowed = errors.New("mustaine: PROXY header from a source that is not allowed")
	// ErrProxyTimeout: the header did not arrive within
	// ProxyProtocol.Timeout. errors.Is(err, protocol.ErrTimeout) holds too.
	ErrProxyTimeout = fmt.Errorf("mustaine: PROXY header timed out: %w", protocol.ErrTimeout)
)

// DefaultProxyHeaderTimeout is how long a listener waits for a PROXY
// header by default: a load balancer sends it with the connection, so a
// few seconds only ever run out for a peer that is not one.
const DefaultProxyHeaderTimeout = 3 * time.Second

// ProxyProtocol configures a listener that expects HAProxy's PROXY
// protocol (v1 or v2) before the first byte its Protocol sees. The zero
// value requires a header, from loopback sources only, within
// DefaultProxyHeaderTimeout.
type ProxyProtocol struct {
	// Allowed are the source networks whose headers are honoured (nil:
	// 127.0.0.0/8 and ::1). A header from any other source closes the
	// connection. Unix-domain peers are always allowed.
	Allowed []netip.Prefix
	// Timeout bounds the wait for the header (0: the default; < 0: none).
	Timeout time.Duration
	// Optional accepts connections that do not start with a header
	// (told apart by their first bytes: neither "PROXY " nor the v2
	// signature); they keep the socket's addresses. Off, such a
	// connection is closed.
	Optional bool
	// MaxV2Length bounds a v2 header (0: proxyproto.DefaultMaxV2Length).
	MaxV2Length int
}

var loopbackPrefixes = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ListenOption configures one listener (ListenTCP, ListenTLS, ListenUnix,
// ListenUnixTLS).
type ListenOption func(*listenSettings)

type listenSettings struct {
	proxy *ProxyProtocol
}

// WithProxyProtocol makes the listener expect a PROXY header on each
// connection, parsed on the loop as it arrives. The header comes before
// anything else, TLS included: with ListenTLS the handshake starts after
// it. The user's Factory is asked for its Protocol only once the header
// has been read, with the original client's address.
func WithProxyProtocol(p ProxyProtocol) ListenOption {
	return func(c *listenSettings) { c.proxy = &p }
}

func (r *Reactor) applyListenOptions(factory protocol.Factory, opts []ListenOption) protocol.Factory {
	var lc listenSettings
	for _, o := range opts {
		o(&lc)
	}
	if lc.proxy == nil {
		return factory
	}
	p := *lc.proxy
	if p.Allowed == nil {
		p.Allowed = loopbackPrefixes
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultProxyHeaderTimeout
	}
	return &proxyFactory{r: r, cfg: p, inner: factory}
}

// proxyFactory puts a PROXY-header layer under each accepted connection.
type proxyFactory struct {
	r     *Reactor
	cfg   ProxyProtocol
	inner protocol.Factory
}

// BuildProtocol returns the header layer; the inner factory is asked once
// the header is read.
func (f *proxyFactory) BuildProtocol(net.Addr) protocol.Protocol {
	return &proxyLayer{f: f, parser: proxyproto.Parser{MaxV2Length: f.cfg.MaxV2Length}}
}

// StartFactory starts the inner factory as it would be without the layer.
func (f *proxyFactory) StartFactory() {
	if s, ok := f.inner.(protocol.Starter); ok && isInternalStarter(f.inner) {
		s.StartFactory()
		return
	}
	f.r.factoryStarted(f.inner)
}

// StopFactory stops the inner factory.
func (f *proxyFactory) StopFactory() {
	if s, ok := f.inner.(protocol.Starter); ok && isInternalStarter(f.inner) {
		s.StopFactory()
		return
	}
	f.r.factoryStopped(f.inner)
}

// isInternalStarter reports whether f is one of the reactor's own layers,
// which count the user's factory themselves.
func isInternalStarter(f protocol.Factory) bool {
	_, ok := f.(*serverTLSFactory)
	return ok
}

// proxyState is what a connection keeps of its PROXY header.
type proxyState struct {
	header *proxyproto.Header // nil: optional mode, no header came
	local  net.Addr           // the original destination, nil to ask the socket
	// held are the bytes that came with the header while the Protocol had
	// paused reading in ConnectionMade; loop.read delivers them first once
	// reading resumes.
	held []byte
}

var _ protocol.ProxyInfo = (*conn)(nil)

// ProxyHeader returns the connection's PROXY header; see
// protocol.ProxyInfo.
func (c *conn) ProxyHeader() (*proxyproto.Header, bool) {
	p := c.proxied()
	if p == nil || p.header == nil {
		return nil, false
	}
	return p.header, true
}

// proxyLayer is a connection's Protocol until its PROXY header has been
// read; then it hands the connection to the inner factory's Protocol
// (which may be the TLS layer) and is gone.
type proxyLayer struct {
	f       *proxyFactory
	c       *conn
	parser  proxyproto.Parser
	timer   timer.Handle
	allowed bool
	done    bool
}

// ConnectionMade starts the header clock.
func (p *proxyLayer) ConnectionMade(tr protocol.Transport) {
	c := tr.(*conn)
	p.c = c
	p.allowed = p.f.sourceAllowed(c.remote)
	if p.f.cfg.Timeout > 0 {
		p.timer = c.loop.CallLater(p.f.cfg.Timeout, func() {
			if !p.done {
				p.refuse(ErrProxyTimeout)
			}
		})
	}
}

func (f *proxyFactory) sourceAllowed(a net.Addr) bool {
	switch a := a.(type) {
	case *net.UnixAddr:
		return true
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return false
		}
		ip = ip.Unmap()
		for _, p := range f.cfg.Allowed {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// DataReceived feeds the parser until it decides.
func (p *proxyLayer) DataReceived(data []byte) {
	if p.done {
		return
	}
	h, n, err := p.parser.Feed(data)
	switch {
	case errors.Is(err, proxyproto.ErrNoHeader) && p.f.cfg.Optional:
		rest := append(append([]byte(nil), p.parser.Pending()...), data...)
		p.handOver(nil, rest)
	case err != nil:
		p.refuse(fmt.Errorf("%w: %w", ErrProxyHeader, err))
	case h == nil:
		// Wait for more.
	case !p.allowed:
		p.refuse(ErrProxyNotAllowed)
	default:
		p.handOver(h, data[n:])
	}
}

// handOver applies the header and makes the inner Protocol.
func (p *proxyLayer) handOver(h *proxyproto.Header, rest []byte) {
	p.done = true
	p.timer.Cancel()
	c, l := p.c, p.c.loop
	st := &proxyState{header: h}
	if h != nil && h.HasAddresses() {
		src, dst := h.Addrs()
		c.remote, st.local = src, dst
	}
	c.aux = &connAux{proxy: st}
	var inner protocol.Protocol
	l.guard(c, func() { inner = p.f.inner.BuildProtocol(c.remote) })
	if c.flags&fClosed != 0 {
		return
	}
	if inner == nil {
		c.AbortConnection()
		return
	}
	c.proto = inner
	l.guard(c, func() { inner.ConnectionMade(c) })
	if len(rest) == 0 || c.flags&(fClosed|fClosing) != 0 {
		return
	}
	if c.flags&readBlocked != 0 {
		// The Protocol paused reading (or its output is over the mark):
		// hold the rest, which lives in the loop's read buffer, and let
		// the read that follows ResumeReading deliver it first.
		st.held = append([]byte(nil), rest...)
		c.flags |= fReadPending
		return
	}
	inner.DataReceived(rest)
}

// refuse logs why and closes the connection.
func (p *proxyLayer) refuse(reason error) {
	p.done = true
	p.timer.Cancel()
	c := p.c
	c.loop.connLog(c, c.loop.log.Warn()).Err(reason).Msg("PROXY protocol: closing connection")
	c.AbortConnection()
}

// Drain closes a connection still waiting for its header when the reactor
// stops.
func (p *proxyLayer) Drain() {
	if !p.done {
		p.done = true
		p.timer.Cancel()
		p.c.AbortConnection()
	}
}

// ConnectionLost stops the clock of a connection lost before its header.
func (p *proxyLayer) ConnectionLost(error) {
	p.done = true
	p.timer.Cancel()
}
