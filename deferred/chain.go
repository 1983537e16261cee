package deferred

// step is one entry of a chain. A plain callback/errback pair uses cb and
// eb (either may be nil: that side passes the result through); every other
// kind of step is an ext, which keeps the common pair small and free of
// allocation.
type step[T any] struct {
	cb  func(T) (T, error)
	eb  func(error) (T, error)
	ext extStep[T]
}

// extStep is a step that needs more than a callback/errback pair. run
// processes d's current result in place and may return another Deferred
// (already entered, its result set) that the driver must run before d goes
// on.
type extStep[T any] interface {
	run(d *Deferred[T]) link
}

// link is what the driver needs of a Deferred of any result type.
type link interface {
	// resume runs pending steps until the chain ends, pauses, or hands its
	// result to another Deferred (next). more reports whether steps remain
	// after such a hand-off.
	resume() (next link, more bool)
	finish()
}

// drive runs start's chain, and the chains of every Deferred it hands its
// result to, with an explicit stack instead of recursion: a chain of any
// depth costs heap, never goroutine stack. start must already be entered.
func drive(start link) {
	var buf [4]link
	stack := append(buf[:0], start)
	for len(stack) > 0 {
		top := len(stack) - 1
		cur := stack[top]
		next, more := cur.resume()
		switch {
		case next == nil:
			cur.finish()
			stack[top] = nil
			stack = stack[:top]
		case more:
			// cur still has steps that must run after next's chain, as
			// Twisted runs them.
			stack = append(stack, next)
		default:
			// Nothing left in cur: retire it now so that a long run of
			// hand-offs does not grow the stack.
			cur.finish()
			stack[top] = next
		}
	}
}

func (d *Deferred[T]) resume() (link, bool) {
	for !d.waiting && d.n > 0 {
		s := d.pop()
		if s.ext != nil {
			if next := s.ext.run(d); next != nil {
				return next, d.n > 0
			}
			continue
		}
		if d.err == nil {
			if s.cb != nil {
				d.set(callValue(s.cb, d.result))
			}
		} else if s.eb != nil {
			d.set(callError(s.eb, d.err))
		}
	}
	return nil, false
}

// set stores a step's outcome; a failed step leaves no value behind.
func (d *Deferred[T]) set(v T, err error) {
	if err != nil {
		var zero T
		v = zero
	}
	d.result, d.err = v, err
}

func (d *Deferred[T]) pop() step[T] {
	var s step[T]
	if d.head < inlineSteps {
		s = d.inline[d.head]
		d.inline[d.head] = step[T]{}
	} else {
		i := d.head - inlineSteps
		s = d.more[i]
		d.more[i] = step[T]{}
	}
	d.head++
	d.n--
	if d.n == 0 {
		d.head = 0
		d.more = d.more[:0]
	}
	return s
}

func (d *Deferred[T]) push(s step[T]) {
	i := d.head + d.n
	if i < inlineSteps {
		d.inline[i] = s
	} else {
		if d.more == nil {
			d.more = make([]step[T], 0, 8)
		}
		// Positions only grow until the queue empties and resets, so the
		// next position is always the end of more.
		d.more = append(d.more, s)
	}
	d.n++
}

// add appends a step and runs it at once if the Deferred has fired and is
// neither waiting nor already running (a step added by a running step runs
// after it, from the loop in resume).
func (d *Deferred[T]) add(s step[T]) *Deferred[T] {
	d.push(s)
	if d.called && !d.waiting && !d.running() {
		d.enter()
		drive(d)
	}
	return d
}

// AddCallbacks adds a callback/errback pair: cb runs if the result is a
// value, eb if it is an error, never both, and an error returned by cb goes
// to the next errback in the chain, not to eb. A nil cb or eb passes that
// kind of result through unchanged. It returns d for chaining.
func (d *Deferred[T]) AddCallbacks(cb func(T) (T, error), eb func(error) (T, error)) *Deferred[T] {
	return d.add(step[T]{cb: cb, eb: eb})
}

// AddCallback adds a step for the value path; errors pass it by. Returning
// an error switches the chain to the errback path. A nil fn fails the chain
// with ErrNilFunc when reached.
func (d *Deferred[T]) AddCallback(fn func(T) (T, error)) *Deferred[T] {
	if fn == nil {
		return d.add(step[T]{ext: nilFunc[T]{}})
	}
	return d.add(step[T]{cb: fn})
}

// AddErrback adds a step for the error path; values pass it by. Returning a
// nil error puts the chain back on the callback path with the value
// returned. A nil fn fails the chain with ErrNilFunc when reached.
func (d *Deferred[T]) AddErrback(fn func(error) (T, error)) *Deferred[T] {
	if fn == nil {
		return d.add(step[T]{ext: nilFunc[T]{}})
	}
	return d.add(step[T]{eb: fn})
}

