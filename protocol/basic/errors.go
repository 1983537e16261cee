package basic

import "errors"

// Errors reported by the framers. Match them with errors.Is: the reason a
// framer hands to a ConnectionLost hook after it closed the connection wraps
// one of these together with the transport's reason.
var (
	// ErrLineTooLong: a line was longer than the receiver's MaxLength.
	ErrLineTooLong = errors.New("basic: line longer than MaxLength")
	// ErrLengthLimitExceeded: a length-prefixed string or a netstring
	// announced a length greater than the receiver's MaxLength.
	ErrLengthLimitExceeded = errors.New("basic: string length over MaxLength")
	// ErrBadNetstring: the input is not a well-formed netstring.
	ErrBadNetstring = errors.New("basic: malformed netstring")
	// ErrStringTooLong is returned by SendString for a string whose length
	// does not fit in the receiver's length prefix.
	ErrStringTooLong = errors.New("basic: string too long for its length prefix")
	// ErrNotConnected is returned by the Send methods before ConnectionMade.
	ErrNotConnected = errors.New("basic: framer is not connected")
)
