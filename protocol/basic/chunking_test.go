package basic_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The property every framer must have: however the same byte stream is cut
// into reads, the handler sees exactly the same messages in the same order
// (raw data compared as one stream), the same refusals and the same close.
// Each test generates streams rich in edge cases (lengths around MaxLength,
// delimiters split across reads, mode switches, pauses, closes), runs each
// over one read, over one-byte reads and over random cuts, and compares.
// The line framers' events in one read are also checked against lineModel,
// their documented behaviour, and TestLineReceiversChunkingTable spells that
// behaviour out for named streams.

const (
	streams = 150 // streams per configuration
	cutsPer = 8   // random cuttings per stream
)

func randomCuts(rng *rand.Rand, n int) []byte {
	cuts := make([]byte, rng.IntN(n+1))
	for i := range cuts {
		cuts[i] = byte(rng.IntN(256))
	}
	return cuts
}

// lineStream builds a stream of lines whose lengths crowd around max, with
// commands, settings, raw sections (if raw) and an unterminated tail.
func lineStream(rng *rand.Rand, c lineConfig, raw bool) []byte {
	var b []byte
	d := len(c.delim)
	for range rng.IntN(12) {
		switch k := rng.IntN(20); {
		case k == 0:
			b = append(b, "PAUSE"...)
		case k == 1 && rng.IntN(4) == 0:
			b = append(b, "CLOSE"...)
		case k == 3:
			n := 1 + rng.IntN(2*c.max)
			b = append(b, "MAX "+strconv.Itoa(n)+c.delim...)
			c.max = n
			continue
		case k == 4:
			k := rng.IntN(len(delimiters))
			b = append(b, "DLM "+strconv.Itoa(k)+c.delim...)
			c.delim = delimiters[k]
			d = len(c.delim)
			continue
		case k == 2 && raw:
			n := 1 + rng.IntN(2*c.max+d)
			b = append(b, "RAW "+strconv.Itoa(n)+c.delim...)
			for range n {
				b = append(b, "ab\r\nx"[rng.IntN(5)])
			}
			continue
		default:
			n := max(0, c.max+rng.IntN(2*d+3)-d-1)
			if rng.IntN(3) == 0 {
				n = rng.IntN(3 * c.max)
			}
			for range n {
				b = append(b, "abc\r\n"[rng.IntN(5)])
			}
		}
		b = append(b, c.delim...)
	}
	for range rng.IntN(c.max + 2*d) {
		b = append(b, "ab\r\n"[rng.IntN(4)])
	}
	return b
}

func checkCuts(t *testing.T, name string, data []byte, rng *rand.Rand, runOne func([][]byte) ([]string, error)) {
	t.Helper()
	want, err := runOne([][]byte{data})
	if err != nil {
		t.Fatalf("%s, one read, stream %q: %v", name, data, err)
	}
	cuttings := [][][]byte{bytewise(data)}
	for range cutsPer {
		cuttings = append(cuttings, split(data, randomCuts(rng, 8)))
	}
	for _, chunks := range cuttings {
		got, err := runOne(chunks)
		if err == nil {
			err = sameEvents(want, got)
		}
		if err != nil {
			t.Fatalf("%s, stream %q cut as %q: %v", name, data, chunks, err)
		}
	}
}

// checkLineCuts runs checkCuts for a line framer over every delimiter,
// a few MaxLengths and every hook mode; raw says whether streams may switch
// to raw mode.
func checkLineCuts(t *testing.T, rng *rand.Rand, raw bool, runOne func(lineConfig, [][]byte) ([]string, error)) {
	t.Helper()
	for _, delim := range delimiters {
		for _, maxLen := range []int{1, 2, 5, 16} {
			for hook := noHook; hook <= hookGoOn; hook++ {
				c := lineConfig{delim, maxLen, hook}
				for range streams {
					data := lineStream(rng, c, raw)
					got, err := runOne(c, [][]byte{data})
					if err == nil {
						err = sameEvents(lineModel(c, data, raw), got)
					}
					if err != nil {
						t.Fatalf("%v, stream %q in one read, against the documented behaviour: %v", c, data, err)
					}
					checkCuts(t, c.String(), data, rng, func(chunks [][]byte) ([]string, error) { return runOne(c, chunks) })
				}
			}
		}
	}
}

func TestLineReceiverChunkBoundaryInvariance(t *testing.T) {
	checkLineCuts(t, rand.New(rand.NewPCG(1, 2)), true, runLine)
}

func TestLineOnlyReceiverChunkBoundaryInvariance(t *testing.T) {
	checkLineCuts(t, rand.New(rand.NewPCG(3, 4)), false, runLineOnly)
}