// AddBoth adds a step that runs whatever the result: err is nil for a value.
// A nil fn fails the chain with ErrNilFunc when reached.
func (d *Deferred[T]) AddBoth(fn func(v T, err error) (T, error)) *Deferred[T] {
	if fn == nil {
		return d.add(step[T]{ext: nilFunc[T]{}})
	}
	return d.add(step[T]{ext: bothFunc[T](fn)})
}

// AddCallbackDeferred adds a value-path step that returns another Deferred:
// the chain pauses until that Deferred fires, then continues with its
// result, which the chain takes over (it no longer counts as unhandled on
// the other Deferred). Cancelling d while it waits cancels that Deferred.
// A nil fn, or fn returning nil, fails the chain (ErrNilFunc,
// ErrNilDeferred); returning d itself fails it with ErrChainLoop.
func (d *Deferred[T]) AddCallbackDeferred(fn func(T) *Deferred[T]) *Deferred[T] {
	if fn == nil {
		return d.add(step[T]{ext: nilFunc[T]{}})
	}
	return d.add(step[T]{ext: valueDeferredFunc[T](fn)})
}

// AddErrbackDeferred is AddCallbackDeferred for the error path.
func (d *Deferred[T]) AddErrbackDeferred(fn func(error) *Deferred[T]) *Deferred[T] {
	if fn == nil {
		return d.add(step[T]{ext: nilFunc[T]{}})
	}
	return d.add(step[T]{ext: errorDeferredFunc[T](fn)})
}

// AddBothDeferred is AddCallbackDeferred for a step that runs whatever the
// result.
func (d *Deferred[T]) AddBothDeferred(fn func(v T, err error) *Deferred[T]) *Deferred[T] {
	if fn == nil {
		return d.add(step[T]{ext: nilFunc[T]{}})
	}
	return d.add(step[T]{ext: bothDeferredFunc[T](fn)})
}

// adopt makes inner, returned by a step, the source of d's result: taken at
// once if inner is at rest with a result, otherwise d pauses and inner gets
// a continuation step that hands its result back.
func (d *Deferred[T]) adopt(inner *Deferred[T]) {
	switch {
	case inner == nil:
		d.set(d.result, ErrNilDeferred)
	case inner == d:
		d.set(d.result, ErrChainLoop)
	case inner.called && !inner.waiting && !inner.running():
		inner.enter()
		d.result, d.err = inner.result, inner.err
		var zero T
		inner.result, inner.err = zero, nil
		inner.finish()
	default:
		d.waiting = true
		d.linked = inner
		inner.push(step[T]{ext: (*continuation[T])(d)})
	}
}

// continuation is the step a Deferred gets when another one waits on it.
// Its run hands the result over and returns the waiting Deferred for the
// driver to resume.
type continuation[T any] Deferred[T]

func (c *continuation[T]) run(d *Deferred[T]) link {
	outer := (*Deferred[T])(c)
	outer.enter()
	outer.waiting = false
	outer.linked = nil
	outer.result, outer.err = d.result, d.err
	var zero T
	d.result, d.err = zero, nil
	return outer
}

type nilFunc[T any] struct{}

func (nilFunc[T]) run(d *Deferred[T]) link {
	d.set(d.result, ErrNilFunc)
	return nil
}

type bothFunc[T any] func(T, error) (T, error)

func (f bothFunc[T]) run(d *Deferred[T]) link {
	d.set(callBoth(f, d.result, d.err))
	return nil
}

type valueDeferredFunc[T any] func(T) *Deferred[T]

func (f valueDeferredFunc[T]) run(d *Deferred[T]) link {
	if d.err != nil {
		return nil
	}
	inner, perr := callReturning(func() *Deferred[T] { return f(d.result) })
	if perr != nil {
		d.set(d.result, perr)
		return nil
	}
	d.adopt(inner)
	return nil
}

type errorDeferredFunc[T any] func(error) *Deferred[T]

func (f errorDeferredFunc[T]) run(d *Deferred[T]) link {
	if d.err == nil {
		return nil
	}
	inner, perr := callReturning(func() *Deferred[T] { return f(d.err) })
	if perr != nil {
		d.set(d.result, perr)
		return nil
	}
	d.adopt(inner)
	return nil
}

type bothDeferredFunc[T any] func(T, error) *Deferred[T]

func (f bothDeferredFunc[T]) run(d *Deferred[T]) link {
	inner, perr := callReturning(func() *Deferred[T] { return f(d.result, d.err) })
	if perr != nil {
		d.set(d.result, perr)
		return nil
	}
	d.adopt(inner)
	return nil
}
