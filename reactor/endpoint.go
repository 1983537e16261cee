package reactor

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// ErrBadEndpoint matches every *EndpointError.
var ErrBadEndpoint = errors.New("mustaine: bad endpoint")

// EndpointError is a malformed endpoint string: it names the field at
// fault. errors.Is(err, ErrBadEndpoint) matches it.
type EndpointError struct {
	// Endpoint is the string parsed.
	Endpoint string
	// Field is the field at fault: "type", a keyword such as "port" or
	// "backlog", or "argument N" for an unexpected positional argument.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error describes the error, naming the field.
func (e *EndpointError) Error() string {
	return fmt.Sprintf("mustaine: bad endpoint %q: %s: %s", e.Endpoint, e.Field, e.Reason)
}

// Is matches ErrBadEndpoint.
func (e *EndpointError) Is(target error) bool { return target == ErrBadEndpoint }

// ServerEndpoint is a parsed server endpoint string, in the syntax of
// Twisted's serverFromString:
//
//	tcp:8080                                 port 8080 on every interface
//	tcp:port=8080:interface=127.0.0.1:backlog=512
//	tcp:0:interface=\:\:1                    colons in values are escaped
//	unix:/run/app.sock:mode=660:backlog=64   mode is octal, as in Twisted
//	tls:8443:privateKey=key.pem:certKey=cert.pem:interface=127.0.0.1
//	ssl:8443:privateKey=both.pem              Twisted's name; certKey defaults to privateKey
//
// Fields are separated by ':' and a backslash escapes the next character.
// The first positional argument is the port (tcp) or the path (unix); the
// rest are keyword=value.
type ServerEndpoint struct {
	// Type is "tcp" or "unix".
	Type string
	// Port and Interface are the TCP port and the address to bind (empty:
	// every interface, IPv4 and IPv6).
	Port      int
	Interface string
	// Backlog is the listen backlog (0: the default).
	Backlog int
	// Path and Mode are a Unix socket's path and permissions (0: left as
	// the umask makes them).
	Path string
	Mode os.FileMode
	// CertFile and KeyFile are a TLS endpoint's PEM certificate chain
	// (certKey) and private key (privateKey), read by Listen.
	CertFile, KeyFile string
}

// ClientEndpoint is a parsed client endpoint string, in the syntax of
// Twisted's clientFromString:
//
//	tcp:host=example.internal:port=443:timeout=5
//	tcp:example.internal:443                 host and port positionally
//	unix:path=/run/app.sock:timeout=2
//	unix:/run/app.sock
//	tls:host=example.internal:port=443:trustRoots=ca.pem
//
// timeout is in seconds (a decimal fraction is allowed).
type ClientEndpoint struct {
	// Type is "tcp" or "unix".
	Type string
	// Host (an IP literal or a name) and Port are the TCP destination.
	Host string
	Port int
	// Path is a Unix socket's path.
	Path string
	// Timeout bounds the connect (0: none of our own).
	Timeout time.Duration
	// TrustRoots is a tls endpoint's PEM file of trusted CA certificates
	// (empty: the system's roots), read by Connect.
	TrustRoots string
}

// endpointFields is an endpoint string split into its type, positional
// arguments and keyword arguments, escapes removed.
type endpointFields struct {
	src   string
	typ   string
	args  []string
	kw    map[string]string
	order []string // keywords in order, for the first duplicate
}

func (f *endpointFields) fail(field, format string, a ...any) error {
	return &EndpointError{Endpoint: f.src, Field: field, Reason: fmt.Sprintf(format, a...)}
}

// splitEndpoint splits s on unescaped ':' and each part on its first
// unescaped '='.
func splitEndpoint(s string) (*endpointFields, error) {
	f := &endpointFields{src: s, kw: map[string]string{}}
	var parts []string
	var eq []int // index of the first unescaped '=' in each part, or -1
	var cur strings.Builder
	curEq := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return nil, f.fail("argument "+strconv.Itoa(len(parts)), "trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
		case ':':
			parts, eq = append(parts, cur.String()), append(eq, curEq)
			cur.Reset()
			curEq = -1
		case '=':
			if curEq < 0 {
				curEq = cur.Len()
			}
			cur.WriteByte(c)
		default:
			cur.WriteByte(c)
		}
	}
	parts, eq = append(parts, cur.String()), append(eq, curEq)
	if eq[0] >= 0 || parts[0] == "" {
		return nil, f.fail("type", "missing (want tcp: or unix:)")
	}
	f.typ = parts[0]
	for i, p := range parts[1:] {
		if eq[i+1] < 0 {
			if len(f.kw) > 0 {
				return nil, f.fail("argument "+strconv.Itoa(i+1), "positional argument %q after a keyword argument", p)
			}
			f.args = append(f.args, p)
			continue
		}
		k, v := p[:eq[i+1]], p[eq[i+1]+1:]
		if k == "" {
			return nil, f.fail("argument "+strconv.Itoa(i+1), "empty keyword in %q", p)
		}
		if _, dup := f.kw[k]; dup {
			return nil, f.fail(k, "given twice")
		}
		f.kw[k] = v
		f.order = append(f.order, k)
	}
	return f, nil
}

