package reactor

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
)

// order records events from any goroutine.
type order struct {
	mu     sync.Mutex
	events []string
}

func (o *order) add(e string) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
}

func (o *order) get() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.events, " ")
}

// step is a trigger that records name and returns nothing to wait for.
func (o *order) step(name string) func() *deferred.Deferred[struct{}] {
	return func() *deferred.Deferred[struct{}] {
		o.add(name)
		return nil
	}
}

func newQuietReactor(t *testing.T, opts ...Option) *Reactor {
	t.Helper()
	opts = append([]Option{WithLogger(zerolog.New(io.Discard)), WithSignalHandling(false)}, opts...)
	r, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runAsync(r *Reactor) <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	return done
}

func waitRun(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}

func mustAdd(t *testing.T, r *Reactor, phase Phase, event Event, fn func() *deferred.Deferred[struct{}]) TriggerID {
	t.Helper()
	id, err := r.AddSystemEventTrigger(phase, event, fn)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestStartupTriggersRunInPhaseOrderAndABeforeDeferredDelaysTheRest(t *testing.T) {
	r := newQuietReactor(t, WithLoops(2))
	var o order
	var gate *deferred.Deferred[struct{}]
	mustAdd(t, r, After, Startup, o.step("after"))
	mustAdd(t, r, During, Startup, o.step("during"))
	mustAdd(t, r, Before, Startup, func() *deferred.Deferred[struct{}] {
		o.add("before-1")
		gate = deferred.New[struct{}]()
		return gate
	})
	mustAdd(t, r, Before, Startup, o.step("before-2"))
	running := make(chan struct{})
	r.CallWhenRunning(func() { o.add("running"); close(running) })
	done := runAsync(r)
	waitFor(t, "the before triggers", func() bool { return o.get() == "before-1 before-2" })
	// Still held back by the gate: a call queued on loop 0 now runs before
	// any later phase.
	onLoop(t, r, func() { o.add("gate") })
	r.CallFromThread(func() { gate.Callback(struct{}{}) })
	<-running
	if got, want := o.get(), "before-1 before-2 gate during after running"; got != want {
		t.Fatalf("startup order %q, want %q", got, want)
	}
	r.Stop()
	waitRun(t, done)
}

// lossOrder is an echo protocol that records its ConnectionLost.
type lossOrder struct {
	echoProto
	o *order
}

func (l *lossOrder) ConnectionLost(error) { l.o.add("connection-lost") }

func TestShutdownWaitsForABeforeTriggersDeferredThenClosesConnectionsThenRunsDuringAndAfter(t *testing.T) {
	r := newQuietReactor(t, WithLoops(2))
	var o order
	var gate *deferred.Deferred[struct{}]
	mustAdd(t, r, After, Shutdown, o.step("after"))
	mustAdd(t, r, During, Shutdown, o.step("during"))
	mustAdd(t, r, Before, Shutdown, func() *deferred.Deferred[struct{}] {
		o.add("before")
		gate = deferred.New[struct{}]()
		return gate
	})
	ln, err := r.ListenTCP("127.0.0.1:0", protocolFactory(&lossOrder{o: &o}))
	if err != nil {
		t.Fatal(err)
	}
	done := runAsync(r)
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "before stop")
	r.Stop()
	waitFor(t, "the before trigger", func() bool { return o.get() == "before" })
	// The connection still serves while the before trigger's Deferred is
	// pending.
	roundTrip(t, c, "while stopping")
	if got := o.get(); got != "before" {
		t.Fatalf("events while the gate is closed: %q", got)
	}
	r.CallFromThread(func() { gate.Callback(struct{}{}) })
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after the gate opened: %v, want EOF", err)
	}
	waitRun(t, done)
	if got, want := o.get(), "before connection-lost during after"; got != want {
		t.Fatalf("shutdown order %q, want %q", got, want)
	}
}

