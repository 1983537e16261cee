package deferred

import (
	"errors"
	"slices"
	"testing"
)

func TestCallbackRunsCallbacksInOrder(t *testing.T) {
	d := New[int]()
	var seen []int
	for i := range 5 {
		d.AddCallback(func(v int) (int, error) {
			seen = append(seen, i)
			return v * 2, nil
		})
	}
	if err := d.Callback(1); err != nil {
		t.Fatal(err)
	}
	v, err := result(t, d)
	if err != nil || v != 32 {
		t.Fatalf("result = %v, %v; want 32, nil", v, err)
	}
	if !slices.Equal(seen, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("order = %v", seen)
	}
}

func TestErrorInCallbackSkipsItsOwnErrbackAndGoesToNextErrback(t *testing.T) {
	d := New[int]()
	var ownErrback, nextErrback bool
	d.AddCallbacks(
		func(int) (int, error) { return 0, errBoom },
		func(err error) (int, error) { ownErrback = true; return 0, err },
	)
	d.AddCallback(func(v int) (int, error) { t.Error("callback after failure ran"); return v, nil })
	d.AddErrback(func(err error) (int, error) {
		nextErrback = errors.Is(err, errBoom)
		return 7, nil
	})
	_ = d.Callback(1)
	if ownErrback {
		t.Error("the errback paired with the failing callback ran")
	}
	if !nextErrback {
		t.Error("the next errback did not get the error")
	}
}

func TestErrbackReturningValueResumesCallbackPath(t *testing.T) {
	d := New[int]()
	d.AddErrback(func(error) (int, error) { return 10, nil })
	d.AddCallback(addOne)
	_ = d.Errback(errBoom)
	v, err := result(t, d)
	if err != nil || v != 11 {
		t.Fatalf("result = %v, %v; want 11, nil", v, err)
	}
}

func TestErrbackReturningErrorStaysOnErrbackPath(t *testing.T) {
	errOther := errors.New("other")
	d := New[int]()
	d.AddErrback(func(error) (int, error) { return 0, errOther })
	d.AddCallback(func(int) (int, error) { t.Error("callback ran on error path"); return 0, nil })
	_ = d.Errback(errBoom)
	_, err := result(t, d)
	if !errors.Is(err, errOther) {
		t.Fatalf("err = %v; want %v", err, errOther)
	}
}

func TestCallbackFailureClearsValueForAddBoth(t *testing.T) {
	d := New[int]()
	d.AddCallback(func(int) (int, error) { return 99, errBoom })
	_ = d.Callback(1)
	v, err := result(t, d)
	if v != 0 || !errors.Is(err, errBoom) {
		t.Fatalf("result = %v, %v; want 0, boom", v, err)
	}
}

func TestAddBothSeesValuesAndErrors(t *testing.T) {
	d := New[int]()
	var got []string
	both := func(v int, err error) (int, error) {
		if err != nil {
			got = append(got, "err")
			return 5, nil
		}
		got = append(got, "val")
		return v, errBoom
	}
	d.AddBoth(both).AddBoth(both).AddBoth(both)
	_ = d.Callback(1)
	if !slices.Equal(got, []string{"val", "err", "val"}) {
		t.Fatalf("got %v", got)
	}
}

func TestAddCallbacksNilSidePassesThrough(t *testing.T) {
	d := New[int]()
	d.AddCallbacks(nil, func(error) (int, error) { return 3, nil })
	d.AddCallbacks(addOne, nil)
	_ = d.Callback(1)
	v, err := result(t, d)
	if err != nil || v != 2 {
		t.Fatalf("result = %v, %v; want 2, nil", v, err)
	}
}

func TestCallbackAddedAfterFiringRunsAtOnce(t *testing.T) {
	d := Succeed(1)
	ran := false
	d.AddCallback(func(v int) (int, error) { ran = true; return v, nil })
	if !ran {
		t.Fatal("callback added to a fired Deferred did not run at once")
	}
}

func TestCallbackAddedFromRunningCallbackRunsAfterIt(t *testing.T) {
	d := New[int]()
	var seen []int
	d.AddCallback(func(v int) (int, error) {
		seen = append(seen, 1)
		d.AddCallback(func(v int) (int, error) { seen = append(seen, 3); return v, nil })
		if len(seen) != 1 {
			t.Errorf("nested callback ran inside its parent: %v", seen)
		}
		return v, nil
	})
	d.AddCallback(func(v int) (int, error) { seen = append(seen, 2); return v, nil })
	_ = d.Callback(0)
	if !slices.Equal(seen, []int{1, 2, 3}) {
		t.Fatalf("order = %v; want [1 2 3]", seen)
	}
}

