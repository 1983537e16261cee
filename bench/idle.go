package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// errIdleNotAccepted reports a server that did not take every idle
// connection within the allowed time.
var errIdleNotAccepted = errors.New("server did not accept every idle connection")

// errIdleClosed reports a server that closed idle connections before the
// measurement was done.
var errIdleClosed = errors.New("server closed idle connections while they were measured")

// idleSettle is how long the server is left alone with its idle
// connections before its RSS is read, so lazily freed memory settles.
const idleSettle = time.Second

// measureIdle opens n connections to s and leaves them idle, and returns
// the server's RSS growth per connection in bytes. With touch, each
// connection first makes one exchange (a request or a 64-byte echo), which
// shows whether buffers are handed back once a connection goes quiet.
// With tlsConfig each connection is held after its TLS handshake (and the
// exchange, with touch); the clients live in this process, not the
// server's.
func measureIdle(ctx context.Context, s *server, kind protocolKind, n int, touch bool, tlsConfig *tls.Config) (float64, error) {
	// The probe's connections may still be open on the server side: wait
	// until its descriptor count holds still before taking the baseline.
	fds0, err := steadyFDs(ctx, s)
	if err != nil {
		return 0, err
	}
	base, err := processRSS(s.Pid)
	if err != nil {
		return 0, err
	}
	dial0 := time.Now()
	conns, err := dialIdle(ctx, s.Addr, n, kind, touch, tlsConfig)
	dialTime := time.Since(dial0)
	defer func() {
		for _, c := range conns {
			abortConn(c)
		}
	}()
	if err != nil {
		return 0, err
	}
	// The server has every connection once it holds one more descriptor
	// for each; before that some may still wait in the accept queue. A
	// count that stops growing for idleStuck means it never will.
	last, lastChange := -1, time.Now()
	for {
		if s.exited() {
			return 0, s.exitError()
		}
		fds, err := processFDs(s.Pid)
		if err != nil {
			return 0, err
		}
		if fds >= fds0+n {
			break
		}
		if fds != last {
			last, lastChange = fds, time.Now()
		} else if time.Since(lastChange) > idleStuck {
			return 0, fmt.Errorf("%w: %d of %d, no progress for %v (dialing took %v; a read timeout?); server output: %s",
				errIdleNotAccepted, fds-fds0, n, idleStuck, dialTime.Round(time.Millisecond), tail(s.out.String(), 400))
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return 0, err
		}
	}
	if err := sleepCtx(ctx, idleSettle); err != nil {
		return 0, err
	}
	rss, err := processRSS(s.Pid)
	if err != nil {
		return 0, err
	}
	// A server that closed some meanwhile (one with a read-header or idle
	// timeout shorter than the harness gives it, see idleServerTimeout)
	// would be credited with memory it no longer holds.
	if fds, err := processFDs(s.Pid); err != nil {
		return 0, err
	} else if fds < fds0+n {
		return 0, fmt.Errorf("%w: %d of %d were closed before the RSS was read (dialing took %v; a read timeout?)",
			errIdleClosed, fds0+n-fds, n, dialTime.Round(time.Millisecond))
	}
	return float64(rss-base) / float64(n), nil
}

// idleStuck is how long the server's descriptor count may stay still
// before the idle load gives up on it.
const idleStuck = 5 * time.Second

// steadyFDs returns the server's descriptor count once it has not changed
// for 300ms (or after 5s, whatever it is then).
func steadyFDs(ctx context.Context, s *server) (int, error) {
	last, err := processFDs(s.Pid)
	if err != nil {
		return 0, err
	}
	stable := 0
	for range 100 {
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return 0, err
		}
		n, err := processFDs(s.Pid)
		if err != nil {
			return 0, err
		}
		if n != last {
			last, stable = n, 0
			continue
		}
		if stable++; stable >= 6 {
			break
		}
	}
	return last, nil
}

// dialIdle opens n connections, 64 at a time, with a TLS handshake on each
// when tlsConfig is set, and with touch makes one checked exchange on
// each. It returns the connections it opened even on error, for the caller
// to close.
func dialIdle(ctx context.Context, addr string, n int, kind protocolKind, touch bool, tlsConfig *tls.Config) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	d := net.Dialer{Timeout: 10 * time.Second}
	for range 64 {
		wg.Go(func() {
			for i := range next {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err == nil && tlsConfig != nil {
					tc := tls.Client(c, tlsConfig)
					_ = c.SetDeadline(time.Now().Add(probeTimeout))
					if err = tc.HandshakeContext(ctx); err != nil {
						abortConn(c)
					} else {
						_ = c.SetDeadline(time.Time{})
						c = tc
					}
				}
				if err == nil && touch {
					conns[i] = c
					_ = c.SetDeadline(time.Now().Add(probeTimeout))
					if kind == kindHTTP {
						err = probeHTTP(c)
					} else {
						err = probeEcho(c)
					}
					_ = c.SetDeadline(time.Time{})
				}
				if err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range n {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	open := conns[:0]
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return open, fmt.Errorf("idle connection to %s: %w", addr, firstErr)
	}
	return open, nil
}

// abortConn closes c with a reset, so thousands of idle connections per
// run leave no TIME_WAIT entries to exhaust the ephemeral ports.
func abortConn(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn() // no close_notify: a reset, as for plain TCP
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
