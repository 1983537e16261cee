package reactor

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// TLS errors. Match them with errors.Is; the crypto/tls and crypto/x509
// errors they wrap (x509.HostnameError, x509.CertificateInvalidError,
// x509.UnknownAuthorityError, tls.RecordHeaderError, *net.OpError for an
// alert) are reachable with errors.As.
var (
	// ErrTLSHandshake: the TLS handshake failed; the wrapped error says why.
	ErrTLSHandshake = errors.New("mustaine: TLS handshake failed")
	// ErrTLSHandshakeTimeout: the handshake did not finish within
	// WithTLSHandshakeTimeout. errors.Is(err, protocol.ErrTimeout) holds too.
	ErrTLSHandshakeTimeout = fmt.Errorf("mustaine: TLS handshake timed out: %w", protocol.ErrTimeout)
	// ErrNoCloseNotify: the peer closed the connection without sending
	// TLS's close_notify first, so the application data may have been
	// truncated. ConnectionLost gets it joined with protocol.ErrPeerClosed.
	ErrNoCloseNotify = errors.New("mustaine: peer closed without TLS close_notify (data may be truncated)")
	// ErrTLS: a TLS error after the handshake (a bad record, an alert from
	// the peer); the wrapped error says which.
	ErrTLS = errors.New("mustaine: TLS error")
	// ErrTLSStarted is returned by StartTLS on a connection that already
	// runs TLS.
	ErrTLSStarted = errors.New("mustaine: TLS already started on this connection")
	// ErrTLSConfig: the tls.Config cannot serve (a server config without a
	// certificate, a nil config).
	ErrTLSConfig = errors.New("mustaine: unusable tls.Config")
)

// Defaults for the TLS options; the package doc says why these values.
const (
	defaultTLSHandshakeTimeout = 10 * time.Second
	defaultTLSHandshakes       = 1024
)

// ListenTLS is ListenTCP for TLS: each connection does a server handshake
// with config, and only then is factory asked for its Protocol, which sees
// plaintext through the same Transport contract (its ConnectionState is
// ready in ConnectionMade). config must hold a certificate
// (Certificates, GetCertificate or GetConfigForClient); it is used as
// given, not copied, so GetCertificate can rotate certificates.
func (r *Reactor) ListenTLS(address string, config *tls.Config, factory protocol.Factory, opts ...ListenOption) (*Listener, error) {
	f, err := r.tlsServerFactory(config, factory)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	return r.ListenTCP(address, f, opts...)
}

// ListenUnixTLS is ListenUnix for TLS; see ListenTLS.
func (r *Reactor) ListenUnixTLS(path string, config *tls.Config, factory protocol.Factory, opts ...ListenOption) (*Listener, error) {
	f, err := r.tlsServerFactory(config, factory)
	if err != nil {
		return nil, fmt.Errorf("listen unix %s: %w", path, err)
	}
	return r.ListenUnix(path, f, opts...)
}

func (r *Reactor) tlsServerFactory(config *tls.Config, factory protocol.Factory) (*serverTLSFactory, error) {
	if config == nil || len(config.Certificates) == 0 && config.GetCertificate == nil && config.GetConfigForClient == nil {
		return nil, fmt.Errorf("%w: a server needs Certificates, GetCertificate or GetConfigForClient", ErrTLSConfig)
	}
	return &serverTLSFactory{r: r, config: config, user: factory}, nil
}

// ConnectTLS is ConnectTCP for TLS, on loop 0: the Deferred fires with the
// connected Protocol once the TLS handshake has succeeded (after the
// Protocol's ConnectionMade), or fails with the connect's errors, with
// ErrTLSHandshake (wrapping crypto/tls's error: a certificate that does
// not verify is an *x509.HostnameError, x509.CertificateInvalidError or
// x509.UnknownAuthorityError for errors.As) or with
// ErrTLSHandshakeTimeout. timeout bounds the TCP connect; the handshake has
// its own (WithTLSHandshakeTimeout). config is copied; an empty ServerName
// is taken from address's host, as tls.Dial does. A ClientFactory's
// ClientConnectionFailed hears of handshake failures too.
func (r *Reactor) ConnectTLS(address string, config *tls.Config, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	return r.ConnectTLSOn(r.loops[0], address, config, factory, timeout)
}

