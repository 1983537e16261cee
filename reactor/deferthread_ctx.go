package reactor

import (
	"context"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// DeferToThreadContext is DeferToThread for work that can stop when its
// result is no longer wanted: fn runs on the worker pool with a context
// derived from ctx, and the Deferred fires on lp with fn's result.
//
// When ctx is done before a worker picks the job up, fn never runs and the
// Deferred fails with context.Cause(ctx) (so errors.Is matches the cause a
// server gave, such as the HTTP request's "client gone"). Once fn runs it
// is up to fn to watch ctx.Done() and return early; its result is
// delivered either way. Cancelling the Deferred cancels the context fn
// sees. The rules of DeferToThread apply otherwise (call it on lp; a nil
// fn or ctx fails with deferred.ErrNilFunc; ErrPoolFull, ErrReactorStopping).
func DeferToThreadContext[T any](lp protocol.Loop, ctx context.Context, fn func(context.Context) (T, error)) *deferred.Deferred[T] {
	l, ok := lp.(*loop)
	if !ok || l == nil {
		return deferred.FailForCaller[T](ErrNotReactorLoop)
	}
	if fn == nil || ctx == nil {
		return deferred.FailForCaller[T](deferred.ErrNilFunc)
	}
	if ctx.Err() != nil {
		return deferred.FailForCaller[T](context.Cause(ctx))
	}
	jctx, cancel := context.WithCancelCause(ctx)
	j := &ctxJob[T]{loop: l, ctx: jctx, cancel: cancel, fn: fn}
	j.d = deferred.NewForCaller(func(*deferred.Deferred[T]) { cancel(deferred.ErrCancelled) })
	if err := l.r.pool.submit(j); err != nil {
		cancel(nil)
		j.d.Errback(err)
	} else {
		l.readied()
	}
	return j.d
}

// ctxJob is a DeferToThreadContext call.
type ctxJob[T any] struct {
	loop   *loop
	ctx    context.Context
	cancel context.CancelCauseFunc
	fn     func(context.Context) (T, error)
	d      *deferred.Deferred[T]
	value  T
	err    error
}

func (j *ctxJob[T]) run() {
	if j.ctx.Err() != nil {
		j.err = context.Cause(j.ctx)
		return
	}
	j.err = ErrJobExited // stays if fn ends the goroutine with Goexit
	j.value, j.err = callJob(func() (T, error) { return j.fn(j.ctx) })
}

func (j *ctxJob[T]) deliver() {
	j.cancel(nil)
	j.loop.CallFromThread(j.fire)
}

func (j *ctxJob[T]) reject(err error) {
	j.cancel(nil)
	j.err = err
	j.loop.CallFromThread(j.fire)
}

// fire runs on the asking loop; a Deferred cancelled meanwhile ignores it.
func (j *ctxJob[T]) fire() {
	if j.err != nil {
		j.d.Errback(j.err)
		return
	}
	j.d.Callback(j.value)
}
