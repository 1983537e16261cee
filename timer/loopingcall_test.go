package timer_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/timer"
)

// doneRecorder records how a LoopingCall's runs ended.
type doneRecorder struct {
	calls int
	err   error
}

func (d *doneRecorder) fn(err error) { d.calls, d.err = d.calls+1, err }

func TestLoopingCallNowCallsInsideStart(t *testing.T) {
	c := timer.NewClock()
	n := 0
	lc := timer.NewLoopingCall(c, func() { n++ })
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("called %d times by Start(now=true), want 1", n)
	}
	c.Advance(time.Second)
	if n != 2 {
		t.Fatalf("called %d times after one interval, want 2", n)
	}
}

func TestLoopingCallWithoutNowWaitsOneInterval(t *testing.T) {
	c := timer.NewClock()
	n := 0
	lc := timer.NewLoopingCall(c, func() { n++ })
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second - 1)
	if n != 0 {
		t.Fatal("called before the first interval elapsed")
	}
	c.Advance(1)
	if n != 1 {
		t.Fatalf("called %d times after the first interval, want 1", n)
	}
}

func TestLoopingCallBeatsAlignToStartTime(t *testing.T) {
	c := timer.NewClock()
	var at []time.Duration
	lc := timer.NewLoopingCall(c, func() { at = append(at, c.Now().Sub(timer.ClockEpoch)) })
	if err := lc.Start(10*time.Second, false); err != nil {
		t.Fatal(err)
	}
	// The first beat runs 5 s late; the next one is still due at 20 s,
	// not 10 s after the late call.
	c.Pump([]time.Duration{15 * time.Second, 5 * time.Second, 10 * time.Second})
	want := []time.Duration{15 * time.Second, 20 * time.Second, 30 * time.Second}
	if !slices.Equal(at, want) {
		t.Fatalf("called at %v, want %v", at, want)
	}
}

func TestLoopingCallWithCountReportsMissedBeats(t *testing.T) {
	c := timer.NewClock()
	var counts []int
	lc := timer.NewLoopingCallWithCount(c, func(count int) error {
		counts = append(counts, count)
		return nil
	})
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	c.Pump([]time.Duration{time.Second, 3500 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second})
	// Calls at 0 s, 1 s, 4.5 s (beats 2 and 3 missed), 5 s, 7 s (beat 6 missed).
	if want := []int{1, 1, 3, 1, 2}; !slices.Equal(counts, want) {
		t.Fatalf("counts %v, want %v", counts, want)
	}
	if lc.Skipped() != 3 {
		t.Fatalf("Skipped = %d, want 3", lc.Skipped())
	}
}

func TestLoopingCallStopEndsRunAndReportsNil(t *testing.T) {
	c := timer.NewClock()
	n := 0
	lc := timer.NewLoopingCall(c, func() { n++ })
	var done doneRecorder
	lc.OnDone(done.fn)
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	lc.Stop()
	c.Advance(time.Hour)
	if n != 1 || lc.Running() || c.Len() != 0 {
		t.Fatalf("after Stop: calls=%d running=%v pending=%d", n, lc.Running(), c.Len())
	}
	if done.calls != 1 || done.err != nil {
		t.Fatalf("OnDone called %d times with %v, want once with nil", done.calls, done.err)
	}
	lc.Stop() // stopping again does nothing
	if done.calls != 1 {
		t.Fatal("a second Stop reported again")
	}
}

func TestLoopingCallStopFromInsideFunction(t *testing.T) {
	c := timer.NewClock()
	n := 0
	var lc *timer.LoopingCall
	lc = timer.NewLoopingCall(c, func() {
		n++
		if n == 2 {
			lc.Stop()
		}
	})
	var done doneRecorder
	lc.OnDone(done.fn)
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	c.Pump([]time.Duration{time.Second, time.Second, time.Second})
	if n != 2 || c.Len() != 0 || done.calls != 1 || done.err != nil {
		t.Fatalf("calls=%d pending=%d done=%d err=%v", n, c.Len(), done.calls, done.err)
	}
}

func TestLoopingCallErrorEndsRunAndIsReported(t *testing.T) {
	c := timer.NewClock()
	errBad := errors.New("bad beat")
	n := 0
	lc := timer.NewLoopingCallWithCount(c, func(int) error {
		n++
		if n == 3 {
			return errBad
		}
		return nil
	})
	var done doneRecorder
	lc.OnDone(done.fn)
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	c.Pump([]time.Duration{time.Second, time.Second, time.Second, time.Second})
	if n != 3 || lc.Running() || c.Len() != 0 {
		t.Fatalf("calls=%d running=%v pending=%d", n, lc.Running(), c.Len())
	}
	if done.calls != 1 || !errors.Is(done.err, errBad) || !errors.Is(lc.Err(), errBad) {
		t.Fatalf("OnDone got %v (%d calls), Err %v; want %v", done.err, done.calls, lc.Err(), errBad)
	}
}

func TestLoopingCallPanicIsReportedWithStack(t *testing.T) {
	c := timer.NewClock()
	lc := timer.NewLoopingCall(c, func() { panicInBeat() })
	var done doneRecorder
	lc.OnDone(done.fn)
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if !errors.Is(done.err, timer.ErrPanic) {
		t.Fatalf("OnDone got %v, want an error matching ErrPanic", done.err)
	}
	var pe *timer.PanicError
	if !errors.As(done.err, &pe) || pe.Value != "beat failed" {
		t.Fatalf("OnDone got %#v, want a *PanicError carrying the panic value", done.err)
	}
	if !strings.Contains(string(pe.Stack), "panicInBeat") {
		t.Fatalf("the stack does not show where the panic happened:\n%s", pe.Stack)
	}
	if lc.Running() || c.Len() != 0 {
		t.Fatal("the LoopingCall goes on after a panic")
	}
}

