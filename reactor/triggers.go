package reactor

import (
	"errors"
	"fmt"

	"github.com/mustaine/mustaine/deferred"
)

// Phase is when a system event trigger runs relative to its event.
type Phase int

// Phases of a system event, in the order they run.
const (
	// Before triggers run first; any that return a Deferred hold the
	// During phase back until it fires.
	Before Phase = iota
	// During triggers run once every Before Deferred has fired.
	During
	// After triggers run right after the During ones.
	After
)

// String names the phase: "before", "during" or "after".
func (p Phase) String() string {
	switch p {
	case Before:
		return "before"
	case During:
		return "during"
	case After:
		return "after"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Event is a reactor lifecycle event that triggers can be attached to.
type Event int

// System events.
const (
	// Startup fires once, when Run starts the loops.
	Startup Event = iota
	// Shutdown fires once, when Stop (or a signal) begins the shutdown.
	Shutdown
)

// String names the event: "startup" or "shutdown".
func (e Event) String() string {
	switch e {
	case Startup:
		return "startup"
	case Shutdown:
		return "shutdown"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// TriggerID identifies a trigger for RemoveSystemEventTrigger.
type TriggerID uint64

// Trigger errors. Match them with errors.Is.
var (
	// ErrBadTrigger: an unknown phase or event, or a nil function.
	ErrBadTrigger = errors.New("mustaine: bad system event trigger")
	// ErrUnknownTrigger: the trigger was removed, has already run, or was
	// never added.
	ErrUnknownTrigger = errors.New("mustaine: unknown system event trigger")
)

type trigger struct {
	id TriggerID
	fn func() *deferred.Deferred[struct{}]
}

// triggers holds the pending triggers of each event and phase; guarded by
// the reactor's mu.
type triggers struct {
	next    TriggerID
	pending [2][3][]trigger // [event][phase]
}

// AddSystemEventTrigger registers fn to run in phase of event, as Twisted's
// addSystemEventTrigger does, and returns an ID for
// RemoveSystemEventTrigger. It is safe from any goroutine.
//
// Triggers run on loop 0, in the order they were added within a phase. For
// Startup they run as Run starts; for Shutdown the order is: listeners stop
// accepting, the Before triggers run (a Deferred one of them returns delays
// everything that follows until it fires, bounded by WithShutdownTimeout),
// connections are closed and running pool jobs finish, then the During and
// After triggers run, then Run returns. A trigger that returns a Deferred
// must fire it on loop 0 (from another goroutine, through
// Reactor.CallFromThread); a nil Deferred means it is done. A Deferred
// returned by a During or After trigger is not waited for, and an error it
// ends with is logged.
//
// A trigger that panics, or whose Deferred fails, is logged and the others
// still run. Each trigger runs at most once: one added to a phase that has
// already run never runs. An unknown phase or event, or a nil fn, returns
// ErrBadTrigger.
func (r *Reactor) AddSystemEventTrigger(phase Phase, event Event, fn func() *deferred.Deferred[struct{}]) (TriggerID, error) {
	if phase < Before || phase > After || event < Startup || event > Shutdown || fn == nil {
		return 0, fmt.Errorf("%w: phase %v, event %v, nil function %t", ErrBadTrigger, phase, event, fn == nil)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.triggers.next++
	id := r.triggers.next
	list := &r.triggers.pending[event][phase]
	*list = append(*list, trigger{id: id, fn: fn})
	return id, nil
}

// RemoveSystemEventTrigger removes a trigger that has not run yet; it
// returns ErrUnknownTrigger otherwise. It is safe from any goroutine.
func (r *Reactor) RemoveSystemEventTrigger(id TriggerID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for e := range r.triggers.pending {
		for p := range r.triggers.pending[e] {
			list := &r.triggers.pending[e][p]
			for i, t := range *list {
				if t.id == id {
					*list = append((*list)[:i], (*list)[i+1:]...)
					return nil
				}
			}
		}
	}
	return ErrUnknownTrigger
}

// popTrigger takes the next trigger of a phase. Taking them one at a time
// lets a running trigger add or remove others in its own phase.
func (r *Reactor) popTrigger(event Event, phase Phase) (trigger, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := &r.triggers.pending[event][phase]
	if len(*list) == 0 {
		return trigger{}, false
	}
	t := (*list)[0]
	(*list)[0] = trigger{}
	*list = (*list)[1:]
	return t, true
}

// fireBefore runs event's Before triggers on l (loop 0) and calls then once
// every Deferred they returned has fired.
func (r *Reactor) fireBefore(l *loop, event Event, then func()) {
	waiting := 0
	allDone := false
	for {
		t, ok := r.popTrigger(event, Before)
		if !ok {
			break
		}
		d := l.callTrigger(t)
		if d == nil {
			continue
		}
		waiting++
		d.AddBoth(func(_ struct{}, err error) (struct{}, error) {
			if err != nil {
				logErr(l.log.Error(), err).Stringer("event", event).Msg("before trigger failed")
			}
			waiting--
			if waiting == 0 && allDone {
				then()
			}
			return struct{}{}, nil
		})
	}
	allDone = true
	if waiting == 0 {
		then()
	}
}

// fireRest runs event's During and After triggers on l (loop 0).
func (r *Reactor) fireRest(l *loop, event Event) {
	r.mu.Lock()
	// A Stop made while the Startup Before triggers were pending keeps the
	// reactor from ever counting as running.
	r.running.Store(event == Startup && r.state.Load() == stateRunning)
	r.mu.Unlock()
	for _, phase := range []Phase{During, After} {
		for {
			t, ok := r.popTrigger(event, phase)
			if !ok {
				break
			}
			if d := l.callTrigger(t); d != nil {
				d.AddErrback(func(err error) (struct{}, error) {
					logErr(l.log.Error(), err).Stringer("event", event).Stringer("phase", phase).
						Msg("trigger failed")
					return struct{}{}, nil
				})
			}
		}
	}
}

// callTrigger runs one trigger; a panic is logged and counts as done.
func (l *loop) callTrigger(t trigger) (d *deferred.Deferred[struct{}]) {
	defer func() {
		if v := recover(); v != nil {
			l.panicked(nil, v)
			d = nil
		}
	}()
	return t.fn()
}
