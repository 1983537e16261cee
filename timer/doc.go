// Package timer schedules calls on a clock that its owner drives.
//
// It is a pure data-structure package: no goroutines, no syscalls and no Go
// runtime timers. Time only moves when the owner says so, which is what lets
// one reactor loop keep a million pending timeouts at O(1) per operation and
// sleep until its next due tick.
//
// The pieces:
//
//   - [Scheduler] is the one scheduling interface that reactor loops, the
//     manual [Clock] and Deferred timeouts share.
//   - [Wheel] is a hierarchical timing wheel. Its owner calls
//     [Wheel.Advance] with the current time on every loop iteration and
//     sleeps until [Wheel.NextDeadline].
//   - [Handle] refers to one scheduled call: Cancel, Reset, Active, When.
//   - [Clock] is a manual clock for tests (Twisted's task.Clock). It fires
//     calls exactly like a reactor loop does.
//   - [LoopingCall] runs a function every interval, aligned to its start
//     time, skipping and counting beats it missed. Made with
//     [NewLoopingCallAsync] it waits for each call's work to finish before
//     scheduling the next (deferred.NewLoopingCall for Deferreds).
//
// # When calls fire
//
// A call fires during the first Advance whose time is at or after the
// call's due time, never earlier and at most one tick later (the Clock's
// tick is one nanosecond, so it is exact). Calls that fire in the same
// Advance run in due-tick order, and calls due in the same tick run in the
// order they were scheduled; a Reset counts as scheduling anew.
//
// Nothing scheduled during an Advance fires in that same Advance: a call
// scheduled from a callback with a delay of zero (or any due time not after
// Now) fires at the start of the next Advance, before anything else due
// then. This is what keeps a loop from starving its I/O with a callback
// that keeps rescheduling itself, and it is the same for a Wheel, a Clock
// and a reactor loop.
//
// # Owners whose Now lags
//
// A reactor loop reads the clock once per turn and runs its I/O callbacks
// after that reading, so its Now lags the real time at which a timeout is
// armed or reset. A wheel made WithLaggingNow holds such relative calls and
// fixes their deadlines from the time of the next Advance (or Settle), which
// the owner reads afterwards: a deadline is never counted from a time
// earlier than the moment it was set, and the owner needs no extra clock
// reading per timer. The manual Clock's Now never lags and does not hold.
//
// None of the types in this package are safe for concurrent use: a
// scheduler belongs to one loop (or one test) and is used only from it.
package timer
