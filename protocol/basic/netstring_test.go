package basic_test

import (
	"testing"

	"github.com/mustaine/mustaine/protocol/basic"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

func connectNetstring(max int) (*netstringRec, *basic.NetstringReceiver, *reactortest.Transport) {
	h := &netstringRec{}
	r := basic.NewNetstringReceiver(h)
	r.MaxLength = max
	return h, r, reactortest.Connect(r)
}

func TestNetstringReceiverDeliversStrings(t *testing.T) {
	h, r, _ := connectNetstring(0)
	feed(r, "0:,1:a,", "2:bc,10:", "3:abc,1:x,", ",5:hel")
	wantEvents(t, h.events, "string:", "string:a", "string:bc", "string:3:abc,1:x,")
}

func TestNetstringReceiverMalformedInputClosesWithErrBadNetstring(t *testing.T) {
	for _, in := range []string{
		":abc,",    // missing number
		"3abc,",    // missing colon
		"abc",      // only data
		"01:a,",    // leading zero
		"3:12345,", // more data than announced
		"3:abc;",   // missing comma
		"-1:a,",    // not a digit
	} {
		h, r, tr := connectNetstring(0)
		feed(r, in+"1:a,")
		tr.FakeLoop().RunPending()
		wantEvents(t, h.events, "lost:[bad-netstring done]")
	}
}

func TestNetstringReceiverStringOfExactlyMaxLengthIsDelivered(t *testing.T) {
	h, r, tr := connectNetstring(10)
	feed(r, "10:0123456789,")
	wantEvents(t, h.events, "string:0123456789")
	if tr.Disconnecting() {
		t.Fatal("closed")
	}
}

func TestNetstringReceiverRefusesLengthOverMaxLengthFromItsDigits(t *testing.T) {
	h, r, tr := connectNetstring(10)
	feed(r, "11") // the colon has not even arrived
	if !tr.Disconnecting() {
		t.Fatal("a length over MaxLength did not close the connection")
	}
	tr.FakeLoop().RunPending()
	wantEvents(t, h.events, "lost:[length-limit done]")
}

func TestNetstringReceiverHugeLengthDoesNotOverflow(t *testing.T) {
	h, r, tr := connectNetstring(1 << 62)
	feed(r, "99999999999999999999999999:")
	tr.FakeLoop().RunPending()
	wantEvents(t, h.events, "lost:[length-limit done]")
}

func TestNetstringReceiverSendStringFormats(t *testing.T) {
	_, r, tr := connectNetstring(0)
	r.SendString([]byte("hello"))
	r.SendString(nil)
	if got := tr.String(); got != "5:hello,0:," {
		t.Fatalf("wrote %q", got)
	}
}
