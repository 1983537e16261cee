package reactor

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mustaine/mustaine/deferred"
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
	pool       *pool
	stopCh     chan struct{} // closed by Stop
	stopByTime time.Time     // the shutdown deadline, set before stopCh closes

	mu        sync.Mutex
	listeners map[*Listener]struct{}
	factories map[protocol.Factory]int
	triggers  triggers
	// running is Running: set (under mu) as the Startup During phase
	// begins, cleared as the Shutdown During phase begins.
	running atomic.Bool

	handshakes handshakeLimiter // bounds concurrent TLS handshakes (tls.go)
	upgrade    upgradeState     // Upgrade (upgrade.go)
	notifier   serviceNotifier  // systemd notifications (sdnotify.go)
}

// New creates a reactor and its loops. Nothing runs until Run.
func New(opts ...Option) (*Reactor, error) {
	r := &Reactor{
		cfg:       defaultConfig(),
		listeners: make(map[*Listener]struct{}),
		factories: make(map[protocol.Factory]int),
		stopCh:    make(chan struct{}),
	}
	for _, o := range opts {
		o(&r.cfg)
	}
	chooseBackend(&r.cfg)
	r.pool = newPool(r.cfg.workers, r.cfg.workQueue)
	initRuntimePoller.Do(startRuntimePoller)
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

// CallWhenRunning runs fn on loop 0 once the reactor is running, as
// Twisted's callWhenRunning does. Until Running reports true (before Run,
// and while the Before Startup triggers run or their Deferreds are pending)
// it is an After Startup trigger. Once the reactor is running, a call made
// on loop 0 calls fn at once, before CallWhenRunning returns; a call from
// any other goroutine queues fn on loop 0 (as CallFromThread), and so does
// a call after the shutdown began, which runs fn only if loop 0 still does.
// It is safe from any goroutine.
func (r *Reactor) CallWhenRunning(fn func()) {
	r.mu.Lock()
	if r.state.Load() <= stateRunning && !r.running.Load() {
		r.triggers.next++
		list := &r.triggers.pending[Startup][After]
		*list = append(*list, trigger{id: r.triggers.next, fn: func() *deferred.Deferred[struct{}] {
			fn()
			return nil
		}})
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	if l0 := r.loops[0]; r.running.Load() && l0.onLoop() {
		fn()
		return
	}
	r.loops[0].CallFromThread(fn)
}

// Running reports whether the reactor is running, Twisted's
// reactor.running: true from the Startup event's During phase (once the
// Before Startup triggers' Deferreds have fired) until the Shutdown event's
// During phase (after the Before Shutdown triggers). It is safe from any
// goroutine.
func (r *Reactor) Running() bool { return r.running.Load() }

// CallLater runs fn on loop 0 no earlier than d from now. Call it on loop 0
// or before Run; from other goroutines use CallFromThread.
func (r *Reactor) CallLater(d time.Duration, fn func()) timer.Handle {
	return r.loops[0].CallLater(d, fn)
}

// Now is loop 0's clock (see the loops' Now). With CallLater it makes a
// Reactor a timer.Scheduler, and with ConnectTCP a protocol.Connector, so
// a protocol.ReconnectingClientFactory can be started on the Reactor
// itself (from loop 0).
func (r *Reactor) Now() time.Time { return r.loops[0].Now() }

// CallSoon runs fn on loop 0 after the current batch of I/O events. Call it
// on loop 0 or before Run.
func (r *Reactor) CallSoon(fn func()) { r.loops[0].CallSoon(fn) }

// CallFromThread runs fn on loop 0; safe from any goroutine, FIFO per
// sender.
func (r *Reactor) CallFromThread(fn func()) { r.loops[0].CallFromThread(fn) }

// Run runs the loops until Stop and returns once the shutdown is complete:
// every connection and listener closed, the Shutdown triggers run, no loop
// or worker goroutine left (except a pool job still running at the
// deadline, which cannot be interrupted; its result is dropped). A reactor
// runs once: Run on a running one returns ErrAlreadyRunning and on a
// stopped one ErrStopped.
//
// A loop whose poller fails (an io_uring ring that became unusable:
// ErrRingFailed) cannot go on: it logs the error once, closes its
// connections with it (ConnectionLost gets protocol.ErrAborted joined
// with it) and stops the reactor, and Run returns the error, naming the
// loop, after the other loops' graceful shutdown.
//
// Unless WithSignalHandling(false) was given, Run catches SIGINT and
// SIGTERM while it runs: the first one calls Stop (logged at info level),
// and a second one, or one that arrives after Stop, stops at once:
// connections are aborted without waiting for their output, and the
// Deferreds of Before Shutdown triggers and running pool jobs are no
// longer waited for.
func (r *Reactor) Run() error {
	r.mu.Lock()
	if !r.state.CompareAndSwap(stateNew, stateRunning) {
		r.mu.Unlock()
		if r.state.Load() == stateRunning {
			return ErrAlreadyRunning
		}
		return ErrStopped
	}
	r.mu.Unlock()
	sigs, stopSignals := r.notifySignals()
	defer stopSignals()
	defer r.watchUpgrades()()
	r.notifier.init(r)
	upgraded := startedByUpgrade()
	var watchdog sync.WaitGroup
	watchdogStop := make(chan struct{})
	defer watchdog.Wait()
	defer close(watchdogStop)
	r.AddSystemEventTrigger(After, Startup, func() *deferred.Deferred[struct{}] {
		r.notifier.ready(r, upgraded)
		watchdog.Go(func() { r.notifier.runWatchdog(r, watchdogStop) })
		return nil
	})

	l0 := r.loops[0]
	l0.CallFromThread(func() {
		r.fireBefore(l0, Startup, func() { r.fireRest(l0, Startup) })
	})
	// Jobs queued before Run start now, not earlier, and before the loops
	// run: once Running reports true (from a loop's Startup triggers) the
	// pool has started, so a job submitted then gets a worker at once.
	r.pool.start()
	var wg sync.WaitGroup
	for _, l := range r.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run()
		}()
	}
	loopsDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(loopsDone)
	}()

	select {
	case <-r.stopCh:
		r.shutdown(sigs)
	case sig := <-sigs:
		r.cfg.logger.Info().Stringer("signal", sig).Msgf("received %v; shutting down", sig)
		r.Stop()
		<-r.stopCh // also when a Stop call won the race, once it set the deadline
		r.shutdown(sigs)
	case <-loopsDone:
		// Every loop failed on its own; there is nothing left to stop.
		r.state.Store(stateStopping)
		r.pool.close()
	}
	<-loopsDone
	r.mu.Lock()
	r.running.Store(false) // also when loop 0 failed before the triggers ran
	r.mu.Unlock()
	r.cleanup()
	r.state.Store(stateStopped)
	var failed []error
	for _, l := range r.loops {
		if l.failed != nil {
			failed = append(failed, l.failed)
		}
	}
	return errors.Join(failed...)
}

