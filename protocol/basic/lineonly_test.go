package basic_test

import (
	"testing"

	"github.com/mustaine/mustaine/protocol/basic"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

func connectLineOnly(h basic.LineHandler[*basic.LineOnlyReceiver], delim string, max int) (*basic.LineOnlyReceiver, *reactortest.Transport) {
	r := basic.NewLineOnlyReceiver(h)
	r.Delimiter = []byte(delim)
	r.MaxLength = max
	return r, reactortest.Connect(r)
}

func TestLineOnlyReceiverDeliversLinesAndKeepsTail(t *testing.T) {
	h := &lineOnlyRec{}
	r, _ := connectLineOnly(h, "\n", 0)
	feed(r, "a\nb", "c\n\nd")
	wantEvents(t, h.events, "line:a", "line:bc", "line:")
}

func TestLineOnlyReceiverLineOfExactlyMaxLengthIsDelivered(t *testing.T) {
	h := &lineOnlyRec{}
	r, tr := connectLineOnly(h, "\r\n", 3)
	feed(r, "abc\r\n")
	wantEvents(t, h.events, "line:abc")
	if tr.Disconnecting() {
		t.Fatal("closed")
	}
}

func TestLineOnlyReceiverLineOverMaxLengthClosesWithErrLineTooLong(t *testing.T) {
	h := &lineOnlyRec{}
	r, tr := connectLineOnly(h, "\r\n", 3)
	feed(r, "abcd\r\nnever\r\n")
	tr.FakeLoop().RunPending()
	wantEvents(t, h.events, "lost:[line-too-long done]")
}

func TestLineOnlyReceiverKeepsMaxLengthLineWithPartialDelimiter(t *testing.T) {
	// Twisted's LineOnlyReceiver refuses "abc\r" with MAX_LENGTH 3 (its
	// buffer exceeds MAX_LENGTH); this one waits, like LineReceiver.
	h := &lineOnlyRec{}
	r, tr := connectLineOnly(h, "\r\n", 3)
	feed(r, "abc\r")
	if tr.Disconnecting() {
		t.Fatal("a line of MaxLength with half its delimiter was refused")
	}
	feed(r, "\n")
	wantEvents(t, h.events, "line:abc")
	feed(r, "abcd\r")
	if !tr.Disconnecting() {
		t.Fatal("MaxLength+len(delimiter) unterminated bytes were kept")
	}
}

func TestLineOnlyReceiverLengthHookSkipsLongLine(t *testing.T) {
	h := &lineOnlyRecHook{}
	r, tr := connectLineOnly(h, "\n", 2)
	feed(r, "abcdef", "gh\nok\n")
	wantEvents(t, h.events, "long:abc", "line:ok")
	if tr.Disconnecting() {
		t.Fatal("closed although the hook did not")
	}
}

func TestLineOnlyReceiverSendLineAndClose(t *testing.T) {
	h := &lineOnlyRec{}
	r, tr := connectLineOnly(h, "\n", 0)
	if err := r.SendLine([]byte("hi")); err != nil || tr.String() != "hi\n" {
		t.Fatalf("SendLine: %v, wrote %q", err, tr.String())
	}
	feed(r, "x\nCLOSE\ny\n")
	tr.FakeLoop().RunPending()
	wantEvents(t, h.events, "line:x", "line:CLOSE", "lost:[done]")
}

func TestLineOnlyReceiverClearLineBufferReturnsTail(t *testing.T) {
	h := &lineOnlyRec{}
	r, _ := connectLineOnly(h, "\n", 0)
	feed(r, "a\nbc")
	if got := string(r.ClearLineBuffer()); got != "bc" {
		t.Fatalf("cleared %q", got)
	}
	feed(r, "d\n")
	wantEvents(t, h.events, "line:a", "line:d")
}

// onlySwitcher changes the delimiter and MaxLength after the first line.
type onlySwitcher struct{ lineOnlyRecHook }

func (s *onlySwitcher) LineReceived(r *basic.LineOnlyReceiver, line []byte) {
	s.add("line", line)
	r.Delimiter = []byte(";")
	r.MaxLength = 3
}

func TestLineOnlyReceiverSettingsChangeAppliesToNextLineHoweverCut(t *testing.T) {
	// As with LineReceiver, and unlike Twisted's LineOnlyReceiver (which
	// splits each read once), so that the lines do not depend on the reads.
	const stream = "a\nb;c\nd;wxyz;ok;"
	for _, chunks := range [][][]byte{{[]byte(stream)}, bytewise([]byte(stream)), pieces([]byte(stream), 4)} {
		s := &onlySwitcher{}
		r, _ := connectLineOnly(s, "\n", 10)
		for _, c := range chunks {
			r.DataReceived(c)
		}
		wantEvents(t, s.events, "line:a", "line:b", "line:c\nd", "long:wxyz", "line:ok")
	}
}
