// Package deferred provides Deferred[T], Twisted's callback/errback chain
// with Go generics: a result that arrives later, and the steps that run when
// it does.
//
// A Deferred is created pending, gets steps with AddCallback, AddErrback,
// AddBoth and AddCallbacks (or Then for a step that changes the result
// type), and is fired exactly once with Callback or Errback. From then on
// the result travels down the chain: a step that returns an error sends it
// to the next errback, never to the errback of its own pair; an errback
// that returns a nil error puts the chain back on the callback path. Steps
// added after the Deferred fired run at once; steps added by a running step
// run after it. A step may return another Deferred (AddCallbackDeferred and
// friends): the chain pauses until that one fires and then continues with
// its result. Such chains are resolved iteratively, so depth costs heap, not
// stack.
//
// A panic in a step is recovered and continues down the chain as a
// *PanicError (matchable with errors.Is(err, ErrPanic)) carrying the
// panic's stack, the way Twisted turns an exception into a Failure.
//
// # Concurrency
//
// A Deferred is not goroutine-safe. It is chained and fired on one loop (a
// reactor loop, or the single goroutine of a test); every step runs on that
// loop, so steps need no locks. A result computed on another goroutine
// reaches a Deferred through the reactor's CallFromThread, which runs the
// Callback on the Deferred's loop.
//
// Await is the one exception: it is meant for goroutines outside any
// reactor (a main function, a test, a worker) and may be called while the
// Deferred is chained and fired on its loop. It must never be called on the
// loop that fires the Deferred, since it would block the very loop that has
// to deliver the result.
//
// # Unhandled errors
//
// A Deferred that is garbage collected while an error sits at the end of its
// chain is reported through the hook set with SetUnhandledErrorHook, along
// with the place where the Deferred was created (default: one zerolog error
// line on stderr). Nothing is registered with the garbage collector for a
// Deferred whose chain ends in a value, so handled errors cost nothing extra.
package deferred
