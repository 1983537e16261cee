package deferred

import (
	"context"
	"runtime"
	"sync/atomic"
)

// awaiter is shared by the goroutines blocked in Await on one Deferred.
// The loop writes v and err, then closes done.
type awaiter[T any] struct {
	done chan struct{}
	v    T
	err  error
	// n counts the goroutines still waiting; an error delivered while n is
	// zero was seen by nobody and stays reportable as unhandled.
	n atomic.Int32
}

// Await blocks until the Deferred has fired and its chain is at rest (not
// waiting on another Deferred), then returns the result at the end of the
// chain; or until ctx is done, then returns ctx.Err(). An error Await
// returns counts as handled. A nil ctx means context.Background().
//
// Await is for goroutines outside any reactor, and it is safe to call while
// the Deferred is chained and fired on its loop. It must not be called on
// the loop that fires the Deferred: that loop would block waiting for
// itself.
func (d *Deferred[T]) Await(ctx context.Context) (T, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	s := d.lock()
	if s&syncRunning == 0 && d.called && !d.waiting {
		v, err := d.result, d.err
		if err != nil && d.fail != nil {
			d.untrackFailure()
		}
		d.sync.Store(s)
		return v, err
	}
	var a *awaiter[T]
	if s&syncWaiting != 0 {
		a = d.aw.Load()
	} else {
		a = &awaiter[T]{done: make(chan struct{})}
		d.aw.Store(a)
	}
	a.n.Add(1)
	// Nobody else changes sync while syncLock is held.
	d.sync.Store(s | syncWaiting)

	select {
	case <-a.done:
		return a.v, a.err
	case <-ctx.Done():
		a.n.Add(-1)
		// The loop closes done before it reads n: if it counted us, done is
		// already closed here and we must return what it delivered.
		select {
		case <-a.done:
			return a.v, a.err
		default:
		}
		var zero T
		return zero, ctx.Err()
	}
}

// lock takes syncLock and returns the other bits, as they stay until the
// lock is released by storing them back.
func (d *Deferred[T]) lock() uint32 {
	for {
		s := d.sync.Load()
		if s&syncLock == 0 && d.sync.CompareAndSwap(s, s|syncLock) {
			return s
		}
		runtime.Gosched()
	}
}

// deliver hands the settled result to the registered awaiter. It runs on
// the loop with syncRunning held, and reports whether an error reached a
// goroutine that was still waiting.
func (d *Deferred[T]) deliver() bool {
	a := d.aw.Load()
	a.v, a.err = d.result, d.err
	close(a.done)
	return a.err != nil && a.n.Load() > 0
}
