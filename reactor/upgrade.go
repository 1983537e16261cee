package reactor

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/deferred"
)

// Upgrade errors. Match them with errors.Is.
var (
	// ErrUpgradeFailed: the new process did not start, exited, or did not
	// report ready within WithUpgradeTimeout. This process serves on.
	ErrUpgradeFailed = errors.New("mustaine: upgrade failed")
	// ErrUpgradeInProgress: Upgrade was called while another one runs.
	ErrUpgradeInProgress = errors.New("mustaine: upgrade already in progress")
)

// The variables an upgrading process sets for its successor. Our own names,
// not systemd's LISTEN_*: systemd's LISTEN_PID must be the receiver's pid,
// which a parent using os/exec cannot know before the child exists, so the
// successor checks that MUSTAINE_UPGRADE_PID is its parent's pid instead.
const (
	envUpgradePID   = "MUSTAINE_UPGRADE_PID"   // the old process's pid
	envUpgradeFDs   = "MUSTAINE_UPGRADE_FDS"   // listener keys, one per fd from 3, ':'-separated, URL-escaped
	envUpgradeReady = "MUSTAINE_UPGRADE_READY" // the fd to write "ready\n" to
)

const defaultUpgradeTimeout = 30 * time.Second

// WithUpgradeOn makes Run start a zero-downtime upgrade (see Upgrade) when
// one of sigs arrives, typically syscall.SIGHUP. Off by default. A signal
// that arrives while an upgrade runs is ignored (logged); one after a
// failed upgrade tries again.
func WithUpgradeOn(sigs ...os.Signal) Option {
	return func(c *config) { c.upgradeSignals = sigs }
}

// WithUpgradeTimeout bounds how long Upgrade waits for the new process to
// report ready (default 30s). Values <= 0 are ignored.
func WithUpgradeTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.upgradeTimeout = d
		}
	}
}

// Upgrade replaces this process by a new copy of its program without
// refusing or losing a connection, as HAProxy's and nginx's reloads do:
//
//  1. it starts os.Executable() with the same arguments and environment,
//     stdin, stdout and stderr, and hands it every listening socket of
//     every listener (each loop's SO_REUSEPORT socket included) as
//     descriptors 3, 4, ..., named in MUSTAINE_UPGRADE_FDS;
//  2. in the new process, ListenTCP, ListenUnix and ListenActivated on
//     the same address (or activation name) as here serve those sockets
//     instead of making new ones, and once its reactor runs (its After
//     Startup triggers) it writes "ready" to a pipe, descriptor
//     MUSTAINE_UPGRADE_READY; inherited sockets it did not ask for are
//     closed then, with a warning;
//  3. once ready, this process stops as on SIGTERM (Stop: stop accepting,
//     the Before Shutdown triggers, drain, exit), and Run returns nil.
//
// The sockets are the same kernel sockets in both processes, with one
// queue each: a connection that arrived before the handover and that this
// process did not accept waits there for the new one, and closing this
// process's descriptors does not close the sockets. This is why every
// per-loop SO_REUSEPORT socket is handed over: closing one would reset the
// connections the kernel had put in its queue. (A new process with fewer
// loops than the old one's sockets has to close the surplus; it logs that.)
//
// If the new process cannot start, exits, or is not ready within
// WithUpgradeTimeout, it is killed and Upgrade returns an error matching
// ErrUpgradeFailed; this process keeps serving as if nothing happened.
// Upgrade blocks until then; call it from any goroutine but a loop's, on
// a running reactor (else ErrNotRunning). WithUpgradeOn calls it on a
// signal.
//
// The new process is this one's child, and this one exits: a supervisor
// that tracks the main pid takes that for the service's end unless it is
// told the new pid. Under systemd, run the service as Type=notify: with
// NOTIFY_SOCKET set, Upgrade sends MAINPID=<new pid> once the new process
// is ready (see WithSystemdNotify). Other supervisors need PIDFile= or an
// equivalent, which Upgrade does not write.
//
// Why not cloudflare/tableflip: it hands over net.Listener and os.File
// values and keeps its own parent/child protocol, while a reactor's
// listeners are raw non-blocking descriptors, several per address with
// SO_REUSEPORT; wrapping each in a net.Listener only to take its
// descriptor back, and a dependency outside x/sys and zerolog in the
// core, buy nothing over the hundred lines here.
func (r *Reactor) Upgrade() error {
	r.upgrade.mu.Lock()
	if r.upgrade.running {
		r.upgrade.mu.Unlock()
		return ErrUpgradeInProgress
	}
	r.upgrade.running = true
	r.upgrade.mu.Unlock()
	ok := false
	defer func() {
		if !ok {
			r.upgrade.mu.Lock()
			r.upgrade.running = false
			r.upgrade.mu.Unlock()
		}
	}()
	if r.state.Load() != stateRunning {
		return ErrNotRunning
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUpgradeFailed, err)
	}
	files, keys, lns, err := r.handOverFiles()
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUpgradeFailed, err)
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUpgradeFailed, err)
	}
	defer rd.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = append(files, wr)
	cmd.Env = upgradeEnv(os.Environ(), keys, listenFDsStart+len(files))
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return fmt.Errorf("%w: starting %s: %v", ErrUpgradeFailed, exe, err)
	}
	pid := cmd.Process.Pid
	log := r.cfg.logger.With().Int("new_pid", pid).Logger()
	log.Info().Int("sockets", len(files)).Msg("upgrade: new process started; waiting for it to be ready")

	readyCh := make(chan error, 1)
	go func() { readyCh <- waitReady(rd) }()
	timeout := time.NewTimer(r.cfg.upgradeTimeout)
	defer timeout.Stop()
	readerDone := false
	select {
	case err = <-readyCh:
		readerDone = true
	case <-timeout.C:
		err = fmt.Errorf("not ready within %v", r.cfg.upgradeTimeout)
	case <-r.stopCh:
		err = ErrReactorStopping
	case <-r.upgrade.quit:
		err = ErrReactorStopping
	}
	if err != nil {
		cmd.Process.Kill() // by PID: the child this call started
		state, _ := cmd.Process.Wait()
		rd.Close()
		if !readerDone {
			<-readyCh // the reader ends at EOF, now that the child is gone
		}
		log.Error().Err(err).Stringer("exit", state).Msg("upgrade failed; this process keeps serving")
		return fmt.Errorf("%w: new process %d: %v", ErrUpgradeFailed, pid, err)
	}
	cmd.Process.Release()
	for _, ln := range lns {
		ln.handedOver.Store(true)
	}
	r.notifier.handOver(r, pid) // before Stop: this shutdown is not the service's
	ok = true
	log.Info().Msg("upgrade: new process ready; this one stops accepting and drains")
	if err := r.Stop(); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	return nil
}

