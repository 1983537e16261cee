package reactor

import (
	"errors"
	"fmt"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// Errors returned by the reactor. Match them with errors.Is.
var (
	// ErrAlreadyRunning is returned by Run on a reactor that is running.
	ErrAlreadyRunning = errors.New("mustaine: reactor already running")
	// ErrStopped is returned by Run on a reactor that has stopped; a stopped
	// reactor is not restarted: create a new one.
	ErrStopped = errors.New("mustaine: reactor stopped (create a new one)")
	// ErrNotRunning is returned by Stop on a reactor that is not running.
	ErrNotRunning = errors.New("mustaine: reactor not running")
	// ErrBadAddress is returned for an address that cannot be parsed.
	ErrBadAddress = errors.New("mustaine: bad address")
	// ErrListenerClosed is returned by a second Listener.Close.
	ErrListenerClosed = errors.New("mustaine: listener closed")
	// ErrConnectRefused: the peer refused the connection (ECONNREFUSED).
	ErrConnectRefused = errors.New("mustaine: connection refused")
	// ErrConnectTimeout: the connection was not established in time.
	ErrConnectTimeout = errors.New("mustaine: connect timed out")
	// ErrConnectCancelled: the connect Deferred was cancelled.
	ErrConnectCancelled = errors.New("mustaine: connect cancelled")
	// ErrConnectFailed: the connection could not be established for another
	// reason (the wrapped error says which).
	ErrConnectFailed = errors.New("mustaine: connect failed")
	// ErrReactorStopping: the reactor is shutting down and takes no new work.
	ErrReactorStopping = errors.New("mustaine: reactor is stopping")
)

// The errors a connection or connect ends with for one reason shared by
// several places: each is one value, so that every place says it alike.
var (
	// errConnectCancelled fails a connect whose Deferred was cancelled.
	errConnectCancelled = fmt.Errorf("%w: %w", ErrConnectCancelled, deferred.ErrCancelled)
	// errAbortedStopping aborts a connection the shutdown could not wait for.
	errAbortedStopping = fmt.Errorf("%w: %w", protocol.ErrAborted, ErrReactorStopping)
)