// bind assigns the positional arguments to the keywords named in order,
// then checks every keyword is one of allowed.
func (f *endpointFields) bind(positional []string, allowed ...string) error {
	if len(f.args) > len(positional) {
		return f.fail("argument "+strconv.Itoa(len(positional)+1), "unexpected %q", f.args[len(positional)])
	}
	for i, a := range f.args {
		k := positional[i]
		if _, dup := f.kw[k]; dup {
			return f.fail(k, "given twice (positionally and as %s=)", k)
		}
		f.kw[k] = a
	}
	for _, k := range f.order {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return f.fail(k, "unknown keyword for %s endpoints", f.typ)
		}
	}
	return nil
}

func (f *endpointFields) port(required bool) (int, error) {
	v, ok := f.kw["port"]
	if !ok {
		if required {
			return 0, f.fail("port", "missing")
		}
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return 0, f.fail("port", "%q is not a port number (0-65535)", v)
	}
	return n, nil
}

func (f *endpointFields) backlog() (int, error) {
	v, ok := f.kw["backlog"]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1<<20 {
		return 0, f.fail("backlog", "%q is not a positive integer", v)
	}
	return n, nil
}

func (f *endpointFields) timeout() (time.Duration, error) {
	v, ok := f.kw["timeout"]
	if !ok {
		return 0, nil
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s < 0 || s > 1e9 || math.IsNaN(s) {
		return 0, f.fail("timeout", "%q is not a number of seconds", v)
	}
	return time.Duration(s * float64(time.Second)), nil
}

func (f *endpointFields) path(key string) (string, error) {
	p, ok := f.kw[key]
	if !ok || p == "" {
		return "", f.fail(key, "missing")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", f.fail(key, "contains a NUL byte")
	}
	return p, nil
}

// ParseServerEndpoint parses a server endpoint string (see ServerEndpoint).
// A malformed string gives an *EndpointError naming the bad field.
func ParseServerEndpoint(s string) (*ServerEndpoint, error) {
	f, err := splitEndpoint(s)
	if err != nil {
		return nil, err
	}
	e := &ServerEndpoint{Type: f.typ}
	switch f.typ {
	case "tcp", "tls", "ssl":
		allowed := []string{"port", "interface", "backlog"}
		if f.typ != "tcp" {
			allowed = append(allowed, "privateKey", "certKey")
		}
		if err := f.bind([]string{"port"}, allowed...); err != nil {
			return nil, err
		}
		if f.typ != "tcp" {
			if e.KeyFile, err = f.path("privateKey"); err != nil {
				return nil, err
			}
			e.CertFile = e.KeyFile
			if _, ok := f.kw["certKey"]; ok {
				if e.CertFile, err = f.path("certKey"); err != nil {
					return nil, err
				}
			}
		}
		if e.Port, err = f.port(true); err != nil {
			return nil, err
		}
		if iface, ok := f.kw["interface"]; ok {
			if _, err := netip.ParseAddr(iface); err != nil {
				return nil, f.fail("interface", "%q is not an IP address", iface)
			}
			e.Interface = iface
		}
	case "unix":
		if err := f.bind([]string{"address"}, "address", "mode", "backlog", "lockfile"); err != nil {
			return nil, err
		}
		if e.Path, err = f.path("address"); err != nil {
			return nil, err
		}
		if m, ok := f.kw["mode"]; ok {
			n, err := strconv.ParseUint(m, 8, 32)
			if err != nil || n > 0o7777 {
				return nil, f.fail("mode", "%q is not an octal file mode", m)
			}
			e.Mode = os.FileMode(n)
		}
		if lf, ok := f.kw["lockfile"]; ok && lf != "0" && lf != "1" {
			return nil, f.fail("lockfile", "%q is not 0 or 1", lf)
		}
	default:
		return nil, f.fail("type", "%q is not tcp, tls, ssl or unix", f.typ)
	}
	if e.Backlog, err = f.backlog(); err != nil {
		return nil, err
	}
	return e, nil
}

// ParseClientEndpoint parses a client endpoint string (see
// ClientEndpoint). A malformed string gives an *EndpointError naming the
// bad field.
func ParseClientEndpoint(s string) (*ClientEndpoint, error) {
	f, err := splitEndpoint(s)
	if err != nil {
		return nil, err
	}
	e := &ClientEndpoint{Type: f.typ}
	switch f.typ {
	case "tcp", "tls":
		allowed := []string{"host", "port", "timeout"}
		if f.typ == "tls" {
			allowed = append(allowed, "trustRoots")
		}
		if err := f.bind([]string{"host", "port"}, allowed...); err != nil {
			return nil, err
		}
		if _, ok := f.kw["trustRoots"]; ok {
			if e.TrustRoots, err = f.path("trustRoots"); err != nil {
				return nil, err
			}
		}
		h, ok := f.kw["host"]
		if !ok || h == "" {
			return nil, f.fail("host", "missing")
		}
		if _, err := netip.ParseAddr(h); err != nil && !validHostName(h) {
			return nil, f.fail("host", "%q is not an IP address or a host name", h)
		}
		e.Host = h
		if e.Port, err = f.port(true); err != nil {
			return nil, err
		}
	case "unix":
		if err := f.bind([]string{"path"}, "path", "timeout", "checkPID"); err != nil {
			return nil, err
		}
		if e.Path, err = f.path("path"); err != nil {
			return nil, err
		}
	default:
		return nil, f.fail("type", "%q is not tcp, tls or unix", f.typ)
	}
	if e.Timeout, err = f.timeout(); err != nil {
		return nil, err
	}
	return e, nil
}

// escapeEndpoint escapes the characters with a meaning in endpoint strings.
func escapeEndpoint(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `=`, `\=`)
	return r.Replace(s)
}