// Stop shuts the reactor down gracefully and returns at once; Run returns
// when the shutdown is complete. The steps, all bounded by one deadline
// WithShutdownTimeout after Stop:
//
//  1. listeners stop accepting (new ListenTCP and ConnectTCP calls are
//     refused with ErrReactorStopping from now on);
//  2. the Before Shutdown triggers run, and the reactor waits for the
//     Deferreds they returned (pool jobs may still be queued meanwhile);
//  3. UDP ports are closed (one last send of their queues, then
//     StopProtocol), and every connection is asked to finish: Drain when
//     its protocol is a protocol.Drainer (an HTTP connection answers the
//     request in flight, then closes), otherwise LoseConnection, so its
//     queued output is flushed before it closes. Meanwhile the worker pool keeps running,
//     queued jobs included, because a draining connection may be waiting
//     for one of them (an HTTP response answered from the pool). At the
//     deadline what is left is aborted, and each such connection is logged
//     at warn level;
//  4. once every loop has drained (or the deadline passed) the pool stops:
//     jobs still queued fail with ErrReactorStopping (their Deferreds
//     errback on their loops), and running jobs are waited for until the
//     deadline, their results delivered on their loops;
//  5. the During and then the After Shutdown triggers run (Running reports
//     false from here on);
//  6. the loops run what other goroutines queued for them with
//     CallFromThread, until the deadline (a call that keeps queuing itself
//     is dropped then), exit, and Run returns.
//
// Stop on a reactor that is not running returns ErrNotRunning.
func (r *Reactor) Stop() error {
	if !r.state.CompareAndSwap(stateRunning, stateStopping) {
		return ErrNotRunning
	}
	r.stopByTime = time.Now().Add(r.cfg.shutdownTimeout)
	close(r.stopCh)
	return nil
}

