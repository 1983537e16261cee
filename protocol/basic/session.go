package basic

import (
	"fmt"

	"github.com/mustaine/mustaine/protocol"
)

// resumer is implemented by conn, the core of every framer: it parses the
// input that was kept while reading was paused.
type resumer interface {
	resume()
}

// session is the transport a framer hands to its handler. It forwards every
// call to the connection's transport and lets the framer notice, in the
// middle of a read, that the handler closed the connection or paused
// reading, so that it stops delivering messages at once. Twisted gets the
// same effect from transport.disconnecting and the paused flag of its
// pausable framers.
type session struct {
	protocol.Transport
	owner   resumer
	closing bool  // the framer or its handler closed the connection
	paused  bool  // the handler paused reading
	err     error // why the framer closed the connection, if it did
}

// LoseConnection marks the session closing, then closes the connection.
func (s *session) LoseConnection() {
	s.closing = true
	s.Transport.LoseConnection()
}

// AbortConnection marks the session closing, then aborts the connection.
func (s *session) AbortConnection() {
	s.closing = true
	s.Transport.AbortConnection()
}

// PauseReading stops message delivery at once (the rest of the current
// input is kept) and pauses the transport.
func (s *session) PauseReading() {
	s.paused = true
	s.Transport.PauseReading()
}

// ResumeReading resumes the transport, then parses the input kept while
// paused; when called from inside a handler call, parsing simply goes on
// once that call returns.
func (s *session) ResumeReading() {
	s.paused = false
	s.Transport.ResumeReading()
	if !s.closing {
		s.owner.resume()
	}
}

// PauseProducing is PauseReading, so that the session, not only the
// connection under it, stops delivering when another transport throttles it.
func (s *session) PauseProducing() { s.PauseReading() }

// ResumeProducing is ResumeReading.
func (s *session) ResumeProducing() { s.ResumeReading() }

// StopProducing is LoseConnection.
func (s *session) StopProducing() { s.LoseConnection() }

// Unwrap returns the connection's own transport.
func (s *session) Unwrap() protocol.Transport { return s.Transport }

// closeWith closes the connection because of bad input; err is remembered
// for the reason handed to the handler's ConnectionLost hook.
func (s *session) closeWith(err error) {
	if s.closing {
		return
	}
	s.err = err
	s.LoseConnection()
}

// lost marks the session closed and returns the reason for the handler:
// the transport's reason, wrapped with the framer's error if the framer
// closed the connection.
func (s *session) lost(reason error) error {
	s.closing = true
	if s.err != nil {
		return fmt.Errorf("%w: %w", s.err, reason)
	}
	return reason
}
