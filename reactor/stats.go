package reactor

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// statsWait bounds how long Stats waits for a running loop to answer; a
// loop that does not answer in time (a callback blocking it) is reported as
// of its last answer (LoopStats.At says when that was).
const statsWait = time.Second

// Stats is a snapshot of a reactor's counters: one LoopStats per loop, in
// loop order, and the reactor-wide worker pool and TLS handshake slots.
// Counters (uint64) only grow; the int fields are gauges read at the
// snapshot.
type Stats struct {
	// Loops holds each loop's counters; Loops[i].Loop == i.
	Loops []LoopStats
	// Pool is the worker pool (PoolStats).
	Pool PoolStats
	// TLSHandshakesRunning is the number of TLS handshakes running now on
	// their goroutines, reactor-wide (bounded by WithTLSHandshakes).
	TLSHandshakesRunning int
	// TLSHandshakesQueued is the number of TLS connections whose
	// ClientHello (or, for a client, connect) is there and that wait for a
	// handshake slot.
	TLSHandshakesQueued int
}

// LoopStats is one loop's counters. A loop counts on its own goroutine,
// in plain fields (no atomic operation on the I/O path); Stats asks the
// loop for a copy.
type LoopStats struct {
	// Loop is the loop's index.
	Loop int
	// At is when the loop took this snapshot.
	At time.Time
	// Turns counts the loop's iterations (poll, dispatch, timers, flush).
	Turns uint64

	// Open is the number of connections open now: Accepted plus
	// Connected minus Closed.Total(). Connects in progress are not in it.
	Open int
	// Accepted counts the connections accepted from listeners that got a
	// Protocol (their ConnectionMade ran).
	Accepted uint64
	// Connected counts the outgoing connects that succeeded and got a
	// Protocol (ConnectTCP, ConnectUnix, ConnectTLS and the endpoints).
	Connected uint64
	// Refused counts the accepted sockets closed at once because the
	// factory's BuildProtocol returned nil.
	Refused uint64
	// Closed counts the connections closed, by reason.
	Closed CloseCounts

	// BytesIn and BytesOut count the bytes read from and written to the
	// loop's stream sockets: what crosses the socket, so TLS records
	// rather than plaintext, and PROXY headers included.
	BytesIn, BytesOut uint64
	// Reads and Writes count the read(2) and write(2) calls on the loop's
	// stream sockets, including those that returned EAGAIN, EOF or an
	// error. BytesIn/Reads is the mean read size.
	Reads, Writes uint64
	// AcceptBackoffs counts the times a listener was taken out of this
	// loop's poller because accept failed for lack of resources (EMFILE,
	// ENFILE, ENOBUFS, ENOMEM); see ListenTCP.
	AcceptBackoffs uint64

	// TimersPending is the number of calls waiting in the loop's timing
	// wheel (CallLater, CallSoon, timeouts), read at the snapshot.
	TimersPending int
	// QueueDepth is the number of CallFromThread calls waiting for the
	// loop, read by the Stats call itself (never stale, unlike the other
	// gauges of a loop that did not answer).
	QueueDepth int

	// TLS counts the loop's TLS handshakes.
	TLS TLSStats

	// UDPPorts is the number of the loop's UDP ports open now.
	UDPPorts int
	// UDP sums the UDPStats of the loop's UDP ports, those closed since
	// included: datagrams received and sent, writes dropped at the send
	// queue's bound, errors, ICMP refusals.
	UDP UDPStats
}

// CloseCounts counts closed connections by the reason the reactor gave
// their ConnectionLost (see protocol.Protocol). A reason is counted once,
// in the first class it matches, in the order of the fields.
type CloseCounts struct {
	// Timeout: the kernel gave up on the peer (ETIMEDOUT: keep-alive or
	// retransmission timeout), a TLS handshake timed out, or the reason
	// matches protocol.ErrTimeout.
	Timeout uint64
	// Aborted: AbortConnection (also a PROXY header refused), a panic in
	// a callback, or connections the reactor aborted at the shutdown
	// deadline (protocol.ErrAborted, *protocol.PanicError).
	Aborted uint64
	// Reset: the peer reset the connection (protocol.ErrPeerReset:
	// ECONNRESET, EPIPE).
	Reset uint64
	// PeerClosed: the peer closed cleanly (its FIN; protocol.ErrPeerClosed).
	PeerClosed uint64
	// Clean: this side closed after its output was flushed
	// (LoseConnection; protocol.ErrConnectionDone). A protocol's own idle
	// timeout (protocol/policies) closes with LoseConnection, so it counts
	// here: the reactor cannot tell why a protocol closed.
	Clean uint64
	// Failed: any other reason (another socket error, a TLS record
	// error).
	Failed uint64
}

// Total is the number of connections closed for any reason.
func (c CloseCounts) Total() uint64 {
	return c.Timeout + c.Aborted + c.Reset + c.PeerClosed + c.Clean + c.Failed
}

