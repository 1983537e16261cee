package basic

import (
	"bytes"

	"github.com/mustaine/mustaine/protocol"
)

// DefaultDelimiter ends lines when a receiver's Delimiter is empty.
const DefaultDelimiter = "\r\n"

// DefaultMaxLineLength is the longest line accepted when a receiver's
// MaxLength is zero (Twisted's LineReceiver.MAX_LENGTH).
const DefaultMaxLineLength = 16384

// RawDataHandler is an optional hook of a LineReceiver's handler: in raw
// mode (see LineReceiver.SetRawMode) the input goes to RawDataReceived
// instead of being split into lines. data is valid only during the call.
type RawDataHandler interface {
	RawDataReceived(r *LineReceiver, data []byte)
}

// LineReceiver is a protocol.Protocol that splits its input into lines and
// hands each to a LineHandler, like Twisted's LineReceiver. It can switch
// to raw mode and back in the middle of a read (for protocols such as HTTP
// that mix lines and bodies). Create it with NewLineReceiver.
//
// # Limits
//
// A line of exactly MaxLength bytes (delimiter excluded) is delivered. A
// longer line is refused as soon as that is certain:
//
//   - when its delimiter arrives, if the line is longer than MaxLength;
//   - before that, when MaxLength+len(Delimiter) bytes are buffered and none
//     of them ends a line. Up to MaxLength+len(Delimiter)-1 bytes are kept,
//     because they may be a line of exactly MaxLength followed by the first
//     bytes of a delimiter split across reads.
//
// Both rules are Twisted's. Refusing calls the handler's LineLengthExceeded
// hook or, without one, closes the connection with ErrLineTooLong, as
// Twisted's default lineLengthExceeded does.
//
// What the hook receives, and what follows it, is where LineReceiver
// deviates from Twisted, on purpose. Twisted's lineLengthExceeded(line)
// receives, and takes out of the buffer, everything buffered from the start
// of the long line on: the long line, its delimiter if it has come, and
// every line after it that came in the same reads; parsing resumes with the
// next read, whose first bytes may be the tail of the long line, parsed as
// a line. So in Twisted what the hook sees, which good lines are lost and
// which bytes become lines all depend on how the stream was cut into reads.
// Here the hook always receives the first MaxLength+1 bytes of the long
// line; if it leaves the connection open, the framer skips the rest of that
// line, up to and including its delimiter, and delivers the lines after it.
// The same stream thus yields the same lines, refusals and close however it
// is cut into reads.
//
// # Buffers
//
// The line handed to LineReceived and the data handed to RawDataReceived
// are valid only during the call. The receiver keeps at most
// MaxLength+len(Delimiter)-1 bytes between reads in line mode, and nothing
// in raw mode.
//
// Delimiter and MaxLength may be changed at any time, also from a handler
// call; the change applies to the next line. Replace Delimiter rather than
// modifying its bytes in place.
type LineReceiver struct {
	// Delimiter ends each line; empty means DefaultDelimiter ("\r\n").
	Delimiter []byte
	// MaxLength is the longest line accepted, delimiter excluded; zero or
	// less means DefaultMaxLineLength.
	MaxLength int

	h        LineHandler[*LineReceiver]
	raw      RawDataHandler
	exceeded LineLengthExceededHandler[*LineReceiver]

	c         conn[*LineReceiver]
	scanned   int    // owned bytes known not to start a delimiter
	scanDelim []byte // the delimiter scanned was computed for
	rawData   []byte // the data RawDataReceived is handling
	rawEnd    int    // len(in.buf) right after rawData was taken
	rawMode   bool
	skipping  bool // discarding the rest of an over-long line
	vec       [2][]byte
}

var defaultDelimiter = []byte(DefaultDelimiter)

// NewLineReceiver returns a LineReceiver that hands lines to h. h may also
// implement RawDataHandler, LineLengthExceededHandler[*LineReceiver],
// ConnectionMadeHandler[*LineReceiver] and
// ConnectionLostHandler[*LineReceiver]. It panics if h is nil.
func NewLineReceiver(h LineHandler[*LineReceiver]) *LineReceiver {
	if h == nil {
		panic("basic: NewLineReceiver with a nil handler")
	}
	r := &LineReceiver{h: h}
	r.c.init(r, h)
	r.raw, _ = h.(RawDataHandler)
	r.exceeded, _ = h.(LineLengthExceededHandler[*LineReceiver])
	return r
}

