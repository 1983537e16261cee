package loadgen

import "errors"

// Sentinel errors returned (wrapped with details) by Run.
var (
	// ErrConfig reports a Config that cannot be run.
	ErrConfig = errors.New("loadgen: invalid config")
	// ErrMismatch reports an echo that differs from what was sent.
	ErrMismatch = errors.New("loadgen: echoed bytes differ from those sent")
	// ErrClosed reports a server that closed a connection during the run.
	ErrClosed = errors.New("loadgen: server closed the connection")
	// ErrStalled reports messages the server had not echoed by the end of
	// the drain period that follows the measured window.
	ErrStalled = errors.New("loadgen: server stopped echoing")
)
