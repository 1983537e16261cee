package reactortest_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// proto records what happens to it.
type proto struct {
	t       protocol.Transport
	data    string
	lost    []error
	readEOF int
	wrEOF   int
	onData  func(p *proto, data []byte)
}

func (p *proto) ConnectionMade(t protocol.Transport) { p.t = t }
func (p *proto) DataReceived(data []byte) {
	p.data += string(data)
	if p.onData != nil {
		p.onData(p, data)
	}
}
func (p *proto) ConnectionLost(reason error) { p.lost = append(p.lost, reason) }

// halfProto also implements both half-close interfaces.
type halfProto struct{ proto }

func (p *halfProto) ReadConnectionLost()  { p.readEOF++ }
func (p *halfProto) WriteConnectionLost() { p.wrEOF++ }

func TestLoopCallSoonAndCallLaterZeroRunInFIFOOrderOnNextTurn(t *testing.T) {
	l := reactortest.NewLoop()
	var order []int
	l.CallSoon(func() { order = append(order, 1) })
	l.CallLater(0, func() { order = append(order, 2) })
	l.CallSoon(func() {
		order = append(order, 3)
		l.CallSoon(func() { order = append(order, 4) })
	})
	if len(order) != 0 {
		t.Fatal("calls ran before the loop turned")
	}
	if n := l.Advance(0); n != 3 || len(order) != 3 {
		t.Fatalf("first turn ran %d calls (%v), want 3", n, order)
	}
	l.Advance(0)
	if len(order) != 4 || order[0] != 1 || order[1] != 2 || order[2] != 3 || order[3] != 4 {
		t.Fatalf("order %v", order)
	}
}

func TestLoopCallLaterFiresOnlyWhenTimeIsAdvanced(t *testing.T) {
	l := reactortest.NewLoop()
	start := l.Now()
	fired := false
	l.CallLater(time.Second, func() { fired = true })
	l.Advance(999 * time.Millisecond)
	if fired {
		t.Fatal("fired early")
	}
	l.Advance(time.Millisecond)
	if !fired || l.Now().Sub(start) != time.Second {
		t.Fatalf("fired %v at %v", fired, l.Now().Sub(start))
	}
}

func TestLoopCallFromThreadIsSafeFromOtherGoroutines(t *testing.T) {
	l := reactortest.NewLoop()
	var wg sync.WaitGroup
	count := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				l.CallFromThread(func() { count++ })
			}
		}()
	}
	wg.Wait()
	if n := l.RunPending(); n != 800 || count != 800 {
		t.Fatalf("ran %d calls, count %d, want 800", n, count)
	}
}

func TestLoopRunPendingStopsACallThatReschedulesItselfForever(t *testing.T) {
	l := reactortest.NewLoop()
	var again func()
	again = func() { l.CallSoon(again) }
	l.CallSoon(again)
	if n := l.RunPending(); n != 10000 {
		t.Fatalf("ran %d calls, want the bound of 10000", n)
	}
}

func TestTransportRecordsWritesUntilClear(t *testing.T) {
	tr := reactortest.NewTransport()
	tr.Write([]byte("ab"))
	tr.Writev([]byte("c"), nil, []byte("de"))
	if got := string(tr.Value()); got != "abcde" || tr.BufferedAmount() != 5 {
		t.Fatalf("value %q, buffered %d", got, tr.BufferedAmount())
	}
	tr.Clear()
	if tr.String() != "" || tr.BufferedAmount() != 0 {
		t.Fatal("Clear left data")
	}
}

func TestTransportWritesAfterCloseReturnErrClosed(t *testing.T) {
	for name, closeIt := range map[string]func(*reactortest.Transport){
		"LoseConnection":  (*reactortest.Transport).LoseConnection,
		"AbortConnection": (*reactortest.Transport).AbortConnection,
		"CloseWrite":      func(t *reactortest.Transport) { t.CloseWrite() },
	} {
		tr := reactortest.NewTransport()
		closeIt(tr)
		if n, err := tr.Write([]byte("x")); n != 0 || !errors.Is(err, protocol.ErrClosed) {
			t.Errorf("%s: Write = %d, %v", name, n, err)
		}
		if _, err := tr.Writev([]byte("x")); !errors.Is(err, protocol.ErrClosed) {
			t.Errorf("%s: Writev = %v", name, err)
		}
	}
}

