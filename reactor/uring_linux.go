//go:build linux

package reactor

import (
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readinessName names the readiness backend in the fallback's log line.
const readinessName = "epoll"

// newLoopPoller makes a loop's poller for the backend New settled on.
func newLoopPoller(cfg *config) (poller, error) {
	if cfg.backend == BackendIOURing {
		return newUringPoller(cfg)
	}
	return newPoller(cfg.maxEvents)
}

// What a completion's user_data names: the top byte is the kind, the next
// three bytes the generation of the fd's registration (so that a late
// completion for a closed fd whose number was reused is recognised), the
// low four bytes the fd.
const (
	udPoll   = 1 // multishot POLL_ADD of a connecting socket
	udRecv   = 2 // multishot RECV of a connection into the buffer ring
	udWake   = 3 // READ of the wake-up eventfd, re-armed
	udIgnore = 4 // cancellations: nobody waits for them
	udEpoll  = 5 // multishot POLL_ADD of the inner epoll instance
	udSend   = 6 // SEND of a connection's output
)

func userData(kind uint8, gen uint32, fd int) uint64 {
	return uint64(kind)<<56 | uint64(gen&0xffffff)<<32 | uint64(uint32(fd))
}

// A connection's requests, in uconn.state.
const (
	ucPoll     uint8 = 1 << iota // readiness poll armed (connecting)
	ucRecv                       // multishot recv armed
	ucStopping                   // its cancellation asked for: data may still come
	ucSend                       // a send in flight
	ucEOF                        // EOF or an error arrived behind held input
)

// uconn is the io_uring state of the connection on one fd. It is kept to
// 24 bytes because the table holds one per descriptor, idle connections
// included: what only a connection with a send in flight or input held
// back needs is in io, taken from the poller's pool while it does.
type uconn struct {
	c     *conn
	io    *uconnIO // nil while no send is in flight and no input is held
	gen   uint32
	state uint8
}

// uconnIO is the part of a connection's io_uring state it needs only
// while a send is in flight (ucSend) or input is held back (held, ucEOF).
type uconnIO struct {
	err int32 // the recv error queued behind held input (0: EOF)
	// held is input taken from the kernel while reading was blocked, kept
	// in its ring buffers (no copy, no Go heap) until reading resumes.
	held []heldBuf
	// The send in flight reads sendBuf's memory, which is Go heap (the
	// connection's output buffer): it is pinned until the completion, and
	// the output code neither moves the unsent bytes nor pools the buffer
	// meanwhile (fSending). Pinning rather than copying into mmap'd send
	// buffers keeps the hot path copy-free; the buffer is the one the
	// handler's writes were appended to.
	sendBuf []byte
	sendLen int // bytes the send in flight offered
	pin     runtime.Pinner
}

// heldCount is the number of receives u holds back.
func (u *uconn) heldCount() int {
	if u.io == nil {
		return 0
	}
	return len(u.io.held)
}

// uconnIOKeep bounds the poller's pool of uconnIO: enough for the
// connections sending at once, not one per connection.
const uconnIOKeep = 256

// ioOf is u's uconnIO, taken from the pool (or made) if it has none.
func (p *uringPoller) ioOf(u *uconn) *uconnIO {
	if u.io == nil {
		if n := len(p.freeIO); n > 0 {
			u.io = p.freeIO[n-1]
			p.freeIO[n-1] = nil
			p.freeIO = p.freeIO[:n-1]
		} else {
			u.io = new(uconnIO)
		}
	}
	return u.io
}

// releaseIO gives u's uconnIO back to the pool once nothing needs it: no
// send in flight, nothing held, no error queued. Its pinner is empty then
// (a send's completion unpins; forget moves a send in flight's pins to an
// orphan first).
func (p *uringPoller) releaseIO(u *uconn) {
	io := u.io
	if io == nil || u.state&(ucSend|ucEOF) != 0 || len(io.held) > 0 {
		return
	}
	u.io = nil
	io.err, io.held, io.sendBuf, io.sendLen = 0, io.held[:0], nil, 0
	if len(p.freeIO) < uconnIOKeep {
		p.freeIO = append(p.freeIO, io)
	}
}

// heldBuf is one receive's input kept back: n bytes of buffer bid.
type heldBuf struct {
	bid uint16
	n   uint32
}

// orphan is a send still in flight when its connection closed: its buffer
// stays pinned until the kernel reports the (cancelled) send.
type orphan struct {
	buf []byte
	pin *runtime.Pinner
}

// uringPoller is the io_uring backend. A connection is served by
// completions: a multishot RECV into the loop's provided-buffer ring
// (IORING_RECV_MULTISHOT with IOSQE_BUFFER_SELECT) delivers its input, and
// its output goes out as SEND requests queued during the turn and
// submitted, all of them, by the io_uring_enter that also waits for the
// next completions, until the timing wheel's next deadline
// (IORING_ENTER_EXT_ARG). A connect in progress is watched by a multishot
// POLL_ADD until it is over. CallFromThread's wake-up is an eventfd whose
// READ request is always armed.
//
// Listening and UDP sockets stay on a readiness path: they are registered
// in an inner epoll instance exactly as on the epoll backend (the UDP code
// and the listeners' level-triggered, EPOLLEXCLUSIVE registration are
// shared), and the ring watches that epoll fd. The reason is closing: an
// io_uring request holds a reference to its socket, so a socket closed
// while a request is armed stays open until the request's cancellation
// has run in the kernel, later than close(2) returns, and a program that
// closes a listener or a UDP port and binds the same port again at once
// (which the tests pin) would find it still bound. A connection is closed
// the same way, its cancellations submitted with the turn's other requests
// (see forget): there only the FIN's timing moves, by microseconds.
type uringPoller struct {
	l       *loop
	ring    *ring
	bufs    *bufRing
	ep      *epollPoller // listeners and UDP sockets
	epHot   bool         // the inner epoll had events: ask it again
	epReady bool         // the ring reported the inner epoll readable
	wakefd  int
	wbuf    []byte     // mmap'd: the eventfd READ's 8 bytes
	conns   uconnTable // by fd
	freeIO  []*uconnIO // pool, see ioOf
	done    []uringCQE // this turn's completions, handled by complete
	orphans map[uint64]orphan
	// Buffers held by paused connections are not the kernel's: a
	// receive that ran out of buffers while most are held waits in
	// starved until some come back, rather than failing again at once.
	heldBufs int
	starved  []*conn
	counts   uringCounts
}

// uringCounts are what the bench and docs/io_uring.md count per loop:
// io_uring_enter calls (ring.enters), those that could sleep, and the
// completions reaped, by kind. Printed to stderr when the loop's poller
// closes if MUSTAINE_URING_KNOBS has "stats".
type uringCounts struct {
	waits, cqes, recvs, sends, other uint64
}

// uringEntries is each loop's submission ring size; the completion ring
// has four times as many entries, and overflow is kept by the kernel
// (IORING_FEAT_NODROP) until reaped.
const uringEntries = 1024

// The loop's provided-buffer ring: what one recv completion can carry at
// most, and how many buffers (their memory, mmap'd, is per loop and
// independent of the connection count).
const (
	uringBufSize  = 16 << 10
	uringBufCount = 256
)

// uringMinWait (µs) bounds how late a send that did not complete inline
// is handled when the loop has nothing else to do (see ring.enter): longer
// than a loopback round trip (50-60 µs here), so that a request's answer
// and the next request are one turn, and short against anything that
// waits on a full socket.
const uringMinWait = 250

func newUringPoller(cfg *config) (*uringPoller, error) {
	// The loop is locked to its thread (see chooseBackend): the ring has
	// one submitter (SINGLE_ISSUER), whose completions' task work runs
	// inside its own wait (DEFER_TASKRUN) rather than interrupting it,
	// and is enabled from that thread in start.
	flags := uint32(iouSetupSubmitAll)
	if cfg.lockOSThread {
		flags |= iouSetupSingleIssuer | iouSetupRDisabled
		if !uringKnobs.nodefer {
			flags |= iouSetupDeferTaskrun
		}
	}
	r, err := newRing(uringEntries, flags)
	if err != nil {
		return nil, err
	}
	p := &uringPoller{ring: r, wakefd: -1, orphans: make(map[uint64]orphan)}
	if r.features&iouFeatMinTimeout != 0 && uringKnobs.merge {
		r.minWait = uringMinWait
	}
	fail := func(err error) (*uringPoller, error) {
		p.close()
		return nil, err
	}
	if p.bufs, err = newBufRing(r, 0, uringBufCount, min(uringBufSize, cfg.readBufferSize)); err != nil {
		return fail(err)
	}
	// A blocking eventfd: io_uring would complete a READ of a
	// non-blocking one at once with EAGAIN instead of waiting.
	if p.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
		return fail(err)
	}
	if p.wbuf, err = unix.Mmap(-1, 0, uringPageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE); err != nil {
		return fail(err)
	}
	ep, err := newPoller(cfg.maxEvents)
	if err != nil {
		return fail(err)
	}
	p.ep = ep.(*epollPoller)
	p.armWake()
	p.armEpoll()
	return p, nil
}

