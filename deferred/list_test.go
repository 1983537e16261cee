package deferred

import (
	"errors"
	"slices"
	"testing"
)

func TestDeferredListFiresWithEveryOutcomeInInputOrder(t *testing.T) {
	a, b, c := New[int](), New[int](), New[int]()
	l := DeferredList([]*Deferred[int]{a, b, c})
	_ = c.Callback(3)
	_ = a.Errback(errBoom)
	if l.Called() {
		t.Fatal("list fired before every input did")
	}
	_ = b.Callback(2)
	got, err := result(t, l)
	if err != nil || len(got) != 3 {
		t.Fatalf("result = %v, %v", got, err)
	}
	if !got[0].Done || !errors.Is(got[0].Err, errBoom) {
		t.Errorf("outcome 0 = %+v; want boom", got[0])
	}
	if got[1] != (Outcome[int]{Value: 2, Done: true}) || got[2] != (Outcome[int]{Value: 3, Done: true}) {
		t.Errorf("outcomes 1, 2 = %+v, %+v", got[1], got[2])
	}
	// Without ConsumeErrors the input keeps its error.
	if _, err := result(t, a); !errors.Is(err, errBoom) {
		t.Errorf("input error after the list = %v; want boom kept", err)
	}
}

func TestDeferredListFireOnOneCallbackFiresWithWinner(t *testing.T) {
	a, b, c := New[int](), New[int](), New[int]()
	l := DeferredList([]*Deferred[int]{a, b, c}, FireOnOneCallback())
	_ = a.Errback(errBoom)
	if l.Called() {
		t.Fatal("fired on an error")
	}
	_ = c.Callback(30)
	got, err := result(t, l)
	if err != nil {
		t.Fatal(err)
	}
	var winners []int
	for i, o := range got {
		if o.Done && o.Err == nil {
			winners = append(winners, i)
		}
	}
	if !slices.Equal(winners, []int{2}) || got[2].Value != 30 || got[1].Done || !got[0].Done {
		t.Fatalf("outcomes = %+v; want only input 2 succeeded", got)
	}
	_ = b.Callback(20) // after the list fired: no effect on it
	if got[1].Done {
		t.Fatal("snapshot changed after the list fired")
	}
}

func TestDeferredListFireOnOneErrbackFailsWithFirstError(t *testing.T) {
	a, b := New[int](), New[int]()
	l := DeferredList([]*Deferred[int]{a, b}, FireOnOneErrback())
	_ = a.Callback(1)
	_ = b.Errback(errBoom)
	_, err := result(t, l)
	var fe *FirstError
	if !errors.As(err, &fe) || fe.Index != 1 || !errors.Is(err, errBoom) {
		t.Fatalf("err = %v; want FirstError{1, boom}", err)
	}
}

func TestDeferredListConsumeErrorsClearsInputErrors(t *testing.T) {
	a := New[int]()
	l := DeferredList([]*Deferred[int]{a}, ConsumeErrors())
	_ = a.Errback(errBoom)
	if v, err := result(t, a); v != 0 || err != nil {
		t.Fatalf("input after the list = %v, %v; want zero, nil", v, err)
	}
	if a.fail != nil {
		t.Fatal("consumed input error still pending as unhandled")
	}
	got, _ := result(t, l)
	if !errors.Is(got[0].Err, errBoom) {
		t.Fatalf("list outcome = %+v; want boom", got[0])
	}
}

func TestDeferredListWithFiredInputs(t *testing.T) {
	l := DeferredList([]*Deferred[int]{Succeed(1), Succeed(2)})
	got, err := result(t, l)
	if err != nil || got[0].Value != 1 || got[1].Value != 2 {
		t.Fatalf("result = %+v, %v", got, err)
	}
}

func TestDeferredListEmptyFiresAtOnce(t *testing.T) {
	for _, opts := range [][]ListOption{nil, {FireOnOneCallback()}} {
		got, err := result(t, DeferredList[int](nil, opts...))
		if err != nil || len(got) != 0 {
			t.Fatalf("result = %v, %v; want empty", got, err)
		}
	}
}

