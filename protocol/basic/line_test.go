package basic_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/basic"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// connectLines connects a LineReceiver for h, with MaxLength max and
// delimiter delim (zero values keep the defaults).
func connectLines(h basic.LineHandler[*basic.LineReceiver], delim string, max int) (*basic.LineReceiver, *reactortest.Transport) {
	r := basic.NewLineReceiver(h)
	r.Delimiter = []byte(delim)
	r.MaxLength = max
	return r, reactortest.Connect(r)
}

// feed delivers s in one read.
func feed(p protocol.Protocol, parts ...string) {
	for _, s := range parts {
		p.DataReceived([]byte(s))
	}
}

func wantEvents(t *testing.T, got []string, want ...string) {
	t.Helper()
	if err := sameEvents(want, got); err != nil {
		t.Fatal(err)
	}
}

func TestLineReceiverDeliversEachLineWithoutItsDelimiter(t *testing.T) {
	h := &lineRec{}
	r, _ := connectLines(h, "", 0)
	feed(r, "hello\r\n\r\nwor", "ld\r", "\nrest")
	wantEvents(t, h.events, "line:hello", "line:", "line:world")
}

func TestLineReceiverZeroValuesMeanCRLFAnd16384(t *testing.T) {
	h := &lineRec{}
	r, tr := connectLines(h, "", 0)
	feed(r, strings.Repeat("x", basic.DefaultMaxLineLength)+"\r\n")
	if len(h.events) != 1 || len(h.events[0]) != len("line:")+basic.DefaultMaxLineLength {
		t.Fatalf("a line of DefaultMaxLineLength was not delivered whole: %d events", len(h.events))
	}
	feed(r, strings.Repeat("x", basic.DefaultMaxLineLength+1)+"\r\n")
	if !tr.Disconnecting() {
		t.Fatal("a line of DefaultMaxLineLength+1 was accepted")
	}
}

func TestLineReceiverLineOfExactlyMaxLengthIsDelivered(t *testing.T) {
	h := &lineRec{}
	r, tr := connectLines(h, "\r\n", 4)
	feed(r, "xxxx\r\nyyyy\r\n")
	wantEvents(t, h.events, "line:xxxx", "line:yyyy")
	if tr.Disconnecting() {
		t.Fatal("connection closed for lines of exactly MaxLength")
	}
}

func TestLineReceiverLineOverMaxLengthClosesWithErrLineTooLong(t *testing.T) {
	h := &lineRec{}
	r, tr := connectLines(h, "\r\n", 4)
	feed(r, "ok\r\nxxxxx\r\nnever\r\n")
	if !tr.Disconnecting() {
		t.Fatal("a line of MaxLength+1 did not close the connection")
	}
	tr.FakeLoop().RunPending()
	wantEvents(t, h.events, "line:ok", "lost:[line-too-long done]")
}

func TestLineReceiverUnterminatedBufferBelowMaxLengthPlusDelimiterWaits(t *testing.T) {
	// "xxxx\r" may still be a line of exactly MaxLength: Twisted's
	// test_notQuiteMaximumLineLengthUnfinished.
	h := &lineRec{}
	r, tr := connectLines(h, "\r\n", 4)
	feed(r, "xxxx\r")
	if tr.Disconnecting() {
		t.Fatal("MaxLength+len(delimiter)-1 unterminated bytes closed the connection")
	}
	feed(r, "\n")
	wantEvents(t, h.events, "line:xxxx")
}

func TestLineReceiverUnterminatedBufferOfMaxLengthPlusDelimiterIsRefused(t *testing.T) {
	h := &lineRec{}
	r, tr := connectLines(h, "\r\n", 4)
	feed(r, "xxxx\r")
	feed(r, "x")
	if !tr.Disconnecting() {
		t.Fatal("MaxLength+len(delimiter) unterminated bytes did not close the connection")
	}
	tr.FakeLoop().RunPending()
	wantEvents(t, h.events, "lost:[line-too-long done]")
}

func TestLineReceiverLineOfMaxLengthWithDelimiterSplitAcrossReads(t *testing.T) {
	// Twisted's test_maximumLineLengthPartialDelimiter.
	h := &lineRec{}
	r, tr := connectLines(h, "\r\n", 4)
	feed(r, "xxx", "\r", "\nxxx")
	if tr.Disconnecting() {
		t.Fatal("connection closed")
	}
	wantEvents(t, h.events, "line:xxx")
}

