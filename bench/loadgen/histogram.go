package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^(subBits-1) equal buckets, so a reported quantile is within 1/64
// (1.6%) of the true sample, and below 2^subBits ns it is exact.
const subBits = 7

const (
	linear     = 1 << subBits       // values below this have their own bucket
	perOctave  = 1 << (subBits - 1) // buckets per power of two above it
	numBuckets = linear + (64-subBits)*perOctave
)

// Histogram records durations with bounded relative error in constant
// memory, so a load generator can record every message of a long run. The
// zero value is empty and ready to use. It is not safe for concurrent use:
// give each goroutine its own and Merge them.
type Histogram struct {
	counts [numBuckets]uint64
	n      uint64
}

// bucketOf maps a non-negative value to its bucket index.
func bucketOf(v uint64) int {
	if v < linear {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return linear + (shift-1)*perOctave + int(v>>shift) - perOctave
}

// bucketValue is the value reported for bucket i: the middle of its range,
// which halves the worst-case error compared with its lower bound.
func bucketValue(i int) uint64 {
	if i < linear {
		return uint64(i)
	}
	shift := (i-linear)/perOctave + 1
	low := uint64((i-linear)%perOctave+perOctave) << shift
	return low + (uint64(1)<<shift)/2
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Count returns the number of recorded samples.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the nearest-rank q-quantile (0 < q ≤ 1) of the recorded
// durations: the smallest recorded value that at least q of the samples do
// not exceed, within the histogram's precision. It returns 0 when the
// histogram is empty; q outside (0, 1] is clamped to that range.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	rank = min(rank, h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketValue(i))
		}
	}
	return time.Duration(bucketValue(numBuckets - 1))
}
