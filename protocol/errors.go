package protocol

import (
	"errors"
	"fmt"
)

// Reasons a connection was lost, for ConnectionLost, and other protocol
// errors. Match them with errors.Is.
var (
	// ErrConnectionDone: we closed the connection cleanly (LoseConnection).
	ErrConnectionDone = errors.New("mustaine: connection closed cleanly")
	// ErrPeerClosed: the peer closed its side cleanly (EOF).
	ErrPeerClosed = errors.New("mustaine: connection closed by peer")
	// ErrPeerReset: the peer reset the connection (ECONNRESET, EPIPE).
	ErrPeerReset = errors.New("mustaine: connection reset by peer")
	// ErrAborted: the connection was aborted with AbortConnection.
	ErrAborted = errors.New("mustaine: connection aborted")
	// ErrTimeout: the connection was closed by an idle or read timeout.
	ErrTimeout = errors.New("mustaine: connection timed out")
	// ErrClosed is returned by writes to a closing or closed transport.
	ErrClosed = errors.New("mustaine: transport closed")
	// ErrProducerRegistered is returned by a second RegisterProducer.
	ErrProducerRegistered = errors.New("mustaine: a producer is already registered")
	// ErrRefused: the factory refused the connection.
	ErrRefused = errors.New("mustaine: connection refused by factory")
)

// PanicError is the reason a connection was lost when one of its callbacks
// panicked. errors.Is(err, ErrPanic) matches it.
type PanicError struct {
	// Value is what the callback panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// ErrPanic matches every *PanicError with errors.Is.
var ErrPanic = errors.New("mustaine: callback panicked")

// Error describes the panic.
func (e *PanicError) Error() string { return fmt.Sprintf("mustaine: callback panicked: %v", e.Value) }

// Is makes errors.Is(e, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}
