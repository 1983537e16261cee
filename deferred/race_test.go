package deferred

import (
	"errors"
	"testing"
)

func TestRaceFirstSuccessWinsAndOthersAreCancelled(t *testing.T) {
	a, b, c := New[int](), New[int](), New[int]()
	r := Race([]*Deferred[int]{a, b, c})
	_ = b.Callback(2)
	w, err := result(t, r)
	if err != nil || w.Index != 1 || w.Value != 2 {
		t.Fatalf("winner = %+v, %v; want {1 2}", w, err)
	}
	for i, d := range []*Deferred[int]{a, c} {
		if !d.Called() {
			t.Errorf("loser %d not cancelled", i)
		}
		if v, err := result(t, d); v != 0 || err != nil || d.fail != nil {
			t.Errorf("loser %d = %v, %v; want its cancellation consumed", i, v, err)
		}
	}
	if v, err := result(t, b); v != 2 || err != nil {
		t.Errorf("winner's own chain = %v, %v; want 2, nil", v, err)
	}
}

func TestRaceIgnoresErrorsUntilAllFail(t *testing.T) {
	errOther := errors.New("other")
	a, b := New[int](), New[int]()
	r := Race([]*Deferred[int]{a, b})
	_ = a.Errback(errBoom)
	if r.Called() {
		t.Fatal("race ended on the first error")
	}
	_ = b.Errback(errOther)
	_, err := result(t, r)
	var fg *FailureGroup
	if !errors.As(err, &fg) || !errors.Is(err, ErrAllFailed) || len(fg.Errors) != 2 {
		t.Fatalf("err = %v; want a FailureGroup of 2", err)
	}
	if !errors.Is(fg.Errors[0], errBoom) || !errors.Is(fg.Errors[1], errOther) || !errors.Is(err, errOther) {
		t.Fatalf("errors = %v; want [boom other] in input order", fg.Errors)
	}
}

func TestRaceWithFiredInputWinsAtOnce(t *testing.T) {
	a := New[int]()
	r := Race([]*Deferred[int]{a, Succeed(7)})
	if w, err := result(t, r); err != nil || w.Index != 1 || w.Value != 7 {
		t.Fatalf("winner = %+v, %v", w, err)
	}
	if !a.Called() {
		t.Fatal("pending input not cancelled")
	}
}

func TestCancelRaceCancelsEveryInput(t *testing.T) {
	a, b := New[int](), New[int]()
	r := Race([]*Deferred[int]{a, b})
	r.Cancel()
	if !a.Called() || !b.Called() {
		t.Fatal("inputs not cancelled")
	}
	if _, err := result(t, r); !errors.Is(err, ErrCancelled) || !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err = %v; want every input cancelled", err)
	}
}

func TestRaceEmptyFailsWithErrAllFailed(t *testing.T) {
	if _, err := result(t, Race[int](nil)); !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err = %v; want ErrAllFailed", err)
	}
}

func TestRaceNilInputCountsAsFailed(t *testing.T) {
	r := Race([]*Deferred[int]{nil})
	if _, err := result(t, r); !errors.Is(err, ErrNilDeferred) {
		t.Fatalf("err = %v; want ErrNilDeferred inside", err)
	}
}
