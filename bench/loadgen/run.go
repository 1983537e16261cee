package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// MaxPipeline is the largest Config.Pipeline: message variants are told
// apart by their first byte, so at most 256 of them exist.
const MaxPipeline = 255

// MaxInFlight bounds Pipeline×Size. The generator writes a whole batch
// before reading, so more bytes in flight than the socket buffers of both
// ends hold could block both sides on write forever.
const MaxInFlight = 1 << 20

// Config describes one load run.
type Config struct {
	Addr        string        // host:port of the echo server
	Conns       int           // connections held open, ≥ 1
	Size        int           // bytes per message, ≥ 1
	Pipeline    int           // messages in flight per connection, 1..MaxPipeline
	Duration    time.Duration // measured window, > 0
	DialTimeout time.Duration // per connection; 0 means 5s
	// DrainTimeout bounds the wait, after the window, for the echoes of
	// the messages still in flight; a server that needs longer has
	// stalled. 0 means 5s.
	DrainTimeout time.Duration
}

// Result is what a run measured. Only echoes completed inside the measured
// window are counted; those of messages still in flight at its end are
// verified but not counted.
type Result struct {
	Messages uint64        // messages echoed and verified in the window
	Bytes    uint64        // their bytes
	Elapsed  time.Duration // length of the measured window
	P50      time.Duration // median round-trip latency
	P99      time.Duration
	P999     time.Duration
}

// MsgsPerSec returns the message rate over the measured window.
func (r Result) MsgsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Messages) / r.Elapsed.Seconds()
}

// MBPerSec returns the echoed megabytes (10^6 bytes) per second.
func (r Result) MBPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds()
}

func (c *Config) validate() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("%w: empty address", ErrConfig)
	case c.Conns < 1:
		return fmt.Errorf("%w: conns %d < 1", ErrConfig, c.Conns)
	case c.Size < 1 || c.Size > MaxInFlight:
		return fmt.Errorf("%w: size %d outside 1..%d", ErrConfig, c.Size, MaxInFlight)
	case c.Pipeline < 1 || c.Pipeline > MaxPipeline:
		return fmt.Errorf("%w: pipeline %d outside 1..%d", ErrConfig, c.Pipeline, MaxPipeline)
	case c.Pipeline*c.Size > MaxInFlight:
		return fmt.Errorf("%w: pipeline×size %d > %d bytes in flight", ErrConfig, c.Pipeline*c.Size, MaxInFlight)
	case c.Duration <= 0:
		return fmt.Errorf("%w: duration %v ≤ 0", ErrConfig, c.Duration)
	case c.DialTimeout < 0 || c.DrainTimeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	return nil
}

// Run dials cfg.Conns connections, then keeps cfg.Pipeline messages of
// cfg.Size bytes in flight on each for cfg.Duration, verifying every echoed
// byte. It returns the first error of any connection: ErrMismatch for a
// wrong echo, ErrClosed or ErrStalled for a server that stopped, a dial
// error, or ctx's error if ctx ends first.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	conns, err := dialAll(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Closing the sockets is what unblocks a worker's Read when the run is
	// cancelled or another connection failed.
	stopClosing := context.AfterFunc(runCtx, func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	defer stopClosing()

	// Only the first failure is reported: the others are the "use of
	// closed connection" errors that closing the sockets caused.
	var (
		failOnce sync.Once
		failure  error
	)
	start := time.Now()
	end := start.Add(cfg.Duration)
	workers := make([]worker, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		workers[i] = worker{
			conn: c, id: i, size: cfg.Size, pipeline: cfg.Pipeline,
			end: end, drain: cfg.DrainTimeout,
			msgs: newMessageSet(i, cfg.Pipeline+1, cfg.Size),
		}
		wg.Go(func() {
			if err := workers[i].run(); err != nil {
				failOnce.Do(func() { failure = err })
				cancel()
			}
		})
	}
	wg.Wait()
	for _, c := range conns {
		_ = c.Close()
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if failure != nil {
		return Result{}, failure
	}

	var res Result
	var h Histogram
	for i := range workers {
		res.Messages += workers[i].done
		h.Merge(&workers[i].hist)
	}
	res.Bytes = res.Messages * uint64(cfg.Size)
	res.Elapsed = cfg.Duration
	res.P50, res.P99, res.P999 = h.Quantile(0.50), h.Quantile(0.99), h.Quantile(0.999)
	return res, nil
}

// dialAll opens every connection, in parallel so that thousands of them do
// not take seconds, and closes those it opened if any dial fails.
func dialAll(ctx context.Context, cfg Config) ([]net.Conn, error) {
	conns := make([]net.Conn, cfg.Conns)
	errs := make([]error, cfg.Conns)
	d := net.Dialer{Timeout: cfg.DialTimeout}
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conns[i], errs[i] = d.DialContext(ctx, "tcp", cfg.Addr)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
		return nil, fmt.Errorf("loadgen: dial %s: %w", cfg.Addr, firstNonNil(errs))
	}
	return conns, nil
}

