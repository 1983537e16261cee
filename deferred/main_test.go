package deferred

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Tests leave failed Deferreds behind on purpose; keep their reports off
	// stderr. Tests about reporting install their own hook.
	SetUnhandledErrorHook(func(error, string) {})
	goleak.VerifyTestMain(m)
}

var errBoom = errors.New("boom")

// result reads d's current result through a step, as a Twisted test would
// with successResultOf/failureResultOf; the step consumes an error.
func result[T any](t *testing.T, d *Deferred[T]) (T, error) {
	t.Helper()
	var (
		v   T
		err error
		ok  bool
	)
	d.AddBoth(func(rv T, rerr error) (T, error) {
		v, err, ok = rv, rerr, true
		return rv, nil
	})
	if !ok {
		t.Fatal("Deferred has no result yet")
	}
	return v, err
}

func addOne(v int) (int, error) { return v + 1, nil }
