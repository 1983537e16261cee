package http

import (
	"strings"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// TestTimeoutsOfManyConnectionsOnOneLoopFireAtTheirOwnDeadlines puts
// connections of one loop on its timeout queues at different times and
// kinds (silent: the read-header timeout; kept alive after a request: the
// idle timeout; a head cut short: 408), moves some deadlines later with
// traffic, and checks at every step that exactly the connections whose
// deadline has passed are closed: never one earlier, none left behind.
func TestTimeoutsOfManyConnectionsOnOneLoopFireAtTheirOwnDeadlines(t *testing.T) {
	const header, idle = 2 * time.Second, 5 * time.Second
	srv, err := NewServer(echo, WithReadHeaderTimeout(header), WithIdleTimeout(idle))
	if err != nil {
		t.Fatal(err)
	}
	loop := reactortest.NewLoop()
	type cn struct {
		p  protocol.Protocol
		tr *reactortest.Transport
		// due is when the connection must be closed, from the start.
		due time.Duration
		out string // the last output seen
	}
	var conns []*cn
	open := func(due time.Duration) *cn {
		p := srv.BuildProtocol(reactortest.ClientAddr)
		c := &cn{p: p, tr: reactortest.Connect(p, reactortest.WithLoop(loop)), due: due}
		conns = append(conns, c)
		return c
	}
	now := time.Duration(0)
	step := func(to time.Duration) {
		t.Helper()
		loop.Advance(to - now)
		now = to
		for _, c := range conns {
			// What it was sent before ConnectionLost drops the buffer.
			if s := c.tr.String(); s != "" {
				c.out = s
			}
		}
		loop.RunPending()
		for i, c := range conns {
			closed := c.tr.Disconnecting() || c.tr.Aborted()
			if closed != (now >= c.due) {
				t.Fatalf("at %v: connection %d (due %v) closed=%v", now, i, c.due, closed)
			}
		}
	}
	get := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	a := open(header)                         // silent
	b := open(500*time.Millisecond + idle)    // one request at 0.5 s
	c := open(1500*time.Millisecond + idle)   // requests at 0.5 s and 1.5 s
	d := open(1000*time.Millisecond + header) // a partial head at 1 s: 408 at 3 s
	step(500 * time.Millisecond)
	e := open(500*time.Millisecond + header) // silent, later
	b.p.DataReceived([]byte(get))
	c.p.DataReceived([]byte(get))
	step(time.Second)
	d.p.DataReceived([]byte("GET / HT"))
	step(1500 * time.Millisecond)
	c.p.DataReceived([]byte(get))
	for _, to := range []time.Duration{1999, 2000, 2001, 2499, 2500, 2999, 3000, 5499, 5500, 6499, 6500, 7000} {
		step(to * time.Millisecond)
	}
	if got := d.out; !strings.HasPrefix(got, "HTTP/1.1 408") {
		t.Fatalf("the partial head got %q, want a 408", got)
	}
	for i, x := range []*cn{a, e} {
		if x.out != "" {
			t.Fatalf("silent connection %d was answered %q", i, x.out)
		}
	}
	for i, x := range []*cn{b, c} {
		if !strings.HasPrefix(x.out, "HTTP/1.1 200") {
			t.Fatalf("kept-alive connection %d: %q", i, x.out)
		}
	}
}
