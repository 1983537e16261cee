package reactor

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Pool defaults. Twisted's reactor pool has 10 threads and an unbounded
// queue; libuv's has 4 threads. Jobs sent to a pool are mostly blocking I/O
// (a database driver, DNS, a file), not CPU work, so the number of workers
// is a bound on how much of that runs at once rather than a match for the
// cores: we keep Twisted's 10, which is what code ported from Twisted was
// tuned against. The queue is bounded (an unbounded one lets a flood of
// requests grow memory and latency without limit and hides the overload);
// 1024 slots absorb a burst of one job per connection from a thousand
// connections, and beyond that the caller hears ErrPoolFull at once.
const (
	defaultWorkers   = 10
	defaultWorkQueue = 1024
	// workerIdleTimeout is how long a worker waits for a job before it
	// exits; the next job starts a new one.
	workerIdleTimeout = 5 * time.Second
)

// Pool errors. Match them with errors.Is.
var (
	// ErrPoolFull: every worker is busy and the work queue is full; the job
	// was not queued. The caller is never blocked.
	ErrPoolFull = errors.New("mustaine: worker pool queue is full")
	// ErrNotReactorLoop: DeferToThread was given a protocol.Loop that is not
	// one of a Reactor's loops (a test fake, say).
	ErrNotReactorLoop = errors.New("mustaine: loop does not belong to a reactor")
	// ErrJobExited: the job called runtime.Goexit instead of returning.
	ErrJobExited = errors.New("mustaine: thread job called runtime.Goexit")
)

// PoolStats is a snapshot of the worker pool.
type PoolStats struct {
	// Workers is the number of worker goroutines alive (started on demand,
	// up to WithWorkers; an idle one exits after a few seconds).
	Workers int
	// Running is the number of jobs running now.
	Running int
	// Queued is the number of jobs waiting for a worker.
	Queued int
	// Rejected counts the jobs refused with ErrPoolFull.
	Rejected uint64
	// Completed counts the jobs that ran to the end (a job that panicked
	// counts: its error was delivered).
	Completed uint64
}

// job is one unit of work for the pool.
type job interface {
	// run does the work on a worker; it must not panic.
	run()
	// deliver sends the result to the caller. The pool calls it after run
	// (also when run ends its goroutine with runtime.Goexit) and after it
	// has counted the job done, so stats read once the result arrived are
	// up to date.
	deliver()
	// reject tells the caller the job will not run (the reactor stopped
	// while it was queued).
	reject(err error)
}

// pool is a bounded set of worker goroutines fed by a bounded channel.
// Submitting never blocks: a job either goes straight to a new worker, into
// the queue, or is refused. Until start (Run) no worker runs: jobs wait in
// the queue, and start starts the workers they need.
//
// busy (jobs accepted and not finished) only grows under mu, so a decision
// made under mu never sees it too low: a stale, higher value at worst starts
// a worker that was not strictly needed, or keeps an idle one a little
// longer.
type pool struct {
	max       int
	queueSize int
	idle      time.Duration

	mu       sync.Mutex
	jobs     chan job // made by the first submit, then never changed
	alive    int      // worker goroutines
	started  bool     // Run started the pool: workers may run
	closed   bool
	quit     chan struct{} // closed by close: workers exit when idle
	finished chan struct{} // closed once closed and no worker is left

	busy      atomic.Int64
	running   atomic.Int64
	queued    atomic.Int64
	rejected  atomic.Uint64
	completed atomic.Uint64
}

func newPool(workers, queueSize int) *pool {
	return &pool{
		max:       workers,
		queueSize: queueSize,
		idle:      workerIdleTimeout,
		quit:      make(chan struct{}),
		finished:  make(chan struct{}),
	}
}

// submit hands j to the pool: ErrPoolFull if every worker is busy and the
// queue is full, ErrReactorStopping once the pool is closed.
func (p *pool) submit(j job) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrReactorStopping
	}
	if p.jobs == nil {
		// Made before the first worker starts, which then sees it.
		p.jobs = make(chan job, p.queueSize)
	}
	if p.started && p.busy.Load() >= int64(p.alive) && p.alive < p.max {
		// No worker is free: start one with j as its first job (so a new
		// worker never has to win a race for the queue).
		p.alive++
		p.busy.Add(1)
		p.mu.Unlock()
		go p.worker(j)
		return nil
	}
	select {
	case p.jobs <- j:
		p.busy.Add(1)
		p.queued.Add(1)
		p.mu.Unlock()
		return nil
	default:
		p.mu.Unlock()
		p.rejected.Add(1)
		return ErrPoolFull
	}
}

// start lets workers run, and starts one per job queued before (up to
// the maximum).
func (p *pool) start() {
	p.mu.Lock()
	if p.started || p.closed {
		p.mu.Unlock()
		return
	}
	p.started = true
	n := 0
	if p.jobs != nil {
		n = min(len(p.jobs), p.max)
	}
	p.alive += n
	p.mu.Unlock()
	for range n {
		go p.worker(nil)
	}
}

// worker runs first (if any), then jobs from the queue until the pool
// closes or no job came for p.idle.
func (p *pool) worker(first job) {
	retired := false
	defer func() {
		if !retired {
			p.exited()
		}
	}()
	if first != nil {
		p.runJob(first)
	}
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		select {
		case j := <-p.jobs:
			p.queued.Add(-1)
			p.runJob(j)
			idle.Reset(p.idle)
		case <-idle.C:
			if retired = p.retire(); retired {
				return
			}
			idle.Reset(p.idle)
		case <-p.quit:
			return
		}
	}
}

// runJob runs j, keeping the counts right even if j ends its goroutine
// with runtime.Goexit.
func (p *pool) runJob(j job) {
	p.running.Add(1)
	defer func() {
		p.running.Add(-1)
		p.busy.Add(-1)
		p.completed.Add(1)
		j.deliver()
	}()
	j.run()
}

// retire reports whether an idle worker may exit, and if so counts it
// gone under the same lock: a submit either sees it alive and finds the job
// it queued taken by it (retire refuses while the queue is not empty), or
// sees it gone and starts another worker.
func (p *pool) retire() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.jobs) > 0 {
		return false
	}
	p.alive--
	if p.closed && p.alive == 0 {
		close(p.finished)
	}
	return true
}

// exited accounts for a worker goroutine that ends for another reason than
// retire.
func (p *pool) exited() {
	p.mu.Lock()
	p.alive--
	if p.closed && p.alive == 0 {
		close(p.finished)
	}
	p.mu.Unlock()
}

// close stops the pool taking jobs and rejects the queued ones with
// ErrReactorStopping. Running jobs go on; finished is closed when the last
// worker has exited.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	jobs := p.jobs
	if p.alive == 0 {
		close(p.finished)
	}
	p.mu.Unlock()
	if jobs != nil {
		// Nothing is sent after closed is set, so this drains for good.
	drain:
		for {
			select {
			case j := <-jobs:
				p.queued.Add(-1)
				p.busy.Add(-1)
				j.reject(ErrReactorStopping)
			default:
				break drain
			}
		}
	}
	close(p.quit)
}

func (p *pool) stats() PoolStats {
	p.mu.Lock()
	alive := p.alive
	p.mu.Unlock()
	return PoolStats{
		Workers:   alive,
		Running:   int(p.running.Load()),
		Queued:    int(p.queued.Load()),
		Rejected:  p.rejected.Load(),
		Completed: p.completed.Load(),
	}
}
