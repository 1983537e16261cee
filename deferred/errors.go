package deferred

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrAlreadyCalled is returned by Callback and Errback on a Deferred that
	// already fired.
	ErrAlreadyCalled = errors.New("deferred: already called")
	// ErrCancelled is the error a Deferred fails with when Cancel found no
	// canceller, or a canceller that did not fire it.
	ErrCancelled = errors.New("deferred: cancelled")
	// ErrTimeout matches the error AddTimeout puts on a Deferred whose timer
	// fired ("deferred: timed out after 5s"). errors.Is(err,
	// context.DeadlineExceeded) holds for it too, so code written against
	// contexts recognises it.
	ErrTimeout error = timeoutError{}
	// ErrPanic matches every *PanicError.
	ErrPanic = errors.New("deferred: panic")
	// ErrNilFunc is the error a step fails with when it was given a nil
	// function (and what FromFunc(nil) fails with).
	ErrNilFunc = errors.New("deferred: nil function")
	// ErrNilError replaces the nil error given to Errback or Fail, which
	// would otherwise look like success.
	ErrNilError = errors.New("deferred: fired with a nil error")
	// ErrNilDeferred is the error a chain fails with when a step that should
	// return a Deferred returned nil.
	ErrNilDeferred = errors.New("deferred: step returned a nil Deferred")
	// ErrChainLoop is the error a chain fails with when a step returned the
	// very Deferred it was attached to, which would wait on itself forever.
	ErrChainLoop = errors.New("deferred: step returned its own Deferred")
	// ErrNilScheduler is the error AddTimeout fails a pending Deferred with
	// when it is given no scheduler.
	ErrNilScheduler = errors.New("deferred: nil scheduler")
	// ErrNilLoopingCall is what LoopingDone(nil) fails with.
	ErrNilLoopingCall = errors.New("deferred: nil LoopingCall")
	// ErrAllFailed matches the *FailureGroup Race fails with when no input
	// succeeded.
	ErrAllFailed = errors.New("deferred: every input failed")
)

type timeoutError struct{}

func (timeoutError) Error() string { return "deferred: timed out" }

// Unwrap lets errors.Is(ErrTimeout, context.DeadlineExceeded) hold.
func (timeoutError) Unwrap() error { return context.DeadlineExceeded }

// PanicError is the error a recovered panic becomes: in a step, in FromFunc's
// function, or in a canceller. errors.Is(err, ErrPanic) matches it; when the
// panic value is itself an error, errors.Is and errors.As see through to it.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic, as runtime/debug.Stack
	// formats it.
	Stack []byte
}

// Error describes the panic.
func (e *PanicError) Error() string {
	return fmt.Sprintf("deferred: panic: %v\n\n%s", e.Value, e.Stack)
}

// Is reports whether target is ErrPanic.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// FirstError is the error Gather, and DeferredList with FireOnOneErrback,
// fail with: the first input error and that input's index. errors.Is and
// errors.As see through to Err.
type FirstError struct {
	Index int
	Err   error
}

// Error names the failed input and its error.
func (e *FirstError) Error() string {
	return "deferred: input " + strconv.Itoa(e.Index) + " failed: " + e.Err.Error()
}

// Unwrap returns the input's error.
func (e *FirstError) Unwrap() error { return e.Err }

// FailureGroup is the error Race fails with when every input failed: each
// input's error, in input order. It matches ErrAllFailed, and errors.Is
// matches any of the errors it holds.
type FailureGroup struct {
	Errors []error
}

// Error lists every input's error.
func (e *FailureGroup) Error() string {
	var b strings.Builder
	b.WriteString("deferred: all ")
	b.WriteString(strconv.Itoa(len(e.Errors)))
	b.WriteString(" inputs failed")
	for i, err := range e.Errors {
		b.WriteString("; ")
		b.WriteString(strconv.Itoa(i))
		b.WriteString(": ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Is reports whether target is ErrAllFailed.
func (e *FailureGroup) Is(target error) bool { return target == ErrAllFailed }

// Unwrap returns the inputs' errors.
func (e *FailureGroup) Unwrap() []error { return e.Errors }
