package deferred

import (
	"runtime"
	"sync/atomic"
)

// inlineSteps is how many pending steps a Deferred holds without allocating.
// Most Deferreds carry one or two steps at a time (a callback and an errback,
// or steps added after firing, which run at once and free their slot).
const inlineSteps = 2

// Bits of Deferred.sync, the only state shared with Await's goroutines.
const (
	// syncRunning: the loop is working on the Deferred (it is on a drive
	// stack) and may write its result.
	syncRunning uint32 = 1 << iota
	// syncLock: an Await goroutine is inspecting the Deferred; the loop
	// waits for it (it is held for a few instructions).
	syncLock
	// syncWaiting: an awaiter is registered in Deferred.aw and must get the
	// result when the chain next comes to rest.
	syncWaiting
)

// Deferred is a result that will be available later, and the chain of steps
// that process it. The zero value is not usable: create one with New,
// NewWithCanceller, Succeed, Fail or FromFunc.
//
// A Deferred belongs to one loop: see the package documentation.
type Deferred[T any] struct {
	// result and err are the current value travelling down the chain.
	result T
	err    error

	// Pending steps, in order: the first inlineSteps positions live in
	// inline, the rest in more. head is the position of the next step, n how
	// many are pending.
	inline [inlineSteps]step[T]
	more   []step[T]
	head   int32
	n      int32

	called   bool // Callback or Errback happened
	waiting  bool // paused until linked (a *Deferred[T]) fires
	suppress bool // cancelled without a canceller: swallow one late firing

	sync atomic.Uint32

	canceller func(*Deferred[T])
	// linked is what Cancel forwards to: before the Deferred is called, the
	// upstream it was derived from (Then, combinators); while it waits, the
	// Deferred it waits on.
	linked interface{ Cancel() }

	site uintptr                    // creation site, symbolized only when reported
	fail *failure                   // registered unhandled-error report, if any
	aw   atomic.Pointer[awaiter[T]] // goroutines blocked in Await
}

// New returns a pending Deferred without a canceller: Cancel makes it fail
// with ErrCancelled and swallows the one late Callback or Errback that the
// abandoned operation may still deliver.
func New[T any]() *Deferred[T] {
	return &Deferred[T]{site: callerSite(1)}
}

// NewWithCanceller returns a pending Deferred whose Cancel calls c (while
// the Deferred has not fired). c should stop the operation and may fire the
// Deferred itself, with any result; if it does not, Cancel then fails the
// Deferred with ErrCancelled, and a late Callback returns ErrAlreadyCalled.
// A nil c gives the same Deferred as New.
func NewWithCanceller[T any](c func(d *Deferred[T])) *Deferred[T] {
	return &Deferred[T]{canceller: c, site: callerSite(1)}
}

// Callback fires the Deferred with the value v: the callback path of the
// chain runs at once. It returns ErrAlreadyCalled if the Deferred already
// fired, except for the one late firing swallowed after a Cancel without
// canceller.
func (d *Deferred[T]) Callback(v T) error {
	return d.fire(v, nil)
}

// Errback fires the Deferred with the error err: the errback path of the
// chain runs at once. A nil err is replaced by ErrNilError. It returns
// ErrAlreadyCalled like Callback.
func (d *Deferred[T]) Errback(err error) error {
	if err == nil {
		err = ErrNilError
	}
	var zero T
	return d.fire(zero, err)
}

func (d *Deferred[T]) fire(v T, err error) error {
	if d.called {
		if d.suppress {
			d.suppress = false
			return nil
		}
		return ErrAlreadyCalled
	}
	d.enter()
	d.called = true
	d.linked = nil
	d.result, d.err = v, err
	drive(d)
	return nil
}

// Called reports whether the Deferred has been fired (by Callback, Errback
// or Cancel). A fired Deferred may still be waiting on another Deferred a
// step returned.
func (d *Deferred[T]) Called() bool {
	return d.called
}

