package timer_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mustaine/mustaine/timer"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// recorder collects the names of fired calls.
type recorder struct{ got []string }

func (r *recorder) fn(name string) func() { return func() { r.got = append(r.got, name) } }

func (r *recorder) expect(t *testing.T, want ...string) {
	t.Helper()
	if !slices.Equal(r.got, want) && !(len(r.got) == 0 && len(want) == 0) {
		t.Fatalf("fired %q, want %q", r.got, want)
	}
	r.got = r.got[:0]
}

func TestCallLaterZeroRunsFIFO(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	for _, name := range []string{"a", "b", "c", "d"} {
		w.CallLater(0, r.fn(name))
	}
	if n := w.Advance(t0); n != 4 {
		t.Fatalf("Advance fired %d, want 4", n)
	}
	r.expect(t, "a", "b", "c", "d")
}

func TestZeroDelayScheduledWhileFiringRunsOnNextAdvance(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	var again func()
	again = func() {
		r.got = append(r.got, "again")
		w.CallLater(0, again)
	}
	w.CallLater(0, again)
	for range 3 {
		if n := w.Advance(t0); n != 1 {
			t.Fatalf("Advance fired %d calls, want 1: a self-rescheduling call must not starve the loop", n)
		}
		r.expect(t, "again")
	}
}

func TestCallAtPastFiresOnNextAdvance(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	w.Advance(t0.Add(time.Second))
	w.CallAt(t0, r.fn("past"))
	w.CallAt(t0.Add(time.Second), r.fn("now"))
	if dl, ok := w.NextDeadline(); !ok || !dl.Equal(w.Now()) {
		t.Fatalf("NextDeadline = %v, %v; want Now (calls are due)", dl, ok)
	}
	w.Advance(w.Now())
	r.expect(t, "past", "now")
}

func TestCallNeverFiresEarly(t *testing.T) {
	w := timer.NewWheel(t0) // 1 ms tick
	var r recorder
	w.CallLater(1500*time.Microsecond, r.fn("x"))
	w.Advance(t0.Add(1499 * time.Microsecond))
	r.expect(t)
	w.Advance(t0.Add(1999 * time.Microsecond))
	r.expect(t) // the 1.5 ms call is filed in the tick ending at 2 ms
	w.Advance(t0.Add(2 * time.Millisecond))
	r.expect(t, "x")
}

func TestCallFiresAtMostOneTickLate(t *testing.T) {
	const tick = time.Millisecond
	const step = 100 * time.Microsecond
	w := timer.NewWheel(t0, timer.WithTick(tick))
	due := map[int]time.Duration{}
	firedAt := map[int]time.Duration{}
	for i := range 200 {
		d := time.Duration(i*i*37%5000) * step / 7
		due[i] = d
		w.CallLater(d, func() { firedAt[i] = w.Now().Sub(t0) })
	}
	for now := time.Duration(0); w.Len() > 0; now += step {
		w.Advance(t0.Add(now))
	}
	for i, d := range due {
		at := firedAt[i]
		if at < d || at >= d+tick+step {
			t.Errorf("call due at %v fired at %v: outside [due, due+tick+step)", d, at)
		}
	}
}

func TestSameTickFiresInScheduleOrder(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	due := t0.Add(10 * time.Second)
	// "far" is filed on a high level; by the time "near" is scheduled for
	// the same instant the wheel has moved on, yet "far" still goes first.
	w.CallAt(due, r.fn("far"))
	w.Advance(due.Add(-time.Millisecond))
	w.CallAt(due, r.fn("near"))
	w.CallLater(time.Millisecond, r.fn("relative"))
	w.Advance(due)
	r.expect(t, "far", "near", "relative")
}

func TestDueTimesWithinOneTickFireInScheduleOrder(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	// Both are due in the tick ending at 2 ms; the tick is the wheel's
	// resolution, so scheduling order decides.
	w.CallLater(1900*time.Microsecond, r.fn("late-in-tick"))
	w.CallLater(1100*time.Microsecond, r.fn("early-in-tick"))
	w.Advance(t0.Add(2 * time.Millisecond))
	r.expect(t, "late-in-tick", "early-in-tick")
}

func TestCallsFireInDueOrderAcrossOneAdvance(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	for _, d := range []int{50, 3, 4000, 70000, 1, 3} {
		w.CallLater(time.Duration(d)*time.Millisecond, r.fn(fmt.Sprint(d)))
	}
	if n := w.Advance(t0.Add(time.Hour)); n != 6 {
		t.Fatalf("Advance fired %d, want 6", n)
	}
	r.expect(t, "1", "3", "3", "50", "4000", "70000")
}

