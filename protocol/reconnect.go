package protocol

import (
	"math"
	"math/rand/v2"
	"net"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/timer"
)

// Twisted's ReconnectingClientFactory parameters, the defaults of a zero
// ReconnectingClientFactory.
const (
	// DefaultInitialDelay is the delay before the first retry is multiplied
	// by the factor: the first retry comes about e seconds after the
	// first failure, as in Twisted.
	DefaultInitialDelay = time.Second
	// DefaultMaxDelay caps every delay.
	DefaultMaxDelay = 3600 * time.Second
	// DefaultFactor is e: each delay is the previous one times e.
	DefaultFactor = 2.7182818284590451
	// DefaultJitter is the standard deviation of a delay as a fraction of
	// it (the molar Planck constant times c, in J m/mol).
	DefaultJitter = 0.119626565582
)

// ReconnectingClientFactory is Twisted's ReconnectingClientFactory: embed
// it in a client factory (which provides BuildProtocol and should call
// ResetDelay there, once a connection is made) and start it with Connect;
// when a connect fails or an established connection is lost, it connects
// again after a delay that grows by Factor from InitialDelay up to
// MaxDelay, each delay drawn from a normal distribution around it with
// standard deviation Jitter times the delay. Unlike Twisted (its issue
// #4734), the jittered delay is capped: never below zero, never above
// MaxDelay.
//
// Its zero value has Twisted's parameters (DefaultInitialDelay,
// DefaultMaxDelay, DefaultFactor, DefaultJitter, no retry limit). It is
// used on one loop: the one its connects run on.
//
//	type client struct{ protocol.ReconnectingClientFactory }
//
//	func (c *client) BuildProtocol(net.Addr) protocol.Protocol {
//		c.ResetDelay()
//		return &myProtocol{}
//	}
//
//	c := &client{}
//	c.Connect(loop, "backend.internal:7000", c, 5*time.Second)
type ReconnectingClientFactory struct {
	// InitialDelay is the delay the first retry's is computed from
	// (DefaultInitialDelay if zero).
	InitialDelay time.Duration
	// MaxDelay caps every delay (DefaultMaxDelay if zero).
	MaxDelay time.Duration
	// Factor multiplies the delay at each retry (DefaultFactor if zero).
	Factor float64
	// Jitter is the relative standard deviation of each delay
	// (DefaultJitter if zero; negative for none).
	Jitter float64
	// MaxRetries, if positive, is how many retries are made in a row
	// before giving up; zero means no limit.
	MaxRetries int
	// Clock schedules the retries; if nil, the Connector given to Connect
	// is used, which must then be a timer.Scheduler (every reactor loop,
	// the reactor itself and reactortest.Loop are; Retry panics
	// otherwise). Tests pass a *timer.Clock or a reactortest.Loop.
	Clock timer.Scheduler
	// Normal returns standard normal variates for the jitter
	// (rand.NormFloat64 if nil).
	Normal func() float64

	delay     float64 // seconds, once delaySet
	delaySet  bool
	retries   int
	stopped   bool // StopTrying was called (Twisted's continueTrying == 0)
	call      timer.Handle
	pending   *deferred.Deferred[Protocol] // the connect in progress
	connector Connector
	address   string
	self      Factory
	timeout   time.Duration
}

func (f *ReconnectingClientFactory) initialDelay() float64 {
	if f.InitialDelay > 0 {
		return f.InitialDelay.Seconds()
	}
	return DefaultInitialDelay.Seconds()
}

func (f *ReconnectingClientFactory) maxDelay() float64 {
	if f.MaxDelay > 0 {
		return f.MaxDelay.Seconds()
	}
	return DefaultMaxDelay.Seconds()
}

// Connect connects to address through c and keeps doing so, after each
// failure and each lost connection, until StopTrying. self is the factory
// that embeds f (its hooks, ClientConnectionFailed and ClientConnectionLost
// included, are the ones the connector calls).
func (f *ReconnectingClientFactory) Connect(c Connector, address string, self Factory, timeout time.Duration) {
	f.connector, f.address, f.self, f.timeout = c, address, self, timeout
	f.stopped = false
	f.connect()
}