// Cancel asks for the operation behind the Deferred to stop, as Twisted's
// Deferred.cancel does:
//
//   - not yet fired: the canceller given to NewWithCanceller runs (or, for a
//     Deferred made by Then or a combinator, the inputs are cancelled); if
//     that did not fire the Deferred, it fails with ErrCancelled. Without a
//     canceller the next late Callback or Errback is swallowed, and only the
//     one after it returns ErrAlreadyCalled.
//   - fired and waiting on a Deferred returned by a step: that Deferred is
//     cancelled instead.
//   - otherwise: nothing happens.
//
// A panic in the canceller is recovered and fails the Deferred with a
// *PanicError.
func (d *Deferred[T]) Cancel() {
	// Cancellation walks from d to whatever it depends on (the Deferred it
	// waits on, the upstream of a Then), which may be many links deep: the
	// walk is iterative for the same reason the chains are.
	var buf [8]cancelLink
	pending := buf[:0]
	for c := cancelLink(d); c != nil; {
		pending = append(pending, c)
		c = c.cancelFirst()
	}
	for i := len(pending) - 1; i >= 0; i-- {
		pending[i].cancelThen()
	}
}

// cancelLink is one step of a Cancel: cancelFirst does what comes before
// cancelling the returned dependency, cancelThen what comes after.
type cancelLink interface {
	cancelFirst() cancelLink
	cancelThen()
}

func (d *Deferred[T]) cancelFirst() cancelLink {
	if d.called {
		if d.waiting {
			return cancelTarget(d.linked)
		}
		return nil
	}
	switch {
	case d.canceller != nil:
		if perr := d.callCanceller(); perr != nil && !d.called {
			var zero T
			_ = d.fire(zero, perr)
		}
		return nil
	case d.linked != nil:
		return cancelTarget(d.linked)
	}
	return nil
}

// cancelThen fails the Deferred with ErrCancelled if neither its canceller
// nor what it depends on fired it. Without a canceller of its own, the late
// result that may still arrive is swallowed.
func (d *Deferred[T]) cancelThen() {
	if d.called {
		return
	}
	if d.canceller == nil {
		d.suppress = true
	}
	var zero T
	_ = d.fire(zero, ErrCancelled)
}

// cancelTarget continues the walk into c when it is a link, or cancels it
// at once (a combinator fanning out to its inputs).
func cancelTarget(c interface{ Cancel() }) cancelLink {
	if l, ok := c.(cancelLink); ok {
		return l
	}
	c.Cancel()
	return nil
}

func (d *Deferred[T]) callCanceller() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = newPanicError(p)
		}
	}()
	d.canceller(d)
	return nil
}

// enter marks the Deferred as being worked on by the loop, waiting for an
// Await goroutine that is inspecting it.
func (d *Deferred[T]) enter() {
	for {
		s := d.sync.Load()
		if s&syncLock == 0 && d.sync.CompareAndSwap(s, s|syncRunning) {
			return
		}
		runtime.Gosched()
	}
}

// running reports whether the Deferred is on a drive stack (Twisted's
// _runningCallbacks, widened to the whole time its chain is being run).
func (d *Deferred[T]) running() bool {
	return d.sync.Load()&syncRunning != 0
}

// finish ends the loop's work on the Deferred: when its chain is at rest it
// hands the result to Await goroutines and records or forgets an unhandled
// error, then clears syncRunning.
func (d *Deferred[T]) finish() {
	settled := d.called && !d.waiting
	if settled && d.err != nil {
		d.trackFailure()
	} else if d.fail != nil {
		d.untrackFailure()
	}
	delivered := false
	for {
		s := d.sync.Load()
		if s&syncLock != 0 {
			runtime.Gosched()
			continue
		}
		ns := s &^ syncRunning
		if settled && s&syncWaiting != 0 {
			if !delivered {
				if d.deliver() && d.fail != nil {
					d.untrackFailure()
				}
				delivered = true
			}
			ns &^= syncWaiting
		}
		if d.sync.CompareAndSwap(s, ns) {
			return
		}
	}
}
