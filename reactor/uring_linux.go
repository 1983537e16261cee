//go:build linux

package reactor

import (
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
	udConn   = 1 // multishot POLL_ADD of a connection or UDP socket
	udWake   = 3 // READ of the wake-up eventfd, re-armed
	udIgnore = 4 // POLL_REMOVE and other completions nobody waits for
	udEpoll  = 5 // multishot POLL_ADD of the inner epoll instance
)

func userData(kind uint8, gen uint32, fd int) uint64 {
	return uint64(kind)<<56 | uint64(gen&0xffffff)<<32 | uint64(uint32(fd))
}

// uringPoller is the io_uring backend's poller. A connection's readiness
// comes from a multishot POLL_ADD request, collected by the same
// io_uring_enter that submits the turn's requests and sleeps until the
// timing wheel's next deadline (IORING_ENTER_EXT_ARG). CallFromThread's
// wake-up is an eventfd whose READ request is always armed.
//
// Listening and UDP sockets stay on a readiness path: they are registered
// in an inner epoll instance exactly as on the epoll backend (the UDP code
// and the listeners' level-triggered, EPOLLEXCLUSIVE registration are
// shared), and the ring watches that epoll fd. The reason is closing: an
// io_uring request holds a reference to its socket, so a socket closed
// while a request is armed stays open until the request's cancellation
// has run in the kernel, later than close(2) returns, and a program that
// closes a listener or a UDP port and binds the same port again at once
// (which the tests pin) would find it still bound. A connection is
// closed the same way, its cancellation submitted with the turn's other
// requests (see forget): there only the FIN's timing moves, by
// microseconds.
type uringPoller struct {
	ring    *ring
	ep      *epollPoller // listeners and UDP sockets
	epHot   bool         // the inner epoll had events: ask it again
	epReady bool         // the ring reported the inner epoll readable
	wakefd  int
	wbuf    []byte   // mmap'd: the eventfd READ's 8 bytes
	gens    []uint32 // by fd: generation of the current registration
	kinds   []uint8  // by fd: udConn, or 0 when not registered
}

// uringEntries is each loop's submission ring size; the completion ring
// has four times as many entries, and overflow is kept by the kernel
// (IORING_FEAT_NODROP) until reaped.
const uringEntries = 1024

func newUringPoller(cfg *config) (*uringPoller, error) {
	// Completions run as task work on the thread that submitted the
	// request. A Go loop that is not locked to its thread moves between
	// threads, so the kernel must be allowed to interrupt the thread it
	// left (the default: no COOP_TASKRUN, which would leave a completion
	// waiting on a thread parked in the scheduler, never delivered). A
	// locked loop has one thread: it takes SINGLE_ISSUER and
	// DEFER_TASKRUN (task work runs inside the loop's own wait), and the
	// ring is enabled from that thread in start.
	flags := uint32(iouSetupSubmitAll)
	if cfg.lockOSThread {
		flags |= iouSetupSingleIssuer | iouSetupDeferTaskrun | iouSetupRDisabled
	}
	r, err := newRing(uringEntries, flags)
	if err != nil {
		return nil, err
	}
	// A blocking eventfd: io_uring would complete a READ of a
	// non-blocking one at once with EAGAIN instead of waiting.
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		r.close()
		return nil, err
	}
	wbuf, err := unix.Mmap(-1, 0, uringPageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		unix.Close(wakefd)
		r.close()
		return nil, err
	}
	ep, err := newPoller(cfg.maxEvents)
	if err != nil {
		unix.Munmap(wbuf)
		unix.Close(wakefd)
		r.close()
		return nil, err
	}
	p := &uringPoller{ring: r, ep: ep.(*epollPoller), wakefd: wakefd, wbuf: wbuf}
	p.armWake()
	p.armEpoll()
	return p, nil
}

