package reactor

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Backend is the kernel interface a reactor's loops wait on.
//
// BackendEpoll (the default) is the readiness backend: epoll on Linux,
// kqueue on macOS and FreeBSD. BackendIOURing is Linux's io_uring: where it
// is unavailable (not Linux, a kernel without the features it needs,
// /proc/sys/kernel/io_uring_disabled, a seccomp profile refusing
// io_uring_setup) New falls back to the readiness backend and logs one
// warning saying why. Reactor.Backend reports the backend actually in use.
//
// On io_uring a connection is served by completions rather than readiness:
// a multishot receive into the loop's ring of provided buffers (mmap'd,
// 256 × 16 KiB per loop, so DataReceived is given at most 16 KiB at a time
// and the slice is valid only during the call, as on epoll), and every
// send of a loop turn queued as a request and submitted by the one
// io_uring_enter that also waits, until the timing wheel's next deadline,
// for the next completions. The Protocol and Transport contract, flow
// control, half-close, the lingering close and Stop's semantics are the
// same on both backends, and the reactor's tests run on both. What
// differs: a paused connection may have taken up to a few buffers of
// input from the kernel before its receive is cancelled (it is held and
// delivered on ResumeReading, so TCP's window holds the peer back a little
// later than on epoll); listeners and UDP ports stay on readiness (an
// epoll instance the ring watches), so that closing one frees its port at
// once; and each loop is locked to its OS thread (see WithLockOSThread)
// so that its ring can batch completions into the loop's own wait
// (IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN; measured in chooseBackend).
// A ring that fails (io_uring_enter returning an error other than the
// transient ones) stops its loop and the reactor: Run returns an error
// matching ErrRingFailed. A request the kernel fails closes only its
// connection.
//
// A Backend is a flag.Value, so a program takes it on its command line with
// BackendFlag or flag.Var.
type Backend int

const (
	// BackendEpoll is the readiness backend: epoll, or kqueue on the BSDs.
	BackendEpoll Backend = iota
	// BackendIOURing is io_uring, on Linux.
	BackendIOURing
)

// String is the backend's flag spelling: "epoll" or "io_uring". On the
// BSDs and macOS the readiness backend is still spelled "epoll" on flags
// (ParseBackend also takes "kqueue"), so one command line works everywhere.
func (b Backend) String() string {
	switch b {
	case BackendEpoll:
		return "epoll"
	case BackendIOURing:
		return "io_uring"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// ParseBackend reads a backend's name: "epoll" (also "kqueue" and "poll",
// the readiness backend of whatever OS this is) or "io_uring" (also
// "iouring", "uring").
func ParseBackend(s string) (Backend, error) {
	switch s {
	case "epoll", "kqueue", "poll":
		return BackendEpoll, nil
	case "io_uring", "iouring", "uring":
		return BackendIOURing, nil
	}
	return 0, fmt.Errorf("reactor: unknown backend %q (want epoll or io_uring)", s)
}

// Set parses s with ParseBackend; it makes *Backend a flag.Value.
func (b *Backend) Set(s string) error {
	v, err := ParseBackend(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// BackendFlag defines a -backend flag on fs (flag.CommandLine when fs is
// nil), default epoll, and returns the Backend it sets: pass it to
// WithBackend once the flags are parsed.
func BackendFlag(fs *flag.FlagSet) *Backend {
	if fs == nil {
		fs = flag.CommandLine
	}
	b := new(Backend)
	fs.Var(b, "backend", "event backend: epoll or io_uring (falls back to epoll, with a warning, where io_uring is unavailable)")
	return b
}

// WithBackend chooses the loops' backend. The default is BackendEpoll,
// unless the environment variable MUSTAINE_BACKEND names another backend
// (as ParseBackend spells it; other values are ignored): that is how CI
// runs every test of the module once more on io_uring. An io_uring
// backend the system cannot provide falls back to the readiness backend
// with one warning in the log.
func WithBackend(b Backend) Option { return func(c *config) { c.backend = b } }

// ErrRingFailed is wrapped in the error of a loop whose io_uring ring
// failed (io_uring_enter returned an error other than the transient ones):
// the loop stops, its connections are closed with that error, and Run
// returns it.
var ErrRingFailed = errors.New("mustaine: io_uring ring failed")

// Backend reports the backend the reactor's loops use: the one asked for
// with WithBackend, or BackendEpoll after a fallback.
func (r *Reactor) Backend() Backend { return r.cfg.backend }

// backendEnv is the environment variable that changes the default
// backend (see WithBackend).
const backendEnv = "MUSTAINE_BACKEND"

// defaultBackend is the backend a config starts with.
func defaultBackend() Backend {
	b, err := ParseBackend(os.Getenv(backendEnv))
	if err != nil {
		return BackendEpoll
	}
	return b
}

// chooseBackend settles cfg.backend before the loops are made: an io_uring
// that the system cannot provide falls back, with one log line.
func chooseBackend(cfg *config) {
	if cfg.backend != BackendIOURing {
		cfg.backend = BackendEpoll
		return
	}
	if err := uringProbe(); err != nil {
		cfg.logger.Warn().Err(err).Str("os", runtime.GOOS).
			Msg("io_uring backend unavailable; using " + readinessName + " instead")
		cfg.backend = BackendEpoll
		return
	}
	// An io_uring loop is locked to its OS thread, so that its ring can
	// take SINGLE_ISSUER and DEFER_TASKRUN: completions' task work then
	// runs inside the loop's own wait, in batches, instead of
	// interrupting whichever thread submitted. Measured (docs/io_uring.md,
	// CPU per op against gnet's, locked+DEFER_TASKRUN vs unlocked): echo
	// 64 conns 0.82× vs 1.31×, HTTP plaintext 1.10× vs 1.25×, pipelined
	// 0.89× vs 0.96×, one-connection echo 0.97× vs 1.04×. The cost a
	// locked loop used to pay when it slept (a Gosched that hands the
	// thread over, six futex calls) is gone: see uringPoller.start.
	cfg.lockOSThread = cfg.lockOSThread || !uringKnobs.unlocked
}

// uringKnobs turns the backend's choices off (or on) one by one, so that
// the bench and the tests can measure what each buys: read once from the
// environment variable MUSTAINE_URING_KNOBS, a comma-separated list of the
// field names below. It is not an API: the defaults are the measured
// choices (docs/io_uring.md).
var uringKnobs = parseUringKnobs(os.Getenv("MUSTAINE_URING_KNOBS"))

type uringKnobSet struct {
	yield    bool // Gosched before each blocking wait, as on epoll
	unlocked bool // loops not locked to their threads (no SINGLE_ISSUER, DEFER_TASKRUN)
	nodefer  bool // locked, but without DEFER_TASKRUN
	// noperiodic: a locked loop never yields (see uringPoller.wait)
	noperiodic bool
	// merge: inline send completions are merged into the next wait with
	// a min-wait timeout (see ring.enter)
	merge bool
	// stats: each loop prints its io_uring counts when it closes
	stats bool
}

func parseUringKnobs(s string) uringKnobSet {
	var k uringKnobSet
	names := map[string]*bool{"yield": &k.yield, "unlocked": &k.unlocked, "nodefer": &k.nodefer,
		"noperiodic": &k.noperiodic, "merge": &k.merge, "stats": &k.stats}
	for _, f := range strings.Split(s, ",") {
		if p, ok := names[strings.TrimSpace(f)]; ok {
			*p = true
		}
	}
	return k
}