func TestABeforeShutdownDeferredThatNeverFiresIsCutOffAtTheDeadline(t *testing.T) {
	r := newQuietReactor(t, WithLoops(1), WithShutdownTimeout(100*time.Millisecond))
	var o order
	mustAdd(t, r, Before, Shutdown, func() *deferred.Deferred[struct{}] {
		o.add("before")
		return deferred.New[struct{}]() // never fires
	})
	mustAdd(t, r, After, Shutdown, o.step("after"))
	done := runAsync(r)
	r.CallWhenRunning(func() { r.Stop() })
	waitRun(t, done)
	if got := o.get(); got != "before after" {
		t.Fatalf("events %q, want the after trigger to run once the deadline passed", got)
	}
}

func TestAPanickingOrFailingTriggerIsLoggedAndTheOthersStillRun(t *testing.T) {
	var logs syncBuffer
	r := newQuietReactor(t, WithLoops(1), WithLogger(zerolog.New(&logs)))
	var o order
	mustAdd(t, r, Before, Shutdown, func() *deferred.Deferred[struct{}] { panic("trigger on fire") })
	mustAdd(t, r, Before, Shutdown, func() *deferred.Deferred[struct{}] {
		return deferred.Fail[struct{}](errors.New("trigger failed politely"))
	})
	mustAdd(t, r, Before, Shutdown, o.step("before"))
	mustAdd(t, r, During, Shutdown, func() *deferred.Deferred[struct{}] { panic("during on fire") })
	mustAdd(t, r, After, Shutdown, o.step("after"))
	done := runAsync(r)
	r.CallWhenRunning(func() { r.Stop() })
	waitRun(t, done)
	if got := o.get(); got != "before after" {
		t.Fatalf("events %q, want every trigger that did not fail to run", got)
	}
	for _, want := range []string{"trigger on fire", "trigger failed politely", "during on fire"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestRemovedTriggerDoesNotRunAndBadTriggersAreRefused(t *testing.T) {
	r := newQuietReactor(t, WithLoops(1))
	var o order
	id := mustAdd(t, r, Before, Shutdown, o.step("removed"))
	mustAdd(t, r, Before, Shutdown, o.step("kept"))
	if err := r.RemoveSystemEventTrigger(id); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveSystemEventTrigger(id); !errors.Is(err, ErrUnknownTrigger) {
		t.Fatalf("second removal: %v, want ErrUnknownTrigger", err)
	}
	for _, bad := range []struct {
		phase Phase
		event Event
		fn    func() *deferred.Deferred[struct{}]
	}{
		{Phase(7), Shutdown, o.step("x")},
		{Before, Event(-1), o.step("x")},
		{Before, Shutdown, nil},
	} {
		if _, err := r.AddSystemEventTrigger(bad.phase, bad.event, bad.fn); !errors.Is(err, ErrBadTrigger) {
			t.Errorf("AddSystemEventTrigger(%v, %v): %v, want ErrBadTrigger", bad.phase, bad.event, err)
		}
	}
	done := runAsync(r)
	r.CallWhenRunning(func() { r.Stop() })
	waitRun(t, done)
	if got := o.get(); got != "kept" {
		t.Fatalf("events %q, want only the kept trigger", got)
	}
}

func TestATriggerAddedDuringItsPhaseRunsInThatPhase(t *testing.T) {
	r := newQuietReactor(t, WithLoops(1))
	var o order
	mustAdd(t, r, Before, Shutdown, func() *deferred.Deferred[struct{}] {
		o.add("first")
		mustAdd(t, r, Before, Shutdown, o.step("added"))
		return nil
	})
	mustAdd(t, r, During, Shutdown, o.step("during"))
	done := runAsync(r)
	r.CallWhenRunning(func() { r.Stop() })
	waitRun(t, done)
	if got := o.get(); got != "first added during" {
		t.Fatalf("events %q", got)
	}
}
