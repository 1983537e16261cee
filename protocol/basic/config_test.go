package basic_test

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mustaine/mustaine/protocol/basic"
)

// Framer configurations shared by the property tests and the fuzz targets.

// hookMode says how a handler answers input over MaxLength.
type hookMode int

const (
	noHook        hookMode = iota // the framer's default: close
	hookThenClose                 // a hook that closes
	hookGoOn                      // a hook that leaves the connection open
)

var delimiters = []string{"\r\n", "\n", "aab", "\r\n\r\n"}

type lineConfig struct {
	delim string
	max   int
	hook  hookMode
}

func (c lineConfig) String() string {
	return fmt.Sprintf("delim=%q max=%d hook=%d", c.delim, c.max, c.hook)
}

// lineConfigOf derives a configuration from one fuzzer byte.
func lineConfigOf(b byte) lineConfig {
	return lineConfig{
		delim: delimiters[b%4],
		max:   1 + int(b>>2)%12,
		hook:  hookMode(b>>6) % 3,
	}
}

// lineConfigByte is the inverse of lineConfigOf, for a configuration it
// can express (one of delimiters, MaxLength 1 to 12).
func lineConfigByte(c lineConfig) byte {
	d := slices.Index(delimiters, c.delim)
	if d < 0 || c.max < 1 || c.max > 12 {
		panic("lineConfigByte: " + c.String())
	}
	return byte(d) | byte(c.max-1)<<2 | byte(c.hook)<<6
}

// runLine runs a LineReceiver over chunks and returns the events, checking
// on the way that no delivered line holds the delimiter or exceeds MaxLength
// and that every refused head is MaxLength+1 bytes.
func runLine(c lineConfig, chunks [][]byte) ([]string, error) {
	var rec *lineRec
	var h basic.LineHandler[*basic.LineReceiver]
	if c.hook == noHook {
		rec = &lineRec{}
		h = rec
	} else {
		hr := &lineRecHook{closeOnLong: c.hook == hookThenClose}
		rec, h = &hr.lineRec, hr
	}
	r := basic.NewLineReceiver(h)
	r.Delimiter = []byte(c.delim)
	r.MaxLength = c.max
	run(r, chunks)
	return rec.events, checkLines(rec.events, c.delim, c.max)
}

func runLineOnly(c lineConfig, chunks [][]byte) ([]string, error) {
	var rec *lineOnlyRec
	var h basic.LineHandler[*basic.LineOnlyReceiver]
	if c.hook == noHook {
		rec = &lineOnlyRec{}
		h = rec
	} else {
		hr := &lineOnlyRecHook{lineOnlyRec{closeOnLong: c.hook == hookThenClose}}
		rec, h = &hr.lineOnlyRec, hr
	}
	r := basic.NewLineOnlyReceiver(h)
	r.Delimiter = []byte(c.delim)
	r.MaxLength = c.max
	run(r, chunks)
	return rec.events, checkLines(rec.events, c.delim, c.max)
}

// checkLines checks that no line holds the delimiter or exceeds MaxLength,
// and that each refused head is MaxLength+1 bytes, following the setting
// commands (see setting) as the framer does.
func checkLines(events []string, delim string, max int) error {
	for _, e := range events {
		kind, data, _ := strings.Cut(e, ":")
		switch {
		case kind == "line" && (len(data) > max || strings.Contains(data, delim)):
			return fmt.Errorf("bad line delivered: %q", data)
		case kind == "long" && len(data) != max+1:
			return fmt.Errorf("refused head is %d bytes, want %d: %q", len(data), max+1, data)
		}
		if m, d, ok := setting([]byte(data)); ok && kind == "line" && m > 0 {
			max = m
		} else if ok && kind == "line" {
			delim = d
		}
	}
	return nil
}

type stringConfig struct {
	prefix int // 1, 2 or 4; 0 for netstrings
	max    int
	hook   hookMode
}

func (c stringConfig) String() string {
	return fmt.Sprintf("prefix=%d max=%d hook=%d", c.prefix, c.max, c.hook)
}

func stringConfigOf(b byte) stringConfig {
	return stringConfig{
		prefix: []int{1, 2, 4}[int(b)%3],
		max:    int(b>>2) % 20,
		hook:   hookMode(b>>6) % 3,
	}
}

func newIntStringReceiver(prefix int, h basic.StringHandler[*basic.IntStringReceiver]) *basic.IntStringReceiver {
	switch prefix {
	case 1:
		return basic.NewInt8StringReceiver(h)
	case 2:
		return basic.NewInt16StringReceiver(h)
	}
	return basic.NewInt32StringReceiver(h)
}

// runIntString runs an IntStringReceiver over chunks; MaxLength 0 stands
// for the default.
func runIntString(c stringConfig, chunks [][]byte) ([]string, error) {
	var rec *stringRec
	var h basic.StringHandler[*basic.IntStringReceiver]
	if c.hook == noHook {
		rec = &stringRec{}
		h = rec
	} else {
		hr := &stringRecHook{closeOnLong: c.hook == hookThenClose}
		rec, h = &hr.stringRec, hr
	}
	r := newIntStringReceiver(c.prefix, h)
	r.MaxLength = c.max
	run(r, chunks)
	limit := c.max
	if limit == 0 {
		limit = basic.DefaultMaxStringLength
	}
	return rec.events, checkStrings(rec.events, limit)
}

func runNetstring(max int, chunks [][]byte) ([]string, error) {
	rec := &netstringRec{}
	r := basic.NewNetstringReceiver(rec)
	r.MaxLength = max
	run(r, chunks)
	if max == 0 {
		max = basic.DefaultMaxStringLength
	}
	return rec.events, checkStrings(rec.events, max)
}

func checkStrings(events []string, max int) error {
	for _, e := range events {
		if kind, data, _ := strings.Cut(e, ":"); kind == "string" && len(data) > max {
			return fmt.Errorf("string over MaxLength delivered: %q", data)
		}
	}
	return nil
}

// sameEvents compares two event lists and describes the first difference.
// Adjacent raw events are merged first in both lists, since how raw data
// is cut is not part of the framing.
func sameEvents(want, got []string) error {
	want, got = mergeRaw(want), mergeRaw(got)
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Errorf("event %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if len(want) != len(got) {
		return fmt.Errorf("got %d events, want %d:\ngot  %q\nwant %q", len(got), len(want), got, want)
	}
	return nil
}

// mergeRaw returns events with each run of adjacent raw events merged
// into one, in time linear in the size of the events.
func mergeRaw(events []string) []string {
	var out []string
	var b strings.Builder
	for i, e := range events {
		raw := strings.HasPrefix(e, "raw:")
		switch {
		case raw && b.Len() > 0:
			b.WriteString(e[len("raw:"):])
		case raw:
			b.WriteString(e)
		default:
			out = append(out, e)
		}
		if b.Len() > 0 && (i == len(events)-1 || !strings.HasPrefix(events[i+1], "raw:")) {
			out = append(out, b.String())
			b.Reset()
		}
	}
	return out
}

// pieces cuts data into chunks of n bytes, the last one shorter.
func pieces(data []byte, n int) [][]byte {
	var chunks [][]byte
	for len(data) > n {
		chunks = append(chunks, data[:n])
		data = data[n:]
	}
	return append(chunks, data)
}

// bytewise cuts data into one-byte chunks.
func bytewise(data []byte) [][]byte {
	chunks := make([][]byte, 0, len(data))
	for i := range data {
		chunks = append(chunks, data[i:i+1])
	}
	return chunks
}
