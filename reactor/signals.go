package reactor

import (
	"os"
	"os/signal"
	"syscall"
)

// notifySignals starts catching SIGINT and SIGTERM for Run when signal
// handling is on; stop gives them back (to the default action, unless
// another reactor or the program still listens).
func (r *Reactor) notifySignals() (sigs <-chan os.Signal, stop func()) {
	if !r.cfg.signals {
		return nil, func() {}
	}
	// Room for the second signal while the first is being handled.
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}
