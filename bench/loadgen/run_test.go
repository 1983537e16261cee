package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serveTCP runs handle for each connection to a loopback listener until
// the test ends.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Go(func() { defer c.Close(); handle(c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// corruptAfter echoes faithfully, except that byte number n is flipped.
func corruptAfter(n int) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 4096)
		seen := 0
		for {
			m, err := c.Read(buf)
			if err != nil {
				return
			}
			if seen <= n && n < seen+m {
				buf[n-seen] ^= 0xff
			}
			seen += m
			if _, err := c.Write(buf[:m]); err != nil {
				return
			}
		}
	}
}

func run(t *testing.T, cfg Config) (Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return Run(ctx, cfg)
}

func TestRunCountsVerifiedEchoesFromAFaithfulServer(t *testing.T) {
	addr := serveTCP(t, echo)
	res, err := run(t, Config{Addr: addr, Conns: 4, Size: 100, Pipeline: 3, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages == 0 {
		t.Fatal("no message counted against a working echo server")
	}
	if res.Bytes != res.Messages*100 {
		t.Fatalf("Bytes = %d, want Messages×Size = %d", res.Bytes, res.Messages*100)
	}
	if res.P50 <= 0 || res.P50 > res.P99 || res.P99 > res.P999 {
		t.Fatalf("percentiles not ordered: p50 %v p99 %v p999 %v", res.P50, res.P99, res.P999)
	}
}

func TestRunReportsMismatchForOneFlippedByte(t *testing.T) {
	addr := serveTCP(t, corruptAfter(5000))
	_, err := run(t, Config{Addr: addr, Conns: 1, Size: 64, Pipeline: 2, Duration: 2 * time.Second})
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("err = %v, want ErrMismatch", err)
	}
}

func TestRunReportsMismatchForReorderedMessages(t *testing.T) {
	// Swaps the first two 8-byte messages of the connection.
	addr := serveTCP(t, func(c net.Conn) {
		first := make([]byte, 16)
		if _, err := io.ReadFull(c, first); err != nil {
			return
		}
		_, _ = c.Write(append(first[8:16:16], first[:8]...))
		echo(c)
	})
	_, err := run(t, Config{Addr: addr, Conns: 1, Size: 8, Pipeline: 2, Duration: time.Second})
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("err = %v, want ErrMismatch", err)
	}
}

func TestRunReportsClosedWhenTheServerHangsUp(t *testing.T) {
	addr := serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 10)
		_, _ = io.ReadFull(c, buf)
	})
	_, err := run(t, Config{Addr: addr, Conns: 2, Size: 10, Pipeline: 1, Duration: time.Second})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestRunReportsStalledWhenEchoesStop(t *testing.T) {
	addr := serveTCP(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	_, err := run(t, Config{Addr: addr, Conns: 1, Size: 10, Pipeline: 1,
		Duration: 50 * time.Millisecond, DrainTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("err = %v, want ErrStalled", err)
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	ok := Config{Addr: "127.0.0.1:1", Conns: 1, Size: 1, Pipeline: 1, Duration: time.Second}
	for name, mutate := range map[string]func(*Config){
		"no address":       func(c *Config) { c.Addr = "" },
		"zero conns":       func(c *Config) { c.Conns = 0 },
		"zero size":        func(c *Config) { c.Size = 0 },
		"zero pipeline":    func(c *Config) { c.Pipeline = 0 },
		"pipeline too big": func(c *Config) { c.Pipeline = MaxPipeline + 1 },
		"too many bytes":   func(c *Config) { c.Size, c.Pipeline = MaxInFlight, 2 },
		"zero duration":    func(c *Config) { c.Duration = 0 },
		"negative timeout": func(c *Config) { c.DrainTimeout = -1 },
	} {
		cfg := ok
		mutate(&cfg)
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

func TestRunReturnsDialErrorWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, err = run(t, Config{Addr: addr, Conns: 3, Size: 1, Pipeline: 1, Duration: time.Second})
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("err = %v, want a *net.OpError from dial", err)
	}
}

func TestRunStopsWithTheContext(t *testing.T) {
	addr := serveTCP(t, echo)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := Run(ctx, Config{Addr: addr, Conns: 2, Size: 32, Pipeline: 1, Duration: time.Minute})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestMessageVariantsDifferEvenAtOneByte(t *testing.T) {
	for _, size := range []int{1, 8, 4096} {
		set := newMessageSet(3, MaxPipeline+1, size)
		for i := range set {
			for j := range i {
				if bytes.Equal(set[i], set[j]) {
					t.Fatalf("size %d: variants %d and %d are equal", size, i, j)
				}
			}
		}
	}
	if bytes.Equal(newMessageSet(1, 1, 64)[0], newMessageSet(2, 1, 64)[0]) {
		t.Fatal("two connections send the same message")
	}
}
