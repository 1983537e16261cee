package basic_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mustaine/mustaine/protocol/basic"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

func TestIntStringReceiverDeliversEachString(t *testing.T) {
	for _, prefix := range []int{1, 2, 4} {
		h := &stringRec{}
		r := newIntStringReceiver(prefix, h)
		reactortest.Connect(r)
		var data []byte
		for _, s := range []string{"hello", "", "world"} {
			data = appendPrefix(data, prefix, len(s))
			data = append(data, s...)
		}
		feed(r, string(data[:3]), string(data[3:]))
		wantEvents(t, h.events, "string:hello", "string:", "string:world")
		if r.PrefixLength() != prefix {
			t.Fatalf("PrefixLength %d, want %d", r.PrefixLength(), prefix)
		}
	}
}

func TestIntStringReceiverStringOfExactlyMaxLengthIsDelivered(t *testing.T) {
	h := &stringRec{}
	r := basic.NewInt16StringReceiver(h)
	r.MaxLength = 3
	tr := reactortest.Connect(r)
	feed(r, "\x00\x03abc")
	wantEvents(t, h.events, "string:abc")
	if tr.Disconnecting() {
		t.Fatal("closed")
	}
}

func TestIntStringReceiverRefusesLongPrefixBeforeItsString(t *testing.T) {
	h := &stringRec{}
	r := basic.NewInt16StringReceiver(h)
	r.MaxLength = 3
	tr := reactortest.Connect(r)
	feed(r, "\x00\x02ok", "\x00\x04") // no byte of the long string yet
	if !tr.Disconnecting() {
		t.Fatal("a prefix over MaxLength did not close the connection")
	}
	tr.FakeLoop().RunPending()
	wantEvents(t, h.events, "string:ok", "lost:[length-limit done]")
}

func TestIntStringReceiverLengthHookThenLongStringIsSkipped(t *testing.T) {
	h := &stringRecHook{}
	r := basic.NewInt8StringReceiver(h)
	r.MaxLength = 2
	tr := reactortest.Connect(r)
	feed(r, "\x05ab", "cde\x02ok")
	wantEvents(t, h.events, "long:5", "string:ok")
	if tr.Disconnecting() {
		t.Fatal("closed although the hook did not")
	}
}

func TestIntStringReceiverSendStringRefusesWhatThePrefixCannotHold(t *testing.T) {
	for _, c := range []struct {
		prefix, fits int
	}{{1, 255}, {2, 65535}} {
		r := newIntStringReceiver(c.prefix, &stringRec{})
		tr := reactortest.Connect(r)
		if err := r.SendString(make([]byte, c.fits+1)); !errors.Is(err, basic.ErrStringTooLong) {
			t.Fatalf("prefix %d, %d bytes: %v, want ErrStringTooLong", c.prefix, c.fits+1, err)
		}
		if tr.BufferedAmount() != 0 {
			t.Fatal("a refused string was written")
		}
		if err := r.SendString(make([]byte, c.fits)); err != nil {
			t.Fatalf("prefix %d, %d bytes: %v", c.prefix, c.fits, err)
		}
		if tr.BufferedAmount() != c.prefix+c.fits {
			t.Fatalf("wrote %d bytes, want %d", tr.BufferedAmount(), c.prefix+c.fits)
		}
	}
}

// echoStrings echoes each string back, upper-cased.
type echoStrings struct{}

func (echoStrings) StringReceived(r *basic.IntStringReceiver, s []byte) {
	r.SendString([]byte(strings.ToUpper(string(s))))
}

func TestIntStringReceiverRoundTripThroughPair(t *testing.T) {
	client := &stringRec{}
	cr := basic.NewInt32StringReceiver(client)
	p := reactortest.ConnectedPair(basic.NewInt32StringReceiver(echoStrings{}), cr)
	cr.SendString([]byte("ping"))
	cr.SendString([]byte(""))
	p.Flush()
	wantEvents(t, client.events, "string:PING", "string:")
}

func TestIntStringReceiverPauseKeepsRestUntilResume(t *testing.T) {
	h := &stringRec{}
	r := basic.NewInt8StringReceiver(h)
	tr := reactortest.Connect(r)
	feed(r, "\x05PAUSE\x01a\x01b")
	wantEvents(t, h.events, "string:PAUSE")
	tr.FakeLoop().RunPending()
	wantEvents(t, h.events, "string:PAUSE", "string:a", "string:b")
}