// waitReady reads the new process's readiness pipe: "ready\n", or an EOF
// when it exited (or closed the pipe) without being ready.
func waitReady(rd *os.File) error {
	line, err := bufio.NewReader(rd).ReadString('\n')
	if line == "ready\n" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("exited or closed its readiness pipe before it was ready (%v)", err)
	}
	return fmt.Errorf("wrote %q on its readiness pipe", line)
}

// handOverFiles duplicates every listener's sockets, for the new process,
// with their listeners' keys.
func (r *Reactor) handOverFiles() (files []*os.File, keys []string, lns []*Listener, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ln := range r.listeners {
		if !ln.acquire() {
			continue // closing
		}
		fds := ln.fds
		if fds == nil {
			fds = []int{ln.fd}
		}
		for _, fd := range fds {
			nfd, dupErr := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if dupErr != nil {
				err = fmt.Errorf("dup listener %s: %w", ln.addr, dupErr)
				break
			}
			files = append(files, os.NewFile(uintptr(nfd), ln.key))
			keys = append(keys, ln.key)
		}
		ln.release()
		if err != nil {
			return files, nil, nil, err
		}
		lns = append(lns, ln)
	}
	return files, keys, lns, nil
}

// upgradeEnv is env for the new process: the handed-over keys, the
// readiness descriptor and our pid, and none of the variables an earlier
// upgrade or systemd set for this process (the socket-activation ones,
// WATCHDOG_PID).
func upgradeEnv(env, keys []string, readyFD int) []string {
	out := make([]string, 0, len(env)+3)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case envUpgradePID, envUpgradeFDs, envUpgradeReady, "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
			envWatchdogPID: // systemd's watchdog pid is ours: unset, the successor pings once it is the main process
			continue
		}
		out = append(out, kv)
	}
	esc := make([]string, len(keys))
	for i, k := range keys {
		esc[i] = url.QueryEscape(k)
	}
	return append(out,
		envUpgradePID+"="+strconv.Itoa(os.Getpid()),
		envUpgradeFDs+"="+strings.Join(esc, ":"),
		envUpgradeReady+"="+strconv.Itoa(readyFD))
}

// inherited holds the sockets a previous process handed over, read from
// the environment once per process.
var inherited struct {
	once    sync.Once
	mu      sync.Mutex
	byKey   map[string][]int
	order   []string
	readyFD int // -1: not started by an upgrade, or already reported
}

