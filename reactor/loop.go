package reactor

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// Limits that keep one busy connection from starving the others.
const (
	maxReadsPerEvent = 8  // full-buffer reads before the next connection's turn
	maxFlushRounds   = 16 // producer refills per flush
	acceptBatch      = 64 // accepts per readiness report
)

// loop is one event loop: a goroutine that owns a poller, a timing wheel, a cross-goroutine queue and its connections. It
// implements protocol.Loop.
type loop struct {
	r      *Reactor
	index  int
	poller poller
	wheel  *timer.Wheel
	log    zerolog.Logger

	events    []pollEvent
	readBuf   []byte
	conns     []*conn // by fd
	listeners map[int]*Listener
	nconns    int
	udp       loopUDP // UDP ports, see udp.go

	current   *conn    // the connection whose I/O callback is running
	dirty     []*conn  // connections with output or a close to carry out
	readAgain []*conn  // connections with more to read
	bufPool   [][]byte // output buffers for reuse, see getBuf
	pooled    int      // their total capacity
	tls       loopTLS  // TLS buffers shared by the loop's connections

	queue       threadQueue
	sleeping    atomic.Bool
	wakePending atomic.Bool

	lookups  map[*dialState]struct{} // connects waiting for a host name lookup
	now      time.Time               // see Now; refreshed twice per turn
	shutdown *shutdownState          // set once Stop reaches this loop
	turns    uint64                  // loop iterations, for tests and stats
	stats    loopStats               // counters, see stats.go
	gid      atomic.Uint64           // the loop goroutine's id once it runs; see onLoop
	done     chan struct{}
	failed   error // why the loop stopped on its own (see fail); Run returns it

	// forgetFD, set by a poller whose requests hold sockets open (io_uring),
	// is told of each registered fd the loop is about to close.
	forgetFD func(fd int)
	// ur is the io_uring backend, which takes over connections' reads and
	// writes (see uring_linux.go); nil on the readiness backends.
	ur *uringPoller
	// noYield skips poll's Gosched before a blocking wait: set by the
	// io_uring backend, whose loop is locked to its thread, where a
	// Gosched is a hand-over of the thread (see uringPoller.start).
	noYield bool
	// lastYield is when poll last passed through the scheduler, on the
	// loop's clock; yieldNext that this turn made a goroutine runnable
	// (see readied).
	lastYield time.Time
	yieldNext bool
}

var _ protocol.Loop = (*loop)(nil)

func newLoop(r *Reactor, index int) (*loop, error) {
	p, err := newLoopPoller(&r.cfg)
	if err != nil {
		return nil, err
	}
	l := &loop{
		r:         r,
		index:     index,
		poller:    p,
		now:       time.Now(),
		wheel:     timer.NewWheel(time.Now(), timer.WithTick(r.cfg.tick), timer.WithLaggingNow()),
		log:       r.cfg.logger.With().Int("loop", index).Logger(),
		events:    make([]pollEvent, r.cfg.maxEvents),
		readBuf:   make([]byte, r.cfg.readBufferSize),
		listeners: make(map[int]*Listener),
		done:      make(chan struct{}),
	}
	if f, ok := p.(interface{ forget(fd int) }); ok {
		l.forgetFD = f.forget
	}
	if u := asUring(p); u != nil {
		l.ur, u.l = u, l
	}
	return l, nil
}

// Now returns the loop's clock: the time read when the loop last woke up
// from its poll or began firing timers (as libuv's uv_now), so a protocol
// may call it per request for free. It lags the wall clock by at most the
// time the current batch of callbacks has taken. CallLater and Handle.Reset
// measure from a later reading, so a call never fires early.
func (l *loop) Now() time.Time { return l.now }