func TestConnectedTransportCallsConnectionLostOnceOnNextTurn(t *testing.T) {
	for _, c := range []struct {
		name   string
		close  func(*reactortest.Transport)
		reason error
	}{
		{"lose", (*reactortest.Transport).LoseConnection, protocol.ErrConnectionDone},
		{"abort", (*reactortest.Transport).AbortConnection, protocol.ErrAborted},
	} {
		p := &proto{}
		tr := reactortest.Connect(p)
		c.close(tr)
		c.close(tr)
		if len(p.lost) != 0 {
			t.Fatalf("%s: ConnectionLost called inside the close", c.name)
		}
		tr.FakeLoop().RunPending()
		tr.LoseConnection()
		tr.FakeLoop().RunPending()
		if len(p.lost) != 1 || !errors.Is(p.lost[0], c.reason) {
			t.Fatalf("%s: ConnectionLost calls %v, want one with %v", c.name, p.lost, c.reason)
		}
	}
}

func TestTransportRecordsPauseAndHalfClose(t *testing.T) {
	p := &halfProto{}
	tr := reactortest.Connect(p)
	tr.PauseReading()
	if !tr.ReadingPaused() {
		t.Fatal("pause not recorded")
	}
	tr.ResumeReading()
	if tr.ReadingPaused() {
		t.Fatal("resume not recorded")
	}
	if err := tr.CloseWrite(); err != nil || !tr.WriteClosed() {
		t.Fatalf("CloseWrite: %v", err)
	}
	tr.FakeLoop().RunPending()
	if p.wrEOF != 1 {
		t.Fatalf("WriteConnectionLost called %d times", p.wrEOF)
	}
}

// producer counts the calls it gets.
type producer struct{ pause, resume, stop int }

func (p *producer) PauseProducing()  { p.pause++ }
func (p *producer) ResumeProducing() { p.resume++ }
func (p *producer) StopProducing()   { p.stop++ }

func TestTransportPausesStreamingProducerAboveHighWaterAndResumesBelowLow(t *testing.T) {
	tr := reactortest.Connect(&proto{})
	tr.SetWriteBufferLimits(10, 4)
	pr := &producer{}
	if err := tr.RegisterProducer(pr, true); err != nil {
		t.Fatal(err)
	}
	if err := tr.RegisterProducer(&producer{}, true); !errors.Is(err, protocol.ErrProducerRegistered) {
		t.Fatalf("second RegisterProducer: %v", err)
	}
	tr.Write(make([]byte, 10))
	if pr.pause != 0 {
		t.Fatal("paused at the high-water mark itself")
	}
	tr.Write(make([]byte, 1))
	if pr.pause != 1 || !tr.ProducerPaused() {
		t.Fatal("not paused above the high-water mark")
	}
	tr.Clear()
	if pr.resume != 1 || tr.ProducerPaused() {
		t.Fatal("not resumed after draining")
	}
	tr.Disconnect(protocol.ErrPeerReset)
	if pr.stop != 1 {
		t.Fatal("producer not stopped when the connection was lost")
	}
}

func TestPairDeliversBothWaysOnlyWhenPumped(t *testing.T) {
	s, c := &proto{}, &proto{}
	p := reactortest.ConnectedPair(s, c)
	s.t.Write([]byte("hello client"))
	c.t.Write([]byte("hello server"))
	if s.data != "" || c.data != "" {
		t.Fatal("data moved before Pump")
	}
	if !p.Pump() {
		t.Fatal("Pump reported nothing moved")
	}
	if s.data != "hello server" || c.data != "hello client" {
		t.Fatalf("server got %q, client got %q", s.data, c.data)
	}
	if p.Pump() {
		t.Fatal("second Pump reported movement")
	}
	if s.t.RemoteAddr() != c.t.LocalAddr() || c.t.RemoteAddr() != s.t.LocalAddr() {
		t.Fatal("addresses do not mirror each other")
	}
}

func TestPairFlushRunsEchoConversationToTheEnd(t *testing.T) {
	s := &proto{onData: func(p *proto, d []byte) { p.t.Write(d) }}
	c := &proto{onData: func(p *proto, d []byte) {
		if len(p.data) < 5 {
			p.t.Write([]byte("x"))
		}
	}}
	p := reactortest.ConnectedPair(s, c)
	c.t.Write([]byte("x"))
	p.Flush()
	if c.data != "xxxxx" {
		t.Fatalf("client got %q", c.data)
	}
}

