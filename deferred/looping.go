package deferred

import "github.com/mustaine/mustaine/timer"

// LoopingDone returns a Deferred that fires when the current (or next) run
// of lc ends: with the zero struct after Stop, or failing with the error or
// *timer.PanicError that ended the run. This is what Twisted's
// LoopingCall.start returns. Cancelling the Deferred stops lc, which fires
// it normally. A nil lc gives Fail(ErrNilLoopingCall).
func LoopingDone(lc *timer.LoopingCall) *Deferred[struct{}] {
	if lc == nil {
		return failed[struct{}](ErrNilLoopingCall, callerSite(1))
	}
	d := &Deferred[struct{}]{site: callerSite(1)}
	d.canceller = func(*Deferred[struct{}]) { lc.Stop() }
	lc.OnDone(func(err error) {
		if err != nil {
			_ = d.Errback(err)
			return
		}
		_ = d.Callback(struct{}{})
	})
	return d
}

// NewLoopingCall returns a stopped timer.LoopingCall that calls fn on s,
// Twisted's LoopingCall with a function that returns a Deferred: the next
// call is not scheduled until the Deferred fn returned has fired, and is
// then due at the first beat after that (the beats missed meanwhile are
// skipped and counted). The Deferred's value is ignored. A Deferred that
// fails stops the LoopingCall and ends its run with the error (so the
// LoopingDone Deferred fails with it); the error counts as handled. A nil
// Deferred counts as one that has already fired, and a panic in fn ends the
// run with a *timer.PanicError.
//
// Stop while a Deferred is outstanding stops the LoopingCall at once, but
// the run ends when that Deferred fires, as in Twisted. Fire the Deferreds
// on s's goroutine (the loop).
func NewLoopingCall[T any](s timer.Scheduler, fn func() *Deferred[T]) *timer.LoopingCall {
	if fn == nil {
		return timer.NewLoopingCallAsync(s, nil)
	}
	return NewLoopingCallWithCount(s, func(int) *Deferred[T] { return fn() })
}

// NewLoopingCallWithCount is NewLoopingCall for a function that learns how
// many intervals elapsed since its previous call, as with
// timer.NewLoopingCallWithCount (Twisted's LoopingCall.withCount): a
// Deferred that is still outstanding when beats go by makes the next call's
// count include them.
func NewLoopingCallWithCount[T any](s timer.Scheduler, fn func(count int) *Deferred[T]) *timer.LoopingCall {
	if fn == nil {
		return timer.NewLoopingCallAsync(s, nil)
	}
	return timer.NewLoopingCallAsync(s, func(count int, done func(error)) {
		d := fn(count)
		if d == nil {
			done(nil)
			return
		}
		d.AddBoth(func(v T, err error) (T, error) {
			done(err)
			return v, nil
		})
	})
}
