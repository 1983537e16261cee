package basic_test

import (
	"testing"
)

// The fuzz targets check, for any input, that the framer does not panic,
// never delivers a line with its delimiter or a message over MaxLength,
// and delivers the same events whether the input comes in one read, cut at
// the fuzzer's chosen points, in pieces of 2, 3 or 7 bytes, or one byte at
// a time. The line framers' events for the whole input must also be those
// of lineModel, their documented behaviour. cfg picks the framer's
// configuration (delimiter, MaxLength, length hook).

// maxFuzzInput bounds the input a fuzz target looks at. Nothing in the
// framers depends on sizes beyond a few MaxLengths, and a bound applied
// without a branch (min) keeps long inputs from reaching new coverage: a
// branch on the size made every input just over it "interesting", and the
// fuzzer then spent up to a minute minimizing each such input, running
// nothing else.
const maxFuzzInput = 4096

// fuzzCheck runs runOne over data (its first maxFuzzInput bytes) whole and
// cut in every way above, and compares each run with the whole one, and
// the whole one with model(data) unless model is nil.
func fuzzCheck(t *testing.T, data, cuts []byte, model func([]byte) []string, runOne func([][]byte) ([]string, error)) {
	data = data[:min(len(data), maxFuzzInput)]
	want, err := runOne([][]byte{data})
	if err != nil {
		t.Fatal(err)
	}
	if model != nil {
		if err := sameEvents(model(data), want); err != nil {
			t.Fatalf("input %q in one read, against the documented behaviour: %v", data, err)
		}
	}
	cuttings := [][][]byte{split(data, cuts), pieces(data, 2), pieces(data, 3), pieces(data, 7), bytewise(data)}
	for _, chunks := range cuttings {
		got, err := runOne(chunks)
		if err == nil {
			err = sameEvents(want, got)
		}
		if err != nil {
			t.Fatalf("input %q cut as %q: %v", data, chunks, err)
		}
	}
}

// lineSeeds are the table's streams, so that the fuzzer starts from every
// case the documentation names.
func lineSeeds(f *testing.F, raw bool) {
	for _, tc := range lineTable {
		if tc.raw && !raw {
			continue
		}
		for hook := noHook; hook <= hookGoOn; hook++ {
			f.Add([]byte(tc.stream), []byte{3, 1, 7}, lineConfigByte(lineConfig{tc.delim, tc.max, hook}))
		}
	}
}

func FuzzLineReceiver(f *testing.F) {
	f.Add([]byte("hello\r\nworld\r\n"), []byte{3, 5}, byte(0))
	f.Add([]byte("RAW 3\r\nabcdef\r\nPAUSE\r\nx\r\n"), []byte{7, 1, 1}, byte(4))
	f.Add([]byte("aaab\naab0123456789012aabaab"), []byte{1, 2, 30}, byte(2|64))
	lineSeeds(f, true)
	f.Fuzz(func(t *testing.T, data, cuts []byte, cfg byte) {
		c := lineConfigOf(cfg)
		fuzzCheck(t, data, cuts, func(data []byte) []string { return lineModel(c, data, true) }, func(chunks [][]byte) ([]string, error) { return runLine(c, chunks) })
	})
}

func FuzzLineOnlyReceiver(f *testing.F) {
	f.Add([]byte("hello\r\nworld\r\n"), []byte{3, 5}, byte(0))
	f.Add([]byte("xxxx\r\n\r\nyyyyy\r\nPAUSE\r\nz"), []byte{4, 1, 1}, byte(12|128))
	lineSeeds(f, false)
	f.Fuzz(func(t *testing.T, data, cuts []byte, cfg byte) {
		c := lineConfigOf(cfg)
		fuzzCheck(t, data, cuts, func(data []byte) []string { return lineModel(c, data, false) }, func(chunks [][]byte) ([]string, error) { return runLineOnly(c, chunks) })
	})
}

func FuzzIntStringReceiver(f *testing.F) {
	f.Add([]byte("\x05hello\x00\x03abc"), []byte{2, 2}, byte(0))
	f.Add([]byte("\x00\x05PAUSE\x00\x01a\x00\x09toolong!!\x00\x00"), []byte{1, 6, 1}, byte(1|12<<2|128))
	f.Add([]byte("\x00\x00\x00\x02hi\x00\x00\x00\x30"), []byte{3}, byte(2|8<<2|64))
	f.Fuzz(func(t *testing.T, data, cuts []byte, cfg byte) {
		c := stringConfigOf(cfg)
		fuzzCheck(t, data, cuts, nil, func(chunks [][]byte) ([]string, error) { return runIntString(c, chunks) })
	})
}

func FuzzNetstringReceiver(f *testing.F) {
	f.Add([]byte("5:hello,0:,3:abc,"), []byte{1, 4}, byte(0))
	f.Add([]byte("01:a,"), []byte{1}, byte(0))
	f.Add([]byte("12:3:abc,1:x,,5:PAUSE,1:z,"), []byte{5, 5}, byte(40))
	f.Add([]byte("99999999999999999999:"), []byte{10}, byte(3))
	f.Fuzz(func(t *testing.T, data, cuts []byte, cfg byte) {
		fuzzCheck(t, data, cuts, nil, func(chunks [][]byte) ([]string, error) { return runNetstring(int(cfg), chunks) })
	})
}