// start runs on the loop's goroutine before its first wait: a ring made
// for one thread (IORING_SETUP_R_DISABLED) is enabled from it, which makes
// that thread its only submitter.
func (p *uringPoller) start() error {
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

func (p *uringPoller) track(fd int, kind uint8) uint32 {
	for fd >= len(p.kinds) {
		n := len(p.kinds) + 64
		p.kinds = append(p.kinds, make([]uint8, n)...)
		p.gens = append(p.gens, make([]uint32, n)...)
	}
	p.gens[fd]++
	p.kinds[fd] = kind
	return p.gens[fd]
}

func (p *uringPoller) armPoll(fd int, kind uint8, gen uint32) {
	s := p.ring.sqe()
	s.opcode = iouOpPollAdd
	s.fd = int32(fd)
	s.opFlags = unix.POLLIN | unix.POLLOUT | unix.POLLRDHUP
	s.len = iouPollAddMulti
	s.userData = userData(kind, gen, fd)
}

func (p *uringPoller) addConn(fd int) error {
	p.armPoll(fd, udConn, p.track(fd, udConn))
	return nil
}

func (p *uringPoller) addListener(fd int) error { return p.ep.addListener(fd) }

// remove cancels fd's poll request. An armed request holds a reference to
// the socket, so a socket is only really closed (FIN sent, port freed)
// once its request is gone: every close of a registered fd comes here
// first (see loop.forget).
func (p *uringPoller) remove(fd int) error {
	p.forget(fd)
	// Submit now rather than with the next wait: the socket may have
	// been closed by another loop already (a shared listener).
	return p.ring.enter(0, 0, -1)
}

// forget is remove for an fd the loop closes at once: the cancellation is
// submitted with the turn's other requests, and the socket is released
// when the kernel takes it, within the same turn.
func (p *uringPoller) forget(fd int) {
	if fd >= len(p.kinds) || p.kinds[fd] == 0 {
		return
	}
	s := p.ring.sqe()
	s.opcode = iouOpPollRemove
	s.addr = userData(p.kinds[fd], p.gens[fd], fd)
	s.userData = userData(udIgnore, 0, 0)
	p.kinds[fd] = 0
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
	if timeout != 0 && out == 0 && r.cqReady() == 0 {
		min = 1
	}
	ns := int64(-1)
	if timeout > 0 {
		ns = int64(timeout)
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

// reap turns completions into readiness events, re-arming the requests
// that ended.
func (p *uringPoller) reap(events []pollEvent) int {
	r := p.ring
	head := *r.cqHead
	tail := r.cqTailNow()
	out := 0
	for ; head != tail && out < len(events); head++ {
		cqe := r.cqes[head&r.cqMask]
		kind := uint8(cqe.userData >> 56)
		fd := int(uint32(cqe.userData))
		gen := uint32(cqe.userData>>32) & 0xffffff
		switch kind {
		case udWake:
			p.armWake()
			continue
		case udEpoll:
			p.epReady = true
			if cqe.flags&iouCqeFMore == 0 {
				p.armEpoll()
			}
			continue
		case udConn:
		default:
			continue
		}
		current := fd < len(p.kinds) && p.kinds[fd] == kind && p.gens[fd]&0xffffff == gen
		if !current {
			continue // a late report for a closed registration
		}
		if cqe.flags&iouCqeFMore == 0 {
			// A one-shot report, or a multishot request the kernel ended
			// (it may, e.g. under memory pressure): arm it again.
			p.armPoll(fd, kind, p.gens[fd])
		}
		if cqe.res < 0 {
			if cqe.res == -int32(unix.ECANCELED) {
				continue
			}
			// The fd is in error; the loop learns which from the socket.
			events[out] = pollEvent{fd: int32(fd), flags: evRead | evHup}
			out++
			continue
		}
		events[out] = pollEvent{fd: int32(fd), flags: pollFlags(uint32(cqe.res))}
		out++
	}
	r.cqAdvance(head)
	return out
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

func (p *uringPoller) wake() error {
	one := [8]byte{1}
	_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(p.wakefd), uintptr(unsafe.Pointer(&one[0])), 8)
	if e != 0 && e != unix.EAGAIN {
		return e
	}
	return nil
}

func (p *uringPoller) close() error {
	// Closing the ring ends every request and drops their references to
	// the sockets; only then may the eventfd and buffers go.
	err := p.ring.close()
	if e := unix.Close(p.wakefd); err == nil {
		err = e
	}
	if e := p.ep.close(); err == nil {
		err = e
	}
	unix.Munmap(p.wbuf)
	return err
}
