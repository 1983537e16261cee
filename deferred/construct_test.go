package deferred

import (
	"errors"
	"strings"
	"testing"
)

func TestSucceedIsFiredWithValue(t *testing.T) {
	d := Succeed("v")
	if !d.Called() {
		t.Fatal("not fired")
	}
	if v, err := result(t, d); v != "v" || err != nil {
		t.Fatalf("result = %q, %v", v, err)
	}
}

func TestFailIsFiredWithError(t *testing.T) {
	if _, err := result(t, Fail[int](errBoom)); !errors.Is(err, errBoom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := result(t, Fail[int](nil)); !errors.Is(err, ErrNilError) {
		t.Fatalf("Fail(nil) err = %v; want ErrNilError", err)
	}
}

func TestFromFuncValueAndError(t *testing.T) {
	if v, err := result(t, FromFunc(func() (int, error) { return 4, nil })); v != 4 || err != nil {
		t.Fatalf("value case = %v, %v", v, err)
	}
	if _, err := result(t, FromFunc(func() (int, error) { return 4, errBoom })); !errors.Is(err, errBoom) {
		t.Fatalf("error case = %v", err)
	}
}

func panicsDeep() (int, error) { panic("deep trouble") }

func TestFromFuncPanicBecomesPanicErrorWithStack(t *testing.T) {
	_, err := result(t, FromFunc(panicsDeep))
	var pe *PanicError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPanic) {
		t.Fatalf("err = %v; want *PanicError", err)
	}
	if pe.Value != "deep trouble" || !strings.Contains(string(pe.Stack), "panicsDeep") {
		t.Fatalf("PanicError value %v, stack without the panicking function:\n%s", pe.Value, pe.Stack)
	}
}

func TestFromFuncNilFailsWithErrNilFunc(t *testing.T) {
	if _, err := result(t, FromFunc[int](nil)); !errors.Is(err, ErrNilFunc) {
		t.Fatalf("err = %v; want ErrNilFunc", err)
	}
}
