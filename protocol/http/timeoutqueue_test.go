package http

import (
	"math/rand/v2"
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

// TestBusyConnectionsCloseExactlyIdleTimeoutAfterTheirLastRequest keeps
// connections of one loop busy with requests closer together than their
// queue's slack (so that their deadlines move later without moving them
// on the queue), in random interleavings, each stopping at a time of its
// own, and checks at every millisecond that exactly the connections whose
// last request is the idle timeout old are closed: never one earlier, and
// none later.
func TestBusyConnectionsCloseExactlyIdleTimeoutAfterTheirLastRequest(t *testing.T) {
	const idle = 640 * time.Millisecond // slack: 10 ms
	srv, err := NewServer(echo, WithIdleTimeout(idle))
	if err != nil {
		t.Fatal(err)
	}
	loop := reactortest.NewLoop()
	rng := rand.New(rand.NewPCG(1, 2))
	type cn struct {
		p    protocol.Protocol
		tr   *reactortest.Transport
		stop time.Duration // no request after this
		last time.Duration // the last request so far
	}
	conns := make([]*cn, 200)
	for i := range conns {
		p := srv.BuildProtocol(reactortest.ClientAddr)
		conns[i] = &cn{p: p, tr: reactortest.Connect(p, reactortest.WithLoop(loop)),
			stop: time.Duration(rng.IntN(1500)) * time.Millisecond, last: -1}
	}
	// checkQueues checks the queues' order: places never decrease along
	// a queue, and a moved deadline is within its queue's slack.
	checkQueues := func(now time.Duration) {
		for _, ls := range srv.loops {
			for _, q := range ls.queues {
				prev := int64(-1 << 63)
				for c := q.head; c != nil; c = c.tnext {
					if c.deadline < prev || int64(c.extended) > q.slack {
						t.Fatalf("at %v: queue %v out of order: place %d after %d, extended %d", now, q.d, c.deadline, prev, c.extended)
					}
					prev = c.deadline
				}
			}
		}
	}
	get := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	for now := time.Duration(0); now <= 1500*time.Millisecond+idle+time.Millisecond; now += time.Millisecond {
		if now > 0 {
			loop.Advance(time.Millisecond)
			loop.RunPending()
		}
		checkQueues(now)
		for i, c := range conns {
			closed := c.tr.Disconnecting() || c.tr.Aborted()
			due := c.last >= 0 && now >= c.last+idle
			if closed != due {
				t.Fatalf("at %v: connection %d (last request at %v) closed=%v", now, i, c.last, closed)
			}
			// Requests 1 to 12 ms apart: most within the slack, some not.
			if !closed && now <= c.stop && (c.last < 0 || now-c.last >= time.Duration(1+rng.IntN(12))*time.Millisecond) {
				c.tr.Clear()
				c.p.DataReceived(get)
				if !strings.HasPrefix(c.tr.String(), "HTTP/1.1 200") {
					t.Fatalf("at %v: connection %d answered %q", now, i, c.tr.String())
				}
				c.last = now
			}
		}
	}
	for i, c := range conns {
		if !c.tr.Disconnecting() {
			t.Fatalf("connection %d (last request at %v) still open", i, c.last)
		}
	}
}