// CallLater runs fn on this loop no earlier than d from now. Call it on the
// loop (or before the reactor runs).
//
// The wheel holds the call (timer.WithLaggingNow) and counts d from the
// clock reading of this turn's timer phase, which comes after the callback
// that made the call, or of the loop's next poll: so d counts from no
// earlier than the call, as it does for a Reset of the handle, without a
// clock reading per call. Calls still pending when Run returns are
// cancelled then (their handles report inactive), and their closures
// released.
func (l *loop) CallLater(d time.Duration, fn func()) timer.Handle {
	if d <= 0 {
		// Due at the wheel's own time: it fires on this turn's timer phase
		// (the next one if timers are firing now), not a tick later.
		return l.wheel.CallAt(l.wheel.Now(), fn)
	}
	if l.turns == 0 {
		// Before Run: count from now, as Twisted does, not from the start.
		return l.wheel.CallAt(time.Now().Add(d), fn)
	}
	return l.wheel.CallLater(d, fn)
}

// CallSoon runs fn after the current batch of I/O events, in FIFO order with
// every other CallSoon and CallLater(0).
func (l *loop) CallSoon(fn func()) { l.wheel.CallAt(l.wheel.Now(), fn) }

// CallFromThread runs fn on this loop; safe from any goroutine. Once Run
// has returned fn is dropped (a reactor runs once: it would never run).
func (l *loop) CallFromThread(fn func()) {
	l.queue.push(fn)
	// Write the wake-up only when the loop is asleep (or about to be), and
	// only once until the loop drains it.
	if l.sleeping.Load() && !l.wakePending.Swap(true) {
		if err := l.poller.wake(); err != nil {
			l.log.Error().Err(err).Msg("wake-up failed")
		}
	}
}

// Index is the loop's number, from 0.
func (l *loop) Index() int { return l.index }

// run is the loop goroutine: poll, dispatch I/O, run queued calls and due
// timers, flush output, repeat.
func (l *loop) run() {
	if l.r.cfg.lockOSThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	defer close(l.done)
	defer l.holdRunning()()
	l.gid.Store(currentGoroutineID())
	if s, ok := l.poller.(interface{ start() error }); ok {
		// A poller bound to the loop's thread (io_uring) starts on it.
		if err := s.start(); err != nil {
			l.fail("poller start failed; loop stops", err)
			return
		}
	}
	for {
		l.turns++
		n, err := l.poll()
		if err != nil {
			l.fail("poll failed; loop stops", err)
			return
		}
		l.dispatchIO(n)
		if l.ur != nil {
			l.ur.complete() // io_uring: the turn's receives and sends
		}
		l.runReadAgain()
		l.runQueued()
		l.runTimers()
		l.flushDirty()
		l.flushUDP()
		if l.shutdown != nil && l.finishShutdown() {
			return
		}
	}
}

// readied notes, on the loop, that this turn made one of the reactor's
// goroutines runnable (a pool job submitted, a TLS handshake started or
// fed). The next blocking poll then yields first: with GOMAXPROCS=1 the
// goroutine runs at once instead of after sysmon has taken the P from the
// sleeping loop (20 µs to 10 ms later), which cut the new-connection TLS
// load's rate to 0.77× when poll yielded only every loopYieldEvery.
func (l *loop) readied() { l.yieldNext = true }

// yieldDue reports whether the blocking wait about to start should pass
// through the scheduler first: this turn readied a goroutine, or the last
// yield is loopYieldEvery old (on the loop's clock). It counts the yield
// as made. Both backends ask it, each in its own wait.
func (l *loop) yieldDue() bool {
	if !l.yieldNext && l.now.Sub(l.lastYield) < loopYieldEvery {
		return false
	}
	l.yieldNext, l.lastYield = false, l.now
	return true
}

// loopYieldEvery is how often poll yields before a blocking wait: well
// within sysmon's 10 ms limit on a goroutine that never does
// (forcePreemptNS).
const loopYieldEvery = 5 * time.Millisecond