// String returns the endpoint in the string syntax, with keywords.
func (e *ServerEndpoint) String() string {
	var b strings.Builder
	b.WriteString(e.Type)
	if e.Type == "unix" {
		b.WriteString(":address=" + escapeEndpoint(e.Path))
		if e.Mode != 0 {
			b.WriteString(":mode=" + strconv.FormatUint(uint64(e.Mode), 8))
		}
	} else {
		b.WriteString(":port=" + strconv.Itoa(e.Port))
		if e.Interface != "" {
			b.WriteString(":interface=" + escapeEndpoint(e.Interface))
		}
		if e.KeyFile != "" {
			b.WriteString(":privateKey=" + escapeEndpoint(e.KeyFile) + ":certKey=" + escapeEndpoint(e.CertFile))
		}
	}
	if e.Backlog > 0 {
		b.WriteString(":backlog=" + strconv.Itoa(e.Backlog))
	}
	return b.String()
}

// String returns the endpoint in the string syntax, with keywords.
func (e *ClientEndpoint) String() string {
	var b strings.Builder
	b.WriteString(e.Type)
	if e.Type == "unix" {
		b.WriteString(":path=" + escapeEndpoint(e.Path))
	} else {
		b.WriteString(":host=" + escapeEndpoint(e.Host) + ":port=" + strconv.Itoa(e.Port))
		if e.TrustRoots != "" {
			b.WriteString(":trustRoots=" + escapeEndpoint(e.TrustRoots))
		}
	}
	if e.Timeout > 0 {
		b.WriteString(":timeout=" + strconv.FormatFloat(e.Timeout.Seconds(), 'f', -1, 64))
	}
	return b.String()
}

