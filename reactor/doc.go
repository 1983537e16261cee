// Package reactor runs Mustaine's event loops: it owns the sockets, the
// pollers (epoll on Linux, kqueue on macOS and FreeBSD) and each loop's
// timing wheel, and it drives the protocol package's Protocols, Factories and
// Transports.
//
// # Loops and the threading rule
//
// A Reactor has WithLoops(n) loops (default GOMAXPROCS; WithLoops(1) is
// classic single-threaded Twisted). Each loop is one goroutine (not locked
// to an OS thread unless WithLockOSThread asks: measured, locking cost CPU
// on every sleep). Every connection belongs to exactly one loop, and everything
// that touches it — its Protocol's callbacks, timers made through its
// Transport's Loop, Deferreds fired for it — runs on that loop, one call at
// a time, so protocol code needs no locks. Other goroutines reach a loop
// only with CallFromThread.
//
// On Linux each loop has its own listening socket on the port
// (SO_REUSEPORT), so the kernel spreads connections over the loops by
// address hash; an accepted connection stays on the loop that accepted it.
// The alternative, one socket shared by every loop and woken with
// EPOLLEXCLUSIVE (WithReusePort(false), and always for Unix sockets), was
// measured with wrk -c 64 on two loops: connections that arrive in a burst
// all went to the loop that woke first, and throughput varied from 41k to
// 73k requests/s between runs, against 72k to 77k with one socket per loop.
//
// # The hot path
//
// A readable socket is read into the loop's shared buffer and handed to
// DataReceived; everything the handler writes is appended to the
// connection's output and written with one write(2) when the handler
// returns. Only what the kernel refuses stays queued, and only then does the
// loop wait for writability. Writes made from timers and queued calls are
// flushed at the end of the loop's turn. An idle connection holds no
// buffer.
//
// # Flow control and memory
//
// A connection's output memory follows its unsent bytes, never the bytes
// streamed so far: the one contiguous output buffer slides its unsent tail
// to the front instead of growing, a large buffer mostly sent is replaced
// by a small one, and emptied buffers go back to a per-loop pool capped at
// 1 MiB. Measured: 256 MiB streamed by a producer through a slow reader
// keep the live heap within about 200 KiB of where it started (it grew by
// 23 MiB before this rule). The water marks (WithWaterMarks) bound the
// unsent bytes: a registered streaming producer is paused above the high
// mark; a connection without one stops being read above the high mark and
// is read again below the low mark, so a peer that sends without reading
// (an echo client, pipelined requests) holds at most about the high mark
// plus one read's worth of answers in the server. The examples/echo test
// measures it: 50 MiB sent by a client that does not read grow the
// server's RSS by under 300 KiB (it grew by 137 MiB before).
//
// LoseConnection stops delivering input. Closing a TCP socket whose receive
// queue is not empty makes the kernel send RST and drop the unsent tail of
// the output, so when the peer is still sending, the transport shuts its
// write side instead, drops input until the peer's EOF or two seconds, and
// only then closes: the peer reads all output, then EOF.
//
// # Clients
//
// Every loop is a protocol.Connector: a protocol connects out with
// t.Loop().ConnectTCP, and the new connection lives on the loop of the
// connection that asked, so a proxy's two legs share a loop and need no
// locks. ConnectTCP and ListenTCP take host names: a connect looks its name
// up with the reactor's Resolver (WithResolver, default
// net.DefaultResolver) on the worker pool, never on a loop, and races the
// addresses as RFC 8305 (Happy Eyeballs v2) does: address families
// alternating, the next attempt started as soon as one fails or after an
// attempt delay (250 ms) without an answer, the first to connect winning;
// a failed lookup fails with ErrLookupFailed joined with the resolver's
// *net.DNSError. A listener resolves its name
// in the calling goroutine and refuses to on a loop (ErrLookupOnLoop).
//
// A Transport is a streaming producer (PauseProducing is PauseReading,
// ResumeProducing ResumeReading, StopProducing LoseConnection, as in
// Twisted), so registering each leg of a proxy as the other's producer
// gives backpressure both ways: examples/proxy carries 64 MiB to a slow
// reader with its RSS growing by about 550 KiB. A protocol's pause and the
// reactor's own hold on a connection whose output is above the high-water
// mark are separate states: either keeps the connection unread.
//
// Endpoint strings (ParseServerEndpoint, ParseClientEndpoint,
// ListenEndpoint) follow Twisted's serverFromString and clientFromString;
// SocketOptions, per listener (ListenTCPWith) and per connect
// (ConnectTCPWith), set keepalive, buffer sizes, Nagle, IPV6_V6ONLY and
// the backlog. protocol.ReconnectingClientFactory reconnects with
// Twisted's backoff.
//
// # Lifecycle
//
// New creates the loops, Run runs them until Stop, and Stop closes the
// listeners, runs the Before Shutdown triggers (AddSystemEventTrigger; a
// trigger may return a Deferred that delays the shutdown), lets every
// connection flush and close, lets running pool jobs finish, aborts what is
// left after WithShutdownTimeout, and runs the During and After triggers.
// Run calls Stop on SIGINT or SIGTERM (a second signal stops at once);
// WithSignalHandling(false) turns that off for embedding. A reactor runs
// once: create a new one to run again.
//
// # Blocking work
//
// Nothing on a loop may block. DeferToThread runs a function on the
// reactor's bounded worker pool (WithWorkers, WithWorkQueue) and fires the
// returned Deferred back on the loop that asked; a full queue fails it at
// once with ErrPoolFull, so a loop never waits for the pool.
//
// # Time
//
// Each loop sleeps in its poll until its wheel's next due tick and reads the
// clock once per turn, just before it fires timers (and after a sleep):
// Loop.Now is that reading, free to call per request, lagging the real time
// by the current turn's work. A deadline is never counted from that lagging
// time: CallLater and Handle.Reset with a positive delay are held by the
// wheel (timer.WithLaggingNow) and counted from the loop's next reading,
// which comes after the callback that set them. So a 1 s timeout reset by
// data that arrives after the loop slept 700 ms fires no earlier than 1 s
// after that data (not 300 ms after it), and resetting a timeout per
// request costs no clock reading. CallLater(0) and CallSoon are not held:
// they run on the current turn, in FIFO order. Before Run, CallLater counts
// from the call, as in Twisted.
//
// # Loops and threads
//
// Loops are not locked to OS threads (WithLockOSThread opts in). Measured on
// a one-connection echo, a locked loop cost 40% more CPU per message: every
// sleep in epoll_wait made its thread hand the scheduler's P to another
// thread and take it back. For the same reason a loop yields to the
// scheduler once before each blocking poll: it keeps sysmon from treating
// the loop as a runaway goroutine and retaking its P during short sleeps.
//
// # Errors
//
// A panic in any user callback is recovered on its loop and logged with the
// loop, conn and peer fields; its connection is aborted with a
// *protocol.PanicError and everything else goes on. Accept failing with
// EMFILE or ENFILE takes the listener out of the loop's poller for a
// doubling delay (5ms up to 1s) instead of spinning, and accepting resumes
// once descriptors are free.
package reactor