// start runs on the loop's goroutine before its first wait: a ring made
// for one thread (IORING_SETUP_R_DISABLED) is enabled from it, which makes
// that thread its only submitter.
func (p *uringPoller) start() error {
	// A locked loop's Gosched (loop.poll's yield before sleeping) is no
	// yield: the thread cannot run another goroutine, so it hands its P to
	// another thread, sleeps on a futex, and is woken when that thread
	// finds the loop's goroutine runnable again: six futex calls per
	// sleep, measured (perf record -e syscalls:sys_enter_futex -g).
	p.l.noYield = p.l.r.cfg.lockOSThread && !uringKnobs.yield
	if p.ring.flags&iouSetupRDisabled == 0 {
		return nil
	}
	return p.ring.register(iouRegisterEnableRings, nil, 0)
}

// armEpoll watches the inner epoll instance.
func (p *uringPoller) armEpoll() {
	s := p.ring.sqe()
	s.opcode = iouOpPollAdd
	s.fd = int32(p.ep.epfd)
	s.opFlags = unix.POLLIN
	s.len = iouPollAddMulti
	s.userData = userData(udEpoll, 0, 0)
}

// asUring is p as the io_uring backend, or nil.
func asUring(p poller) *uringPoller {
	u, _ := p.(*uringPoller)
	return u
}

