package http

import (
	"bufio"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/internal/reactorrun"
	"github.com/mustaine/mustaine/reactor"
)

// runReactorForTest runs a real reactor with loops loops serving srv on a
// loopback port, and returns the port's address. The reactor is stopped,
// and Run checked to return, when the test ends.
func runReactorForTest(t *testing.T, loops int, srv *Server) string {
	t.Helper()
	r, err := reactor.New(reactor.WithLoops(loops), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := r.ListenTCP("127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	reactorrun.Run(t, r)
	return ln.Addr().String()
}

// TestIdleTimeoutAfterIdleSleepCountsFromTheRequest pins that the
// keep-alive idle timeout, re-armed by a request that arrives while the
// server's loop sleeps, counts from that request, not from the loop's last
// clock reading before it slept. The client makes a request, stays silent
// 700 ms (the loop sleeps toward the 1 s idle deadline), makes a second
// request and waits for the server to close: that never happens earlier
// than 1 s after the second request was sent (a lower bound only).
func TestIdleTimeoutAfterIdleSleepCountsFromTheRequest(t *testing.T) {
	const (
		idle = time.Second
		gap  = 700 * time.Millisecond
	)
	ok := HandlerFunc(func(w *ResponseWriter, r *Request) { w.WriteString("ok") })
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			t.Parallel()
			srv, err := NewServer(ok, WithIdleTimeout(idle))
			if err != nil {
				t.Fatal(err)
			}
			addr := runReactorForTest(t, loops, srv)
			for attempt := 1; ; attempt++ {
				after, conclusive := idleAfterIdleSleep(t, addr, gap)
				if !conclusive {
					// The client overslept the gap and the first idle
					// timeout closed the connection before the second
					// request: nothing was shown. Try again.
					if attempt == 3 {
						t.Fatal("the second request never made it within the idle timeout (machine overloaded?)")
					}
					continue
				}
				if after < idle {
					t.Fatalf("the idle timeout closed the connection %v after the request, before %v", after, idle)
				}
				return
			}
		})
	}
}

// idleAfterIdleSleep makes a request to addr, stays silent for gap, makes a
// second request, and returns how long after sending it the server closed
// the connection. conclusive is false when the server closed it before the
// second request was answered.
func idleAfterIdleSleep(t *testing.T, addr string, gap time.Duration) (after time.Duration, conclusive bool) {
	t.Helper()
	const req = "GET / HTTP/1.1\r\nHost: test\r\n\r\n"
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get := func() bool {
		if _, err := io.WriteString(c, req); err != nil {
			return false
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return true
	}
	if !get() {
		t.Fatal("the first request failed")
	}
	time.Sleep(gap)
	sent := time.Now()
	if !get() {
		return 0, false
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the idle timeout: read %d bytes, %v; want EOF", n, err)
	}
	return time.Since(sent), true
}