// stopper carries out a shutdown on Run's goroutine.
type stopper struct {
	r        *Reactor
	sigs     <-chan os.Signal
	deadline *time.Timer
	expired  bool // the deadline passed: waits no longer block
	forced   bool // a second signal: waits no longer block
	drained  []chan struct{}
}

// shutdown carries out the steps listed on Stop.
func (r *Reactor) shutdown(sigs <-chan os.Signal) {
	r.notifier.stopping(r)
	s := &stopper{r: r, sigs: sigs, deadline: time.NewTimer(time.Until(r.stopByTime))}
	defer s.deadline.Stop()
	l0 := r.loops[0]
	for _, l := range r.loops {
		s.drained = append(s.drained, make(chan struct{}))
		l.CallFromThread(l.stopAccepting)
	}

	before := make(chan struct{})
	l0.CallFromThread(func() { r.fireBefore(l0, Shutdown, func() { close(before) }) })
	s.wait(before, l0.done)

	// The pool runs on while the connections drain: a response being
	// finished may wait for a job, queued or running.
	for i, l := range r.loops {
		l.CallFromThread(func() { l.beginShutdown(r.stopByTime, s.drained[i]) })
	}
	for i, l := range r.loops {
		s.wait(s.drained[i], l.done)
	}
	r.pool.close()
	s.wait(r.pool.finished, nil)

	rest := make(chan struct{})
	l0.CallFromThread(func() {
		r.fireRest(l0, Shutdown)
		close(rest)
	})
	// The triggers run to the end whatever happens: nothing to hurry.
	select {
	case <-rest:
	case <-l0.done:
	}
	for _, l := range r.loops {
		l.CallFromThread(l.exitShutdown)
	}
}

// wait waits for a or b to close, for the deadline, or for a second
// signal, and reports whether a or b closed. Once the deadline has passed
// or the stop was forced it only looks.
func (s *stopper) wait(a, b <-chan struct{}) bool {
	for {
		if s.expired || s.forced {
			select {
			case <-a:
				return true
			case <-b:
				return true
			default:
				return false
			}
		}
		select {
		case <-a:
			return true
		case <-b:
			return true
		case <-s.deadline.C:
			s.expired = true
		case sig := <-s.sigs:
			s.r.cfg.logger.Warn().Stringer("signal", sig).
				Msgf("received %v during shutdown; stopping now", sig)
			s.force()
		}
	}
}

// force stops at once: the pool takes no more jobs and every connection is
// aborted.
func (s *stopper) force() {
	s.forced = true
	s.r.pool.close()
	for i, l := range s.r.loops {
		l.CallFromThread(func() {
			l.beginShutdown(time.Now(), s.drained[i])
			l.abortConns()
		})
	}
}

// cleanup releases what the loops left: listeners still backing off, the
// pollers, and the calls that can no longer run (queued or timed).
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
		// A reactor runs once: calls still waiting would never run, and
		// a Reactor kept referenced must not keep their closures alive.
		l.queue.close()
		if n := l.wheel.CancelAll(); n > 0 {
			l.log.Debug().Int("calls", n).Msg("timed calls that never became due dropped")
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
	drained  chan struct{} // closed once the loop has no connection left
	exit     bool          // Run's shutdown is done: the loop may return
}

