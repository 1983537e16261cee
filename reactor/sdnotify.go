package reactor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The watchdog's variables (sd_watchdog_enabled(3)): the interval in
// microseconds, and the pid it is meant for (any process when unset).
const (
	envWatchdogUSec = "WATCHDOG_USEC"
	envWatchdogPID  = "WATCHDOG_PID"
)

// envNotifySocket is where systemd (and other service managers speaking
// its protocol) expect a service's state notifications: a Unix datagram
// socket path, or an abstract socket's name after '@' (sd_notify(3)).
const envNotifySocket = "NOTIFY_SOCKET"

// WithSystemdNotify turns the service-manager notifications on or off (on
// by default). When NOTIFY_SOCKET is set, as systemd sets it for a
// Type=notify service, Run tells the manager:
//
//   - READY=1 once the reactor runs (its After Startup triggers), so that
//     systemd starts the units ordered after this one only when its
//     listeners accept;
//   - STOPPING=1 when it begins a shutdown (Stop, SIGTERM);
//   - MAINPID=<pid> when an Upgrade hands over to a new process that
//     reported ready: systemd then tracks the new process as the service's
//     main process instead of taking the old one's exit for the service's
//     end (Type=notify's NotifyAccess=main lets the old main process name
//     its successor). The new process sends no READY=1 of its own: the
//     service never stopped being ready;
//   - WATCHDOG=1 every half WATCHDOG_USEC, when systemd set it for this
//     process (WatchdogSec=), but only while every loop keeps turning:
//     each half interval every loop is asked to answer, and a loop that
//     did not (a callback blocking it) withholds the next ping, so a
//     process whose loop is stuck is restarted by systemd while one that
//     is merely busy is not.
//
// Without NOTIFY_SOCKET nothing is sent. A notification that cannot be
// sent is logged at warn level and changes nothing else.
func WithSystemdNotify(enabled bool) Option {
	return func(c *config) { c.noSystemdNotify = !enabled }
}

// serviceNotifier sends a reactor's notifications (see WithSystemdNotify).
type serviceNotifier struct {
	addr string // NOTIFY_SOCKET, "" when none or turned off
	// watchdog is WATCHDOG_USEC when it is meant for this process, else 0.
	watchdog time.Duration
	// probes are the watchdog's per-loop probes (see watchdogTick).
	probes []loopProbe
	// handedOver is set once an upgrade named the new main process: this
	// one's shutdown is then not the service's.
	handedOver atomic.Bool
}

// init reads NOTIFY_SOCKET unless notifications are turned off. It keeps
// the variable set: a process an Upgrade starts inherits it, and needs it
// once it is the main process.
func (n *serviceNotifier) init(r *Reactor) {
	if r.cfg.noSystemdNotify {
		return
	}
	addr := os.Getenv(envNotifySocket)
	if addr == "" {
		return
	}
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		r.cfg.logger.Warn().Str("NOTIFY_SOCKET", addr).
			Msg("service-manager notifications off: only a socket path or an abstract @name is supported")
		return
	}
	n.addr = addr
	n.watchdog = watchdogInterval(os.Getenv, os.Getpid())
}

// watchdogInterval reads the watchdog's variables through getenv for the
// process pid: 0 when there is no watchdog, or it is another process's.
func watchdogInterval(getenv func(string) string, pid int) time.Duration {
	usec, err := strconv.ParseInt(getenv(envWatchdogUSec), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if v := getenv(envWatchdogPID); v != "" && v != strconv.Itoa(pid) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}

// runWatchdog pings the service manager every half interval while every
// loop answers, until stop is closed. Run starts it once the reactor runs
// and stops it when it returns, so a long graceful shutdown keeps pinging.
func (n *serviceNotifier) runWatchdog(r *Reactor, stop <-chan struct{}) {
	if n.addr == "" || n.watchdog <= 0 {
		return
	}
	n.probes = make([]loopProbe, len(r.loops))
	n.probe(r)
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n.watchdogTick(r)
		case <-stop:
			return
		}
	}
}

// watchdogTick sends WATCHDOG=1 if every loop answered the last probe,
// and probes again. A process that handed the service to its successor
// (see handOver) pings no more: the successor does.
func (n *serviceNotifier) watchdogTick(r *Reactor) (sent bool) {
	all := true
	for i := range n.probes {
		if !n.probes[i].answered.Load() {
			all = false
		}
	}
	if all && !n.handedOver.Load() {
		n.send(r, "WATCHDOG=1")
		sent = true
	}
	n.probe(r)
	return sent
}

// loopProbe is the watchdog's question to one loop: queued is set while a
// probe waits in the loop's queue, answered once the loop ran it.
type loopProbe struct{ queued, answered atomic.Bool }

// probe asks every loop to answer (again). A loop that has not run the
// previous probe yet keeps that one, so a stuck loop's queue does not fill
// with probes.
func (n *serviceNotifier) probe(r *Reactor) {
	for i, l := range r.loops {
		p := &n.probes[i]
		if !p.queued.CompareAndSwap(false, true) {
			continue
		}
		p.answered.Store(false)
		l.CallFromThread(func() {
			p.answered.Store(true)
			p.queued.Store(false)
		})
	}
}

// send sends state, lines of "NAME=value", to the service manager.
func (n *serviceNotifier) send(r *Reactor, state string) {
	if n.addr == "" {
		return
	}
	if err := sdNotify(n.addr, state); err != nil {
		r.cfg.logger.Warn().Str("NOTIFY_SOCKET", n.addr).Str("state", oneLine(state)).Err(err).
			Msg("cannot notify the service manager")
	}
}

// ready reports that the reactor runs, unless an upgrade started this
// process: its predecessor names it the main process once it is ready.
func (n *serviceNotifier) ready(r *Reactor, upgraded bool) {
	if !upgraded {
		n.send(r, "READY=1")
	}
}

// stopping reports the start of a shutdown that is the service's.
func (n *serviceNotifier) stopping(r *Reactor) {
	if !n.handedOver.Load() {
		n.send(r, "STOPPING=1")
	}
}

// handOver names pid, the ready successor of an upgrade, the service's
// main process.
func (n *serviceNotifier) handOver(r *Reactor, pid int) {
	if n.addr == "" {
		return
	}
	n.handedOver.Store(true)
	n.send(r, fmt.Sprintf("MAINPID=%d", pid))
}

// sdNotify sends one notification datagram to addr, a socket path or
// "@name" for an abstract socket (x/sys/unix maps a leading '@' to the
// abstract namespace's NUL). The socket is non-blocking: a manager whose
// queue is full gets an error (logged), not a stalled Run.
func sdNotify(addr, state string) error {
	fd, err := sysSocket(unix.AF_UNIX, unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, []byte(state), 0, &unix.SockaddrUnix{Name: addr})
}