func TestLineReceiverLengthHookGetsHeadThenRestOfLineIsSkipped(t *testing.T) {
	for _, reads := range [][]string{
		{"a\r\n0123456789\r\nb\r\n"},
		{"a\r\n01234", "56", "789\r", "\nb\r\n"},
	} {
		h := &lineRecHook{}
		r, tr := connectLines(h, "\r\n", 4)
		feed(r, reads...)
		wantEvents(t, h.events, "line:a", "long:01234", "line:b")
		if tr.Disconnecting() {
			t.Fatal("the framer closed although the hook did not")
		}
	}
}

func TestLineReceiverSetRawModeSendsRestOfReadRaw(t *testing.T) {
	h := &lineRec{}
	r, _ := connectLines(h, "\n", 0)
	feed(r, "head\nRAW 7\nabc\ndefgh\ntail\n")
	wantEvents(t, h.events, "line:head", "line:RAW 7", "raw:abc\ndef", "line:gh", "line:tail")
}

// modeFlipper switches to raw mode after each line and back after each
// byte, as in Twisted's test_stackRecursion.
type modeFlipper struct{ lines, raw int }

func (f *modeFlipper) LineReceived(r *basic.LineReceiver, line []byte) {
	f.lines++
	r.SetRawMode()
}

func (f *modeFlipper) RawDataReceived(r *basic.LineReceiver, data []byte) {
	f.raw++
	r.SetLineMode(data[1:])
}

func TestLineReceiverManyModeSwitchesInOneReadDoNotNest(t *testing.T) {
	f := &modeFlipper{}
	r, _ := connectLines(f, "\n", 0)
	const n = 100000
	feed(r, strings.Repeat("x\nx", n))
	if f.lines != n || f.raw != n {
		t.Fatalf("got %d lines and %d raw calls, want %d each", f.lines, f.raw, n)
	}
}

func TestLineReceiverSetLineModeOutsideCallbackParsesKeptInput(t *testing.T) {
	h := &lineRec{rawLeft: 1 << 30}
	r, _ := connectLines(h, "\n", 0)
	r.SetRawMode()
	feed(r, "abc")
	h.rawLeft = 0
	r.SetLineMode([]byte("x\ny"))
	feed(r, "z\n")
	wantEvents(t, h.events, "raw:abc", "line:x", "line:yz")
}

func TestLineReceiverPauseReadingStopsDeliveryUntilResume(t *testing.T) {
	// Twisted's test_pausing: every packet size, resumed by the loop.
	data := "twiddle1\ntwiddle2\nPAUSE\ntwiddle3\n"
	for size := 1; size < 10; size++ {
		h := &lineRec{}
		r, tr := connectLines(h, "\n", 0)
		for i := 0; i < len(data); i += size {
			feed(r, data[i:min(i+size, len(data))])
		}
		wantEvents(t, h.events, "line:twiddle1", "line:twiddle2", "line:PAUSE")
		if !tr.ReadingPaused() {
			t.Fatal("the transport was not paused")
		}
		tr.FakeLoop().Advance(0)
		wantEvents(t, h.events, "line:twiddle1", "line:twiddle2", "line:PAUSE", "line:twiddle3")
	}
}

func TestLineReceiverLoseConnectionStopsDeliveryAtOnce(t *testing.T) {
	// Twisted's test_stopProducing.
	data := "twiddle1\ntwiddle2\nCLOSE\nmore\nstuff\n"
	for size := 1; size < 10; size++ {
		h := &lineRec{}
		r, tr := connectLines(h, "\n", 0)
		for i := 0; i < len(data); i += size {
			feed(r, data[i:min(i+size, len(data))])
		}
		tr.FakeLoop().RunPending()
		wantEvents(t, h.events, "line:twiddle1", "line:twiddle2", "line:CLOSE", "lost:[done]")
	}
}

// clearer calls ClearLineBuffer from LineReceived.
type clearer struct {
	lines []string
	rest  []byte
}

func (c *clearer) LineReceived(r *basic.LineReceiver, line []byte) {
	c.lines = append(c.lines, string(line))
	c.rest = r.ClearLineBuffer()
}

func TestLineReceiverClearLineBufferReturnsAndDropsRestOfInput(t *testing.T) {
	// Twisted's test_clearLineBuffer.
	c := &clearer{}
	r, _ := connectLines(c, "", 0)
	feed(r, "foo\r\nbar\r\nbaz")
	if !slices.Equal(c.lines, []string{"foo"}) || string(c.rest) != "bar\r\nbaz" {
		t.Fatalf("lines %q, cleared %q", c.lines, c.rest)
	}
	feed(r, "quux\r\n")
	if !slices.Equal(c.lines, []string{"foo", "quux"}) || len(c.rest) != 0 {
		t.Fatalf("after clearing: lines %q, cleared %q", c.lines, c.rest)
	}
}

