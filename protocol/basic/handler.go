package basic

// The handler interfaces are generic in the framer type F so that every
// framer shares the same hook names while each handler method still gets
// the concrete framer (*LineReceiver, *NetstringReceiver, ...) and can call
// its methods without a type assertion. The hook methods take the framer as
// their first argument, so their signatures differ from protocol.Protocol's:
// a type cannot satisfy both by accident, and embedding a framer in a
// handler cannot make a hook call itself back forever.

// LineHandler receives the lines of a LineReceiver (F = *LineReceiver) or a
// LineOnlyReceiver (F = *LineOnlyReceiver).
type LineHandler[F any] interface {
	// LineReceived is called with each line, delimiter removed. line is
	// valid only during the call.
	LineReceived(f F, line []byte)
}

// StringHandler receives the strings of an IntStringReceiver
// (F = *IntStringReceiver) or a NetstringReceiver (F = *NetstringReceiver).
type StringHandler[F any] interface {
	// StringReceived is called with each string, framing removed. s is
	// valid only during the call.
	StringReceived(f F, s []byte)
}

// ConnectionMadeHandler is an optional hook of every handler: it is called
// when the framer's connection is made, after the framer is ready, so the
// handler may send at once.
type ConnectionMadeHandler[F any] interface {
	ConnectionMade(f F)
}

// ConnectionLostHandler is an optional hook of every handler: it is called
// once when the framer's connection is gone. When the framer itself closed
// the connection (input over MaxLength, malformed netstring), reason
// matches the framer's error as well as the transport's reason.
type ConnectionLostHandler[F any] interface {
	ConnectionLost(f F, reason error)
}

// LineLengthExceededHandler is an optional hook of a line handler, called
// instead of the default (closing the connection with ErrLineTooLong) when a
// line is longer than MaxLength. line holds the first MaxLength+1 bytes of
// that line and is valid only during the call. If the hook leaves the
// connection open, the framer discards the rest of the long line, up to and
// including its delimiter, and goes on with the next line. Twisted's
// lineLengthExceeded receives the rest of the buffer instead, which depends
// on how the input was cut into reads: see LineReceiver's Limits.
type LineLengthExceededHandler[F any] interface {
	LineLengthExceeded(f F, line []byte)
}

// LineFunc adapts a function to LineHandler[F].
type LineFunc[F any] func(f F, line []byte)

// LineReceived calls fn(f, line).
func (fn LineFunc[F]) LineReceived(f F, line []byte) { fn(f, line) }

// StringFunc adapts a function to StringHandler[F].
type StringFunc[F any] func(f F, s []byte)

// StringReceived calls fn(f, s).
func (fn StringFunc[F]) StringReceived(f F, s []byte) { fn(f, s) }

// hooks are the optional handler hooks, looked up once at construction so
// that no type assertion happens per message.
type hooks[F any] struct {
	made ConnectionMadeHandler[F]
	lost ConnectionLostHandler[F]
}

func hooksOf[F any](h any) hooks[F] {
	var k hooks[F]
	k.made, _ = h.(ConnectionMadeHandler[F])
	k.lost, _ = h.(ConnectionLostHandler[F])
	return k
}
