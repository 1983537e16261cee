package timer_test

import (
	"testing"
	"time"

	"github.com/mustaine/mustaine/timer"
)

func TestClockStartsAtEpoch(t *testing.T) {
	c := timer.NewClock()
	if !c.Now().Equal(timer.ClockEpoch) || c.Now().Unix() != 0 {
		t.Fatalf("Now = %v, want the Unix epoch", c.Now())
	}
}

func TestClockFiresCallsExactlyAtTheirDueTime(t *testing.T) {
	c := timer.NewClock()
	var r recorder
	c.CallLater(1500*time.Microsecond, r.fn("x"))
	c.Advance(1500*time.Microsecond - 1)
	r.expect(t)
	if n := c.Advance(1); n != 1 {
		t.Fatalf("Advance fired %d, want 1", n)
	}
	r.expect(t, "x")
}

func TestClockZeroDelayScheduledDuringAdvanceRunsOnNextAdvance(t *testing.T) {
	c := timer.NewClock()
	var r recorder
	c.CallLater(time.Second, func() {
		r.got = append(r.got, "first")
		c.CallLater(0, r.fn("zero"))
		c.CallLater(time.Nanosecond, r.fn("1ns"))
	})
	c.Advance(10 * time.Second)
	r.expect(t, "first")
	c.Advance(0)
	r.expect(t, "zero")
	c.Advance(time.Nanosecond)
	r.expect(t, "1ns")
}

func TestClockCallbacksSeeEndOfStep(t *testing.T) {
	c := timer.NewClock()
	var seen time.Time
	c.CallLater(time.Second, func() { seen = c.Now() })
	c.Advance(5 * time.Second)
	if want := timer.ClockEpoch.Add(5 * time.Second); !seen.Equal(want) {
		t.Fatalf("callback saw Now = %v, want the end of the step %v", seen, want)
	}
}

func TestClockPumpAdvancesStepByStep(t *testing.T) {
	c := timer.NewClock()
	var at []time.Duration
	for _, d := range []time.Duration{1, 2, 3, 10} {
		c.CallLater(d*time.Second, func() { at = append(at, c.Now().Sub(timer.ClockEpoch)) })
	}
	if n := c.Pump([]time.Duration{time.Second, time.Second, 5 * time.Second}); n != 3 {
		t.Fatalf("Pump fired %d, want 3", n)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 7 * time.Second}
	if len(at) != len(want) || at[0] != want[0] || at[1] != want[1] || at[2] != want[2] {
		t.Fatalf("calls fired at %v, want %v", at, want)
	}
	if c.Len() != 1 {
		t.Fatalf("Len = %d, want 1", c.Len())
	}
	if dl, ok := c.NextDeadline(); !ok || !dl.Equal(timer.ClockEpoch.Add(10*time.Second)) {
		t.Fatalf("NextDeadline = %v, %v", dl, ok)
	}
}

func TestClockNegativeAdvanceDoesNotMoveTime(t *testing.T) {
	c := timer.NewClock()
	c.Advance(time.Second)
	c.Advance(-time.Hour)
	if got := c.Now().Sub(timer.ClockEpoch); got != time.Second {
		t.Fatalf("Now moved to epoch+%v", got)
	}
}

func TestClockCallAtUsesAbsoluteTime(t *testing.T) {
	c := timer.NewClock()
	var r recorder
	h := c.CallAt(timer.ClockEpoch.Add(time.Minute), r.fn("x"))
	if !h.When().Equal(timer.ClockEpoch.Add(time.Minute)) {
		t.Fatalf("When = %v", h.When())
	}
	c.Advance(time.Minute)
	r.expect(t, "x")
}