// commandOrString returns the message of a string stream: "PAUSE" or
// "CLOSE" one time in ten each, else limit-2 to limit+2 bytes (at least
// none) drawn by pick.
func commandOrString(rng *rand.Rand, limit int, pick func() byte) []byte {
	switch rng.IntN(10) {
	case 0:
		return []byte("PAUSE")
	case 1:
		return []byte("CLOSE")
	}
	s := make([]byte, max(0, limit+rng.IntN(5)-2))
	for i := range s {
		s[i] = pick()
	}
	return s
}

// intStringStream builds prefixed strings whose lengths crowd around max,
// and may end with a partial one.
func intStringStream(rng *rand.Rand, c stringConfig) []byte {
	var b []byte
	limit := c.max
	for range rng.IntN(10) {
		s := commandOrString(rng, limit, func() byte { return byte(rng.IntN(256)) })
		b = appendPrefix(b, c.prefix, len(s))
		b = append(b, s...)
	}
	if rng.IntN(2) == 0 {
		b = appendPrefix(b, c.prefix, rng.IntN(limit+2))
		b = append(b, "partial"[:rng.IntN(8)]...)
	}
	return b
}

func appendPrefix(b []byte, prefix, n int) []byte {
	switch prefix {
	case 1:
		return append(b, byte(n))
	case 2:
		return binary.BigEndian.AppendUint16(b, uint16(n))
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func TestIntStringReceiverChunkBoundaryInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, prefix := range []int{1, 2, 4} {
		for _, maxLen := range []int{1, 3, 10} {
			for hook := noHook; hook <= hookGoOn; hook++ {
				c := stringConfig{prefix, maxLen, hook}
				for range streams {
					data := intStringStream(rng, c)
					checkCuts(t, c.String(), data, rng, func(chunks [][]byte) ([]string, error) { return runIntString(c, chunks) })
				}
			}
		}
	}
}

// netstringStream builds netstrings whose lengths crowd around max, with an
// occasional defect (leading zero, missing comma, bad digit) and a partial
// tail.
func netstringStream(rng *rand.Rand, limit int) []byte {
	var b []byte
	for range rng.IntN(10) {
		s := commandOrString(rng, limit, func() byte { return ":,0123456789ab"[rng.IntN(14)] })
		head := strconv.Itoa(len(s))
		switch rng.IntN(30) {
		case 0:
			head = "0" + head
		case 1:
			head += "x"
		case 2:
			head = ""
		}
		b = append(b, head+":"...)
		b = append(b, s...)
		if rng.IntN(30) == 0 {
			b = append(b, ';')
		} else {
			b = append(b, ',')
		}
	}
	return append(b, "12:abc"[:rng.IntN(7)]...)
}

func TestNetstringReceiverChunkBoundaryInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, maxLen := range []int{1, 3, 10, 120} {
		for range streams {
			data := netstringStream(rng, maxLen)
			checkCuts(t, "max="+strconv.Itoa(maxLen), data, rng, func(chunks [][]byte) ([]string, error) { return runNetstring(maxLen, chunks) })
		}
	}
}

