package reactor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
)

// Cancelling the Deferred cancels the context the running job sees, and
// the Deferred has failed with ErrCancelled at once.
func TestDeferToThreadContextCancelReachesRunningJob(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	started := make(chan struct{})
	cause := make(chan error, 1)
	var d *deferred.Deferred[int]
	onLoop(t, r, func() {
		d = DeferToThreadContext(r.Loops()[0], context.Background(), func(ctx context.Context) (int, error) {
			close(started)
			select {
			case <-ctx.Done():
				cause <- context.Cause(ctx)
			case <-time.After(20 * time.Second):
				cause <- nil
			}
			return 0, nil
		})
	})
	<-started
	onLoop(t, r, func() { d.Cancel() })
	if err := <-cause; !errors.Is(err, deferred.ErrCancelled) {
		t.Fatalf("job's context cause %v, want ErrCancelled", err)
	}
}

// A job whose context ended before a worker took it never runs; the
// Deferred fails with the context's cause; a job that runs gets the
// context and its result.
func TestDeferToThreadContextRunsOrSkips(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	errGone := errors.New("client gone")
	got := make(chan error, 2)
	ran := make(chan struct{}, 2)
	onLoop(t, r, func() {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(errGone)
		DeferToThreadContext(r.Loops()[0], ctx, func(context.Context) (int, error) {
			ran <- struct{}{}
			return 1, nil
		}).AddBoth(func(v int, err error) (int, error) { got <- err; return v, nil })
		type key struct{}
		vctx := context.WithValue(context.Background(), key{}, 42)
		DeferToThreadContext(r.Loops()[0], vctx, func(ctx context.Context) (int, error) {
			return ctx.Value(key{}).(int), nil
		}).AddBoth(func(v int, err error) (int, error) {
			if v != 42 {
				err = errors.New("value not carried")
			}
			got <- err
			return v, nil
		})
	})
	if err := <-got; !errors.Is(err, errGone) {
		t.Fatalf("ended context: %v, want its cause", err)
	}
	if err := <-got; err != nil {
		t.Fatalf("live context: %v", err)
	}
	select {
	case <-ran:
		t.Fatal("the job of an ended context ran")
	default:
	}
}