func TestCancelReportsWhetherCallWasPending(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	h := w.CallLater(time.Second, r.fn("x"))
	if !h.Cancel() {
		t.Fatal("first Cancel of a pending call reported false")
	}
	if h.Cancel() {
		t.Fatal("second Cancel reported true")
	}
	w.Advance(t0.Add(time.Hour))
	r.expect(t)
	fired := w.CallLater(0, r.fn("y"))
	w.Advance(w.Now())
	if fired.Cancel() {
		t.Fatal("Cancel of a fired call reported true")
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d, want 0", w.Len())
	}
}

func TestZeroHandleIsInert(t *testing.T) {
	var h timer.Handle
	if h.Cancel() || h.Reset(time.Second) || h.Active() || !h.When().IsZero() {
		t.Fatal("the zero Handle claims to refer to a call")
	}
}

func TestStaleHandleLeavesRecycledEntryAlone(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	old := w.CallLater(time.Second, r.fn("old"))
	old.Cancel()
	// The cancelled entry is recycled for the next call.
	cur := w.CallLater(time.Second, r.fn("new"))
	if old.Active() || old.Cancel() || old.Reset(time.Hour) || !old.When().IsZero() {
		t.Fatal("a stale handle acted on the call that reuses its entry")
	}
	if !cur.Active() || !cur.When().Equal(t0.Add(time.Second)) {
		t.Fatal("the new call was disturbed by the stale handle")
	}
	w.Advance(t0.Add(time.Second))
	r.expect(t, "new")
}

func TestResetMovesPendingCall(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	h := w.CallLater(time.Second, r.fn("x"))
	w.Advance(t0.Add(500 * time.Millisecond))
	if !h.Reset(time.Second) {
		t.Fatal("Reset of a pending call reported false")
	}
	if want := t0.Add(1500 * time.Millisecond); !h.When().Equal(want) {
		t.Fatalf("When = %v, want %v (Reset is relative to Now)", h.When(), want)
	}
	w.Advance(t0.Add(1499 * time.Millisecond))
	r.expect(t)
	w.Advance(t0.Add(1500 * time.Millisecond))
	r.expect(t, "x")
	if h.Reset(time.Second) {
		t.Fatal("Reset of a fired call reported true")
	}
	if w.Len() != 0 {
		t.Fatal("Reset of a fired call scheduled something")
	}
}

func TestResetGoesAfterCallsAlreadyDueInSameTick(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	a := w.CallLater(time.Second, r.fn("a"))
	w.CallLater(time.Second, r.fn("b"))
	a.Reset(time.Second)
	w.Advance(t0.Add(time.Second))
	r.expect(t, "b", "a")
}

func TestHandleInsideOwnCallbackIsNotPending(t *testing.T) {
	w := timer.NewWheel(t0)
	var h timer.Handle
	checked := false
	h = w.CallLater(time.Millisecond, func() {
		checked = true
		if h.Active() || h.Cancel() || h.Reset(time.Second) {
			t.Error("a call is still pending inside its own callback")
		}
	})
	w.Advance(t0.Add(time.Millisecond))
	if !checked || w.Len() != 0 {
		t.Fatalf("checked=%v Len=%d", checked, w.Len())
	}
}

func TestCancelFromCallbackStopsCallDueInSameAdvance(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	var b timer.Handle
	w.CallLater(time.Millisecond, func() {
		r.got = append(r.got, "a")
		if !b.Cancel() {
			t.Error("cancelling a call due later in the same Advance reported false")
		}
	})
	b = w.CallLater(2*time.Millisecond, r.fn("b"))
	w.CallLater(3*time.Millisecond, r.fn("c"))
	if n := w.Advance(t0.Add(time.Second)); n != 2 {
		t.Fatalf("Advance fired %d, want 2", n)
	}
	r.expect(t, "a", "c")
}

func TestResetFromCallbackPostponesCallDueInSameAdvance(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	var b timer.Handle
	w.CallLater(time.Millisecond, func() {
		r.got = append(r.got, "a")
		b.Reset(time.Second) // relative to Now, the end of this Advance
	})
	b = w.CallLater(2*time.Millisecond, r.fn("b"))
	w.Advance(t0.Add(10 * time.Millisecond))
	r.expect(t, "a")
	w.Advance(t0.Add(1009 * time.Millisecond))
	r.expect(t)
	w.Advance(t0.Add(1010 * time.Millisecond))
	r.expect(t, "b")
}

