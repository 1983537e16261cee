package reactor

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
)

// loopCounter echoes and counts connections per loop.
type loopCounter struct {
	mu      sync.Mutex
	perLoop map[int]int
}

func (lc *loopCounter) factory() protocol.Factory {
	return protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &protocol.Funcs{
			OnConnect: func(t protocol.Transport) {
				lc.mu.Lock()
				lc.perLoop[t.Loop().Index()]++
				lc.mu.Unlock()
			},
			OnData: func(t protocol.Transport, b []byte) { t.Write(b) },
		}
	})
}

func TestReusePortGivesEveryLoopItsOwnSocketAndClosesThemAll(t *testing.T) {
	before := openFDs(t)
	r, err := New(WithLoops(2), WithReusePort(true), WithLogger(zerolog.New(io.Discard)), WithSignalHandling(false))
	if err != nil {
		t.Fatal(err)
	}
	lc := &loopCounter{perLoop: map[int]int{}}
	ln, err := r.ListenTCP("127.0.0.1:0", lc.factory())
	if err != nil {
		t.Fatal(err)
	}
	if len(ln.fds) != 2 {
		t.Fatalf("%d listening sockets for 2 loops", len(ln.fds))
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	// 200 connections from distinct ports: the kernel's hash sends some to
	// each socket (all on one would happen with probability 2^-199).
	for range 200 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, "x")
		c.Close()
	}
	r.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if lc.perLoop[0] == 0 || lc.perLoop[1] == 0 || lc.perLoop[0]+lc.perLoop[1] != 200 {
		t.Fatalf("connections per loop %v, want both loops used and 200 in all", lc.perLoop)
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d fds before, %d after Stop", before, after)
	}
}
