//go:build linux

package reactor

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// An io_uring loop is locked to its thread and skips the epoll loop's
// Gosched before each sleep (a locked Gosched is a thread hand-over, six
// futex calls): it must still leave the scheduler to everyone else. With
// one P for the whole process, while clients keep the loop busy, a
// goroutine that only computes and yields, a full garbage collection and
// DeferToThread jobs (whose results come back to the loop) all finish,
// and every echo is answered byte for byte.
func TestUringLockedLoopLeavesTheSchedulerToOthersOnOneP(t *testing.T) {
	needUring(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	r := startReactor(t, WithBackend(BackendIOURing), WithLoops(1))
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var clients sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := echoRound(c, []byte(fmt.Sprintf("client %d message %d", i, n))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}

	done := make(chan string, 3)
	go func() {
		sum := 0
		for i := range 1000 {
			sum += i
			runtime.Gosched()
		}
		done <- fmt.Sprint("computing goroutine ", sum)
	}()
	go func() {
		runtime.GC()
		done <- "garbage collection"
	}()
	jobs := make(chan int, 20)
	onLoop(t, r, func() {
		for i := range 20 {
			DeferToThread(r.Loops()[0], func() (int, error) { return i, nil }).
				AddCallback(func(v int) (int, error) {
					jobs <- v
					return v, nil
				})
		}
	})
	go func() {
		seen := make(map[int]bool)
		for range 20 {
			seen[<-jobs] = true
		}
		if len(seen) != 20 {
			errs <- fmt.Errorf("%d distinct job results of 20", len(seen))
			return
		}
		done <- "20 pool jobs"
	}()
	for range 3 {
		select {
		case what := <-done:
			t.Log(what, "finished")
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(60 * time.Second):
			t.Fatal("starved: not everything finished while the loop was busy")
		}
	}
	close(stop)
	clients.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}
