package timer

import "time"

// Handle refers to one scheduled call. It is a small value: copy it freely.
// A Handle stays safe to use after its call fired or was cancelled (its
// entry is recycled, and a generation number tells a stale Handle apart).
//
// PLACEHOLDER: the timer/ implementation replaces the bodies below.
type Handle struct {
	e   *entry
	gen uint64
}

type entry struct{}

// Cancel stops the call. It reports false if the call already fired or was
// cancelled.
func (h Handle) Cancel() bool { return false }

// Reset reschedules a pending call to run d after the scheduler's Now. It
// reports false (and schedules nothing) if the call already fired or was
// cancelled.
func (h Handle) Reset(d time.Duration) bool { return false }

// Active reports whether the call is still pending.
func (h Handle) Active() bool { return false }

// When is the time the call is due, or the zero Time if it is not pending.
func (h Handle) When() time.Time { return time.Time{} }
