package timer_test

import (
	"fmt"
	"time"

	"github.com/mustaine/mustaine/timer"
)

// A reactor loop drives a Wheel: fire what is due, then sleep until the
// next deadline. Here the sleeping is simulated by jumping to it.
func ExampleWheel() {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	w := timer.NewWheel(start) // 1 ms ticks
	elapsed := func() time.Duration { return w.Now().Sub(start) }

	w.CallLater(30*time.Second, func() { fmt.Println(elapsed(), "idle timeout") })
	header := w.CallLater(10*time.Second, func() { fmt.Println("never: cancelled") })
	w.CallLater(0, func() {
		fmt.Println(elapsed(), "next turn")
		w.CallLater(5*time.Second, func() { fmt.Println(elapsed(), "keep-alive check") })
	})
	header.Cancel()

	for now := start; ; {
		w.Advance(now)
		deadline, ok := w.NextDeadline()
		if !ok {
			break
		}
		now = deadline
	}
	// Output:
	// 0s next turn
	// 5s keep-alive check
	// 30s idle timeout
}

// A Clock makes time-dependent code testable: time moves only when the test
// says so.
func ExampleClock() {
	clock := timer.NewClock()
	timedOut := false
	timeout := clock.CallLater(10*time.Second, func() { timedOut = true })

	clock.Advance(9 * time.Second)
	fmt.Println("after 9s:", timedOut, timeout.Active())

	timeout.Reset(10 * time.Second) // activity: restart the timeout
	clock.Advance(9 * time.Second)
	fmt.Println("after 18s:", timedOut)

	clock.Advance(time.Second)
	fmt.Println("after 19s:", timedOut, timeout.Active())
	// Output:
	// after 9s: false true
	// after 18s: false
	// after 19s: true false
}

// A LoopingCall's beats stay aligned to its start; when the loop falls
// behind, the missed beats are skipped and counted.
func ExampleLoopingCall() {
	clock := timer.NewClock()
	lc := timer.NewLoopingCallWithCount(clock, func(count int) error {
		fmt.Printf("at %v: %d interval(s) since the last call\n", clock.Now().Sub(timer.ClockEpoch), count)
		return nil
	})
	lc.OnDone(func(err error) { fmt.Println("stopped, err =", err) })

	if err := lc.Start(time.Second, true); err != nil {
		fmt.Println(err)
		return
	}
	clock.Pump([]time.Duration{time.Second, 3500 * time.Millisecond, 500 * time.Millisecond})
	fmt.Println("skipped beats:", lc.Skipped())
	lc.Stop()
	// Output:
	// at 0s: 1 interval(s) since the last call
	// at 1s: 1 interval(s) since the last call
	// at 4.5s: 3 interval(s) since the last call
	// at 5s: 1 interval(s) since the last call
	// skipped beats: 2
	// stopped, err = <nil>
}
