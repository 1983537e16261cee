package reactor

import "github.com/rs/zerolog"

// Logger is the loop's logger: the reactor's (WithLogger), with the loop's
// "loop" field. Protocols reach it through their transport's Loop with an
// interface assertion, to log through the reactor rather than on their
// own (protocol/http logs handler panics there by default).
func (l *loop) Logger() *zerolog.Logger { return &l.log }
