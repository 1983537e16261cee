package protocol

import "github.com/mustaine/mustaine/protocol/proxyproto"

// ProxyInfo is implemented by transports of listeners that expect the
// PROXY protocol (see reactor.WithProxyProtocol). ProxyHeader returns the
// header the load balancer sent, with its v2 TLVs (ALPN, authority, unique
// ID, SSL information); ok is false on a connection that came without one
// (optional mode). With a header that carries addresses, RemoteAddr and
// LocalAddr are already the original client's and destination's; with a
// LOCAL command or an unknown family they stay the socket's own.
type ProxyInfo interface {
	Transport
	ProxyHeader() (h *proxyproto.Header, ok bool)
}
