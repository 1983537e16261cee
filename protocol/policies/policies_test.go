package policies_test

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/policies"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rec records what happens to a protocol.
type rec struct {
	protocol.Base
	data string
	lost []error
}

func (r *rec) DataReceived(data []byte)    { r.data += string(data) }
func (r *rec) ConnectionLost(reason error) { r.lost = append(r.lost, reason) }

type halfRec struct{ rec }

func (h *halfRec) ReadConnectionLost() {}

const idle = 10 * time.Second

func TestWithTimeoutClosesIdleConnectionWithErrTimeout(t *testing.T) {
	r := &rec{}
	tr := reactortest.Connect(policies.WithTimeout(r, idle))
	tr.FakeLoop().Advance(idle - time.Nanosecond)
	if tr.Disconnecting() {
		t.Fatal("closed before the timeout")
	}
	tr.FakeLoop().Advance(time.Nanosecond)
	if !tr.Disconnecting() {
		t.Fatal("not closed at the timeout")
	}
	tr.FakeLoop().RunPending()
	if len(r.lost) != 1 || !errors.Is(r.lost[0], protocol.ErrTimeout) || !errors.Is(r.lost[0], protocol.ErrConnectionDone) {
		t.Fatalf("lost %v", r.lost)
	}
	var te *policies.TimeoutError
	if !errors.As(r.lost[0], &te) || te.Idle != idle {
		t.Fatalf("reason %v is not a TimeoutError for %v", r.lost[0], idle)
	}
}

func TestWithTimeoutRestartsOnDataReceivedAndOnWrites(t *testing.T) {
	r := &rec{}
	p := policies.WithTimeout(r, idle)
	tr := reactortest.Connect(p)
	loop := tr.FakeLoop()
	loop.Advance(idle - time.Second)
	p.DataReceived([]byte("x"))
	loop.Advance(idle - time.Second)
	r.Transport.Write([]byte("y"))
	loop.Advance(idle - time.Second)
	r.Transport.Writev([]byte("z"))
	loop.Advance(idle - time.Second)
	if tr.Disconnecting() {
		t.Fatal("closed although traffic kept restarting the countdown")
	}
	loop.Advance(time.Second)
	if !tr.Disconnecting() {
		t.Fatal("not closed after a full idle period")
	}
}

func TestWithTimeoutAbortsWhenCloseCannotFlush(t *testing.T) {
	server, client := &rec{}, &rec{}
	p := reactortest.ConnectedPair(policies.WithTimeout(server, idle), client)
	p.Client.PauseReading() // the peer stops reading, so a close never flushes
	p.Server.Write([]byte("pending"))
	p.Loop.Advance(idle)
	p.Flush()
	if len(server.lost) != 0 || p.Server.Aborted() {
		t.Fatal("gave up on the close at once")
	}
	p.Loop.Advance(idle)
	p.Flush()
	if !p.Server.Aborted() || len(server.lost) != 1 ||
		!errors.Is(server.lost[0], protocol.ErrTimeout) || !errors.Is(server.lost[0], protocol.ErrAborted) {
		t.Fatalf("aborted %v, lost %v", p.Server.Aborted(), server.lost)
	}
}

func TestWithTimeoutOfZeroNeverExpires(t *testing.T) {
	tr := reactortest.Connect(policies.WithTimeout(&rec{}, 0))
	tr.FakeLoop().Advance(24 * time.Hour)
	if tr.Disconnecting() {
		t.Fatal("closed")
	}
}

func TestWrappersKeepOptionalInterfacesOfWrappedProtocol(t *testing.T) {
	f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &halfRec{} })
	for name, p := range map[string]protocol.Protocol{
		"WithTimeout": policies.WithTimeout(&halfRec{}, idle),
		"Limiter":     policies.NewLimiter(f, policies.Limits{}).BuildProtocol(reactortest.ClientAddr),
	} {
		if _, ok := p.(protocol.HalfCloseable); !ok {
			t.Errorf("%s lost HalfCloseable", name)
		}
		if _, ok := p.(protocol.WriteHalfCloseable); ok {
			t.Errorf("%s gained WriteHalfCloseable", name)
		}
	}
	if _, ok := policies.WithTimeout(&rec{}, idle).(protocol.HalfCloseable); ok {
		t.Error("WithTimeout gained HalfCloseable")
	}
}

func TestTimeoutFactoryWrapsEachProtocolAndKeepsRefusals(t *testing.T) {
	refuse := true
	f := policies.TimeoutFactory(protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		if refuse {
			return nil
		}
		return &rec{}
	}), idle)
	if f.BuildProtocol(reactortest.ClientAddr) != nil {
		t.Fatal("a refused connection was accepted")
	}
	refuse = false
	tr := reactortest.Connect(f.BuildProtocol(reactortest.ClientAddr))
	tr.FakeLoop().Advance(idle)
	if !tr.Disconnecting() {
		t.Fatal("the built protocol has no timeout")
	}
}

// mixer uses a Timeout the way Twisted protocols use TimeoutMixin.
type mixer struct {
	protocol.Base
	policies.Timeout
	reason error
}

func (m *mixer) ConnectionMade(t protocol.Transport) {
	m.Base.ConnectionMade(t)
	m.Start(t, idle, nil)
}

func (m *mixer) DataReceived(data []byte) { m.Reset() }

func (m *mixer) ConnectionLost(reason error) {
	m.Stop()
	m.reason = m.Reason(reason)
}

