package amp

import "errors"

// Errors of the box encoding and of the protocol. Each is matched with
// errors.Is.
var (
	// ErrMalformedBox: the input is not a sequence of AMP boxes.
	ErrMalformedBox = errors.New("amp: malformed box")
	// ErrKeyTooLong: a key longer than MaxKeyLength.
	ErrKeyTooLong = errors.New("amp: key too long")
	// ErrEmptyKey: a key of zero bytes, which would end the box.
	ErrEmptyKey = errors.New("amp: empty key")
	// ErrValueTooLong: a value longer than MaxValueLength.
	ErrValueTooLong = errors.New("amp: value too long")
	// ErrBadValue: a value that does not decode as its argument type.
	ErrBadValue = errors.New("amp: bad argument value")
	// ErrMissingArgument: a box without a non-optional argument.
	ErrMissingArgument = errors.New("amp: missing argument")
	// ErrUnknownTag: an answer or error for a request that was not asked.
	ErrUnknownTag = errors.New("amp: answer to an unknown tag")
	// ErrNotConnected: a call made before the connection is made or after
	// it is lost.
	ErrNotConnected = errors.New("amp: not connected")
	// ErrUnhandledCommand: the peer has no responder for the command
	// (error code UNHANDLED).
	ErrUnhandledCommand = errors.New("amp: unhandled command")
	// ErrUnknownRemote: the peer's responder failed with an undeclared
	// error (error code UNKNOWN); the peer closes the connection.
	ErrUnknownRemote = errors.New("amp: unknown remote error")
	// ErrRemote is matched by every *RemoteError.
	ErrRemote = errors.New("amp: remote error")
)

// Error codes Twisted reserves.
const (
	// CodeUnknown is sent for an error the command does not declare.
	CodeUnknown = "UNKNOWN"
	// CodeUnhandled is sent for a command without responder.
	CodeUnhandled = "UNHANDLED"
)

// RemoteError is an error box received from the peer: its code and
// description. It matches ErrRemote, ErrUnhandledCommand for code
// UNHANDLED, ErrUnknownRemote for UNKNOWN, and the sentinel the command
// declared for its code.
type RemoteError struct {
	Code        string
	Description string
	declared    error
}

// Error returns the code and description.
func (e *RemoteError) Error() string {
	return "amp: remote error " + e.Code + ": " + e.Description
}

// Is matches ErrRemote and the sentinel of the code.
func (e *RemoteError) Is(target error) bool {
	switch {
	case target == ErrRemote:
		return true
	case e.declared != nil && target == e.declared:
		return true
	case e.Code == CodeUnhandled:
		return target == ErrUnhandledCommand
	case e.Code == CodeUnknown:
		return target == ErrUnknownRemote
	}
	return false
}
