package deferred

import (
	"errors"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
)

func TestStepReturningDeferredPausesChainUntilItFires(t *testing.T) {
	inner := New[int]()
	outer := New[int]()
	var seen []int
	outer.AddCallbackDeferred(func(int) *Deferred[int] { return inner })
	outer.AddCallback(func(v int) (int, error) { seen = append(seen, v); return v, nil })
	_ = outer.Callback(1)
	if len(seen) != 0 {
		t.Fatalf("chain went on before the inner Deferred fired: %v", seen)
	}
	_ = inner.Callback(42)
	if !slices.Equal(seen, []int{42}) {
		t.Fatalf("chain continued with %v; want [42]", seen)
	}
}

func TestStepReturningFiredDeferredContinuesAtOnceAndTakesItsResult(t *testing.T) {
	inner := Succeed(5)
	outer := Succeed(1).AddCallbackDeferred(func(int) *Deferred[int] { return inner })
	if v, err := result(t, outer); v != 5 || err != nil {
		t.Fatalf("outer = %v, %v; want 5, nil", v, err)
	}
	// Twisted: the inner Deferred's result becomes None once taken.
	if v, err := result(t, inner); v != 0 || err != nil {
		t.Fatalf("inner after being taken = %v, %v; want zero, nil", v, err)
	}
}

func TestInnerDeferredErrorIsConsumedByOuterChain(t *testing.T) {
	inner := New[int]()
	outer := Succeed(1).AddCallbackDeferred(func(int) *Deferred[int] { return inner })
	_ = inner.Errback(errBoom)
	if inner.fail != nil {
		t.Fatal("inner still has an unhandled-error report pending after the outer chain took its error")
	}
	if _, err := result(t, outer); !errors.Is(err, errBoom) {
		t.Fatalf("outer err = %v; want boom", err)
	}
}

func TestFiredInnerDeferredErrorIsConsumedByOuterChain(t *testing.T) {
	inner := Fail[int](errBoom)
	if inner.fail == nil {
		t.Fatal("precondition: Fail registers an unhandled-error report")
	}
	outer := Succeed(1).AddCallbackDeferred(func(int) *Deferred[int] { return inner })
	if inner.fail != nil {
		t.Fatal("inner report still pending after its error was taken")
	}
	if _, err := result(t, outer); !errors.Is(err, errBoom) {
		t.Fatalf("outer err = %v; want boom", err)
	}
}

func TestErrbackDeferredRecoversThroughInnerDeferred(t *testing.T) {
	inner := New[int]()
	d := Fail[int](errBoom).AddErrbackDeferred(func(error) *Deferred[int] { return inner })
	_ = inner.Callback(3)
	if v, err := result(t, d); v != 3 || err != nil {
		t.Fatalf("result = %v, %v; want 3, nil", v, err)
	}
}

func TestBothDeferredRunsOnEitherPath(t *testing.T) {
	d := Fail[int](errBoom).AddBothDeferred(func(v int, err error) *Deferred[int] {
		if errors.Is(err, errBoom) {
			return Succeed(8)
		}
		return Fail[int](errors.New("unexpected"))
	})
	if v, err := result(t, d); v != 8 || err != nil {
		t.Fatalf("result = %v, %v; want 8, nil", v, err)
	}
}

func TestStepReturningOwnDeferredFailsWithErrChainLoop(t *testing.T) {
	d := New[int]()
	d.AddCallbackDeferred(func(int) *Deferred[int] { return d })
	_ = d.Callback(1)
	if _, err := result(t, d); !errors.Is(err, ErrChainLoop) {
		t.Fatalf("err = %v; want ErrChainLoop", err)
	}
}

func TestStepReturningNilDeferredFailsWithErrNilDeferred(t *testing.T) {
	d := Succeed(1).AddCallbackDeferred(func(int) *Deferred[int] { return nil })
	if _, err := result(t, d); !errors.Is(err, ErrNilDeferred) {
		t.Fatalf("err = %v; want ErrNilDeferred", err)
	}
}

func TestPanicInDeferredStepBecomesPanicError(t *testing.T) {
	d := Succeed(1).AddCallbackDeferred(func(int) *Deferred[int] { panic("no") })
	if _, err := result(t, d); !errors.Is(err, ErrPanic) {
		t.Fatalf("err = %v; want ErrPanic", err)
	}
}

