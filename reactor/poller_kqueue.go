//go:build darwin || freebsd

package reactor

import (
	"time"

	"golang.org/x/sys/unix"
)

// kqueuePoller is the BSD and macOS backend: one kqueue per loop, with an
// EVFILT_USER event for wake-ups.
type kqueuePoller struct {
	kq  int
	raw []unix.Kevent_t
}

const wakeIdent = 0 // EVFILT_USER idents live in their own namespace

func newPoller(maxEvents int) (poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(kq)
	p := &kqueuePoller{kq: kq, raw: make([]unix.Kevent_t, maxEvents)}
	ch := []unix.Kevent_t{{Ident: wakeIdent, Filter: unix.EVFILT_USER, Flags: unix.EV_ADD | unix.EV_CLEAR}}
	if _, err := unix.Kevent(kq, ch, nil, nil); err != nil {
		unix.Close(kq)
		return nil, err
	}
	return p, nil
}

func (p *kqueuePoller) addConn(fd int) error {
	ch := []unix.Kevent_t{
		{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_ADD | unix.EV_CLEAR},
		{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: unix.EV_ADD | unix.EV_CLEAR},
	}
	_, err := unix.Kevent(p.kq, ch, nil, nil)
	return err
}

func (p *kqueuePoller) addListener(fd int) error {
	// Every loop's kqueue watches the shared listening socket; the losers of
	// a race get EAGAIN from accept, which the loop ignores.
	ch := []unix.Kevent_t{{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_ADD}}
	_, err := unix.Kevent(p.kq, ch, nil, nil)
	return err
}

func (p *kqueuePoller) remove(fd int) error {
	ch := []unix.Kevent_t{
		{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_DELETE},
		{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: unix.EV_DELETE},
	}
	// A listener has no write filter: ENOENT for it is expected.
	_, err := unix.Kevent(p.kq, ch, nil, nil)
	if err == unix.ENOENT {
		err = nil
	}
	return err
}

func (p *kqueuePoller) wait(events []pollEvent, timeout time.Duration) (int, error) {
	max := len(events)
	if max > len(p.raw) {
		max = len(p.raw)
	}
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	n, err := unix.Kevent(p.kq, nil, p.raw[:max], ts)
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, err
	}
	out := 0
	for i := 0; i < n; i++ {
		ev := &p.raw[i]
		if ev.Filter == unix.EVFILT_USER {
			continue
		}
		var f uint32
		switch ev.Filter {
		case unix.EVFILT_READ:
			f = evRead
		case unix.EVFILT_WRITE:
			f = evWrite
		}
		if ev.Flags&(unix.EV_EOF|unix.EV_ERROR) != 0 {
			f |= evHup | evRead
		}
		events[out] = pollEvent{fd: int32(ev.Ident), flags: f}
		out++
	}
	return out, nil
}

func (p *kqueuePoller) wake() error {
	ch := []unix.Kevent_t{{Ident: wakeIdent, Filter: unix.EVFILT_USER, Fflags: unix.NOTE_TRIGGER}}
	_, err := unix.Kevent(p.kq, ch, nil, nil)
	return err
}

func (p *kqueuePoller) close() error { return unix.Close(p.kq) }
