package deferred

// Then returns a Deferred that fires with fn's result when d fires with a
// value, or with d's error when d fails (fn is not called then): a step
// that changes the result type.
//
// The result moves to the returned Deferred: d's own chain goes on with its
// value unchanged, or, if it failed, with the zero value and no error, since
// the error now belongs to the returned Deferred. Cancelling the returned
// Deferred before it fires cancels d. A nil fn makes the returned Deferred
// fail with ErrNilFunc, and a nil d makes it a Deferred already failed
// with ErrNilDeferred.
//
// Then costs one allocation, which holds the returned Deferred.
func Then[T, U any](d *Deferred[T], fn func(T) (U, error)) *Deferred[U] {
	if d == nil {
		return failed[U](ErrNilDeferred, callerSite(1))
	}
	l := &thenLink[T, U]{fn: fn}
	l.out.site = callerSite(1)
	l.out.linked = d
	d.add(step[T]{ext: l})
	return &l.out
}

// ThenDeferred is Then for an fn that returns a Deferred: the returned
// Deferred fires with that Deferred's result once it has one. Cancelling
// the returned Deferred cancels d before fn ran, and fn's Deferred after.
func ThenDeferred[T, U any](d *Deferred[T], fn func(T) *Deferred[U]) *Deferred[U] {
	if d == nil {
		return failed[U](ErrNilDeferred, callerSite(1))
	}
	l := &thenDeferredLink[T, U]{fn: fn}
	l.out.site = callerSite(1)
	l.out.linked = d
	d.add(step[T]{ext: l})
	return &l.out
}

type thenLink[T, U any] struct {
	out Deferred[U]
	fn  func(T) (U, error)
}

func (l *thenLink[T, U]) run(d *Deferred[T]) link {
	var (
		u   U
		err = d.err
	)
	if err == nil {
		if l.fn == nil {
			err = ErrNilFunc
		} else {
			u, err = callValueTo(l.fn, d.result)
		}
	}
	l.fn = nil
	d.err = nil
	return l.out.receive(d, u, err, nil)
}

type thenDeferredLink[T, U any] struct {
	out Deferred[U]
	fn  func(T) *Deferred[U]
}

func (l *thenDeferredLink[T, U]) run(d *Deferred[T]) link {
	var (
		inner *Deferred[U]
		err   = d.err
	)
	if err == nil {
		if l.fn == nil {
			err = ErrNilFunc
		} else {
			v := d.result
			inner, err = callReturning(func() *Deferred[U] { return l.fn(v) })
			if err == nil && inner == nil {
				err = ErrNilDeferred
			}
		}
	}
	l.fn = nil
	d.err = nil
	var zero U
	if err != nil {
		return l.out.receive(d, zero, err, nil)
	}
	return l.out.receive(d, zero, nil, inner)
}

// receive fires a Deferred fed by another chain (src, running on the loop)
// and returns it for the driver to run: with inner non-nil the Deferred
// adopts inner as a step's returned Deferred would. If the Deferred already
// fired, the result is dropped: silently when a Cancel without canceller
// asked for that, otherwise src's chain gets ErrAlreadyCalled, as a
// Twisted chainDeferred into a fired Deferred does.
func (d *Deferred[T]) receive(src interface{ failWith(error) }, v T, err error, inner *Deferred[T]) link {
	if d.called {
		if d.suppress {
			d.suppress = false
		} else {
			src.failWith(ErrAlreadyCalled)
		}
		return nil
	}
	d.enter()
	d.called = true
	d.linked = nil
	if inner != nil {
		d.adopt(inner)
	} else {
		d.set(v, err)
	}
	return d
}

// failWith puts err on d's chain (d is running).
func (d *Deferred[T]) failWith(err error) {
	d.set(d.result, err)
}

func callValueTo[T, U any](fn func(T) (U, error), v T) (r U, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = newPanicError(p)
		}
	}()
	return fn(v)
}
