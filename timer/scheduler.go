package timer

import "time"

// Scheduler is the one scheduling interface shared by the reactor's loops,
// the manual Clock and Deferred timeouts. Implementations are not
// goroutine-safe: a Scheduler belongs to one loop (or one test) and is only
// used from it.
type Scheduler interface {
	// Now returns the scheduler's current time. For a reactor loop this is
	// the wall clock with a monotonic reading; for a Clock it is the manual
	// time.
	Now() time.Time
	// CallLater arranges for fn to run once, no earlier than d after Now.
	// A delay of zero or less runs fn on the next turn, after every call
	// already due, in the order such calls were scheduled.
	CallLater(d time.Duration, fn func()) Handle
}
