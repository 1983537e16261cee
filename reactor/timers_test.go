package reactor

import (
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCallLaterNeverFiresEarly(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	const calls = 300
	early := make(chan time.Duration, calls)
	var wg sync.WaitGroup
	wg.Add(calls)
	onLoop(t, r, func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for range calls {
			d := time.Duration(rng.IntN(30_000)) * time.Microsecond
			start := time.Now()
			r.CallLater(d, func() {
				if got := time.Since(start); got < d {
					early <- d - got
				}
				wg.Done()
			})
		}
	})
	wg.Wait()
	close(early)
	for by := range early {
		t.Fatalf("a call fired %v early", by)
	}
}

func TestCallLaterEqualDelaysFireInSchedulingOrder(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	var order []int
	done := make(chan struct{})
	onLoop(t, r, func() {
		for i := range 1000 {
			r.CallLater(5*time.Millisecond, func() {
				order = append(order, i)
				if i == 999 {
					close(done)
				}
			})
		}
	})
	<-done
	for i, v := range order {
		if v != i {
			t.Fatalf("call %d fired in position %d", v, i)
		}
	}
}

func TestCallSoonRunsFIFOAfterTheCurrentCallback(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	var order []string
	done := make(chan struct{})
	onLoop(t, r, func() {
		r.CallSoon(func() { order = append(order, "soon-1") })
		r.CallLater(0, func() { order = append(order, "later0-2") })
		r.CallSoon(func() {
			order = append(order, "soon-3")
			r.CallSoon(func() { order = append(order, "nested-5"); close(done) })
		})
		r.CallSoon(func() { order = append(order, "soon-4") })
		order = append(order, "caller-0")
	})
	<-done
	want := []string{"caller-0", "soon-1", "later0-2", "soon-3", "soon-4", "nested-5"}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}

func TestCallFromThreadRunsEveryCallOnceInOrderPerSender(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	const senders, perSender = 8, 10000
	next := make([]int, senders) // touched only on loop 0
	var bad []string
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				r.CallFromThread(func() {
					if next[g] != i {
						bad = append(bad, "out of order")
					}
					next[g] = i + 1
				})
			}
		}()
	}
	wg.Wait()
	onLoop(t, r, func() {
		for g, n := range next {
			if n != perSender {
				t.Errorf("sender %d: %d calls ran, want %d", g, n, perSender)
			}
		}
		if len(bad) > 0 {
			t.Errorf("%d calls ran out of order", len(bad))
		}
	})
}

func processCPUTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestIdleReactorDoesNotSpin(t *testing.T) {
	r := startReactor(t, WithLoops(2))
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	// Idle connections and a far timer must not make the loops poll.
	var conns []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	roundTrip(t, conns[0], "warm")
	onLoop(t, r, func() { r.CallLater(time.Hour, func() {}) })
	turnsBefore := loopTurns(t, r)
	cpuBefore := processCPUTime()
	time.Sleep(time.Second)
	cpu := processCPUTime() - cpuBefore
	turns := loopTurns(t, r) - turnsBefore
	// A spinning loop makes a turn every few microseconds and burns a core;
	// an idle one wakes only for the calls this test sends it.
	if turns > 10 {
		t.Errorf("loops made %d turns in an idle second", turns)
	}
	if cpu > 200*time.Millisecond {
		t.Errorf("process used %v of CPU in an idle second", cpu)
	}
}

// loopTurns counts every loop's turns so far.
func loopTurns(t *testing.T, r *Reactor) uint64 {
	var total uint64
	for _, l := range r.loops {
		done := make(chan uint64)
		l.CallFromThread(func() { done <- l.turns })
		total += <-done
	}
	return total
}
