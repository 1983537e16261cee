package proxyproto

import (
	"errors"
	"reflect"
	"testing"
)

// errClass names the sentinel an error matches, so results compare across
// chunkings (the wrapped messages may differ only in detail).
func errClass(err error) string {
	for _, e := range []error{ErrNoHeader, ErrChecksum, ErrTooLong, ErrUnsupported, ErrMalformed} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

type result struct {
	h    *Header
	used int // stream bytes the header took (payload starts there)
	err  string
}

// feedAll feeds data in the chunks cuts gives and returns the outcome.
func feedAll(data []byte, cuts []int) result {
	var p Parser
	off := 0
	for i := 0; ; i++ {
		end := len(data)
		if i < len(cuts) && off+cuts[i] < len(data) {
			end = off + cuts[i]
		}
		h, n, err := p.Feed(data[off:end])
		if err != nil {
			return result{err: errClass(err)}
		}
		if h != nil {
			return result{h: h, used: off + n}
		}
		if n != end-off {
			return result{err: "need-more consumed only part of b"}
		}
		off = end
		if off == len(data) {
			return result{}
		}
	}
}

func FuzzParser(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s, []byte{1, 3, 7})
	}
	f.Fuzz(func(t *testing.T, data []byte, cutBytes []byte) {
		whole := feedAll(data, nil)
		cuts := make([]int, len(cutBytes))
		for i, c := range cutBytes {
			cuts[i] = int(c%32) + 1
		}
		cut := feedAll(data, cuts)
		bytewise := feedAll(data, ones(len(data)))
		for _, r := range []result{cut, bytewise} {
			if r.err != whole.err || r.used != whole.used || !reflect.DeepEqual(r.h, whole.h) {
				t.Fatalf("chunking changed the result:\nwhole %+v\ncut   %+v", whole, r)
			}
		}
		if whole.h == nil {
			return
		}
		h := whole.h
		if whole.used > len(data) || (h.Version == 1 && whole.used > MaxV1Length) || (h.Version == 2 && whole.used > DefaultMaxV2Length) {
			t.Fatalf("header of %d bytes (version %d)", whole.used, h.Version)
		}
		var enc []byte
		var err error
		if h.Version == 1 {
			enc, err = AppendV1(nil, h)
		} else {
			enc, err = AppendV2(nil, h)
		}
		if err != nil {
			t.Fatalf("parsed header does not encode: %v (%+v)", err, h)
		}
		again := feedAll(enc, nil)
		if again.err != "" || again.used != len(enc) || !reflect.DeepEqual(again.h, h) {
			t.Fatalf("round trip changed the header:\nparsed %+v\nagain  %+v (%s)", h, again.h, again.err)
		}
	})
}

func ones(n int) []int {
	c := make([]int, n)
	for i := range c {
		c[i] = 1
	}
	return c
}
