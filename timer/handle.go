package timer

import "time"

// Handle refers to one scheduled call. It is a small value: copy it freely.
// A Handle stays safe to use after its call fired or was cancelled: the
// wheel recycles the call's entry, and a generation number tells a stale
// Handle apart from the entry's new call. The zero Handle refers to no call.
//
// Inside its own callback a call is no longer pending: Active reports
// false, Cancel and Reset report false.
type Handle struct {
	e   *entry
	gen uint64
}

// pending returns the handle's entry if its call is still pending.
func (h Handle) pending() *entry {
	if e := h.e; e != nil && e.gen == h.gen && e.where != notPending {
		return e
	}
	return nil
}

// Cancel stops the call and drops the scheduler's reference to its
// function. It reports false if the call already fired or was cancelled.
func (h Handle) Cancel() bool {
	e := h.pending()
	if e == nil {
		return false
	}
	w := e.w
	w.unlink(e)
	w.release(e)
	return true
}

// Reset reschedules a pending call to run d after its scheduler's Now, as if
// it had just been scheduled with CallLater (it goes after calls already due
// in the same tick; on a WithLaggingNow wheel a positive d counts from the
// next Advance or Settle). It reports false, and schedules nothing, if the
// call already fired or was cancelled.
func (h Handle) Reset(d time.Duration) bool {
	e := h.pending()
	if e == nil {
		return false
	}
	w := e.w
	w.unlink(e)
	w.placeIn(e, int64(d))
	return true
}

// Active reports whether the call is still pending.
func (h Handle) Active() bool { return h.pending() != nil }

// When is the time the call is due, exactly as requested (the wheel may fire
// it up to one tick later), or the zero Time if it is not pending. For a
// held call (WithLaggingNow) it is the earliest the call can be due: Now
// plus its delay.
func (h Handle) When() time.Time {
	e := h.pending()
	if e == nil {
		return time.Time{}
	}
	when := e.when
	if e.where == heldList {
		when = addSat(e.w.nowOff, when)
	}
	return e.w.origin.Add(time.Duration(when))
}
