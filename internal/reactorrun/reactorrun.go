// Package reactorrun runs a real reactor for the length of a test: the
// start, the wait until it runs, and the stop at the test's end that
// tests outside package reactor each used to spell out.
package reactorrun

import (
	"testing"
	"time"

	"github.com/mustaine/mustaine/reactor"
)

// stopWait bounds how long the test's end waits for Run to return.
const stopWait = 30 * time.Second

// Run runs r on a goroutine and returns once it runs (its Startup
// triggers have fired, so listeners made before accept). When the test
// ends r is stopped; Run's error, or a Run that has not returned within
// 30 s, fails the test.
func Run(tb testing.TB, r *reactor.Reactor) {
	tb.Helper()
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	select {
	case <-running:
	case err := <-done:
		tb.Fatalf("Run returned before the reactor ran: %v", err)
	}
	tb.Cleanup(func() {
		_ = r.Stop()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(stopWait):
			tb.Errorf("Run did not return within %v of Stop", stopWait)
		}
	})
}
