package deferred

import (
	"errors"
	"fmt"
	"time"

	"github.com/mustaine/mustaine/timer"
)

// AddTimeout cancels d if it has not fired within dur on scheduler s, as
// Twisted's addTimeout does. If the timer fired and the cancellation left
// ErrCancelled on the chain, that error becomes one matching ErrTimeout
// (and context.DeadlineExceeded); a result that arrives first, or one a
// canceller chose, passes unchanged, and an earlier result cancels the
// timer. The timeout covers the steps added before AddTimeout, not the ones
// added after. A dur of zero or less times out on the scheduler's next turn.
//
// With a nil s, a pending d fails at once with ErrNilScheduler. It returns d.
func (d *Deferred[T]) AddTimeout(dur time.Duration, s timer.Scheduler) *Deferred[T] {
	if s == nil {
		if !d.called {
			_ = d.Errback(ErrNilScheduler)
		}
		return d
	}
	t := &timeoutStep[T]{d: d, dur: dur}
	t.h = s.CallLater(dur, t.expire)
	return d.add(step[T]{ext: t})
}

type timeoutStep[T any] struct {
	d        *Deferred[T] // nil once the step ran
	dur      time.Duration
	h        timer.Handle
	timedOut bool
}

func (t *timeoutStep[T]) expire() {
	if t.d == nil {
		return
	}
	t.timedOut = true
	t.d.Cancel()
}

func (t *timeoutStep[T]) run(d *Deferred[T]) link {
	t.d = nil
	if !t.timedOut {
		t.h.Cancel()
		return nil
	}
	if errors.Is(d.err, ErrCancelled) {
		d.set(d.result, fmt.Errorf("%w after %v", ErrTimeout, t.dur))
	}
	return nil
}
