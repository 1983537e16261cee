package deferred

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mustaine/mustaine/timer"
)

func TestTimeoutFiresWithErrTimeoutAndDeadlineExceeded(t *testing.T) {
	clock := timer.NewClock()
	d := New[int]().AddTimeout(time.Second, clock)
	clock.Advance(999 * time.Millisecond)
	if d.Called() {
		t.Fatal("timed out early")
	}
	clock.Advance(time.Millisecond)
	_, err := result(t, d)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want ErrTimeout and context.DeadlineExceeded", err)
	}
	if errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v still matches ErrCancelled", err)
	}
}

func TestErrTimeoutMatchesDeadlineExceeded(t *testing.T) {
	if !errors.Is(ErrTimeout, context.DeadlineExceeded) {
		t.Fatal("ErrTimeout does not match context.DeadlineExceeded")
	}
}

func TestTimeoutResultFirstCancelsTimer(t *testing.T) {
	clock := timer.NewClock()
	d := New[int]().AddTimeout(time.Second, clock)
	if clock.Len() != 1 {
		t.Fatalf("pending timers = %d; want 1", clock.Len())
	}
	_ = d.Callback(5)
	if clock.Len() != 0 {
		t.Fatalf("pending timers after the result = %d; want 0", clock.Len())
	}
	clock.Advance(time.Hour)
	if v, err := result(t, d); v != 5 || err != nil {
		t.Fatalf("result = %v, %v; want 5, nil", v, err)
	}
}

func TestTimeoutOnFiredDeferredCancelsTimerAtOnce(t *testing.T) {
	clock := timer.NewClock()
	d := Succeed(1).AddTimeout(time.Second, clock)
	if clock.Len() != 0 {
		t.Fatalf("pending timers = %d; want 0", clock.Len())
	}
	if v, err := result(t, d); v != 1 || err != nil {
		t.Fatalf("result = %v, %v", v, err)
	}
}

func TestTimeoutFailureFirstPassesUnchanged(t *testing.T) {
	clock := timer.NewClock()
	d := New[int]().AddTimeout(time.Second, clock)
	_ = d.Errback(errBoom)
	clock.Advance(time.Hour)
	if _, err := result(t, d); !errors.Is(err, errBoom) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v; want boom", err)
	}
}

func TestCancelBeforeTimeoutGivesErrCancelledNotTimeout(t *testing.T) {
	clock := timer.NewClock()
	d := New[int]().AddTimeout(time.Second, clock)
	d.Cancel()
	if _, err := result(t, d); !errors.Is(err, ErrCancelled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v; want ErrCancelled, not ErrTimeout", err)
	}
	if clock.Len() != 0 {
		t.Fatal("timer still pending after cancel")
	}
}

func TestTimeoutWithCancellerValuePassesValue(t *testing.T) {
	clock := timer.NewClock()
	d := NewWithCanceller(func(c *Deferred[int]) { _ = c.Callback(-1) }).AddTimeout(time.Second, clock)
	clock.Advance(time.Second)
	if v, err := result(t, d); v != -1 || err != nil {
		t.Fatalf("result = %v, %v; want the canceller's -1", v, err)
	}
}

func TestTimeoutErrbackAddedBeforeTimeoutSeesCancellation(t *testing.T) {
	clock := timer.NewClock()
	d := New[int]()
	var sawCancelled bool
	d.AddErrback(func(err error) (int, error) {
		sawCancelled = errors.Is(err, ErrCancelled)
		return 0, err
	})
	d.AddTimeout(time.Second, clock)
	clock.Advance(time.Second)
	if !sawCancelled {
		t.Fatal("errback added before the timeout did not see ErrCancelled")
	}
	if _, err := result(t, d); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err after the timeout step = %v; want ErrTimeout", err)
	}
}

func TestTimeoutErrbackSuppressingCancellationPassesItsValue(t *testing.T) {
	clock := timer.NewClock()
	d := New[int]()
	d.AddErrback(func(error) (int, error) { return 7, nil })
	d.AddTimeout(time.Second, clock)
	clock.Advance(time.Second)
	if v, err := result(t, d); v != 7 || err != nil {
		t.Fatalf("result = %v, %v; want 7, nil", v, err)
	}
}

func TestTimeoutZeroDurationTimesOutOnNextTurn(t *testing.T) {
	clock := timer.NewClock()
	d := New[int]().AddTimeout(0, clock)
	if d.Called() {
		t.Fatal("timed out before the scheduler ran")
	}
	clock.Advance(0)
	if _, err := result(t, d); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v; want ErrTimeout", err)
	}
}

func TestTimeoutNilSchedulerFailsPendingDeferred(t *testing.T) {
	d := New[int]().AddTimeout(time.Second, nil)
	if _, err := result(t, d); !errors.Is(err, ErrNilScheduler) {
		t.Fatalf("err = %v; want ErrNilScheduler", err)
	}
}
