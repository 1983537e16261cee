package basic

import (
	"encoding/binary"

	"github.com/mustaine/mustaine/protocol"
)

// DefaultMaxStringLength is the longest string accepted when a string
// receiver's MaxLength is zero (Twisted's IntNStringReceiver.MAX_LENGTH and
// NetstringReceiver.MAX_LENGTH).
const DefaultMaxStringLength = 99999

// LengthLimitExceededHandler is an optional hook of an IntStringReceiver's
// handler, called instead of the default (closing the connection with
// ErrLengthLimitExceeded) when a length prefix announces more than
// MaxLength bytes. If the hook leaves the connection open, the receiver
// skips the announced bytes and goes on with the next prefix.
type LengthLimitExceededHandler interface {
	LengthLimitExceeded(r *IntStringReceiver, length uint64)
}

// IntStringReceiver is a protocol.Protocol for strings framed by a
// big-endian unsigned length prefix of 1, 2 or 4 bytes, like Twisted's
// Int8StringReceiver, Int16StringReceiver and Int32StringReceiver. Create it
// with NewInt8StringReceiver, NewInt16StringReceiver or
// NewInt32StringReceiver.
//
// # Limits
//
// A string of exactly MaxLength bytes is delivered. A prefix announcing
// more is refused as soon as the prefix itself has arrived, before any of
// the string: the handler's LengthLimitExceeded hook is called, or by
// default the connection is closed with ErrLengthLimitExceeded. Here it
// differs from Twisted, whose receiver keeps the refused prefix in its
// buffer and refuses it again on every later read if the hook leaves the
// connection open: this receiver skips the refused string instead, so that
// the stream stays in step.
//
// The string handed to StringReceived is valid only during the call. The
// receiver keeps at most MaxLength+prefix bytes between reads.
type IntStringReceiver struct {
	// MaxLength is the longest string accepted; zero or less means
	// DefaultMaxStringLength.
	MaxLength int

	prefix  int
	h       StringHandler[*IntStringReceiver]
	limited LengthLimitExceededHandler

	c    conn[*IntStringReceiver]
	skip uint64 // bytes of a refused string still to discard
	hdr  [4]byte
	vec  [2][]byte
}

// NewInt8StringReceiver returns an IntStringReceiver with a 1-byte prefix
// that hands strings to h. h may also implement LengthLimitExceededHandler,
// ConnectionMadeHandler[*IntStringReceiver] and
// ConnectionLostHandler[*IntStringReceiver]. It panics if h is nil.
func NewInt8StringReceiver(h StringHandler[*IntStringReceiver]) *IntStringReceiver {
	return newIntStringReceiver(1, h)
}

// NewInt16StringReceiver is NewInt8StringReceiver with a 2-byte prefix.
func NewInt16StringReceiver(h StringHandler[*IntStringReceiver]) *IntStringReceiver {
	return newIntStringReceiver(2, h)
}

// NewInt32StringReceiver is NewInt8StringReceiver with a 4-byte prefix.
func NewInt32StringReceiver(h StringHandler[*IntStringReceiver]) *IntStringReceiver {
	return newIntStringReceiver(4, h)
}

func newIntStringReceiver(prefix int, h StringHandler[*IntStringReceiver]) *IntStringReceiver {
	if h == nil {
		panic("basic: IntStringReceiver with a nil handler")
	}
	r := &IntStringReceiver{prefix: prefix, h: h}
	r.c.init(r, h)
	r.limited, _ = h.(LengthLimitExceededHandler)
	return r
}

// PrefixLength is the size of the length prefix in bytes: 1, 2 or 4.
func (r *IntStringReceiver) PrefixLength() int { return r.prefix }

// ConnectionMade implements protocol.Protocol.
func (r *IntStringReceiver) ConnectionMade(t protocol.Transport) {
	r.skip = 0
	r.c.connectionMade(t)
}

// DataReceived implements protocol.Protocol: it delivers every complete
// string of the input and keeps the rest. Nothing is delivered once the
// connection is closing, nor while reading is paused through
// Transport().PauseReading.
func (r *IntStringReceiver) DataReceived(data []byte) { r.c.dataReceived(data) }

// ConnectionLost implements protocol.Protocol. It frees the buffer and
// calls the handler's ConnectionLost hook.
func (r *IntStringReceiver) ConnectionLost(reason error) { r.c.connectionLost(reason) }

// Transport returns the connection's transport (see the package
// documentation on closing and pausing), or nil before ConnectionMade.
func (r *IntStringReceiver) Transport() protocol.Transport { return r.c.transport() }

// SendString writes s after its length prefix. It returns ErrStringTooLong
// (and writes nothing) if len(s) does not fit in the prefix, ErrNotConnected
// before ConnectionMade, or the transport's error. It does not check the
// peer's MaxLength, which it cannot know.
func (r *IntStringReceiver) SendString(s []byte) error {
	if uint64(len(s)) >= 1<<(8*r.prefix) {
		return ErrStringTooLong
	}
	if r.c.s.Transport == nil {
		return ErrNotConnected
	}
	n := uint32(len(s))
	switch r.prefix {
	case 1:
		r.hdr[0] = byte(n)
	case 2:
		binary.BigEndian.PutUint16(r.hdr[:], uint16(n))
	default:
		binary.BigEndian.PutUint32(r.hdr[:], n)
	}
	r.vec[0], r.vec[1] = r.hdr[:r.prefix], s
	_, err := r.c.s.Writev(r.vec[:]...)
	r.vec = [2][]byte{}
	return err
}

// parse implements parser; conn.run runs it.
func (r *IntStringReceiver) parse() {
	in := &r.c.in
	for !r.c.s.closing && !r.c.s.paused {
		in.settle()
		if r.skip > 0 {
			n := min(r.skip, uint64(in.len()))
			in.discard(int(n))
			r.skip -= n
			if r.skip > 0 {
				return
			}
			continue
		}
		if in.len() < r.prefix {
			return
		}
		var length uint64
		for i := range r.prefix {
			length = length<<8 | uint64(in.at(i))
		}
		if length > stringLimit(r.MaxLength) {
			in.discard(r.prefix)
			r.skip = length
			if r.limited != nil {
				r.limited.LengthLimitExceeded(r, length)
			} else {
				r.c.s.closeWith(ErrLengthLimitExceeded)
			}
			continue
		}
		if uint64(in.len()-r.prefix) < length {
			return
		}
		in.discard(r.prefix)
		r.h.StringReceived(r, in.take(int(length)))
	}
}
