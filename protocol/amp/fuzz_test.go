package amp

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// feedAll runs a boxReader over chunks and returns each box re-encoded,
// and the error that stopped it.
func feedAll(chunks [][]byte) ([][]byte, error) {
	var r boxReader
	var out [][]byte
	for _, c := range chunks {
		err := r.feed(c, func(b Box) bool {
			enc, err := AppendBox(nil, b)
			if err != nil {
				panic(fmt.Sprintf("a parsed box does not encode: %v", err))
			}
			out = append(out, enc)
			return true
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// FuzzBoxReader checks that the box framer delivers the same boxes and the
// same error whether the input comes whole, cut at the fuzzer's points, or
// byte by byte; and that the boxes, encoded again, are the input's bytes
// (the encoding is canonical).
func FuzzBoxReader(f *testing.F) {
	f.Add([]byte("\x00\x05hello\x00\x05world\x00\x00"), []byte{3, 5})
	f.Add([]byte("\x00\x08_command\x00\x03Sum\x00\x04_ask\x00\x011\x00\x01a\x00\x0113\x00\x01b\x00\x0181\x00\x00\x00\x00"), []byte{1, 7, 2})
	f.Add([]byte("\x01\x00xx"), []byte{1})
	f.Add([]byte("\x00\x01a\xff\xff"), []byte{2})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		data = data[:min(len(data), 1<<16)]
		want, werr := feedAll([][]byte{data})
		if werr == nil {
			joined := bytes.Join(want, nil)
			if !bytes.HasPrefix(data, joined) {
				t.Fatalf("boxes %q are not the start of the input %q", joined, data)
			}
		}
		var chunks [][]byte
		rest := data
		for _, c := range cuts {
			n := min(int(c), len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)
		var bytewise [][]byte
		for i := range data {
			bytewise = append(bytewise, data[i:i+1])
		}
		for _, cs := range [][][]byte{chunks, bytewise} {
			got, gerr := feedAll(cs)
			if (gerr == nil) != (werr == nil) || len(got) != len(want) {
				t.Fatalf("cut %d ways: %d boxes (err %v), whole: %d boxes (err %v)", len(cs), len(got), gerr, len(want), werr)
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("box %d differs: %q vs %q", i, got[i], want[i])
				}
			}
		}
	})
}

type fuzzItem struct {
	K string  `amp:"k"`
	N int64   `amp:"n"`
	L []int64 `amp:"l"`
}

type fuzzArgs struct {
	I  int64      `amp:"i"`
	U  uint16     `amp:"u16"`
	S  []byte     `amp:"s"`
	T  string     `amp:"t"`
	F  float64    `amp:"f"`
	B  bool       `amp:"b"`
	D  time.Time  `amp:"d"`
	Dc Decimal    `amp:"dc"`
	LS [][]byte   `amp:"ls"`
	LF []float64  `amp:"lf"`
	AL []fuzzItem `amp:"al"`
	P  *string    `amp:"p"`
}

func sameArgs(a, b fuzzArgs) bool {
	if !a.D.Equal(b.D) {
		return false
	}
	_, oa := a.D.Zone()
	_, ob := b.D.Zone()
	if oa != ob {
		return false
	}
	a.D, b.D = time.Time{}, time.Time{}
	eqf := func(x, y float64) bool {
		return math.Float64bits(x) == math.Float64bits(y) || math.IsNaN(x) && math.IsNaN(y)
	}
	if !eqf(a.F, b.F) || len(a.LF) != len(b.LF) {
		return false
	}
	for i := range a.LF {
		if !eqf(a.LF[i], b.LF[i]) {
			return false
		}
	}
	a.F, b.F, a.LF, b.LF = 0, 0, nil, nil
	norm := func(x *fuzzArgs) {
		if len(x.S) == 0 {
			x.S = nil
		}
		if len(x.LS) == 0 {
			x.LS = nil
		}
		for i := range x.LS {
			if len(x.LS[i]) == 0 {
				x.LS[i] = nil
			}
		}
		if len(x.AL) == 0 {
			x.AL = nil
		}
		for i := range x.AL {
			if len(x.AL[i].L) == 0 {
				x.AL[i].L = nil
			}
		}
	}
	norm(&a)
	norm(&b)
	return reflect.DeepEqual(a, b)
}

// FuzzArgumentRoundTrip checks that every value the encoders accept decodes
// to the same value, and that any box value the decoders accept encodes
// and decodes again to the same value (never a panic).
func FuzzArgumentRoundTrip(f *testing.F) {
	f.Add(int64(-42), uint16(7), []byte("\x00\xff"), "h\u00e9", 1.5, true, int64(1327322096054321), int16(-60), "1.10", []byte("\x00\x01a"), false)
	f.Add(int64(math.MinInt64), uint16(0), []byte{}, "", math.Inf(-1), false, int64(0), int16(0), "NaN", []byte("\x00\x04name\x00\x01x\x00\x00"), true)
	f.Add(int64(1), uint16(65535), []byte("x"), "\xff", 1e-7, true, int64(-62135596800000000), int16(840), "-Infinity", []byte("2012-01-23T12:34:56.054321-01:00"), true)
	f.Fuzz(func(t *testing.T, i int64, u uint16, s []byte, str string, fl float64, b bool, micros int64, zoneMin int16, dec string, raw []byte, opt bool) {
		a := fuzzArgs{I: i, U: u, S: s, T: str, F: fl, B: b, Dc: Decimal(dec),
			D:  time.UnixMicro(micros).In(time.FixedZone("", int(zoneMin)*60)),
			LS: [][]byte{s, raw}, LF: []float64{fl, -fl}, AL: []fuzzItem{{K: str, N: i, L: []int64{i, int64(u)}}}}
		if opt {
			a.P = &str
		}
		box, err := Encode(a)
		// The answers of Respond are written by appendArgs straight into
		// the output: the same bytes as the box Encode gives, the same
		// errors, and nothing left behind on an error.
		prefix := []byte("before")
		direct, derr := appendArgs(prefix, reflect.ValueOf(&a).Elem())
		if (derr == nil) != (err == nil) || derr != nil && derr.Error() != err.Error() {
			t.Fatalf("appendArgs: %v, Encode: %v", derr, err)
		}
		if want, _ := appendFields([]byte("before"), box); err == nil && !bytes.Equal(direct, want) {
			t.Fatalf("appendArgs wrote %q, Encode's box is %q", direct, want)
		}
		if derr != nil && string(direct) != "before" {
			t.Fatalf("appendArgs left %q after its error %v", direct, derr)
		}
		if err == nil {
			back, err := Decode[fuzzArgs](box)
			if err != nil {
				t.Fatalf("%+v encoded as %q does not decode: %v", a, box, err)
			}
			if !sameArgs(a, back) {
				t.Fatalf("round trip: %+v became %+v", a, back)
			}
		}
		// Any value under any key: decoding never panics, and what decodes
		// survives a second round trip.
		good, err := Encode(fuzzArgs{D: time.Unix(0, 0).UTC(), Dc: "0"})
		if err != nil {
			t.Fatal(err)
		}
		for k := range good {
			bad := append(Box(nil), good...)
			bad[k].Value = raw
			v, err := Decode[fuzzArgs](bad)
			if err != nil {
				continue
			}
			again, err := Encode(v)
			if err != nil {
				continue // e.g. a decoded DateTime of a year Twisted refuses to write
			}
			v2, err := Decode[fuzzArgs](again)
			if err != nil || !sameArgs(v, v2) {
				t.Fatalf("key %q value %q: decoded %+v, again %+v (%v)", bad[k].Key, raw, v, v2, err)
			}
		}
	})
}
