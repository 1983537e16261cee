package reactor

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

const (
	stateNew int32 = iota
	stateRunning
	stateStopping
	stateStopped
)

// Reactor owns the event loops, their sockets and their clocks. Create one
// with New, set up listeners and calls, then Run it.
type Reactor struct {
	cfg        config
	loops      []*loop
	state      atomic.Int32
	nextConnID atomic.Uint64

	mu        sync.Mutex
	listeners map[*Listener]struct{}
	factories map[protocol.Factory]int
	whenRun   []func()
}

// New creates a reactor and its loops. Nothing runs until Run.
func New(opts ...Option) (*Reactor, error) {
	r := &Reactor{
		cfg:       defaultConfig(),
		listeners: make(map[*Listener]struct{}),
		factories: make(map[protocol.Factory]int),
	}
	for _, o := range opts {
		o(&r.cfg)
	}
	for i := 0; i < r.cfg.loops; i++ {
		l, err := newLoop(r, i)
		if err != nil {
			for _, l := range r.loops {
				l.poller.close()
			}
			return nil, err
		}
		r.loops = append(r.loops, l)
	}
	return r, nil
}

// Loops returns the reactor's loops; a connection's loop is also its
// Transport's Loop().
func (r *Reactor) Loops() []protocol.Loop {
	out := make([]protocol.Loop, len(r.loops))
	for i, l := range r.loops {
		out[i] = l
	}
	return out
}

// CallWhenRunning runs fn on loop 0 once Run has started (at once, on loop
// 0, if it already has).
func (r *Reactor) CallWhenRunning(fn func()) {
	r.mu.Lock()
	if r.state.Load() == stateNew {
		r.whenRun = append(r.whenRun, fn)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.loops[0].CallFromThread(fn)
}

// CallLater runs fn on loop 0 no earlier than d from now. Call it on loop 0
// or before Run; from other goroutines use CallFromThread.
func (r *Reactor) CallLater(d time.Duration, fn func()) timer.Handle {
	return r.loops[0].CallLater(d, fn)
}

// CallSoon runs fn on loop 0 after the current batch of I/O events. Call it
// on loop 0 or before Run.
func (r *Reactor) CallSoon(fn func()) { r.loops[0].CallSoon(fn) }

// CallFromThread runs fn on loop 0; safe from any goroutine, FIFO per
// sender.
func (r *Reactor) CallFromThread(fn func()) { r.loops[0].CallFromThread(fn) }

// Run runs the loops until Stop and returns once every loop has finished
// and every socket is closed. A reactor runs once: Run on a running one
// returns ErrAlreadyRunning and on a stopped one ErrStopped.
func (r *Reactor) Run() error {
	r.mu.Lock()
	if !r.state.CompareAndSwap(stateNew, stateRunning) {
		r.mu.Unlock()
		if r.state.Load() == stateRunning {
			return ErrAlreadyRunning
		}
		return ErrStopped
	}
	whenRun := r.whenRun
	r.whenRun = nil
	r.mu.Unlock()
	for _, fn := range whenRun {
		r.loops[0].CallFromThread(fn)
	}
	var wg sync.WaitGroup
	for _, l := range r.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run()
		}()
	}
	wg.Wait()
	r.cleanup()
	r.state.Store(stateStopped)
	return nil
}

// Stop shuts the reactor down gracefully: listeners stop accepting, every
// connection is asked to LoseConnection (so queued output is flushed), and
// what has not closed after the shutdown timeout is aborted. Stop returns
// at once; Run returns when the shutdown is complete. Stop on a reactor that
// is not running returns ErrNotRunning.
func (r *Reactor) Stop() error {
	if !r.state.CompareAndSwap(stateRunning, stateStopping) {
		return ErrNotRunning
	}
	deadline := time.Now().Add(r.cfg.shutdownTimeout)
	for _, l := range r.loops {
		l.CallFromThread(func() { l.beginShutdown(deadline) })
	}
	return nil
}

// cleanup releases what the loops left: listeners still backing off and the
// pollers.
func (r *Reactor) cleanup() {
	r.mu.Lock()
	var left []*Listener
	for ln := range r.listeners {
		left = append(left, ln)
	}
	r.mu.Unlock()
	for _, ln := range left {
		ln.closed.Store(true)
		ln.closeFD()
	}
	for _, l := range r.loops {
		if err := l.poller.close(); err != nil {
			l.log.Error().Err(err).Msg("closing poller")
		}
	}
}

func (r *Reactor) addListener(ln *Listener) {
	r.mu.Lock()
	r.listeners[ln] = struct{}{}
	r.mu.Unlock()
}

func (r *Reactor) removeListener(ln *Listener) {
	r.mu.Lock()
	delete(r.listeners, ln)
	r.mu.Unlock()
}

// factoryStarted and factoryStopped reference-count a factory across the
// listeners and connectors using it (Twisted's doStart/doStop).
func (r *Reactor) factoryStarted(f protocol.Factory) {
	s, ok := f.(protocol.Starter)
	if !ok || !reflect.TypeOf(f).Comparable() {
		return
	}
	r.mu.Lock()
	r.factories[f]++
	first := r.factories[f] == 1
	r.mu.Unlock()
	if first {
		s.StartFactory()
	}
}

func (r *Reactor) factoryStopped(f protocol.Factory) {
	s, ok := f.(protocol.Starter)
	if !ok || !reflect.TypeOf(f).Comparable() {
		return
	}
	r.mu.Lock()
	r.factories[f]--
	last := r.factories[f] == 0
	if last {
		delete(r.factories, f)
	}
	r.mu.Unlock()
	if last {
		s.StopFactory()
	}
}

// shutdownState is a loop's part of a graceful stop.
type shutdownState struct {
	deadline time.Time
	aborted  bool
}

// beginShutdown stops accepting on this loop and asks every connection to
// close after flushing.
func (l *loop) beginShutdown(deadline time.Time) {
	l.shutdown = &shutdownState{deadline: deadline}
	for _, ln := range l.listeners {
		l.detach(ln)
	}
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		if c.flags&fConnecting != 0 {
			l.failDial(c, ErrReactorStopping)
			continue
		}
		c.LoseConnection()
	}
	l.CallLater(time.Until(deadline), func() {
		l.shutdown.aborted = true
		for _, c := range l.conns {
			if c != nil {
				l.abort(c, errors.Join(protocol.ErrAborted, ErrReactorStopping))
			}
		}
	})
}

// finishShutdown reports whether this loop has nothing left to do.
func (l *loop) finishShutdown() bool {
	if l.nconns > 0 || l.queue.pending() || len(l.dirty) > 0 {
		return false
	}
	// Run the calls already due (such as the ConnectionLost calls that
	// aborts scheduled) before stopping.
	if when, ok := l.wheel.NextDeadline(); ok && !when.After(time.Now()) {
		return false
	}
	return true
}
