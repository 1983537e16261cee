package amp

import (
	"errors"
	"reflect"

	"github.com/mustaine/mustaine/deferred"
)

// ErrorCode declares one error a command may answer with: the sentinel
// Go error and the code sent on the wire (Twisted's Command.errors and
// fatalErrors entries).
type ErrorCode struct {
	// Code is the wire code, such as "ZERO_DIVISION".
	Code string
	// Err is the sentinel: a responder's error that matches it with
	// errors.Is is sent with Code, and a received error box with Code
	// matches it on the caller's side.
	Err error
	// Fatal closes the connection after the error is sent (Twisted's
	// fatalErrors).
	Fatal bool
}

// Command is an AMP command whose arguments are the tagged fields of Req and
// whose response is the tagged fields of Resp (see Encode for the types).
type Command[Req, Resp any] struct {
	// Name is the value of _command, Twisted's commandName (by default
	// Twisted uses the class name: set it to the same).
	Name string
	// Errors are the errors the command declares.
	Errors []ErrorCode
	// NoAnswer marks a command sent without _ask (Twisted's
	// requiresAnswer = False): the call's Deferred fires with the zero
	// Resp once the box is written, and the responder's result is dropped.
	NoAnswer bool
}

func (c *Command[Req, Resp]) codeOf(err error) (ErrorCode, bool) {
	for _, e := range c.Errors {
		if errors.Is(err, e.Err) {
			return e, true
		}
	}
	return ErrorCode{}, false
}

func (c *Command[Req, Resp]) sentinelOf(code string) error {
	for _, e := range c.Errors {
		if e.Code == code {
			return e.Err
		}
	}
	return nil
}

// Responders maps command names to responders. One Responders may serve
// every connection of a factory; register before connections start. It is
// not safe to register while connections use it.
type Responders struct {
	m map[string]responder
}

// NewResponders returns an empty Responders.
func NewResponders() *Responders { return &Responders{m: map[string]responder{}} }

// responder answers one request, in one of two ways.
type responder struct {
	// now answers at once (Respond): it appends the answer's encoded
	// fields to dst, or fails.
	now func(req Box, dst []byte) ([]byte, error)
	// later answers when its Deferred fires (RespondDeferred), with the
	// answer's fields.
	later func(p *Protocol, req Box) *deferred.Deferred[Box]
}

// Respond registers fn as the responder of cmd: its response is sent as
// the answer, and its error as the declared error box when it matches one
// of cmd.Errors; any other error (or a panic) answers UNKNOWN and closes
// the connection, as Twisted does. fn answers at once, on the loop: the
// answer is encoded straight into the connection's output, with no
// Deferred.
func Respond[Req, Resp any](rs *Responders, cmd Command[Req, Resp], fn func(Req) (Resp, error)) {
	mustSchemas[Req, Resp]()
	c := cmd
	rs.m[cmd.Name] = responder{now: func(req Box, dst []byte) ([]byte, error) {
		args, err := Decode[Req](req)
		if err != nil {
			return dst, err
		}
		resp, err := callNow(fn, args)
		if err != nil {
			return dst, c.declare(err)
		}
		return appendArgs(dst, reflect.ValueOf(&resp).Elem())
	}}
}

// RespondDeferred registers fn as the responder of cmd, answering when the
// Deferred fn returns fires. fn gets the connection's Protocol, so that it
// can hand work to the reactor's pool, whose result comes back on the
// connection's loop:
//
//	reactor.DeferToThread(p.Transport().Loop(), func() (Resp, error) { ... })
//
// Errors are handled as in Respond.
func RespondDeferred[Req, Resp any](rs *Responders, cmd Command[Req, Resp], fn func(p *Protocol, req Req) *deferred.Deferred[Resp]) {
	mustSchemas[Req, Resp]()
	c := cmd
	rs.m[cmd.Name] = responder{later: func(p *Protocol, req Box) *deferred.Deferred[Box] {
		args, err := Decode[Req](req)
		if err != nil {
			return deferred.Fail[Box](err)
		}
		d := callResponder(fn, p, args)
		return deferred.ThenDeferred(d, func(r Resp) *deferred.Deferred[Box] {
			b, err := Encode(r)
			if err != nil {
				return deferred.Fail[Box](err)
			}
			return deferred.Succeed(b)
		}).AddErrback(func(err error) (Box, error) { return nil, c.declare(err) })
	}}
}

// mustSchemas panics if Req or Resp cannot be AMP arguments.
func mustSchemas[Req, Resp any]() {
	if _, err := schemaOf(reflect.TypeFor[Req]()); err != nil {
		panic(err)
	}
	if _, err := schemaOf(reflect.TypeFor[Resp]()); err != nil {
		panic(err)
	}
}

// declare wraps err in a *declaredError when it matches one of c's
// declared errors.
func (c *Command[Req, Resp]) declare(err error) error {
	if ec, ok := c.codeOf(err); ok {
		return &declaredError{code: ec.Code, fatal: ec.Fatal, err: err}
	}
	return err
}

// callNow calls fn, turning a panic into a *deferred.PanicError.
func callNow[Req, Resp any](fn func(Req) (Resp, error), args Req) (resp Resp, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &deferred.PanicError{Value: r}
		}
	}()
	return fn(args)
}

func callResponder[Req, Resp any](fn func(*Protocol, Req) *deferred.Deferred[Resp], p *Protocol, args Req) (d *deferred.Deferred[Resp]) {
	defer func() {
		if r := recover(); r != nil {
			d = deferred.Fail[Resp](&deferred.PanicError{Value: r})
		}
	}()
	d = fn(p, args)
	if d == nil {
		d = deferred.Fail[Resp](deferred.ErrNilDeferred)
	}
	return d
}

// declaredError carries a responder error that its command declares.
type declaredError struct {
	code  string
	fatal bool
	err   error
}

func (e *declaredError) Error() string { return e.err.Error() }
func (e *declaredError) Unwrap() error { return e.err }

// Call sends cmd with the arguments req on p and returns a Deferred that
// fires with the peer's answer, or fails: with a *RemoteError for an error
// box (matching the sentinel cmd declares for its code), with the
// connection's loss reason if it drops first, with ErrNotConnected before
// or after the connection. Cancelling the Deferred forgets the call (a late
// answer is dropped); AddTimeout on it times the call out. Call must be
// called on p's loop.
func Call[Req, Resp any](p *Protocol, cmd Command[Req, Resp], req Req) *deferred.Deferred[Resp] {
	args := reflect.ValueOf(&req).Elem()
	if cmd.NoAnswer {
		if err := p.send(cmd.Name, args); err != nil {
			return deferred.Fail[Resp](err)
		}
		var zero Resp
		return deferred.Succeed(zero)
	}
	raw := p.ask(cmd.Name, args)
	c := cmd
	return deferred.Then(raw, func(answer Box) (Resp, error) {
		return Decode[Resp](answer)
	}).AddErrback(func(err error) (Resp, error) {
		var re *RemoteError
		if errors.As(err, &re) && re.declared == nil {
			re.declared = c.sentinelOf(re.Code)
		}
		var zero Resp
		return zero, err
	})
}
