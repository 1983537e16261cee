package basic_test

import (
	"fmt"
	"testing"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/basic"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// hookRec is a handler for any framer F with both connection hooks: it
// records them and the messages, notes a hook that gets another framer
// than self, and greets the peer from ConnectionMade.
type hookRec[F comparable] struct {
	self   F
	greet  func(F) error
	events []string
}

func (h *hookRec[F]) check(f F) {
	if f != h.self {
		h.events = append(h.events, "hook got another framer")
	}
}

func (h *hookRec[F]) ConnectionMade(f F) {
	h.check(f)
	h.events = append(h.events, fmt.Sprint("made:", h.greet(f)))
}

func (h *hookRec[F]) ConnectionLost(f F, reason error) {
	h.check(f)
	h.events = append(h.events, "lost:"+classify(reason))
}

func (h *hookRec[F]) LineReceived(f F, line []byte) { h.events = append(h.events, "msg:"+string(line)) }
func (h *hookRec[F]) StringReceived(f F, s []byte)  { h.events = append(h.events, "msg:"+string(s)) }
func (h *hookRec[F]) String() string                { return fmt.Sprintf("%T", h.self) }

// checkHooks connects f, whose handler h sends "hi" from ConnectionMade,
// echoes the greeting back, closes, and checks that the hooks ran once each,
// with f, in order around the message.
func checkHooks[F interface {
	comparable
	protocol.Protocol
	Transport() protocol.Transport
}](t *testing.T, h *hookRec[F], f F, wire string) {
	t.Helper()
	h.self = f
	if f.Transport() != nil {
		t.Fatalf("%v: Transport() before ConnectionMade is not nil", h)
	}
	tr := reactortest.Connect(f)
	if got := tr.String(); got != wire {
		t.Fatalf("%v: ConnectionMade hook wrote %q, want %q", h, got, wire)
	}
	feed(f, wire)
	f.Transport().LoseConnection()
	tr.FakeLoop().RunPending()
	if err := sameEvents([]string{"made:<nil>", "msg:hi", "lost:[done]"}, h.events); err != nil {
		t.Fatalf("%v: %v", h, err)
	}
}

func TestFramersCallConnectionHooksWithThemselvesOnceReady(t *testing.T) {
	lr := &hookRec[*basic.LineReceiver]{greet: func(r *basic.LineReceiver) error { return r.SendLine([]byte("hi")) }}
	checkHooks(t, lr, basic.NewLineReceiver(lr), "hi\r\n")

	lo := &hookRec[*basic.LineOnlyReceiver]{greet: func(r *basic.LineOnlyReceiver) error { return r.SendLine([]byte("hi")) }}
	checkHooks(t, lo, basic.NewLineOnlyReceiver(lo), "hi\r\n")

	is := &hookRec[*basic.IntStringReceiver]{greet: func(r *basic.IntStringReceiver) error { return r.SendString([]byte("hi")) }}
	checkHooks(t, is, basic.NewInt16StringReceiver(is), "\x00\x02hi")

	ns := &hookRec[*basic.NetstringReceiver]{greet: func(r *basic.NetstringReceiver) error { return r.SendString([]byte("hi")) }}
	checkHooks(t, ns, basic.NewNetstringReceiver(ns), "2:hi,")
}