// stopAccepting stops watching every listener on this loop.
func (l *loop) stopAccepting() {
	for _, ln := range l.listeners {
		l.detach(ln)
	}
}

// beginShutdown asks every connection to finish (drain) and aborts what
// is left at the deadline. It runs once per loop.
func (l *loop) beginShutdown(deadline time.Time, drained chan struct{}) {
	if l.shutdown != nil {
		return
	}
	l.shutdown = &shutdownState{deadline: deadline, drained: drained}
	l.stopAccepting()
	// Connects still looking their host name up fail now rather than
	// keep a worker, and so the shutdown, waiting for the resolver.
	for ds := range l.lookups {
		l.dialFailed(ds, ErrReactorStopping)
	}
	l.closeUDPPorts()
	l.closeEach(l.drain)
	l.CallLater(time.Until(deadline), l.abortLeft)
}

// drain asks c to finish and close: with its protocol's Drain when it is a
// protocol.Drainer, else with LoseConnection (flush, then close).
func (l *loop) drain(c *conn) {
	if d, ok := c.proto.(protocol.Drainer); ok && c.flags&(fClosed|fClosing) == 0 {
		l.guard(c, d.Drain)
		return
	}
	c.LoseConnection()
}

// abortLeft aborts the connections still open when the shutdown deadline
// passes (or the shutdown ends), logging each: they did not finish in
// time.
func (l *loop) abortLeft() {
	l.closeEach(func(c *conn) {
		l.connLog(c, l.log.Warn()).Dur("shutdown_timeout", l.r.cfg.shutdownTimeout).
			Msg("shutdown deadline passed; aborting connection still open")
		l.abort(c, errAbortedStopping)
	})
}

// closeEach applies closeConn to every established connection on this
// loop; connects still in progress fail with ErrReactorStopping.
func (l *loop) closeEach(closeConn func(c *conn)) {
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		if c.flags&fConnecting != 0 {
			l.failDial(c, ErrReactorStopping)
			continue
		}
		closeConn(c)
	}
}

// fail stops the loop, which cannot go on (its poller failed): it logs
// why once, closes its listeners and UDP ports, fails its lookups, closes
// every connection with the error (wrapped in protocol.ErrAborted) and
// stops the reactor, whose Run returns the error once the other loops have
// drained.
func (l *loop) fail(msg string, err error) {
	l.log.Error().Err(err).Msg(msg)
	l.failed = fmt.Errorf("loop %d: %w", l.index, err)
	l.stopAccepting()
	for ds := range l.lookups {
		l.dialFailed(ds, err)
	}
	l.closeUDPPorts()
	l.abortAll(err)
	l.r.Stop()
}

// abortConns aborts every connection left on this loop.
func (l *loop) abortConns() {
	l.closeEach(func(c *conn) { l.abort(c, errAbortedStopping) })
}

// exitShutdown lets the loop return once its last calls have run; a
// connection made after the loop drained (by a trigger, say) is aborted.
func (l *loop) exitShutdown() {
	l.beginShutdown(time.Now(), nil)
	l.shutdown.exit = true
	l.abortLeft()
}

// finishShutdown reports whether this loop has nothing left to do.
func (l *loop) finishShutdown() bool {
	s := l.shutdown
	if l.nconns > 0 || len(l.dirty) > 0 {
		return false
	}
	// Run the calls already due (such as the ConnectionLost calls that
	// aborts scheduled) before reporting drained or stopping.
	if when, ok := l.wheel.NextDeadline(); ok && !when.After(time.Now()) {
		return false
	}
	if s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	// Calls sent from other goroutines run first, but only until the
	// deadline: one that keeps queuing itself must not hold Run back.
	return s.exit && (!l.queue.pending() || !time.Now().Before(s.deadline))
}
