package reactor

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// goroutineID reads the current goroutine's number from its stack header;
// tests use it to tell on which goroutine a callback ran.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return string(bytes.Fields(buf)[1])
}

// onLoopOf runs fn on l and waits for it.
func onLoopOf(t *testing.T, l protocol.Loop, fn func()) {
	t.Helper()
	done := make(chan struct{})
	l.CallFromThread(func() {
		defer close(done)
		fn()
	})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("loop did not run the call")
	}
}

// waitFor polls cond until it holds; it fails the test after a generous
// bound, which only catches a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

func TestDeferToThreadFiresOnTheAskingLoopNeverOnTheWorker(t *testing.T) {
	r := startReactor(t, WithLoops(4))
	type result struct {
		loopGoroutine, workerGoroutine, callbackGoroutine string
		index                                             int
	}
	results := make([]chan result, 4)
	for i, lp := range r.Loops() {
		results[i] = make(chan result, 1)
		onLoopOf(t, lp, func() {
			res := result{loopGoroutine: goroutineID(), index: -1}
			DeferToThread(lp, func() (string, error) {
				return goroutineID(), nil
			}).AddCallback(func(worker string) (string, error) {
				res.workerGoroutine = worker
				res.callbackGoroutine = goroutineID()
				res.index = lp.Index()
				results[i] <- res
				return worker, nil
			})
		})
	}
	for i := range results {
		var res result
		select {
		case res = <-results[i]:
		case <-time.After(30 * time.Second):
			t.Fatalf("loop %d: DeferToThread never fired", i)
		}
		if res.callbackGoroutine != res.loopGoroutine || res.index != i {
			t.Errorf("loop %d: callback ran on goroutine %s (loop %d), want the asking loop's goroutine %s",
				i, res.callbackGoroutine, res.index, res.loopGoroutine)
		}
		if res.workerGoroutine == res.loopGoroutine {
			t.Errorf("loop %d: the job ran on the loop's own goroutine", i)
		}
	}
}

// blockingJob blocks until release is closed and then returns v.
func blockingJob(release <-chan struct{}, v int) func() (int, error) {
	return func() (int, error) {
		<-release
		return v, nil
	}
}

func TestFullQueueRejectsAtOnceWithErrPoolFull(t *testing.T) {
	r := startReactor(t, WithLoops(1), WithWorkers(2), WithWorkQueue(3))
	lp := r.Loops()[0]
	release := make(chan struct{})
	var accepted []*deferred.Deferred[int]
	var rejected *deferred.Deferred[int]
	var rejectedFired bool
	var rejectErr error
	onLoopOf(t, lp, func() {
		for i := range 5 { // two running, three queued
			accepted = append(accepted, DeferToThread(lp, blockingJob(release, i)))
		}
		rejected = DeferToThread(lp, blockingJob(release, 5))
		rejectedFired = rejected.Called()
		rejected.AddErrback(func(err error) (int, error) { rejectErr = err; return -1, nil })
	})
	if !rejectedFired || !errors.Is(rejectErr, ErrPoolFull) {
		t.Fatalf("sixth job: fired at once %t, error %v; want ErrPoolFull at once", rejectedFired, rejectErr)
	}
	waitFor(t, "two jobs running", func() bool { return r.PoolStats().Running == 2 })
	if s := r.PoolStats(); s.Workers != 2 || s.Queued != 3 || s.Rejected != 1 || s.Completed != 0 {
		t.Fatalf("stats with a full pool: %+v, want 2 workers, 2 running, 3 queued, 1 rejected", s)
	}
	close(release)
	for i, d := range accepted {
		if v, err := await(t, d); err != nil || v != i {
			t.Fatalf("job %d: %v, %v", i, v, err)
		}
	}
	if s := r.PoolStats(); s.Running != 0 || s.Queued != 0 || s.Completed != 5 || s.Rejected != 1 {
		t.Fatalf("stats after the jobs: %+v, want 5 completed, 1 rejected, nothing running or queued", s)
	}
}

func panickingJob() (int, error) { panic("the database is on fire") }