// poll waits for I/O, sleeping no longer than the next timer allows and not
// at all when work is already waiting.
func (l *loop) poll() (int, error) {
	timeout := time.Duration(-1)
	if len(l.readAgain) > 0 || len(l.dirty) > 0 {
		timeout = 0
	} else {
		if l.wheel.Held() {
			// Calls made or reset after the timer phase (by a flush, a
			// producer) get their deadlines from a reading taken now.
			l.now = time.Now()
			l.wheel.Settle(l.now)
		}
		if when, ok := l.wheel.NextDeadline(); ok {
			// l.now was read at this turn's timer phase or just now:
			// sleeping from it errs on the late side, never early.
			timeout = max(when.Sub(l.now), 0)
		}
	}
	if timeout == 0 {
		n, err := l.poller.wait(l.events, 0)
		// This wait may have drained a wake-up written by a sender that
		// still saw the previous sleep: wakePending must not stay set
		// without a wake-up in the eventfd, or every sender during the
		// next blocking sleep would skip its write and the loop would
		// sleep through their calls. A wake-up left in the eventfd only
		// ends a later sleep early.
		l.wakePending.Store(false)
		return n, err
	}
	// Pass through the scheduler before blocking, at most every
	// loopYieldEvery. It tells sysmon the loop is not a runaway goroutine:
	// a goroutine whose P's schedtick has not moved for 10 ms has its P
	// taken away in every blocking wait, and sysmon, always finding one to
	// take, polls every 20 µs; handing the P around cost 40% more CPU per
	// message on a one-connection echo (see the reactor doc). A yield
	// before every wait did the same at 0.5% of a keep-alive HTTP
	// request's CPU (perf record: goschedImpl); other goroutines run on
	// the other Ps, or on this one while the loop sleeps in the poller.
	// The io_uring loop, locked to its thread, yields on its own (see
	// uringPoller.wait).
	if !l.noYield && l.yieldDue() {
		runtime.Gosched()
	}
	l.sleeping.Store(true)
	// A sender that queued before seeing sleeping=true did not wake us:
	// look at the queue once more now that senders will.
	if l.queue.pending() {
		timeout = 0
	}
	n, err := l.poller.wait(l.events, timeout)
	l.now = time.Now() // we may have slept
	l.sleeping.Store(false)
	l.wakePending.Store(false)
	return n, err
}

func (l *loop) dispatchIO(n int) {
	for i := 0; i < n; i++ {
		ev := l.events[i]
		fd := int(ev.fd)
		if fd < len(l.conns) {
			if c := l.conns[fd]; c != nil {
				l.connEvent(c, ev.flags)
				continue
			}
		}
		if fd < len(l.udp.ports) {
			if p := l.udp.ports[fd]; p != nil {
				l.udpEvent(p, ev.flags)
				continue
			}
		}
		if ln := l.listeners[fd]; ln != nil {
			l.accept(ln)
		}
	}
}

// connEvent handles readiness of one connection.
func (l *loop) connEvent(c *conn, flags uint32) {
	if c.flags&fConnecting != 0 {
		l.finishDial(c)
		if c.flags&(fConnecting|fClosed) != 0 {
			return
		}
		if l.ur != nil {
			// io_uring: the output ConnectionMade wrote is in flight and
			// input comes as completions from here on.
			l.ur.connected(c)
			return
		}
		// Connected. The same edge-triggered report may also carry the
		// data or the close the peer sent at once, which no later event
		// repeats: handle them now.
	}
	if flags&evWrite != 0 && c.flags&fWantWrite != 0 {
		c.flags &^= fWantWrite
		l.flush(c)
		if c.flags&fClosed != 0 {
			return
		}
	}
	if flags&evRead != 0 && c.flags&fReadClosed == 0 {
		l.read(c, flags&evHup != 0)
	}
}