// TLSStats counts a loop's TLS handshakes (server and client, ListenTLS,
// ConnectTLS and StartTLS).
type TLSStats struct {
	// Started counts the TLS layers set up on a connection (the handshake
	// clock started).
	Started uint64
	// Completed counts the handshakes that succeeded.
	Completed uint64
	// Failed counts the connections closed before their handshake
	// succeeded: it failed, timed out, or the peer went away.
	Failed uint64
	// InFlight is Started minus Completed minus Failed: connections in
	// their handshake now, waiting for a ClientHello or a slot included.
	InFlight int
}

// Total sums the loops' counters and gauges into one LoopStats (Loop is
// -1, At the oldest snapshot).
func (s Stats) Total() LoopStats {
	t := LoopStats{Loop: -1}
	for i, l := range s.Loops {
		if i == 0 || l.At.Before(t.At) {
			t.At = l.At
		}
		t.Turns += l.Turns
		t.Open += l.Open
		t.Accepted += l.Accepted
		t.Connected += l.Connected
		t.Refused += l.Refused
		t.Closed.Timeout += l.Closed.Timeout
		t.Closed.Aborted += l.Closed.Aborted
		t.Closed.Reset += l.Closed.Reset
		t.Closed.PeerClosed += l.Closed.PeerClosed
		t.Closed.Clean += l.Closed.Clean
		t.Closed.Failed += l.Closed.Failed
		t.BytesIn += l.BytesIn
		t.BytesOut += l.BytesOut
		t.Reads += l.Reads
		t.Writes += l.Writes
		t.AcceptBackoffs += l.AcceptBackoffs
		t.TimersPending += l.TimersPending
		t.QueueDepth += l.QueueDepth
		t.TLS.Started += l.TLS.Started
		t.TLS.Completed += l.TLS.Completed
		t.TLS.Failed += l.TLS.Failed
		t.TLS.InFlight += l.TLS.InFlight
		t.UDPPorts += l.UDPPorts
		t.UDP.add(l.UDP)
	}
	return t
}

// Stats returns a snapshot of every loop's counters, the worker pool's and
// the TLS handshake slots'. It is safe from any goroutine, also before Run
// and after it returned.
//
// A running loop copies its counters on its own goroutine: Stats queues
// the copy with CallFromThread and waits for the loops to answer, which
// they do on their next turn (an idle loop is woken). The loops count in
// plain fields, so the I/O path pays one add per counter and no atomic
// operation; the price is paid by the reader, a wake-up and a queued call
// per loop, which is nothing at a scraper's pace. A loop blocked by a
// callback for longer than a second is reported as of its last answer
// (LoopStats.At), and so are the other loops when Stats is called on a
// loop goroutine, which never waits for another loop (two loops waiting
// for each other would deadlock): there the calling loop is reported as
// of now, and the others are asked to answer for the next call.
//
// Before Run the loops' counters are copied by Stats itself; like the
// other calls allowed before Run (CallLater, say), it must then not run
// at the same time as one of them.
func (r *Reactor) Stats() Stats {
	s := Stats{Loops: make([]LoopStats, len(r.loops)), Pool: r.PoolStats()}
	s.TLSHandshakesRunning, s.TLSHandshakesQueued = r.handshakes.counts()
	self := -1 // the loop Stats is called on, if any
	for i, l := range r.loops {
		if l.onLoop() {
			self = i
		}
	}
	replies := make([]chan struct{}, len(r.loops))
	queued := make([]int, len(r.loops))
	for i, l := range r.loops {
		// Read here, before our own call joins the queue, so that a loop
		// too busy to answer still shows how much waits for it.
		queued[i] = int(l.queue.n.Load())
		switch {
		case i == self:
			l.publishStats()
		case l.stats.running.TryRLock():
			// Not running (before Run or after it): nothing else writes
			// the counters, and the loop cannot start until we let go.
			l.publishStats()
			l.stats.running.RUnlock()
		default:
			reply := make(chan struct{})
			if self < 0 {
				replies[i] = reply
			}
			l.CallFromThread(func() {
				l.publishStats()
				close(reply)
			})
		}
	}
	deadline := time.NewTimer(statsWait)
	defer deadline.Stop()
	for i, reply := range replies {
		if reply == nil {
			continue
		}
		l := r.loops[i]
		select {
		case <-reply:
		case <-l.done:
			// The loop returned without running the call: its counters
			// are final and no longer written.
			l.publishStats()
		case <-deadline.C:
			// Late loops keep their last snapshot; the others may
			// still answer without waiting.
			deadline.Reset(0)
		}
	}
	for i, l := range r.loops {
		l.stats.mu.Lock()
		s.Loops[i] = l.stats.last
		l.stats.mu.Unlock()
		s.Loops[i].Loop = i
		s.Loops[i].QueueDepth = queued[i]
	}
	return s
}