// nester feeds the receiver more input from inside LineReceived.
type nester struct{ recorder }

func (n *nester) LineReceived(r *basic.LineReceiver, line []byte) {
	n.add("line", line)
	if string(line) == "a" {
		r.DataReceived([]byte("nested\n"))
	}
}

func TestLineReceiverNestedDataReceivedIsParsedAfterCurrentInput(t *testing.T) {
	n := &nester{}
	r, _ := connectLines(n, "\n", 0)
	feed(r, "a\nb\nc")
	wantEvents(t, n.events, "line:a", "line:b", "line:cnested")
}

// switcher changes the delimiter after the first line.
type switcher struct{ recorder }

func (s *switcher) LineReceived(r *basic.LineReceiver, line []byte) {
	s.add("line", line)
	r.Delimiter = []byte(";")
}

func TestLineReceiverDelimiterChangeAppliesToNextLine(t *testing.T) {
	s := &switcher{}
	r, _ := connectLines(s, "\n", 0)
	feed(r, "a\nb;c\nd;")
	wantEvents(t, s.events, "line:a", "line:b", "line:c\nd")
}

func TestLineReceiverSendLineAppendsDelimiter(t *testing.T) {
	r := basic.NewLineReceiver(&lineRec{})
	if err := r.SendLine([]byte("x")); !errors.Is(err, basic.ErrNotConnected) {
		t.Fatalf("SendLine before ConnectionMade: %v, want ErrNotConnected", err)
	}
	r.Delimiter = []byte("\n")
	tr := reactortest.Connect(r)
	if err := r.SendLine([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got := tr.String(); got != "hello\n" {
		t.Fatalf("wrote %q", got)
	}
	r.Transport().LoseConnection()
	if err := r.SendLine([]byte("late")); !errors.Is(err, protocol.ErrClosed) {
		t.Fatalf("SendLine after LoseConnection: %v, want ErrClosed", err)
	}
}

func TestLineReceiverSetRawModeWithoutRawHandlerPanics(t *testing.T) {
	r := basic.NewLineReceiver(basic.LineFunc[*basic.LineReceiver](func(*basic.LineReceiver, []byte) {}))
	defer func() {
		if recover() == nil {
			t.Fatal("SetRawMode did not panic")
		}
	}()
	r.SetRawMode()
}

func TestLineReceiverTransportUnwrapsToConnectionTransport(t *testing.T) {
	r, tr := connectLines(&lineRec{}, "", 0)
	u, ok := r.Transport().(interface{ Unwrap() protocol.Transport })
	if !ok || u.Unwrap() != tr {
		t.Fatal("Transport() does not unwrap to the connection's transport")
	}
}

func TestLineReceiverAbortStopsDeliveryAndReportsAborted(t *testing.T) {
	h := basic.LineFunc[*basic.LineReceiver](func(r *basic.LineReceiver, line []byte) {
		if string(line) == "stop" {
			r.Transport().AbortConnection()
		}
		if string(line) == "never" {
			panic("line delivered after AbortConnection")
		}
	})
	r, tr := connectLines(h, "\n", 0)
	feed(r, "stop\nnever\n")
	if !tr.Aborted() {
		t.Fatal("not aborted")
	}
	tr.FakeLoop().RunPending()
	if _, reason := tr.Lost(); !errors.Is(reason, protocol.ErrAborted) {
		t.Fatalf("reason %v", reason)
	}
}

func TestLineReceiverSteadyStateAllocatesNothing(t *testing.T) {
	var n int
	h := basic.LineFunc[*basic.LineReceiver](func(*basic.LineReceiver, []byte) { n++ })
	r, _ := connectLines(h, "", 0)
	line := bytes.Repeat([]byte("y"), 62)
	line = append(line, "\r\n"...)
	data := bytes.Repeat(line, 100)
	// Reads cut lines in two, so the tail copy is exercised too.
	a, b := data[:len(data)-37], data[len(data)-37:]
	feed(r, string(data))
	allocs := testing.AllocsPerRun(100, func() {
		r.DataReceived(a)
		r.DataReceived(b)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
	if n == 0 {
		t.Fatal("no line delivered")
	}
}
