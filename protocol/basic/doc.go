// Package basic holds ready-made framing protocols in the spirit of
// Twisted's twisted.protocols.basic: LineReceiver and LineOnlyReceiver for
// delimited lines, IntStringReceiver for strings with an 8, 16 or 32-bit
// big-endian length prefix, and NetstringReceiver for D. J. Bernstein's
// netstrings.
//
// A framer is a protocol.Protocol that wraps a handler: hand the framer to
// the reactor (return it from a Factory) and it calls the handler once per
// message. Handler methods receive the framer itself, so one stateless
// handler value can serve many connections, and they reach the connection
// through the framer (SendLine, SendString, Transport).
//
// # Buffers
//
// A delivered message is a slice that is valid only during the handler call:
// it usually points into the reactor's read buffer, and the framer copies
// nothing but the unfinished tail of each read. Copy a message (for example
// with bytes.Clone or string(msg)) if it must outlive the call. In steady
// state the framers allocate nothing per message.
//
// # Closing and pausing
//
// The transport a framer hands out (its Transport method) is the
// connection's own, seen through a thin wrapper that lets the framer stop at
// once when the handler closes the connection or pauses reading: no message
// is delivered after LoseConnection or AbortConnection, and none while
// reading is paused (the rest of the input is kept and parsed again by
// ResumeReading). This is what Twisted does with transport.disconnecting and
// pauseProducing. The wrapped transport is available through an
// Unwrap() protocol.Transport method. The framers do not implement
// protocol.HalfCloseable, so the peer's FIN closes the connection.
//
// # Bad input
//
// Input over a framer's MaxLength calls an optional hook on the handler; by
// default the framer closes the connection, and the reason handed to the
// handler's ConnectionLost hook then matches ErrLineTooLong or
// ErrLengthLimitExceeded (and the transport's own reason, such as
// protocol.ErrConnectionDone) with errors.Is. A malformed netstring always
// closes the connection with ErrBadNetstring.
package basic
