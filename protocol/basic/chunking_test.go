package basic_test

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"
)

// The property every framer must have: however the same byte stream is cut
// into reads, the handler sees exactly the same messages in the same order
// (raw data compared as one stream), the same refusals and the same close.
// Each test generates streams rich in edge cases (lengths around MaxLength,
// delimiters split across reads, mode switches, pauses, closes), runs each
// over one read, over one-byte reads and over random cuts, and compares.

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
// commands, raw sections (if raw) and an unterminated tail.
func lineStream(rng *rand.Rand, c lineConfig, raw bool) []byte {
	var b []byte
	d := len(c.delim)
	for range rng.IntN(12) {
		switch k := rng.IntN(20); {
		case k == 0:
			b = append(b, "PAUSE"...)
		case k == 1 && rng.IntN(4) == 0:
			b = append(b, "CLOSE"...)
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