func TestErrorFromCallbackAddedByRunningCallbackReachesErrback(t *testing.T) {
	d := New[int]()
	d.AddCallback(func(v int) (int, error) {
		d.AddCallback(func(int) (int, error) { return 0, errBoom })
		return v, nil
	})
	_ = d.Callback(0)
	if _, err := result(t, d); !errors.Is(err, errBoom) {
		t.Fatalf("err = %v; want boom", err)
	}
}

func TestSecondCallbackReturnsErrAlreadyCalled(t *testing.T) {
	d := New[int]()
	if err := d.Callback(1); err != nil {
		t.Fatal(err)
	}
	if err := d.Callback(2); !errors.Is(err, ErrAlreadyCalled) {
		t.Fatalf("second Callback = %v; want ErrAlreadyCalled", err)
	}
	if err := d.Errback(errBoom); !errors.Is(err, ErrAlreadyCalled) {
		t.Fatalf("Errback after Callback = %v; want ErrAlreadyCalled", err)
	}
	if v, err := result(t, d); v != 1 || err != nil {
		t.Fatalf("result changed to %v, %v", v, err)
	}
}

func TestErrbackWithNilErrorFailsWithErrNilError(t *testing.T) {
	d := New[int]()
	_ = d.Errback(nil)
	if _, err := result(t, d); !errors.Is(err, ErrNilError) {
		t.Fatalf("err = %v; want ErrNilError", err)
	}
}

func TestCalledReportsFiring(t *testing.T) {
	d := New[int]()
	if d.Called() {
		t.Fatal("new Deferred reports Called")
	}
	_ = d.Callback(1)
	if !d.Called() {
		t.Fatal("fired Deferred does not report Called")
	}
}

func TestNilStepFunctionsFailWithErrNilFunc(t *testing.T) {
	cases := map[string]func(d *Deferred[int]){
		"AddCallback":         func(d *Deferred[int]) { d.AddCallback(nil) },
		"AddBoth":             func(d *Deferred[int]) { d.AddBoth(nil) },
		"AddCallbackDeferred": func(d *Deferred[int]) { d.AddCallbackDeferred(nil) },
		"AddBothDeferred":     func(d *Deferred[int]) { d.AddBothDeferred(nil) },
	}
	for name, add := range cases {
		t.Run(name, func(t *testing.T) {
			d := Succeed(1)
			add(d)
			if _, err := result(t, d); !errors.Is(err, ErrNilFunc) {
				t.Fatalf("err = %v; want ErrNilFunc", err)
			}
		})
	}
	for name, add := range map[string]func(d *Deferred[int]){
		"AddErrback":         func(d *Deferred[int]) { d.AddErrback(nil) },
		"AddErrbackDeferred": func(d *Deferred[int]) { d.AddErrbackDeferred(nil) },
	} {
		t.Run(name, func(t *testing.T) {
			d := Fail[int](errBoom)
			add(d)
			if _, err := result(t, d); !errors.Is(err, ErrNilFunc) {
				t.Fatalf("err = %v; want ErrNilFunc", err)
			}
		})
	}
}

func TestPanicInCallbackBecomesPanicErrorForNextErrback(t *testing.T) {
	d := New[int]()
	d.AddCallback(func(int) (int, error) { panic("kaboom") })
	var got error
	d.AddErrback(func(err error) (int, error) { got = err; return 0, nil })
	_ = d.Callback(1)
	var pe *PanicError
	if !errors.As(got, &pe) || !errors.Is(got, ErrPanic) {
		t.Fatalf("errback got %v; want a *PanicError", got)
	}
	if pe.Value != "kaboom" || len(pe.Stack) == 0 {
		t.Fatalf("PanicError = %v with %d bytes of stack", pe.Value, len(pe.Stack))
	}
}

func TestPanicWithErrorValueUnwrapsToIt(t *testing.T) {
	d := Succeed(1).AddCallback(func(int) (int, error) { panic(errBoom) })
	_, err := result(t, d)
	if !errors.Is(err, ErrPanic) || !errors.Is(err, errBoom) {
		t.Fatalf("err = %v; want ErrPanic wrapping boom", err)
	}
}
