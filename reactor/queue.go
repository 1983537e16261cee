package reactor

import (
	"sync"
	"sync/atomic"
)

// threadQueue carries functions from any goroutine to one loop. Senders take
// a short mutex; the loop swaps the whole batch out at once, so the lock is
// held for an append or a slice swap, never while user code runs.
type threadQueue struct {
	mu    sync.Mutex
	items []func()
	spare []func()
	n     atomic.Int32 // len(items), readable without the lock
	// closed is set once the loop has returned: nothing would ever run a
	// call pushed then, so push drops it rather than keep its closure
	// (and what it captured) for as long as the reactor is referenced.
	closed bool
}

// push appends fn; once the queue is closed it drops it.
func (q *threadQueue) push(fn func()) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, fn)
	q.n.Store(int32(len(q.items)))
	q.mu.Unlock()
}

// pending reports whether anything is queued.
func (q *threadQueue) pending() bool { return q.n.Load() != 0 }

// take returns the queued batch; the caller gives it back with recycle.
func (q *threadQueue) take() []func() {
	q.mu.Lock()
	batch := q.items
	q.items = q.spare[:0]
	q.spare = nil
	q.n.Store(0)
	q.mu.Unlock()
	return batch
}

// recycle returns a processed batch's backing array, dropping the closures
// it held so they can be collected.
func (q *threadQueue) recycle(batch []func()) {
	clear(batch)
	q.mu.Lock()
	if q.spare == nil {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

// close drops what is queued and every later push (see closed); it is
// called once the loop has returned.
func (q *threadQueue) close() {
	q.mu.Lock()
	q.closed = true
	clear(q.items)
	q.items, q.spare = nil, nil
	q.n.Store(0)
	q.mu.Unlock()
}
