package protocol

import "crypto/tls"

// TLSTransport is implemented by transports that can carry TLS (the
// reactor's transports always do). ConnectionState reports the negotiated
// state — version, cipher suite, ALPN protocol, SNI name, peer
// certificates — once the handshake is complete; before that, or on a
// connection without TLS, ok is false.
type TLSTransport interface {
	Transport
	ConnectionState() (state tls.ConnectionState, ok bool)
}

// TLSStarter is implemented by transports that can switch an established
// plaintext connection to TLS in-band (Twisted's ITLSTransport.startTLS),
// as SMTP's STARTTLS, PostgreSQL's SSLRequest or LDAP's StartTLS do.
type TLSStarter interface {
	Transport
	// StartTLS starts a TLS handshake on the connection, as the server
	// when server is true, else as the client. Bytes written before the
	// call go out in clear, everything written after it is encrypted (and
	// held back until the handshake is done); bytes received after it are
	// taken as TLS. The Protocol stays the same; if it implements
	// HandshakeListener it is told when the handshake is done. A failed
	// handshake closes the connection and ConnectionLost says why.
	StartTLS(config *tls.Config, server bool) error
}

// HandshakeListener is an optional Protocol extension (Twisted's
// IHandshakeListener): HandshakeCompleted is called on the connection's
// loop once its TLS handshake has succeeded, after ConnectionMade for a
// connection that was TLS from the start, and after StartTLS for one that
// was upgraded.
type HandshakeListener interface {
	HandshakeCompleted()
}
