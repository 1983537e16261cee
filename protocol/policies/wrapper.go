package policies

import "github.com/mustaine/mustaine/protocol"

// wrapper is a protocol that wraps another; the optional interfaces are
// forwarded to the wrapped one.
type wrapper interface {
	protocol.Protocol
	wrapped() protocol.Protocol
}

// preserve returns w as a protocol that implements the optional
// interfaces exactly when the protocol it wraps does, since the reactor
// changes its behaviour on them (a HalfCloseable protocol keeps its
// connection open after the peer's FIN).
func preserve(w wrapper) protocol.Protocol {
	_, r := w.wrapped().(protocol.HalfCloseable)
	_, wr := w.wrapped().(protocol.WriteHalfCloseable)
	switch {
	case r && wr:
		return halfBoth{w}
	case r:
		return halfRead{w}
	case wr:
		return halfWrite{w}
	}
	return w
}

type halfRead struct{ wrapper }

func (h halfRead) ReadConnectionLost() {
	h.wrapped().(protocol.HalfCloseable).ReadConnectionLost()
}

type halfWrite struct{ wrapper }

func (h halfWrite) WriteConnectionLost() {
	h.wrapped().(protocol.WriteHalfCloseable).WriteConnectionLost()
}

type halfBoth struct{ wrapper }

func (h halfBoth) ReadConnectionLost() {
	h.wrapped().(protocol.HalfCloseable).ReadConnectionLost()
}

func (h halfBoth) WriteConnectionLost() {
	h.wrapped().(protocol.WriteHalfCloseable).WriteConnectionLost()
}

// starter forwards a factory's optional Starter hooks.
type starter struct{ f protocol.Factory }

// StartFactory calls the wrapped factory's StartFactory, if it has one.
func (s starter) StartFactory() {
	if st, ok := s.f.(protocol.Starter); ok {
		st.StartFactory()
	}
}

// StopFactory calls the wrapped factory's StopFactory, if it has one.
func (s starter) StopFactory() {
	if st, ok := s.f.(protocol.Starter); ok {
		st.StopFactory()
	}
}
