package policies

import (
	"net"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/timer"
)

// WithTimeout wraps p with an idle timeout, Twisted's TimeoutProtocol: the
// countdown starts at ConnectionMade and restarts on every DataReceived and
// on every Write or Writev p makes. When d passes without traffic the
// connection is closed with LoseConnection, and, should it still be open d
// later (a peer that stopped reading can keep a flush pending forever),
// aborted. p's ConnectionLost then gets a *TimeoutError, which matches
// protocol.ErrTimeout with errors.Is. A d of zero or less disables the
// timeout.
func WithTimeout(p protocol.Protocol, d time.Duration) protocol.Protocol {
	return preserve(&idleProtocol{p: p, d: d})
}

// TimeoutFactory wraps f so that each protocol it builds is wrapped by
// WithTimeout with d, Twisted's TimeoutFactory. A connection f refuses
// stays refused. The StartFactory and StopFactory hooks of f, if any, are
// forwarded.
func TimeoutFactory(f protocol.Factory, d time.Duration) protocol.Factory {
	return &timeoutFactory{starter{f}, f, d}
}

type timeoutFactory struct {
	starter
	f protocol.Factory
	d time.Duration
}

func (tf *timeoutFactory) BuildProtocol(addr net.Addr) protocol.Protocol {
	p := tf.f.BuildProtocol(addr)
	if p == nil {
		return nil
	}
	return WithTimeout(p, tf.d)
}

// idleProtocol is the wrapper made by WithTimeout.
type idleProtocol struct {
	p     protocol.Protocol
	d     time.Duration
	t     protocol.Transport
	tr    idleTransport
	h     timer.Handle
	fired bool
}

func (w *idleProtocol) wrapped() protocol.Protocol { return w.p }

func (w *idleProtocol) ConnectionMade(t protocol.Transport) {
	w.t = t
	w.tr = idleTransport{Transport: t, w: w}
	if w.d > 0 {
		w.h = t.Loop().CallLater(w.d, w.expire)
	}
	w.p.ConnectionMade(&w.tr)
}

func (w *idleProtocol) DataReceived(data []byte) {
	w.tr.activity()
	w.p.DataReceived(data)
}

func (w *idleProtocol) ConnectionLost(reason error) {
	w.h.Cancel()
	if w.fired {
		reason = &TimeoutError{Idle: w.d, Reason: reason}
	}
	w.p.ConnectionLost(reason)
}

// expire closes the idle connection, then arms the abort that ends a close
// whose flush never completes.
func (w *idleProtocol) expire() {
	if w.fired {
		w.t.AbortConnection()
		return
	}
	w.fired = true
	w.t.LoseConnection()
	w.h = w.t.Loop().CallLater(w.d, w.expire)
}

// idleTransport is the transport the wrapped protocol sees: writes count
// as traffic.
type idleTransport struct {
	protocol.Transport
	w *idleProtocol
}

func (t *idleTransport) Write(p []byte) (int, error) {
	t.activity()
	return t.Transport.Write(p)
}

func (t *idleTransport) Writev(bufs ...[]byte) (int, error) {
	t.activity()
	return t.Transport.Writev(bufs...)
}

// Unwrap returns the connection's own transport.
func (t *idleTransport) Unwrap() protocol.Transport { return t.Transport }

// activity restarts the countdown; once the timeout has expired, the
// pending abort is not postponed by traffic.
func (t *idleTransport) activity() {
	if !t.w.fired {
		t.w.h.Reset(t.w.d)
	}
}