func TestPairLoseConnectionDeliversOutputThenClosesBothSides(t *testing.T) {
	s, c := &proto{}, &proto{}
	p := reactortest.ConnectedPair(s, c)
	s.t.Write([]byte("bye"))
	s.t.LoseConnection()
	p.Flush()
	if c.data != "bye" {
		t.Fatalf("client got %q before the close", c.data)
	}
	if len(s.lost) != 1 || !errors.Is(s.lost[0], protocol.ErrConnectionDone) {
		t.Fatalf("server lost %v", s.lost)
	}
	if len(c.lost) != 1 || !errors.Is(c.lost[0], protocol.ErrPeerClosed) {
		t.Fatalf("client lost %v", c.lost)
	}
}

func TestPairAbortDropsOutputAndResetsPeer(t *testing.T) {
	s, c := &proto{}, &proto{}
	p := reactortest.ConnectedPair(s, c)
	c.t.Write([]byte("lost"))
	c.t.AbortConnection()
	p.Flush()
	if s.data != "" {
		t.Fatalf("server got %q from an aborted client", s.data)
	}
	if len(c.lost) != 1 || !errors.Is(c.lost[0], protocol.ErrAborted) {
		t.Fatalf("client lost %v", c.lost)
	}
	if len(s.lost) != 1 || !errors.Is(s.lost[0], protocol.ErrPeerReset) {
		t.Fatalf("server lost %v", s.lost)
	}
}

func TestPairHalfCloseKeepsHalfCloseablePeerWriting(t *testing.T) {
	s, c := &halfProto{}, &halfProto{}
	p := reactortest.ConnectedPair(s, c)
	c.t.Write([]byte("request"))
	c.t.CloseWrite()
	p.Flush()
	if s.data != "request" || s.readEOF != 1 || c.wrEOF != 1 {
		t.Fatalf("server got %q, readEOF %d; client wrEOF %d", s.data, s.readEOF, c.wrEOF)
	}
	s.t.Write([]byte("response"))
	s.t.LoseConnection()
	p.Flush()
	if c.data != "response" {
		t.Fatalf("client got %q after its half-close", c.data)
	}
	if len(s.lost) != 1 || !errors.Is(s.lost[0], protocol.ErrConnectionDone) || c.readEOF != 1 {
		t.Fatalf("server lost %v, client readEOF %d", s.lost, c.readEOF)
	}
}

func TestPairHalfCloseClosesPeerWithoutHalfCloseSupport(t *testing.T) {
	s, c := &proto{}, &halfProto{}
	p := reactortest.ConnectedPair(s, c)
	c.t.CloseWrite()
	p.Flush()
	if len(s.lost) != 1 || !errors.Is(s.lost[0], protocol.ErrPeerClosed) {
		t.Fatalf("server lost %v", s.lost)
	}
	if len(c.lost) != 1 || !errors.Is(c.lost[0], protocol.ErrPeerClosed) {
		t.Fatalf("client lost %v", c.lost)
	}
}

func TestPairPausedSideReceivesNothingUntilResumed(t *testing.T) {
	s, c := &proto{}, &proto{}
	p := reactortest.ConnectedPair(s, c)
	s.t.PauseReading()
	c.t.Write([]byte("wait"))
	c.t.LoseConnection()
	p.Flush()
	if s.data != "" || len(s.lost) != 0 || len(c.lost) != 0 {
		t.Fatalf("paused server got %q, lost %v; client lost %v", s.data, s.lost, c.lost)
	}
	s.t.ResumeReading()
	p.Flush()
	if s.data != "wait" || len(s.lost) != 1 || len(c.lost) != 1 {
		t.Fatalf("after resume server got %q, lost %v; client lost %v", s.data, s.lost, c.lost)
	}
}

// pull writes one chunk per ResumeProducing, three in all.
type pull struct {
	t    protocol.Transport
	sent int
}

func (p *pull) PauseProducing() {}
func (p *pull) StopProducing()  {}
func (p *pull) ResumeProducing() {
	if p.sent == 3 {
		p.t.UnregisterProducer()
		return
	}
	p.sent++
	p.t.Write([]byte("chunk"))
}

func TestPairAsksPullProducerForMoreEachTimeOutputDrains(t *testing.T) {
	s, c := &proto{}, &proto{}
	p := reactortest.ConnectedPair(s, c)
	pr := &pull{t: s.t}
	s.t.RegisterProducer(pr, false)
	p.Flush()
	if c.data != "chunkchunkchunk" {
		t.Fatalf("client got %q", c.data)
	}
	if got, _ := s.t.(*reactortest.Transport).Producer(); got != nil {
		t.Fatal("producer still registered")
	}
}
