package deferred

import "testing"

func BenchmarkCreateCallbackFire(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		d := New[int]()
		d.AddCallback(addOne)
		_ = d.Callback(1)
	}
}

func BenchmarkCreateCallbackFireNoSite(b *testing.B) {
	SetCaptureCreationSite(false)
	defer SetCaptureCreationSite(true)
	b.ReportAllocs()
	for b.Loop() {
		d := New[int]()
		d.AddCallback(addOne)
		_ = d.Callback(1)
	}
}

func BenchmarkSucceedThenAddCallback(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Succeed(1).AddCallback(addOne)
	}
}

func BenchmarkChain10Steps(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		d := New[int]()
		for range 10 {
			d.AddCallback(addOne)
		}
		_ = d.Callback(0)
	}
}

func BenchmarkChain10StepsAfterFiring(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		d := Succeed(0)
		for range 10 {
			d.AddCallback(addOne)
		}
	}
}

func BenchmarkThen10(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		d := New[int]()
		cur := d
		for range 10 {
			cur = Then(cur, addOne)
		}
		_ = d.Callback(0)
	}
}

func BenchmarkNestedDeferred(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		inner := New[int]()
		d := New[int]()
		d.AddCallbackDeferred(func(int) *Deferred[int] { return inner })
		_ = d.Callback(0)
		_ = inner.Callback(1)
	}
}

func BenchmarkErrorHandled(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		d := New[int]()
		d.AddErrback(func(error) (int, error) { return 0, nil })
		_ = d.Errback(errBoom)
	}
}
