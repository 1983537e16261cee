package basic_test

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/basic"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// The harness runs a framer over a byte stream cut into chunks and records
// what its handler saw, as strings, so that runs over different cuts can be
// compared.

// split cuts data into chunks: each byte of cuts sizes the next chunk
// (possibly empty), and what is left is the last chunk.
func split(data, cuts []byte) [][]byte {
	var chunks [][]byte
	for _, c := range cuts {
		n := int(c) % (len(data) + 1)
		chunks = append(chunks, data[:n])
		data = data[n:]
	}
	return append(chunks, data)
}

// run connects p to an in-memory transport, feeds it the chunks and lets
// the loop run after each, then ends the connection if p did not, and
// returns the transport. Each chunk is fed from a private copy that is
// overwritten once DataReceived returns, so a framer that kept a reference
// to its input would deliver garbage and fail the comparison.
func run(p protocol.Protocol, chunks [][]byte) *reactortest.Transport {
	tr := reactortest.Connect(p)
	for _, c := range chunks {
		b := bytes.Clone(c)
		p.DataReceived(b)
		for i := range b {
			b[i] = 0xEE
		}
		tr.FakeLoop().RunPending()
	}
	tr.Disconnect(protocol.ErrPeerClosed)
	return tr
}

// recorder collects events. Raw data is recorded as it comes and compared
// merged (see sameEvents), since how raw data is cut is not part of the
// framing.
type recorder struct {
	events []string
}

func (r *recorder) add(kind string, data []byte) {
	r.events = append(r.events, kind+":"+string(data))
}

// addRaw records raw data as an event of its own; sameEvents merges
// adjacent raw events before comparing (merging here, by appending to the
// last event, would make a long raw section fed in small reads quadratic).
func (r *recorder) addRaw(data []byte) {
	if len(data) > 0 {
		r.add("raw", data)
	}
}

func (r *recorder) lost(reason error) {
	r.events = append(r.events, "lost:"+classify(reason))
}

// classify names the sentinels a reason matches.
func classify(reason error) string {
	var names []string
	for _, e := range []struct {
		err  error
		name string
	}{
		{basic.ErrLineTooLong, "line-too-long"},
		{basic.ErrLengthLimitExceeded, "length-limit"},
		{basic.ErrBadNetstring, "bad-netstring"},
		{protocol.ErrConnectionDone, "done"},
		{protocol.ErrPeerClosed, "peer-closed"},
		{protocol.ErrAborted, "aborted"},
	} {
		if errors.Is(reason, e.err) {
			names = append(names, e.name)
		}
	}
	return fmt.Sprint(names)
}

// command runs the test protocol's in-band commands, shared by the line
// handlers: "PAUSE" pauses reading until the next turn of the loop,
// "CLOSE" closes the connection.
func command(t protocol.Transport, line []byte) {
	switch string(line) {
	case "PAUSE":
		t.PauseReading()
		t.Loop().CallSoon(t.ResumeReading)
	case "CLOSE":
		t.LoseConnection()
	}
}

// setting parses the line handlers' setting commands: "MAX n" (n from 1
// to 64) sets MaxLength to n and "DLM k" (k from 0 to 3) sets Delimiter to
// delimiters[k], from the next line on. It returns the new MaxLength, or 0
// and the new delimiter, and reports whether line is such a command.
func setting(line []byte) (max int, delim string, ok bool) {
	if n, found := bytes.CutPrefix(line, []byte("MAX ")); found {
		if k, err := strconv.Atoi(string(n)); err == nil && k >= 1 && k <= 64 {
			return k, "", true
		}
	}
	if n, found := bytes.CutPrefix(line, []byte("DLM ")); found && len(n) == 1 && n[0] >= '0' && n[0] <= '3' {
		return 0, delimiters[n[0]-'0'], true
	}
	return 0, "", false
}

// applySetting carries out line if it is a setting command.
func applySetting(line []byte, maxLength *int, delimiter *[]byte) {
	if max, delim, ok := setting(line); ok && max > 0 {
		*maxLength = max
	} else if ok {
		*delimiter = []byte(delim)
	}
}

// lineRec handles a LineReceiver: besides the commands and the settings,
// "RAW n" switches to raw mode for the next n bytes, then back to line mode
// with whatever follows them.
type lineRec struct {
	recorder
	rawLeft int
}

func (h *lineRec) LineReceived(r *basic.LineReceiver, line []byte) {
	h.add("line", line)
	if n, ok := bytes.CutPrefix(line, []byte("RAW ")); ok {
		if k, err := strconv.Atoi(string(n)); err == nil && k > 0 {
			h.rawLeft = k
			r.SetRawMode()
		}
		return
	}
	command(r.Transport(), line)
	applySetting(line, &r.MaxLength, &r.Delimiter)
}

func (h *lineRec) RawDataReceived(r *basic.LineReceiver, data []byte) {
	n := min(len(data), h.rawLeft)
	h.addRaw(data[:n])
	h.rawLeft -= n
	if h.rawLeft == 0 {
		r.SetLineMode(data[n:])
	}
}

func (h *lineRec) ConnectionLost(_ *basic.LineReceiver, reason error) { h.lost(reason) }

// lineRecHook is lineRec with a LineLengthExceeded hook that records the
// refused line's head and closes the connection only if closeOnLong.
type lineRecHook struct {
	lineRec
	closeOnLong bool
}

func (h *lineRecHook) LineLengthExceeded(r *basic.LineReceiver, line []byte) {
	h.add("long", line)
	if h.closeOnLong {
		r.Transport().LoseConnection()
	}
}

// lineOnlyRec handles a LineOnlyReceiver: the commands and the settings.
type lineOnlyRec struct {
	recorder
	closeOnLong bool
}

func (h *lineOnlyRec) LineReceived(r *basic.LineOnlyReceiver, line []byte) {
	h.add("line", line)
	command(r.Transport(), line)
	applySetting(line, &r.MaxLength, &r.Delimiter)
}

func (h *lineOnlyRec) ConnectionLost(_ *basic.LineOnlyReceiver, reason error) { h.lost(reason) }

// lineOnlyRecHook adds a LineLengthExceeded hook.
type lineOnlyRecHook struct{ lineOnlyRec }

func (h *lineOnlyRecHook) LineLengthExceeded(r *basic.LineOnlyReceiver, line []byte) {
	h.add("long", line)
	if h.closeOnLong {
		r.Transport().LoseConnection()
	}
}

// stringRecOf handles a string receiver F: a string "PAUSE" or "CLOSE" is
// a command.
type stringRecOf[F interface{ Transport() protocol.Transport }] struct {
	recorder
}

func (h *stringRecOf[F]) StringReceived(r F, s []byte) {
	h.add("string", s)
	command(r.Transport(), s)
}

func (h *stringRecOf[F]) ConnectionLost(_ F, reason error) { h.lost(reason) }

type (
	stringRec    = stringRecOf[*basic.IntStringReceiver]
	netstringRec = stringRecOf[*basic.NetstringReceiver]
)

// stringRecHook adds a LengthLimitExceeded hook.
type stringRecHook struct {
	stringRec
	closeOnLong bool
}

func (h *stringRecHook) LengthLimitExceeded(r *basic.IntStringReceiver, length uint64) {
	h.add("long", []byte(strconv.FormatUint(length, 10)))
	if h.closeOnLong {
		r.Transport().LoseConnection()
	}
}
