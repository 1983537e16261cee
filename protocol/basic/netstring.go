package basic

import (
	"strconv"

	"github.com/mustaine/mustaine/protocol"
)

// NetstringReceiver is a protocol.Protocol for netstrings
// (https://cr.yp.to/proto/netstrings.txt): a decimal length without leading
// zeros, a colon, that many bytes, and a comma, so "5:hello," carries
// "hello". Create it with NewNetstringReceiver.
//
// Input that is not a netstring closes the connection at the first byte
// that proves it: a length that does not start with a digit, a leading
// zero, a byte other than a digit or the colon in the length, or a byte
// other than a comma after the string. The reason handed to the handler's
// ConnectionLost hook then matches ErrBadNetstring.
//
// A string of exactly MaxLength bytes is delivered. A length over MaxLength
// closes the connection as soon as its digits show it, with a reason that
// matches ErrLengthLimitExceeded. Twisted's NetstringReceiver treats both
// cases as one parse error and closes the connection; it also refuses a
// length with more digits than MaxLength has, plus one, even if it has
// leading zeros, which this receiver refuses as malformed anyway.
//
// The string handed to StringReceived is valid only during the call. The
// receiver keeps at most the length of one netstring between reads.
type NetstringReceiver struct {
	// MaxLength is the longest string accepted; zero or less means
	// DefaultMaxStringLength.
	MaxLength int

	h StringHandler[*NetstringReceiver]

	c   conn[*NetstringReceiver]
	hdr [24]byte
	vec [3][]byte
}

var comma = []byte{','}

// NewNetstringReceiver returns a NetstringReceiver that hands strings to h.
// h may also implement ConnectionMadeHandler[*NetstringReceiver] and
// ConnectionLostHandler[*NetstringReceiver]. It panics if h is nil.
func NewNetstringReceiver(h StringHandler[*NetstringReceiver]) *NetstringReceiver {
	if h == nil {
		panic("basic: NewNetstringReceiver with a nil handler")
	}
	r := &NetstringReceiver{h: h}
	r.c.init(r, h)
	return r
}

// ConnectionMade implements protocol.Protocol.
func (r *NetstringReceiver) ConnectionMade(t protocol.Transport) { r.c.connectionMade(t) }

// DataReceived implements protocol.Protocol: it delivers every complete
// netstring of the input and keeps the rest. Nothing is delivered once the
// connection is closing, nor while reading is paused through
// Transport().PauseReading.
func (r *NetstringReceiver) DataReceived(data []byte) { r.c.dataReceived(data) }

// ConnectionLost implements protocol.Protocol. It frees the buffer and
// calls the handler's ConnectionLost hook.
func (r *NetstringReceiver) ConnectionLost(reason error) { r.c.connectionLost(reason) }

// Transport returns the connection's transport (see the package
// documentation on closing and pausing), or nil before ConnectionMade.
func (r *NetstringReceiver) Transport() protocol.Transport { return r.c.transport() }

// SendString writes s as a netstring. It returns ErrNotConnected before
// ConnectionMade, or the transport's error. It does not check the peer's
// MaxLength, which it cannot know.
func (r *NetstringReceiver) SendString(s []byte) error {
	if r.c.s.Transport == nil {
		return ErrNotConnected
	}
	hdr := strconv.AppendUint(r.hdr[:0], uint64(len(s)), 10)
	hdr = append(hdr, ':')
	r.vec[0], r.vec[1], r.vec[2] = hdr, s, comma
	_, err := r.c.s.Writev(r.vec[:]...)
	r.vec = [3][]byte{}
	return err
}

// parse implements parser; conn.run runs it.
func (r *NetstringReceiver) parse() {
	in := &r.c.in
	for !r.c.s.closing && !r.c.s.paused {
		in.settle()
		length, hlen, err := r.header()
		if err != nil {
			r.c.s.closeWith(err)
			return
		}
		if hlen == 0 {
			return // the length is not complete yet
		}
		total := uint64(hlen) + length + 1
		if uint64(in.len()) < total {
			return
		}
		if in.at(int(total-1)) != ',' {
			r.c.s.closeWith(ErrBadNetstring)
			return
		}
		in.discard(hlen)
		s := in.take(int(length))
		in.discard(1)
		r.h.StringReceived(r, s)
	}
}

// header parses the length at the start of the unparsed input. It returns
// the length and the size of the header (digits and colon), or a zero size
// if the header is not complete yet, or the error that the input proves.
func (r *NetstringReceiver) header() (length uint64, hlen int, err error) {
	in := &r.c.in
	limit := stringLimit(r.MaxLength)
	n := in.len()
	for i := 0; i < n; i++ {
		c := in.at(i)
		switch {
		case c == ':' && i > 0:
			return length, i + 1, nil
		case c < '0' || c > '9':
			return 0, 0, ErrBadNetstring
		case i == 1 && length == 0:
			return 0, 0, ErrBadNetstring // a leading zero
		}
		d := uint64(c - '0')
		if d > limit || length > (limit-d)/10 {
			return 0, 0, ErrLengthLimitExceeded // and no overflow
		}
		length = length*10 + d
	}
	return 0, 0, nil
}