func TestPanicInCallbackLeavesRemainingCallsForNextAdvance(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	w.CallLater(time.Millisecond, r.fn("a"))
	w.CallLater(time.Millisecond, func() { panic("boom") })
	w.CallLater(time.Millisecond, r.fn("c"))
	w.CallLater(5*time.Millisecond, r.fn("d"))
	w.CallLater(time.Hour, r.fn("later"))
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want boom", v)
			}
		}()
		w.Advance(t0.Add(10 * time.Millisecond))
	}()
	r.expect(t, "a")
	if w.Len() != 3 {
		t.Fatalf("Len = %d after the panic, want 3", w.Len())
	}
	if dl, ok := w.NextDeadline(); !ok || dl.After(w.Now()) {
		t.Fatalf("NextDeadline = %v, %v; want at most Now, calls are overdue", dl, ok)
	}
	if n := w.Advance(t0.Add(10 * time.Millisecond)); n != 2 {
		t.Fatalf("next Advance fired %d, want 2", n)
	}
	r.expect(t, "c", "d")
	w.Advance(t0.Add(time.Hour))
	r.expect(t, "later")
}

func TestLongDelaysFireOnTime(t *testing.T) {
	for _, d := range []time.Duration{
		30 * 24 * time.Hour,
		30*24*time.Hour + time.Millisecond,
		365 * 24 * time.Hour,
		100 * 365 * 24 * time.Hour,
	} {
		w := timer.NewWheel(t0)
		var r recorder
		w.CallLater(d, r.fn("x"))
		w.Advance(t0.Add(d - time.Millisecond))
		r.expect(t)
		w.Advance(t0.Add(d))
		r.expect(t, "x")
	}
}

func TestMaximumDelayStaysPending(t *testing.T) {
	w := timer.NewWheel(t0)
	h := w.CallLater(1<<63-1, func() { t.Error("a call 292 years away fired") })
	w.Advance(t0.Add(200 * 365 * 24 * time.Hour))
	if !h.Active() || w.Len() != 1 {
		t.Fatal("the far call is no longer pending")
	}
	if _, ok := w.NextDeadline(); !ok {
		t.Fatal("NextDeadline reports nothing pending")
	}
}

func TestAdvanceBackwardsDoesNotMoveTime(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	w.Advance(t0.Add(time.Second))
	w.CallLater(time.Millisecond, r.fn("x"))
	w.Advance(t0)
	if !w.Now().Equal(t0.Add(time.Second)) {
		t.Fatalf("Now went back to %v", w.Now())
	}
	r.expect(t)
	w.Advance(t0.Add(time.Second + time.Millisecond))
	r.expect(t, "x")
}

func TestNextDeadlineIsDueTimeRoundedUpToTick(t *testing.T) {
	w := timer.NewWheel(t0)
	if _, ok := w.NextDeadline(); ok {
		t.Fatal("an empty wheel reports a deadline")
	}
	w.CallLater(time.Hour, func() {})
	w.CallLater(1500*time.Microsecond, func() {})
	if dl, ok := w.NextDeadline(); !ok || !dl.Equal(t0.Add(2*time.Millisecond)) {
		t.Fatalf("NextDeadline = %v, %v; want t0+2ms", dl, ok)
	}
}

func TestSleepingUntilNextDeadlineReachesFarCall(t *testing.T) {
	w := timer.NewWheel(t0)
	due := t0.Add(3*time.Hour + 7*time.Millisecond)
	fired := false
	w.CallAt(due, func() { fired = true })
	wakeups := 0
	for !fired {
		dl, ok := w.NextDeadline()
		if !ok || dl.After(due) {
			t.Fatalf("NextDeadline = %v, %v, after the call's due time %v", dl, ok, due)
		}
		w.Advance(dl)
		wakeups++
	}
	if !w.Now().Equal(due) {
		t.Fatalf("fired at %v, want %v", w.Now(), due)
	}
	if wakeups != 1 {
		t.Fatalf("took %d wake-ups, want 1: the deadline of a lone call is exact", wakeups)
	}
}

