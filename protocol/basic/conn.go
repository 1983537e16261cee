package basic

import "github.com/mustaine/mustaine/protocol"

// parser is implemented by the framers: parse delivers messages from the
// unparsed input for as long as the connection is open, reading is not
// paused and a whole message is there. It is called only by conn.run.
type parser interface {
	parse()
}

// conn is the per-connection state and lifecycle every framer shares: the
// session handed to the handler, the unparsed input, the optional
// ConnectionMade and ConnectionLost hooks, and the guard that keeps the
// parse loop from running nested. Each framer embeds one and keeps only its
// own parse loop and settings; F is the framer itself (*LineReceiver, ...),
// as handed to the hooks.
type conn[F parser] struct {
	s     session
	in    input
	hooks hooks[F]
	self  F
	busy  bool // the parse loop is running
}

// init binds the conn to its framer and looks up h's optional hooks.
func (c *conn[F]) init(self F, h any) {
	c.self = self
	c.hooks = hooksOf[F](h)
}

// connectionMade starts a connection: a fresh session and input, then the
// handler's hook. The framer resets its own state before calling it, so
// that the hook sees a ready framer.
func (c *conn[F]) connectionMade(t protocol.Transport) {
	c.s = session{Transport: t, owner: c}
	c.in.release()
	if c.hooks.made != nil {
		c.hooks.made.ConnectionMade(c.self)
	}
}

// dataReceived parses data, or queues it behind the unparsed input when it
// arrives during a handler call (the parse loop already running picks it
// up). Nothing is parsed once the connection is closing.
func (c *conn[F]) dataReceived(data []byte) {
	if c.s.closing {
		return
	}
	if c.busy {
		c.in.push(data)
		return
	}
	c.in.rest = data
	c.run()
}

// connectionLost frees the input and calls the handler's hook with the
// reason, wrapped with the framer's error if the framer closed the
// connection.
func (c *conn[F]) connectionLost(reason error) {
	reason = c.s.lost(reason)
	c.in.release()
	if c.hooks.lost != nil {
		c.hooks.lost.ConnectionLost(c.self, reason)
	}
}

// transport returns the session, or nil before ConnectionMade.
func (c *conn[F]) transport() protocol.Transport {
	if c.s.Transport == nil {
		return nil
	}
	return &c.s
}

// resume parses the input kept while reading was paused, unless the parse
// loop is running already (it goes on once the handler call returns).
func (c *conn[F]) resume() {
	if !c.busy {
		c.run()
	}
}

// run runs the framer's parse loop. It never runs nested: input arriving
// during a handler call is queued by dataReceived and parsed by the loop
// already running. Afterwards the unparsed input is kept (or dropped if the
// connection is closing) so that it outlives the DataReceived call; that
// runs deferred, so that a handler panic, which the reactor recovers,
// leaves the framer consistent.
func (c *conn[F]) run() {
	c.busy = true
	defer c.endRun()
	c.self.parse()
}

func (c *conn[F]) endRun() {
	c.busy = false
	if c.s.closing {
		c.in.clear()
		c.in.settle()
		return
	}
	c.in.stash()
}

// stringLimit is a string receiver's MaxLength, or its default.
func stringLimit(maxLength int) uint64 {
	if maxLength <= 0 {
		return DefaultMaxStringLength
	}
	return uint64(maxLength)
}