func TestDeferredListNilInputFailsWithErrNilDeferred(t *testing.T) {
	got, _ := result(t, DeferredList([]*Deferred[int]{nil, Succeed(1)}))
	if !errors.Is(got[0].Err, ErrNilDeferred) || got[1].Value != 1 {
		t.Fatalf("outcomes = %+v", got)
	}
}

func TestCancelDeferredListCancelsEveryInput(t *testing.T) {
	a, b := New[int](), New[int]()
	l := DeferredList([]*Deferred[int]{a, b})
	l.Cancel()
	got, err := result(t, l)
	if err != nil {
		t.Fatalf("list err = %v; want it to fire with outcomes", err)
	}
	for i, o := range got {
		if !errors.Is(o.Err, ErrCancelled) {
			t.Errorf("outcome %d = %+v; want ErrCancelled", i, o)
		}
	}
}

func TestCancelFiredDeferredListDoesNothing(t *testing.T) {
	a, b := New[int](), New[int]()
	l := DeferredList([]*Deferred[int]{a, b}, FireOnOneCallback())
	_ = a.Callback(1)
	l.Cancel()
	if b.Called() {
		t.Fatal("cancelling a fired list cancelled its inputs")
	}
}

func TestGatherReturnsValuesInOrder(t *testing.T) {
	a, b := New[string](), New[string]()
	g := Gather([]*Deferred[string]{a, b})
	_ = b.Callback("b")
	_ = a.Callback("a")
	got, err := result(t, g)
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("result = %v, %v; want [a b]", got, err)
	}
}

func TestGatherFailsOnFirstError(t *testing.T) {
	a, b := New[int](), New[int]()
	g := Gather([]*Deferred[int]{a, b})
	_ = b.Errback(errBoom)
	_, err := result(t, g)
	var fe *FirstError
	if !errors.As(err, &fe) || fe.Index != 1 || !errors.Is(err, errBoom) {
		t.Fatalf("err = %v; want FirstError{1, boom}", err)
	}
	if a.Called() {
		t.Fatal("Gather cancelled the other input (Twisted's gatherResults does not)")
	}
}

func TestGatherConsumeErrorsClearsEveryInputError(t *testing.T) {
	errOther := errors.New("other")
	a, b := New[int](), New[int]()
	g := Gather([]*Deferred[int]{a, b}, ConsumeErrors())
	_ = a.Errback(errBoom)
	_ = b.Errback(errOther)
	for i, d := range []*Deferred[int]{a, b} {
		if _, err := result(t, d); err != nil || d.fail != nil {
			t.Errorf("input %d err = %v; want consumed", i, err)
		}
	}
	if _, err := result(t, g); !errors.Is(err, errBoom) {
		t.Fatalf("gather err = %v; want the first error", err)
	}
}

func TestGatherWithoutConsumeErrorsLeavesInputErrors(t *testing.T) {
	a := New[int]()
	Gather([]*Deferred[int]{a})
	_ = a.Errback(errBoom)
	if _, err := result(t, a); !errors.Is(err, errBoom) {
		t.Fatalf("input err = %v; want boom kept", err)
	}
}

func TestGatherEmptyFiresWithEmptySlice(t *testing.T) {
	got, err := result(t, Gather[int](nil))
	if err != nil || len(got) != 0 {
		t.Fatalf("result = %v, %v", got, err)
	}
}

func TestCancelGatherCancelsInputsAndFailsWithCancelled(t *testing.T) {
	a, b := New[int](), New[int]()
	g := Gather([]*Deferred[int]{a, b}, ConsumeErrors())
	g.Cancel()
	if !a.Called() || !b.Called() {
		t.Fatal("inputs not cancelled")
	}
	if _, err := result(t, g); !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v; want ErrCancelled", err)
	}
}