func TestNilFuncSchedulesNothing(t *testing.T) {
	w := timer.NewWheel(t0)
	if h := w.CallLater(time.Second, nil); h.Active() || w.Len() != 0 {
		t.Fatal("a nil function was scheduled")
	}
	if h := w.CallAt(t0, nil); h.Active() || w.Len() != 0 {
		t.Fatal("a nil function was scheduled")
	}
}

func TestAdvanceFromCallbackFiresRestOfBatch(t *testing.T) {
	w := timer.NewWheel(t0)
	var r recorder
	w.CallLater(time.Millisecond, func() {
		r.got = append(r.got, "a")
		w.Advance(t0.Add(3 * time.Millisecond))
	})
	w.CallLater(2*time.Millisecond, r.fn("b"))
	w.CallLater(3*time.Millisecond, r.fn("c"))
	w.CallLater(4*time.Millisecond, r.fn("d"))
	w.Advance(t0.Add(2 * time.Millisecond))
	r.expect(t, "a", "b", "c")
	if !w.Now().Equal(t0.Add(3 * time.Millisecond)) {
		t.Fatalf("Now = %v, want the nested Advance's time", w.Now())
	}
	w.Advance(t0.Add(4 * time.Millisecond))
	r.expect(t, "d")
}

func TestWithTickSetsResolution(t *testing.T) {
	if got := timer.NewWheel(t0, timer.WithTick(10*time.Millisecond)).Tick(); got != 10*time.Millisecond {
		t.Fatalf("Tick = %v", got)
	}
	if got := timer.NewWheel(t0, timer.WithTick(0)).Tick(); got != timer.DefaultTick {
		t.Fatalf("WithTick(0) gave Tick %v, want the default", got)
	}
	if got := timer.NewWheel(t0, timer.WithTick(-time.Second)).Tick(); got != timer.DefaultTick {
		t.Fatalf("WithTick(-1s) gave Tick %v, want the default", got)
	}
}

func TestAdvanceWithNothingDueAllocatesNothing(t *testing.T) {
	w := timer.NewWheel(t0)
	for i := range 1000 {
		w.CallLater(time.Hour+time.Duration(i)*time.Second, func() {})
	}
	now := t0
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		w.Advance(now)
		w.NextDeadline()
	})
	if allocs != 0 {
		t.Fatalf("Advance+NextDeadline allocated %v times per run", allocs)
	}
}

func TestScheduleCancelAndExpireAllocateNothingInSteadyState(t *testing.T) {
	w := timer.NewWheel(t0)
	fn := func() {}
	w.CallLater(0, fn).Cancel() // the first call allocates a slab
	now := t0
	allocs := testing.AllocsPerRun(1000, func() {
		w.CallLater(time.Second, fn).Cancel()
		h := w.CallLater(time.Millisecond, fn)
		h.Reset(2 * time.Millisecond)
		now = now.Add(2 * time.Millisecond)
		w.Advance(now)
	})
	if allocs != 0 {
		t.Fatalf("schedule/cancel/reset/expire allocated %v times per run", allocs)
	}
}

// A loop reads the clock once per turn: data that arrives 700 ms into a
// sleep is handled while the wheel's Now still says the sleep began. On a
// WithLaggingNow wheel the timeout it resets counts from the next Advance,
// whose time the owner reads after the Reset, so it cannot fire 300 ms after
// the data as it would counting from the stale Now.
func TestLaggingNowResetCountsFromNextAdvance(t *testing.T) {
	for _, lagging := range []bool{false, true} {
		opts := []timer.Option{timer.WithTick(time.Millisecond)}
		if lagging {
			opts = append(opts, timer.WithLaggingNow())
		}
		w := timer.NewWheel(t0, opts...)
		var fired []time.Time
		h := w.CallLater(time.Second, func() { fired = append(fired, w.Now()) })
		// The data arrives at t0+700ms and resets the timeout before the
		// loop's next clock reading.
		h.Reset(time.Second)
		if lagging && !w.Held() {
			t.Fatalf("a Reset on a lagging wheel is not held")
		}
		w.Advance(t0.Add(700 * time.Millisecond))
		w.Advance(t0.Add(time.Second))
		if !lagging {
			if len(fired) != 1 {
				t.Fatalf("without WithLaggingNow the Reset counts from the stale Now: fired %v", fired)
			}
			continue
		}
		if len(fired) != 0 {
			t.Fatalf("lagging: fired at %v, only 300ms after the data", fired[0].Sub(t0))
		}
		w.Advance(t0.Add(1700*time.Millisecond - time.Nanosecond))
		if len(fired) != 0 {
			t.Fatalf("lagging: fired before 1s after the Advance that fixed its deadline")
		}
		w.Advance(t0.Add(1700 * time.Millisecond))
		if len(fired) != 1 {
			t.Fatalf("lagging: not fired 1s after the Advance that fixed its deadline")
		}
	}
}

