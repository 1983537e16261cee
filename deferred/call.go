package deferred

import "runtime/debug"

// The call helpers run user code and turn a panic into a *PanicError, as
// Twisted turns an exception raised in a callback into a Failure.

func newPanicError(p any) *PanicError {
	return &PanicError{Value: p, Stack: debug.Stack()}
}

func callValue[T any](fn func(T) (T, error), v T) (r T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = newPanicError(p)
		}
	}()
	return fn(v)
}

func callError[T any](fn func(error) (T, error), e error) (r T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = newPanicError(p)
		}
	}()
	return fn(e)
}

func callBoth[T any](fn func(T, error) (T, error), v T, e error) (r T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = newPanicError(p)
		}
	}()
	return fn(v, e)
}

func callReturning[R any](fn func() R) (r R, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = newPanicError(p)
		}
	}()
	return fn(), nil
}
