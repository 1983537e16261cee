package deferred

// Succeed returns a Deferred that has already fired with v: steps added to
// it run at once.
func Succeed[T any](v T) *Deferred[T] {
	return &Deferred[T]{result: v, called: true, site: callerSite(1)}
}

// Fail returns a Deferred that has already failed with err (ErrNilError if
// err is nil). Like any Deferred, it reports the error as unhandled if it is
// collected before an errback handles it.
func Fail[T any](err error) *Deferred[T] {
	if err == nil {
		err = ErrNilError
	}
	return failed[T](err, callerSite(1))
}

// failed returns a Deferred already failed with err, its report registered.
func failed[T any](err error, site uintptr) *Deferred[T] {
	d := &Deferred[T]{err: err, called: true, site: site}
	d.trackFailure()
	return d
}

// FromFunc calls fn at once and returns its outcome as a fired Deferred,
// like Twisted's maybeDeferred: a value gives Succeed, an error gives Fail,
// and a panic gives Fail with a *PanicError that carries the panic's stack.
// A nil fn gives Fail(ErrNilFunc).
func FromFunc[T any](fn func() (T, error)) *Deferred[T] {
	site := callerSite(1)
	d := &Deferred[T]{called: true, site: site}
	if fn == nil {
		d.err = ErrNilFunc
	} else {
		d.set(callProducer(fn))
	}
	if d.err != nil {
		d.trackFailure()
	}
	return d
}

func callProducer[T any](fn func() (T, error)) (r T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = newPanicError(p)
		}
	}()
	return fn()
}
