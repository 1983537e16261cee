package deferred

import (
	"errors"
	"runtime/debug"
	"strconv"
	"testing"
)

func TestThenChangesResultType(t *testing.T) {
	d := New[int]()
	s := Then(d, func(v int) (string, error) { return strconv.Itoa(v), nil })
	_ = d.Callback(42)
	if v, err := result(t, s); v != "42" || err != nil {
		t.Fatalf("result = %q, %v; want \"42\", nil", v, err)
	}
}

func TestThenPassesErrorWithoutCallingFn(t *testing.T) {
	d := New[int]()
	s := Then(d, func(int) (string, error) { t.Error("fn ran on an error"); return "", nil })
	_ = d.Errback(errBoom)
	if _, err := result(t, s); !errors.Is(err, errBoom) {
		t.Fatalf("err = %v; want boom", err)
	}
}

func TestThenMovesErrorOutOfSourceChain(t *testing.T) {
	d := New[int]()
	s := Then(d, func(v int) (string, error) { return "", nil })
	_ = d.Errback(errBoom)
	if v, err := result(t, d); v != 0 || err != nil {
		t.Fatalf("source chain after Then = %v, %v; want zero, nil", v, err)
	}
	if _, err := result(t, s); !errors.Is(err, errBoom) {
		t.Fatalf("derived err = %v; want boom", err)
	}
}

func TestThenKeepsSourceValue(t *testing.T) {
	d := Succeed(3)
	Then(d, func(v int) (int, error) { return v * 10, nil })
	if v, err := result(t, d); v != 3 || err != nil {
		t.Fatalf("source = %v, %v; want 3, nil", v, err)
	}
}

func TestThenFnErrorFailsDerived(t *testing.T) {
	s := Then(Succeed(1), func(int) (string, error) { return "x", errBoom })
	if v, err := result(t, s); v != "" || !errors.Is(err, errBoom) {
		t.Fatalf("result = %q, %v; want \"\", boom", v, err)
	}
}

func TestThenFnPanicFailsDerivedWithPanicError(t *testing.T) {
	s := Then(Succeed(1), func(int) (string, error) { panic("bad") })
	if _, err := result(t, s); !errors.Is(err, ErrPanic) {
		t.Fatalf("err = %v; want ErrPanic", err)
	}
}

func TestThenNilFnFailsWithErrNilFunc(t *testing.T) {
	s := Then[int, string](Succeed(1), nil)
	if _, err := result(t, s); !errors.Is(err, ErrNilFunc) {
		t.Fatalf("err = %v; want ErrNilFunc", err)
	}
}

func TestCancelThenCancelsSource(t *testing.T) {
	cancelled := false
	d := NewWithCanceller(func(*Deferred[int]) { cancelled = true })
	s := Then(d, func(v int) (string, error) { return "", nil })
	s.Cancel()
	if !cancelled {
		t.Fatal("cancelling the derived Deferred did not cancel its source")
	}
	if _, err := result(t, s); !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v; want ErrCancelled", err)
	}
}

func TestCancelThenWhileSourceRunsSwallowsLateResult(t *testing.T) {
	src := New[int]()
	var s *Deferred[int]
	// A step of src, running before Then's, cancels the derived Deferred:
	// src cannot be cancelled any more, so s fails with ErrCancelled and the
	// result arriving afterwards is swallowed, not an error on src.
	src.AddCallback(func(v int) (int, error) { s.Cancel(); return v, nil })
	s = Then(src, func(v int) (int, error) { return v, nil })
	_ = src.Callback(1)
	if _, err := result(t, s); !errors.Is(err, ErrCancelled) {
		t.Fatalf("derived err = %v; want ErrCancelled", err)
	}
	if v, err := result(t, src); v != 1 || err != nil {
		t.Fatalf("source = %v, %v; want 1, nil", v, err)
	}
}

func TestThenDeferredWaitsForReturnedDeferred(t *testing.T) {
	inner := New[string]()
	s := ThenDeferred(Succeed(1), func(int) *Deferred[string] { return inner })
	early := false
	s.AddCallback(func(v string) (string, error) { early = !inner.Called(); return v, nil })
	if early {
		t.Fatal("derived chain ran before the inner Deferred fired")
	}
	_ = inner.Callback("done")
	if v, err := result(t, s); v != "done" || err != nil {
		t.Fatalf("result = %q, %v", v, err)
	}
}

func TestCancelThenDeferredAfterFnCancelsReturnedDeferred(t *testing.T) {
	innerCancelled := false
	inner := NewWithCanceller(func(*Deferred[string]) { innerCancelled = true })
	s := ThenDeferred(Succeed(1), func(int) *Deferred[string] { return inner })
	s.Cancel()
	if !innerCancelled {
		t.Fatal("cancel did not reach the Deferred fn returned")
	}
}

func TestThenDeferredNilReturnFailsWithErrNilDeferred(t *testing.T) {
	s := ThenDeferred(Succeed(1), func(int) *Deferred[string] { return nil })
	if _, err := result(t, s); !errors.Is(err, ErrNilDeferred) {
		t.Fatalf("err = %v; want ErrNilDeferred", err)
	}
}

func TestHundredThousandThensDoNotOverflowStack(t *testing.T) {
	old := debug.SetMaxStack(1 << 20)
	defer debug.SetMaxStack(old)
	const n = 100_000
	head := New[int]()
	cur := head
	for range n {
		cur = Then(cur, func(v int) (int, error) { return v + 1, nil })
	}
	_ = head.Callback(0)
	if v, err := result(t, cur); v != n || err != nil {
		t.Fatalf("result = %v, %v; want %d, nil", v, err, n)
	}
}

func TestThenOnNilDeferredFailsWithErrNilDeferred(t *testing.T) {
	if _, err := result(t, Then(nil, func(int) (int, error) { return 0, nil })); !errors.Is(err, ErrNilDeferred) {
		t.Fatalf("Then(nil) err = %v", err)
	}
	if _, err := result(t, ThenDeferred(nil, func(int) *Deferred[int] { return nil })); !errors.Is(err, ErrNilDeferred) {
		t.Fatalf("ThenDeferred(nil) err = %v", err)
	}
}

func TestCancelEndOfHundredThousandThensCancelsSourceWithoutDeepStack(t *testing.T) {
	old := debug.SetMaxStack(1 << 20)
	defer debug.SetMaxStack(old)
	const n = 100_000
	cancelled := false
	head := NewWithCanceller(func(*Deferred[int]) { cancelled = true })
	cur := head
	for range n {
		cur = Then(cur, func(v int) (int, error) { return v + 1, nil })
	}
	cur.Cancel()
	if !cancelled {
		t.Fatal("cancel did not reach the source")
	}
	if _, err := result(t, cur); !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v; want ErrCancelled", err)
	}
}