func TestPanickingJobErrbacksWithItsStack(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	lp := r.Loops()[0]
	var d *deferred.Deferred[int]
	onLoopOf(t, lp, func() { d = DeferToThread(lp, panickingJob) })
	_, err := await(t, d)
	var perr *deferred.PanicError
	if !errors.Is(err, deferred.ErrPanic) || !errors.As(err, &perr) {
		t.Fatalf("error %v, want a *deferred.PanicError", err)
	}
	if perr.Value != "the database is on fire" {
		t.Errorf("panic value %v", perr.Value)
	}
	if !strings.Contains(string(perr.Stack), "panickingJob") {
		t.Errorf("stack does not show the panicking function:\n%s", perr.Stack)
	}
	// The worker survived: the pool still runs jobs.
	onLoopOf(t, lp, func() { d = DeferToThread(lp, func() (int, error) { return 7, nil }) })
	if v, err := await(t, d); v != 7 || err != nil {
		t.Fatalf("job after a panic: %v, %v", v, err)
	}
}

func TestDeferToThreadBadArgumentsFailCleanly(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	if _, err := await(t, DeferToThread[int](nil, func() (int, error) { return 1, nil })); !errors.Is(err, ErrNotReactorLoop) {
		t.Errorf("nil loop: %v, want ErrNotReactorLoop", err)
	}
	lp := r.Loops()[0]
	var d *deferred.Deferred[int]
	onLoopOf(t, lp, func() { d = DeferToThread[int](lp, nil) })
	if _, err := await(t, d); !errors.Is(err, deferred.ErrNilFunc) {
		t.Errorf("nil fn: %v, want ErrNilFunc", err)
	}
	if err := r.CallInThread(nil); !errors.Is(err, deferred.ErrNilFunc) {
		t.Errorf("CallInThread(nil): %v, want ErrNilFunc", err)
	}
}

func TestCancelledJobNeverRunsIfNoWorkerTookIt(t *testing.T) {
	r := startReactor(t, WithLoops(1), WithWorkers(1))
	lp := r.Loops()[0]
	release := make(chan struct{})
	var ran atomic.Bool
	var first, cancelled, last *deferred.Deferred[int]
	onLoopOf(t, lp, func() {
		first = DeferToThread(lp, blockingJob(release, 1))
		cancelled = DeferToThread(lp, func() (int, error) { ran.Store(true); return 2, nil })
		last = DeferToThread(lp, func() (int, error) { return 3, nil })
		cancelled.Cancel()
	})
	if _, err := await(t, cancelled); !errors.Is(err, deferred.ErrCancelled) {
		t.Fatalf("cancelled job: %v, want ErrCancelled", err)
	}
	close(release)
	await(t, first)
	if v, err := await(t, last); v != 3 || err != nil {
		t.Fatalf("job queued after the cancelled one: %v, %v", v, err)
	}
	if ran.Load() {
		t.Fatal("the cancelled job ran")
	}
}

