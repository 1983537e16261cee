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
// A port is still the listener's own: ListenTCP first binds a probe socket
// without SO_REUSEPORT (which fails with EADDRINUSE if anything holds the
// port) and, once its group listens, checks through sock_diag that no other
// socket joined it; see ListenTCP.
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
// the output, so while the kernel still holds output the peer has not
// acknowledged (SIOCOUTQ), or the peer is known to be sending, the transport
// shuts its write side instead, drops input until the peer's EOF or two
// seconds, and only then closes (nginx's lingering close): the peer reads
// all output, then EOF. It costs one ioctl per close, and ConnectionLost
// comes one round trip later, when the peer's FIN arrives.
//
// # UDP
//
// ListenUDP serves a UDP port with one protocol.DatagramProtocol on one
// loop (as Twisted's listenUDP; ListenUDPOn picks the loop). On Linux a
// readable port is read with recvmmsg(2), up to 32 datagrams per call, into
// a receive area the loop makes once (32 slots of 64 KiB, so no datagram is
// ever truncated; only the pages datagrams touch become resident), and
// everything the protocol wrote while handling the batch goes out with one
// sendmmsg(2). Peer addresses are handed out from a per-port table of
// *net.UDPAddr, so a steady exchange with known peers allocates nothing per
// datagram (TestUDPSteadyStateEchoAllocatesNothingPerDatagram). The BSDs
// use recvfrom(2) and sendto(2), a call per datagram.
//
// A write never blocks and memory stays bounded: only datagrams the kernel
// refused with EAGAIN are kept, up to WithUDPQueueLimit (256 KiB, 1,024
// datagrams by default), and a write beyond that returns an error matching
// protocol.ErrDatagramDropped and is counted in UDPPort.Stats. A datagram
// too long for UDP returns protocol.ErrMessageTooLong at once; one the
// kernel refuses for another reason when it is sent is dropped alone and
// counted. On loopback the kernel never answers EAGAIN (the loopback
// device frees the send buffer at once; a receiver that cannot keep up
// drops datagrams instead), so the bound is tested through a Unix datagram
// socket pair, where the sender's buffer holds each datagram until it is
// read.
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
// trigger may return a Deferred that delays the shutdown), asks every
// connection to finish (a protocol.Drainer's Drain, such as the HTTP
// server's, which completes the requests in flight; LoseConnection for the
// others) while the worker pool keeps running their jobs, aborts what is
// left after WithShutdownTimeout with a logged reason, closes the pool and
// runs the During and After triggers.
// Run calls Stop on SIGINT or SIGTERM (a second signal stops at once);
// WithSignalHandling(false) turns that off for embedding. A reactor runs
// once: create a new one to run again.
//
// # Listeners that outlive a process
//
// ListenFD and ListenFile serve a listening socket made elsewhere (a
// supervisor's), ListenActivated the ones systemd passes by socket
// activation. Upgrade, or WithUpgradeOn(syscall.SIGHUP), replaces the
// process by a new copy of its program on the same sockets (every loop's
// SO_REUSEPORT socket included, since closing one would reset the
// connections queued on it), then drains as Stop does: no connection is
// refused or lost. In the new process ListenTCP and ListenUnix on the same
// address serve the inherited sockets, so the program needs no other code.
// Under systemd (NOTIFY_SOCKET set, a Type=notify service) Run reports
// READY=1 and STOPPING=1, and an Upgrade names its successor the main
// process (MAINPID=): see WithSystemdNotify.
//
// # Blocking work
//
// Nothing on a loop may block. DeferToThread runs a function on the
// reactor's bounded worker pool (WithWorkers, WithWorkQueue) and fires the
// returned Deferred back on the loop that asked; a full queue fails it at
// once with ErrPoolFull, so a loop never waits for the pool.
//
// # Stats
//
// Reactor.Stats reports per loop the connections open, accepted,
// connected and closed by reason, the bytes and read/write calls on the
// sockets, accept back-offs, pending timers, the cross-thread queue, TLS
// handshakes, and the worker pool (reactor/promstats exports them to
// Prometheus). Each loop counts in plain fields of its own, written only
// on its goroutine: a read or a write costs two adds, no atomic operation,
// nothing per connection. The reader pays instead: Stats queues a copy on
// every loop with CallFromThread and waits for their answers (a loop that
// does not answer within a second is reported as of its last snapshot).
// The other design, each loop publishing a snapshot every few
// milliseconds, would wake idle loops and copy the counters whether
// anyone looks or not. Measured with go run ./bench -loads
// echo64,plaintext -targets mustaine,gnet -configs pinned -rounds 3
// against the tree before the counters, in the quietest pair of runs:
// server CPU per message 5.46 µs against 5.47 µs (echo64), per request
// 6.08 µs against 6.12 µs (plaintext), within the noise; the process's
// CPU time for 30000 round trips of BenchmarkEchoRoundTrip64B (client and
// server) 0.535 s against 0.545 s, medians of ten interleaved runs. A
// Stats call costs about 12 µs with one loop and 30 µs with two
// (BenchmarkStats).
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
// scheduler before a blocking poll, at most every 5 ms: it keeps sysmon
// from treating the loop as a runaway goroutine and retaking its P during
// short sleeps. (The io_uring backend locks its loops, because the ring's
// SINGLE_ISSUER and DEFER_TASKRUN need one thread; a locked loop cannot
// yield without handing its thread over, so it yields as rarely.)
//
// # Errors
//
// A panic in any user callback is recovered on its loop and logged with the
// loop, conn and peer fields; its connection is aborted with a
// *protocol.PanicError and everything else goes on. Accept failing with
// EMFILE or ENFILE takes the listener out of the loop's poller for a
// doubling delay (5ms up to 1s) instead of spinning, and accepting resumes
// once descriptors are free.
//
// # TLS
//
// ListenTLS, ListenUnixTLS, ConnectTLS, ConnectTLSOn and ConnectUnixTLS
// run TLS with Go's crypto/tls, unforked, and the Protocol sees plaintext
// through the same Transport. They are functions rather than options on
// ListenTCP and ConnectTCP because their contract differs: a server's
// Protocol is built only once the handshake has succeeded (so
// ConnectionState is ready in ConnectionMade), and a client's Deferred
// fires after the handshake, failing with ErrTLSHandshake and the x509
// error when the certificate does not verify. They wrap the Factory, so
// TCP and Unix sockets, listeners and connectors share all their code.
// StartTLS (protocol.TLSStarter) upgrades an established connection in
// either role: bytes written before it go out in clear, after it
// encrypted (held until the handshake is done). ConnectionState
// (protocol.TLSTransport) gives the version, cipher, ALPN protocol, SNI
// name and peer certificates.
//
// The design is Twisted's TLSMemoryBIOProtocol: a TLS layer is the
// socket's Protocol, the connection's Transport methods divert to it, and
// crypto/tls runs over an in-memory net.Conn (the bio). The handshake runs
// on a goroutine of its own, because crypto/tls's handshake is a blocking
// call that cannot be resumed: during it the bio's Read waits for the loop
// to push the ciphertext it reads, and what crypto/tls writes is copied
// and handed to the loop with CallFromThread. It is not the worker pool's
// job: a handshake spends most of its life waiting for round trips and
// would pin pool workers. The goroutines are bounded per reactor
// (WithTLSHandshakes, default 1024; past that, handshakes wait in FIFO
// order), and a server starts one only when the whole first record (the
// ClientHello) has arrived, so a client that connects and says nothing
// holds no goroutine and no slot. The handshake's CPU (key exchange,
// signatures) and the tls.Config callbacks (GetCertificate,
// VerifyPeerCertificate: they may read files) therefore never run on a
// loop. The handshake timeout (WithTLSHandshakeTimeout, default 10s) is a
// loop timer, counted from the connection (or StartTLS), slot wait
// included: crypto/tls has none and nginx waits 60s, but a handshake is two
// round trips, and every second allowed is a second a slot can be held by
// a client that stalls on purpose.
//
// Once the handshake is done its goroutine exits and everything happens
// on the loop: there is no goroutine per established connection. The bio
// turns non-blocking: it returns a net.Error whose Temporary() is true
// when it has no ciphertext left, which crypto/tls treats as "try again"
// without failing the connection, keeping a partial record in its own
// buffer (readRecordOrCCS and readFromUntil in crypto/tls/conn.go). So
// DataReceived lends the ciphertext to crypto/tls (the bio copies nothing;
// crypto/tls copies it into its record buffer) and reads plaintext until
// that error. Post-handshake messages are handled inside that read (a TLS
// 1.3 KeyUpdate is answered, a NewSessionTicket stored). Renegotiation is
// refused: crypto/tls servers answer it with an alert, and clients use
// crypto/tls's default, tls.RenegotiateNever. Write encrypts and the bio
// appends the records to the connection's output buffer at once: it never
// blocks and calls no user code under crypto/tls's locks.
//
// Buffers: plaintext is decrypted into a buffer shared by the loop's TLS
// connections (the loop's read buffer may still hold the ciphertext) and
// delivered in batches of up to WithReadBufferSize, valid during
// DataReceived as always. Output is ciphertext in the connection's output
// buffer: the water marks and BufferedAmount count ciphertext. An idle TLS
// connection holds crypto/tls's own state: its Conn (about 900 bytes), the
// two AES-GCM states (about 1.75 KB) and its handshake and record buffers,
// whose capacity crypto/tls keeps for the connection's life (bytes.Buffer
// never shrinks, and nothing exported resets them): the handshake buffer
// must hold the whole ClientHello (about 1.5 KB with an ML-KEM key share,
// 264 bytes without); the record buffer as large as the largest record, up
// to 16 KiB each way after bulk transfers, as under net/http. What a
// server can choose is how it feeds the ClientHello: a first record over
// 571 bytes is handed to crypto/tls re-framed into records of at most 571
// bytes (RFC 8446 lets a handshake message be fragmented across records;
// the transcript covers messages, not records), so the record buffer
// keeps 576 bytes instead of 2.7 KB, and the fragments' sizes are planned
// so that the handshake buffer, which doubles as records are appended to
// it, ends at the smallest size class that holds the ClientHello (1536
// bytes for Go's default client, where 512-byte fragments left 2048). The
// layer itself is 240 bytes with the bio
// inside it; the bio's handshake state (its condition variable, the
// ClientHello re-framing) is dropped when the handshake ends, and it holds
// no buffer once a read has drained it. Measured with go run ./bench
// -loads idle-https,idle-http -targets mustaine,nethttp (10,000
// connections held after the handshake, Go clients, server pinned to one
// core): about 13 KB of server RSS per connection against about 42 KB for
// net/http's server (0.31x), 9.2 KB against 35 KB (0.27x) when the clients
// send an X25519 key share only, and 0.8 KB against 7.9 KB for plain TCP;
// bench/RESULTS.md has the tables. RSS is 1.6 to 1.8 times the live heap:
// a handshake leaves about 60 KB of garbage (95% of it crypto/tls's), so
// the heap keeps reaching the collector's goal of twice what survived,
// and the runtime keeps what it reached. The live heap of an idle
// connection after one request, every allocation profiled
// (MUSTAINE_MEASURE=1 MUSTAINE_HEAP_PROFILE=FILE go test ./reactor/ -run
// TestTLSIdleConnectionMemory), is 6.8 KB: crypto/tls 5.1 KB (handshake
// buffer 1536 bytes, record buffer 576, two AES-GCM states 1.8 KB, the
// Conn 0.9 KB, traffic and exporter secrets 0.2 KB), the HTTP connection
// 1.1 KB (0.6 KB before its first request), the reactor 0.5 KB (the layer
// 240 bytes, the conn 144, the peer address 64, a timer entry 64).
// The off-loop handshake costs no more than net/http's: measured with
// -run TestTLSHandshakeAndRequestCost (server alone at GOMAXPROCS=1, TLS
// 1.3, ECDSA P-256, a new connection per request), the server spent about
// 230 µs of CPU per handshake against net/http's 280 µs, and 6 µs against
// 12 µs per request on keep-alive connections; go run ./bench -loads
// https,https-handshake (server pinned to one core, wrk or the Go
// handshake load generator on the other) gives 240 µs against 258 µs
// (0.93x) per full handshake and 6.5 µs against 10.9 µs (0.59x) per
// keep-alive request.
//
// Closing: LoseConnection sends close_notify after the queued output, then
// closes; CloseWrite sends close_notify and shuts the socket's write side,
// and reading goes on. The peer's close_notify is its half-close
// (ReadConnectionLost for a HalfCloseable Protocol; any other is closed
// with protocol.ErrPeerClosed). A peer that closes without close_notify
// may have had its data truncated: ConnectionLost gets ErrNoCloseNotify
// joined with protocol.ErrPeerClosed, and a HalfCloseable Protocol is not
// told it was a clean half-close.
//
// Bad input: a first record that is not TLS gets net/http's answer when
// it looks like an HTTP request ("HTTP/1.0 400 Bad Request ... Client
// sent an HTTP request to an HTTPS server."), otherwise a decode_error
// alert, as does a ClientHello cut short by the peer's FIN; crypto/tls
// sends the alert for every other failure. Handshake failures and TLS
// errors are logged at info level with the loop, conn and peer fields
// (info, not warning: on a public port they are routine noise).
package reactor
