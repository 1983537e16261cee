package protocol_test

import (
	"errors"
	"math"
	"net"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

var errRefused = errors.New("refused")

// reconnecting is a client factory embedding ReconnectingClientFactory as
// Twisted's docs show: BuildProtocol resets the delay.
type reconnecting struct {
	protocol.ReconnectingClientFactory
	built int
}

func (r *reconnecting) BuildProtocol(net.Addr) protocol.Protocol {
	r.built++
	r.ResetDelay()
	return &protocol.Base{}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// failAndWait fails the one pending connect and reports when the next one
// is made: never earlier than want after the failure (one nanosecond
// before it nothing is pending), and at want exactly.
func failAndWait(t *testing.T, l *reactortest.Loop, want time.Duration) {
	t.Helper()
	reqs := l.PendingConnects()
	if len(reqs) != 1 {
		t.Fatalf("%d connects pending, want 1", len(reqs))
	}
	reqs[0].Fail(errRefused)
	if want > 0 {
		l.Advance(want - time.Nanosecond)
		if n := len(l.PendingConnects()); n != 0 {
			t.Fatalf("retried earlier than %v", want)
		}
		l.Advance(time.Nanosecond)
	} else {
		l.Advance(0)
	}
	if n := len(l.PendingConnects()); n != 1 {
		t.Fatalf("no retry %v after the failure", want)
	}
}

// Twisted's sequence: each retry's delay is the previous one times e,
// starting from the initial delay of 1 s (so the first retry comes e
// seconds after the first failure), up to the 3600 s cap.
func TestReconnectingDelaySequenceOnAManualClock(t *testing.T) {
	l := reactortest.NewLoop()
	f := &reconnecting{}
	f.Normal = func() float64 { return 0 } // the jitter's mean
	f.Connect(l, "server.test:7000", f, 0)
	want := 1.0
	for i := 0; i < 12; i++ {
		want = math.Min(want*math.E, 3600)
		failAndWait(t, l, seconds(want))
		if got := f.Delay(); math.Abs(got.Seconds()-want) > 1e-6 {
			t.Fatalf("retry %d: delay %v, want %.6fs", i+1, got, want)
		}
	}
	if f.Delay() != 3600*time.Second {
		t.Fatalf("after 12 retries the delay is %v, want the 3600s cap", f.Delay())
	}
	if f.Retries() != 12 {
		t.Fatalf("Retries %d", f.Retries())
	}
}

// The jitter is a normal variate with standard deviation Jitter times the
// delay (Twisted's random.normalvariate(delay, delay*jitter)), but capped:
// a delay is never above MaxDelay nor below zero (Twisted #4734).
func TestReconnectingJitterIsCapped(t *testing.T) {
	t.Run("one standard deviation", func(t *testing.T) {
		l := reactortest.NewLoop()
		f := &reconnecting{}
		f.Normal = func() float64 { return 1 }
		f.Connect(l, "server.test:7000", f, 0)
		failAndWait(t, l, seconds(math.E*(1+protocol.DefaultJitter)))
	})
	t.Run("never above MaxDelay", func(t *testing.T) {
		l := reactortest.NewLoop()
		f := &reconnecting{}
		f.MaxDelay = 10 * time.Second
		f.Normal = func() float64 { return 50 }
		f.Connect(l, "server.test:7000", f, 0)
		for range 5 {
			failAndWait(t, l, 10*time.Second)
		}
	})
	t.Run("never below zero", func(t *testing.T) {
		l := reactortest.NewLoop()
		f := &reconnecting{}
		f.Normal = func() float64 { return -50 }
		f.Connect(l, "server.test:7000", f, 0)
		failAndWait(t, l, 0)
		if f.Delay() != 0 {
			t.Fatalf("delay %v", f.Delay())
		}
	})
	t.Run("random variates stay within the bounds", func(t *testing.T) {
		l := reactortest.NewLoop()
		f := &reconnecting{}
		f.MaxDelay = 30 * time.Second
		f.Jitter = 3 // wide, so that both bounds are hit
		f.Connect(l, "server.test:7000", f, 0)
		for range 200 {
			l.PendingConnects()[0].Fail(errRefused)
			if d := f.Delay(); d < 0 || d > 30*time.Second {
				t.Fatalf("delay %v outside [0, 30s]", d)
			}
			l.Advance(f.Delay())
		}
	})
}

// StopTrying cancels a scheduled retry, and a connect in progress.
func TestReconnectingStopTrying(t *testing.T) {
	t.Run("scheduled retry", func(t *testing.T) {
		l := reactortest.NewLoop()
		f := &reconnecting{}
		f.Connect(l, "server.test:7000", f, 0)
		l.PendingConnects()[0].Fail(errRefused)
		f.StopTrying()
		l.Advance(2 * time.Hour)
		if n := len(l.Connects()); n != 1 {
			t.Fatalf("%d connects after StopTrying, want the first only", n)
		}
	})
	t.Run("connect in progress", func(t *testing.T) {
		l := reactortest.NewLoop()
		f := &reconnecting{}
		f.Connect(l, "server.test:7000", f, 0)
		req := l.PendingConnects()[0]
		f.StopTrying()
		if !req.Done() {
			t.Fatal("the connect in progress was not cancelled")
		}
		l.Advance(2 * time.Hour)
		if n := len(l.Connects()); n != 1 || f.built != 0 {
			t.Fatalf("%d connects, %d protocols after StopTrying", n, f.built)
		}
	})
	t.Run("established connection lost", func(t *testing.T) {
		l := reactortest.NewLoop()
		f := &reconnecting{}
		f.Connect(l, "server.test:7000", f, 0)
		pair := l.PendingConnects()[0].Complete(&protocol.Base{})
		f.StopTrying()
		pair.Client.Disconnect(protocol.ErrPeerClosed)
		l.Advance(2 * time.Hour)
		if n := len(l.Connects()); n != 1 {
			t.Fatalf("%d connects after StopTrying and a lost connection", n)
		}
	})
}

// ResetDelay, called once connected, starts the sequence again: a lost
// connection is retried after the first delay, not the grown one.
func TestReconnectingResetDelayOnceConnected(t *testing.T) {
	l := reactortest.NewLoop()
	f := &reconnecting{}
	f.Normal = func() float64 { return 0 }
	f.Connect(l, "server.test:7000", f, 0)
	failAndWait(t, l, seconds(math.E))
	failAndWait(t, l, seconds(math.E*math.E))
	pair := l.PendingConnects()[0].Complete(&protocol.Base{})
	if f.built != 1 || f.Retries() != 0 || f.Delay() != time.Second {
		t.Fatalf("built %d, retries %d, delay %v after connecting", f.built, f.Retries(), f.Delay())
	}
	pair.Client.Disconnect(protocol.ErrPeerClosed)
	l.Advance(seconds(math.E) - time.Nanosecond)
	if len(l.PendingConnects()) != 0 {
		t.Fatal("retried earlier than the first delay")
	}
	l.Advance(time.Nanosecond)
	if len(l.PendingConnects()) != 1 {
		t.Fatal("a lost connection is not retried after the first delay")
	}
}

// MaxRetries retries are made in a row, and no more.
func TestReconnectingMaxRetries(t *testing.T) {
	l := reactortest.NewLoop()
	f := &reconnecting{}
	f.MaxRetries = 3
	f.Connect(l, "server.test:7000", f, 0)
	for range 3 {
		l.PendingConnects()[0].Fail(errRefused)
		l.Advance(time.Hour)
	}
	l.PendingConnects()[0].Fail(errRefused)
	l.Advance(10 * time.Hour)
	if n := len(l.Connects()); n != 4 {
		t.Fatalf("%d connects, want 1 + 3 retries", n)
	}
	if f.Trying() {
		t.Fatal("still trying after MaxRetries")
	}
}