func TestCallInThreadRunsAndLogsAPanic(t *testing.T) {
	var logs syncBuffer
	r := startReactor(t, WithLoops(1), WithLogger(zerolog.New(&logs)))
	done := make(chan struct{})
	if err := r.CallInThread(func() { panic("boom in a thread") }); err != nil {
		t.Fatal(err)
	}
	if err := r.CallInThread(func() { close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
	waitFor(t, "the panic to be logged", func() bool { return strings.Contains(logs.String(), "boom in a thread") })
	if !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("panic log has no stack:\n%s", logs.String())
	}
}

func TestPoolStartsWorkersOnDemandAndIdleOnesExit(t *testing.T) {
	r := startReactor(t, WithLoops(1), WithWorkers(4))
	r.pool.idle = 20 * time.Millisecond
	if s := r.PoolStats(); s.Workers != 0 {
		t.Fatalf("a reactor that ran no job has %d workers", s.Workers)
	}
	lp := r.Loops()[0]
	release := make(chan struct{})
	var ds []*deferred.Deferred[int]
	onLoopOf(t, lp, func() {
		for i := range 3 {
			ds = append(ds, DeferToThread(lp, blockingJob(release, i)))
		}
	})
	if s := r.PoolStats(); s.Workers != 3 {
		t.Fatalf("three blocked jobs started %d workers, want 3", s.Workers)
	}
	close(release)
	for _, d := range ds {
		await(t, d)
	}
	waitFor(t, "idle workers to exit", func() bool { return r.PoolStats().Workers == 0 })
	// And a new job starts a worker again.
	var d *deferred.Deferred[int]
	onLoopOf(t, lp, func() { d = DeferToThread(lp, func() (int, error) { return 9, nil }) })
	if v, err := await(t, d); v != 9 || err != nil {
		t.Fatalf("job after the workers retired: %v, %v", v, err)
	}
}

// eventLog records, on one loop, the order in which echo replies and job
// results were handled.
type eventLog struct {
	events      []byte // 'E' for an echo, 'J' for a job result
	outstanding atomic.Int64
}

type loggingEcho struct {
	protocol.Base
	log *eventLog
}

func (e *loggingEcho) DataReceived(b []byte) {
	e.log.events = append(e.log.events, 'E')
	e.Transport.Write(b)
}

func TestBlockingJobsOnTheSamePoolDoNotStopTheLoopFromEchoing(t *testing.T) {
	const jobs, workers, clients = 1000, 16, 4
	r := startReactor(t, WithLoops(1), WithWorkers(workers), WithWorkQueue(jobs))
	lp := r.Loops()[0]
	log := &eventLog{}
	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &loggingEcho{log: log}
	}))
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, clients)
	for i := range conns {
		conns[i], err = net.DialTimeout("tcp", ln.Addr().String(), 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
	}

	log.outstanding.Store(jobs)
	var results []*deferred.Deferred[int]
	onLoopOf(t, lp, func() {
		for i := range jobs {
			d := DeferToThread(lp, func() (int, error) {
				time.Sleep(50 * time.Millisecond)
				return i, nil
			})
			d.AddCallback(func(v int) (int, error) {
				log.events = append(log.events, 'J')
				log.outstanding.Add(-1)
				return v, nil
			})
			results = append(results, d)
		}
	})

	// Echo clients run while jobs are outstanding; a round trip counts
	// when jobs were still outstanding after its reply came back.
	var duringJobs atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, buf := []byte("ping"), make([]byte, 4)
			for log.outstanding.Load() > 0 {
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs <- err
					return
				}
				if log.outstanding.Load() > 0 {
					duringJobs.Add(1)
				}
			}
		}()
	}
	for i, d := range results {
		if v, err := await(t, d); v != i || err != nil {
			t.Fatalf("job %d: %v, %v", i, v, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if duringJobs.Load() == 0 {
		t.Fatal("no echo round trip completed while jobs were outstanding")
	}
	var events []byte
	onLoopOf(t, lp, func() { events = append(events, log.events...) })
	first, last := bytes.IndexByte(events, 'J'), bytes.LastIndexByte(events, 'J')
	echoesBetween := bytes.Count(events[first:last], []byte{'E'})
	if echoesBetween == 0 {
		t.Fatalf("no echo was handled between the first and the last job result: %s", events)
	}
	t.Logf("%d echo round trips while jobs were outstanding; %d echoes handled between the first and last of %d job results",
		duringJobs.Load(), echoesBetween, jobs)
}

func TestStopFailsQueuedJobsAndDeliversRunningOnes(t *testing.T) {
	r, err := New(WithLoops(1), WithWorkers(1), WithSignalHandling(false), WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	lp := r.Loops()[0]
	release := make(chan struct{})
	running := make(chan struct{})
	type outcome struct {
		v   int
		err error
	}
	got := make(chan outcome, 2)
	record := func(v int, err error) (int, error) { got <- outcome{v, err}; return v, nil }
	r.CallWhenRunning(func() {
		DeferToThread(lp, func() (int, error) {
			close(running)
			<-release
			return 1, nil
		}).AddBoth(record)
		DeferToThread(lp, blockingJob(release, 2)).AddBoth(record)
	})
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	<-running
	r.Stop()
	queued := <-got
	if !errors.Is(queued.err, ErrReactorStopping) {
		t.Fatalf("queued job: %v, %v; want ErrReactorStopping", queued.v, queued.err)
	}
	close(release)
	if first := <-got; first.v != 1 || first.err != nil {
		t.Fatalf("running job: %v, %v; want its result delivered", first.v, first.err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.CallInThread(func() {}); !errors.Is(err, ErrReactorStopping) {
		t.Fatalf("CallInThread after Stop: %v, want ErrReactorStopping", err)
	}
	if s := r.PoolStats(); s.Workers != 0 {
		t.Fatalf("%d workers left after Run returned", s.Workers)
	}
}