// epollOf is the epoll instance behind a Linux poller, where the UDP code
// registers its sockets.
func epollOf(p poller) (*epollPoller, bool) {
	switch p := p.(type) {
	case *epollPoller:
		return p, true
	case *uringPoller:
		return p.ep, true
	}
	return nil, false
}

// uringPageSize is the smallest mmap.
const uringPageSize = 4096

func (p *uringPoller) armWake() {
	s := p.ring.sqe()
	s.opcode = iouOpRead
	s.fd = int32(p.wakefd)
	s.addr = uint64(uintptr(unsafe.Pointer(&p.wbuf[0])))
	s.len = 8
	s.off = ^uint64(0)
	s.userData = userData(udWake, 0, 0)
}

// slot is fd's state, growing the table as needed.
func (p *uringPoller) slot(fd int) *uconn { return p.conns.slot(fd) }

// uconnChunk is how many descriptors' states one allocation of a
// uconnTable holds.
const uconnChunk = 256

// uconnTable is the connections' states by descriptor, in fixed chunks
// allocated as descriptors reach them. A table that grew by copying into
// one doubling slice would leave the old arrays as garbage, and the
// process's RSS, which the kernel only gets back when the collector's
// scavenger returns them, would hold about twice the table: 10,000 idle
// connections measured 210 B each above epoll's that way.
type uconnTable struct {
	chunks []*[uconnChunk]uconn
}

// at is fd's state, or nil when fd never had one.
func (t *uconnTable) at(fd int) *uconn {
	i := fd / uconnChunk
	if i >= len(t.chunks) || t.chunks[i] == nil {
		return nil
	}
	return &t.chunks[i][fd%uconnChunk]
}