// ConnectionMade implements protocol.Protocol.
func (r *LineReceiver) ConnectionMade(t protocol.Transport) {
	r.scanned, r.rawMode, r.skipping = 0, false, false
	r.c.connectionMade(t)
}

// DataReceived implements protocol.Protocol: it delivers every complete
// line of the input (or, in raw mode, the input itself) and keeps the rest.
// Nothing is delivered once the connection is closing, nor while reading is
// paused through Transport().PauseReading.
func (r *LineReceiver) DataReceived(data []byte) { r.c.dataReceived(data) }

// ConnectionLost implements protocol.Protocol. It frees the buffer and
// calls the handler's ConnectionLost hook.
func (r *LineReceiver) ConnectionLost(reason error) { r.c.connectionLost(reason) }

// Transport returns the connection's transport (see the package
// documentation on closing and pausing), or nil before ConnectionMade.
func (r *LineReceiver) Transport() protocol.Transport { return r.c.transport() }

// SendLine writes line followed by the delimiter. It returns the
// transport's error, or ErrNotConnected before ConnectionMade.
func (r *LineReceiver) SendLine(line []byte) error {
	if r.c.s.Transport == nil {
		return ErrNotConnected
	}
	r.vec[0], r.vec[1] = line, r.delimiter()
	_, err := r.c.s.Writev(r.vec[:]...)
	r.vec = [2][]byte{}
	return err
}

// SetRawMode switches to raw mode: from now on, starting with the rest of
// the current input, data goes to the handler's RawDataReceived instead of
// being split into lines. It also ends the skipping of an over-long line.
// It panics if the handler does not implement RawDataHandler: that is a
// programming error, not bad input.
func (r *LineReceiver) SetRawMode() {
	if r.raw == nil {
		panic("basic: SetRawMode on a LineReceiver whose handler has no RawDataReceived")
	}
	r.rawMode = true
	r.skipping = false
}

// SetLineMode switches back to line mode: from now on, starting with the
// rest of the current input, data is split into lines. extra, if any, is
// parsed first, before the rest of the input: typically the part of the
// data given to RawDataReceived that the handler did not consume (as with
// Twisted's setLineMode). Called outside a handler call, SetLineMode parses
// extra and any input kept so far at once.
func (r *LineReceiver) SetLineMode(extra []byte) {
	r.rawMode = false
	if len(extra) > 0 && !r.unread(extra) {
		r.c.in.pushFront(extra)
		r.scanned = 0
	}
	if !r.c.busy && !r.c.s.closing && r.c.s.Transport != nil {
		r.c.run()
	}
}

// LineMode reports whether the receiver is in line mode.
func (r *LineReceiver) LineMode() bool { return !r.rawMode }

// ClearLineBuffer drops the input not parsed yet, including the rest of the
// current read when called from a handler call, and returns a copy of it.
func (r *LineReceiver) ClearLineBuffer() []byte {
	in := &r.c.in
	var b []byte
	if n := in.len(); n > 0 {
		b = make([]byte, 0, n)
		b = append(b, in.owned()...)
		b = append(b, in.rest...)
	}
	in.clear()
	r.scanned = 0
	return b
}

func (r *LineReceiver) delimiter() []byte {
	if len(r.Delimiter) == 0 {
		return defaultDelimiter
	}
	return r.Delimiter
}

func (r *LineReceiver) maxLength() int {
	if r.MaxLength <= 0 {
		return DefaultMaxLineLength
	}
	return r.MaxLength
}

// parse implements parser; conn.run runs it.
func (r *LineReceiver) parse() {
	for !r.c.s.closing && !r.c.s.paused {
		if r.rawMode {
			if !r.rawStep() {
				return
			}
			continue
		}
		delim := r.delimiter()
		line, ok := r.nextLine(delim)
		if !ok {
			if !r.unterminated(delim) {
				return
			}
			continue
		}
		if r.skipping {
			r.skipping = false
			continue
		}
		if limit := r.maxLength(); len(line) > limit {
			r.lineTooLong(line[:limit+1])
			continue
		}
		r.h.LineReceived(r, line)
	}
}

