package deferred

import (
	"errors"
	"runtime/debug"
	"testing"
)

func TestCancelWithoutCancellerFailsWithErrCancelled(t *testing.T) {
	d := New[int]()
	d.Cancel()
	if _, err := result(t, d); !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v; want ErrCancelled", err)
	}
}

func TestCancelWithoutCancellerSwallowsOneLateCallback(t *testing.T) {
	d := New[int]()
	d.Cancel()
	if err := d.Callback(1); err != nil {
		t.Fatalf("first late Callback = %v; want it swallowed", err)
	}
	if err := d.Callback(2); !errors.Is(err, ErrAlreadyCalled) {
		t.Fatalf("second late Callback = %v; want ErrAlreadyCalled", err)
	}
	if _, err := result(t, d); !errors.Is(err, ErrCancelled) {
		t.Fatalf("result = %v; want ErrCancelled kept", err)
	}
}

func TestCancelWithoutCancellerSwallowsOneLateErrback(t *testing.T) {
	d := New[int]()
	d.Cancel()
	if err := d.Errback(errBoom); err != nil {
		t.Fatalf("first late Errback = %v; want it swallowed", err)
	}
	if err := d.Errback(errBoom); !errors.Is(err, ErrAlreadyCalled) {
		t.Fatalf("second late Errback = %v; want ErrAlreadyCalled", err)
	}
}

func TestCancelTwiceWithoutCancellerStillSwallowsOnlyOne(t *testing.T) {
	d := New[int]()
	d.Cancel()
	d.Cancel()
	if err := d.Callback(1); err != nil {
		t.Fatalf("first late Callback = %v", err)
	}
	if err := d.Callback(1); !errors.Is(err, ErrAlreadyCalled) {
		t.Fatalf("second late Callback = %v; want ErrAlreadyCalled", err)
	}
}

func TestCancelCallsCancellerWithTheDeferred(t *testing.T) {
	var got *Deferred[int]
	d := NewWithCanceller(func(c *Deferred[int]) { got = c })
	d.Cancel()
	if got != d {
		t.Fatal("canceller did not get the Deferred")
	}
	if _, err := result(t, d); !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v; want ErrCancelled", err)
	}
}

func TestCancellerThatDoesNotFireLeavesLateCallbackAlreadyCalled(t *testing.T) {
	d := NewWithCanceller(func(*Deferred[int]) {})
	d.Cancel()
	if err := d.Callback(1); !errors.Is(err, ErrAlreadyCalled) {
		t.Fatalf("late Callback = %v; want ErrAlreadyCalled (only a missing canceller swallows)", err)
	}
}

func TestCancellerThatCallbacksDecidesTheResult(t *testing.T) {
	d := NewWithCanceller(func(c *Deferred[int]) { _ = c.Callback(9) })
	d.Cancel()
	if v, err := result(t, d); v != 9 || err != nil {
		t.Fatalf("result = %v, %v; want 9, nil", v, err)
	}
}

func TestCancellerThatErrbacksDecidesTheError(t *testing.T) {
	d := NewWithCanceller(func(c *Deferred[int]) { _ = c.Errback(errBoom) })
	d.Cancel()
	if _, err := result(t, d); !errors.Is(err, errBoom) || errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v; want boom", err)
	}
}

func TestCancellerPanicFailsDeferredWithPanicError(t *testing.T) {
	d := NewWithCanceller(func(*Deferred[int]) { panic("stuck") })
	d.Cancel()
	if _, err := result(t, d); !errors.Is(err, ErrPanic) {
		t.Fatalf("err = %v; want ErrPanic", err)
	}
}

func TestCancelAfterFiringDoesNothing(t *testing.T) {
	called := false
	d := NewWithCanceller(func(*Deferred[int]) { called = true })
	_ = d.Callback(1)
	d.Cancel()
	if called {
		t.Fatal("canceller ran after the Deferred fired")
	}
	if v, err := result(t, d); v != 1 || err != nil {
		t.Fatalf("result = %v, %v; want 1, nil", v, err)
	}
}

func TestCancelWaitingDeferredCancelsTheInnerOne(t *testing.T) {
	innerCancelled := false
	inner := NewWithCanceller(func(*Deferred[int]) { innerCancelled = true })
	outer := Succeed(1).AddCallbackDeferred(func(int) *Deferred[int] { return inner })
	outer.Cancel()
	if !innerCancelled {
		t.Fatal("cancelling the waiting Deferred did not cancel the inner one")
	}
	if _, err := result(t, outer); !errors.Is(err, ErrCancelled) {
		t.Fatalf("outer err = %v; want ErrCancelled from the inner Deferred", err)
	}
}

func TestCancelHundredThousandDeepWaitingChainReachesInnermost(t *testing.T) {
	old := debug.SetMaxStack(1 << 20)
	defer debug.SetMaxStack(old)
	const n = 100_000
	innermostCancelled := false
	innermost := NewWithCanceller(func(*Deferred[int]) { innermostCancelled = true })
	next := innermost
	var top *Deferred[int]
	for range n {
		inner := next
		top = Succeed(0).AddCallbackDeferred(func(int) *Deferred[int] { return inner })
		next = top
	}
	top.Cancel()
	if !innermostCancelled {
		t.Fatal("cancel did not reach the innermost Deferred")
	}
	if _, err := result(t, top); !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v; want ErrCancelled", err)
	}
}
