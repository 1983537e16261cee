// Package proxyproto parses and encodes HAProxy's PROXY protocol headers,
// versions 1 (a text line) and 2 (binary, with TLVs), which a load balancer
// sends at the start of a TCP connection to tell the server who the
// original client and destination were.
//
// The Parser is incremental and pure: it is fed the bytes as they arrive
// (Feed), never blocks, never reads a socket, and keeps at most one
// header's bytes. It is what the reactor's listeners use on their loops;
// AppendV1 and AppendV2 build headers for clients and tests.
//
// Limits follow HAProxy's specification: a v1 line is at most 107 bytes
// (CRLF included); a v2 header is 16 bytes plus the length it announces,
// which the Parser bounds (MaxV2Length, default DefaultMaxV2Length). A v2
// CRC32c TLV, when present, is checked. Errors are matchable with
// errors.Is: ErrNoHeader, ErrMalformed, ErrTooLong, ErrUnsupported,
// ErrChecksum.
package proxyproto

import (
	"errors"
	"net"
	"net/netip"
)

// Errors returned by Parser.Feed and the encoders.
var (
	// ErrNoHeader: the first bytes are neither "PROXY " nor the v2
	// signature, so the stream does not start with a PROXY header.
	ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")
	// ErrMalformed: the header breaks the specification's syntax.
	ErrMalformed = errors.New("proxyproto: malformed PROXY header")
	// ErrTooLong: a v1 line without CRLF within 107 bytes, or a v2 header
	// longer than the Parser's MaxV2Length.
	ErrTooLong = errors.New("proxyproto: PROXY header too long")
	// ErrUnsupported: a v2 version, command, family or transport that the
	// specification does not define (receivers must drop those).
	ErrUnsupported = errors.New("proxyproto: unsupported PROXY header")
	// ErrChecksum: the v2 CRC32c TLV does not match the header.
	ErrChecksum = errors.New("proxyproto: PROXY header CRC32c mismatch")
	// ErrDone: Feed was called again after it returned a header or an
	// error.
	ErrDone = errors.New("proxyproto: parser already finished")
)

// Sizes from the specification.
const (
	// MaxV1Length is the longest v1 header, CRLF included.
	MaxV1Length = 107
	// DefaultMaxV2Length is the Parser's default bound on a whole v2
	// header (16 fixed bytes plus addresses and TLVs).
	DefaultMaxV2Length = 4096
	v2HeaderLen        = 16
)

// v2Signature opens every v2 header.
var v2Signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

const v1Prefix = "PROXY "

// Command is a v2 header's command. A v1 header is always Proxy.
type Command uint8

// Commands.
const (
	// Local: the connection was made by the proxy itself (a health
	// check); the receiver keeps the socket's own addresses.
	Local Command = 0
	// Proxy: the connection is relayed for the client the header names.
	Proxy Command = 1
)

// Family is the address family of the header's addresses.
type Family uint8

// Families. Unspec is v1's UNKNOWN.
const (
	Unspec Family = 0
	INET   Family = 1
	INET6  Family = 2
	UNIX   Family = 3
)

// TransportProtocol is the transport the header's addresses belong to.
type TransportProtocol uint8

// Transport protocols.
const (
	UnspecTransport TransportProtocol = 0
	Stream          TransportProtocol = 1
	Datagram        TransportProtocol = 2
)

// TLV types defined by the specification.
const (
	TypeALPN      = 0x01
	TypeAuthority = 0x02
	TypeCRC32C    = 0x03
	TypeNoop      = 0x04
	TypeUniqueID  = 0x05
	TypeSSL       = 0x20
	TypeNetNS     = 0x30

	// Sub-TLVs of TypeSSL.
	SubTypeSSLVersion = 0x21
	SubTypeSSLCN      = 0x22
	SubTypeSSLCipher  = 0x23
	SubTypeSSLSigAlg  = 0x24
	SubTypeSSLKeyAlg  = 0x25
)

// MaxUniqueIDLength is the longest unique ID TLV the specification allows.
const MaxUniqueIDLength = 128

// TLV is one type-length-value entry of a v2 header.
type TLV struct {
	Type  byte
	Value []byte
}

