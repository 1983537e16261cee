package deferred

import (
	"errors"
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
