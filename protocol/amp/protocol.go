package amp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// DefaultMaxOutstanding is how many requests from the peer a connection
// works on at once by default before it stops reading (see
// WithMaxOutstanding).
const DefaultMaxOutstanding = 256

// Option configures a Protocol.
type Option func(*config)

type config struct {
	maxOutstanding int
	logger         *zerolog.Logger
	made           func(*Protocol)
	lost           func(*Protocol, error)
}

// WithMaxOutstanding bounds the requests from the peer that are being
// answered at once: at n the connection stops reading (PauseReading) and
// reads again as answers go out. n < 1 means DefaultMaxOutstanding.
func WithMaxOutstanding(n int) Option { return func(c *config) { c.maxOutstanding = n } }

// WithLogger sets the logger told why a connection was closed (bad input,
// a responder's undeclared error). The default writes warnings and errors
// to stderr.
func WithLogger(l zerolog.Logger) Option { return func(c *config) { c.logger = &l } }

// WithConnectionMade sets a function called when the connection is made,
// when calls can start.
func WithConnectionMade(fn func(p *Protocol)) Option { return func(c *config) { c.made = fn } }

// WithConnectionLost sets a function called when the connection is lost,
// after the pending calls have failed.
func WithConnectionLost(fn func(p *Protocol, reason error)) Option {
	return func(c *config) { c.lost = fn }
}

var defaultLogger = zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()

// Protocol is one AMP connection, either side: it answers the peer's
// requests with its Responders and sends calls (Call). It implements
// protocol.Protocol; all its methods run on the connection's loop.
type Protocol struct {
	rs  *Responders
	cfg config
	log zerolog.Logger

	t       protocol.Transport
	rd      boxReader
	later   []byte // input that arrived while parsing
	out     []byte
	counter uint64
	pending map[uint64]*deferred.Deferred[Box] // by tag (see tagNumber)
	// forgotten holds the tags of cancelled calls, whose late answers are
	// dropped instead of closing the connection as unknown tags do.
	forgotten map[uint64]struct{}
	inflight  int  // requests from the peer not answered yet
	paused    bool // reading paused by the outstanding limit
	busy      bool // parsing input
	closing   bool
	lost      bool
}

// New returns a Protocol answering with rs (nil: no responders, every
// command answers UNHANDLED).
func New(rs *Responders, opts ...Option) *Protocol {
	if rs == nil {
		rs = NewResponders()
	}
	p := &Protocol{rs: rs}
	for _, o := range opts {
		o(&p.cfg)
	}
	if p.cfg.maxOutstanding < 1 {
		p.cfg.maxOutstanding = DefaultMaxOutstanding
	}
	p.log = defaultLogger
	if p.cfg.logger != nil {
		p.log = *p.cfg.logger
	}
	return p
}

// NewFactory returns a protocol.Factory building New(rs, opts...) for each
// connection.
func NewFactory(rs *Responders, opts ...Option) protocol.Factory {
	return protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return New(rs, opts...) })
}

// Transport returns the connection's transport, nil before ConnectionMade.
func (p *Protocol) Transport() protocol.Transport { return p.t }

// Pending is the number of calls sent and not answered yet.
func (p *Protocol) Pending() int { return len(p.pending) }

// ConnectionMade implements protocol.Protocol.
func (p *Protocol) ConnectionMade(t protocol.Transport) {
	p.t = t
	p.pending = map[uint64]*deferred.Deferred[Box]{}
	p.forgotten = map[uint64]struct{}{}
	p.log = p.log.With().Str("peer", fmt.Sprint(t.RemoteAddr())).Logger()
	if p.cfg.made != nil {
		p.cfg.made(p)
	}
}

