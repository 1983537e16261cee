package http

import (
	"net"
	"sync"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// Server is an HTTP/1.1 server: a protocol.Factory that gives every
// connection its own HTTP protocol, serving requests with one Handler.
// Listen with it like with any other factory. A Server may serve many
// listeners and loops at once.
type Server struct {
	handler Handler
	cfg     config

	mu    sync.Mutex
	loops map[protocol.Loop]*loopState
}

// NewServer returns a Server that answers requests with h. It returns
// ErrNilHandler for a nil h and ErrInvalidOption when an option is out of
// range.
func NewServer(h Handler, opts ...Option) (*Server, error) {
	if h == nil {
		return nil, ErrNilHandler
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if !cfg.valid() {
		return nil, ErrInvalidOption
	}
	return &Server{handler: h, cfg: cfg, loops: make(map[protocol.Loop]*loopState)}, nil
}

// BuildProtocol returns the HTTP protocol for a new connection.
func (s *Server) BuildProtocol(addr net.Addr) protocol.Protocol {
	return &conn{srv: s}
}

// loopState returns the per-loop state of l, creating it on first use.
// It is looked up once per connection, never per request.
func (s *Server) loopState(l protocol.Loop) *loopState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.loops[l]
	if ls == nil {
		ls = &loopState{prefix: newHeadPrefix(s.cfg.serverName), loop: l, epoch: l.Now()}
		s.loops[l] = ls
	}
	return ls
}

// loopState is what the connections of one loop share. Only that loop
// touches it, so it needs no lock.
type loopState struct {
	prefix headPrefix
	free   [][]byte
	loop   protocol.Loop
	epoch  time.Time // the loop's time when ls was made: mono's zero
	// queues has one timeout queue per timeout duration in use (a
	// server has at most six: see conn.setTimeout), never removed.
	queues    []*timeoutQueue
	exchanges []*reqState // idle exchanges for reuse
	memo      routeMemo   // the loop's last route match
	lastHead  headMemo    // the loop's last response head
	lastParse parseMemo   // the loop's last parsed request head
}

// mono is the loop's current time as nanoseconds since ls.epoch, which
// keeps a connection's deadline to one word.
func (ls *loopState) mono() int64 { return int64(ls.loop.Now().Sub(ls.epoch)) }

// exchangeKeep bounds the exchanges a loop keeps for reuse: enough for the
// connections that are busy at once, not one per idle connection.
const exchangeKeep = 256

// getExchange returns an idle exchange's state from the pool, or that of a
// new one.
func (ls *loopState) getExchange() *reqState {
	if n := len(ls.exchanges); n > 0 {
		rs := ls.exchanges[n-1]
		ls.exchanges[n-1] = nil
		ls.exchanges = ls.exchanges[:n-1]
		return rs
	}
	ex := new(exchange)
	ex.req, ex.w = &ex.request, &ex.writer
	return &ex.reqState
}

// putExchange keeps rs, which holds no buffer, for the next connection
// that receives bytes.
func (ls *loopState) putExchange(rs *reqState) {
	if len(ls.exchanges) < exchangeKeep {
		ls.exchanges = append(ls.exchanges, rs)
	}
}

// queue returns the loop's timeout queue for d, making it on first use.
func (ls *loopState) queue(d time.Duration) *timeoutQueue {
	for _, q := range ls.queues {
		if q.d == d {
			return q
		}
	}
	q := &timeoutQueue{ls: ls, d: d, index: uint8(len(ls.queues) + 1), slack: min(int64(d)/timeoutSlackDivisor, maxTimeoutSlack)}
	q.fireFn = q.fire
	ls.queues = append(ls.queues, q)
	return q
}

// timeoutQueue is a loop's list of the connections waiting on a timeout of
// one duration. A deadline is always set as now+d on a clock that never
// goes back, so a connection that joins at the tail has the latest
// deadline and the list stays in deadline order with no sorting: the
// queue needs one timer of the loop's, armed for its head, instead of one
// per connection (and an idle connection holds two links, not a timer).
// The timer is not moved when the head leaves; it fires, finds the new
// head not due yet, and is armed again for it.
//
// A connection's place is its deadline when it joined; a later deadline
// within slack of it is kept beside it (conn.extended) rather than moving
// the connection, and fire moves the connection to its true place once it
// reaches the head. That place is at most slack past the head, so finding
// it passes only the connections due within slack.
type timeoutQueue struct {
	ls         *loopState
	d          time.Duration
	slack      int64 // ns a deadline may move later without moving its connection
	index      uint8 // 1 + its index in ls.queues, as conn.tq holds it
	head, tail *conn
	armed      bool
	fireFn     func()
}

// A queue's slack is a 64th of its duration (a second of the default idle
// timeout), at most what conn.extended holds: a connection busier than
// that moves on its queue once per slack instead of once per request.
const (
	timeoutSlackDivisor = 64
	maxTimeoutSlack     = int64(4 * time.Second)
)

// push appends c, whose deadline is the latest, and arms the timer if it
// is not.
func (q *timeoutQueue) push(c *conn) {
	q.linkLast(c)
	if !q.armed {
		q.armed = true
		q.ls.loop.CallLater(q.d, q.fireFn)
	}
}

// insert puts c, on no queue, at its place for deadline, which is later
// than the head's: after every connection placed at or before it. The
// walk starts at the head, since a deadline moved within the slack is due
// soon after the head's.
func (q *timeoutQueue) insert(c *conn, deadline int64) {
	c.deadline, c.extended = deadline, 0
	after := q.head
	for after != nil && after.deadline <= deadline {
		after = after.tnext
	}
	if after == nil {
		q.linkLast(c) // the timer is fire's to arm
		return
	}
	c.tq, c.tnext, c.tprev = q.index, after, after.tprev
	if after.tprev != nil {
		after.tprev.tnext = c
	} else {
		q.head = c
	}
	after.tprev = c
}

// linkLast links c, on no queue, after q's tail.
func (q *timeoutQueue) linkLast(c *conn) {
	c.tq, c.tprev, c.tnext = q.index, q.tail, nil
	if q.tail != nil {
		q.tail.tnext = c
	} else {
		q.head = c
	}
	q.tail = c
}

// unqueue takes c off its timeout queue, if it is on one.
func (c *conn) unqueue() {
	if c.tq == 0 {
		return
	}
	q := c.ls.queues[c.tq-1]
	if c.tprev != nil {
		c.tprev.tnext = c.tnext
	} else {
		q.head = c.tnext
	}
	if c.tnext != nil {
		c.tnext.tprev = c.tprev
	} else {
		q.tail = c.tprev
	}
	c.tq, c.tprev, c.tnext = 0, nil, nil
}

// fire times out every connection whose deadline has passed, in deadline
// order, and arms the timer for the next one. A connection never times out
// before its deadline: the loop's clock decides, not the timer.
func (q *timeoutQueue) fire() {
	q.armed = false
	now := q.ls.mono()
	for c := q.head; c != nil && c.deadline <= now; c = q.head {
		c.unqueue()
		if due := c.deadline + int64(c.extended); due > now {
			q.insert(c, due)
			continue
		}
		c.onTimer()
	}
	if q.head != nil && !q.armed {
		q.armed = true
		q.ls.loop.CallLater(time.Duration(q.head.deadline-now), q.fireFn)
	}
}

// Buffer pool bounds: buffers start small, and big ones (a large body) go
// back to the garbage collector rather than pinning memory in the pool.
const (
	bufInitial   = 4 << 10
	bufKeepMax   = 64 << 10
	poolKeepMany = 256
)

// getBuf returns an empty buffer from the loop's pool.
func (ls *loopState) getBuf() []byte {
	if n := len(ls.free); n > 0 {
		b := ls.free[n-1]
		ls.free[n-1] = nil
		ls.free = ls.free[:n-1]
		return b
	}
	return make([]byte, 0, bufInitial)
}

// putBuf gives b back to the pool. The caller must not use it again.
func (ls *loopState) putBuf(b []byte) {
	if b == nil || cap(b) > bufKeepMax || len(ls.free) >= poolKeepMany {
		return
	}
	ls.free = append(ls.free, b[:0])
}