// ConnectTLSOn is ConnectTLS on a chosen loop; see ConnectTCPOn.
func (r *Reactor) ConnectTLSOn(lp protocol.Loop, address string, config *tls.Config, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return deferred.FailForCaller[protocol.Protocol](fmt.Errorf("%w: %s: %w", ErrBadAddress, address, err))
	}
	return r.connectTLS(lp, clientTLSConfig(config, host), factory, func(f protocol.Factory) *deferred.Deferred[protocol.Protocol] {
		return r.ConnectTCPOn(lp, address, f, timeout)
	})
}

// ConnectUnixTLS is ConnectUnix for TLS; see ConnectTLS. There is no host
// name to take ServerName from: set it in config (or set
// InsecureSkipVerify and verify the peer yourself).
func (r *Reactor) ConnectUnixTLS(path string, config *tls.Config, factory protocol.Factory, timeout time.Duration) *deferred.Deferred[protocol.Protocol] {
	return r.connectTLS(r.loops[0], clientTLSConfig(config, ""), factory, func(f protocol.Factory) *deferred.Deferred[protocol.Protocol] {
		return r.ConnectUnix(path, f, timeout)
	})
}

// clientTLSConfig copies config and fills in ServerName from host.
func clientTLSConfig(config *tls.Config, host string) *tls.Config {
	var c *tls.Config
	if config == nil {
		c = &tls.Config{}
	} else {
		c = config.Clone()
	}
	if c.ServerName == "" && !c.InsecureSkipVerify {
		c.ServerName = host
	}
	return c
}

func (r *Reactor) connectTLS(lp protocol.Loop, config *tls.Config, factory protocol.Factory,
	dial func(protocol.Factory) *deferred.Deferred[protocol.Protocol]) *deferred.Deferred[protocol.Protocol] {
	l, ok := lp.(*loop)
	if !ok || l.r != r {
		return deferred.FailForCaller[protocol.Protocol](fmt.Errorf("%w: loop does not belong to this reactor", ErrConnectFailed))
	}
	cf := &clientTLSFactory{r: r, config: config, user: factory}
	cf.client, _ = factory.(protocol.ClientFactory)
	cf.d = deferred.NewForCaller(func(*deferred.Deferred[protocol.Protocol]) { cf.cancel() })
	// The TCP connect's Deferred fires on l: it is made and chained there.
	l.CallFromThread(func() {
		if cf.d.Called() {
			return // cancelled before it started
		}
		cf.raw = dial(cf)
		cf.raw.AddErrback(func(err error) (protocol.Protocol, error) {
			// The TCP connect failed (ClientConnectionFailed has been
			// called through cf).
			if !cf.d.Called() {
				cf.d.Errback(err)
			}
			return nil, nil
		})
	})
	return cf.d
}

// serverTLSFactory puts a server-side TLS layer under each accepted
// connection. It is a Starter so that the user's factory is counted once
// per listener, as it would be without TLS.
type serverTLSFactory struct {
	r      *Reactor
	config *tls.Config
	user   protocol.Factory
}

// BuildProtocol returns the TLS layer; the user's factory is asked once
// the handshake is done.
func (f *serverTLSFactory) BuildProtocol(addr net.Addr) protocol.Protocol {
	return &tlsLayer{server: true, config: f.config, factory: f.user}
}

// StartFactory counts the user's factory as started.
func (f *serverTLSFactory) StartFactory() { f.r.factoryStarted(f.user) }

// StopFactory counts the user's factory as stopped.
func (f *serverTLSFactory) StopFactory() { f.r.factoryStopped(f.user) }

// clientTLSFactory is the factory of one ConnectTLS: it builds the TLS
// layer, forwards the ClientFactory hooks, and owns the Deferred the user
// holds, fired when the handshake is done.
type clientTLSFactory struct {
	r      *Reactor
	config *tls.Config
	user   protocol.Factory
	client protocol.ClientFactory // nil unless user implements it
	d      *deferred.Deferred[protocol.Protocol]
	raw    *deferred.Deferred[protocol.Protocol] // the TCP connect
	layer  *tlsLayer
}

// BuildProtocol returns the TLS layer of the connection.
func (f *clientTLSFactory) BuildProtocol(addr net.Addr) protocol.Protocol {
	f.layer = &tlsLayer{config: f.config, factory: f.user, dial: f}
	return f.layer
}

// StartFactory counts the user's factory as started.
func (f *clientTLSFactory) StartFactory() { f.r.factoryStarted(f.user) }

// StopFactory counts the user's factory as stopped.
func (f *clientTLSFactory) StopFactory() { f.r.factoryStopped(f.user) }