// lineModel is the documented behaviour of LineReceiver (raw true) and
// LineOnlyReceiver (raw false), driven by the test handlers' commands,
// written as plainly as possible over the whole stream at once: the events
// every cutting of data must produce. It is the reference the property
// tests and the fuzz targets check the framers against.
//
//   - A line of up to MaxLength bytes is delivered; a longer one is refused
//     with its first MaxLength+1 bytes, and so is an unterminated tail of
//     MaxLength+len(Delimiter) bytes or more.
//   - Refusing, the framer closes (ErrLineTooLong) if there is no hook;
//     hookThenClose records the head and closes; hookGoOn records the head,
//     skips the rest of that line up to and including its delimiter, and
//     goes on.
//   - "RAW n" (LineReceiver only) hands the next n bytes to
//     RawDataReceived, then goes back to line mode with what follows them;
//     "CLOSE" closes; "PAUSE" changes nothing that the handler sees.
//   - "MAX n" and "DLM k" change MaxLength and Delimiter from the next line
//     on (see setting).
func lineModel(c lineConfig, data []byte, raw bool) []string {
	var events []string
	delim := []byte(c.delim)
	skipping := false
	rawLeft := 0
	// refuse handles a refused line's head and reports why the
	// connection was closed, or "" if the framer goes on.
	refuse := func(head []byte) string {
		switch c.hook {
		case noHook:
			return "[line-too-long done]"
		case hookThenClose:
			events = append(events, "long:"+string(head))
			return "[done]"
		}
		events = append(events, "long:"+string(head))
		return ""
	}
	for {
		if rawLeft > 0 {
			n := min(rawLeft, len(data))
			if n > 0 {
				events = append(events, "raw:"+string(data[:n]))
			}
			data, rawLeft = data[n:], rawLeft-n
			if rawLeft > 0 {
				break
			}
			continue
		}
		i := bytes.Index(data, delim)
		if i < 0 {
			if skipping || len(data) < c.max+len(delim) {
				break
			}
			head := data[:c.max+1]
			data, skipping = data[c.max+1:], true
			if lost := refuse(head); lost != "" {
				return append(events, "lost:"+lost)
			}
			continue
		}
		line := data[:i]
		data = data[i+len(delim):]
		if skipping {
			skipping = false
			continue
		}
		if len(line) > c.max {
			if lost := refuse(line[:c.max+1]); lost != "" {
				return append(events, "lost:"+lost)
			}
			continue
		}
		events = append(events, "line:"+string(line))
		if n, ok := bytes.CutPrefix(line, []byte("RAW ")); ok && raw {
			if k, err := strconv.Atoi(string(n)); err == nil && k > 0 {
				rawLeft = k
			}
			continue
		}
		if string(line) == "CLOSE" {
			return append(events, "lost:[done]")
		}
		if max, d, ok := setting(line); ok && max > 0 {
			c.max = max
		} else if ok {
			delim = []byte(d)
		}
	}
	return append(events, "lost:[peer-closed]")
}

