package reactor_test

import (
	"flag"
	"fmt"

	"github.com/mustaine/mustaine/reactor"
)

// A program takes -backend on its command line and hands it to New; on a
// system without io_uring the reactor falls back to epoll (or kqueue) and
// logs why.
func ExampleBackendFlag() {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	backend := reactor.BackendFlag(fs)
	if err := fs.Parse([]string{"-backend", "io_uring"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("asked for", *backend)
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithBackend(*backend), reactor.WithSignalHandling(false))
	if err != nil {
		fmt.Println(err)
		return
	}
	// r.Backend() is io_uring here, or epoll after a fallback.
	r.CallWhenRunning(func() { r.Stop() })
	if err := r.Run(); err != nil {
		fmt.Println(err)
	}
	// Output: asked for io_uring
}
