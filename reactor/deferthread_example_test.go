package reactor_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/mustaine/mustaine/reactor"
)

// A blocking call (a database query, say) runs on the worker pool; its
// result comes back as a Deferred fired on the loop that asked.
func ExampleDeferToThread() {
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false))
	if err != nil {
		panic(err)
	}
	loop := r.Loops()[0]
	r.CallWhenRunning(func() {
		// On loop 0.
		d := reactor.DeferToThread(loop, func() (string, error) {
			time.Sleep(10 * time.Millisecond) // blocking work, off the loop
			return strings.ToUpper("row 42"), nil
		})
		d.AddBoth(func(v string, err error) (string, error) {
			// Back on loop 0: no lock needed to use v with the loop's state.
			fmt.Printf("got %q (err %v) on loop %d\n", v, err, loop.Index())
			r.Stop()
			return v, err
		})
	})
	if err := r.Run(); err != nil {
		fmt.Println(err)
	}
	// Output: got "ROW 42" (err <nil>) on loop 0
}