// read reads from c until a short read (edge-triggered: the socket is
// drained), EOF, an error, its fair share, or until reading is blocked
// (readBlocked), delivering each chunk. What is left unread is marked
// fReadPending: no new edge will report it, so whoever unblocks reading
// queues the read again.
func (l *loop) read(c *conn, hup bool) {
	if c.flags&readBlocked != 0 {
		c.flags |= fReadPending
		return
	}
	if l.ur != nil {
		l.ur.resume(c) // io_uring: input arrives as completions
		return
	}
	c.flags &^= fReadPending
	if p := c.proxied(); p != nil && p.held != nil && !l.deliverHeld(c) {
		return
	}
	high := l.r.cfg.highWater
	for i := 0; ; i++ {
		if i == maxReadsPerEvent {
			c.flags |= fReadPending
			l.queueRead(c)
			break
		}
		n, err := sysRead(c.fd, l.readBuf)
		l.stats.read(n)
		if n > 0 && c.flags&fClosing != 0 {
			// After LoseConnection input is dropped, as Twisted stops
			// reading; it is still taken from the kernel so that the close
			// sends FIN after our output rather than a RST that could
			// destroy the output's unsent tail.
			c.flags |= fDropped
			if n < len(l.readBuf) && !hup {
				break
			}
			continue
		}
		if n > 0 {
			l.current = c
			l.deliver(c, l.readBuf[:n])
			l.current = nil
			if c.flags&(fClosed|fReadClosed) != 0 {
				return
			}
			if c.pending() > high {
				// Send before reading more: a peer that does not read
				// its answers must not be able to make them pile up.
				l.flush(c)
				if c.flags&fClosed != 0 {
					return
				}
			}
			if c.flags&readBlocked != 0 {
				c.flags |= fReadPending
				break
			}
			if n < len(l.readBuf) && !hup {
				break
			}
			continue
		}
		if n == 0 {
			if c.flags&fLingering != 0 {
				l.closeConn(c, c.closeReason())
				return
			}
			l.peerEOF(c)
			break
		}
		if err == unix.EAGAIN {
			break
		}
		if err == unix.EINTR {
			continue
		}
		l.closeConn(c, connError(err))
		return
	}
	if c.flags&fLingering != 0 {
		return
	}
	if c.flags&fClosed == 0 && (c.pending() > 0 || c.flags&(fClosing|fShutWrPending) != 0) {
		l.flush(c)
	}
}

// deliverHeld gives c's Protocol the bytes held back with its PROXY header
// (see proxyLayer.handOver) and reports whether reading may go on.
func (l *loop) deliverHeld(c *conn) bool {
	p := c.proxied()
	held := p.held
	p.held = nil
	l.current = c
	l.deliver(c, held)
	l.current = nil
	if c.flags&(fClosed|fReadClosed) != 0 {
		return false
	}
	if c.flags&readBlocked != 0 {
		c.flags |= fReadPending
		if c.pending() > 0 || c.flags&(fClosing|fShutWrPending) != 0 {
			l.flush(c)
		}
		return false
	}
	return true
}

// readIfPending queues a read of c on the next turn if data is waiting and
// nothing blocks reading any more.
func (l *loop) readIfPending(c *conn) {
	if c.flags&(fReadPending|readBlocked|fClosed|fReadClosed) == fReadPending {
		l.queueRead(c)
	}
}

// connError maps a socket error to the reason ConnectionLost is given.
func connError(err error) error {
	switch err {
	case unix.ECONNRESET, unix.EPIPE, unix.ETIMEDOUT:
		return fmt.Errorf("%w: %w", protocol.ErrPeerReset, err)
	}
	return err
}

// peerEOF handles the peer's FIN.
func (l *loop) peerEOF(c *conn) {
	if hc, ok := c.proto.(protocol.HalfCloseable); ok && c.flags&fClosing == 0 {
		c.flags |= fReadClosed
		l.current = c
		l.guard(c, hc.ReadConnectionLost)
		l.current = nil
		if c.flags&fShutWr != 0 && c.flags&fClosed == 0 {
			l.closeConn(c, protocol.ErrPeerClosed)
		}
		return
	}
	// Not half-close aware: finish sending what is queued (the peer may
	// still be reading), then close.
	if c.flags&fClosing == 0 {
		c.flags |= fPeerClosed | fClosing
	}
	c.flags |= fReadClosed
	l.markDirty(c)
}

// queueRead schedules another read of c on the next turn of the loop.
func (l *loop) queueRead(c *conn) {
	if c.flags&fReadQueued == 0 {
		c.flags |= fReadQueued
		l.readAgain = append(l.readAgain, c)
	}
}