// initRuntimePoller makes New set the Go runtime's poller up (see
// startRuntimePoller) once per process.
var initRuntimePoller sync.Once

// startRuntimePoller makes the Go runtime set up its poller (an epoll or
// kqueue descriptor and a wake-up descriptor) now, while descriptors are
// free. The runtime does so lazily, on the first timer, and a process that
// is out of descriptors then dies ("netpollinit failed"); Stats and Stop
// use timers, and they are most needed in that very state (the accept
// back-off). An AfterFunc timer is added to the runtime's heap at once,
// which is what sets the poller up.
func startRuntimePoller() { time.AfterFunc(time.Hour, func() {}).Stop() }

// loopStats is a loop's counters, written only on the loop's goroutine,
// and the last snapshot of them, which any goroutine reads under mu.
type loopStats struct {
	counters

	// running is held by the loop goroutine while it runs, and read-held
	// by Stats callers that copy the counters of a loop not running.
	running sync.RWMutex
	mu      sync.Mutex
	last    LoopStats
}

// counters are the loop's plain counters (see LoopStats for each).
type counters struct {
	accepted, connected, refused uint64
	closed                       CloseCounts
	bytesIn, bytesOut            uint64
	reads, writes                uint64
	acceptBackoffs               uint64
	tlsStarted, tlsDone          uint64
	tlsFailed                    uint64
}

// holdRunning marks the loop as running until the returned func is called
// (see Stats); run defers it.
func (l *loop) holdRunning() func() {
	l.stats.running.Lock()
	return l.stats.running.Unlock
}

// publishStats copies the counters into the snapshot other goroutines
// read. It runs on the loop, or where the loop is known not to run.
func (l *loop) publishStats() {
	c := &l.stats.counters
	snap := LoopStats{
		Loop:           l.index,
		At:             time.Now(),
		Turns:          l.turns,
		Open:           int(c.accepted + c.connected - c.closed.Total()),
		Accepted:       c.accepted,
		Connected:      c.connected,
		Refused:        c.refused,
		Closed:         c.closed,
		BytesIn:        c.bytesIn,
		BytesOut:       c.bytesOut,
		Reads:          c.reads,
		Writes:         c.writes,
		AcceptBackoffs: c.acceptBackoffs,
		TimersPending:  l.wheel.Len(),
		TLS: TLSStats{
			Started:   c.tlsStarted,
			Completed: c.tlsDone,
			Failed:    c.tlsFailed,
			InFlight:  int(c.tlsStarted - c.tlsDone - c.tlsFailed),
		},
		UDPPorts: int(l.udp.totals.open.Load()),
		UDP:      l.udp.totals.stats(),
	}
	l.stats.mu.Lock()
	l.stats.last = snap
	l.stats.mu.Unlock()
}

// read counts one read(2) that returned n (negative: an error).
func (c *counters) read(n int) {
	c.reads++
	if n > 0 {
		c.bytesIn += uint64(n)
	}
}

// wrote counts one write(2) that returned n (negative: an error).
func (c *counters) wrote(n int) {
	c.writes++
	if n > 0 {
		c.bytesOut += uint64(n)
	}
}

// started counts a connection whose ConnectionMade is about to run.
func (c *counters) started(cn *conn) {
	if cn.dialing() != nil {
		c.connected++
	} else {
		c.accepted++
	}
}

// closedConn counts an established connection closed with reason. For a
// TLS connection the TLS layer's own reason (a handshake timeout, say)
// takes the place of the socket's.
func (c *counters) closedConn(cn *conn, reason error) {
	if cn.tls != nil && cn.tls.lostErr != nil {
		reason = cn.tls.lostErr
	}
	switch {
	case reason == protocol.ErrConnectionDone:
		c.closed.Clean++ // the common cases first, without errors.Is
	case reason == protocol.ErrPeerClosed:
		c.closed.PeerClosed++
	case errors.Is(reason, protocol.ErrTimeout) || errors.Is(reason, unix.ETIMEDOUT):
		c.closed.Timeout++
	case errors.Is(reason, protocol.ErrAborted) || errors.Is(reason, protocol.ErrPanic):
		c.closed.Aborted++
	case errors.Is(reason, protocol.ErrPeerReset):
		c.closed.Reset++
	case errors.Is(reason, protocol.ErrPeerClosed):
		c.closed.PeerClosed++
	case errors.Is(reason, protocol.ErrConnectionDone):
		c.closed.Clean++
	default:
		c.closed.Failed++
	}
}

// tlsLost counts a TLS connection that closed; one whose handshake never
// succeeded counts as a failed handshake.
func (c *counters) tlsLost(handshook bool) {
	if !handshook {
		c.tlsFailed++
	}
}

// counts reports the handshakes running and waiting for a slot.
func (h *handshakeLimiter) counts() (running, queued int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running, len(h.waiting)
}
