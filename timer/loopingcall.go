package timer

import (
	"runtime/debug"
	"time"
)

// LoopingCall runs a function repeatedly on a Scheduler, Twisted's
// task.LoopingCall. Calls are aligned to the start time: the k-th call is
// due at start + k·interval, however long the previous calls took or
// however late they fired. Beats that could not run on time (the loop was
// busy, or a Clock was advanced by several intervals at once) are skipped,
// not run late in a burst, and counted: the count variant's function
// learns how many intervals elapsed since its previous call, and Skipped
// totals the beats missed.
//
// A run ends when Stop is called (reported as nil), when the function
// returns an error (count variant), or when it panics (reported as a
// *PanicError carrying the stack, matching ErrPanic). OnDone observes that
// end. A LoopingCall may be started again after it ended.
//
// The function may also finish later (NewLoopingCallAsync, and
// deferred.NewLoopingCall for a function that returns a Deferred): then no
// call is scheduled until it reports that it finished, as Twisted's
// LoopingCall waits for the Deferred its function returns.
//
// Like its Scheduler, a LoopingCall is used from one goroutine only.
type LoopingCall struct {
	s  Scheduler
	fn func(count int) error
	// async is the function of NewLoopingCallAsync (fn is then nil).
	async func(count int, done func(error))
	// inFlight: an async call has not reported done yet.
	inFlight bool
	// beat is lc.fire bound once, so that scheduling a beat allocates
	// nothing.
	beat func()

	interval time.Duration
	start    time.Time
	// lastK is the index of the beat of the last call: call k is due at
	// start + k·interval.
	lastK   int64
	skipped int
	h       Handle
	running bool
	// run counts Starts, so that a beat can tell whether its function
	// stopped or restarted the LoopingCall.
	run uint64

	ended   bool
	err     error
	waiters []func(error)
}

// NewLoopingCall returns a stopped LoopingCall that will call fn on s.
func NewLoopingCall(s Scheduler, fn func()) *LoopingCall {
	var f func(int) error
	if fn != nil {
		f = func(int) error {
			fn()
			return nil
		}
	}
	return NewLoopingCallWithCount(s, f)
}

// NewLoopingCallWithCount returns a stopped LoopingCall that will call fn on
// s with the number of intervals elapsed since its previous call (1 when no
// beat was missed; the first call gets 1). Twisted calls this withCount.
// When fn returns an error the LoopingCall stops and reports it.
func NewLoopingCallWithCount(s Scheduler, fn func(count int) error) *LoopingCall {
	lc := &LoopingCall{s: s, fn: fn}
	lc.beat = lc.fire
	return lc
}

// NewLoopingCallAsync returns a stopped LoopingCall whose function finishes
// later: fn starts the work for the beat (count is as for
// NewLoopingCallWithCount) and must call done once, on the scheduler's
// goroutine, when the work has finished: with nil, or with an error that
// ends the run and is reported to OnDone. Until then no further call is
// scheduled; afterwards the next call is due at the first beat after that
// time, and its count includes the beats missed while the work ran. This is
// Twisted's LoopingCall with a function that returns a Deferred;
// deferred.NewLoopingCall adapts such a function.
//
// Stop while the work runs stops the LoopingCall at once (Running reports
// false, no call follows), but the run ends, for OnDone, when done is
// called: with nil, or with the error done reports. Start reports
// ErrRunning until then. Calls of done after the first are ignored, and so
// is a done of a run that has already ended.
func NewLoopingCallAsync(s Scheduler, fn func(count int, done func(err error))) *LoopingCall {
	lc := &LoopingCall{s: s, async: fn}
	lc.beat = lc.fire
	return lc
}

// Start runs the function every interval from now on: at once and then
// after each interval if now is true, otherwise first after one interval.
// An interval of zero runs it on every turn of the scheduler (every
// Advance). Start reports ErrRunning if the LoopingCall is running,
// ErrNegativeInterval for a negative interval, and ErrNilFunc if it has no
// function or scheduler.
//
// When now is true the first call happens inside Start, so register OnDone
// before Start to observe a failure of that first call.
func (lc *LoopingCall) Start(interval time.Duration, now bool) error {
	switch {
	case lc.s == nil || (lc.fn == nil && lc.async == nil):
		return ErrNilFunc
	case interval < 0:
		return ErrNegativeInterval
	case lc.running || lc.inFlight:
		return ErrRunning
	}
	lc.running = true
	lc.run++
	lc.ended, lc.err = false, nil
	lc.interval = interval
	lc.start = lc.s.Now()
	lc.skipped = 0
	if now {
		lc.lastK = -1
		lc.call()
	} else {
		lc.lastK = 0
		lc.schedule()
	}
	return nil
}