// slot is fd's state, allocating its chunk if needed.
func (t *uconnTable) slot(fd int) *uconn {
	i := fd / uconnChunk
	for i >= len(t.chunks) {
		t.chunks = append(t.chunks, nil)
	}
	if t.chunks[i] == nil {
		t.chunks[i] = new([uconnChunk]uconn)
	}
	return &t.chunks[i][fd%uconnChunk]
}

// each calls fn with every state the table holds.
func (t *uconnTable) each(fn func(*uconn)) {
	for _, ch := range t.chunks {
		if ch != nil {
			for i := range ch {
				fn(&ch[i])
			}
		}
	}
}

// addConn is never used for connections (see addStream); the UDP code
// registers with the inner epoll itself.
func (p *uringPoller) addConn(fd int) error { return p.ep.addConn(fd) }

// addStream starts serving c: a connect in progress is watched for its
// outcome, a connected socket starts receiving.
func (p *uringPoller) addStream(c *conn) {
	u := p.slot(c.fd)
	u.gen++
	u.c, u.state = c, 0 // forget released the previous connection's io
	if c.flags&fConnecting != 0 {
		s := p.ring.sqe()
		s.opcode = iouOpPollAdd
		s.fd = int32(c.fd)
		s.opFlags = unix.POLLIN | unix.POLLOUT | unix.POLLRDHUP
		s.len = iouPollAddMulti
		s.userData = userData(udPoll, u.gen, c.fd)
		u.state |= ucPoll
		return
	}
	p.armRecv(u)
}

// connected switches c, whose connect succeeded, from its poll to
// receiving.
func (p *uringPoller) connected(c *conn) {
	u := p.slot(c.fd)
	if u.state&ucPoll != 0 {
		u.state &^= ucPoll
		p.cancel(userData(udPoll, u.gen, c.fd))
	}
	if u.state&(ucRecv|ucEOF) == 0 {
		p.armRecv(u)
	}
}

func (p *uringPoller) armRecv(u *uconn) {
	s := p.ring.sqe()
	s.opcode = iouOpRecv
	s.fd = int32(u.c.fd)
	s.ioprio = iouRecvMultishot
	s.flags = iouSqeBufferSelect
	s.bufIndex = p.bufs.bgid
	s.userData = userData(udRecv, u.gen, u.c.fd)
	u.state |= ucRecv
}

// cancel asks the kernel to end request ud. The cancellation's own
// completion carries nothing the loop needs (the cancelled request's
// final completion says it ended): it is posted only if it fails
// (IOSQE_CQE_SKIP_SUCCESS), and then ignored as before.
func (p *uringPoller) cancel(ud uint64) {
	s := p.ring.sqe()
	s.opcode = iouOpAsyncCancel
	s.flags = iouSqeCQESkipSuccess
	s.fd = -1
	s.addr = ud
	s.userData = userData(udIgnore, 0, 0)
}

// send queues c's unsent output as one SEND request.
func (p *uringPoller) send(c *conn) {
	u := p.slot(c.fd)
	b := c.out[c.outOff:]
	io := p.ioOf(u)
	io.pin.Pin(&b[0])
	io.sendBuf = c.out
	u.state |= ucSend
	c.flags |= fSending
	s := p.ring.sqe()
	s.opcode = iouOpSend
	s.fd = int32(c.fd)
	s.addr = uint64(uintptr(unsafe.Pointer(&b[0])))
	io.sendLen = min(len(b), 1<<30)
	s.len = uint32(io.sendLen)
	s.opFlags = unix.MSG_NOSIGNAL
	s.userData = userData(udSend, u.gen, c.fd)
	p.ring.inline++
}

func (p *uringPoller) addListener(fd int) error { return p.ep.addListener(fd) }

// remove stops watching a listener.
func (p *uringPoller) remove(fd int) error { return p.ep.remove(fd) }

