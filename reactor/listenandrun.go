package reactor

import "github.com/mustaine/mustaine/protocol"

// ListenAndRun is the shortest way to serve, in the manner of net/http's
// ListenAndServe: it makes a reactor with opts, listens on address with
// factory (ListenTCP) and runs until SIGINT or SIGTERM stop it gracefully
// (see Run). It returns New's or ListenTCP's error at once, having
// released what it made, and Run's result otherwise: nil after a graceful
// stop. Programs that need the Reactor itself (to connect out, listen
// twice, call Stop) use New, ListenTCP and Run.
func ListenAndRun(address string, factory protocol.Factory, opts ...Option) error {
	r, err := New(opts...)
	if err != nil {
		return err
	}
	if _, err := r.ListenTCP(address, factory); err != nil {
		r.discard()
		return err
	}
	return r.Run()
}

// discard releases a reactor that never ran.
func (r *Reactor) discard() {
	if r.state.CompareAndSwap(stateNew, stateStopped) {
		r.cleanup()
	}
}
