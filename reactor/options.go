package reactor

import (
	"net"
	"os"
	"runtime"
	"time"

	"github.com/rs/zerolog"
)

// Option configures a Reactor.
type Option func(*config)

type config struct {
	loops           int
	logger          zerolog.Logger
	tick            time.Duration
	readBufferSize  int
	highWater       int
	lowWater        int
	shutdownTimeout time.Duration
	maxEvents       int
	lockOSThread    bool
	reusePort       bool
	workers         int
	workQueue       int
	signals         bool
	resolver        Resolver
	tlsTimeout      time.Duration // 0: defaultTLSHandshakeTimeout; <0: none
	tlsHandshakes   int           // 0: defaultTLSHandshakes
	backend         Backend       // settled by chooseBackend in New
	upgradeSignals  []os.Signal   // WithUpgradeOn (upgrade.go)
	upgradeTimeout  time.Duration
	noSystemdNotify bool // WithSystemdNotify(false) (sdnotify.go)
}

func defaultConfig() config {
	return config{
		loops:           runtime.GOMAXPROCS(0),
		logger:          zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger(),
		tick:            time.Millisecond,
		readBufferSize:  64 << 10,
		highWater:       64 << 10,
		lowWater:        16 << 10,
		shutdownTimeout: 10 * time.Second,
		maxEvents:       1024,
		reusePort:       runtime.GOOS == "linux",
		workers:         defaultWorkers,
		workQueue:       defaultWorkQueue,
		signals:         true,
		resolver:        net.DefaultResolver,
		backend:         defaultBackend(),
		upgradeTimeout:  defaultUpgradeTimeout,
	}
}

// WithLoops sets the number of event loops (default runtime.GOMAXPROCS(0)).
// WithLoops(1) is classic single-threaded Twisted.
func WithLoops(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.loops = n
		}
	}
}

// WithLogger sets the logger. The default writes warnings and errors to
// stderr; connection events are logged at debug level with loop, conn and
// peer fields.
func WithLogger(l zerolog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTick sets the resolution of each loop's timing wheel (default 1ms).
func WithTick(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.tick = d
		}
	}
}

// WithReadBufferSize sets the size of each loop's shared read buffer
// (default 64 KiB): the most one DataReceived call is given.
func WithReadBufferSize(n int) Option {
	return func(c *config) {
		if n >= 512 {
			c.readBufferSize = n
		}
	}
}

// WithWaterMarks sets the output-buffer marks at which a registered
// streaming producer is paused (above high) and resumed (at or below low),
// and at which a connection without a producer stops reading from its peer
// (above high) and reads again (at or below low). Defaults: 64 KiB and
// 16 KiB.
func WithWaterMarks(low, high int) Option {
	return func(c *config) {
		if low >= 0 && high > low {
			c.lowWater, c.highWater = low, high
		}
	}
}

// WithShutdownTimeout bounds a graceful Stop: connections that have not
// flushed and closed by then are aborted (default 10s).
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.shutdownTimeout = d
		}
	}
}

// WithWorkers sets the most worker goroutines DeferToThread and
// CallInThread jobs run on at once (default 10, Twisted's thread pool
// size). Workers start when jobs need them and exit after a few idle
// seconds. Values below 1 are ignored.
func WithWorkers(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.workers = n
		}
	}
}

// WithWorkQueue sets how many jobs may wait for a busy pool (default 1024);
// past that DeferToThread fails at once with ErrPoolFull, so a loop never
// blocks on the pool. Values below 1 are ignored.
func WithWorkQueue(size int) Option {
	return func(c *config) {
		if size > 0 {
			c.workQueue = size
		}
	}
}

// WithSignalHandling turns Run's handling of SIGINT and SIGTERM on (the
// default) or off. On, the first signal stops the reactor gracefully and a
// second one at once; turn it off when embedding a reactor in a program
// that handles signals itself.
func WithSignalHandling(on bool) Option { return func(c *config) { c.signals = on } }

// WithLockOSThread locks each loop's goroutine to its own OS thread, for
// code that needs thread identity (per-thread CPU affinity, thread-local
// C state). It is off by default: measured on a one-connection echo, a
// locked loop cost about 40% more CPU per message, because every time the
// loop sleeps in epoll_wait its thread must hand its P over and get it back.
// Read and write never need the scheduler either way: the loop uses raw
// system calls on non-blocking sockets.
func WithLockOSThread(on bool) Option { return func(c *config) { c.lockOSThread = on } }

// WithReusePort chooses how a TCP listener spreads connections over the
// loops. On (the default on Linux), each loop has its own listening socket
// on the same port (SO_REUSEPORT) and the kernel spreads new connections by
// a hash of their addresses. Off, the loops share one socket and the kernel
// wakes one waiting loop per readiness (EPOLLEXCLUSIVE on Linux): measured,
// a burst of connections then tends to land on whichever loop woke first,
// leaving the others idle (see the reactor doc). The BSDs and macOS do not
// balance SO_REUSEPORT sockets, so there the default is off. Unix sockets
// always share one socket.
func WithReusePort(on bool) Option { return func(c *config) { c.reusePort = on } }

// WithTLSHandshakeTimeout bounds a TLS handshake, from the moment the
// connection is established (or StartTLS is called) to the handshake's
// end, waiting for a free handshake slot included (default 10s, see the
// package doc's TLS section). A connection that has not finished by then is
// closed; a client connect fails with ErrTLSHandshakeTimeout. d <= 0
// removes the bound.
func WithTLSHandshakeTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			d = -1
		}
		c.tlsTimeout = d
	}
}

// WithTLSHandshakes bounds the TLS handshakes that run at once in the
// reactor, over all loops, server and client sides together (default
// 1024). A connection past the bound waits, its handshake timeout running,
// until one finishes. Values below 1 are ignored.
func WithTLSHandshakes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.tlsHandshakes = n
		}
	}
}