// Header is a parsed PROXY header.
type Header struct {
	// Version is 1 or 2.
	Version int
	// Command is Proxy or Local (v2 only).
	Command Command
	// Family and Transport describe the addresses; Unspec means the
	// sender did not know them (v1 UNKNOWN).
	Family    Family
	Transport TransportProtocol
	// Source and Destination are the original client's and destination's
	// addresses, for INET and INET6.
	Source, Destination netip.AddrPort
	// SourceUnix and DestinationUnix are the paths, for UNIX.
	SourceUnix, DestinationUnix string
	// TLVs are the v2 TLVs in header order (CRC32c included, already
	// checked). Values alias the Parser's memory until the next Reset.
	TLVs []TLV
}

// HasAddresses reports whether the header carries addresses the receiver
// should use: a Proxy command with a known family.
func (h *Header) HasAddresses() bool {
	return h.Command == Proxy && h.Family != Unspec
}

// Addrs returns the source and destination as net.Addr values
// (*net.TCPAddr, *net.UDPAddr or *net.UnixAddr), or nils when the header
// has no addresses (see HasAddresses).
func (h *Header) Addrs() (src, dst net.Addr) {
	if !h.HasAddresses() {
		return nil, nil
	}
	switch h.Family {
	case UNIX:
		n := "unix"
		if h.Transport == Datagram {
			n = "unixgram"
		}
		return &net.UnixAddr{Name: h.SourceUnix, Net: n}, &net.UnixAddr{Name: h.DestinationUnix, Net: n}
	default:
		if h.Transport == Datagram {
			return net.UDPAddrFromAddrPort(h.Source), net.UDPAddrFromAddrPort(h.Destination)
		}
		return net.TCPAddrFromAddrPort(h.Source), net.TCPAddrFromAddrPort(h.Destination)
	}
}

// TLV returns the value of the first TLV of type t.
func (h *Header) TLV(t byte) ([]byte, bool) {
	for _, v := range h.TLVs {
		if v.Type == t {
			return v.Value, true
		}
	}
	return nil, false
}

// ALPN returns the ALPN TLV (the protocol the client negotiated).
func (h *Header) ALPN() ([]byte, bool) { return h.TLV(TypeALPN) }

// Authority returns the authority TLV (the host name the client asked
// for, as TLS's SNI).
func (h *Header) Authority() (string, bool) {
	v, ok := h.TLV(TypeAuthority)
	return string(v), ok
}

// UniqueID returns the unique ID TLV.
func (h *Header) UniqueID() ([]byte, bool) { return h.TLV(TypeUniqueID) }

// SSLInfo is the content of the SSL TLV: what the proxy learned from the
// client's TLS connection.
type SSLInfo struct {
	// Client is the bit field of PP2_CLIENT_* flags: 0x01 SSL, 0x02 a
	// certificate on this connection, 0x04 a certificate on the session.
	Client byte
	// Verify is 0 when the client certificate was verified.
	Verify uint32
	// SubTLVs are the SSL sub-TLVs (version, CN, cipher, algorithms).
	SubTLVs []TLV
}

// SubTLV returns the value of the first sub-TLV of type t.
func (s *SSLInfo) SubTLV(t byte) (string, bool) {
	for _, v := range s.SubTLVs {
		if v.Type == t {
			return string(v.Value), true
		}
	}
	return "", false
}

// SSL returns the SSL TLV, parsed.
func (h *Header) SSL() (SSLInfo, bool) {
	v, ok := h.TLV(TypeSSL)
	if !ok {
		return SSLInfo{}, false
	}
	info, err := parseSSL(v)
	return info, err == nil
}

func parseSSL(v []byte) (SSLInfo, error) {
	if len(v) < 5 {
		return SSLInfo{}, ErrMalformed
	}
	info := SSLInfo{Client: v[0], Verify: uint32(v[1])<<24 | uint32(v[2])<<16 | uint32(v[3])<<8 | uint32(v[4])}
	subs, err := parseTLVs(v[5:])
	if err != nil {
		return SSLInfo{}, err
	}
	info.SubTLVs = subs
	return info, nil
}

func parseTLVs(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		if len(b) < 3 {
			return nil, ErrMalformed
		}
		n := int(b[1])<<8 | int(b[2])
		if len(b) < 3+n {
			return nil, ErrMalformed
		}
		out = append(out, TLV{Type: b[0], Value: b[3 : 3+n : 3+n]})
		b = b[3+n:]
	}
	return out, nil
}