// DataReceived implements protocol.Protocol: it handles each complete box.
// A malformed box or an answer to a tag never asked closes the connection,
// with the reason logged.
func (p *Protocol) DataReceived(data []byte) {
	if p.closing || p.lost {
		return
	}
	if p.busy {
		// Re-entered from a callback: parsed by the loop already running.
		p.later = append(p.later, data...)
		return
	}
	if p.paused {
		// Input the transport delivered after PauseReading waits for an
		// answer to go out.
		p.rd.buf = append(p.rd.buf, data...)
		return
	}
	p.busy = true
	err := p.rd.feed(data, p.boxReceived)
	for err == nil && len(p.later) > 0 && !p.closing && !p.lost {
		more := p.later
		p.later = nil
		if p.paused {
			p.rd.buf = append(p.rd.buf, more...)
			break
		}
		err = p.rd.feed(more, p.boxReceived)
	}
	p.busy = false
	if err != nil {
		p.fatal(err)
	}
}

// ConnectionLost implements protocol.Protocol: every pending call fails
// with reason.
func (p *Protocol) ConnectionLost(reason error) {
	p.lost = true
	p.rd.buf = nil
	pending := p.pending
	p.pending = nil
	p.forgotten = nil
	for _, d := range pending {
		_ = d.Errback(reason)
	}
	if p.cfg.lost != nil {
		p.cfg.lost(p, reason)
	}
}

// fatal logs err and closes the connection.
func (p *Protocol) fatal(err error) {
	if p.closing {
		return
	}
	p.log.Warn().Err(err).Msg("amp: closing the connection")
	p.closing = true
	p.rd.buf = nil
	p.t.LoseConnection()
}

func (p *Protocol) boxReceived(b Box) bool {
	if p.closing || p.lost {
		return false
	}
	if tag, ok := b.Get(keyAnswer); ok {
		if d := p.takePending(tag); d != nil {
			_ = d.Callback(b)
		}
	} else if tag, ok := b.Get(keyError); ok {
		if d := p.takePending(tag); d != nil {
			code, _ := b.Get(keyErrorCode)
			desc, _ := b.Get(keyErrorDesc)
			_ = d.Errback(&RemoteError{Code: string(code), Description: string(desc)})
		}
	} else if name, ok := b.Get(keyCommand); ok {
		p.dispatch(name, b)
	} else {
		p.fatal(fmt.Errorf("%w: no _command, _answer or _error", ErrMalformedBox))
	}
	return !p.closing && !p.paused
}

// takePending removes and returns the call of tag. A tag of a cancelled
// call gives nil; a tag never asked closes the connection.
func (p *Protocol) takePending(tag []byte) *deferred.Deferred[Box] {
	if n, ok := tagNumber(tag); ok {
		if d, ok := p.pending[n]; ok {
			delete(p.pending, n)
			return d
		}
		if _, ok := p.forgotten[n]; ok {
			delete(p.forgotten, n)
			return nil
		}
	}
	p.fatal(fmt.Errorf("%w: %q", ErrUnknownTag, tag))
	return nil
}

