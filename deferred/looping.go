package deferred

import "github.com/mustaine/mustaine/timer"

// LoopingDone returns a Deferred that fires when the current (or next) run
// of lc ends: with the zero struct after Stop, or failing with the error or
// *timer.PanicError that ended the run. This is what Twisted's
// LoopingCall.start returns. Cancelling the Deferred stops lc, which fires
// it normally. A nil lc gives Fail(ErrNilLoopingCall).
func LoopingDone(lc *timer.LoopingCall) *Deferred[struct{}] {
	if lc == nil {
		return failed[struct{}](ErrNilLoopingCall, callerSite(1))
	}
	d := &Deferred[struct{}]{site: callerSite(1)}
	d.canceller = func(*Deferred[struct{}]) { lc.Stop() }
	lc.OnDone(func(err error) {
		if err != nil {
			_ = d.Errback(err)
			return
		}
		_ = d.Callback(struct{}{})
	})
	return d
}