// forget ends fd's requests before the loop closes it: an armed request
// holds a reference to the socket, so a socket is only really closed (FIN
// or RST sent) once its requests are gone. The cancellations go with the
// turn's other requests, and a send still in flight keeps its buffer
// pinned until the kernel reports it.
func (p *uringPoller) forget(fd int) {
	u := p.conns.at(fd)
	if u == nil || u.c == nil {
		return
	}
	if u.state&ucPoll != 0 {
		p.cancel(userData(udPoll, u.gen, fd))
	}
	if u.state&ucRecv != 0 && u.state&ucStopping == 0 {
		p.cancel(userData(udRecv, u.gen, fd))
	}
	if u.state&ucSend != 0 {
		ud := userData(udSend, u.gen, fd)
		pin := new(runtime.Pinner)
		*pin = u.io.pin
		u.io.pin = runtime.Pinner{}
		p.orphans[ud] = orphan{buf: u.io.sendBuf, pin: pin}
		p.cancel(ud)
	}
	p.dropHeld(u)
	u.c, u.state = nil, 0
	p.releaseIO(u)
}

// dropHeld gives u's held buffers back to the kernel.
func (p *uringPoller) dropHeld(u *uconn) {
	if io := u.io; io != nil {
		for _, h := range io.held {
			p.bufs.put(h.bid)
		}
		p.heldBufs -= len(io.held)
		io.held = io.held[:0]
	}
	p.bufs.commit()
	p.feedStarved()
}

// feedStarved arms again the receives that found no buffer, once enough
// are the kernel's again.
func (p *uringPoller) feedStarved() {
	if len(p.starved) == 0 || p.heldBufs > uringBufCount*3/4 {
		return
	}
	for i, c := range p.starved {
		p.starved[i] = nil
		if u := p.conns.at(c.fd); u != nil && u.c == c && u.state&(ucRecv|ucEOF) == 0 &&
			c.flags&(readBlocked|fReadClosed|fClosed) == 0 && u.heldCount() == 0 {
			p.armRecv(u)
		}
	}
	p.starved = p.starved[:0]
}

func (p *uringPoller) wait(events []pollEvent, timeout time.Duration) (int, error) {
	r := p.ring
	out := 0
	if p.epHot {
		// A level-triggered listener with a backlog left reports again
		// only when asked: ask until the inner epoll has nothing.
		n, err := p.ep.wait(events, 0)
		if err != nil {
			return 0, err
		}
		out = n
		p.epHot = n > 0
	}
	var min uint32
	if timeout != 0 && out == 0 && r.cqReady() == 0 && len(p.done) == 0 {
		min = 1
		// A goroutine that never passes through the scheduler looks
		// like a runaway to sysmon, which then takes the P away in
		// every blocking wait and polls every 20 µs (23% of the loop's
		// core on a one-connection echo, in perf record). A yield now
		// and then (loop.yieldDue: every loopYieldEvery, or after a
		// turn that readied a goroutine) tells it otherwise, for six
		// futex calls on this locked thread (see start).
		if p.l.noYield && !uringKnobs.noperiodic && p.l.yieldDue() {
			runtime.Gosched()
		}
	}
	ns := int64(-1)
	if timeout > 0 {
		ns = int64(timeout)
	}
	if min > 0 {
		p.counts.waits++
	}
	if err := r.enter(min, 0, ns); err != nil {
		return 0, err
	}
	out += p.reap(events[out:])
	if p.epReady && out < len(events) {
		p.epReady = false
		n, err := p.ep.wait(events[out:], 0)
		if err != nil {
			return 0, err
		}
		out += n
		p.epHot = n > 0
	}
	return out, nil
}

// reap takes the completions from the ring: readiness reports of
// connecting sockets become events, the rest wait in done for complete,
// which runs after the turn's readiness events, on the loop.
func (p *uringPoller) reap(events []pollEvent) int {
	r := p.ring
	head := *r.cqHead
	tail := r.cqTailNow()
	out := 0
	for ; head != tail && out < len(events); head++ {
		if uringCQEFault != nil {
			uringCQEFault(&r.cqes[head&r.cqMask])
		}
		cqe := r.cqes[head&r.cqMask]
		p.counts.cqes++
		switch uint8(cqe.userData >> 56) {
		case udWake:
			p.armWake()
		case udEpoll:
			p.epReady = true
			if cqe.flags&iouCqeFMore == 0 {
				p.armEpoll()
			}
		case udPoll:
			fd := int(uint32(cqe.userData))
			u := p.conns.at(fd)
			if u == nil {
				continue
			}
			if u.state&ucPoll == 0 || u.gen&0xffffff != uint32(cqe.userData>>32)&0xffffff {
				continue // a late report for a closed registration
			}
			if cqe.flags&iouCqeFMore == 0 {
				u.state &^= ucPoll
				if cqe.res != -int32(unix.ECANCELED) {
					p.addStream(u.c) // the kernel ended it: arm it again
				}
			}
			if cqe.res == -int32(unix.ECANCELED) {
				continue
			}
			f := uint32(evRead | evHup)
			if cqe.res >= 0 {
				f = pollFlags(uint32(cqe.res))
			}
			events[out] = pollEvent{fd: int32(fd), flags: f}
			out++
		case udRecv:
			p.counts.recvs++
			p.done = append(p.done, cqe)
		case udSend:
			p.counts.sends++
			p.done = append(p.done, cqe)
		default:
			p.counts.other++
		}
	}
	r.cqAdvance(head)
	return out
}

