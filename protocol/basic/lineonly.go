package basic

import "github.com/mustaine/mustaine/protocol"

// LineOnlyReceiver is a protocol.Protocol that splits its input into lines
// and hands each to a LineHandler, like Twisted's LineOnlyReceiver: a
// LineReceiver without raw mode, for protocols that never leave line mode.
// Create it with NewLineOnlyReceiver.
//
// Delimiter and MaxLength may be changed at any time, also from a handler
// call; the change applies to the next line (Twisted's LineOnlyReceiver
// applies it from the next read on, which makes the lines depend on how the
// input was cut into reads).
//
// Its limits are exactly those of LineReceiver (see there): a line of
// MaxLength bytes is delivered, a longer one is refused when its delimiter
// arrives or when MaxLength+len(Delimiter) bytes are buffered without a
// delimiter. Here it differs from Twisted, whose LineOnlyReceiver refuses an
// unterminated buffer as soon as it exceeds MaxLength: that refuses a line of
// exactly MaxLength whose delimiter happens to be split across two reads,
// so the outcome would depend on how the input was cut.
type LineOnlyReceiver struct {
	// Delimiter ends each line; empty means DefaultDelimiter ("\r\n").
	Delimiter []byte
	// MaxLength is the longest line accepted, delimiter excluded; zero or
	// less means DefaultMaxLineLength.
	MaxLength int

	h        LineHandler[*LineOnlyReceiver]
	exceeded LineLengthExceededHandler[*LineOnlyReceiver]
	hooks    hooks[*LineOnlyReceiver]
	r        LineReceiver
}

// NewLineOnlyReceiver returns a LineOnlyReceiver that hands lines to h. h
// may also implement LineLengthExceededHandler[*LineOnlyReceiver],
// ConnectionMadeHandler[*LineOnlyReceiver] and
// ConnectionLostHandler[*LineOnlyReceiver]. It panics if h is nil.
func NewLineOnlyReceiver(h LineHandler[*LineOnlyReceiver]) *LineOnlyReceiver {
	if h == nil {
		panic("basic: NewLineOnlyReceiver with a nil handler")
	}
	o := &LineOnlyReceiver{h: h, hooks: hooksOf[*LineOnlyReceiver](h)}
	o.exceeded, _ = h.(LineLengthExceededHandler[*LineOnlyReceiver])
	a := lineOnlyAdapter{o}
	o.r = LineReceiver{h: a, exceeded: a}
	o.r.c.init(&o.r, a)
	return o
}

// ConnectionMade implements protocol.Protocol.
func (o *LineOnlyReceiver) ConnectionMade(t protocol.Transport) {
	o.sync()
	o.r.ConnectionMade(t)
}

// DataReceived implements protocol.Protocol: it delivers every complete
// line of the input and keeps the rest. Nothing is delivered once the
// connection is closing, nor while reading is paused through
// Transport().PauseReading.
func (o *LineOnlyReceiver) DataReceived(data []byte) {
	o.sync()
	o.r.DataReceived(data)
}

// ConnectionLost implements protocol.Protocol. It frees the buffer and
// calls the handler's ConnectionLost hook.
func (o *LineOnlyReceiver) ConnectionLost(reason error) { o.r.ConnectionLost(reason) }

// Transport returns the connection's transport (see the package
// documentation on closing and pausing), or nil before ConnectionMade.
func (o *LineOnlyReceiver) Transport() protocol.Transport { return o.r.Transport() }

// SendLine writes line followed by the delimiter. It returns the
// transport's error, or ErrNotConnected before ConnectionMade.
func (o *LineOnlyReceiver) SendLine(line []byte) error {
	o.sync()
	return o.r.SendLine(line)
}

// ClearLineBuffer drops the input not parsed yet, including the rest of the
// current read when called from a handler call, and returns a copy of it.
func (o *LineOnlyReceiver) ClearLineBuffer() []byte { return o.r.ClearLineBuffer() }

// sync hands the public settings to the inner receiver. It runs before
// each read and after each handler call, so that a change made by the
// handler applies to the next line, as with LineReceiver.
func (o *LineOnlyReceiver) sync() {
	o.r.Delimiter, o.r.MaxLength = o.Delimiter, o.MaxLength
}

// lineOnlyAdapter is the inner LineReceiver's handler: it hands lines,
// refusals and the connection hooks on to the LineOnlyReceiver's handler.
// Being one pointer wide, storing it in an interface allocates nothing.
type lineOnlyAdapter struct{ o *LineOnlyReceiver }

func (a lineOnlyAdapter) LineReceived(_ *LineReceiver, line []byte) {
	a.o.h.LineReceived(a.o, line)
	a.o.sync()
}

func (a lineOnlyAdapter) LineLengthExceeded(r *LineReceiver, line []byte) {
	if a.o.exceeded != nil {
		a.o.exceeded.LineLengthExceeded(a.o, line)
		a.o.sync()
		return
	}
	r.c.s.closeWith(ErrLineTooLong)
}

func (a lineOnlyAdapter) ConnectionMade(*LineReceiver) {
	if a.o.hooks.made != nil {
		a.o.hooks.made.ConnectionMade(a.o)
	}
}

func (a lineOnlyAdapter) ConnectionLost(_ *LineReceiver, reason error) {
	if a.o.hooks.lost != nil {
		a.o.hooks.lost.ConnectionLost(a.o, reason)
	}
}