// Listen listens on the endpoint with r, serving connections with
// factory. A Unix socket's mode is applied once it is bound.
func (e *ServerEndpoint) Listen(r *Reactor, factory protocol.Factory) (*Listener, error) {
	switch e.Type {
	case "tcp":
		return r.ListenTCPWith(net.JoinHostPort(e.Interface, strconv.Itoa(e.Port)), factory, ListenOptions{Backlog: e.Backlog})
	case "tls", "ssl":
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", e, err)
		}
		f, err := r.tlsServerFactory(&tls.Config{Certificates: []tls.Certificate{cert}}, factory)
		if err != nil {
			return nil, err
		}
		return r.ListenTCPWith(net.JoinHostPort(e.Interface, strconv.Itoa(e.Port)), f, ListenOptions{Backlog: e.Backlog})
	case "unix":
		backlog := listenBacklog
		if e.Backlog > 0 {
			backlog = e.Backlog
		}
		ln, err := r.listenUnix(e.Path, factory, backlog)
		if err != nil {
			return nil, err
		}
		if e.Mode != 0 {
			if err := os.Chmod(e.Path, e.Mode); err != nil {
				ln.Close()
				return nil, fmt.Errorf("listen %s: %w", e.Path, err)
			}
		}
		return ln, nil
	}
	return nil, &EndpointError{Endpoint: e.String(), Field: "type", Reason: fmt.Sprintf("%q is not tcp or unix", e.Type)}
}

// Connect connects to the endpoint from lp (a reactor loop, or a
// Transport's Loop; for TCP any protocol.Loop, reactortest.Loop
// included) and serves the connection with factory; see
// Reactor.ConnectTCP.
func (e *ClientEndpoint) Connect(lp protocol.Loop, factory protocol.Factory) *deferred.Deferred[protocol.Protocol] {
	switch e.Type {
	case "tcp":
		return lp.ConnectTCP(net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), factory, e.Timeout)
	case "tls":
		l, ok := lp.(*loop)
		if !ok {
			return deferred.FailForCaller[protocol.Protocol](fmt.Errorf("%w: tls endpoints need a reactor loop", ErrConnectFailed))
		}
		cfg := &tls.Config{}
		if e.TrustRoots != "" {
			// A small local file, read on the caller's goroutine.
			pem, err := os.ReadFile(e.TrustRoots)
			if err != nil {
				return deferred.FailForCaller[protocol.Protocol](fmt.Errorf("%w: trustRoots: %w", ErrConnectFailed, err))
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return deferred.FailForCaller[protocol.Protocol](fmt.Errorf("%w: trustRoots %s: no PEM certificate", ErrConnectFailed, e.TrustRoots))
			}
		}
		return l.r.ConnectTLSOn(l, net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), cfg, factory, e.Timeout)
	case "unix":
		l, ok := lp.(*loop)
		if !ok {
			return deferred.FailForCaller[protocol.Protocol](fmt.Errorf("%w: unix endpoints need a reactor loop", ErrConnectFailed))
		}
		sa := &unix.SockaddrUnix{Name: e.Path}
		return l.r.dial(l, []unix.Sockaddr{sa}, sockaddrToAddr(sa, true), true, factory, ConnectOptions{Timeout: e.Timeout})
	}
	return deferred.FailForCaller[protocol.Protocol](&EndpointError{Endpoint: e.String(), Field: "type", Reason: fmt.Sprintf("%q is not tcp or unix", e.Type)})
}

// ListenEndpoint listens on a server endpoint string ("tcp:8080",
// "unix:/run/app.sock:mode=660"; see ServerEndpoint).
func (r *Reactor) ListenEndpoint(endpoint string, factory protocol.Factory) (*Listener, error) {
	e, err := ParseServerEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	return e.Listen(r, factory)
}