func (f *ReconnectingClientFactory) connect() {
	d := f.connector.ConnectTCP(f.address, f.self, f.timeout)
	if !d.Called() {
		f.pending = d
	}
	d.AddBoth(func(p Protocol, err error) (Protocol, error) {
		if f.pending == d {
			f.pending = nil
		}
		return p, nil // the outcome reaches f through the client hooks
	})
}

// StartedConnecting does nothing; it is part of protocol.ClientFactory.
func (f *ReconnectingClientFactory) StartedConnecting(net.Addr) {}

// ClientConnectionFailed schedules a retry unless StopTrying was called.
func (f *ReconnectingClientFactory) ClientConnectionFailed(addr net.Addr, reason error) {
	if !f.stopped {
		f.Retry()
	}
}

// ClientConnectionLost schedules a retry unless StopTrying was called.
func (f *ReconnectingClientFactory) ClientConnectionLost(addr net.Addr, reason error) {
	if !f.stopped {
		f.Retry()
	}
}

// Retry schedules the next connect after the next delay, as Twisted's
// retry: the delay is multiplied by Factor, capped at MaxDelay, jittered,
// and (unlike Twisted) kept within [0, MaxDelay]. After MaxRetries retries
// in a row it gives up. It does nothing after StopTrying or before
// Connect.
func (f *ReconnectingClientFactory) Retry() {
	if f.stopped || f.connector == nil {
		return
	}
	f.retries++
	if f.MaxRetries > 0 && f.retries > f.MaxRetries {
		return
	}
	if !f.delaySet {
		f.delay, f.delaySet = f.initialDelay(), true
	}
	factor := f.Factor
	if factor == 0 {
		factor = DefaultFactor
	}
	maxDelay := f.maxDelay()
	f.delay = math.Min(f.delay*factor, maxDelay)
	jitter := f.Jitter
	if jitter == 0 {
		jitter = DefaultJitter
	}
	if jitter > 0 {
		normal := f.Normal
		if normal == nil {
			normal = rand.NormFloat64
		}
		f.delay = math.Max(0, math.Min(maxDelay, f.delay+normal()*f.delay*jitter))
	}
	clock := f.Clock
	if clock == nil {
		clock, _ = f.connector.(timer.Scheduler)
	}
	f.call.Cancel()
	if clock == nil {
		panic("protocol: ReconnectingClientFactory needs a Clock: its Connector is not a timer.Scheduler")
	}
	f.call = clock.CallLater(time.Duration(f.delay*float64(time.Second)), func() {
		f.call = timer.Handle{}
		if !f.stopped {
			f.connect()
		}
	})
}

// StopTrying stops reconnecting: a scheduled retry is cancelled and a
// connect in progress is cancelled (Twisted's stopConnecting). An
// established connection is not touched.
func (f *ReconnectingClientFactory) StopTrying() {
	f.stopped = true
	f.call.Cancel()
	f.call = timer.Handle{}
	if d := f.pending; d != nil {
		f.pending = nil
		d.Cancel()
	}
}

// ResetDelay goes back to the initial delay and a retry count of zero;
// call it once a connection is made (in BuildProtocol or the protocol's
// ConnectionMade), as Twisted's clients do. It also undoes StopTrying.
func (f *ReconnectingClientFactory) ResetDelay() {
	f.delay, f.delaySet = f.initialDelay(), true
	f.retries = 0
	f.stopped = false
	f.call.Cancel()
	f.call = timer.Handle{}
}

// Delay is the delay of the retry scheduled last (or the initial delay).
func (f *ReconnectingClientFactory) Delay() time.Duration {
	if !f.delaySet {
		return time.Duration(f.initialDelay() * float64(time.Second))
	}
	return time.Duration(f.delay * float64(time.Second))
}

// Retries is the number of retries made in a row since the last ResetDelay.
func (f *ReconnectingClientFactory) Retries() int { return f.retries }

// Trying reports whether f will still retry (StopTrying was not called and
// MaxRetries not exceeded).
func (f *ReconnectingClientFactory) Trying() bool {
	return !f.stopped && (f.MaxRetries <= 0 || f.retries <= f.MaxRetries)
}