// chunkings returns the cuttings every table stream is fed in: whole, in
// pieces of 1, 2, 3 and 7 bytes, and at random points.
func chunkings(data []byte, rng *rand.Rand) map[string][][]byte {
	fixed := func(n int) [][]byte {
		var chunks [][]byte
		rest := data
		for len(rest) > n {
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		return append(chunks, rest)
	}
	m := map[string][][]byte{
		"whole":  {data},
		"1-byte": fixed(1),
		"2-byte": fixed(2),
		"3-byte": fixed(3),
		"7-byte": fixed(7),
	}
	for i := range 20 {
		m["random"+strconv.Itoa(i)] = split(data, randomCuts(rng, 12))
	}
	return m
}

// lineTable holds streams with the events the documentation promises for
// them, with a hook that leaves the connection open (hookGoOn). The other
// hook modes follow from these: without a hook the framer closes at the
// first refusal, and a hook that closes stops delivery right after it.
var lineTable = []struct {
	name   string
	delim  string
	max    int
	raw    bool // uses raw mode: LineReceiver only
	stream string
	want   []string
}{
	{"good lines", "\r\n", 4, false,
		"ab\r\n\r\ncd\r\n",
		[]string{"line:ab", "line:", "line:cd"}},
	{"long line in the middle", "\r\n", 4, false,
		"ab\r\n0123456789\r\ncd\r\n",
		[]string{"line:ab", "long:01234", "line:cd"}},
	{"long line at the end, delimited", "\r\n", 4, false,
		"ab\r\n0123456789\r\n",
		[]string{"line:ab", "long:01234"}},
	{"long line at the end, no delimiter", "\r\n", 4, false,
		"ab\r\n0123456789",
		[]string{"line:ab", "long:01234"}},
	{"unterminated MaxLength+len(delim)-1 bytes wait", "\r\n", 4, false,
		"ab\r\n0123\r",
		[]string{"line:ab"}},
	{"unterminated MaxLength+len(delim) bytes are refused", "\r\n", 4, false,
		"ab\r\n0123\rx",
		[]string{"line:ab", "long:0123\r"}},
	{"MaxLength line, then MaxLength+1, then good", "\r\n", 4, false,
		"0123\r\n01234\r\nok\r\n",
		[]string{"line:0123", "long:01234", "line:ok"}},
	{"two long lines in a row, then good lines", "\r\n", 4, false,
		"0123456\r\n789abcdef\r\nok\r\nyes\r\n",
		[]string{"long:01234", "long:789ab", "line:ok", "line:yes"}},
	{"long line holding half a delimiter", "\r\n", 4, false,
		"012\r345\r\nok\r\n",
		[]string{"long:012\r3", "line:ok"}},
	{"long line far longer than MaxLength", "\r\n", 4, false,
		strings.Repeat("x", 100) + "\r\nok\r\n",
		[]string{"long:xxxxx", "line:ok"}},
	{"long line, then CLOSE", "\r\n", 5, false,
		"0123456789\r\nCLOSE\r\nnever\r\n",
		[]string{"long:012345", "line:CLOSE"}},
	{"PAUSE, then a long line", "\r\n", 5, false,
		"ab\r\nPAUSE\r\n0123456789\r\ncd\r\n",
		[]string{"line:ab", "line:PAUSE", "long:012345", "line:cd"}},
	{"self-overlapping delimiter", "aab", 3, false,
		"xaaab" + "aaaaaab" + "okaab",
		[]string{"line:xa", "long:aaaa", "line:ok"}},
	{"self-overlapping delimiter, long tail", "aab", 3, false,
		"okaab" + "aaaaaaaaa",
		[]string{"line:ok", "long:aaaa"}},
	{"MaxLength raised from the next line on", "\r\n", 5, false,
		"MAX 9\r\n012345678\r\nok\r\n",
		[]string{"line:MAX 9", "line:012345678", "line:ok"}},
	{"MaxLength lowered from the next line on", "\r\n", 5, false,
		"MAX 2\r\nabc\r\nok\r\n0123",
		[]string{"line:MAX 2", "long:abc", "line:ok", "long:012"}},
	{"delimiter changed from the next line on", "\r\n", 8, false,
		"DLM 1\r\na\r\nb\nDLM 2\nxaabyaab",
		[]string{"line:DLM 1", "line:a\r", "line:b", "line:DLM 2", "line:x", "line:y"}},
	{"raw section", "\r\n", 5, true,
		"RAW 3\r\nabcok\r\n",
		[]string{"line:RAW 3", "raw:abc", "line:ok"}},
	{"raw section, then a long line", "\r\n", 5, true,
		"RAW 2\r\nxy0123456789\r\nok\r\n",
		[]string{"line:RAW 2", "raw:xy", "long:012345", "line:ok"}},
	{"long line, then a raw section", "\r\n", 5, true,
		"0123456789\r\nRAW 2\r\nxyok\r\n",
		[]string{"long:012345", "line:RAW 2", "raw:xy", "line:ok"}},
	{"raw data longer than MaxLength is not a line", "\r\n", 6, true,
		"RAW 12\r\n0123456789\r\nok\r\n",
		[]string{"line:RAW 12", "raw:0123456789\r\n", "line:ok"}},
	{"raw section ending inside a delimiter", "\r\n", 5, true,
		"RAW 3\r\nab\r\nok\r\n",
		[]string{"line:RAW 3", "raw:ab\r", "line:\nok"}},
	{"raw section ending in an unterminated long line", "\r\n", 5, true,
		"RAW 1\r\nx0123456789",
		[]string{"line:RAW 1", "raw:x", "long:012345"}},
	{"raw section cut short by the end", "\r\n", 5, true,
		"RAW 9\r\nabc",
		[]string{"line:RAW 9", "raw:abc"}},
}

// tableWant returns the events of a table stream for a hook mode: want is
// for hookGoOn, and the connection ends as the last event.
func tableWant(want []string, hook hookMode, closed bool) []string {
	var out []string
	for _, e := range want {
		if strings.HasPrefix(e, "long:") {
			switch hook {
			case noHook:
				return append(out, "lost:[line-too-long done]")
			case hookThenClose:
				return append(out, e, "lost:[done]")
			}
		}
		out = append(out, e)
	}
	if closed {
		return append(out, "lost:[done]")
	}
	return append(out, "lost:[peer-closed]")
}

func TestLineReceiversChunkingTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range lineTable {
		closed := slices.Contains(tc.want, "line:CLOSE")
		for hook := noHook; hook <= hookGoOn; hook++ {
			c := lineConfig{tc.delim, tc.max, hook}
			want := tableWant(tc.want, hook, closed)
			if model := lineModel(c, []byte(tc.stream), tc.raw); sameEvents(want, model) != nil {
				t.Fatalf("%s, %v: the model disagrees with the table: %v", tc.name, c, sameEvents(want, model))
			}
			framers := []struct {
				name string
				run  func(lineConfig, [][]byte) ([]string, error)
			}{{"LineReceiver", runLine}, {"LineOnlyReceiver", runLineOnly}}
			if tc.raw {
				framers = framers[:1]
			}
			for _, f := range framers {
				for cut, chunks := range chunkings([]byte(tc.stream), rng) {
					got, err := f.run(c, chunks)
					if err == nil {
						err = sameEvents(want, got)
					}
					if err != nil {
						t.Errorf("%s: %s, %v, fed %s %q: %v", f.name, tc.name, c, cut, chunks, err)
					}
				}
			}
		}
	}
}