// uringCQEFault, set only by tests (before a reactor runs), may change
// each completion as it is reaped, as a failing kernel would.
var uringCQEFault func(*uringCQE)

// current is the state of the connection a recv or send completion is
// for, or nil when that connection was closed since.
func (p *uringPoller) current(ud uint64, bit uint8) *uconn {
	u := p.conns.at(int(uint32(ud)))
	if u == nil || u.c == nil || u.state&bit == 0 || u.gen&0xffffff != uint32(ud>>32)&0xffffff {
		return nil
	}
	return u
}

// complete handles the turn's recv and send completions, in the order the
// kernel posted them.
func (p *uringPoller) complete() {
	for i := 0; i < len(p.done); i++ {
		cqe := p.done[i]
		if uint8(cqe.userData>>56) == udSend {
			p.sendDone(cqe)
			continue
		}
		// The buffer's input is valid until the buffer goes back, after
		// the delivery (the kernel takes it again only at the next
		// enter), unless it is held.
		if cqe.flags&iouCqeFBuffer == 0 {
			p.recvDone(cqe, noBuf)
		} else if bid := uint16(cqe.flags >> iouCqeBufShift); !p.recvDone(cqe, int(bid)) {
			p.bufs.put(bid)
		}
	}
	p.done = p.done[:0]
	p.bufs.commit()
	p.feedStarved()
}

// noBuf marks a completion without a buffer.
const noBuf = -1

func (p *uringPoller) sendDone(cqe uringCQE) {
	if o, ok := p.orphans[cqe.userData]; ok {
		delete(p.orphans, cqe.userData)
		o.pin.Unpin()
		p.l.putBuf(o.buf)
		return
	}
	u := p.current(cqe.userData, ucSend)
	if u == nil {
		return
	}
	c, io := u.c, u.io
	io.pin.Unpin()
	u.state &^= ucSend
	c.flags &^= fSending | fWantWrite
	if unsafe.SliceData(io.sendBuf) != unsafe.SliceData(c.out) {
		// The output moved to a bigger buffer while the send was in
		// flight (see reserveOut): the old one is free now.
		p.l.putBuf(io.sendBuf)
	}
	sendLen := io.sendLen
	p.releaseIO(u)
	p.l.stats.wrote(int(cqe.res))
	if cqe.res < 0 {
		p.failed(c, "send", cqe.res)
		return
	}
	c.outOff += int(cqe.res)
	if int(cqe.res) < sendLen || c.pending() <= p.l.r.cfg.lowWater {
		// The water marks count what the kernel refused, as on epoll:
		// the rest of a short send, not output written meanwhile that
		// the next send offers.
		p.l.applyWaterMarks(c)
	}
	// Go on as after a writability report: the rest of the output, the
	// producer, a pending close or half-close.
	p.l.flush(c)
}