// loadInherited reads and unsets the upgrade variables.
func loadInherited() {
	inherited.once.Do(func() {
		inherited.readyFD = -1
		byKey, order, ready, err := parseInherited(os.Getenv, os.Getppid())
		for _, v := range []string{envUpgradePID, envUpgradeFDs, envUpgradeReady} {
			os.Unsetenv(v)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "mustaine:", err)
			return
		}
		for _, fds := range byKey {
			for _, fd := range fds {
				unix.CloseOnExec(fd)
			}
		}
		if ready >= 0 {
			unix.CloseOnExec(ready)
		}
		inherited.byKey, inherited.order, inherited.readyFD = byKey, order, ready
	})
}

// parseInherited reads the upgrade variables through getenv, for a
// process whose parent is ppid.
func parseInherited(getenv func(string) string, ppid int) (byKey map[string][]int, order []string, readyFD int, err error) {
	readyFD = -1
	pidVar := getenv(envUpgradePID)
	if pidVar == "" {
		return nil, nil, -1, nil
	}
	if p, err := strconv.Atoi(pidVar); err != nil || p != ppid {
		return nil, nil, -1, nil // meant for another process
	}
	if v := getenv(envUpgradeReady); v != "" {
		if readyFD, err = strconv.Atoi(v); err != nil || readyFD < listenFDsStart {
			return nil, nil, -1, fmt.Errorf("bad %s=%q", envUpgradeReady, v)
		}
	}
	byKey = make(map[string][]int)
	if v := getenv(envUpgradeFDs); v != "" {
		for i, esc := range strings.Split(v, ":") {
			key, err := url.QueryUnescape(esc)
			if err != nil {
				return nil, nil, -1, fmt.Errorf("bad %s entry %q: %v", envUpgradeFDs, esc, err)
			}
			if _, ok := byKey[key]; !ok {
				order = append(order, key)
			}
			byKey[key] = append(byKey[key], listenFDsStart+i)
		}
	}
	return byKey, order, readyFD, nil
}

// takeInherited returns the sockets handed over under key, once.
func takeInherited(key string) []int {
	loadInherited()
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	fds := inherited.byKey[key]
	delete(inherited.byKey, key)
	return fds
}

// inheritedKeys lists the keys still unclaimed that begin with prefix.
func inheritedKeys(prefix string) []string {
	loadInherited()
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	var keys []string
	for _, k := range inherited.order {
		if _, ok := inherited.byKey[k]; ok && strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys
}

// reportReady tells the process that started this one by an upgrade that
// it serves now, and closes the inherited sockets nobody asked for.
func (r *Reactor) reportReady() {
	inherited.mu.Lock()
	fd := inherited.readyFD
	inherited.readyFD = -1
	left := inherited.byKey
	inherited.byKey = nil
	inherited.mu.Unlock()
	if fd < 0 {
		return
	}
	for key, fds := range left {
		r.cfg.logger.Warn().Str("listener", key).
			Msg("upgrade: the previous process served this listener and this one does not; closing it")
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if _, err := unix.Write(fd, []byte("ready\n")); err != nil {
		r.cfg.logger.Error().Err(err).Msg("upgrade: cannot report ready")
	}
	unix.Close(fd)
}

// startedByUpgrade reports whether an Upgrade started this process (and
// it has not reported ready yet).
func startedByUpgrade() bool {
	loadInherited()
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	return inherited.readyFD >= 0
}

// upgradeState is a reactor's part in upgrades.
type upgradeState struct {
	mu      sync.Mutex
	running bool
	quit    chan struct{} // closed when Run returns
}

// watchUpgrades, called by Run, reports readiness to the process that
// started this one (if an upgrade did) once the reactor runs, and starts
// upgrades on WithUpgradeOn's signals; the function it returns stops the
// watching and waits for an upgrade in progress to end.
func (r *Reactor) watchUpgrades() (stop func()) {
	if startedByUpgrade() {
		r.AddSystemEventTrigger(After, Startup, func() *deferred.Deferred[struct{}] {
			r.reportReady()
			return nil
		})
	}
	if len(r.cfg.upgradeSignals) == 0 {
		return func() {}
	}
	r.upgrade.quit = make(chan struct{})
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, r.cfg.upgradeSignals...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case sig := <-ch:
				r.cfg.logger.Info().Stringer("signal", sig).Msgf("received %v; upgrading", sig)
				r.Upgrade() // logs its failure
				for len(ch) > 0 {
					<-ch
					r.cfg.logger.Warn().Stringer("signal", sig).Msg("signal during an upgrade ignored")
				}
			case <-r.stopCh:
				return
			case <-r.upgrade.quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(r.upgrade.quit)
		<-done
	}
}