func TestLaggingNowHeldCallsAreDueOneDelayAfterSettle(t *testing.T) {
	w := timer.NewWheel(t0, timer.WithLaggingNow())
	var r recorder
	a := w.CallLater(10*time.Millisecond, r.fn("a"))
	b := w.CallLater(10*time.Millisecond, r.fn("b"))
	soon := w.CallLater(0, r.fn("soon"))
	if !a.Active() || !b.Active() || !soon.Active() || w.Len() != 3 {
		t.Fatalf("held calls are not pending")
	}
	if got := a.When(); !got.Equal(t0.Add(10 * time.Millisecond)) {
		t.Fatalf("held When = %v, want Now+10ms", got.Sub(t0))
	}
	if dl, ok := w.NextDeadline(); !ok || !dl.Equal(w.Now()) {
		t.Fatalf("NextDeadline with held calls = %v %v, want Now", dl, ok)
	}
	if !b.Cancel() {
		t.Fatalf("a held call cannot be cancelled")
	}
	w.Settle(t0.Add(5 * time.Millisecond))
	if w.Held() {
		t.Fatalf("Settle left calls held")
	}
	r.expect(t) // Settle fires nothing, not even the call due now
	if got := a.When(); !got.Equal(t0.Add(15 * time.Millisecond)) {
		t.Fatalf("settled When = %v, want 15ms", got.Sub(t0))
	}
	w.Advance(t0.Add(15*time.Millisecond - time.Nanosecond))
	r.expect(t, "soon")
	w.Advance(t0.Add(15 * time.Millisecond))
	r.expect(t, "a")
}

// TestCancelAllCancelsEveryPendingCallAndDropsItsFunc: calls in every
// state (due, near, far in the higher levels, held by a lagging wheel)
// are cancelled as Cancel would: none fires, their handles are inactive,
// the wheel holds none of their funcs (their captured values are
// collected), and it takes new calls afterwards.
func TestCancelAllCancelsEveryPendingCallAndDropsItsFunc(t *testing.T) {
	for _, lagging := range []bool{false, true} {
		var opts []timer.Option
		if lagging {
			opts = append(opts, timer.WithLaggingNow())
		}
		w := timer.NewWheel(t0, opts...)
		fired := 0
		collected := make(chan struct{}, 4)
		var handles []timer.Handle
		for _, d := range []time.Duration{0, 5 * time.Millisecond, time.Hour, 400 * 24 * time.Hour} {
			big := new([1 << 16]byte)
			runtime.AddCleanup(big, func(ch chan struct{}) { ch <- struct{}{} }, collected)
			handles = append(handles, w.CallLater(d, func() { fired += int(big[0]) + 1 }))
		}
		if n := w.CancelAll(); n != 4 || w.Len() != 0 {
			t.Fatalf("lagging=%v: CancelAll = %d, Len %d; want 4, 0", lagging, n, w.Len())
		}
		for i, h := range handles {
			if h.Active() || h.Cancel() {
				t.Fatalf("lagging=%v: handle %d still active after CancelAll", lagging, i)
			}
		}
		w.Advance(t0.Add(500 * 24 * time.Hour))
		if fired != 0 {
			t.Fatalf("lagging=%v: %d cancelled calls fired", lagging, fired)
		}
		// Cleanups run after a collection finds their value unreachable;
		// a few cycles are plenty, a hundred means the wheel holds them.
		got := 0
		for i := 0; i < 100 && got < 4; i++ {
			runtime.GC()
			for drained := false; !drained; {
				select {
				case <-collected:
					got++
				case <-time.After(10 * time.Millisecond):
					drained = true
				}
			}
		}
		if got != 4 {
			t.Fatalf("lagging=%v: %d of the 4 cancelled calls' captured values collected", lagging, got)
		}
		ran := false
		w.CallLater(0, func() { ran = true })
		w.Advance(t0.Add(501 * 24 * time.Hour))
		if !ran {
			t.Fatalf("lagging=%v: the wheel takes no new call after CancelAll", lagging)
		}
	}
}