func TestTimeoutMixinClosesAfterIdlePeriodAndReportsIt(t *testing.T) {
	m := &mixer{}
	tr := reactortest.Connect(m)
	tr.FakeLoop().Advance(idle / 2)
	m.DataReceived(nil)
	tr.FakeLoop().Advance(idle / 2)
	if tr.Disconnecting() || m.Expired() {
		t.Fatal("Reset did not restart the countdown")
	}
	tr.FakeLoop().Advance(idle / 2)
	tr.FakeLoop().RunPending()
	if !m.Expired() || !errors.Is(m.reason, protocol.ErrTimeout) {
		t.Fatalf("expired %v, reason %v", m.Expired(), m.reason)
	}
}

func TestTimeoutMixinSetTimeoutChangesAndDisarms(t *testing.T) {
	m := &mixer{}
	tr := reactortest.Connect(m)
	if prev := m.SetTimeout(time.Hour); prev != idle {
		t.Fatalf("SetTimeout returned %v, want %v", prev, idle)
	}
	tr.FakeLoop().Advance(idle)
	if tr.Disconnecting() {
		t.Fatal("the old period still applies")
	}
	if prev := m.SetTimeout(0); prev != time.Hour || m.Active() {
		t.Fatalf("SetTimeout(0) returned %v, active %v", prev, m.Active())
	}
	tr.FakeLoop().Advance(2 * time.Hour)
	if tr.Disconnecting() {
		t.Fatal("a disarmed timeout closed the connection")
	}
	if m.Reason(protocol.ErrPeerClosed) != protocol.ErrPeerClosed {
		t.Fatal("Reason wrapped a reason although the timeout never expired")
	}
}

func TestTimeoutMixinCallsOnTimeoutInsteadOfClosing(t *testing.T) {
	called := 0
	var x policies.Timeout
	tr := reactortest.NewTransport()
	x.Start(tr, time.Second, func() { called++ })
	tr.FakeLoop().Advance(time.Second)
	if called != 1 || tr.Disconnecting() {
		t.Fatalf("onTimeout called %d times, closing %v", called, tr.Disconnecting())
	}
}

func addr(ip string, port int) net.Addr {
	return &net.TCPAddr{IP: net.ParseIP(ip), Port: port}
}

func TestLimiterRefusesOverTotalAndReleasesOnConnectionLost(t *testing.T) {
	l := policies.NewLimiter(protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &rec{} }), policies.Limits{Total: 2})
	a := l.BuildProtocol(addr("10.0.0.1", 1))
	b := l.BuildProtocol(addr("10.0.0.2", 1))
	if a == nil || b == nil {
		t.Fatal("refused within the limit")
	}
	if l.BuildProtocol(addr("10.0.0.3", 1)) != nil {
		t.Fatal("accepted over the total limit")
	}
	tr := reactortest.Connect(a)
	tr.Disconnect(protocol.ErrPeerClosed)
	tr.Disconnect(protocol.ErrPeerClosed)
	if l.Count() != 1 {
		t.Fatalf("count %d after one close, want 1", l.Count())
	}
	if l.BuildProtocol(addr("10.0.0.3", 1)) == nil {
		t.Fatal("the released slot was not reused")
	}
}

func TestLimiterCountsPerIPWithMappedIPv4AsOneHost(t *testing.T) {
	l := policies.NewLimiter(protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &rec{} }), policies.Limits{PerIP: 2})
	if l.BuildProtocol(addr("192.0.2.1", 1)) == nil || l.BuildProtocol(addr("::ffff:192.0.2.1", 2)) == nil {
		t.Fatal("refused within the per-IP limit")
	}
	if l.BuildProtocol(addr("192.0.2.1", 3)) != nil {
		t.Fatal("accepted a third connection from one IP")
	}
	if l.BuildProtocol(addr("192.0.2.2", 1)) == nil {
		t.Fatal("another IP was refused")
	}
	if n := l.CountFrom(addr("192.0.2.1", 9)); n != 2 {
		t.Fatalf("CountFrom %d, want 2", n)
	}
}

// busy answers "busy" and closes.
type busy struct{ protocol.Base }

func (b *busy) ConnectionMade(t protocol.Transport) {
	t.Write([]byte("busy\n"))
	t.LoseConnection()
}

func TestLimiterHandsOverflowToOverflowFactory(t *testing.T) {
	l := policies.NewLimiter(protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &rec{} }), policies.Limits{
		Total:    1,
		Overflow: protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &busy{} }),
	})
	l.BuildProtocol(addr("10.0.0.1", 1))
	p := l.BuildProtocol(addr("10.0.0.1", 2))
	tr := reactortest.Connect(p)
	if tr.String() != "busy\n" || !tr.Disconnecting() {
		t.Fatalf("overflow connection got %q, closing %v", tr.String(), tr.Disconnecting())
	}
	tr.FakeLoop().RunPending()
	if l.Count() != 1 {
		t.Fatalf("count %d: overflow connections must not count", l.Count())
	}
}

func TestLimiterReleasesSlotWhenInnerFactoryRefuses(t *testing.T) {
	l := policies.NewLimiter(protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return nil }), policies.Limits{Total: 1})
	for range 3 {
		if l.BuildProtocol(addr("10.0.0.1", 1)) != nil {
			t.Fatal("accepted what the factory refused")
		}
	}
	if l.Count() != 0 {
		t.Fatalf("count %d", l.Count())
	}
}

func TestLimiterHoldsTotalUnderConcurrentBuilds(t *testing.T) {
	const limit = 10
	l := policies.NewLimiter(protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &rec{} }), policies.Limits{Total: limit})
	var mu sync.Mutex
	accepted := 0
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if l.BuildProtocol(addr("10.0.0.1", i*100+j)) != nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if accepted != limit || l.Count() != limit {
		t.Fatalf("accepted %d, count %d, want %d", accepted, l.Count(), limit)
	}
}
