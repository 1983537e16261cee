package timer

import "time"

// ClockEpoch is the time a new Clock starts at: the Unix epoch, as Twisted's
// task.Clock starts at zero seconds.
var ClockEpoch = time.Unix(0, 0).UTC()

// Clock is a manual clock for tests, Twisted's task.Clock: time moves only
// when Advance or Pump is called, and calls fire exactly at their due time
// (its tick is one nanosecond).
//
// A Clock fires calls exactly as a reactor loop does, which is where it
// differs from Twisted's Clock (Twisted issues #5962 and #9819):
//
//   - Advance(d) first moves Now to the end of the step, then fires every
//     call due by then, in due-time order (scheduling order for equal
//     times). Callbacks see Now as the end of the step, as in a loop that
//     woke up late.
//   - A call scheduled while Advance is firing never fires in that same
//     Advance, even with a delay of zero: it fires in the next Advance, so
//     call Advance(0) to run it without moving time.
//
// A Clock is not safe for concurrent use. It implements Scheduler.
type Clock struct {
	w *Wheel
}

var _ Scheduler = (*Clock)(nil)

// NewClock returns a Clock at ClockEpoch with nothing scheduled.
func NewClock() *Clock {
	return &Clock{w: NewWheel(ClockEpoch, WithTick(time.Nanosecond))}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time { return c.w.Now() }

// CallLater schedules fn to run d after Now. A delay of zero or less runs fn
// on the next Advance. A nil fn schedules nothing and returns the zero
// Handle.
func (c *Clock) CallLater(d time.Duration, fn func()) Handle {
	return c.w.CallLater(d, fn)
}

// CallAt schedules fn to run at t; a time not after Now runs fn on the next
// Advance.
func (c *Clock) CallAt(t time.Time, fn func()) Handle { return c.w.CallAt(t, fn) }

// Advance moves the clock forward by d (a negative d counts as zero) and
// fires the calls due, returning how many fired.
func (c *Clock) Advance(d time.Duration) int {
	if d < 0 {
		d = 0
	}
	return c.w.Advance(c.w.Now().Add(d))
}

// Pump advances the clock by each step in turn, like Twisted's Clock.pump,
// and returns how many calls fired in all.
func (c *Clock) Pump(steps []time.Duration) int {
	n := 0
	for _, d := range steps {
		n += c.Advance(d)
	}
	return n
}

// Len returns the number of pending calls.
func (c *Clock) Len() int { return c.w.Len() }

// NextDeadline returns the due time of the earliest pending call, Now when
// calls are waiting for the next Advance, and false when none is pending.
// As for a Wheel, it may be earlier after cancellations, never later.
func (c *Clock) NextDeadline() (time.Time, bool) { return c.w.NextDeadline() }