func firstNonNil(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// worker drives one connection: it keeps pipeline messages in flight,
// checks each echo against the message expected at that position and
// times it from the write that sent it.
type worker struct {
	conn     net.Conn
	id       int
	size     int
	pipeline int
	end      time.Time
	drain    time.Duration
	msgs     messageSet

	done uint64 // echoes verified inside the window
	hist Histogram
}

func (w *worker) run() error {
	// sentAt[seq%pipeline] is when message seq was written; at most
	// pipeline messages are in flight, so the slot is free again by the
	// time seq+pipeline is sent.
	sentAt := make([]time.Time, w.pipeline)
	out := make([]byte, 0, w.pipeline*w.size)
	in := make([]byte, max(64<<10, 2*w.size))
	var sent, recv uint64
	var r, n int // unread bytes are in[r:n]

	now := time.Now()
	for sent < uint64(w.pipeline) {
		out = append(out, w.msgs.at(sent)...)
		sentAt[sent%uint64(w.pipeline)] = now
		sent++
	}
	if _, err := w.conn.Write(out); err != nil {
		return fmt.Errorf("loadgen: conn %d: write: %w", w.id, err)
	}
	// The deadline turns a server that stops echoing into ErrStalled
	// instead of a run that never ends.
	_ = w.conn.SetReadDeadline(w.end.Add(w.drain))
	for recv < sent {
		if n == len(in) {
			n = copy(in, in[r:n])
			r = 0
		}
		m, err := w.conn.Read(in[n:])
		n += m
		if err != nil && m == 0 {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: conn %d after %d echoes", ErrClosed, w.id, recv)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%w: conn %d: %d of %d messages not echoed %v after the window",
					ErrStalled, w.id, sent-recv, sent, w.drain)
			}
			return fmt.Errorf("loadgen: conn %d: read: %w", w.id, err)
		}
		now = time.Now()
		inWindow := now.Before(w.end)
		out = out[:0]
		for n-r >= w.size {
			got := in[r : r+w.size]
			if want := w.msgs.at(recv); !bytes.Equal(got, want) {
				return fmt.Errorf("%w: conn %d, message %d, first wrong byte at offset %d",
					ErrMismatch, w.id, recv, firstDiff(got, want))
			}
			r += w.size
			if inWindow {
				w.hist.Record(now.Sub(sentAt[recv%uint64(w.pipeline)]))
				w.done++
				out = append(out, w.msgs.at(sent)...)
				sentAt[sent%uint64(w.pipeline)] = now
				sent++
			}
			recv++
		}
		if r == n {
			r, n = 0, 0
		}
		if len(out) > 0 {
			if _, err := w.conn.Write(out); err != nil {
				return fmt.Errorf("loadgen: conn %d: write: %w", w.id, err)
			}
		}
	}
	return nil
}

// firstDiff returns the index of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
