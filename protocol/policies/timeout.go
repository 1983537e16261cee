package policies

import (
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// Timeout is one idle timeout owned by a protocol, Twisted's TimeoutMixin.
// Start it in ConnectionMade, call Reset whenever the peer shows meaningful
// activity, and Stop it in ConnectionLost. When it expires, its onTimeout
// function runs on the connection's loop; by default it closes the
// connection with LoseConnection.
//
// The zero Timeout is disarmed and ready for Start. Like everything on a
// connection, a Timeout is used from the connection's loop only.
type Timeout struct {
	t         protocol.Transport
	d         time.Duration
	h         timer.Handle
	onTimeout func()
	fired     bool
}

// Start arms the timeout on t's loop: if Reset is not called for d,
// onTimeout runs (nil means t.LoseConnection). A d of zero or less leaves
// it disarmed until SetTimeout. Starting again replaces the previous
// timeout.
func (x *Timeout) Start(t protocol.Transport, d time.Duration, onTimeout func()) {
	x.Stop()
	x.t, x.onTimeout, x.fired = t, onTimeout, false
	x.SetTimeout(d)
}

// Reset restarts the countdown from now, because the peer is alive. It
// does nothing if the timeout is disarmed or has expired.
func (x *Timeout) Reset() {
	x.h.Reset(x.d)
}

// SetTimeout changes the period and restarts the countdown from now; a d
// of zero or less disarms the timeout. It returns the previous period
// (zero if it was disarmed). Like Twisted's setTimeout, it arms a timeout
// that had expired, but it does nothing before Start.
func (x *Timeout) SetTimeout(d time.Duration) time.Duration {
	prev := x.d
	if !x.h.Active() {
		prev = 0
	}
	x.h.Cancel()
	x.h = timer.Handle{}
	x.d = d
	if d > 0 && x.t != nil {
		x.h = x.t.Loop().CallLater(d, x.expire)
	}
	return prev
}

// Stop disarms the timeout.
func (x *Timeout) Stop() {
	x.h.Cancel()
	x.h = timer.Handle{}
}

// Active reports whether the timeout is armed.
func (x *Timeout) Active() bool { return x.h.Active() }

// Expired reports whether the timeout has expired since Start.
func (x *Timeout) Expired() bool { return x.fired }

// Reason returns reason wrapped in a *TimeoutError (which matches
// protocol.ErrTimeout) if the timeout has expired, else reason itself. Call
// it in ConnectionLost to tell an idle close from the others.
func (x *Timeout) Reason(reason error) error {
	if !x.fired {
		return reason
	}
	return &TimeoutError{Idle: x.d, Reason: reason}
}

func (x *Timeout) expire() {
	x.fired = true
	x.h = timer.Handle{}
	if x.onTimeout != nil {
		x.onTimeout()
		return
	}
	x.t.LoseConnection()
}
