package deferred

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mustaine/mustaine/timer"
)

func TestLoopingDoneFiresWhenLoopingCallStops(t *testing.T) {
	clock := timer.NewClock()
	runs := 0
	lc := timer.NewLoopingCall(clock, func() { runs++ })
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	d := LoopingDone(lc)
	clock.Advance(time.Second)
	clock.Advance(time.Second)
	if d.Called() {
		t.Fatal("fired while the LoopingCall runs")
	}
	lc.Stop()
	if _, err := result(t, d); err != nil {
		t.Fatalf("err = %v; want nil after Stop", err)
	}
	if runs != 3 {
		t.Fatalf("runs = %d; want 3", runs)
	}
}

func TestLoopingDoneFailsWithTheErrorThatEndedTheRun(t *testing.T) {
	clock := timer.NewClock()
	lc := timer.NewLoopingCallWithCount(clock, func(int) error { return errBoom })
	d := LoopingDone(lc)
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if _, err := result(t, d); !errors.Is(err, errBoom) {
		t.Fatalf("err = %v; want boom", err)
	}
}

func TestCancelLoopingDoneStopsTheLoopingCall(t *testing.T) {
	clock := timer.NewClock()
	lc := timer.NewLoopingCall(clock, func() {})
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	d := LoopingDone(lc)
	d.Cancel()
	if lc.Running() {
		t.Fatal("LoopingCall still running after cancel")
	}
	if _, err := result(t, d); err != nil {
		t.Fatalf("err = %v; want nil (stopped)", err)
	}
}

func TestLoopingDoneNilFailsWithErrNilLoopingCall(t *testing.T) {
	if _, err := result(t, LoopingDone(nil)); !errors.Is(err, ErrNilLoopingCall) {
		t.Fatalf("err = %v", err)
	}
}

// Twisted's test_deferredWithCount: a function whose Deferred has not fired
// when the next interval elapses is not called again; once it fires, the
// next call comes at the next beat with a count that includes the skipped
// ones.
func TestLoopingCallWaitsForItsDeferredAndCountsSkippedBeats(t *testing.T) {
	clock := timer.NewClock()
	pending := New[struct{}]()
	var counts []int
	lc := NewLoopingCallWithCount(clock, func(count int) *Deferred[struct{}] {
		counts = append(counts, count)
		if len(counts) == 1 {
			return pending
		}
		return nil
	})
	if err := lc.Start(200*time.Millisecond, false); err != nil {
		t.Fatal(err)
	}
	if len(counts) != 0 {
		t.Fatalf("called before the first interval: %v", counts)
	}
	clock.Pump([]time.Duration{200 * time.Millisecond, 400 * time.Millisecond})
	if len(counts) != 1 {
		t.Fatalf("calls while the first Deferred is outstanding: %v, want one", counts)
	}
	pending.Callback(struct{}{})
	clock.Pump([]time.Duration{200 * time.Millisecond})
	if !slices.Equal(counts, []int{1, 3}) {
		t.Fatalf("counts %v, want [1 3] (the beats at 0.6s and 0.8s were missed)", counts)
	}
	lc.Stop()
}

// The next call is scheduled from when the Deferred fired, at the first
// beat after it: not at once to catch up.
func TestLoopingCallNextCallIsAtTheBeatAfterTheDeferredFired(t *testing.T) {
	clock := timer.NewClock()
	var outstanding *Deferred[int]
	calls := 0
	lc := NewLoopingCall(clock, func() *Deferred[int] {
		calls++
		outstanding = New[int]()
		return outstanding
	})
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2500 * time.Millisecond)
	if calls != 1 {
		t.Fatalf("calls = %d while the Deferred is outstanding, want 1", calls)
	}
	outstanding.Callback(7) // at 2.5s: the result value is ignored
	if calls != 1 {
		t.Fatalf("called at once when the Deferred fired")
	}
	clock.Advance(500*time.Millisecond - time.Nanosecond)
	if calls != 1 {
		t.Fatalf("called before the beat at 3s")
	}
	clock.Advance(time.Nanosecond)
	if calls != 2 {
		t.Fatalf("calls = %d at the beat after the Deferred fired, want 2", calls)
	}
	lc.Stop()
}

// Twisted: the Deferred returned by start errbacks when the function
// "returned a deferred that has its errback invoked", and the loop stops.
func TestLoopingCallDeferredFailureStopsTheLoopAndFailsLoopingDone(t *testing.T) {
	clock := timer.NewClock()
	calls := 0
	var outstanding *Deferred[string]
	lc := NewLoopingCall(clock, func() *Deferred[string] {
		calls++
		outstanding = New[string]()
		return outstanding
	})
	done := LoopingDone(lc)
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	outstanding.Errback(errBoom)
	if lc.Running() {
		t.Fatal("still running after the Deferred failed")
	}
	if _, err := result(t, done); !errors.Is(err, errBoom) {
		t.Fatalf("LoopingDone: %v, want boom", err)
	}
	clock.Advance(10 * time.Second)
	if calls != 1 {
		t.Fatalf("calls = %d after the failure, want 1", calls)
	}
	// The failure went to LoopingDone: the function's Deferred is handled.
	if _, err := result(t, outstanding); err != nil {
		t.Fatalf("the function's Deferred still carries %v", err)
	}
}

// Twisted: stop with a Deferred outstanding stops the loop at once, and the
// Deferred returned by start fires when the outstanding one does.
func TestLoopingCallStopWhileDeferredOutstandingEndsWhenItFires(t *testing.T) {
	clock := timer.NewClock()
	calls := 0
	outstanding := New[struct{}]()
	lc := NewLoopingCall(clock, func() *Deferred[struct{}] {
		calls++
		return outstanding
	})
	done := LoopingDone(lc)
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	lc.Stop()
	if lc.Running() {
		t.Fatal("Running after Stop")
	}
	if done.Called() {
		t.Fatal("the run ended while the function's Deferred is outstanding")
	}
	if err := lc.Start(time.Second, true); !errors.Is(err, timer.ErrRunning) {
		t.Fatalf("Start with the previous Deferred outstanding: %v, want ErrRunning", err)
	}
	outstanding.Callback(struct{}{})
	if _, err := result(t, done); err != nil {
		t.Fatalf("LoopingDone: %v, want nil after Stop", err)
	}
	clock.Advance(10 * time.Second)
	if calls != 1 {
		t.Fatalf("calls = %d after Stop, want 1", calls)
	}
}

// A Deferred that has already fired, or none, lets the loop go on as a plain
// function does.
func TestLoopingCallWithFiredDeferredsRunsEveryInterval(t *testing.T) {
	clock := timer.NewClock()
	calls := 0
	lc := NewLoopingCall(clock, func() *Deferred[int] {
		calls++
		if calls%2 == 0 {
			return nil
		}
		return Succeed(calls)
	})
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		clock.Advance(time.Second)
	}
	if calls != 5 {
		t.Fatalf("calls = %d, want 5", calls)
	}
	lc.Stop()
}

func TestLoopingCallPanicEndsTheRunWithPanicError(t *testing.T) {
	clock := timer.NewClock()
	lc := NewLoopingCall(clock, func() *Deferred[int] { panic("deferred loop") })
	done := LoopingDone(lc)
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	if _, err := result(t, done); !errors.Is(err, timer.ErrPanic) {
		t.Fatalf("LoopingDone: %v, want a timer.PanicError", err)
	}
}
