package reactor

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
)

// Twisted's callWhenRunning: "If the reactor is running, call the callable
// right away."
func TestCallWhenRunningOnTheRunningReactorsLoopCallsAtOnce(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	onLoop(t, r, func() {
		called := false
		r.CallWhenRunning(func() { called = true })
		if !called {
			t.Error("CallWhenRunning on loop 0 of a running reactor did not call at once")
		}
	})
}

// From another goroutine the call still runs on loop 0, never on the
// caller's goroutine.
func TestCallWhenRunningFromAnotherGoroutineRunsOnLoopZero(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	ran := make(chan bool, 1)
	r.CallWhenRunning(func() { ran <- r.loops[0].onLoop() })
	select {
	case onLoop0 := <-ran:
		if !onLoop0 {
			t.Fatal("the call did not run on loop 0")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the call never ran")
	}
}

// Twisted sets reactor.running in the During phase of startup and clears
// it in the During phase of shutdown, so a callWhenRunning made by a Before
// Startup trigger waits for startup.
func TestRunningSpansStartupDuringToShutdownDuring(t *testing.T) {
	r := newQuietReactor(t, WithLoops(1))
	o := &order{}
	record := func(name string) func() *deferred.Deferred[struct{}] {
		return func() *deferred.Deferred[struct{}] {
			if r.Running() {
				o.add(name + ":running")
			} else {
				o.add(name + ":not-running")
			}
			return nil
		}
	}
	if r.Running() {
		t.Fatal("Running before Run")
	}
	mustAdd(t, r, Before, Startup, func() *deferred.Deferred[struct{}] {
		record("before-startup")()
		r.CallWhenRunning(func() { record("when-running")() })
		o.add("trigger-returns")
		return nil
	})
	mustAdd(t, r, During, Startup, record("during-startup"))
	mustAdd(t, r, Before, Shutdown, record("before-shutdown"))
	mustAdd(t, r, During, Shutdown, record("during-shutdown"))
	mustAdd(t, r, After, Shutdown, record("after-shutdown"))
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	done := runAsync(r)
	<-running
	if !r.Running() {
		t.Fatal("not Running once the CallWhenRunning calls ran")
	}
	r.Stop()
	waitRun(t, done)
	if r.Running() {
		t.Fatal("Running after Run returned")
	}
	want := "before-startup:not-running trigger-returns during-startup:running when-running:running " +
		"before-shutdown:running during-shutdown:not-running after-shutdown:not-running"
	if got := o.get(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// Twisted starts its thread pool when the reactor starts: a job handed
// over before Run waits for Run.
func TestPoolRunsNoJobBeforeRunAndQueuedOnesStartWithRun(t *testing.T) {
	r := newQuietReactor(t, WithLoops(1))
	var runStarted, early atomic.Bool
	job := func() (int, error) {
		if !runStarted.Load() {
			early.Store(true)
		}
		return 42, nil
	}
	const jobs = 3
	var ds []*deferred.Deferred[int]
	for range jobs {
		ds = append(ds, DeferToThread(r.Loops()[0], job))
	}
	inThread := make(chan bool, 1)
	if err := r.CallInThread(func() { inThread <- runStarted.Load() }); err != nil {
		t.Fatal(err)
	}
	// Give a pool that ran jobs early the time to do it.
	time.Sleep(50 * time.Millisecond)
	if st := r.PoolStats(); st.Workers != 0 || st.Running != 0 || st.Queued != jobs+1 {
		t.Fatalf("before Run: %+v, want no worker and %d jobs queued", st, jobs+1)
	}
	got := make(chan int, jobs)
	for _, d := range ds {
		d.AddCallback(func(v int) (int, error) {
			got <- v
			return v, nil
		})
	}
	runStarted.Store(true)
	done := runAsync(r)
	for range jobs {
		select {
		case v := <-got:
			if v != 42 {
				t.Fatalf("job result %d", v)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a job queued before Run never ran")
		}
	}
	if started := <-inThread; !started {
		t.Error("CallInThread ran its function before Run")
	}
	if early.Load() {
		t.Error("a DeferToThread job ran before Run")
	}
	r.Stop()
	waitRun(t, done)
}

// A CallFromThread callback that queues itself again keeps the queue from
// ever being empty; Run still returns once the shutdown timeout is over.
func TestRunReturnsAfterTheShutdownTimeoutDespiteASelfRequeuingCall(t *testing.T) {
	const timeout = 200 * time.Millisecond
	r := newQuietReactor(t, WithLoops(2), WithShutdownTimeout(timeout))
	var spins atomic.Int64
	var spin func()
	spin = func() {
		spins.Add(1)
		r.CallFromThread(spin)
	}
	running := make(chan struct{})
	r.CallWhenRunning(func() {
		r.CallFromThread(spin)
		close(running)
	})
	done := runAsync(r)
	<-running
	stopped := time.Now()
	r.Stop()
	waitRun(t, done)
	if spins.Load() == 0 {
		t.Fatal("the self-requeuing call never ran")
	}
	if since := time.Since(stopped); since < timeout {
		// Not a timing assertion about speed: the queue was never empty,
		// so only the deadline can have let Run return.
		t.Fatalf("Run returned %v after Stop, before the %v deadline", since, timeout)
	}
}
