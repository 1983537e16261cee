package timer_test

import (
	"container/heap"
	"runtime"
	"testing"
	"time"

	"github.com/mustaine/mustaine/timer"
)

// The benchmarks keep a million timers pending, the load of a server with a
// million idle connections, and compare the wheel with Go runtime timers
// (time.AfterFunc) and with a binary heap (container/heap). Each reports
// B/pending: the heap growth per pending timer, measured with
// runtime.MemStats around creating them (the slice of handles the
// benchmark keeps is allocated before and not counted).

const pendingTimers = 1_000_000

var nop = func() {}

// heapBytes returns the live heap after a full collection.
func heapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// perTimer returns the heap growth since before, per pending timer. It is
// reported after the timed loop, because b.Loop's first call discards
// metrics reported before it.
func perTimer(before uint64) float64 {
	return float64(int64(heapBytes())-int64(before)) / pendingTimers
}

// delays returns n delays spread over [lo, lo+span).
func delays(n int, lo, span time.Duration) []time.Duration {
	ds := make([]time.Duration, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range ds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		ds[i] = lo + time.Duration(x%uint64(span))
	}
	return ds
}

func BenchmarkScheduleCancel(b *testing.B) {
	ds := delays(4096, time.Second, time.Minute)

	b.Run("wheel", func(b *testing.B) {
		hs := make([]timer.Handle, pendingTimers)
		before := heapBytes()
		w := timer.NewWheel(time.Now())
		for i := range hs {
			hs[i] = w.CallLater(ds[i%len(ds)], nop)
		}
		perPending := perTimer(before)
		i := 0
		for b.Loop() {
			w.CallLater(ds[i&4095], nop).Cancel()
			i++
		}
		b.ReportMetric(perPending, "B/pending")
		for _, h := range hs {
			h.Cancel()
		}
	})

	b.Run("afterfunc", func(b *testing.B) {
		ts := make([]*time.Timer, pendingTimers)
		before := heapBytes()
		for i := range ts {
			ts[i] = time.AfterFunc(time.Hour+ds[i%len(ds)], nop)
		}
		perPending := perTimer(before)
		i := 0
		for b.Loop() {
			time.AfterFunc(time.Hour+ds[i&4095], nop).Stop()
			i++
		}
		b.ReportMetric(perPending, "B/pending")
		for _, t := range ts {
			t.Stop()
		}
	})

	b.Run("heap", func(b *testing.B) {
		hs := make([]*heapTimer, pendingTimers)
		before := heapBytes()
		s := &heapScheduler{}
		for i := range hs {
			hs[i] = s.callLater(int64(ds[i%len(ds)]), nop)
		}
		perPending := perTimer(before)
		i := 0
		for b.Loop() {
			s.cancel(s.callLater(int64(ds[i&4095]), nop))
			i++
		}
		b.ReportMetric(perPending, "B/pending")
		for _, t := range hs {
			s.cancel(t)
		}
	})
}

// BenchmarkScheduleExpire keeps a million timers pending with due times
// spread over 1000 s (one per millisecond tick on average); each operation
// moves time one tick, expires what is due and schedules a replacement
// 1000 s out.
func BenchmarkScheduleExpire(b *testing.B) {
	const tick = time.Millisecond
	const horizon = pendingTimers * tick
	ds := delays(pendingTimers, tick, horizon)

	b.Run("wheel", func(b *testing.B) {
		start := time.Now()
		before := heapBytes()
		w := timer.NewWheel(start, timer.WithTick(tick))
		for _, d := range ds {
			w.CallLater(d, nop)
		}
		perPending := perTimer(before)
		now := start
		for b.Loop() {
			now = now.Add(tick)
			w.Advance(now)
			w.CallLater(horizon, nop)
		}
		b.ReportMetric(perPending, "B/pending")
	})

	b.Run("heap", func(b *testing.B) {
		before := heapBytes()
		s := &heapScheduler{}
		for _, d := range ds {
			s.callLater(int64(d), nop)
		}
		perPending := perTimer(before)
		for b.Loop() {
			s.advance(s.now + int64(tick))
			s.callLater(int64(horizon), nop)
		}
		b.ReportMetric(perPending, "B/pending")
	})
}