// recvDone handles one completion of a connection's multishot recv:
// data in buffer bid, EOF (res 0), or the end of the request. It reports
// whether it kept the buffer (held, see hold).
func (p *uringPoller) recvDone(cqe uringCQE, bid int) (kept bool) {
	u := p.current(cqe.userData, ucRecv)
	if u == nil {
		return false
	}
	c := u.c
	final := cqe.flags&iouCqeFMore == 0
	if final {
		u.state &^= ucRecv | ucStopping
	}
	l := p.l
	if cqe.res != -int32(unix.ENOBUFS) && cqe.res != -int32(unix.ECANCELED) {
		l.stats.read(int(cqe.res)) // one receive, as one read(2)
	}
	switch {
	case cqe.res > 0 && bid >= 0:
		if u.heldCount() > 0 || c.flags&readBlocked != 0 || u.state&ucStopping != 0 {
			io := p.ioOf(u)
			io.held = append(io.held, heldBuf{bid: uint16(bid), n: uint32(cqe.res)})
			p.heldBufs++
			kept = true
			p.hold(u)
		} else {
			l.recvChunk(c, p.bufs.buf(uint16(bid))[:cqe.res])
		}
	case cqe.res == -int32(unix.ENOBUFS):
		if final && c.flags&readBlocked == 0 && u.heldCount() == 0 && p.heldBufs > uringBufCount*3/4 {
			// Paused connections hold most buffers: wait for some.
			p.starved = append(p.starved, c)
			return false
		}
	case cqe.res == -int32(unix.ECANCELED) || cqe.res > 0:
		// Stopped by us: armed again below or when reading resumes.
	default:
		// EOF (0) or an error: after the input held, if any.
		if u.heldCount() > 0 || c.flags&readBlocked != 0 {
			u.state |= ucEOF
			p.ioOf(u).err = cqe.res
			p.hold(u)
			return false
		}
		l.recvEnd(c, cqe.res)
		return false
	}
	if !final || u.c != c || c.flags&(fReadClosed|fClosed) != 0 {
		return kept // more to come, or closed by the delivery
	}
	switch {
	case c.flags&readBlocked != 0:
		c.flags |= fReadPending // resume arms it again
	case u.heldCount() > 0 || u.state&ucEOF != 0:
		c.flags |= fReadPending
		l.queueRead(c)
	case u.state&ucRecv == 0:
		p.armRecv(u)
	}
	return kept
}

// hold keeps input that arrived while reading was blocked (it was in the
// kernel's hands already: the multishot recv takes what arrives) and stops
// the recv, so that the peer is held back by TCP's window from here on.
func (p *uringPoller) hold(u *uconn) {
	c := u.c
	c.flags |= fReadPending
	if c.flags&readBlocked == 0 {
		// Not blocked (any more): resume delivers it, in order.
		p.l.queueRead(c)
		return
	}
	if u.state&(ucRecv|ucStopping) == ucRecv {
		u.state |= ucStopping
		p.cancel(userData(udRecv, u.gen, c.fd))
	}
}

// pause stops c's receive as soon as reading is blocked, so that little
// more than what is already in flight is taken from the kernel.
func (p *uringPoller) pause(c *conn) {
	u := p.conns.at(c.fd)
	if u == nil {
		return
	}
	if u.c == c && u.state&(ucRecv|ucStopping) == ucRecv {
		u.state |= ucStopping
		p.cancel(userData(udRecv, u.gen, c.fd))
	}
}

// resume is loop.read on io_uring: reading is no longer blocked, so the
// input held meanwhile is delivered and the recv armed again.
func (p *uringPoller) resume(c *conn) {
	u := p.slot(c.fd)
	if u.c != c {
		return
	}
	c.flags &^= fReadPending
	if pr := c.proxied(); pr != nil && pr.held != nil && !p.l.deliverHeld(c) {
		return // the bytes that came with a PROXY header, first
	}
	for u.heldCount() > 0 {
		// One receive at a time, stopping as soon as reading is blocked
		// again, as a run of read(2) calls would.
		io := u.io
		h := io.held[0]
		io.held = io.held[:copy(io.held, io.held[1:])]
		p.heldBufs--
		p.l.recvChunk(c, p.bufs.buf(h.bid)[:h.n])
		p.bufs.put(h.bid)
		p.bufs.commit()
		if u.c != c || c.flags&fClosed != 0 {
			return
		}
		if c.flags&readBlocked != 0 {
			c.flags |= fReadPending
			return
		}
	}
	p.feedStarved()
	if u.state&ucEOF != 0 {
		u.state &^= ucEOF
		err := u.io.err
		p.releaseIO(u)
		p.l.recvEnd(c, err)
		return
	}
	p.releaseIO(u)
	if u.state&(ucRecv|ucPoll) == 0 && c.flags&(fReadClosed|fClosed) == 0 {
		p.armRecv(u)
	}
}