// tagNumber is the counter value of a tag as this side writes them
// (lowercase hexadecimal without leading zeros, from 1); any other tag is
// not one of ours.
func tagNumber(tag []byte) (uint64, bool) {
	if len(tag) == 0 || len(tag) > 16 || tag[0] == '0' {
		return 0, false
	}
	var n uint64
	for _, c := range tag {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

func (p *Protocol) dispatch(name []byte, b Box) {
	tag, ask := b.Get(keyAsk)
	r, ok := p.rs.m[string(name)]
	if !ok {
		if !ask {
			p.fatal(fmt.Errorf("%w: %q sent without _ask", ErrUnhandledCommand, name))
			return
		}
		p.sendError(tag, CodeUnhandled, "Unhandled Command: b'"+string(name)+"'") // Twisted's wording
		return
	}
	if r.now != nil {
		fields, err := r.now(b, p.out[:0])
		p.answer(name, tag, ask, fields, err)
		return
	}
	if ask {
		p.inflight++
	}
	defer func() {
		if ask && p.inflight >= p.cfg.maxOutstanding && !p.paused && !p.closing && !p.lost {
			p.paused = true
			p.t.PauseReading()
		}
	}()
	r.later(p, b).AddBoth(func(answer Box, err error) (Box, error) {
		if ask {
			p.answered()
		}
		var fields []byte
		if err == nil && ask && !p.closing && !p.lost {
			fields, err = appendFields(p.out[:0], answer)
		}
		p.answer(name, tag, ask, fields, err)
		return nil, nil
	})
}

// answer sends the outcome of the request name with tag (ask: the peer
// wants an answer): the answer's encoded fields, written to p.out by the
// responder, or err, sent as the declared error box it is or as UNKNOWN,
// which closes the connection.
func (p *Protocol) answer(name, tag []byte, ask bool, fields []byte, err error) {
	if p.closing || p.lost {
		return
	}
	if err == nil && !ask {
		return
	}
	if err == nil {
		out := append(appendField(fields, keyAnswer, tag), 0, 0)
		_, err = p.t.Write(out)
		p.out = out
		if cap(p.out) > 64<<10 {
			p.out = nil
		}
		if err == nil || errors.Is(err, protocol.ErrClosed) {
			return
		}
	}
	var de *declaredError
	if errors.As(err, &de) && ask {
		p.sendError(tag, de.code, de.Error())
		if de.fatal {
			p.closing = true
			p.t.LoseConnection()
		}
		return
	}
	if ask {
		p.sendError(tag, CodeUnknown, "Unknown Error")
	}
	p.fatal(fmt.Errorf("amp: responder of %q: %w", name, err))
}

// answered counts an answer out and reads again below the limit.
func (p *Protocol) answered() {
	p.inflight--
	if p.paused && p.inflight < p.cfg.maxOutstanding && !p.closing && !p.lost {
		p.paused = false
		p.t.ResumeReading()
		if !p.busy {
			p.DataReceived(nil)
		}
	}
}

func (p *Protocol) sendError(tag []byte, code, desc string) {
	_ = p.write(Box{{keyError, tag}, {keyErrorCode, []byte(code)}, {keyErrorDesc, []byte(desc)}})
}

func (p *Protocol) write(b Box) error {
	out, err := AppendBox(p.out[:0], b)
	if err != nil {
		return err
	}
	return p.writeOut(out)
}

// writeOut writes out, a box encoded in p.out's buffer, which it keeps for
// the next box unless it grew large.
func (p *Protocol) writeOut(out []byte) error {
	p.out = out
	_, err := p.t.Write(out)
	if cap(p.out) > 64<<10 {
		p.out = nil
	}
	return err
}

// encodeRequest encodes a request box in p.out's buffer: _command, _ask
// with tag unless it is 0, then the fields of args (a struct).
func (p *Protocol) encodeRequest(name string, tag uint64, args reflect.Value) ([]byte, error) {
	if p.t == nil || p.lost || p.closing {
		return nil, ErrNotConnected
	}
	if len(name) > MaxValueLength {
		return nil, fmt.Errorf("%w: command name of %d bytes", ErrValueTooLong, len(name))
	}
	out := appendField(p.out[:0], keyCommand, name)
	if tag != 0 {
		var num [16]byte
		out = appendField(out, keyAsk, strconv.AppendUint(num[:0], tag, 16))
	}
	out, err := appendArgs(out, args)
	if err != nil {
		return nil, err
	}
	return append(out, 0, 0), nil
}

// send writes a request without _ask.
func (p *Protocol) send(name string, args reflect.Value) error {
	out, err := p.encodeRequest(name, 0, args)
	if err != nil {
		return err
	}
	return p.writeOut(out)
}

// ask sends a request with a new tag and returns the Deferred of its
// answer box.
func (p *Protocol) ask(name string, args reflect.Value) *deferred.Deferred[Box] {
	tag := p.counter + 1
	out, err := p.encodeRequest(name, tag, args)
	if err != nil {
		return deferred.Fail[Box](err)
	}
	p.counter = tag
	d := deferred.NewWithCanceller(func(*deferred.Deferred[Box]) {
		if _, ok := p.pending[tag]; ok {
			delete(p.pending, tag)
			p.forgotten[tag] = struct{}{}
		}
	})
	p.pending[tag] = d
	if err := p.writeOut(out); err != nil {
		delete(p.pending, tag)
		_ = d.Errback(err)
	}
	return d
}
