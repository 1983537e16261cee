package http

import (
	"net"
	"sync"

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
	return &conn{srv: s, cfg: &s.cfg}
}

// loopState returns the per-loop state of l, creating it on first use.
// It is looked up once per connection, never per request.
func (s *Server) loopState(l protocol.Loop) *loopState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.loops[l]
	if ls == nil {
		ls = &loopState{prefix: newHeadPrefix(s.cfg.serverName)}
		s.loops[l] = ls
	}
	return ls
}

// loopState is what the connections of one loop share. Only that loop
// touches it, so it needs no lock.
type loopState struct {
	prefix headPrefix
	free   [][]byte
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
