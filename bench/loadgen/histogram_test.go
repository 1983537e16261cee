package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// nearestRank is the textbook definition Quantile approximates.
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func TestQuantileIsExactBelowTheLinearRange(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {0.999, 100}, {1, 100}, {0.01, 1}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestQuantileStaysWithinOneSixtyFourthOfNearestRank(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	samples := make([]time.Duration, 100000)
	for i := range samples {
		// Log-uniform from 1µs to ~1s, the span latencies cover.
		samples[i] = time.Duration(float64(int64(1000)<<r.IntN(20)) * (1 + r.Float64()))
		h.Record(samples[i])
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		got, want := h.Quantile(q), nearestRank(samples, q)
		if diff := (got - want).Abs(); float64(diff) > float64(want)/64 {
			t.Errorf("Quantile(%v) = %v, nearest rank %v: off by more than 1/64", q, got, want)
		}
	}
}

func TestBucketsCoverEveryDurationWithoutGaps(t *testing.T) {
	prev := bucketOf(0)
	for v := uint64(1); v < 1<<20; v++ {
		b := bucketOf(v)
		if b != prev && b != prev+1 {
			t.Fatalf("bucketOf(%d) = %d after %d: buckets must be contiguous", v, b, prev)
		}
		prev = b
	}
	if b := bucketOf(1<<63 - 1); b >= numBuckets {
		t.Fatalf("bucketOf(max) = %d ≥ %d buckets", b, numBuckets)
	}
	for _, v := range []uint64{0, 127, 128, 1000, 1 << 40, 1<<63 - 1} {
		if mid := bucketValue(bucketOf(v)); bucketOf(mid) != bucketOf(v) {
			t.Errorf("value %d reported for bucket of %d lies in another bucket", mid, v)
		}
	}
}

func TestQuantileOfEmptyHistogramIsZero(t *testing.T) {
	var h Histogram
	if got := h.Quantile(0.99); got != 0 {
		t.Fatalf("Quantile on empty = %v, want 0", got)
	}
}

func TestMergeAddsCountsAndSamples(t *testing.T) {
	var a, b Histogram
	a.Record(10)
	b.Record(20)
	b.Record(-5) // counted as zero
	a.Merge(&b)
	if a.Count() != 3 {
		t.Fatalf("Count = %d, want 3", a.Count())
	}
	if got := a.Quantile(1); got != 20 {
		t.Fatalf("max = %v, want 20ns", got)
	}
	if got := a.Quantile(0.01); got != 0 {
		t.Fatalf("min = %v, want 0 (negative recorded as zero)", got)
	}
}
