//go:build antsbench

package reactor

import (
	"sync"
	"testing"

	"github.com/panjf2000/ants/v2"
)

func init() {
	// Importing ants starts a default pool; stop it so goleak stays quiet.
	ants.Release()
}

// ants in its default blocking mode: Submit waits while every worker is
// busy, which a loop must never do, but it is ants at its fastest.
func BenchmarkPoolSubmitAntsBlocking(b *testing.B) {
	p, err := ants.NewPool(benchWorkers)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Release()
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	b.ReportAllocs()
	for n := 0; n < b.N; n += benchBatch {
		k := min(benchBatch, b.N-n)
		wg.Add(k)
		for range k {
			if err := p.Submit(task); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	}
}

// ants in non-blocking mode, the only one a loop may use: with no queue of
// its own, a submit while all workers are busy fails (reported as
// rejected/op), so it would still need a queue in front of it.
func BenchmarkPoolSubmitAntsNonblocking(b *testing.B) {
	p, err := ants.NewPool(benchWorkers, ants.WithNonblocking(true))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Release()
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	var rejected int
	b.ReportAllocs()
	for n := 0; n < b.N; n += benchBatch {
		k := min(benchBatch, b.N-n)
		wg.Add(k)
		for range k {
			if p.Submit(task) != nil {
				rejected++
				wg.Done()
			}
		}
		wg.Wait()
	}
	b.ReportMetric(float64(rejected)/float64(b.N), "rejected/op")
}