func (l *loop) runReadAgain() {
	if len(l.readAgain) == 0 {
		return
	}
	batch := l.readAgain
	l.readAgain = nil
	for i, c := range batch {
		batch[i] = nil
		c.flags &^= fReadQueued
		if c.flags&(fClosed|fReadClosed|readBlocked) == 0 && c.flags&fReadPending != 0 {
			l.read(c, true)
		}
	}
	if l.readAgain == nil {
		l.readAgain = batch[:0]
	}
}

// runQueued runs what other goroutines sent with CallFromThread.
func (l *loop) runQueued() {
	if !l.queue.pending() {
		return
	}
	batch := l.queue.take()
	for _, fn := range batch {
		l.guard(nil, fn)
	}
	l.queue.recycle(batch)
}

// runTimers fires every due timer and CallSoon. A panicking timer is logged
// and the rest still run.
func (l *loop) runTimers() {
	for !l.advance() {
	}
}

func (l *loop) advance() (done bool) {
	defer func() {
		if v := recover(); v != nil {
			l.panicked(nil, v)
			done = false
		}
	}()
	l.now = time.Now()
	l.wheel.Advance(l.now)
	return true
}

// markDirty puts c on the list flushed at the end of this turn. The
// connection whose own callback is running is flushed when it returns.
func (l *loop) markDirty(c *conn) {
	if c == l.current || c.flags&fDirty != 0 {
		return
	}
	c.flags |= fDirty
	l.dirty = append(l.dirty, c)
}

// flushDirty flushes the connections marked dirty. Flushing can mark more
// (a producer writing to another connection); a few rounds run now and the
// rest on the next turn, which then does not sleep.
func (l *loop) flushDirty() {
	for round := 0; round < 4 && len(l.dirty) > 0; round++ {
		batch := l.dirty
		l.dirty = nil
		for i, c := range batch {
			batch[i] = nil
			c.flags &^= fDirty
			if c.flags&fClosed == 0 {
				l.flush(c)
			}
		}
		if l.dirty == nil {
			l.dirty = batch[:0]
		}
	}
}

// flush writes pending output with one write(2), keeps only what the kernel
// refused, drives the producer, applies the water marks, and carries out a
// pending close or half-close once everything is out.
func (l *loop) flush(c *conn) {
	if c.flags&fWantWrite != 0 {
		// The kernel is full: the writability event resumes us.
		l.applyWaterMarks(c)
		return
	}
	for round := 0; ; round++ {
		if c.pending() > 0 {
			if l.ur != nil {
				// io_uring: sent by the turn's enter; the completion
				// goes on from here, as a writability report does.
				// The water marks are applied to what it refuses.
				l.ur.send(c)
				c.flags |= fWantWrite
				return
			}
			n, err := sysWrite(c.fd, c.out[c.outOff:])
			l.stats.wrote(n)
			if err != nil {
				if err == unix.EAGAIN {
					c.flags |= fWantWrite
					l.applyWaterMarks(c)
					return
				}
				if err == unix.EINTR {
					continue
				}
				l.closeConn(c, connError(err))
				return
			}
			c.outOff += n
			if c.pending() > 0 {
				// A short write means the send buffer is full: wait for
				// writability rather than try again and get EAGAIN.
				c.flags |= fWantWrite
				l.shrinkOut(c)
				l.applyWaterMarks(c)
				return
			}
		}
		c.flags &^= fWantWrite
		l.releaseOut(c)
		l.applyWaterMarks(c)
		if c.producer != nil && c.flags&(fClosing|fClosed) == 0 &&
			(c.flags&fStreaming == 0 || c.flags&fProducerPaused != 0) {
			if round == maxFlushRounds {
				// Fairness: this producer goes on after the others.
				l.markDirty(c)
				return
			}
			c.flags &^= fProducerPaused
			l.current = c
			l.guard(c, c.producer.ResumeProducing)
			l.current = nil
			if c.flags&fClosed != 0 {
				return
			}
			if c.pending() > 0 {
				continue
			}
		}
		break
	}
	if c.flags&fClosing != 0 {
		if c.producer != nil && c.flags&fStreaming == 0 {
			// Twisted: a LoseConnection with a pull producer registered
			// waits for UnregisterProducer, which marks c dirty again.
			return
		}
		if l.outputAtRisk(c) {
			l.linger(c)
			return
		}
		l.closeConn(c, c.closeReason())
		return
	}
	if c.flags&fShutWrPending != 0 {
		l.shutWrite(c)
	}
}

