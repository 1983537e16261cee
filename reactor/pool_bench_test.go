package reactor

import (
	"sync"
	"sync/atomic"
	"testing"
)

// The pool comparison behind the choice of a plain channel pool over ants
// (gnet's pool): one goroutine (a loop) submits tiny jobs to 16 workers in
// batches of 1024 and waits for each batch. The ants side is in
// pool_ants_bench_test.go, built only with -tags antsbench because
// importing ants starts its default pool's goroutines in every test run:
//
//	go test -tags antsbench -run '^$' -bench PoolSubmit -benchmem ./reactor/
const (
	benchWorkers = 16
	benchBatch   = 1024
)

type wgJob struct{ wg *sync.WaitGroup }

func (j wgJob) run()         { j.wg.Done() }
func (j wgJob) reject(error) { j.wg.Done() }
func (j wgJob) deliver()     {}

func BenchmarkPoolSubmitChannel(b *testing.B) {
	p := newPool(benchWorkers, benchBatch)
	defer func() {
		p.close()
		<-p.finished
	}()
	var wg sync.WaitGroup
	j := wgJob{&wg}
	b.ReportAllocs()
	for n := 0; n < b.N; n += benchBatch {
		k := min(benchBatch, b.N-n)
		wg.Add(k)
		for range k {
			if err := p.submit(j); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	}
}

// The whole DeferToThread round trip: submitted on the loop, run on a
// worker, fired back on the loop.
func BenchmarkDeferToThreadRoundTrip(b *testing.B) {
	r := startReactor(b, WithLoops(1), WithWorkers(benchWorkers), WithWorkQueue(benchBatch))
	lp := r.Loops()[0]
	var left atomic.Int64
	done := make(chan struct{}, 1)
	fn := func() (int, error) { return 1, nil }
	cb := func(v int, err error) (int, error) {
		if left.Add(-1) == 0 {
			done <- struct{}{}
		}
		return v, err
	}
	b.ReportAllocs()
	for n := 0; n < b.N; n += benchBatch {
		k := min(benchBatch, b.N-n)
		left.Store(int64(k))
		lp.CallFromThread(func() {
			for range k {
				DeferToThread(lp, fn).AddBoth(cb)
			}
		})
		<-done
	}
}
