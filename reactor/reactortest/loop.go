package reactortest

import (
	"sync"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// maxTurns bounds RunPending, so that a call that reschedules itself on
// every turn stops the test instead of hanging it.
const maxTurns = 10000

// Loop is a fake protocol.Loop whose time is a manual timer.Clock. Calls
// scheduled with CallLater, CallSoon or CallFromThread run only inside
// Advance or RunPending, on the goroutine that calls them, exactly in the
// order a reactor loop would run them. Create it with NewLoop.
type Loop struct {
	clock *timer.Clock
	index int

	mu     sync.Mutex
	thread []func() // CallFromThread calls not yet handed to the clock

	connects []*ConnectRequest // see ConnectTCP
}

var _ protocol.Loop = (*Loop)(nil)

// NewLoop returns a Loop at timer.ClockEpoch with nothing scheduled and
// index 0.
func NewLoop() *Loop {
	return &Loop{clock: timer.NewClock()}
}

// Clock returns the loop's manual clock.
func (l *Loop) Clock() *timer.Clock { return l.clock }

// Now returns the loop's current time.
func (l *Loop) Now() time.Time { return l.clock.Now() }

// CallLater schedules fn to run d after Now (see timer.Clock.CallLater).
func (l *Loop) CallLater(d time.Duration, fn func()) timer.Handle {
	return l.clock.CallLater(d, fn)
}

// CallSoon schedules fn for the next turn, in FIFO order with other
// CallSoon and CallLater(0) calls.
func (l *Loop) CallSoon(fn func()) { l.clock.CallLater(0, fn) }

// CallFromThread schedules fn for the next turn. It is safe from any
// goroutine; calls from one goroutine keep their order.
func (l *Loop) CallFromThread(fn func()) {
	l.mu.Lock()
	l.thread = append(l.thread, fn)
	l.mu.Unlock()
}

// Index returns 0: a test has one loop.
func (l *Loop) Index() int { return l.index }

// Advance runs one turn of the loop: the calls queued by CallFromThread join
// the calls due, time moves forward by d, and every call due by then runs.
// Calls scheduled during the turn wait for the next one, as on a reactor
// loop. It returns how many calls ran.
func (l *Loop) Advance(d time.Duration) int {
	l.mu.Lock()
	thread := l.thread
	l.thread = nil
	l.mu.Unlock()
	for _, fn := range thread {
		l.clock.CallLater(0, fn)
	}
	return l.clock.Advance(d)
}

// RunPending runs turns without moving time until a turn runs nothing, so
// that chains of CallSoon calls (such as a ConnectionLost scheduled by
// AbortConnection) complete. It stops after 10000 turns so that a call that
// reschedules itself forever cannot hang a test. It returns how many calls
// ran.
func (l *Loop) RunPending() int {
	total := 0
	for range maxTurns {
		n := l.Advance(0)
		if n == 0 {
			break
		}
		total += n
	}
	return total
}