// Twisted's test_innerCallbacksPreserved: the middle Deferred's remaining
// steps run after the innermost fires and before the outer chain resumes.
func TestMiddleDeferredStepsRunBeforeOuterResumes(t *testing.T) {
	var seen []string
	innermost := New[string]()
	outer := Succeed("outer").AddCallbackDeferred(func(v string) *Deferred[string] {
		seen = append(seen, "cb:"+v)
		middle := Succeed("middle")
		middle.AddCallbackDeferred(func(string) *Deferred[string] {
			seen = append(seen, "first")
			return innermost
		})
		middle.AddCallback(func(v string) (string, error) {
			seen = append(seen, "second:"+v)
			return v + v, nil
		})
		return middle
	})
	_ = innermost.Callback("orange")
	v, err := result(t, outer)
	want := []string{"cb:outer", "first", "second:orange"}
	if !slices.Equal(seen, want) || v != "orangeorange" || err != nil {
		t.Fatalf("seen %v, result %q, %v; want %v, orangeorange", seen, v, err, want)
	}
}

// Twisted's test_callbackOrderPreserved: a step added after one that
// returned a Deferred runs after that Deferred's own steps.
func TestStepAfterDeferredStepRunsAfterInnerSteps(t *testing.T) {
	var seen []string
	gate := New[string]()
	outer := New[string]()
	outer.AddCallbackDeferred(func(string) *Deferred[string] {
		mid := New[string]()
		mid.AddCallbackDeferred(func(string) *Deferred[string] { return gate })
		mid.AddCallback(func(v string) (string, error) { seen = append(seen, "mid:"+v); return v, nil })
		_ = mid.Callback("")
		return mid
	})
	outer.AddCallback(func(v string) (string, error) { seen = append(seen, "final:"+v); return v, nil })
	_ = outer.Callback("go")
	_ = gate.Callback("withers")
	if !slices.Equal(seen, []string{"mid:withers", "final:withers"}) {
		t.Fatalf("seen %v", seen)
	}
}

// A chain of n Deferreds, each waiting on the next (Twisted's
// test_boundedStackDepth): firing the last one resolves them all.
func waitingChain(n int, depth *[]int) (top, last *Deferred[int], inners []*Deferred[int]) {
	top = New[int]()
	cur := top
	for range n {
		next := New[int]()
		inners = append(inners, next)
		cur.AddCallbackDeferred(func(int) *Deferred[int] { return next })
		cur = next
	}
	last = New[int]()
	cur.AddCallbackDeferred(func(int) *Deferred[int] { return last })
	top.AddCallback(func(v int) (int, error) {
		var pcs [4096]uintptr
		*depth = append(*depth, runtime.Callers(0, pcs[:]))
		return v, nil
	})
	return top, last, inners
}

func fireWaitingChain(top, last *Deferred[int], inners []*Deferred[int], v int) {
	_ = top.Callback(0)
	for _, d := range inners {
		_ = d.Callback(0)
	}
	_ = last.Callback(v)
}

func TestNestedDeferredChainStackDepthDoesNotGrowWithLength(t *testing.T) {
	var depth []int
	for _, n := range []int{1, 10, 1000} {
		top, last, inners := waitingChain(n, &depth)
		fireWaitingChain(top, last, inners, n)
		if v, err := result(t, top); v != n || err != nil {
			t.Fatalf("n=%d: top = %v, %v", n, v, err)
		}
	}
	if len(depth) != 3 || depth[0] != depth[1] || depth[1] != depth[2] {
		t.Fatalf("stack depth at the top callback by chain length 1, 10, 1000: %v; want equal", depth)
	}
}

func TestHundredThousandDeepDeferredChainDoesNotOverflowStack(t *testing.T) {
	// A recursive implementation needs far more than 1 MiB of stack for
	// this; with the limit lowered it would crash the test.
	old := debug.SetMaxStack(1 << 20)
	defer debug.SetMaxStack(old)
	const n = 100_000
	var depth []int
	top, last, inners := waitingChain(n, &depth)
	fireWaitingChain(top, last, inners, n)
	if v, err := result(t, top); v != n || err != nil {
		t.Fatalf("top = %v, %v; want %d, nil", v, err, n)
	}

	// Each step returning an already-fired Deferred: taken in place.
	d := Succeed(0)
	for range n {
		d.AddCallbackDeferred(func(v int) *Deferred[int] { return Succeed(v + 1) })
	}
	if v, err := result(t, d); v != n || err != nil {
		t.Fatalf("synchronous chain = %v, %v; want %d, nil", v, err, n)
	}

	// Each step returning a pending Deferred, fired innermost first.
	pending := make([]*Deferred[int], n)
	for i := range pending {
		pending[i] = New[int]()
	}
	head := New[int]()
	cur := head
	for i := range n {
		cur.AddCallbackDeferred(func(int) *Deferred[int] { return pending[i] })
		cur = pending[i]
	}
	cur.AddCallback(addOne)
	_ = head.Callback(0)
	for i := range n {
		_ = pending[i].Callback(i)
	}
	if v, err := result(t, head); v != n || err != nil {
		t.Fatalf("pending chain = %v, %v; want %d, nil", v, err, n)
	}
}
