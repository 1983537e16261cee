//go:build linux

package reactor

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// epollPoller is the Linux backend: one epoll instance and one eventfd for
// wake-ups per loop.
type epollPoller struct {
	epfd   int
	wakefd int
	raw    []unix.EpollEvent
	wbuf   [8]byte
}

func newPoller(maxEvents int) (poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	p := &epollPoller{epfd: epfd, wakefd: wakefd, raw: make([]unix.EpollEvent, maxEvents)}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *epollPoller) addConn(fd int) error {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(fd),
	}
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

func (p *epollPoller) addListener(fd int) error {
	// EPOLLEXCLUSIVE: the listening socket is shared by every loop, and the
	// kernel wakes only one idle loop per incoming connection, which both
	// balances connections towards the least busy loop and avoids a
	// thundering herd.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(fd)}
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

func (p *epollPoller) remove(fd int) error {
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

func (p *epollPoller) wait(events []pollEvent, timeout time.Duration) (int, error) {
	max := len(events)
	if max > len(p.raw) {
		max = len(p.raw)
	}
	ms := -1
	if timeout >= 0 {
		// Round up: a timer must never fire early because we woke early.
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	var n int
	var errno unix.Errno
	if ms == 0 {
		// A poll that cannot block never needs the scheduler's hand-off.
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(p.epfd),
			uintptr(unsafe.Pointer(&p.raw[0])), uintptr(max), 0, 0, 0)
		n, errno = int(r), e
	} else {
		r, _, e := unix.Syscall6(unix.SYS_EPOLL_WAIT, uintptr(p.epfd),
			uintptr(unsafe.Pointer(&p.raw[0])), uintptr(max), uintptr(ms), 0, 0)
		n, errno = int(r), e
	}
	if errno != 0 {
		if errno == unix.EINTR {
			return 0, nil
		}
		return 0, errno
	}
	out := 0
	for i := 0; i < n; i++ {
		ev := &p.raw[i]
		if int(ev.Fd) == p.wakefd {
			// Drain the counter; the loop checks its queue every turn.
			unix.RawSyscall(unix.SYS_READ, uintptr(p.wakefd), uintptr(unsafe.Pointer(&p.wbuf[0])), 8)
			continue
		}
		var f uint32
		if ev.Events&(unix.EPOLLIN|unix.EPOLLPRI) != 0 {
			f |= evRead
		}
		if ev.Events&unix.EPOLLOUT != 0 {
			f |= evWrite
		}
		if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			f |= evHup | evRead
		}
		events[out] = pollEvent{fd: ev.Fd, flags: f}
		out++
	}
	return out, nil
}

func (p *epollPoller) wake() error { return signalEventfd(p.wakefd) }

// signalEventfd adds one to an eventfd's counter (a full counter already
// wakes its reader).
func signalEventfd(fd int) error {
	one := [8]byte{1}
	_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&one[0])), 8)
	if e != 0 && e != unix.EAGAIN {
		return e
	}
	return nil
}

func (p *epollPoller) close() error {
	err := unix.Close(p.wakefd)
	if e := unix.Close(p.epfd); err == nil {
		err = e
	}
	return err
}
