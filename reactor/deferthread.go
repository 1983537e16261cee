package reactor

import (
	"runtime/debug"
	"sync/atomic"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// DeferToThread runs fn on the reactor's worker pool and returns a Deferred
// that fires with fn's result on lp, the loop that asked, never on the
// worker: Twisted's deferToThread. It is the way to call blocking code (a
// database driver, a file system, a slow library) without stalling the
// loop.
//
// Call it on lp (from a Protocol callback, a timer or a Deferred step
// running there), or before the reactor runs: the Deferred belongs to lp
// and is not goroutine-safe. No job runs before Run: one submitted earlier
// waits in the queue and starts when Run starts the pool. lp must be one of a Reactor's loops, such as a
// Transport's Loop() or an element of Reactor.Loops; any other Loop gives a
// Deferred already failed with ErrNotReactorLoop.
//
// The loop never waits for the pool. When every worker is busy and the
// queue is full the Deferred has already failed with ErrPoolFull when
// DeferToThread returns, and once the reactor is stopping with
// ErrReactorStopping. A panic in fn fails the Deferred with a
// *deferred.PanicError (errors.Is(err, deferred.ErrPanic)) carrying the
// worker's stack. Cancelling the Deferred before a worker picked the job up
// means fn never runs; once it runs it is not interrupted and its result
// is dropped.
//
// A nil fn gives a Deferred failed with deferred.ErrNilFunc.
func DeferToThread[T any](lp protocol.Loop, fn func() (T, error)) *deferred.Deferred[T] {
	l, ok := lp.(*loop)
	if !ok || l == nil {
		return deferred.FailForCaller[T](ErrNotReactorLoop)
	}
	if fn == nil {
		return deferred.FailForCaller[T](deferred.ErrNilFunc)
	}
	j := &threadJob[T]{loop: l, fn: fn}
	j.d = deferred.NewForCaller(func(*deferred.Deferred[T]) { j.cancelled.Store(true) })
	if err := l.r.pool.submit(j); err != nil {
		j.d.Errback(err)
	} else {
		l.readied()
	}
	return j.d
}

// CallInThread runs fn on the worker pool and forgets it: Twisted's
// callInThread. It is safe from any goroutine; before Run, fn waits for Run
// to start the pool. A panic in fn is logged
// with its stack. It returns ErrPoolFull when every worker is busy and the
// queue is full and ErrReactorStopping once the reactor is stopping; a job
// still queued when the reactor stops is dropped.
func (r *Reactor) CallInThread(fn func()) error {
	if fn == nil {
		return deferred.ErrNilFunc
	}
	return r.pool.submit(&funcJob{r: r, fn: fn})
}

// PoolStats returns a snapshot of the worker pool's counters.
func (r *Reactor) PoolStats() PoolStats { return r.pool.stats() }

// threadJob is a DeferToThread call: it runs fn on a worker and fires d on
// loop.
type threadJob[T any] struct {
	loop      *loop
	fn        func() (T, error)
	d         *deferred.Deferred[T]
	cancelled atomic.Bool
	started   bool // run called fn: deliver sends the result
	value     T
	err       error
}

func (j *threadJob[T]) run() {
	if j.cancelled.Load() {
		return
	}
	j.started = true
	j.err = ErrJobExited // stays if fn ends the goroutine with Goexit
	j.value, j.err = callJob(j.fn)
}

// deliver sends the result back, also when fn panicked or called Goexit.
func (j *threadJob[T]) deliver() {
	if j.started {
		j.loop.CallFromThread(j.fire)
	}
}

// fire runs on the asking loop. A Deferred cancelled meanwhile has already
// failed and ignores the late result.
func (j *threadJob[T]) fire() {
	if j.err != nil {
		j.d.Errback(j.err)
		return
	}
	j.d.Callback(j.value)
}

func (j *threadJob[T]) reject(err error) {
	j.err = err
	j.loop.CallFromThread(j.fire)
}

// callJob calls fn, turning a panic into a *deferred.PanicError.
func callJob[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = &deferred.PanicError{Value: x, Stack: debug.Stack()}
		}
	}()
	return fn()
}

// funcJob is a CallInThread call.
type funcJob struct {
	r  *Reactor
	fn func()
}

func (j *funcJob) run() {
	defer func() {
		if x := recover(); x != nil {
			logPanic(j.r.cfg.logger.Error(), x).Bytes("stack", debug.Stack()).
				Msg("CallInThread function panicked")
		}
	}()
	j.fn()
}

func (j *funcJob) reject(error) {}

func (j *funcJob) deliver() {}
