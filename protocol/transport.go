package protocol

import (
	"net"

	"github.com/mustaine/mustaine/timer"
)

// Transport is a connection as its Protocol sees it. Every method must be
// called from the connection's loop goroutine; from another goroutine use
// Loop().CallFromThread.
//
// A Transport is also a streaming Producer (Twisted's ITransport is an
// IPushProducer): PauseProducing is PauseReading, ResumeProducing is
// ResumeReading and StopProducing is LoseConnection, as in Twisted's
// tcp.Connection. Registering one connection's transport as the streaming
// producer of another therefore throttles the first by the second's output
// buffer, which gives a proxy backpressure in both directions with two
// calls:
//
//	front.RegisterProducer(back, true)
//	back.RegisterProducer(front, true)
type Transport interface {
	Producer
	// Write queues p for sending and returns len(p), nil. It never blocks
	// and copies p, so p may be reused at once. Everything written during
	// one callback goes out in one write(2) or writev(2) after the callback
	// returns; only what the kernel refuses stays queued. After the
	// connection is closing or closed, Write discards p and returns
	// 0, ErrClosed.
	Write(p []byte) (int, error)
	// Writev is Write for several buffers at once.
	Writev(bufs ...[]byte) (int, error)
	// LoseConnection flushes what is queued, then closes. ConnectionLost is
	// called with ErrConnectionDone. From the call on, DataReceived is not
	// called again (what the peer still sends is dropped) and
	// ResumeReading does not turn reading back on. While a pull
	// (non-streaming) producer is registered the connection stays open
	// until UnregisterProducer, as in Twisted. A peer that is still sending
	// when the output is out gets a FIN after the output, not a reset: the
	// transport shuts its write side and drops the peer's input until EOF
	// or a short linger timeout before it closes.
	LoseConnection()
	// AbortConnection drops what is queued and closes at once with a reset
	// (RST). ConnectionLost is called with ErrAborted on a later turn of the
	// loop, never inside AbortConnection.
	AbortConnection()
	// CloseWrite flushes what is queued, then shuts down the write side
	// (half-close); reading goes on.
	CloseWrite() error
	// PauseReading stops reading from the peer (read interest is removed,
	// so the kernel's buffers fill and the peer is held back).
	PauseReading()
	// ResumeReading undoes PauseReading.
	ResumeReading()
	// RegisterProducer registers a producer of data for this transport.
	// A streaming (push) producer is paused when the output buffer rises
	// above the high-water mark and resumed when it drains below the low
	// mark; a non-streaming (pull) producer is asked for more with
	// ResumeProducing each time the buffer drains. A second registration
	// returns ErrProducerRegistered; registering on a closed transport
	// calls p.StopProducing and returns ErrClosed.
	//
	// The water marks also hold when no producer is registered: while the
	// unsent output is above the high-water mark the transport stops
	// reading from the peer (whatever PauseReading/ResumeReading say), and
	// it reads again below the low mark. So a peer that sends and does not
	// read can never make the output grow without bound (Netty's
	// writability, nginx's bounded buffers); with a producer registered
	// the producer is throttled instead and reading is the protocol's.
	RegisterProducer(p Producer, streaming bool) error
	// UnregisterProducer removes the producer.
	UnregisterProducer()
	// BufferedAmount is the number of bytes queued and not yet accepted by
	// the kernel.
	BufferedAmount() int
	// LocalAddr is the local end's address.
	LocalAddr() net.Addr
	// RemoteAddr is the peer's address.
	RemoteAddr() net.Addr
	// Loop is the event loop that owns this connection: its clock, its
	// timers and its queues.
	Loop() Loop
}

// Producer produces data for a Transport (Twisted's IPushProducer and
// IPullProducer).
type Producer interface {
	// PauseProducing asks a streaming producer to stop writing for now.
	PauseProducing()
	// ResumeProducing asks a streaming producer to go on, or a pull producer
	// for its next chunk.
	ResumeProducing()
	// StopProducing is called when the connection is lost while the
	// producer is registered; it must not write again.
	StopProducing()
}

// Loop is the event loop a connection belongs to, as protocol code sees it.
// Now, CallLater and CallSoon must be called on the loop itself.
//
// A Loop is also a Connector, so a protocol connects out through its own
// Transport's Loop (t.Loop().ConnectTCP) and the new connection lives on
// the same loop.
type Loop interface {
	timer.Scheduler
	Connector
	// CallSoon runs fn on this loop after the current batch of I/O events,
	// in FIFO order with other CallSoon and CallLater(0) calls.
	CallSoon(fn func())
	// CallFromThread runs fn on this loop; it is safe from any goroutine
	// and keeps FIFO order per calling goroutine.
	CallFromThread(fn func())
	// Index is the loop's number, from 0.
	Index() int
}