// applyWaterMarks holds a connection's reader back while its unsent output
// is above the high-water mark and lets it go below the low mark. With a
// streaming producer registered the producer is paused and resumed instead
// (afterWrite pauses it; here it is resumed), and the reading side is left
// to the protocol, as in Twisted.
func (l *loop) applyWaterMarks(c *conn) {
	pending := c.pending()
	cfg := &l.r.cfg
	if c.producer != nil {
		c.flags &^= fOutputFull
		l.readIfPending(c)
		if c.flags&fStreaming != 0 && pending <= cfg.lowWater && c.flags&fProducerPaused != 0 && pending > 0 {
			c.flags &^= fProducerPaused
			l.guard(c, c.producer.ResumeProducing)
		}
		return
	}
	switch {
	case pending > cfg.highWater:
		c.flags |= fOutputFull
		if l.ur != nil {
			l.ur.pause(c)
		}
	case pending <= cfg.lowWater && c.flags&fOutputFull != 0:
		c.flags &^= fOutputFull
		l.readIfPending(c)
	}
}

// outputAtRisk reports whether closing c now could cost the peer data or
// its clean EOF: closing a socket with unread input makes the kernel send
// RST and drop its send queue. So c lingers (see linger) while the kernel
// still holds output the peer has not acknowledged (the peer may send
// between any check and the close, so its silence cannot be trusted), and
// when the peer is known to be sending (reading was held back, it sent
// after LoseConnection, or unread bytes are queued), which would turn its
// EOF into a reset. A peer that has sent EOF cannot make the close reset.
func (l *loop) outputAtRisk(c *conn) bool {
	if c.flags&fReadClosed != 0 {
		return false
	}
	if n, err := sysUnsentBytes(c.fd); err != nil || n > 0 {
		return true
	}
	if c.flags&(fReadPending|fDropped) != 0 {
		return true
	}
	n, err := sysUnreadBytes(c.fd)
	return err == nil && n > 0
}

// linger closes a connection that still has unread input without losing
// its output: closing a socket whose receive queue is not empty makes the
// kernel send RST and drop whatever it had not sent yet. Instead the write
// side is shut down (FIN follows the output), input is read and dropped
// until the peer's EOF, and the socket is closed then, or after
// lingerTimeout (nginx's lingering close).
func (l *loop) linger(c *conn) {
	if c.flags&fLingering != 0 {
		return
	}
	c.flags |= fLingering | fShutWr
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		l.closeConn(c, connError(err))
		return
	}
	l.queueRead(c)
	// The timer names the connection by fd and id, not by pointer: it is
	// not cancelled when the peer's EOF closes c first, and must not keep
	// c (its Protocol, its TLS state) reachable meanwhile, nor forever in
	// the wheel of a reactor that stopped.
	fd, id := c.fd, c.id
	l.CallLater(lingerTimeout, func() {
		if fd < len(l.conns) {
			if c := l.conns[fd]; c != nil && c.id == id {
				l.closeConn(c, c.closeReason())
			}
		}
	})
}

func (l *loop) shutWrite(c *conn) {
	c.flags &^= fShutWrPending
	c.flags |= fShutWr
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		l.closeConn(c, connError(err))
		return
	}
	if wc, ok := c.proto.(protocol.WriteHalfCloseable); ok {
		l.guard(c, wc.WriteConnectionLost)
	}
	if c.flags&fReadClosed != 0 && c.flags&fClosed == 0 {
		l.closeConn(c, protocol.ErrPeerClosed)
	}
}

// closeConn closes c now and tells its protocol why.
func (l *loop) closeConn(c *conn, reason error) {
	if !l.release(c) {
		return
	}
	l.stats.closedConn(c, reason)
	l.lost(c, reason)
}