// StartedConnecting forwards the hook.
func (f *clientTLSFactory) StartedConnecting(addr net.Addr) {
	if f.client != nil {
		f.client.StartedConnecting(addr)
	}
}

// ClientConnectionFailed forwards the hook (the TCP connect failed).
func (f *clientTLSFactory) ClientConnectionFailed(addr net.Addr, reason error) {
	if f.client != nil {
		f.client.ClientConnectionFailed(addr, reason)
	}
}

// ClientConnectionLost forwards the hook if the user's Protocol was made.
func (f *clientTLSFactory) ClientConnectionLost(addr net.Addr, reason error) {
	if f.client != nil && f.layer != nil && f.layer.made {
		f.client.ClientConnectionLost(addr, reason)
	}
}

// failed fails the connect after the TCP connection was made.
func (f *clientTLSFactory) failed(addr net.Addr, reason error) {
	if f.d.Called() {
		return
	}
	f.ClientConnectionFailed(addr, reason)
	f.d.Errback(reason)
}

// cancel is the Deferred's canceller.
func (f *clientTLSFactory) cancel() {
	if f.layer == nil {
		if f.raw != nil {
			f.raw.Cancel()
		}
		return
	}
	if !f.layer.made {
		reason := errConnectCancelled
		f.layer.fail(reason, true)
		f.failed(f.layer.c.remote, reason)
	}
}

// handshakeLimiter bounds the handshakes that run at once in a reactor. A
// connection that finds every slot taken waits in FIFO order; a finishing
// handshake hands its slot straight to the first waiter.
type handshakeLimiter struct {
	mu      sync.Mutex
	running int
	waiting []*tlsLayer
}

// acquire takes a slot for t, or queues t and reports false. On t's loop.
func (h *handshakeLimiter) acquire(t *tlsLayer, limit int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running < limit {
		h.running++
		return true
	}
	h.waiting = append(h.waiting, t)
	return false
}

// release gives a slot back, or to the first waiter. From any goroutine.
func (h *handshakeLimiter) release() {
	h.mu.Lock()
	if len(h.waiting) == 0 {
		h.running--
		h.mu.Unlock()
		return
	}
	next := h.waiting[0]
	h.waiting[0] = nil
	h.waiting = h.waiting[1:]
	if len(h.waiting) == 0 {
		h.waiting = nil
	}
	h.mu.Unlock()
	next.c.loop.CallFromThread(next.granted)
}

// loopTLS is what a loop's TLS connections share: the buffer records are
// decrypted into before DataReceived (the loop's read buffer cannot serve,
// as it may still hold the ciphertext being decrypted) and a scratch
// buffer that gathers a Writev into one record.
type loopTLS struct {
	plain   []byte
	scratch []byte
	inputs  [][]byte // free bio input buffers (see tlsInput)
}

// Bio input buffers: the ciphertext a connection receives before
// crypto/tls reads it (the ClientHello, until the handshake goroutine
// takes it) is kept in a buffer its loop hands back to a free list once
// drained after the handshake, and the next connection's ClientHello goes
// into one from that list. Allocated per handshake, these buffers would be
// garbage of the ClientHello's size class (1536 bytes for Go's clients)
// interleaved with the handshake buffers crypto/tls keeps in that class
// for the connection's life, leaving holes in the heap's spans. The list
// keeps at most tlsInputFree buffers of at most tlsInputMax bytes; with
// it empty a buffer is allocated to the size of what arrived, so
// connections waiting for a handshake slot hold no more than before.
const (
	tlsInputMax  = 4096
	tlsInputFree = 64 // 256 KiB per loop at most
)

// tlsInput returns an empty input buffer from the free list, or nil. On
// the loop.
func (l *loop) tlsInput() []byte {
	n := len(l.tls.inputs)
	if n == 0 {
		return nil
	}
	b := l.tls.inputs[n-1]
	l.tls.inputs[n-1] = nil
	l.tls.inputs = l.tls.inputs[:n-1]
	return b
}

// tlsInputDone takes back an input buffer nobody reads any more. On the
// loop.
func (l *loop) tlsInputDone(b []byte) {
	if c := cap(b); c > 0 && c <= tlsInputMax && len(l.tls.inputs) < tlsInputFree {
		l.tls.inputs = append(l.tls.inputs, b[:0])
	}
}

func (l *loop) tlsPlain() []byte {
	if l.tls.plain == nil {
		l.tls.plain = make([]byte, l.r.cfg.readBufferSize)
	}
	return l.tls.plain
}
