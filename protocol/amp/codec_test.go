package amp_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol/amp"
)

type floatArg struct {
	F float64 `amp:"f"`
}

// Twisted's Float is repr(float): what Python 3 prints.
func TestFloatIsPythonRepr(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{1, "1.0"}, {0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {0.1, "0.1"}, {1.5, "1.5"},
		{-2.25, "-2.25"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
		{123456789012345680, "1.2345678901234568e+17"}, {0.0001, "0.0001"}, {0.00001, "1e-05"},
		{1.5e-7, "1.5e-07"}, {1e100, "1e+100"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
		{math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"}, {1.0 / 3, "0.3333333333333333"},
	}
	for _, c := range cases {
		b, err := amp.Encode(floatArg{c.f})
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := b.Get("f"); string(v) != c.want {
			t.Errorf("%v: got %q, want %q", c.f, v, c.want)
		}
		back, err := amp.Decode[floatArg](b)
		if err != nil {
			t.Fatalf("%q: %v", c.want, err)
		}
		if !(back.F == c.f || math.IsNaN(c.f) && math.IsNaN(back.F)) || math.Signbit(back.F) != math.Signbit(c.f) {
			t.Errorf("%q read back as %v", c.want, back.F)
		}
	}
}

type allArgs struct {
	I  int64       `amp:"i"`
	S  []byte      `amp:"s"`
	U  string      `amp:"u"`
	B  bool        `amp:"b"`
	D  time.Time   `amp:"d"`
	Dc amp.Decimal `amp:"dc"`
	L  []int64     `amp:"l"`
	LS [][]byte    `amp:"ls"`
	AL []Item      `amp:"al"`
	O  *int64      `amp:"o"`
}

// The encodings amp.py documents and implements for each type.
func TestArgumentEncodingsMatchTwisted(t *testing.T) {
	zone := time.FixedZone("", -60*60)
	a := allArgs{
		I: -42, S: []byte{0, 0xff}, U: "h\u00e9", B: true,
		D:  time.Date(2012, 1, 23, 12, 34, 56, 54321000, zone),
		Dc: "1.10", L: []int64{1, 22}, LS: [][]byte{[]byte("a"), {}},
		AL: []Item{{"x", 1}},
	}
	b, err := amp.Encode(a)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"i": "-42", "s": "\x00\xff", "u": "h\xc3\xa9", "b": "True",
		"d":  "2012-01-23T12:34:56.054321-01:00",
		"dc": "1.10", "l": "\x00\x011\x00\x0222", "ls": "\x00\x01a\x00\x00",
		"al": "\x00\x04name\x00\x01x\x00\x05count\x00\x011\x00\x00",
	}
	for k, w := range want {
		if v, ok := b.Get(k); !ok || string(v) != w {
			t.Errorf("%s: got %q, want %q", k, v, w)
		}
	}
	if _, ok := b.Get("o"); ok {
		t.Error("a nil optional argument was sent")
	}
	back, err := amp.Decode[allArgs](b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.D.Equal(a.D) || back.I != a.I || string(back.S) != string(a.S) || back.U != a.U || !back.B ||
		back.Dc != a.Dc || len(back.L) != 2 || back.L[1] != 22 || len(back.AL) != 1 || back.AL[0] != a.AL[0] || back.O != nil {
		t.Fatalf("round trip: %+v", back)
	}
	if _, off := back.D.Zone(); off != -3600 {
		t.Errorf("zone offset %d", off)
	}
	b2, _ := amp.Encode(allArgs{B: false})
	if v, _ := b2.Get("b"); string(v) != "False" {
		t.Errorf("false: %q", v)
	}
}

func TestDecodeRefusesBadValues(t *testing.T) {
	good, _ := amp.Encode(allArgs{D: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Dc: "0"})
	bad := map[string]string{
		"i": "12a", "b": "true", "d": "2012-01-23T12:34:56.054321", "dc": "1.2.3",
		"l": "\x00\x05ab", "al": "\x00\x01x\x00", "u": "\xff",
	}
	for k, v := range bad {
		b := append(amp.Box(nil), good...)
		b.Set(k, []byte(v))
		if _, err := amp.Decode[allArgs](b); !errors.Is(err, amp.ErrBadValue) {
			t.Errorf("%s=%q: got %v", k, v, err)
		}
	}
	b := append(amp.Box(nil), good...)[1:] // without "i"
	if _, err := amp.Decode[allArgs](b); !errors.Is(err, amp.ErrMissingArgument) {
		t.Errorf("missing i: %v", err)
	}
}

func TestDecimalSpellings(t *testing.T) {
	type dec struct {
		D amp.Decimal `amp:"d"`
	}
	for _, s := range []string{"0", "-0", "1.10", "1E+3", "1.5E-7", "Infinity", "-Infinity", "NaN", "sNaN", "-NaN123", ".5", "5."} {
		if _, err := amp.Encode(dec{amp.Decimal(s)}); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "abc", "1e", "--1", "0x10", "1 "} {
		if _, err := amp.Encode(dec{amp.Decimal(s)}); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// amp.utc, Twisted's own UTC, is written "-00:00".
func TestDateTimeReadsTwistedUTC(t *testing.T) {
	type dt struct {
		D time.Time `amp:"d"`
	}
	got, err := amp.Decode[dt](amp.Box{{Key: "d", Value: []byte("2012-01-23T12:34:56.054321-00:00")}})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2012, 1, 23, 12, 34, 56, 54321000, time.UTC); !got.D.Equal(want) {
		t.Fatalf("got %v, want %v", got.D, want)
	}
	b, err := amp.Encode(dt{time.Date(2012, 1, 23, 12, 34, 56, 54321000, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get("d"); string(v) != "2012-01-23T12:34:56.054321-00:00" {
		t.Fatalf("UTC written as %q, Twisted writes -00:00", v)
	}
}