// recvChunk is one chunk of input for c, as each read(2) of loop.read.
func (l *loop) recvChunk(c *conn, data []byte) {
	if c.flags&fClosing != 0 {
		// After LoseConnection input is dropped (see loop.read).
		c.flags |= fDropped
		return
	}
	l.current = c
	l.deliver(c, data)
	l.current = nil
	if c.flags&(fClosed|fReadClosed) != 0 {
		return
	}
	if c.pending() > 0 || c.flags&(fClosing|fShutWrPending) != 0 {
		// Flushed with the turn's other output, in one enter.
		l.markDirty(c)
	}
}

// recvEnd is the end of c's input: EOF (res 0) or an error (-errno).
func (l *loop) recvEnd(c *conn, res int32) {
	if res < 0 {
		l.ur.failed(c, "recv", res)
		return
	}
	if c.flags&fLingering != 0 {
		l.closeConn(c, c.closeReason())
		return
	}
	l.peerEOF(c)
	if c.flags&fClosed == 0 && c.flags&fLingering == 0 &&
		(c.pending() > 0 || c.flags&(fClosing|fShutWrPending) != 0) {
		l.markDirty(c)
	}
}

// failed closes c, whose request op failed with -res. A reset or an
// unreachable peer is the network's doing and is reported as on epoll
// (protocol.ErrPeerReset for a reset); any other error means the request
// itself went wrong (the kernel refused it): ConnectionLost gets it naming
// the request, as an *os.SyscallError that errors.Is matches with the
// errno, and it is logged once with the connection's fields. The loop's
// other connections are not touched.
func (p *uringPoller) failed(c *conn, op string, res int32) {
	errno := unix.Errno(-res)
	err := connError(errno)
	switch errno {
	case unix.ECONNRESET, unix.EPIPE, unix.ETIMEDOUT, unix.EHOSTUNREACH, unix.ENETUNREACH,
		unix.ECONNABORTED, unix.ECONNREFUSED:
	default:
		err = os.NewSyscallError("io_uring "+op, errno)
		p.l.connLog(c, p.l.log.Warn()).Err(err).Msg("io_uring request failed; connection closed")
	}
	p.l.closeConn(c, err)
}

// pollFlags maps a poll mask (the same bits as epoll's) to the loop's
// readiness bits.
func pollFlags(m uint32) uint32 {
	var f uint32
	if m&(unix.POLLIN|unix.POLLPRI) != 0 {
		f |= evRead
	}
	if m&unix.POLLOUT != 0 {
		f |= evWrite
	}
	if m&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0 {
		f |= evHup | evRead
	}
	return f
}

func (p *uringPoller) wake() error { return signalEventfd(p.wakefd) }

func (p *uringPoller) close() error {
	if uringKnobs.stats && p.l != nil {
		c := &p.counts
		fmt.Fprintf(os.Stderr, "io_uring loop %d: turns %d enters %d waits %d cqes %d recv %d send %d other %d\n",
			p.l.index, p.l.turns, p.ring.enters, c.waits, c.cqes, c.recvs, c.sends, c.other)
	}
	// Closing the ring ends every request and drops their references to
	// the sockets; only then may the eventfd and buffers go.
	var mem []byte
	if p.bufs != nil {
		mem = p.bufs.mem
	}
	err := p.ring.close()
	if mem != nil {
		unix.Munmap(mem)
	}
	if p.wakefd >= 0 {
		if e := unix.Close(p.wakefd); err == nil {
			err = e
		}
	}
	if p.ep != nil {
		if e := p.ep.close(); err == nil {
			err = e
		}
	}
	if p.wbuf != nil {
		unix.Munmap(p.wbuf)
	}
	for _, o := range p.orphans {
		o.pin.Unpin()
	}
	p.conns.each(func(u *uconn) {
		if u.io != nil {
			u.io.pin.Unpin()
		}
	})
	return err
}