func panicInBeat() { panic("beat failed") }

func TestLoopingCallUnobservedPanicPropagates(t *testing.T) {
	c := timer.NewClock()
	lc := timer.NewLoopingCall(c, func() { panic("unseen") })
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	defer func() {
		pe, ok := recover().(*timer.PanicError)
		if !ok || pe.Value != "unseen" {
			t.Fatalf("recovered %v, want the *PanicError", pe)
		}
	}()
	c.Advance(time.Second)
	t.Fatal("Advance returned although nothing observed the panic")
}

func TestLoopingCallPanicErrorUnwrapsPanickedError(t *testing.T) {
	errCause := errors.New("cause")
	pe := &timer.PanicError{Value: errCause}
	if !errors.Is(pe, errCause) || !errors.Is(pe, timer.ErrPanic) {
		t.Fatal("a panic with an error value does not match both the cause and ErrPanic")
	}
}

func TestLoopingCallStartRejectsBadUse(t *testing.T) {
	c := timer.NewClock()
	lc := timer.NewLoopingCall(c, func() {})
	if err := lc.Start(-time.Second, false); !errors.Is(err, timer.ErrNegativeInterval) {
		t.Fatalf("negative interval: %v", err)
	}
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	if err := lc.Start(time.Second, false); !errors.Is(err, timer.ErrRunning) {
		t.Fatalf("second Start: %v", err)
	}
	if err := timer.NewLoopingCall(c, nil).Start(time.Second, false); !errors.Is(err, timer.ErrNilFunc) {
		t.Fatalf("nil function: %v", err)
	}
	if err := timer.NewLoopingCall(nil, func() {}).Start(time.Second, false); !errors.Is(err, timer.ErrNilFunc) {
		t.Fatalf("nil scheduler: %v", err)
	}
}

func TestLoopingCallRestartsAfterStop(t *testing.T) {
	c := timer.NewClock()
	n := 0
	lc := timer.NewLoopingCall(c, func() { n++ })
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	lc.Stop()
	if err := lc.Start(2*time.Second, false); err != nil {
		t.Fatalf("restart: %v", err)
	}
	c.Advance(time.Second)
	if n != 0 {
		t.Fatal("the first run's beat fired after Stop")
	}
	c.Advance(time.Second)
	if n != 1 || lc.Interval() != 2*time.Second {
		t.Fatalf("calls=%d interval=%v", n, lc.Interval())
	}
}

func TestLoopingCallOnDoneAfterEndIsCalledAtOnce(t *testing.T) {
	c := timer.NewClock()
	lc := timer.NewLoopingCall(c, func() {})
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	lc.Stop()
	var done doneRecorder
	lc.OnDone(done.fn)
	if done.calls != 1 || done.err != nil {
		t.Fatalf("OnDone after the end: %d calls, err %v", done.calls, done.err)
	}
}

func TestLoopingCallZeroIntervalRunsOncePerAdvance(t *testing.T) {
	c := timer.NewClock()
	n := 0
	lc := timer.NewLoopingCall(c, func() { n++ })
	if err := lc.Start(0, true); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		c.Advance(0)
		if n != i {
			t.Fatalf("after %d advances: %d calls", i-1, n)
		}
	}
}

func TestLoopingCallBeatAllocatesNothing(t *testing.T) {
	c := timer.NewClock()
	lc := timer.NewLoopingCall(c, func() {})
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if allocs := testing.AllocsPerRun(100, func() { c.Advance(time.Second) }); allocs != 0 {
		t.Fatalf("a beat allocated %v times", allocs)
	}
}

func TestLoopingCallAsyncWaitsForDoneAndIgnoresRepeats(t *testing.T) {
	c := timer.NewClock()
	var dones []func(error)
	lc := timer.NewLoopingCallAsync(c, func(count int, done func(error)) { dones = append(dones, done) })
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	c.Advance(3 * time.Second)
	if len(dones) != 1 {
		t.Fatalf("%d calls before the first reported done, want 1", len(dones))
	}
	dones[0](nil)
	dones[0](nil) // a second done must not schedule a second beat
	c.Advance(time.Second)
	if len(dones) != 2 {
		t.Fatalf("%d calls one beat after done, want 2", len(dones))
	}
	var rec doneRecorder
	lc.OnDone(rec.fn)
	dones[1](errors.New("async failed"))
	dones[0](errors.New("stale"))
	if lc.Running() || rec.calls != 1 || rec.err == nil || rec.err.Error() != "async failed" {
		t.Fatalf("after done(err): running %v, OnDone %d times with %v", lc.Running(), rec.calls, rec.err)
	}
}

func TestLoopingCallAsyncDoneOfAnEndedRunIsIgnored(t *testing.T) {
	c := timer.NewClock()
	var dones []func(error)
	lc := timer.NewLoopingCallAsync(c, func(count int, done func(error)) {
		dones = append(dones, done)
		if len(dones) > 1 {
			done(nil)
		}
	})
	if err := lc.Start(time.Second, true); err != nil {
		t.Fatal(err)
	}
	lc.Stop()
	dones[0](nil) // ends the first run
	if err := lc.Start(time.Second, false); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	dones[0](errors.New("stale")) // from the first run: ignored
	if !lc.Running() {
		t.Fatal("a done of the ended run stopped the new one")
	}
	c.Advance(time.Second)
	if len(dones) != 3 {
		t.Fatalf("%d calls, want 3", len(dones))
	}
	lc.Stop()
}