// rawStep hands the next unparsed bytes to RawDataReceived and reports
// whether there were any.
func (r *LineReceiver) rawStep() bool {
	in := &r.c.in
	in.settle()
	var data []byte
	if owned := in.owned(); len(owned) > 0 {
		data = owned
		in.off = len(in.buf)
	} else if len(in.rest) > 0 {
		data = in.rest
		in.rest = nil
	} else {
		return false
	}
	r.scanned = 0
	r.rawData, r.rawEnd = data, len(in.buf)
	r.raw.RawDataReceived(r, data)
	r.rawData = nil
	return true
}

// unread puts extra back in front of the unparsed input without copying
// it, when extra is the unconsumed tail of the data RawDataReceived is
// handling and no input arrived meanwhile: the common case of a handler
// that consumed a body and returns the rest to line mode. Copying instead
// would make a read of many small raw sections quadratic.
func (r *LineReceiver) unread(extra []byte) bool {
	data, in := r.rawData, &r.c.in
	if len(extra) > len(data) || len(in.buf) != r.rawEnd || len(in.rest) != 0 ||
		&extra[len(extra)-1] != &data[len(data)-1] {
		return false
	}
	if in.off == len(in.buf) && r.rawEnd > 0 && &data[len(data)-1] == &in.buf[len(in.buf)-1] {
		in.off -= len(extra) // data was the owned input
	} else if in.off == len(in.buf) {
		in.rest = extra // data was the borrowed input
	} else {
		return false
	}
	r.scanned = 0
	return true
}

// nextLine consumes the next complete line and returns it without its
// delimiter, or reports false if the unparsed input holds no delimiter.
func (r *LineReceiver) nextLine(delim []byte) ([]byte, bool) {
	in := &r.c.in
	in.settle()
	d := len(delim)
	if owned := in.owned(); len(owned) > 0 {
		if !sameSlice(delim, r.scanDelim) || r.scanned > len(owned) {
			r.scanned, r.scanDelim = 0, delim
		}
		if i := bytes.Index(owned[r.scanned:], delim); i >= 0 {
			end := r.scanned + i
			in.off += end + d
			r.scanned = 0
			return owned[:end:end], true
		}
		if n := straddle(owned, in.rest, delim); n > 0 {
			end := len(owned) - (d - n)
			in.off = len(in.buf)
			in.rest = in.rest[n:]
			r.scanned = 0
			return owned[:end:end], true
		}
		r.scanned = max(0, len(owned)-(d-1))
		j := bytes.Index(in.rest, delim)
		if j < 0 {
			return nil, false
		}
		in.buf = append(in.buf, in.rest[:j]...)
		line := in.buf[in.off:len(in.buf):len(in.buf)]
		in.off = len(in.buf)
		in.rest = in.rest[j+d:]
		r.scanned = 0
		return line, true
	}
	j := bytes.Index(in.rest, delim)
	if j < 0 {
		return nil, false
	}
	line := in.rest[:j:j]
	in.rest = in.rest[j+d:]
	return line, true
}

// unterminated handles input that holds no delimiter: while skipping, only
// the bytes that may start the awaited delimiter are kept; past the limit,
// the long line is refused. It reports whether parsing should go on.
func (r *LineReceiver) unterminated(delim []byte) bool {
	d := len(delim)
	if r.skipping {
		r.c.in.keepLast(d - 1)
		r.scanned = 0
		return false
	}
	limit := r.maxLength()
	if r.c.in.len() < limit+d {
		return false
	}
	head := r.c.in.take(limit + 1)
	r.scanned = 0
	r.skipping = true
	r.lineTooLong(head)
	return true
}

func (r *LineReceiver) lineTooLong(head []byte) {
	if r.exceeded != nil {
		r.exceeded.LineLengthExceeded(r, head)
		return
	}
	r.c.s.closeWith(ErrLineTooLong)
}

// straddle reports whether a delimiter starts in the last len(delim)-1
// bytes of prev (which holds no whole delimiter) and ends in next; if so it
// returns how many bytes of next it takes, else 0. The earliest such
// delimiter wins.
func straddle(prev, next, delim []byte) int {
	for n := min(len(delim)-1, len(prev)); n >= 1; n-- {
		if len(next) >= len(delim)-n && bytes.HasSuffix(prev, delim[:n]) && bytes.HasPrefix(next, delim[n:]) {
			return len(delim) - n
		}
	}
	return 0
}

// sameSlice reports whether a and b are the same slice of the same array.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
