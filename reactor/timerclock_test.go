package reactor

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/policies"
	"github.com/mustaine/mustaine/timer"
)

// idleTimeout is the timeout the tests below arm, and idleGap how long the
// client stays silent first: the server's loop sleeps through the gap
// (nothing else is due before the timeout), then the data that resets the
// timeout wakes it.
const (
	idleTimeout = time.Second
	idleGap     = 700 * time.Millisecond
)

// clockProbe is what a server protocol under test reports: made once its
// timeout is armed, then when the timeout fired.
type clockProbe struct {
	made  chan struct{}
	fired chan time.Time
}

func newClockProbe() *clockProbe {
	return &clockProbe{made: make(chan struct{}, 1), fired: make(chan time.Time, 1)}
}

func (p *clockProbe) expired() {
	select {
	case p.fired <- time.Now():
	default:
	}
}

// handleResetProto arms a timer in ConnectionMade and resets it with
// Handle.Reset on every DataReceived.
type handleResetProto struct {
	protocol.Base
	probe *clockProbe
	h     timer.Handle
}

func (p *handleResetProto) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	p.h = t.Loop().CallLater(idleTimeout, p.probe.expired)
	p.probe.made <- struct{}{}
}

func (p *handleResetProto) DataReceived([]byte) { p.h.Reset(idleTimeout) }

// policyTimeoutProto is Twisted's TimeoutMixin idiom with policies.Timeout.
type policyTimeoutProto struct {
	protocol.Base
	probe *clockProbe
	to    policies.Timeout
}

func (p *policyTimeoutProto) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	p.to.Start(t, idleTimeout, func() {
		p.probe.expired()
		t.LoseConnection()
	})
	p.probe.made <- struct{}{}
}

func (p *policyTimeoutProto) DataReceived([]byte)  { p.to.Reset() }
func (p *policyTimeoutProto) ConnectionLost(error) { p.to.Stop() }

// lostProto is wrapped by policies.WithTimeout: its ConnectionLost is when
// the wrapper's timeout closed the connection.
type lostProto struct {
	protocol.Base
	probe *clockProbe
}

func (p *lostProto) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	p.probe.made <- struct{}{}
}

func (p *lostProto) ConnectionLost(error) { p.probe.expired() }

// TestTimeoutResetAfterIdleSleepCountsFromTheData pins that a timeout reset
// by data which arrives while the loop sleeps counts from the data, not
// from the loop's last look at the clock before it slept: the loop slept
// 700 ms, so counting from then would fire a 1 s timeout 300 ms after the
// data. Only the lower bound is checked: the timeout never fires earlier
// than 1 s after the client sent the data.
func TestTimeoutResetAfterIdleSleepCountsFromTheData(t *testing.T) {
	cases := []struct {
		name  string
		proto func(*clockProbe) protocol.Protocol
	}{
		{"Handle.Reset", func(p *clockProbe) protocol.Protocol { return &handleResetProto{probe: p} }},
		{"policies.Timeout", func(p *clockProbe) protocol.Protocol { return &policyTimeoutProto{probe: p} }},
		{"policies.WithTimeout", func(p *clockProbe) protocol.Protocol {
			return policies.WithTimeout(&lostProto{probe: p}, idleTimeout)
		}},
	}
	for _, loops := range []int{1, 2} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/loops=%d", tc.name, loops), func(t *testing.T) {
				t.Parallel()
				r := startReactor(t, WithLoops(loops))
				for attempt := 1; ; attempt++ {
					after, conclusive := resetAfterIdleSleep(t, r, tc.proto)
					if !conclusive {
						// The client overslept the gap and the timeout
						// fired before the data was sent: nothing was
						// reset, so nothing was shown. Try again.
						if attempt == 3 {
							t.Fatalf("the client never sent its data within the timeout (machine overloaded?)")
						}
						continue
					}
					if after < idleTimeout {
						t.Fatalf("the timeout fired %v after the data that reset it, before %v", after, idleTimeout)
					}
					return
				}
			})
		}
	}
}

// resetAfterIdleSleep connects a client to a server speaking proto, lets the
// server's loop sleep idleGap, sends one byte, and returns how long after
// the send the server's timeout fired. conclusive is false when the timeout
// fired before the byte was sent.
func resetAfterIdleSleep(t *testing.T, r *Reactor, proto func(*clockProbe) protocol.Protocol) (after time.Duration, conclusive bool) {
	t.Helper()
	probe := newClockProbe()
	c := listenAndDial(t, r, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return proto(probe) }))
	defer c.Close()
	select {
	case <-probe.made:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection made")
	}
	time.Sleep(idleGap)
	sent := time.Now()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case fired := <-probe.fired:
		return fired.Sub(sent), fired.After(sent)
	case <-time.After(10 * time.Second):
		t.Fatal("the timeout never fired")
	}
	return 0, false
}