// abort closes c at once with a reset; ConnectionLost follows on a later
// turn of the loop, never inside the caller.
func (l *loop) abort(c *conn, reason error) {
	if c.flags&fClosed != 0 {
		return
	}
	// SO_LINGER with a zero timeout makes close send RST and drop output.
	unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	l.release(c)
	l.stats.closedConn(c, reason)
	l.CallSoon(func() { l.lost(c, reason) })
}

// release closes c's fd and frees its resources, reporting false if it was
// already closed.
func (l *loop) release(c *conn) bool {
	if c.flags&fClosed != 0 {
		return false
	}
	c.flags |= fClosed
	c.flags &^= fWantWrite | fReadPending
	if c.fd < len(l.conns) && l.conns[c.fd] == c {
		l.conns[c.fd] = nil
		l.nconns--
	}
	if l.forgetFD != nil {
		l.forgetFD(c.fd)
	}
	unix.Close(c.fd) // closing also removes it from the poller
	l.releaseOut(c)
	if l.current == c {
		l.current = nil
	}
	return true
}

// lost runs the protocol's and the client factory's ConnectionLost hooks.
func (l *loop) lost(c *conn, reason error) {
	if p := c.producer; p != nil {
		c.producer = nil
		l.guard(nil, p.StopProducing)
	}
	if c.proto != nil {
		l.guard(nil, func() { c.proto.ConnectionLost(reason) })
	}
	if ds := c.dialing(); ds != nil {
		ds.lost(reason)
	}
	if l.r.cfg.logger.GetLevel() <= zerolog.DebugLevel {
		logErrAs(l.connLog(c, l.log.Debug()), "reason", reason).Msg("connection lost")
	}
}

// register adds a new connection to this loop's table and poller.
func (l *loop) register(c *conn) error {
	if l.ur != nil {
		l.ur.addStream(c)
	} else if err := l.poller.addConn(c.fd); err != nil {
		return err
	}
	for c.fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*conn, len(l.conns)+64)...)
	}
	l.conns[c.fd] = c
	l.nconns++
	return nil
}

// start runs ConnectionMade for a registered connection and flushes what
// it wrote.
func (l *loop) start(c *conn) {
	if l.r.cfg.logger.GetLevel() <= zerolog.DebugLevel {
		l.connLog(c, l.log.Debug()).Msg("connection made")
	}
	l.stats.started(c)
	l.current = c
	l.guard(c, func() { c.proto.ConnectionMade(c) })
	l.current = nil
	if c.flags&fClosed == 0 && (c.pending() > 0 || c.flags&(fClosing|fShutWrPending) != 0) {
		l.flush(c)
	}
}

func (l *loop) connLog(c *conn, e *zerolog.Event) *zerolog.Event {
	e = e.Uint64("conn", c.id)
	if c.remote != nil {
		e = e.Str("peer", c.remote.String())
	}
	return e
}

// deliver calls DataReceived, recovering a panic.
func (l *loop) deliver(c *conn, b []byte) {
	defer func() {
		if v := recover(); v != nil {
			l.panicked(c, v)
		}
	}()
	c.proto.DataReceived(b)
}

// guard runs a user callback; a panic is logged and, when the callback
// belongs to a connection, aborts that connection.
func (l *loop) guard(c *conn, fn func()) {
	defer func() {
		if v := recover(); v != nil {
			l.panicked(c, v)
		}
	}()
	fn()
}

func (l *loop) panicked(c *conn, v any) {
	stack := make([]byte, 8<<10)
	stack = stack[:runtime.Stack(stack, false)]
	perr := &protocol.PanicError{Value: v, Stack: stack}
	e := l.log.Error()
	if c != nil {
		e = l.connLog(c, e)
	}
	logPanic(e, v).Bytes("stack", stack).Msg("callback panicked")
	if c != nil {
		l.abort(c, perr)
	}
}

// abortAll aborts every connection (used when the loop cannot go on);
// connects still in progress fail.
func (l *loop) abortAll(reason error) {
	l.closeEach(func(c *conn) { l.closeConn(c, fmt.Errorf("%w: %w", protocol.ErrAborted, reason)) })
}
