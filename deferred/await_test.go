package deferred

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// loop runs fns one at a time on its own goroutine, standing in for a
// reactor loop reached through CallFromThread.
type loop struct {
	calls chan func()
	done  chan struct{}
}

func startLoop() *loop {
	l := &loop{calls: make(chan func()), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for fn := range l.calls {
			fn()
		}
	}()
	return l
}

// call runs fn on the loop and returns once it ran.
func (l *loop) call(fn func()) {
	ran := make(chan struct{})
	l.calls <- func() { fn(); close(ran) }
	<-ran
}

func (l *loop) stop() {
	close(l.calls)
	<-l.done
}

func TestAwaitReturnsResultFiredOnLoop(t *testing.T) {
	l := startLoop()
	defer l.stop()
	d := New[int]()
	d.AddCallback(addOne)
	l.call(func() { _ = d.Callback(41) })
	v, err := d.Await(context.Background())
	if v != 42 || err != nil {
		t.Fatalf("Await = %v, %v; want 42, nil", v, err)
	}
}

func TestAwaitOnSettledDeferredReturnsAtOnce(t *testing.T) {
	d := Succeed(3)
	if v, err := d.Await(context.Background()); v != 3 || err != nil {
		t.Fatalf("Await = %v, %v", v, err)
	}
}

func TestAwaitReturnsContextErrorWhenContextEndsFirst(t *testing.T) {
	d := New[int]()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Await(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await = %v; want context.Canceled", err)
	}
	// The abandoned wait neither blocks the Deferred nor consumes its error.
	_ = d.Errback(errBoom)
	if d.fail == nil {
		t.Fatal("an error nobody awaited any more counts as handled")
	}
	_, _ = result(t, d)
}

func TestAwaitWaitsWhileChainIsPausedOnInnerDeferred(t *testing.T) {
	l := startLoop()
	defer l.stop()
	inner := New[int]()
	d := New[int]()
	d.AddCallbackDeferred(func(int) *Deferred[int] { return inner })
	l.call(func() { _ = d.Callback(0) })
	got := make(chan int, 1)
	go func() {
		v, _ := d.Await(context.Background())
		got <- v
	}()
	l.call(func() { _ = inner.Callback(9) })
	if v := <-got; v != 9 {
		t.Fatalf("Await = %v; want the inner result 9", v)
	}
}

func TestAwaitedErrorCountsAsHandled(t *testing.T) {
	d := Fail[int](errBoom)
	if _, err := d.Await(context.Background()); !errors.Is(err, errBoom) {
		t.Fatalf("Await = %v", err)
	}
	if d.fail != nil {
		t.Fatal("error returned by Await still pending as unhandled")
	}

	l := startLoop()
	defer l.stop()
	d2 := New[int]()
	done := make(chan error)
	go func() {
		_, err := d2.Await(context.Background())
		done <- err
	}()
	// Wait until the goroutine is registered, through the loop.
	for {
		ch := make(chan bool, 1)
		l.call(func() { ch <- d2.sync.Load()&syncWaiting != 0 })
		if <-ch {
			break
		}
	}
	l.call(func() { _ = d2.Errback(errBoom) })
	if err := <-done; !errors.Is(err, errBoom) {
		t.Fatalf("Await = %v", err)
	}
	pending := make(chan bool, 1)
	l.call(func() { pending <- d2.fail != nil })
	if <-pending {
		t.Fatal("error delivered to a waiting Await still pending as unhandled")
	}
}

func TestAwaitNilContextMeansBackground(t *testing.T) {
	//lint:ignore SA1012 a nil context is the input under test
	if v, err := Succeed(1).Await(nil); v != 1 || err != nil {
		t.Fatalf("Await(nil) = %v, %v", v, err)
	}
}

// Many goroutines await while the loop keeps extending the chain of a fired
// Deferred; run with -race.
func TestAwaitIsRaceFreeWhileLoopExtendsChain(t *testing.T) {
	l := startLoop()
	defer l.stop()
	for range 20 {
		d := New[int]()
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					if _, err := d.Await(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		l.call(func() { _ = d.Callback(0) })
		for range 50 {
			l.call(func() { d.AddCallback(addOne) })
		}
		wg.Wait()
		v, err := d.Await(context.Background())
		if v != 50 || err != nil {
			t.Fatalf("final Await = %v, %v; want 50", v, err)
		}
	}
}
