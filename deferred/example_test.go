package deferred_test

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/timer"
)

// Steps run in order when the Deferred fires; an error skips callbacks until
// an errback handles it, and a step may change the result type with Then.
func Example_chaining() {
	d := deferred.New[string]()
	d.AddCallback(func(s string) (string, error) {
		if s == "" {
			return "", errors.New("empty reply")
		}
		return s + "!", nil
	})
	d.AddErrback(func(err error) (string, error) {
		fmt.Println("recovered from:", err)
		return "default", nil
	})
	n := deferred.Then(d, func(s string) (int, error) { return len(s), nil })
	n.AddCallback(func(v int) (int, error) {
		fmt.Println("length:", v)
		return v, nil
	})

	_ = d.Callback("")
	// Output:
	// recovered from: empty reply
	// length: 7
}

// A step that returns another Deferred pauses the chain until that one
// fires.
func Example_nested() {
	lookup := deferred.New[string]()
	d := deferred.Succeed("example.org")
	d.AddCallbackDeferred(func(host string) *deferred.Deferred[string] {
		fmt.Println("resolving", host)
		return lookup
	})
	d.AddCallback(func(addr string) (string, error) {
		fmt.Println("connecting to", addr)
		return addr, nil
	})
	_ = lookup.Callback("192.0.2.7")
	// Output:
	// resolving example.org
	// connecting to 192.0.2.7
}

// Cancel runs the canceller given at creation; a timeout cancels through the
// scheduler and reports ErrTimeout instead of ErrCancelled.
func Example_cancellation() {
	req := deferred.NewWithCanceller(func(d *deferred.Deferred[string]) {
		fmt.Println("aborting the request")
	})
	req.AddErrback(func(err error) (string, error) {
		fmt.Println("cancelled:", errors.Is(err, deferred.ErrCancelled))
		return "", nil
	})
	req.Cancel()

	clock := timer.NewClock()
	slow := deferred.New[string]().AddTimeout(5*time.Second, clock)
	slow.AddErrback(func(err error) (string, error) {
		fmt.Println("timed out:", errors.Is(err, deferred.ErrTimeout))
		return "", nil
	})
	clock.Advance(5 * time.Second)
	// Output:
	// aborting the request
	// cancelled: true
	// timed out: true
}

// Gather waits for every input and keeps their order.
func ExampleGather() {
	a, b := deferred.New[int](), deferred.New[int]()
	all := deferred.Gather([]*deferred.Deferred[int]{a, b})
	all.AddCallback(func(vs []int) ([]int, error) {
		fmt.Println(vs)
		return vs, nil
	})
	_ = b.Callback(2)
	_ = a.Callback(1)
	// Output: [1 2]
}

// Race takes the first success and cancels the rest.
func ExampleRace() {
	fast, slow := deferred.New[string](), deferred.New[string]()
	slow.AddErrback(func(err error) (string, error) {
		fmt.Println("slow cancelled:", errors.Is(err, deferred.ErrCancelled))
		return "", err
	})
	deferred.Race([]*deferred.Deferred[string]{slow, fast}).AddCallback(
		func(w deferred.Winner[string]) (deferred.Winner[string], error) {
			fmt.Println("winner", w.Index, w.Value)
			return w, nil
		})
	_ = fast.Callback("fast")
	// Output:
	// slow cancelled: true
	// winner 1 fast
}

// FromFunc turns a panic into an error carrying the stack.
func ExampleFromFunc() {
	d := deferred.FromFunc(func() (int, error) {
		return strconv.Atoi("x")
	})
	d.AddErrback(func(err error) (int, error) {
		fmt.Println(err)
		return 0, nil
	})
	// Output: strconv.Atoi: parsing "x": invalid syntax
}