// Stop ends the run: no further call happens, and OnDone callbacks get nil.
// Stopping a LoopingCall that is not running does nothing. The function may
// call Stop itself. For an async function whose work is still running
// (NewLoopingCallAsync) the run ends when that work reports done.
func (lc *LoopingCall) Stop() {
	if !lc.running {
		return
	}
	if lc.inFlight {
		lc.running = false
		return
	}
	lc.finish(nil)
}

// OnDone registers fn to learn how the current run ends: nil after Stop,
// otherwise the error or *PanicError that ended it. If the LoopingCall was
// never started, fn waits for the first run to end; if the last run already
// ended and no new one started, fn is called at once. Each fn is called
// once.
//
// A panic in the function that no OnDone callback observes is not
// swallowed: it propagates, as a *PanicError, out of the scheduler's
// Advance (or out of Start).
func (lc *LoopingCall) OnDone(fn func(err error)) {
	if fn == nil {
		return
	}
	if lc.ended {
		fn(lc.err)
		return
	}
	lc.waiters = append(lc.waiters, fn)
}

// Running reports whether the LoopingCall is running.
func (lc *LoopingCall) Running() bool { return lc.running }

// Interval returns the interval of the current or last run.
func (lc *LoopingCall) Interval() time.Duration { return lc.interval }

// Skipped returns how many beats the current or last run missed.
func (lc *LoopingCall) Skipped() int { return lc.skipped }

// Err returns how the last run ended: nil while running, after Stop, or
// before any run.
func (lc *LoopingCall) Err() error { return lc.err }

// fire is the scheduled beat.
func (lc *LoopingCall) fire() {
	lc.h = Handle{}
	lc.call()
}

func (lc *LoopingCall) call() {
	run := lc.run
	count := 1
	if lc.interval > 0 {
		k := int64(lc.s.Now().Sub(lc.start) / lc.interval)
		if k <= lc.lastK {
			// Only a scheduler that fires early gets here; wait for
			// the beat rather than call twice within one interval.
			lc.schedule()
			return
		}
		count = int(k - lc.lastK)
		lc.lastK = k
	}
	lc.skipped += count - 1
	if lc.async != nil {
		lc.callAsync(run, count)
		return
	}
	err := lc.invoke(count)
	if lc.run != run || !lc.running {
		// The function stopped the LoopingCall, and perhaps started
		// it again; that has been reported and scheduled already.
		return
	}
	if err != nil {
		lc.finish(err)
		return
	}
	lc.schedule()
}

func (lc *LoopingCall) invoke(count int) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return lc.fn(count)
}

// callAsync starts an async call; the beat that follows is scheduled by its
// done.
func (lc *LoopingCall) callAsync(run uint64, count int) {
	lc.inFlight = true
	reported := false
	done := func(err error) {
		if reported {
			return
		}
		reported = true
		lc.asyncDone(run, err)
	}
	if err := lc.invokeAsync(count, done); err != nil {
		// The function panicked: that ends the run, unless it had
		// reported already.
		done(err)
	}
}

func (lc *LoopingCall) invokeAsync(count int, done func(error)) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	lc.async(count, done)
	return nil
}

// asyncDone is the end of run's async call.
func (lc *LoopingCall) asyncDone(run uint64, err error) {
	if lc.run != run || !lc.inFlight {
		return
	}
	lc.inFlight = false
	if err != nil || !lc.running {
		// Stopped meanwhile, or failed: the run ends now.
		lc.finish(err)
		return
	}
	lc.schedule()
}

// schedule arranges the next call at the first beat after Now.
func (lc *LoopingCall) schedule() {
	if lc.interval == 0 {
		lc.h = lc.s.CallLater(0, lc.beat)
		return
	}
	now := lc.s.Now()
	k := int64(now.Sub(lc.start) / lc.interval)
	next := lc.start.Add(time.Duration(k+1) * lc.interval)
	lc.h = lc.s.CallLater(next.Sub(now), lc.beat)
}

func (lc *LoopingCall) finish(err error) {
	lc.running = false
	lc.h.Cancel()
	lc.h = Handle{}
	lc.ended, lc.err = true, err
	waiters := lc.waiters
	lc.waiters = nil
	if len(waiters) == 0 {
		if pe, ok := err.(*PanicError); ok {
			panic(pe)
		}
		return
	}
	for _, fn := range waiters {
		fn(err)
	}
}