// BenchmarkAdvanceNothingDue is the reactor's idle iteration: a million
// pending timers 30 days away (far enough that no slot of theirs is reached
// during the run, so nothing is re-filed either), Advance and NextDeadline
// once per millisecond.
func BenchmarkAdvanceNothingDue(b *testing.B) {
	start := time.Now()
	w := timer.NewWheel(start)
	for _, d := range delays(pendingTimers, 30*24*time.Hour, time.Hour) {
		w.CallLater(d, nop)
	}
	now := start
	for b.Loop() {
		now = now.Add(time.Millisecond)
		w.Advance(now)
		w.NextDeadline()
	}
}

// heapTimer and heapScheduler are the textbook alternative: a binary
// min-heap of due times with container/heap, O(log n) per operation and
// one allocation per timer.
type heapTimer struct {
	when  int64
	seq   uint64
	fn    func()
	index int
}

type timerHeap []*heapTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*heapTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

type heapScheduler struct {
	h   timerHeap
	now int64
	seq uint64
}

func (s *heapScheduler) callLater(d int64, fn func()) *heapTimer {
	t := &heapTimer{when: s.now + d, seq: s.seq, fn: fn}
	s.seq++
	heap.Push(&s.h, t)
	return t
}

func (s *heapScheduler) cancel(t *heapTimer) {
	if t.index >= 0 {
		heap.Remove(&s.h, t.index)
	}
}

func (s *heapScheduler) advance(now int64) {
	s.now = now
	for len(s.h) > 0 && s.h[0].when <= now {
		t := heap.Pop(&s.h).(*heapTimer)
		t.fn()
	}
}

// BenchmarkReset is the idle-timeout pattern: a million pending timeouts,
// and each operation pushes one of them back, as activity on a connection
// does.
func BenchmarkReset(b *testing.B) {
	ds := delays(4096, time.Second, time.Minute)

	b.Run("wheel", func(b *testing.B) {
		w := timer.NewWheel(time.Now())
		hs := make([]timer.Handle, pendingTimers)
		for i := range hs {
			hs[i] = w.CallLater(ds[i%len(ds)], nop)
		}
		i := 0
		for b.Loop() {
			hs[(i*7919)%pendingTimers].Reset(ds[i&4095])
			i++
		}
	})

	// A reactor loop's wheel: Resets are held and filed by the Settle
	// (or Advance) of the turn, here one per 16 Resets.
	b.Run("wheel-lagging", func(b *testing.B) {
		start := time.Now()
		w := timer.NewWheel(start, timer.WithLaggingNow())
		hs := make([]timer.Handle, pendingTimers)
		for i := range hs {
			hs[i] = w.CallLater(ds[i%len(ds)], nop)
		}
		w.Settle(start)
		i := 0
		for b.Loop() {
			hs[(i*7919)%pendingTimers].Reset(ds[i&4095])
			i++
			if i&15 == 0 {
				w.Settle(start.Add(time.Duration(i) * time.Microsecond))
			}
		}
	})

	b.Run("afterfunc", func(b *testing.B) {
		ts := make([]*time.Timer, pendingTimers)
		for i := range ts {
			ts[i] = time.AfterFunc(time.Hour+ds[i%len(ds)], nop)
		}
		i := 0
		for b.Loop() {
			ts[(i*7919)%pendingTimers].Reset(time.Hour + ds[i&4095])
			i++
		}
		for _, t := range ts {
			t.Stop()
		}
	})

	b.Run("heap", func(b *testing.B) {
		s := &heapScheduler{}
		hs := make([]*heapTimer, pendingTimers)
		for i := range hs {
			hs[i] = s.callLater(int64(ds[i%len(ds)]), nop)
		}
		i := 0
		for b.Loop() {
			t := hs[(i*7919)%pendingTimers]
			t.when = s.now + int64(ds[i&4095])
			heap.Fix(&s.h, t.index)
			i++
		}
	})
}
