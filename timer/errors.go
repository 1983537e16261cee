package timer

import (
	"errors"
	"fmt"
)

// Errors reported by [LoopingCall]. Match them with errors.Is.
var (
	// ErrRunning is returned by Start when the LoopingCall is already
	// running.
	ErrRunning = errors.New("timer: looping call already running")
	// ErrNegativeInterval is returned by Start for an interval below zero.
	ErrNegativeInterval = errors.New("timer: negative looping call interval")
	// ErrNilFunc is returned by Start when the LoopingCall has no function
	// or no scheduler to run it on.
	ErrNilFunc = errors.New("timer: looping call has a nil function or scheduler")
	// ErrPanic matches the *PanicError that reports a recovered panic.
	ErrPanic = errors.New("timer: panic in looping call")
)

// PanicError carries a panic recovered from a LoopingCall's function,
// together with the stack of the goroutine at the point of the panic.
// errors.Is(err, ErrPanic) reports true for it.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the goroutine stack captured when the panic was recovered.
	Stack []byte
}

// Error describes the panic value; the stack is left out so log lines stay
// short, and is available in the Stack field.
func (e *PanicError) Error() string {
	return fmt.Sprintf("timer: panic in looping call: %v", e.Value)
}

// Is makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value when it is itself an error, so that
// errors.Is and errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}
